//! One flow of `vipwire check` replayed on the real kernel: what check
//! predicted (pass, or the drop at a named rule), what real traffic did, and
//! whether the two agree. Shared by the pattern proofs (vip-failover, LVS-NAT,
//! LVS-TUN).

use check::diagnose::{Drop as CheckDrop, DropKind};
use check::simulate::{FlowResult, Outcome};

/// One flow's row: check's verdict against what the kernel did.
pub struct Row {
    /// Which state of the cloud ("before", "after", a partial fix).
    pub phase: String,
    pub flow: String,
    pub predicted: Option<CheckDrop>,
    pub real_pass: bool,
    /// What was seen (answers, captures, counters), in words.
    pub evidence: String,
    /// For a predicted drop: the named rule's counter went up.
    pub counter_rose: Option<bool>,
}

impl Row {
    /// check predicts a drop that conntrack then heals (unicast VRRP).
    pub fn heals(&self) -> bool {
        self.predicted
            .as_ref()
            .is_some_and(|d| d.reason.contains("heals through conntrack"))
    }

    /// A pass that passed, or a drop that failed with its rule's counter up.
    /// A healing drop agrees when traffic got through in the end; whether the
    /// first packets were dropped is checked across both directions by the
    /// caller (only the first sender's are).
    pub fn agrees(&self) -> bool {
        match &self.predicted {
            None => self.real_pass,
            Some(_) if self.heals() => self.real_pass,
            Some(_) => !self.real_pass && self.counter_rose == Some(true),
        }
    }

    /// The row as the proofs print it.
    pub fn show(&self) -> String {
        let pred = match &self.predicted {
            None => "PASS".to_string(),
            Some(d) if d.kind == DropKind::ArpSpoof => {
                format!("DROP at {} port {}: {}", d.host, d.port, d.place)
            }
            Some(d) => format!(
                "DROP at {} {} {} rule {} (port {}){}",
                d.host,
                d.table,
                d.chain,
                d.rule_num,
                d.port,
                if self.heals() {
                    " of the first adverts, then healed by conntrack"
                } else {
                    ""
                }
            ),
        };
        let counter = match self.counter_rose {
            Some(true) => "; that rule's counter rose",
            Some(false) => "; that rule's counter did NOT rise",
            None => "",
        };
        format!(
            "[{}] {} {}\n      predicted: {pred}\n      real:      {} ({}{counter})",
            self.phase,
            if self.agrees() {
                "agree   "
            } else {
                "DISAGREE"
            },
            self.flow,
            if self.real_pass { "PASS" } else { "FAIL" },
            self.evidence
        )
    }
}

/// The first drop of a flow, as check reports it.
pub fn first_drop(f: &FlowResult) -> Option<CheckDrop> {
    (f.outcome != Outcome::Pass)
        .then(|| f.packets.iter().find_map(|p| p.drop.clone()))
        .flatten()
}
