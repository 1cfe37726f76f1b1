//! Readable tables for the check and the fix. JSON comes from serde on the same
//! report types, so both formats always say the same thing.

use crate::fix::FixReport;
use crate::simulate::{CheckReport, Outcome};
use netfilter::StepKind;
use std::fmt::Write;

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Drop => "DROP",
        Outcome::Skipped => "-",
    }
}

/// The flow table, then the details of every drop.
pub fn render_check(r: &CheckReport, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", r.scenario);
    let what_w = r
        .flows
        .iter()
        .flat_map(|f| f.packets.iter().map(|p| p.what.len()))
        .max()
        .unwrap_or(10)
        .min(70);
    let _ = writeln!(out, "\n{:<7} {:<12} FLOW", "VERDICT", "KIND");
    for f in &r.flows {
        let kind = serde_json::to_value(f.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<7} {:<12} {}",
            outcome_word(f.outcome),
            kind,
            f.name
        );
        if !verbose && f.outcome == Outcome::Pass {
            continue;
        }
        let mut skipped = 0;
        for p in &f.packets {
            if p.outcome == Outcome::Skipped && !verbose {
                skipped += 1;
                continue;
            }
            let _ = writeln!(
                out,
                "        {:<what_w$}  {:>12} -> {:<12}  {}",
                p.what,
                p.from,
                p.to,
                outcome_word(p.outcome)
            );
            if verbose {
                for hop in &p.hops {
                    let _ = writeln!(
                        out,
                        "            {:?} of {} on {} (zone {}, {}):",
                        hop.side,
                        hop.port_id.chars().take(8).collect::<String>(),
                        hop.host,
                        hop.trace.zone,
                        hop.trace.ctstate
                    );
                    for s in &hop.trace.path {
                        let mut line = String::new();
                        let _ = write!(
                            line,
                            "              {}:{}:{}:{}  {}",
                            s.table,
                            s.chain,
                            match s.kind {
                                StepKind::Rule => "rule",
                                StepKind::Return => "return",
                                StepKind::Policy => "policy",
                            },
                            s.rule_num,
                            s.rule_text
                        );
                        let _ = writeln!(out, "{}", line.trim_end());
                    }
                }
            }
        }
        if skipped > 0 {
            let _ = writeln!(
                out,
                "        ({skipped} later packets of this flow never sent)"
            );
        }
    }
    let drops: Vec<_> = r.drops().collect();
    if !drops.is_empty() {
        let _ = writeln!(out, "\nDrops:");
        for (f, p, d) in drops {
            let _ = writeln!(out, "- {} / {}", f.name, p.what);
            if !d.chain.is_empty() {
                let _ = writeln!(
                    out,
                    "    where: host {}, port {}, {} {}, rule {}",
                    d.host, d.port, d.table, d.chain, d.rule_num
                );
            }
            if !d.rule_text.is_empty() {
                let _ = writeln!(out, "    rule:  {}", d.rule_text);
            }
            let _ = writeln!(out, "    why:   {}", d.reason);
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for w in &r.warnings {
            let _ = writeln!(out, "- {}: {}", w.port, w.message);
        }
    }
    let (passed, total) = r.tally();
    let _ = writeln!(
        out,
        "\n{passed} of {total} flows pass{}",
        if passed == total {
            ""
        } else {
            "; run with --fix for the smallest Neutron change"
        }
    );
    out
}

/// The proposed change, its cost, the re-check, and the report's remedies.
pub fn render_fix(fix: &FixReport) -> String {
    let mut out = String::new();
    if fix.changes.is_empty() {
        let _ = writeln!(out, "\nNo Neutron change proposed.");
    } else {
        let _ = writeln!(
            out,
            "\nSmallest persistent Neutron change ({} change{}, {} round{} of re-checks):",
            fix.changes.len(),
            if fix.changes.len() == 1 { "" } else { "s" },
            fix.rounds,
            if fix.rounds == 1 { "" } else { "s" }
        );
        for c in &fix.changes {
            let _ = writeln!(out, "  {}", c.command);
            let _ = writeln!(out, "      cost: {}", c.cost);
        }
    }
    for u in &fix.unfixable {
        let _ = writeln!(out, "  not fixable in Neutron: {u}");
    }
    let (passed, total) = fix.recheck.tally();
    let _ = writeln!(
        out,
        "\nRe-check with the change applied: {passed} of {total} flows pass{}",
        if fix.recheck.passed() {
            "."
        } else {
            "; still dropped:"
        }
    );
    for (f, p, d) in fix.recheck.drops() {
        let _ = writeln!(out, "  - {} / {}: {}", f.name, p.what, d.reason);
    }
    if !fix.remedies.is_empty() {
        let _ = writeln!(
            out,
            "\nRemedies from the field report, each re-checked alone:"
        );
        for r in &fix.remedies {
            let _ = writeln!(
                out,
                "  [{}] {}",
                if r.works { "WORKS" } else { "FAILS" },
                r.name
            );
            if let Some(w) = &r.why_not {
                let _ = writeln!(out, "      first drop: {w}");
            }
            if let Some(n) = &r.note {
                let _ = writeln!(out, "      why: {n}");
            }
        }
        let _ = writeln!(
            out,
            "\nMitigations when using a pair like 0.0.0.0/0 (field report 5.4): a front firewall, \
             only VRRP and the service port allowed inside the VMs, arp_announce=2 on the real \
             servers, or NAT/TUN modes that keep the client's address off the director's port."
        );
    }
    out
}
