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

/// Which hooks a packet crosses (see the engine for the order inside each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// A frame bridged by a Linux bridge with br_netfilter: PREROUTING, FORWARD,
    /// POSTROUTING, with physdev info; `-i`/`-o` are the bridge.
    Bridged,
    /// To a local socket: PREROUTING, INPUT.
    LocalIn,
    /// From a local socket: OUTPUT, POSTROUTING.
    LocalOut,
    /// Routed by the host: PREROUTING, FORWARD, POSTROUTING.
    Routed,
}

impl PathKind {
    /// Name used in the kv format.
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

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::ruleset::parse_mac(s)
            .map(MacAddr)
            .ok_or_else(|| format!("bad MAC address {s:?}"))
    }
}

/// An error in a `key=value` packet line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}packet field `{field}`: {msg}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct KvError {
    /// 1-based line (set by [`parse_packets`]).
    pub line: Option<usize>,
    pub field: String,
    pub msg: String,
}

fn kv_err<T>(field: &str, msg: impl Into<String>) -> Result<T, KvError> {
    Err(KvError {
        line: None,
        field: field.to_string(),
        msg: msg.into(),
    })
}

/// TCP flags from letters (`SA`, `FA`, `PA`, `R`) or names (`SYN,ACK`).
pub fn parse_tcp_flags(s: &str) -> Option<u8> {
    use tcp_flags::*;
    if s.contains(',') || s.len() > 8 || s.eq_ignore_ascii_case("none") {
        let mut b = 0u8;
        for n in s.split(',') {
            b |= match n.to_ascii_uppercase().as_str() {
                "FIN" => FIN,
                "SYN" => SYN,
                "RST" => RST,
                "PSH" => PSH,
                "ACK" => ACK,
                "URG" => URG,
                "ECE" => ECE,
                "CWR" => CWR,
                "NONE" => 0,
                _ => return None,
            };
        }
        return Some(b);
    }
    let full = match s.to_ascii_uppercase().as_str() {
        "SYN" => Some(SYN),
        "ACK" => Some(ACK),
        "FIN" => Some(FIN),
        "RST" => Some(RST),
        "PSH" => Some(PSH),
        "URG" => Some(URG),
        _ => None,
    };
    if full.is_some() {
        return full;
    }
    let mut b = 0u8;
    for c in s.chars() {
        b |= match c.to_ascii_uppercase() {
            'F' => FIN,
            'S' => SYN,
            'R' => RST,
            'P' => PSH,
            'A' => ACK,
            'U' => URG,
            'E' => ECE,
            'C' => CWR,
            _ => return None,
        };
    }
    Some(b)
}

/// TCP flags as letters, SYN first (`SA`, `FA`, `PA`); `none` for 0.
pub fn tcp_flags_letters(b: u8) -> String {
    use tcp_flags::*;
    let mut s = String::new();
    for (bit, c) in [
        (SYN, 'S'),
        (FIN, 'F'),
        (RST, 'R'),
        (PSH, 'P'),
        (ACK, 'A'),
        (URG, 'U'),
        (ECE, 'E'),
        (CWR, 'C'),
    ] {
        if b & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

fn proto_name(p: u8) -> String {
    match p {
        proto::ICMP => "icmp".into(),
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMPV6 => "icmpv6".into(),
        proto::VRRP => "vrrp".into(),
        n => n.to_string(),
    }
}

fn parse_proto(s: &str) -> Option<u8> {
    crate::ruleset::proto_number(s).flatten()
}

fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        return Some((a.parse().ok()?, p.parse().ok()?));
    }
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

fn fmt_endpoint(ip: &IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn parse_num<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, KvError> {
    v.parse()
        .or_else(|_| kv_err(field, format!("bad number {v:?}")))
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

    /// Parse one `key=value` line (see docs/trace-packets.md). A `path=` field is
    /// accepted and ignored here; use [`Packet::parse_kv_path`] to read it.
    pub fn parse_kv(line: &str) -> Result<Packet, KvError> {
        Self::parse_kv_path(line).map(|(p, _)| p)
    }

    /// Parse one `key=value` line and its optional `path=`.
    pub fn parse_kv_path(line: &str) -> Result<(Packet, Option<PathKind>), KvError> {
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for tok in line.split_whitespace() {
            let Some((k, v)) = tok.split_once('=') else {
                return kv_err(tok, "expected key=value");
            };
            if fields.iter().any(|(f, _)| *f == k) {
                return kv_err(k, "given twice");
            }
            fields.push((k, v));
        }
        let get = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| *v);
        let addr = |k: &str| -> Result<IpAddr, KvError> {
            match get(k) {
                None => kv_err(k, "missing"),
                Some(v) => v
                    .parse()
                    .or_else(|_| kv_err(k, format!("bad IP address {v:?}"))),
            }
        };
        let src = addr("src")?;
        let dst = addr("dst")?;
        if src.is_ipv4() != dst.is_ipv4() {
            return kv_err("dst", "family differs from src");
        }
        let proto = match get("proto") {
            None => return kv_err("proto", "missing"),
            Some(v) => parse_proto(v).ok_or_else(|| KvError {
                line: None,
                field: "proto".into(),
                msg: format!("unknown protocol {v:?}"),
            })?,
        };
        let mut p = Packet::new(src, dst, proto);
        let mut path = None;
        for (k, v) in &fields {
            let (k, v) = (*k, *v);
            match k {
                "src" | "dst" | "proto" => {}
                "in" => p.in_dev = Some(v.to_string()),
                "out" => p.out_dev = Some(v.to_string()),
                "physdev_in" => p.physdev_in = Some(v.to_string()),
                "physdev_out" => p.physdev_out = Some(v.to_string()),
                "smac" | "dmac" => {
                    let m: MacAddr = v.parse().or_else(|e: String| kv_err(k, e))?;
                    if k == "smac" {
                        p.src_mac = Some(m);
                    } else {
                        p.dst_mac = Some(m);
                    }
                }
                "sport" => p.sport = parse_num(k, v)?,
                "dport" => p.dport = parse_num(k, v)?,
                "flags" => {
                    p.tcp_flags = parse_tcp_flags(v).ok_or_else(|| KvError {
                        line: None,
                        field: k.into(),
                        msg: format!("bad TCP flags {v:?}"),
                    })?
                }
                "seq" => p.seq = parse_num(k, v)?,
                "ack" => p.ack = parse_num(k, v)?,
                "win" => p.window = parse_num(k, v)?,
                "len" => p.payload_len = parse_num(k, v)?,
                "icmp_type" => p.icmp_type = parse_num(k, v)?,
                "icmp_code" => p.icmp_code = parse_num(k, v)?,
                "icmp_id" => p.icmp_id = parse_num(k, v)?,
                "ttl" => p.ttl = parse_num(k, v)?,
                "mark" => {
                    let m = match v.strip_prefix("0x") {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => v.parse().ok(),
                    };
                    p.mark = m.ok_or_else(|| KvError {
                        line: None,
                        field: k.into(),
                        msg: format!("bad mark {v:?}"),
                    })?;
                }
                "t" => {
                    let t: f64 = parse_num(k, v)?;
                    if !t.is_finite() || t < 0.0 {
                        return kv_err(k, "time must be a finite number >= 0");
                    }
                    p.time = t;
                }
                "inner" => p.inner = Some(parse_inner(v)?),
                "path" => path = Some(v.parse().or_else(|e: String| kv_err(k, e))?),
                _ => return kv_err(k, "unknown field"),
            }
        }
        Ok((p, path))
    }

    /// The packet as one `key=value` line (fields at their defaults left out).
    pub fn to_kv(&self) -> String {
        let mut f: Vec<String> = Vec::new();
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                f.push(format!("{k}={v}"));
            }
        };
        opt("in", &self.in_dev);
        opt("out", &self.out_dev);
        opt("physdev_in", &self.physdev_in);
        opt("physdev_out", &self.physdev_out);
        if let Some(m) = self.src_mac {
            f.push(format!("smac={m}"));
        }
        if let Some(m) = self.dst_mac {
            f.push(format!("dmac={m}"));
        }
        f.push(format!("src={}", self.src));
        f.push(format!("dst={}", self.dst));
        f.push(format!("proto={}", proto_name(self.proto)));
        let mut num = |k: &str, v: u64, default: u64| {
            if v != default {
                f.push(format!("{k}={v}"));
            }
        };
        num("sport", self.sport.into(), 0);
        num("dport", self.dport.into(), 0);
        if self.tcp_flags != 0 {
            f.push(format!("flags={}", tcp_flags_letters(self.tcp_flags)));
        }
        let mut num = |k: &str, v: u64, default: u64| {
            if v != default {
                f.push(format!("{k}={v}"));
            }
        };
        num("seq", self.seq.into(), 0);
        num("ack", self.ack.into(), 0);
        num("win", self.window.into(), 0);
        num("len", self.payload_len.into(), 0);
        num("icmp_type", self.icmp_type.into(), 0);
        num("icmp_code", self.icmp_code.into(), 0);
        num("icmp_id", self.icmp_id.into(), 0);
        if let Some(i) = &self.inner {
            f.push(format!(
                "inner={}>{}/{}",
                fmt_endpoint(&i.src, i.sport),
                fmt_endpoint(&i.dst, i.dport),
                proto_name(i.proto)
            ));
        }
        if self.mark != 0 {
            f.push(format!("mark=0x{:x}", self.mark));
        }
        if self.ttl != 64 {
            f.push(format!("ttl={}", self.ttl));
        }
        if self.time != 0.0 {
            f.push(format!("t={}", self.time));
        }
        f.join(" ")
    }

    /// [`Packet::to_kv`] plus `path=`.
    pub fn to_kv_with_path(&self, path: PathKind) -> String {
        format!("{} path={}", self.to_kv(), path.as_str())
    }
}

fn parse_inner(v: &str) -> Result<InnerHeader, KvError> {
    let bad = || KvError {
        line: None,
        field: "inner".into(),
        msg: format!("expected src:sport>dst:dport/proto, got {v:?}"),
    };
    let (s, rest) = v.split_once('>').ok_or_else(bad)?;
    let (d, pr) = rest.rsplit_once('/').ok_or_else(bad)?;
    let (src, sport) = parse_endpoint(s).ok_or_else(bad)?;
    let (dst, dport) = parse_endpoint(d).ok_or_else(bad)?;
    let proto = parse_proto(pr).ok_or_else(bad)?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(bad());
    }
    Ok(InnerHeader {
        src,
        dst,
        proto,
        sport,
        dport,
    })
}

/// Parse a whole packets text: one packet per line, blank lines and `#` comments
/// skipped. Each packet comes with its path (`path=` or the default).
pub fn parse_packets(text: &str) -> Result<Vec<(Packet, PathKind)>, KvError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (p, path) = Packet::parse_kv_path(l).map_err(|mut e| {
            e.line = Some(i + 1);
            e
        })?;
        let path = path.unwrap_or_else(|| PathKind::default_for(&p));
        out.push((p, path));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_round_trip_and_fields() {
        let line = "in=qbr1 out=qbr1 physdev_in=tap1 physdev_out=tap2 smac=fa:16:3e:aa:bb:cc src=203.0.113.9 dst=203.0.113.241 proto=tcp sport=40000 dport=80 flags=SA seq=7 win=100 len=5 mark=0x10 ttl=63 t=1.5";
        let p = Packet::parse_kv(line).unwrap();
        assert_eq!(p.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);
        assert_eq!(p.physdev_out.as_deref(), Some("tap2"));
        assert_eq!(p.mark, 16);
        assert_eq!(p.to_kv(), line);
        assert_eq!(Packet::parse_kv(&p.to_kv()).unwrap(), p);
        let q = Packet::parse_kv("src=203.0.113.1 dst=203.0.113.2 proto=6 flags=SYN,ACK").unwrap();
        assert_eq!(q.tcp_flags, 0x12);
        let i = Packet::parse_kv(
            "src=2001:db8::1 dst=2001:db8::2 proto=icmpv6 icmp_type=1 icmp_code=4 inner=[2001:db8::2]:5>[2001:db8::1]:53/udp",
        )
        .unwrap();
        assert_eq!(i.inner.as_ref().unwrap().dport, 53);
        assert_eq!(Packet::parse_kv(&i.to_kv()).unwrap(), i);
    }

    #[test]
    fn kv_errors_and_paths() {
        assert_eq!(
            Packet::parse_kv("src=1.2.3.4 proto=tcp").unwrap_err().field,
            "dst"
        );
        assert_eq!(
            Packet::parse_kv("src=1.2.3.4 dst=::1 proto=tcp")
                .unwrap_err()
                .field,
            "dst"
        );
        assert_eq!(
            Packet::parse_kv("src=1.2.3.4 dst=1.2.3.5 proto=tcp bogus=1")
                .unwrap_err()
                .field,
            "bogus"
        );
        assert_eq!(
            Packet::parse_kv("src=1.2.3.4 dst=1.2.3.5 proto=tcp flags=XZ")
                .unwrap_err()
                .field,
            "flags"
        );
        let all = parse_packets("# c\n\nsrc=192.0.2.1 dst=192.0.2.2 proto=udp physdev_in=tap1\nsrc=192.0.2.1 dst=192.0.2.2 proto=udp path=in\n").unwrap();
        assert_eq!(all[0].1, PathKind::Bridged);
        assert_eq!(all[1].1, PathKind::LocalIn);
        let e = parse_packets("\nsrc=x dst=y proto=tcp\n").unwrap_err();
        assert_eq!(e.line, Some(2));
    }
}
