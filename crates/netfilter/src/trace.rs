//! The result of moving one packet through the hooks: the path and the verdict,
//! shaped like the kernel's TRACE target output.

use packet::Verdict;
use serde::{Deserialize, Serialize};

/// How a trace step was reached, as in `TRACE: table:chain:rule:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A rule matched (its target ran).
    Rule,
    /// Fell off the end of a user chain back to the caller.
    Return,
    /// Fell off the end of a built-in chain: its policy applied.
    Policy,
    /// A logical flow of OVN's pipeline matched: `table` is the pipeline
    /// (ingress, egress), `chain` the stage, `rule_num` the logical table,
    /// `rule_text` the flow as `priority=P, match=(M), action=(A)`.
    Lflow,
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    pub table: String,
    pub chain: String,
    pub kind: StepKind,
    /// 1-based rule number in the chain (for `Return`/`Policy`: count of rules + 1).
    pub rule_num: usize,
    /// The rule as iptables-save prints it (`-A chain ...`), or the policy.
    pub rule_text: String,
}

impl TraceStep {
    /// The step as a trace line: `table:chain:rule:N  text` like the kernel's
    /// TRACE target, or `ingress table=N (stage), priority=...` like
    /// `ovn-sbctl lflow-list`.
    pub fn line(&self) -> String {
        let kind = match self.kind {
            StepKind::Rule => "rule",
            StepKind::Return => "return",
            StepKind::Policy => "policy",
            StepKind::Lflow => return format!("{} {}", self.table, self.place_lflow()),
        };
        format!(
            "{}:{}:{}:{}  {}",
            self.table, self.chain, kind, self.rule_num, self.rule_text
        )
    }

    fn place_lflow(&self) -> String {
        format!(
            "table={} ({}), {}",
            self.rule_num, self.chain, self.rule_text
        )
    }

    /// Where the step is, for a drop's "where" line.
    pub fn place(&self) -> String {
        match self.kind {
            StepKind::Lflow => format!(
                "{} pipeline table={} ({})",
                self.table, self.rule_num, self.chain
            ),
            _ => format!("{} {}, rule {}", self.table, self.chain, self.rule_num),
        }
    }
}

/// What happened to one packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketTrace {
    pub verdict: Verdict,
    pub path: Vec<TraceStep>,
    /// Conntrack state the filter saw: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED.
    pub ctstate: String,
    /// Why conntrack called the packet INVALID (or ignored it), in the kernel's log words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_reason: Option<String>,
    /// Conntrack zone the packet was tracked in (0 if none set).
    pub zone: u16,
    /// Matches or targets the engine does not know that the packet reached.
    pub unknown: Vec<String>,
}

impl PacketTrace {
    /// The step that decided a DROP (the last rule step), if any.
    pub fn drop_step(&self) -> Option<&TraceStep> {
        match self.verdict {
            Verdict::Drop => self.path.last(),
            Verdict::Accept => None,
        }
    }
}
