//! The IPVS connection-sync protocol, version 1: the UDP payload a kernel
//! IPVS master (`ipvsadm --start-daemon master --syncid N`, keepalived's
//! `lvs_sync_daemon`) multicasts to 224.0.0.81:8848 and a backup applies.
//!
//! Layout as the Linux kernel defines and checks it (net/netfilter/ipvs/
//! ip_vs_sync.c: `struct ip_vs_sync_mesg`, `struct ip_vs_sync_v4/_v6`,
//! `ip_vs_sync_conn`, `ip_vs_process_message`, `ip_vs_proc_sync_conn`;
//! flag values from include/uapi/linux/ip_vs.h). All fields big-endian.
//!
//! ```text
//! message header (8 bytes)
//!   0 reserved (0; a v0 message has its count here)  1 syncid
//!   2 size: the whole message, header included (u16)
//!   4 count of entries (u8)  5 version (1)  6 spare (0, u16)
//! entry, IPv4 36 bytes / IPv6 72 bytes, then options; 4-byte aligned
//!   0 type (bit 0: IPv6)  1 protocol  2 version (4 msb, 0) | size (12 lsb)
//!   4 flags (u32)  8 state (u16)  10 cport  12 vport  14 dport
//!   16 fwmark (u32)  20 timeout in seconds (u32)
//!   24 caddr, vaddr, daddr (4 or 16 bytes each)
//! option: type (u8), length (u8, not 0), data
//!   1 sequence data: in_seq and out_seq, each (init_seq, delta,
//!     previous_delta) as u32: 24 bytes
//!   2 persistence-engine data, 3 persistence-engine name
//!   a type with bit 0x40 set is optional: a receiver may skip it;
//!   another unknown type makes the receiver drop the entry.
//! ```
//!
//! An entry's size field excludes the padding; the sender puts the zero
//! padding before the next entry, and the message size counts it. The last
//! entry is not padded.

use std::net::{IpAddr, Ipv4Addr};

use crate::ethernet::{invalid, need, ParseError};

/// Default multicast group (`IP_VS_SYNC_GROUP`).
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// Default UDP port (`IP_VS_SYNC_PORT`).
pub const SYNC_PORT: u16 = 8848;
/// `SYNC_PROTO_VER`.
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
pub const V4_ENTRY_LEN: usize = 36;
pub const V6_ENTRY_LEN: usize = 72;
/// Entry type bit: the addresses are IPv6 (`STYPE_F_INET6`).
pub const TYPE_INET6: u8 = 0x01;

/// Option types (`IPVS_OPT_*`).
pub const OPT_SEQ_DATA: u8 = 1;
pub const OPT_PE_DATA: u8 = 2;
pub const OPT_PE_NAME: u8 = 3;
/// Bit of an option type that makes it optional (`IPVS_OPT_F_PARAM`).
pub const OPT_F_PARAM: u8 = 0x40;
/// Length of the sequence-data option's data.
pub const SEQ_OPT_LEN: usize = 24;

/// Connection flags (`IP_VS_CONN_F_*`).
pub mod flags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
    pub const SYNC: u32 = 0x0020;
    pub const HASHED: u32 = 0x0040;
    pub const NOOUTPUT: u32 = 0x0080;
    pub const INACTIVE: u32 = 0x0100;
    pub const OUT_SEQ: u32 = 0x0200;
    pub const IN_SEQ: u32 = 0x0400;
    pub const SEQ_MASK: u32 = 0x0600;
    pub const NO_CPORT: u32 = 0x0800;
    pub const TEMPLATE: u32 = 0x1000;
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a backup keeps from a received entry (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
}

/// TCP states as numbered on the wire (`IP_VS_TCP_S_*`).
pub mod tcp_state {
    pub const NONE: u16 = 0;
    pub const ESTABLISHED: u16 = 1;
    pub const SYN_SENT: u16 = 2;
    pub const SYN_RECV: u16 = 3;
    pub const FIN_WAIT: u16 = 4;
    pub const TIME_WAIT: u16 = 5;
    pub const CLOSE: u16 = 6;
    pub const CLOSE_WAIT: u16 = 7;
    pub const LAST_ACK: u16 = 8;
    pub const LISTEN: u16 = 9;
    pub const SYNACK: u16 = 10;
    /// Number of TCP states; a larger state is invalid for a connection.
    pub const COUNT: u16 = 11;
}

/// One direction's sequence adjustment (`struct ip_vs_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqData {
    pub init_seq: u32,
    pub delta: u32,
    pub previous_delta: u32,
}

/// An option after an entry's fixed part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOption {
    Seq {
        in_seq: SeqData,
        out_seq: SeqData,
    },
    PeData(Vec<u8>),
    PeName(Vec<u8>),
    /// A type with [`OPT_F_PARAM`] set that this crate does not know.
    Optional {
        kind: u8,
        data: Vec<u8>,
    },
}

/// One synced connection or persistence template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol (6 TCP, 17 UDP; a template of an fwmark service may carry 0).
    pub protocol: u8,
    pub flags: u32,
    pub state: u16,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    pub fwmark: u32,
    /// Seconds; 0 makes the receiver use the state's default timeout.
    pub timeout: u32,
    /// Client, virtual and real-server addresses, all of one family.
    pub caddr: IpAddr,
    pub vaddr: IpAddr,
    pub daddr: IpAddr,
    pub options: Vec<SyncOption>,
}

impl SyncConn {
    pub fn is_template(&self) -> bool {
        self.flags & flags::TEMPLATE != 0
    }

    /// The forwarding method bits (`flags::MASQ`, `DROUTE`, `TUNNEL`, ...).
    pub fn forward_method(&self) -> u32 {
        self.flags & flags::FWD_MASK
    }

    fn is_v6(&self) -> bool {
        self.caddr.is_ipv6()
    }

    /// Bytes of this entry on the wire, options included, padding excluded.
    pub fn wire_len(&self) -> usize {
        let fixed = if self.is_v6() {
            V6_ENTRY_LEN
        } else {
            V4_ENTRY_LEN
        };
        fixed
            + self
                .options
                .iter()
                .map(|o| 2 + option_data_len(o))
                .sum::<usize>()
    }
}

fn option_data_len(o: &SyncOption) -> usize {
    match o {
        SyncOption::Seq { .. } => SEQ_OPT_LEN,
        SyncOption::PeData(d) | SyncOption::PeName(d) | SyncOption::Optional { data: d, .. } => {
            d.len()
        }
    }
}

/// A whole sync message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessage {
    pub syncid: u8,
    pub conns: Vec<SyncConn>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr(b: &[u8], at: usize, v6: bool) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        IpAddr::from(o)
    } else {
        IpAddr::from([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
}

const W: &str = "ipvs sync";

impl SyncMessage {
    /// Parse a datagram with the checks a kernel backup makes before it
    /// applies anything: header length, size equal to the datagram, a v1
    /// header (reserved, spare 0), each entry inside the datagram with
    /// version 0, a known address type and well-formed options. Unlike the
    /// kernel, an unknown mandatory option rejects the whole message.
    pub fn parse(buf: &[u8]) -> Result<SyncMessage, ParseError> {
        need(W, buf, HEADER_LEN)?;
        let size = be16(buf, 2);
        if usize::from(size) != buf.len() {
            return Err(invalid(W, "size", size.into()));
        }
        if buf[0] != 0 || be16(buf, 6) != 0 {
            // A version 0 message, or garbage.
            return Err(invalid(W, "reserved", buf[0].into()));
        }
        if buf[5] != VERSION {
            return Err(invalid(W, "version", buf[5].into()));
        }
        let count = buf[4];
        let mut conns = Vec::with_capacity(count.into());
        let mut p = HEADER_LEN;
        for _ in 0..count {
            need(W, buf, p + V4_ENTRY_LEN)?;
            let vs = be16(buf, p + 2);
            let esize = usize::from(vs & 0x0fff);
            if vs >> 12 != 0 {
                return Err(invalid(W, "entry version", (vs >> 12).into()));
            }
            need(W, buf, p + esize)?;
            conns.push(parse_entry(&buf[p..p + esize])?);
            p += align4(esize);
        }
        Ok(SyncMessage {
            syncid: buf[1],
            conns,
        })
    }

    /// Bytes of the message on the wire.
    pub fn wire_len(&self) -> usize {
        let mut n = HEADER_LEN;
        for (i, c) in self.conns.iter().enumerate() {
            if i > 0 {
                n = align4(n);
            }
            n += c.wire_len();
        }
        n
    }

    /// The datagram, as the kernel lays it out. Fails on more than 255
    /// entries, more than 65535 bytes (or 4095 for one entry), an option
    /// longer than 255 bytes or empty, or an entry mixing address families.
    pub fn emit(&self) -> Result<Vec<u8>, ParseError> {
        if self.conns.len() > 255 {
            return Err(invalid(W, "count", self.conns.len() as u32));
        }
        let total = self.wire_len();
        if total > 0xffff {
            return Err(invalid(W, "size", total as u32));
        }
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&[0, self.syncid]);
        b.extend_from_slice(&(total as u16).to_be_bytes());
        b.extend_from_slice(&[self.conns.len() as u8, VERSION, 0, 0]);
        for (i, c) in self.conns.iter().enumerate() {
            if i > 0 {
                b.resize(align4(b.len()), 0);
            }
            emit_entry(c, &mut b)?;
        }
        debug_assert_eq!(b.len(), total);
        Ok(b)
    }
}

fn parse_entry(e: &[u8]) -> Result<SyncConn, ParseError> {
    let kind = e[0];
    let v6 = kind & TYPE_INET6 != 0;
    if !v6 && kind != 0 {
        return Err(invalid(W, "type", kind.into()));
    }
    let fixed = if v6 { V6_ENTRY_LEN } else { V4_ENTRY_LEN };
    need(W, e, fixed)?;
    let al = if v6 { 16 } else { 4 };
    let mut options = Vec::new();
    let mut p = fixed;
    let mut seen = 0u8;
    while p < e.len() {
        need(W, e, p + 2)?;
        let (t, l) = (e[p], usize::from(e[p + 1]));
        p += 2;
        if l == 0 {
            return Err(invalid(W, "option length", 0));
        }
        need(W, e, p + l)?;
        let d = &e[p..p + l];
        let base = t & !OPT_F_PARAM;
        if matches!(base, OPT_SEQ_DATA | OPT_PE_DATA | OPT_PE_NAME) {
            // Each known option at most once.
            if seen & (1 << base) != 0 {
                return Err(invalid(W, "option twice", t.into()));
            }
            seen |= 1 << base;
        }
        options.push(match base {
            OPT_SEQ_DATA => {
                if l != SEQ_OPT_LEN {
                    return Err(invalid(W, "seq option length", l as u32));
                }
                let s = |at| SeqData {
                    init_seq: be32(d, at),
                    delta: be32(d, at + 4),
                    previous_delta: be32(d, at + 8),
                };
                SyncOption::Seq {
                    in_seq: s(0),
                    out_seq: s(12),
                }
            }
            OPT_PE_DATA => SyncOption::PeData(d.to_vec()),
            OPT_PE_NAME => SyncOption::PeName(d.to_vec()),
            _ if t & OPT_F_PARAM != 0 => SyncOption::Optional {
                kind: t,
                data: d.to_vec(),
            },
            _ => return Err(invalid(W, "mandatory option", t.into())),
        });
        p += l;
    }
    Ok(SyncConn {
        protocol: e[1],
        flags: be32(e, 4),
        state: be16(e, 8),
        cport: be16(e, 10),
        vport: be16(e, 12),
        dport: be16(e, 14),
        fwmark: be32(e, 16),
        timeout: be32(e, 20),
        caddr: addr(e, 24, v6),
        vaddr: addr(e, 24 + al, v6),
        daddr: addr(e, 24 + 2 * al, v6),
        options,
    })
}

fn put_addr(b: &mut Vec<u8>, a: IpAddr, v6: bool) -> Result<(), ParseError> {
    match (a, v6) {
        (IpAddr::V4(a), false) => b.extend_from_slice(&a.octets()),
        (IpAddr::V6(a), true) => b.extend_from_slice(&a.octets()),
        _ => return Err(invalid(W, "address family", u32::from(v6))),
    }
    Ok(())
}

fn emit_entry(c: &SyncConn, b: &mut Vec<u8>) -> Result<(), ParseError> {
    let v6 = c.is_v6();
    let len = c.wire_len();
    if len > 0x0fff {
        return Err(invalid(W, "entry size", len as u32));
    }
    b.push(if v6 { TYPE_INET6 } else { 0 });
    b.push(c.protocol);
    b.extend_from_slice(&(len as u16).to_be_bytes());
    b.extend_from_slice(&c.flags.to_be_bytes());
    for v in [c.state, c.cport, c.vport, c.dport] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&c.fwmark.to_be_bytes());
    b.extend_from_slice(&c.timeout.to_be_bytes());
    for a in [c.caddr, c.vaddr, c.daddr] {
        put_addr(b, a, v6)?;
    }
    for o in &c.options {
        let (t, l) = match o {
            SyncOption::Seq { .. } => (OPT_SEQ_DATA, SEQ_OPT_LEN),
            SyncOption::PeData(d) => (OPT_PE_DATA, d.len()),
            SyncOption::PeName(d) => (OPT_PE_NAME, d.len()),
            SyncOption::Optional { kind, data } => (*kind, data.len()),
        };
        if l == 0 || l > 255 {
            return Err(invalid(W, "option length", l as u32));
        }
        b.push(t);
        b.push(l as u8);
        match o {
            SyncOption::Seq { in_seq, out_seq } => {
                for s in [in_seq, out_seq] {
                    for v in [s.init_seq, s.delta, s.previous_delta] {
                        b.extend_from_slice(&v.to_be_bytes());
                    }
                }
            }
            SyncOption::PeData(d)
            | SyncOption::PeName(d)
            | SyncOption::Optional { data: d, .. } => b.extend_from_slice(d),
        }
    }
    Ok(())
}

/// Pack entries into as few messages as fit in `maxlen` bytes of UDP payload
/// each (and 255 entries), in order, as the kernel fills its sync buffers.
/// An entry larger than `maxlen` goes alone in its own message.
pub fn pack(syncid: u8, conns: &[SyncConn], maxlen: usize) -> Vec<SyncMessage> {
    let mut out = Vec::new();
    let mut cur = SyncMessage {
        syncid,
        conns: Vec::new(),
    };
    let mut len = HEADER_LEN;
    for c in conns {
        let add = if cur.conns.is_empty() {
            c.wire_len()
        } else {
            align4(len) - len + c.wire_len()
        };
        if !cur.conns.is_empty() && (len + add > maxlen || cur.conns.len() == 255) {
            out.push(std::mem::replace(
                &mut cur,
                SyncMessage {
                    syncid,
                    conns: Vec::new(),
                },
            ));
            len = HEADER_LEN + c.wire_len();
        } else {
            len += add;
        }
        cur.conns.push(c.clone());
    }
    if !cur.conns.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests;
