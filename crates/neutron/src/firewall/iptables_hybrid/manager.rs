//! The table/chain manager (neutron/agent/linux/iptables_manager.py): tables
//! as `IptablesTable` holds them, `comment_rule`, the wrapped chains
//! `IptablesManager.__init__` creates, `_modify_rules` (top rules first) and
//! `_weed_out_duplicates` (the last copy stays); then the tables printed the
//! way `iptables-save` shows what the kernel holds.

use std::collections::{BTreeMap, BTreeSet};

use super::comments::C_UNMATCH_DROP;
use super::names::wrapped;
use super::Renderer;
use crate::firewall::iptables_text::saved_form;
use crate::firewall::provenance::{Origin, Provenance};

/// Neutron's `comment_rule`: the comment goes before ` -j `, or first for a bare jump.
pub(super) fn commented(rule: &str, comment: &str) -> String {
    let c = format!("-m comment --comment \"{comment}\"");
    if rule.starts_with("-j") {
        format!("{c} {rule}")
    } else if let Some(pos) = rule.find(" -j ") {
        format!("{} {c} {}", &rule[..pos], &rule[pos + 1..])
    } else {
        format!("{rule} {c}")
    }
}

#[derive(Debug, Clone)]
struct Rule {
    chain: String,
    /// Neutron's text after `-A CHAIN`; duplicates are judged on it.
    text: String,
    top: bool,
    origin: Origin,
}

/// One table as `IptablesTable` holds it.
#[derive(Debug, Default)]
pub(super) struct Table {
    chains: BTreeSet<String>,
    rules: Vec<Rule>,
}

impl Table {
    pub(super) fn chain(&mut self, name: &str) {
        self.chains.insert(name.to_string());
    }

    pub(super) fn add(&mut self, chain: &str, text: impl Into<String>, origin: Origin) {
        self.rules.push(Rule {
            chain: chain.to_string(),
            text: text.into(),
            top: false,
            origin,
        });
    }

    pub(super) fn add_top(&mut self, chain: &str, text: impl Into<String>, origin: Origin) {
        self.rules.push(Rule {
            chain: chain.to_string(),
            text: text.into(),
            top: true,
            origin,
        });
    }

    /// The rules in the order the kernel ends up with them, per chain, each
    /// with the origins of every copy that was folded into it.
    fn ordered(&self) -> BTreeMap<String, Vec<(String, Vec<Origin>)>> {
        let all: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.top)
            .chain(self.rules.iter().filter(|r| !r.top))
            .collect();
        // _weed_out_duplicates walks the list backwards: the last copy stays.
        let mut at: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut kept: Vec<(&Rule, Vec<Origin>)> = Vec::new();
        for r in all.iter().rev() {
            match at.get(&(r.chain.as_str(), r.text.as_str())) {
                Some(&i) => {
                    if !kept[i].1.contains(&r.origin) {
                        kept[i].1.push(r.origin.clone());
                    }
                }
                None => {
                    at.insert((r.chain.as_str(), r.text.as_str()), kept.len());
                    kept.push((r, vec![r.origin.clone()]));
                }
            }
        }
        kept.reverse();
        let mut by_chain: BTreeMap<String, Vec<(String, Vec<Origin>)>> = BTreeMap::new();
        for (r, origins) in kept {
            by_chain
                .entry(r.chain.clone())
                .or_default()
                .push((saved_form(&r.text), origins));
        }
        by_chain
    }
}

/// filter, raw and nat of one family.
#[derive(Debug, Default)]
pub(super) struct Family {
    pub(super) filter: Table,
    pub(super) raw: Table,
    pub(super) nat: Table,
}

impl Renderer<'_> {
    /// IptablesManager.__init__ (state_less=True) and the driver's fallback chain.
    pub(super) fn setup_manager(&mut self) {
        self.both(|t| {
            t.filter.chain("neutron-filter-top");
            let d = || Origin::Dispatch;
            t.filter.add_top("FORWARD", "-j neutron-filter-top", d());
            t.filter.add_top("OUTPUT", "-j neutron-filter-top", d());
            t.filter.chain(&wrapped("local"));
            t.filter.add(
                "neutron-filter-top",
                format!("-j {}", wrapped("local")),
                d(),
            );
            for c in ["INPUT", "OUTPUT", "FORWARD"] {
                t.filter.chain(&wrapped(c));
                t.filter.add(c, format!("-j {}", wrapped(c)), d());
            }
            for c in ["PREROUTING", "OUTPUT"] {
                t.raw.chain(&wrapped(c));
                t.raw.add(c, format!("-j {}", wrapped(c)), d());
            }
            t.nat.chain(&wrapped("PREROUTING"));
            t.nat
                .add("PREROUTING", format!("-j {}", wrapped("PREROUTING")), d());
            t.filter.chain(&wrapped("sg-fallback"));
            t.filter.add(
                &wrapped("sg-fallback"),
                commented("-j DROP", C_UNMATCH_DROP),
                Origin::DefaultDrop,
            );
        });
    }
}

pub(super) fn print_family(
    f: &Family,
    order: &[&str],
    family: u8,
    prov: &mut Provenance,
) -> String {
    let mut out = String::new();
    for table in order {
        let (t, builtins): (&Table, &[&str]) = match *table {
            "filter" => (&f.filter, &["INPUT", "FORWARD", "OUTPUT"]),
            "raw" => (&f.raw, &["PREROUTING", "OUTPUT"]),
            _ => (&f.nat, &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        };
        print_table(&mut out, table, t, builtins, family, prov);
    }
    out
}

fn print_table(
    out: &mut String,
    name: &str,
    t: &Table,
    builtins: &[&str],
    family: u8,
    prov: &mut Provenance,
) {
    let rules = t.ordered();
    out.push_str(&format!("*{name}\n"));
    for b in builtins {
        out.push_str(&format!(":{b} ACCEPT [0:0]\n"));
    }
    let user: BTreeSet<&str> = t
        .chains
        .iter()
        .map(String::as_str)
        .filter(|c| !builtins.contains(c))
        .collect();
    for c in &user {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    for c in builtins.iter().copied().chain(user.iter().copied()) {
        for (r, origins) in rules.get(c).into_iter().flatten() {
            out.push_str(&format!("-A {c} {r}\n"));
            prov.push(family, name, c, origins.clone());
        }
    }
    out.push_str("COMMIT\n");
}

/// `iptables-save` output made comparable with [`HostRules::iptables_save`]:
/// `#` lines dropped, chain counters set to `[0:0]`, `-c` rule counters removed.
///
/// [`HostRules::iptables_save`]: super::HostRules::iptables_save
pub fn normalize_iptables_save(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let line = if line.starts_with(':') {
            match line.rfind(" [") {
                Some(i) if line.ends_with(']') => format!("{} [0:0]", &line[..i]),
                _ => line.to_string(),
            }
        } else if let Some(rest) = line.strip_prefix('[') {
            // `iptables-save -c` prefixes rules with [p:b]
            rest.split_once("] ")
                .map_or_else(|| line.to_string(), |(_, r)| r.to_string())
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
