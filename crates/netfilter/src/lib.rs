//! Netfilter model: iptables-save and `ipset save` parsers and printers, and a
//! rule evaluator that walks the kernel's hooks in order, tracking connections
//! with the `conntrack` crate.
//!
//! Data flow: text -> [`ruleset::Ruleset`] / [`ipset::IpsetStore`] ->
//! [`engine`] (with a `conntrack::Conntrack`) -> [`trace::PacketTrace`]. Packets
//! and verdicts are the `packet` crate's.

#![forbid(unsafe_code)]

pub mod engine;
pub mod ipset;
pub mod ruleset;
pub mod trace;

pub use engine::{eval_naive, format_trace, trace_packets, Engine, Error};
pub use ipset::IpsetStore;
pub use ruleset::{Ruleset, Rulesets};
pub use trace::{PacketTrace, StepKind, TraceStep};
