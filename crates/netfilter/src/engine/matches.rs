//! Match evaluation shared by both evaluators: interface, port, ICMP,
//! conntrack state, address type, physdev and set predicates; the kernel's
//! `xt_*.c` matches.

use super::*;

// ---------------------------------------------------------------- shared predicates

/// The first 16 bytes of an interface name (IFNAMSIZ), zero padded.
pub(super) fn name_bits(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_le_bytes(b)
}

/// A precompiled interface pattern: compared as one masked 16-byte word, like
/// the kernel's ifname_compare_aligned (names are at most 15 bytes + NUL).
#[derive(Clone, Debug)]
pub(super) enum IfPat {
    Fast {
        name: u128,
        mask: u128,
        exact: bool,
    },
    /// Longer than a kernel name: plain string compare.
    Slow(String),
}

impl IfPat {
    pub(super) fn new(p: &str) -> IfPat {
        let (body, wild) = match p.strip_suffix('+') {
            Some(b) => (b, true),
            None => (p, false),
        };
        // An exact name also compares its terminating NUL.
        let len = body.len() + usize::from(!wild);
        if len > 16 {
            return IfPat::Slow(p.to_string());
        }
        let mask = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (len * 8)) - 1
        };
        IfPat::Fast {
            name: name_bits(body),
            mask,
            exact: !wild,
        }
    }

    /// For an exact name: the only device word that matches.
    pub(super) fn exact_bits(&self) -> Option<u128> {
        match self {
            IfPat::Fast {
                name, exact: true, ..
            } => Some(*name),
            _ => None,
        }
    }

    pub(super) fn matches(&self, bits: u128, dev: &str) -> bool {
        match self {
            IfPat::Fast { name, mask, .. } => (bits ^ name) & mask == 0,
            IfPat::Slow(p) => iface_matches(p, dev),
        }
    }
}

/// iptables interface name match: a trailing `+` is a prefix wildcard.
pub fn iface_matches(pattern: &str, dev: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => dev.starts_with(prefix),
        None => pattern == dev,
    }
}

pub(super) fn has_ports(p: u8) -> bool {
    matches!(
        p,
        proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE | proto::DCCP
    )
}

pub(super) fn in_range(p: u16, r: (u16, u16)) -> bool {
    r.0 <= p && p <= r.1
}

pub(super) fn icmp_matches(spec: &IcmpSpec, pkt: &Packet) -> bool {
    match spec.ty {
        None => true,
        Some(t) => t == pkt.icmp_type && spec.code.is_none_or(|c| c == pkt.icmp_code),
    }
}

pub(super) fn state_bits(s: CtState) -> u8 {
    match s {
        CtState::New => StateSet::NEW,
        CtState::Established => StateSet::ESTABLISHED,
        CtState::Related => StateSet::RELATED,
        CtState::Invalid => StateSet::INVALID,
        CtState::Untracked => StateSet::UNTRACKED,
    }
}

/// iptables name of a conntrack state.
pub fn ctstate_name(s: CtState) -> &'static str {
    s.as_str()
}

/// Address type as the kernel's routing lookup would give it.
pub(super) fn addr_type(ip: IpAddr, local: &[IpAddr]) -> AddrType {
    if ip.is_loopback() || local.contains(&ip) {
        return AddrType::Local;
    }
    match ip {
        // inet_addr_type: 0.0.0.0 and 255.255.255.255 are RTN_BROADCAST.
        IpAddr::V4(a) if a.is_broadcast() || a.is_unspecified() => AddrType::Broadcast,
        a if a.is_multicast() => AddrType::Multicast,
        _ => AddrType::Unicast,
    }
}

pub(super) fn port_of(pkt: &Packet, src: bool) -> Option<(u8, u16)> {
    match pkt.proto {
        proto::ICMP | proto::ICMPV6 => Some((
            pkt.proto,
            u16::from(pkt.icmp_type) << 8 | u16::from(pkt.icmp_code),
        )),
        p if has_ports(p) => Some((p, if src { pkt.sport } else { pkt.dport })),
        _ => None,
    }
}

/// Result of one match: matched, not matched, or reached something unknown.
pub(super) enum M {
    Yes,
    No,
    Unknown(String),
}

pub(super) fn b(v: bool) -> M {
    if v {
        M::Yes
    } else {
        M::No
    }
}

/// physdev semantics, kernel net/netfilter/xt_physdev.c physdev_mt: without
/// bridge info an option matches only when negated; `--physdev-in` with no in
/// port is skipped; `--physdev-out` with no out port never matches.
pub(super) fn physdev_opt(v: &View, which: PhysOpt, neg: bool) -> bool {
    if !v.bridged {
        return neg;
    }
    match which {
        PhysOpt::IsBridged => v.phys_out.is_some() != neg,
        PhysOpt::IsIn => v.phys_in.is_some() != neg,
        PhysOpt::IsOut => v.phys_out.is_some() != neg,
        PhysOpt::In(p) => match v.phys_in {
            Some(d) => p.matches(v.phys_in_bits, d) != neg,
            None => true,
        },
        PhysOpt::Out(p) => match v.phys_out {
            Some(d) => p.matches(v.phys_out_bits, d) != neg,
            None => false,
        },
    }
}

#[derive(Clone, Copy)]
pub(super) enum PhysOpt<'a> {
    IsBridged,
    IsIn,
    IsOut,
    In(Pat<'a>),
    Out(Pat<'a>),
}

/// An interface pattern as text (naive) or precompiled.
#[derive(Clone, Copy)]
pub(super) enum Pat<'a> {
    Text(&'a str),
    Compiled(&'a IfPat),
}

impl Pat<'_> {
    fn matches(self, bits: u128, dev: &str) -> bool {
        match self {
            Pat::Text(p) => iface_matches(p, dev),
            Pat::Compiled(p) => p.matches(bits, dev),
        }
    }
}

pub(super) fn set_key(pkt: &Packet, flags: &[bool]) -> (IpAddr, Option<(u8, u16)>) {
    let ip = if flags.first().copied().unwrap_or(true) {
        pkt.src
    } else {
        pkt.dst
    };
    let port = flags.get(1).and_then(|s| port_of(pkt, *s));
    (ip, port)
}
