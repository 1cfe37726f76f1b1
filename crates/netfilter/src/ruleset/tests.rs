use super::*;

fn rt(line: &str) -> Rule {
    let r = parse_rule(line, 1).unwrap();
    assert_eq!(r.to_string(), line, "round trip");
    r
}

#[test]
fn neutron_lines_round_trip() {
    for l in [
        "-A neutron-openvswi-sg-chain -m physdev --physdev-out tap11111111-22 --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j neutron-openvswi-i11111111-2",
        "-A neutron-openvswi-s11111111-2 -s 203.0.113.5/32 -m mac --mac-source fa:16:3e:aa:bb:cc -m comment --comment \"Allow traffic from defined IP/MAC pairs.\" -j RETURN",
        "-A PREROUTING -m physdev --physdev-in qvb11111111-22 -m comment --comment \"Set zone for 1111-22\" -j CT --zone 4097",
        "-A neutron-openvswi-i11111111-2 -p tcp -m tcp --dport 80 -j RETURN",
        "-A neutron-openvswi-i11111111-2 -p tcp -m multiport --dports 1000:2000 -j RETURN",
        "-A neutron-openvswi-i11111111-2 -p icmp -m icmp --icmp-type 8/0 -j RETURN",
        "-A neutron-openvswi-i11111111-2 -m set --match-set NIPv4abcd src -j RETURN",
        "-A neutron-openvswi-i11111111-2 -m state --state RELATED,ESTABLISHED -m comment --comment \"Direct packets associated with a known session to the RETURN chain.\" -j RETURN",
        "-A X ! -s 10.0.0.0/8 ! -i eth+ -p udp -m udp ! --sport 67:68 -j DROP",
        "-A X -m conntrack --ctstate NEW,UNTRACKED -m mark --mark 0x1/0xff -j MARK --set-xmark 0x2/0xffffffff",
        "-A X -m iprange --src-range 192.0.2.1-192.0.2.9 -m addrtype --dst-type LOCAL,MULTICAST -j LOG --log-prefix \"x y \"",
        "-A X -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j REJECT --reject-with tcp-reset",
        "-A X -m foo --bar 1 --baz -j SNAT --to-source 192.0.2.1",
        "-A X -m physdev ! --physdev-is-in --physdev-in tap+ -g Y",
        "-A PREROUTING -j CT --notrack",
    ] {
        rt(l);
    }
}

#[test]
fn typed_values() {
    let r = rt("-A X -p tcp -m tcp --dport 1000:2000 --tcp-flags SYN,ACK SYN -j ACCEPT");
    match &r.parts[1] {
        Part::Module(m) => {
            assert_eq!(
                m.opts[0],
                MatchOpt::Dport(
                    false,
                    Val {
                        value: (1000, 2000),
                        text: "1000:2000".into()
                    }
                )
            );
            assert!(
                matches!(&m.opts[1], MatchOpt::TcpFlags(false, a, b) if a.value == 0x12 && b.value == 0x02)
            );
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(r.target(), Some(&Target::Accept));
    let r = rt("-A X -m comment --comment \"a \\\"q\\\" b\" -j Y");
    assert!(
        matches!(&r.parts[0], Part::Module(m) if matches!(&m.opts[0], MatchOpt::Comment(v) if v.value == "a \"q\" b"))
    );
    assert_eq!(r.target(), Some(&Target::Chain("Y".into())));
    let r = rt("-A X -p icmp -m icmp --icmp-type echo-request -j ACCEPT");
    assert!(
        matches!(&r.parts[1], Part::Module(m) if matches!(&m.opts[0], MatchOpt::IcmpType(false, v) if v.value.ty == Some(8)))
    );
}

#[test]
fn icmp_type_forms_as_iptables_1_8_9_reads_them() {
    // Measured: restore `--icmp-type X` (`--icmpv6-type X`) in a netns and
    // read iptables-save back; `any` there means the type-255 "any" match.
    let spec = |ty, code| Some(IcmpSpec { ty, code });
    let any = spec(None, None);
    for (text, want) in [
        ("any", any),
        ("255", any),
        ("255/0", any),
        ("255/7", any),
        ("255/255", any),
        ("0", spec(Some(0), None)),
        ("0/0", spec(Some(0), Some(0))),
        ("8/255", spec(Some(8), Some(255))),
        ("254/3", spec(Some(254), Some(3))),
        ("echo-request", spec(Some(8), None)),
        ("ECHO-REQUEST", spec(Some(8), None)),
        ("echo-req", spec(Some(8), None)),
        ("host-unr", spec(Some(3), Some(1))),
        ("port-unreachable", spec(Some(3), Some(3))),
        ("address-mask-reply", spec(Some(18), None)),
        ("0x8", spec(Some(8), None)),
        ("010", spec(Some(8), None)),
        ("+8", spec(Some(8), None)),
        ("8/0x3", spec(Some(8), Some(3))),
        ("echo", None),
        ("t", None),
        ("256", None),
        ("8/256", None),
        ("8/", None),
        ("8/3/4", None),
        ("-1", None),
    ] {
        assert_eq!(parse_icmp(text, false), want, "icmp {text}");
    }
    for (text, want) in [
        ("255", spec(Some(255), None)),
        ("255/0", spec(Some(255), Some(0))),
        ("0/0", spec(Some(0), Some(0))),
        ("128/255", spec(Some(128), Some(255))),
        ("echo-request", spec(Some(128), None)),
        ("port-unreachable", spec(Some(1), Some(4))),
        ("neighbor-solicitation", spec(Some(135), None)),
        ("0x80", spec(Some(128), None)),
        ("any", None),
        ("mld-listener-query", None),
        ("300", None),
    ] {
        assert_eq!(parse_icmp(text, true), want, "icmpv6 {text}");
    }
}

#[test]
fn unknown_module_kept() {
    let r = rt("-A X -m hashlimit --hashlimit-upto 5/sec --hashlimit-name x -j ACCEPT");
    match &r.parts[0] {
        Part::Module(m) => assert!(!m.is_known()),
        p => panic!("{p:?}"),
    }
    let r = rt("-A X -m conntrack --ctstate NEW --ctorigdst 192.0.2.1 -j ACCEPT");
    assert!(matches!(&r.parts[0], Part::Module(m) if !m.is_known()));
}

#[test]
fn errors_have_line_numbers() {
    let e = Ruleset::parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s nope -j DROP\nCOMMIT\n")
        .unwrap_err();
    assert_eq!(e.line, 3);
    let e = Ruleset::parse("*filter\n-A INPUT -j DROP\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = Ruleset::parse("-A INPUT -j DROP\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(parse_rule("-A X -m comment --comment \"open", 7).is_err());
    assert!(parse_rule("-A X -j", 7).is_err());
    assert!(parse_rule("-A X -p nosuch -j ACCEPT", 7).is_err());
}

#[test]
fn split_families() {
    let text = "# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n# Completed\n# Generated by ip6tables-save v1.8.9\n*filter\n:INPUT DROP [0:0]\n-A INPUT -s 2001:db8::1/128 -j ACCEPT\nCOMMIT\n";
    let rs = Rulesets::parse(text).unwrap();
    assert_eq!(
        rs.v4
            .table("filter")
            .unwrap()
            .chain("INPUT")
            .unwrap()
            .policy
            .as_deref(),
        Some("ACCEPT")
    );
    assert_eq!(
        rs.v6
            .table("filter")
            .unwrap()
            .chain("INPUT")
            .unwrap()
            .policy
            .as_deref(),
        Some("DROP")
    );
    assert_eq!(format!("{}{}", rs.v4, rs.v6), text);
}
