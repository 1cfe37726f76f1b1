//! IP protocol names: the one table every crate uses. Debian netbase's
//! `/etc/protocols` (IANA's assigned numbers with their official names and
//! aliases), which `getprotobynumber`/`getprotobyname` answer from for
//! iptables, iptables-save and Neutron's agent, plus the few names iptables
//! knows by itself. Presentation choices (which protocols a report names,
//! Neutron's own name map) stay with their users and are built on this table.

/// Debian netbase `/etc/protocols`, in file order: (number, official name,
/// aliases). Numbers missing here have no name (iptables-save prints them as
/// digits, e.g. 113).
pub const ETC_PROTOCOLS: &[(u8, &str, &[&str])] = &[
    (0, "ip", &["IP"]),
    (0, "hopopt", &["HOPOPT"]),
    (1, "icmp", &["ICMP"]),
    (2, "igmp", &["IGMP"]),
    (3, "ggp", &["GGP"]),
    (4, "ipencap", &["IP-ENCAP"]),
    (5, "st", &["ST"]),
    (6, "tcp", &["TCP"]),
    (8, "egp", &["EGP"]),
    (9, "igp", &["IGP"]),
    (12, "pup", &["PUP"]),
    (17, "udp", &["UDP"]),
    (20, "hmp", &["HMP"]),
    (22, "xns-idp", &["XNS-IDP"]),
    (27, "rdp", &["RDP"]),
    (29, "iso-tp4", &["ISO-TP4"]),
    (33, "dccp", &["DCCP"]),
    (36, "xtp", &["XTP"]),
    (37, "ddp", &["DDP"]),
    (38, "idpr-cmtp", &["IDPR-CMTP"]),
    (41, "ipv6", &["IPv6"]),
    (43, "ipv6-route", &["IPv6-Route"]),
    (44, "ipv6-frag", &["IPv6-Frag"]),
    (45, "idrp", &["IDRP"]),
    (46, "rsvp", &["RSVP"]),
    (47, "gre", &["GRE"]),
    (50, "esp", &["IPSEC-ESP"]),
    (51, "ah", &["IPSEC-AH"]),
    (57, "skip", &["SKIP"]),
    (58, "ipv6-icmp", &["IPv6-ICMP"]),
    (59, "ipv6-nonxt", &["IPv6-NoNxt"]),
    (60, "ipv6-opts", &["IPv6-Opts"]),
    (73, "rspf", &["RSPF", "CPHB"]),
    (81, "vmtp", &["VMTP"]),
    (88, "eigrp", &["EIGRP"]),
    (89, "ospf", &["OSPFIGP"]),
    (93, "ax.25", &["AX.25"]),
    (94, "ipip", &["IPIP"]),
    (97, "etherip", &["ETHERIP"]),
    (98, "encap", &["ENCAP"]),
    (103, "pim", &["PIM"]),
    (108, "ipcomp", &["IPCOMP"]),
    (112, "vrrp", &["VRRP"]),
    (115, "l2tp", &["L2TP"]),
    (124, "isis", &["ISIS"]),
    (132, "sctp", &["SCTP"]),
    (133, "fc", &["FC"]),
    (135, "mobility-header", &["Mobility-Header"]),
    (136, "udplite", &["UDPLite"]),
    (137, "mpls-in-ip", &["MPLS-in-IP"]),
    (138, "manet", &[]),
    (139, "hip", &["HIP"]),
    (140, "shim6", &["Shim6"]),
    (141, "wesp", &["WESP"]),
    (142, "rohc", &["ROHC"]),
    (143, "ethernet", &["Ethernet"]),
];

/// The names iptables accepts without `/etc/protocols` (libxtables
/// `xtables_chain_protos`; `all` is handled by the rule parser).
pub const XTABLES_NAMES: &[(&str, u8)] = &[
    ("tcp", 6),
    ("sctp", 132),
    ("udp", 17),
    ("udplite", 136),
    ("icmp", 1),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-mh", 135),
    ("mh", 135),
];

/// `getprotobynumber`: the official name of the first entry with this number.
pub fn name(number: u8) -> Option<&'static str> {
    ETC_PROTOCOLS
        .iter()
        .find(|(n, _, _)| *n == number)
        .map(|&(_, name, _)| name)
}

/// `getprotobyname`: the number of an official name or alias, exactly as
/// written (case matters, as in glibc).
pub fn by_name(name: &str) -> Option<u8> {
    ETC_PROTOCOLS
        .iter()
        .find(|(_, n, aliases)| *n == name || aliases.contains(&name))
        .map(|&(n, _, _)| n)
}

/// The number of a protocol written any way a person or a tool writes it: an
/// official name, an alias or an iptables built-in name in any case, or a
/// decimal number. The rule parser and the `key=value` packet format read
/// protocols with it.
pub fn number(name: &str) -> Option<u8> {
    XTABLES_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, p)| p)
        .or_else(|| {
            ETC_PROTOCOLS
                .iter()
                .find(|(_, n, aliases)| {
                    n.eq_ignore_ascii_case(name)
                        || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
                })
                .map(|&(p, _, _)| p)
        })
        .or_else(|| name.to_ascii_lowercase().parse().ok())
}

/// neutron_lib's `IP_PROTOCOL_MAP`: the protocol names the Neutron API
/// accepts in a security group rule, with their numbers (neutron_lib
/// constants.py). ML2/OVN turns a rule's protocol into a number with it.
pub const NEUTRON_NAMES: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// The number of a protocol name as the Neutron API knows it.
pub fn neutron_number(name: &str) -> Option<u8> {
    NEUTRON_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_iptables_save_prints() {
        assert_eq!(number("ipencap"), Some(4));
        assert_eq!(number("ipip"), Some(94));
        assert_eq!(number("vrrp"), Some(112));
        assert_eq!(number("IPV6-ICMP"), Some(58));
        assert_eq!(number("icmpv6"), Some(58));
        assert_eq!(number("gre"), Some(47));
        assert_eq!(number("113"), Some(113));
        assert_eq!(number("nosuch"), None);
        // Aliases in any case.
        assert_eq!(number("ip-encap"), Some(4));
        assert_eq!(number("ipsec-esp"), Some(50));
        assert_eq!(number("OSPFIGP"), Some(89));
        assert_eq!(number("mh"), Some(135));
        // Every alias, CPHB too (netfilter's own copy of this table, before
        // this one, left it out).
        assert_eq!(number("cphb"), Some(73));
    }

    #[test]
    fn libc_lookups() {
        assert_eq!(name(58), Some("ipv6-icmp"));
        assert_eq!(name(0), Some("ip"));
        assert_eq!(name(51), Some("ah"));
        assert_eq!(name(113), None);
        assert_eq!(by_name("IPv6-ICMP"), Some(58));
        assert_eq!(by_name("ipv6-icmp"), Some(58));
        assert_eq!(by_name("IPV6-ICMP"), None);
        assert_eq!(by_name("icmpv6"), None);
        assert_eq!(by_name("CPHB"), Some(73));
    }

    #[test]
    fn xtables_names_agree_with_the_file() {
        for &(n, p) in XTABLES_NAMES {
            if let Some(q) = by_name(n) {
                assert_eq!(p, q, "{n}");
            }
        }
    }
}
