//! Conntrack tuples: the (addresses, protocol, L4 key) a connection is hashed on,
//! how a packet maps to one and how a tuple is inverted for the reply direction.

use packet::{proto, InnerHeader, Packet};
use std::fmt;
use std::net::IpAddr;

/// The protocol-specific part of a tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Key {
    /// TCP, UDP, UDP-Lite, SCTP, DCCP: source and destination port.
    Ports { sport: u16, dport: u16 },
    /// ICMP / ICMPv6: the kernel keys on (id, type, code).
    Icmp { id: u16, kind: u8, code: u8 },
    /// Generic protocols (and GRE version 0, whose key is always 0): addresses only.
    None,
}

/// One direction of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub l4: L4Key,
}

fn has_ports(p: u8) -> bool {
    matches!(
        p,
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP | proto::DCCP
    )
}

/// Kernel protocol name as `conntrack -L` prints it: the kernel's own tracker
/// names (`nf_conntrack_l4proto`), not `/etc/protocols` (so `icmpv6`, and
/// `unknown` for every protocol without a tracker of its own).
pub(crate) fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::ICMP => "icmp",
        proto::ICMPV6 => "icmpv6",
        proto::GRE => "gre",
        proto::SCTP => "sctp",
        proto::DCCP => "dccp",
        proto::UDPLITE => "udplite",
        _ => "unknown",
    }
}

/// ICMP request <-> reply type pairs; only these tuples can be inverted.
/// Kernel nf_conntrack_proto_icmp.c / icmpv6.c, `invmap`.
fn icmp_inverse(v6: bool, kind: u8) -> Option<u8> {
    if v6 {
        match kind {
            128 => Some(129), // echo request -> echo reply
            129 => Some(128),
            139 => Some(140), // node information query -> reply
            140 => Some(139),
            _ => None,
        }
    } else {
        match kind {
            8 => Some(0), // echo
            0 => Some(8),
            13 => Some(14), // timestamp
            14 => Some(13),
            15 => Some(16), // information
            16 => Some(15),
            17 => Some(18), // address mask
            18 => Some(17),
            _ => None,
        }
    }
}

impl CtTuple {
    /// The tuple of the packet as conntrack sees it (`nf_ct_get_tuple`).
    pub fn from_packet(pkt: &Packet) -> Self {
        let l4 = if has_ports(pkt.proto) {
            L4Key::Ports {
                sport: pkt.sport,
                dport: pkt.dport,
            }
        } else if pkt.proto == proto::ICMP || pkt.proto == proto::ICMPV6 {
            L4Key::Icmp {
                id: pkt.icmp_id,
                kind: pkt.icmp_type,
                code: pkt.icmp_code,
            }
        } else {
            L4Key::None
        };
        CtTuple {
            src: pkt.src,
            dst: pkt.dst,
            proto: pkt.proto,
            l4,
        }
    }

    /// The tuple of the header quoted in an ICMP error.
    ///
    /// `InnerHeader` has no ICMP fields: for a quoted ICMP/ICMPv6 packet we read
    /// `sport` as the echo id and assume an echo request (type 8 / 128, code 0),
    /// the only quoted ICMP a ping flow produces.
    pub fn from_inner(inner: &InnerHeader) -> Self {
        let l4 = if has_ports(inner.proto) {
            L4Key::Ports {
                sport: inner.sport,
                dport: inner.dport,
            }
        } else if inner.proto == proto::ICMP || inner.proto == proto::ICMPV6 {
            L4Key::Icmp {
                id: inner.sport,
                kind: if inner.proto == proto::ICMP { 8 } else { 128 },
                code: 0,
            }
        } else {
            L4Key::None
        };
        CtTuple {
            src: inner.src,
            dst: inner.dst,
            proto: inner.proto,
            l4,
        }
    }

    /// The reply-direction tuple (`nf_ct_invert_tuple`); `None` for ICMP types
    /// that have no reply (the kernel then refuses to create a conntrack).
    pub fn invert(&self) -> Option<Self> {
        let l4 = match self.l4 {
            L4Key::Ports { sport, dport } => L4Key::Ports {
                sport: dport,
                dport: sport,
            },
            L4Key::Icmp { id, kind, code } => L4Key::Icmp {
                id,
                kind: icmp_inverse(self.proto == proto::ICMPV6, kind)?,
                code,
            },
            L4Key::None => L4Key::None,
        };
        Some(CtTuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            l4,
        })
    }
}

impl fmt::Display for CtTuple {
    /// `src=A dst=B sport=X dport=Y` / `... type=T code=C id=I`, as `conntrack -L`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={}", self.src, self.dst)?;
        match self.l4 {
            L4Key::Ports { sport, dport } => write!(f, " sport={sport} dport={dport}"),
            L4Key::Icmp { id, kind, code } => write!(f, " type={kind} code={code} id={id}"),
            L4Key::None => Ok(()),
        }
    }
}
