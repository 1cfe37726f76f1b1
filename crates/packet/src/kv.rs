//! The `key=value` packet text format: one packet per line, e.g.
//! `src=192.0.2.1 dst=192.0.2.2 proto=tcp dport=80 flags=S`, with an optional
//! `path=` (see docs/trace-packets.md). `vipwire trace` reads it, for a
//! ruleset and for a whole cloud.

use crate::mac::{MacAddr, MacParseError};
use crate::proto;
use crate::protocols;
use crate::summary::{InnerHeader, Packet, PathKind};
use crate::tcp_flags;
use std::fmt;
use std::net::IpAddr;

/// An error in a `key=value` packet line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError {
    /// 1-based line (set by [`parse_packets`]).
    pub line: Option<usize>,
    pub field: String,
    pub msg: String,
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        write!(f, "packet field `{}`: {}", self.field, self.msg)
    }
}

impl std::error::Error for KvError {}

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

/// The protocol as this format prints it: the names people write for the
/// common ones (each reads back through [`protocols::number`]), else digits.
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

/// A protocol by name or number; 0 (`ip`, `hopopt`, `0`) is not a protocol a
/// packet has (and `all` is no name here).
fn parse_proto(s: &str) -> Option<u8> {
    protocols::number(s).filter(|&n| n != 0)
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
                    let m: MacAddr = v
                        .parse()
                        .or_else(|e: MacParseError| kv_err(k, e.to_string()))?;
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
