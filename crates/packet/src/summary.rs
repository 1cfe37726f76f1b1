//! The packet as a firewall model sees it: addresses, ports, flags, ICMP
//! fields, time, and the devices it crosses.
//!
//! This is a header summary, not a byte buffer: the evaluators only need what
//! their matches can look at. Text form: [`crate::kv`].

use crate::mac::MacAddr;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The inner header quoted by an ICMP error (for RELATED tracking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// One packet (or bridged frame) as it meets a firewall (the netfilter hooks,
/// an OpenFlow pipeline, ...).
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
    /// TCP flags (see [`crate::tcp_flags`]).
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

/// How a packet meets a host: bridged through it, to or from one of its
/// sockets, or routed through it. Any dataplane on a Linux host has these
/// four ways (an OVS or Linux bridge, the host's own stack); each backend maps
/// them to its pipeline (the netfilter engine: which hooks, in which order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// A frame a bridge forwards between two of its ports (the physdev fields);
    /// the in/out devices are the bridge. Netfilter (a Linux bridge with
    /// br_netfilter): PREROUTING, FORWARD, POSTROUTING.
    Bridged,
    /// To a local socket. Netfilter: PREROUTING, INPUT.
    LocalIn,
    /// From a local socket. Netfilter: OUTPUT, POSTROUTING.
    LocalOut,
    /// Routed by the host. Netfilter: PREROUTING, FORWARD, POSTROUTING.
    Routed,
}

impl PathKind {
    /// Name used in the `key=value` format (`path=`).
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Bridged => "bridged",
            PathKind::LocalIn => "in",
            PathKind::LocalOut => "out",
            PathKind::Routed => "routed",
        }
    }

    /// Default for a packet without `path=`: bridged if it has physdev info.
    pub fn default_for(p: &Packet) -> PathKind {
        if p.physdev_in.is_some() || p.physdev_out.is_some() {
            PathKind::Bridged
        } else {
            PathKind::Routed
        }
    }
}

impl std::str::FromStr for PathKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "bridged" => PathKind::Bridged,
            "in" | "local-in" | "localin" => PathKind::LocalIn,
            "out" | "local-out" | "localout" => PathKind::LocalOut,
            "routed" => PathKind::Routed,
            o => return Err(format!("unknown path {o:?} (bridged|in|out|routed)")),
        })
    }
}

impl Packet {
    /// A packet with the given addresses and protocol, everything else zero
    /// (TTL 64).
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8) -> Packet {
        Packet {
            in_dev: None,
            out_dev: None,
            physdev_in: None,
            physdev_out: None,
            src_mac: None,
            dst_mac: None,
            src,
            dst,
            proto,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
            icmp_type: 0,
            icmp_code: 0,
            icmp_id: 0,
            inner: None,
            mark: 0,
            ttl: 64,
            time: 0.0,
        }
    }

    /// True for an IPv6 packet.
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}
