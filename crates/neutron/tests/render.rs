//! Renderer unit checks: names, zones, the shared-chain and shared-zone quirks,
//! errors, and no panics on arbitrary clouds.

use neutron::firewall::iptables_hybrid::{
    device_name, ipset_name, link_local, normalize_ipset_save, normalize_iptables_save, port_chain,
    render_host, RenderError,
};
use neutron::firewall::FirewallDriver;
use neutron::{
    AddressPair, Cloud, Ethertype, FixedIp, Port, RuleDirection, SecurityGroup, SecurityGroupRule,
};
use proptest::prelude::*;

fn port(id: &str, host: &str, mac: &str, ip: &str) -> Port {
    Port {
        id: id.into(),
        host_id: host.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: "s".into(),
            ip_address: ip.parse().unwrap(),
        }],
        security_groups: vec!["g".into()],
        ..Port::default()
    }
}

fn group() -> SecurityGroup {
    SecurityGroup {
        id: "g".into(),
        rules: vec![SecurityGroupRule {
            id: "r".into(),
            security_group_id: "g".into(),
            direction: RuleDirection::Egress,
            ..SecurityGroupRule::default()
        }],
        ..SecurityGroup::default()
    }
}

#[test]
fn names_follow_neutron() {
    let id = "3f2a9c41-7d1e-4b6a-9a0e-5c1d2e3f4a05";
    assert_eq!(device_name("tap", id), "tap3f2a9c41-7d");
    assert_eq!(port_chain('i', id), "neutron-openvswi-i3f2a9c41-7");
    assert_eq!(port_chain('s', id).len(), 28);
    assert_eq!(
        ipset_name("5b0c7e11-0000-4000-8000-0000000000c1", Ethertype::IPv4),
        "NIPv45b0c7e11-0000-4000-8000-"
    );
    assert_eq!(
        link_local("fa:16:3e:00:00:05").unwrap().to_string(),
        "fe80::f816:3eff:fe00:5"
    );
    assert_eq!(
        link_local("FA-16-3E-12-34-56").unwrap().to_string(),
        "fe80::f816:3eff:fe12:3456"
    );
}

#[test]
fn zones_ascend_by_port_id_and_share_on_equal_key() {
    let mut c = Cloud {
        security_groups: vec![group()],
        ..Cloud::default()
    };
    c.ports.push(port(
        "b1111111-0000-4000-8000-000000000002",
        "h",
        "fa:16:3e:00:00:02",
        "192.0.2.2",
    ));
    c.ports.push(port(
        "a2222222-0000-4000-8000-000000000001",
        "h",
        "fa:16:3e:00:00:01",
        "192.0.2.1",
    ));
    // Same first 11 characters as the second port: neutron 29.0.0's
    // _device_key collides and both get one zone.
    c.ports.push(port(
        "b1111111-00ff-4000-8000-000000000003",
        "h",
        "fa:16:3e:00:00:03",
        "192.0.2.3",
    ));
    let r = render_host(&c, "h").unwrap();
    let zones: Vec<(String, u16)> = r
        .ports
        .iter()
        .map(|p| (p.port_id.clone(), p.zone))
        .collect();
    assert_eq!(zones[0].1, 4097, "{zones:?}");
    assert_eq!(zones[1].1, 4098, "{zones:?}");
    assert_eq!(zones[2].1, 4098, "{zones:?}");
}

#[test]
fn zero_slash_zero_pair_is_mac_only_and_opens_the_set() {
    let mut c = Cloud {
        security_groups: vec![group()],
        ..Cloud::default()
    };
    let mut p = port(
        "3f2a9c41-7d1e-4b6a-9a0e-5c1d2e3f4a05",
        "h",
        "fa:16:3e:00:00:05",
        "203.0.113.5",
    );
    p.allowed_address_pairs.push(AddressPair {
        ip_address: "0.0.0.0/0".parse().unwrap(),
        mac_address: None,
        ip_text: None,
    });
    c.ports.push(p);
    c.security_groups[0].rules.push(SecurityGroupRule {
        remote_group_id: Some("g".into()),
        ..SecurityGroupRule::default()
    });
    let r = render_host(&c, "h").unwrap();
    assert!(r.iptables_save.contains(
        "-A neutron-openvswi-s3f2a9c41-7 -m mac --mac-source fa:16:3e:00:00:05 -m comment --comment \"Allow traffic from defined IP/MAC pairs.\" -j RETURN\n"
    ));
    assert!(
        r.ipset_save
            .contains("add NIPv4g 0.0.0.0/1\nadd NIPv4g 128.0.0.0/1\n"),
        "{}",
        r.ipset_save
    );
}

#[test]
fn errors_name_the_port() {
    let mut c = Cloud {
        security_groups: vec![group()],
        ..Cloud::default()
    };
    c.ports.push(port("p1", "h", "", "192.0.2.1"));
    let e = render_host(&c, "h").unwrap_err();
    assert!(matches!(e, RenderError::MissingMac { .. }));
    assert!(e.to_string().contains("p1"));
    c.ports[0].mac_address = "fa:16:3e:00:00:01".into();
    c.ports[0].security_groups.push("nope".into());
    assert!(matches!(
        render_host(&c, "h").unwrap_err(),
        RenderError::UnknownGroup { .. }
    ));
    c.ports[0].security_groups.pop();
    c.ports[0].id = "bad id".into();
    assert!(matches!(
        render_host(&c, "h").unwrap_err(),
        RenderError::BadPortId { .. }
    ));
}

#[test]
fn driver_names_and_empty_host() {
    let c = Cloud::default();
    let r = render_host(&c, "nowhere").unwrap();
    // No devices: the agent programs nothing, iptables-save prints nothing.
    assert!(r.ports.is_empty() && r.iptables_save.is_empty() && r.ipset_save.is_empty());
    assert_eq!(FirewallDriver::default(), FirewallDriver::IptablesHybrid);
    for d in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
        assert_eq!(FirewallDriver::parse(d.name()), Some(d));
    }
    assert_eq!(FirewallDriver::parse("openvswitch"), None);
}

#[test]
fn normalizers_strip_noise() {
    let ips = "create A hash:net family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1234abcd\nadd A 2001:db8::5\nadd A 2001:db8::1:200/120\n";
    assert_eq!(
        normalize_ipset_save(ips),
        "create A hash:net family inet6 hashsize 1024 maxelem 65536 bucketsize 12\nadd A 2001:db8::5\nadd A 2001:db8::1:200/120\n"
    );
    let ipt = "# Generated by x\n*raw\n:PREROUTING ACCEPT [12:345]\n:X - [0:0]\n[3:4] -A X -j RETURN\nCOMMIT\n# Completed\n";
    assert_eq!(
        normalize_iptables_save(ipt),
        "*raw\n:PREROUTING ACCEPT [0:0]\n:X - [0:0]\n-A X -j RETURN\nCOMMIT\n"
    );
}

fn arb_port() -> impl Strategy<Value = Port> {
    (
        "[a-f0-9]{1,3}[-a-f0-9]{0,14}",
        prop::sample::select(vec!["h1", "h2"]),
        prop::collection::vec(
            prop::sample::select(vec!["192.0.2.1", "2001:db8::1", "198.51.100.7"]),
            0..3,
        ),
        prop::collection::vec(
            prop::sample::select(vec![
                "0.0.0.0/0",
                "::/0",
                "203.0.113.201/30",
                "2001:db8::/64",
                "192.0.2.9/32",
            ]),
            0..3,
        ),
        any::<bool>(),
        prop::sample::select(vec![
            "compute:nova",
            "network:dhcp",
            "neutron:LOADBALANCERV2",
        ]),
    )
        .prop_map(|(id, host, ips, pairs, psec, owner)| Port {
            id,
            host_id: host.into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: ips
                .iter()
                .map(|i| FixedIp {
                    subnet_id: "s".into(),
                    ip_address: i.parse().unwrap(),
                })
                .collect(),
            allowed_address_pairs: pairs
                .iter()
                .map(|p| AddressPair {
                    ip_address: p.parse().unwrap(),
                    mac_address: None,
                    ip_text: None,
                })
                .collect(),
            security_groups: if psec { vec!["g".into()] } else { vec![] },
            port_security_enabled: psec,
            device_owner: owner.into(),
            ..Port::default()
        })
}

proptest! {
    #[test]
    fn renders_any_small_cloud(ports in prop::collection::vec(arb_port(), 0..5), stateful in any::<bool>(),
                               proto in prop::sample::select(vec!["tcp", "udp", "icmp", "112", "any", "ipv6-icmp", "udplite"]),
                               min in prop::option::of(0u32..300), max in prop::option::of(0u32..300)) {
        let mut g = group();
        g.stateful = stateful;
        g.rules.push(SecurityGroupRule { protocol: Some(proto.into()), port_range_min: min, port_range_max: max, ..SecurityGroupRule::default() });
        g.rules.push(SecurityGroupRule { remote_group_id: Some("g".into()), ethertype: Ethertype::IPv6, ..SecurityGroupRule::default() });
        let c = Cloud { ports, security_groups: vec![g], ..Cloud::default() };
        for h in ["h1", "h2"] {
            let r = render_host(&c, h).unwrap();
            let on_host = c.ports.iter().any(|p| p.host_id == h);
            prop_assert_eq!(r.iptables_save.ends_with("COMMIT\n"), on_host);
            prop_assert_eq!(r.ip6tables_save.starts_with("*raw\n"), on_host);
        }
    }
}

/// The agent asks for device info 20 ports at a time and merges the answers
/// with dict.update: a remote group named again by the 21st port keeps only
/// that port's ethertypes, so the IPv4 set and rule vanish (seen with the real
/// Neutron 29.0.0 agent).
#[test]
fn remote_group_ethertypes_follow_the_last_chunk() {
    let remote = |e: Ethertype| SecurityGroupRule {
        ethertype: e,
        remote_group_id: Some("r".into()),
        ..SecurityGroupRule::default()
    };
    let mut g4 = group();
    g4.rules.push(remote(Ethertype::IPv4));
    let mut g6 = group();
    g6.id = "g6".into();
    g6.rules.push(remote(Ethertype::IPv6));
    let mut c = Cloud {
        security_groups: vec![g4, g6],
        ..Cloud::default()
    };
    for i in 0..21 {
        let mut p = port(
            &format!("{i:02}000000-0000-4000-8000-000000000000"),
            "h",
            "fa:16:3e:00:00:01",
            "192.0.2.1",
        );
        if i == 20 {
            p.security_groups = vec!["g6".into()];
        }
        c.ports.push(p);
    }
    let r = render_host(&c, "h").unwrap();
    assert!(!r.ipset_save.contains("NIPv4r"), "{}", r.ipset_save);
    assert!(r.ipset_save.contains("create NIPv6r "), "{}", r.ipset_save);
    assert!(!r.iptables_save.contains("--match-set"));
    // With 20 ports there is one chunk and the IPv4 set stays.
    c.ports.pop();
    let r = render_host(&c, "h").unwrap();
    assert!(r.ipset_save.contains("create NIPv4r "), "{}", r.ipset_save);
    assert!(r
        .iptables_save
        .contains("-m set --match-set NIPv4r src -j RETURN"));
}

#[test]
fn legacy_empty_host_shows_the_raw_table_the_agent_read() {
    use neutron::firewall::iptables_hybrid::{render_host_with, RenderOptions};
    use neutron::firewall::SaveFlavor;
    let r = render_host_with(
        &Cloud::default(),
        "h",
        &RenderOptions {
            flavor: SaveFlavor::Legacy,
        },
    )
    .unwrap();
    assert_eq!(
        r.iptables_save,
        "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    );
    assert!(r.ip6tables_save.is_empty());
}
