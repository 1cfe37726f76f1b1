//! Moves a packet through the netfilter hooks the way the kernel does and records
//! a TRACE-like path.
//!
//! Hook order (kernel priorities, include/uapi/linux/netfilter_ipv4.h):
//! PREROUTING raw(-300), conntrack(-200), mangle(-150), nat(-100);
//! INPUT mangle, filter, nat; FORWARD mangle, filter;
//! OUTPUT raw, conntrack, mangle, nat, filter; POSTROUTING mangle, nat, then the
//! conntrack confirm (also after INPUT for local delivery).
//! The nat table only sees the packet that creates a conntrack entry.
//! A bridged frame to a group MAC keeps its new entry even when FORWARD drops it:
//! the bridge confirms it when passing the frame up (see `bridge_passes_up`).
//!
//! Two evaluators: [`Engine`] precompiles the ruleset (chain indices, parsed
//! matches, resolved sets); [`eval_naive`] walks the parsed text, resolving chains
//! and sets by name at every step. They must agree (a property test checks it).
//!
//! Unknown matches: a rule whose evaluation reaches a match the model does not
//! know is treated as NOT matching, and the rule is added to
//! [`PacketTrace::unknown`]. Unknown targets are treated as non-terminating
//! (like LOG) and also recorded.

mod compile;
mod format;
mod hooks;
mod matches;
mod naive;
#[cfg(test)]
mod tests;
mod walk;

use compile::*;
pub use format::*;
pub use hooks::*;
pub use matches::*;
pub use naive::*;
pub use walk::*;

use crate::ipset::IpsetStore;
use crate::ruleset::{
    AddrType, CtOpt, Family, IcmpSpec, MarkOp, MatchOpt, Part, PortDir, Rule, Ruleset, Rulesets,
    StateSet, Table, Target,
};
use crate::trace::{PacketTrace, StepKind, TraceStep};
use conntrack::{Conntrack, CtOutcome, CtState};
use ipnet::IpNet;
use packet::{proto, MacAddr, Packet, PathKind, Verdict};
use std::collections::HashMap;
use std::net::IpAddr;

/// A ruleset the engine cannot load (the kernel would refuse it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{family:?} table {table}: chain loop through {chain}")]
    Loop {
        family: Family,
        table: String,
        chain: String,
    },
    #[error("{family:?} table {table}: jump to built-in chain {chain}")]
    JumpToBuiltin {
        family: Family,
        table: String,
        chain: String,
    },
}

// ---------------------------------------------------------------- convenience

/// Error of [`trace_packets`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rules: {0}")]
    Rules(crate::ruleset::ParseError),
    #[error("ipsets: {0}")]
    Ipsets(crate::ruleset::ParseError),
    #[error("packets: {0}")]
    Packets(#[from] packet::KvError),
    #[error("rules: {0}")]
    Load(#[from] EngineError),
}

/// Parse rules (iptables-save, optionally followed by ip6tables-save), ipsets and
/// packets, then evaluate the packets in order with one shared conntrack. Each
/// packet uses the ruleset of its family (an empty one, i.e. all ACCEPT, if the
/// text has none).
pub fn trace_packets(
    rules_text: &str,
    ipsets_text: Option<&str>,
    packets_text: &str,
) -> Result<Vec<(Packet, PacketTrace)>, Error> {
    let rules = Rulesets::parse(rules_text).map_err(Error::Rules)?;
    let sets = match ipsets_text {
        Some(t) => IpsetStore::parse(t).map_err(Error::Ipsets)?,
        None => IpsetStore::default(),
    };
    let pkts = packet::parse_packets(packets_text)?;
    let engine = Engine::new(&rules, &sets)?;
    let mut ct = Conntrack::new();
    Ok(pkts
        .into_iter()
        .map(|(p, path)| {
            let t = engine.eval(&mut ct, &p, path);
            (p, t)
        })
        .collect())
}
