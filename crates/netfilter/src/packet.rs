//! The packet as netfilter sees it: addresses, ports, flags and the devices it crosses.
//!
//! This is a header summary, not a byte buffer: the evaluator only needs what
//! iptables matches can look at. `vipwire trace` reads one per line as
//! `key=value` fields (see [`Packet::parse_kv`]).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

/// IP protocol numbers used by the matches.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const VRRP: u8 = 112;
}

/// TCP flag bits as on the wire.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The inner header quoted by an ICMP error (for RELATED tracking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// One packet (or bridged frame) presented to the netfilter hooks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// Input interface (`-i`); for a bridged frame the bridge, e.g. `qbr1234`.
    pub in_dev: Option<String>,
    /// Output interface (`-o`).
    pub out_dev: Option<String>,
    /// Bridge port the frame came in on (`--physdev-in`).
    pub physdev_in: Option<String>,
    /// Bridge port the frame leaves by (`--physdev-out`).
    pub physdev_out: Option<String>,
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// TCP/UDP ports; 0 when the protocol has none.
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (see [`tcp_flags`]).
    pub tcp_flags: u8,
    /// TCP sequence, acknowledgement and window, when the caller cares.
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    /// Payload bytes after the L4 header (TCP sequence space).
    pub payload_len: u32,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// ICMP echo identifier (conntrack keys echo on it).
    pub icmp_id: u16,
    /// For ICMP errors: the quoted original header.
    pub inner: Option<InnerHeader>,
    /// skb mark on entry.
    pub mark: u32,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// Seconds since the start of the run; conntrack timeouts use it.
    pub time: f64,
}
