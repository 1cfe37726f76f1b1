//! ICMP and ICMPv6 type names and the `--icmp-type` / `--icmpv6-type` parser;
//! iptables' `libxt_icmp.c` and `libip6t_icmp6.c`.

use super::*;

/// ICMP type names iptables 1.8.9 knows (`libxt_icmp.h` `icmp_codes`), with
/// the code they fix (`None`: every code). Checked on the test bed by restoring
/// each name and reading `iptables-save` back.
pub(super) const ICMP_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("any", 255, None),
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// ICMPv6 type names of ip6tables 1.8.9 (`libip6t_icmp6.c`); there is no `any`,
/// and the `mld-listener-*` names only came with 1.8.10.
pub(super) const ICMPV6_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("communication-prohibited", 1, Some(1)),
    ("beyond-scope", 1, Some(2)),
    ("address-unreachable", 1, Some(3)),
    ("port-unreachable", 1, Some(4)),
    ("failed-policy", 1, Some(5)),
    ("reject-route", 1, Some(6)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("ttl-exceeded", 3, None),
    ("ttl-zero-during-transit", 3, Some(0)),
    ("ttl-zero-during-reassembly", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("bad-header", 4, Some(0)),
    ("unknown-header-type", 4, Some(1)),
    ("unknown-option", 4, Some(2)),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
    ("redirect", 137, None),
];

/// A number as `xtables_strtoui` (base 0) reads it: decimal, `0x` hex or
/// leading-zero octal, an optional `+`, at most 255.
pub(super) fn parse_icmp_number(s: &str) -> Option<u8> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let n = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse::<u32>().ok()?
    };
    u8::try_from(n).ok()
}

/// `--icmp-type` / `--icmpv6-type` as iptables 1.8.9 parses it: a name, or
/// an unambiguous case-insensitive prefix of one (`echo-req`; `echo` is
/// refused), else `TYPE` (every code) or `TYPE/CODE`. `None`: iptables
/// refuses it.
///
/// IPv4 type 255 is "any", whatever the code: the kernel's icmp match
/// (net/netfilter/xt_tcpudp.c `icmp_type_code_match`) passes every ICMP packet
/// when the rule's type is 0xFF, and iptables-save 1.8.9 (libxt_icmp.c
/// `icmp_save`) prints every type-255 match as `--icmp-type any`. ICMPv6 has
/// no such case (`icmp6_type_code_match`): type 255 is just type 255.
pub(super) fn parse_icmp(s: &str, v6: bool) -> Option<IcmpSpec> {
    let names = if v6 { ICMPV6_NAMES } else { ICMP_NAMES };
    let mut hits = names.iter().filter(|(name, _, _)| {
        name.len() >= s.len() && name.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
    });
    let (ty, code) = match (s.is_empty(), hits.next(), hits.next()) {
        (false, Some(&(_, t, c)), None) => (t, c),
        (false, Some(_), Some(_)) => return None,
        _ => match s.split_once('/') {
            Some((t, c)) => (parse_icmp_number(t)?, Some(parse_icmp_number(c)?)),
            None => (parse_icmp_number(s)?, None),
        },
    };
    if !v6 && ty == 255 {
        return Some(IcmpSpec {
            ty: None,
            code: None,
        });
    }
    Some(IcmpSpec { ty: Some(ty), code })
}
