//! Netfilter model: iptables-save and `ipset save` parsers and printers, a rule
//! evaluator that walks the kernel's hooks in order, and a conntrack that follows
//! the kernel's state machines.
//!
//! Data flow: text -> [`ruleset::Ruleset`] / [`ipset::IpsetStore`] ->
//! [`engine`] (with [`conntrack::Conntrack`]) -> [`trace::PacketTrace`].

pub mod ipset;
pub mod packet;
pub mod ruleset;
pub mod trace;

pub use packet::{MacAddr, Packet};
pub use trace::{PacketTrace, StepKind, TraceStep, Verdict};
