//! IP protocol names as `iptables-save` prints them: iptables' own short list,
//! then the names and aliases of /etc/protocols (Debian netbase, i.e. IANA's
//! assigned numbers), which iptables looks up with getprotobynumber/byname.

/// (name, number) pairs; iptables' built-ins first (xtables.c `xtables_chain_protos`).
pub const NAMES: &[(&str, u8)] = &[
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
    ("ip", 0),
    ("hopopt", 0),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("ip-encap", 4),
    ("st", 5),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("ipsec-esp", 50),
    ("ipsec-ah", 51),
    ("skip", 57),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ospfigp", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("fc", 133),
    ("mobility-header", 135),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// The number of a protocol name (case-insensitive), or a decimal number.
pub fn number(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|&(_, p)| p)
        .or_else(|| lower.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::number;

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
    }
}
