//! The packet vocabulary every backend shares: the packet summary a firewall
//! model evaluates ([`Packet`]), MAC addresses ([`MacAddr`]), IP protocol
//! numbers ([`proto`]) and the one IP protocol name table ([`protocols`]), TCP
//! flag bits ([`tcp_flags`]), how a packet meets a host ([`PathKind`]), the
//! `key=value` packet text format ([`kv`]) and the verdict ([`Verdict`]).
//!
//! Nothing here knows iptables, OpenFlow or OVN: the netfilter engine, the
//! conntrack model, the fabric seam, `check`, and the director's byte-level
//! views (`wire`) all speak these types. Dependencies: serde only.

#![forbid(unsafe_code)]

pub mod kv;
pub mod mac;
pub mod proto;
pub mod protocols;
pub mod summary;
pub mod tcp_flags;
pub mod verdict;

pub use kv::{parse_packets, KvError};
pub use mac::{MacAddr, MacParseError};
pub use summary::{InnerHeader, Packet, PathKind};
pub use verdict::Verdict;
