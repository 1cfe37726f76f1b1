//! Netfilter model: iptables-save and `ipset save` parsers and printers, a rule
//! evaluator that walks the kernel's hooks in order, and a conntrack that follows
//! the kernel's state machines.
//!
//! Data flow: text -> [`ruleset::Ruleset`] / [`ipset::IpsetStore`] ->
//! [`engine`] (with [`conntrack::Conntrack`]) -> [`trace::PacketTrace`].

#![forbid(unsafe_code)]

pub mod conntrack;
pub mod engine;
pub mod ipset;
pub mod packet;
pub mod protocols;
pub mod ruleset;
pub mod trace;

pub use engine::{eval_naive, format_trace, trace_packets, Engine, Error};
pub use ipset::IpsetStore;
pub use packet::{MacAddr, Packet, PathKind};
pub use ruleset::{Ruleset, Rulesets};
pub use trace::{PacketTrace, StepKind, TraceStep, Verdict};
