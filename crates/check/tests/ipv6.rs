//! IPv6 VIPs: the vip-failover pattern with an IPv6 VIP and dual stack
//! (examples/vip-failover-v6, -ovn) on iptables_hybrid and ML2/OVN. The packets
//! are the ones real hosts send (VRRPv3 to ff02::12 from the link-local
//! address, unsolicited neighbour advertisements from the VIP, neighbour
//! solicitation and the holder's answer), the drops are named by the rule that
//! decides them, and `--fix` proposes IPv6 pairs and rules that the re-check
//! confirms.

mod common;

use check::diagnose::DropKind;
use check::fix::{find_fix, Change};
use check::lifecycle::{flows, Category, Payload};
use check::simulate::{nd_packet, CheckReport};
use check::{run, Scenario};
use common::{load, pairs, root, rules};
use packet::proto;
use std::net::IpAddr;

const VIP6: &str = "2001:db8:10::241";
const HYBRID: &str = "examples/vip-failover-v6/scenario.yaml";
const OVN: &str = "examples/vip-failover-v6-ovn/scenario.yaml";
const DUAL: &str = "examples/vip-failover-v6/scenario-dual.yaml";
const DUAL_OVN: &str = "examples/vip-failover-v6-ovn/scenario-dual.yaml";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (flow name, drop kind, chain) of the first drop of every dropped flow.
fn first_drops(r: &CheckReport) -> Vec<(String, DropKind, String)> {
    r.flows
        .iter()
        .filter_map(|f| {
            f.packets
                .iter()
                .find_map(|p| p.drop.as_ref())
                .map(|d| (f.name.clone(), d.kind, d.chain.clone()))
        })
        .collect()
}

#[test]
fn ipv6_vrrp_adverts_are_vrrpv3_to_ff02_12_from_the_link_local_address() {
    let sc = load(HYBRID);
    let fl = flows(&sc);
    let vrrp: Vec<_> = fl.iter().filter(|f| f.category == Category::Vrrp).collect();
    assert_eq!(vrrp.len(), 2, "one advert flow per direction");
    for f in vrrp {
        let Payload::Ip(p) = &f.steps[0].payload else {
            panic!("advert is an IP packet");
        };
        let member = sc.port(&f.steps[0].sender);
        // EUI-64 of the member's MAC: fe80::f816:3eff:fe4c:XXYY.
        let mac: Vec<u8> = member
            .mac_address
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let lla = ip(&format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            u16::from_be_bytes([mac[0] ^ 2, mac[1]]),
            u16::from_be_bytes([mac[2], 0xff]),
            u16::from_be_bytes([0xfe, mac[3]]),
            u16::from_be_bytes([mac[4], mac[5]])
        ));
        assert_eq!(p.src, lla, "{}", f.name);
        assert_eq!(p.dst, ip("ff02::12"));
        assert_eq!((p.proto, p.ttl), (proto::VRRP, 255));
        assert_eq!(p.dst_mac.unwrap().to_string(), "33:33:00:00:00:12");
    }
}

#[test]
fn ipv6_vip_is_announced_and_resolved_by_neighbour_discovery() {
    let sc = load(HYBRID);
    let fl = flows(&sc);
    let take = fl
        .iter()
        .find(|f| f.category == Category::Arp)
        .expect("the master's announcement");
    let Payload::Arp(na) = &take.steps[0].payload else {
        panic!("announcement is a neighbour advertisement frame");
    };
    assert_eq!((na.sender_ip, na.target_ip), (ip(VIP6), ip(VIP6)));
    // keepalived: from the VIP to all nodes, hop limit 255, ICMPv6 136.
    let p = nd_packet(&sc, &take.steps[0], na);
    assert_eq!((p.src, p.dst), (ip(VIP6), ip("ff02::1")));
    assert_eq!((p.proto, p.icmp_type, p.ttl), (proto::ICMPV6, 136, 255));
    assert_eq!(p.dst_mac.unwrap().to_string(), "33:33:00:00:00:01");

    let served = fl
        .iter()
        .find(|f| f.category == Category::Service && f.name.contains("client-1"))
        .unwrap();
    let (Payload::Arp(ns), Payload::Arp(answer)) =
        (&served.steps[0].payload, &served.steps[1].payload)
    else {
        panic!("the conversation starts with neighbour discovery");
    };
    let ns_pkt = nd_packet(&sc, &served.steps[0], ns);
    // From the client's own IPv6 address to the VIP's solicited-node group.
    assert_eq!(ns_pkt.src, ip("2001:db8:10::50"));
    assert_eq!(ns_pkt.dst, ip("ff02::1:ff00:241"));
    assert_eq!((ns_pkt.icmp_type, ns_pkt.ttl), (135, 255));
    let na_pkt = nd_packet(&sc, &served.steps[1], answer);
    assert_eq!((na_pkt.src, na_pkt.dst), (ip(VIP6), ip("2001:db8:10::50")));
    assert_eq!(na_pkt.icmp_type, 136);
    // Then the connection itself, over IPv6 both ways.
    let Payload::Ip(syn) = &served.steps[2].payload else {
        panic!("SYN");
    };
    assert_eq!(
        (syn.src, syn.dst, syn.dport),
        (ip("2001:db8:10::50"), ip(VIP6), 443)
    );
}

#[test]
fn hybrid_names_the_ipv6_traps_and_the_fix_clears_them() {
    let sc = load(HYBRID);
    let r = run(&sc).unwrap();
    assert!(!r.passed());
    let drops = first_drops(&r);
    let kind_of = |name: &str| {
        drops
            .iter()
            .find(|(n, _, _)| n.starts_with(name))
            .unwrap_or_else(|| panic!("{name} dropped: {drops:?}"))
            .clone()
    };
    // No VRRP rule for IPv6: the adverts fall through to sg-fallback.
    let (_, k, chain) = kind_of("VRRP lb-1 (as master) -> lb-2");
    assert_eq!(
        (k, chain.as_str()),
        (DropKind::IngressPolicy, "neutron-openvswi-sg-fallback")
    );
    // No VIP pair: the NA from the VIP dies in ip6tables' anti-spoof chain
    // (qbr comes before br-int's ND protection).
    let (_, k, chain) = kind_of("lb-1 takes VIP 2001:db8:10::241");
    assert_eq!(k, DropKind::AntiSpoof);
    assert!(chain.starts_with("neutron-openvswi-s"), "{chain}");
    // The backends admit the VIP only: the member's own IPv6 address dies.
    let (_, k, _) = kind_of("TCP lb-1 -> backend app-1 [2001:db8:10::31]:8080");
    assert_eq!(k, DropKind::IngressPolicy);

    let fix = find_fix(&sc, &r).unwrap();
    assert!(fix.recheck.passed(), "{:?}", first_drops(&fix.recheck));
    assert_eq!(
        pairs(&fix),
        vec!["lb-1 2001:db8:10::241/128", "lb-2 2001:db8:10::241/128"]
    );
    assert_eq!(
        rules(&fix, true),
        vec![
            "app IPv6 tcp 8080 2001:db8:10::21/128",
            "app IPv6 tcp 8080 2001:db8:10::22/128",
            "lb IPv6 tcp 443 ::/0",
            "lb IPv6 vrrp  fe80::f816:3eff:fe4c:2101/128",
            "lb IPv6 vrrp  fe80::f816:3eff:fe4c:2202/128",
        ]
    );
    let vrrp_cost = fix
        .changes
        .iter()
        .find(|c| c.command.contains("--protocol vrrp"))
        .unwrap();
    assert!(vrrp_cost.cost.contains("link-local"), "{}", vrrp_cost.cost);
}

#[test]
fn ovn_names_the_nd_port_security_and_the_fix_clears_it() {
    let sc = load(OVN);
    let r = run(&sc).unwrap();
    let drops = first_drops(&r);
    let take = drops
        .iter()
        .find(|(n, _, _)| n.starts_with("lb-1 takes VIP"))
        .unwrap();
    // OVN checks the NA's target in ls_in_check_port_sec before any ACL.
    assert_eq!(take.1, DropKind::ArpSpoof);
    assert!(take.2.contains("ls_in_check_port_sec"), "{}", take.2);
    let vrrp = drops
        .iter()
        .find(|(n, _, _)| n.starts_with("VRRP"))
        .unwrap();
    assert!(
        vrrp.2.contains("ls_out_acl") || vrrp.1 == DropKind::IngressPolicy,
        "{vrrp:?}"
    );

    let fix = find_fix(&sc, &r).unwrap();
    assert!(fix.recheck.passed(), "{:?}", first_drops(&fix.recheck));
    assert_eq!(
        pairs(&fix),
        vec!["lb-1 2001:db8:10::241/128", "lb-2 2001:db8:10::241/128"]
    );
    assert!(rules(&fix, true).contains(&"lb IPv6 tcp 443 ::/0".to_string()));
    // With the pairs, the unbound VIP port becomes virtual (bound on the
    // parent's neighbour advertisement).
    let pair_cost = &fix
        .changes
        .iter()
        .find(|c| matches!(c.change, Change::AddAllowedAddressPair { .. }))
        .unwrap()
        .cost;
    assert!(pair_cost.contains("type virtual"), "{pair_cost}");
    assert!(pair_cost.contains("neighbour solicitations"), "{pair_cost}");
}

#[test]
fn dual_stack_checks_both_families_through_two_instances_on_both_backends() {
    for path in [DUAL, DUAL_OVN] {
        let sc = load(path);
        let r = run(&sc).unwrap();
        assert_eq!(r.coverage.vrrp_instances, vec!["VI_1", "VI_6"], "{path}");
        let names: Vec<&str> = r.flows.iter().map(|f| f.name.as_str()).collect();
        for want in [
            "TCP client-1 -> 203.0.113.241:443 served by lb-1",
            "TCP client-1 -> [2001:db8:10::241]:443 served by lb-1",
            "TCP 198.51.100.1 via router-1 -> 203.0.113.241:443 served by lb-2",
            "TCP 2001:db8:ff:: via router-1 -> [2001:db8:10::241]:443 served by lb-2",
            "TCP lb-2 -> backend app-1 [2001:db8:10::31]:8080 (the member's own connection)",
            "TCP lb-2 -> backend app-1 203.0.113.31:8080 (the member's own connection)",
        ] {
            assert!(names.contains(&want), "{path}: {want} in {names:#?}");
        }
        // The IPv4 outside range is not an IPv6 client: said, not guessed.
        assert!(
            r.coverage
                .not_exercised
                .iter()
                .any(|n| n.starts_with("198.51.100.1 via router-1 against the IPv6 VIP")),
            "{:?}",
            r.coverage.not_exercised
        );
        assert!(!r.coverage.ipv6.is_empty());
        let fix = find_fix(&sc, &r).unwrap();
        assert!(
            fix.recheck.passed(),
            "{path}: {:?}",
            first_drops(&fix.recheck)
        );
        let p = pairs(&fix);
        for want in [
            "lb-1 203.0.113.241/32",
            "lb-1 2001:db8:10::241/128",
            "lb-2 203.0.113.241/32",
            "lb-2 2001:db8:10::241/128",
        ] {
            assert!(p.contains(&want.to_string()), "{path}: {p:?}");
        }
    }
}

#[test]
fn a_client_port_talks_to_the_ipv6_vip_from_its_ipv6_address() {
    // A client class listed by port picks its address per VIP family.
    let sc = load(HYBRID);
    let r = run(&sc).unwrap();
    let classes = &r.coverage.client_classes;
    assert!(classes.contains(&"client-1".to_string()), "{classes:?}");
    assert!(r
        .coverage
        .ipv6
        .iter()
        .any(|l| l.contains("client-1 (2001:db8:10::50)")));
}

const DR6: &str = "examples/lvs-dr-v6/scenario.yaml";
const DR6_OVN: &str = "examples/lvs-dr-v6-ovn/scenario.yaml";

#[test]
fn lvs_dr_over_ipv6_forwards_the_clients_packet_and_needs_a_global_unicast_pair() {
    for path in [DR6, DR6_OVN] {
        let sc = load(path);
        let fl = flows(&sc);
        let conv = fl
            .iter()
            .find(|f| f.name == "TCP client-1 -> [2001:db8:20::241]:80 via director-1 to rs-1")
            .unwrap_or_else(|| panic!("{path}: DR flow"));
        // The director solicits the real server from its own IPv6 address.
        let ns = conv
            .steps
            .iter()
            .find(|s| {
                s.sender == sc.directors[0].port_id
                    && matches!(&s.payload, Payload::Arp(a) if !a.reply)
            })
            .expect("the director's solicitation");
        let Payload::Arp(f) = &ns.payload else {
            unreachable!()
        };
        assert_eq!(
            (f.sender_ip, f.target_ip),
            (ip("2001:db8:20::5"), ip("2001:db8:20::8"))
        );
        // The DR copy: the client's source, the VIP, the real server's MAC.
        let fwd = conv
            .steps
            .iter()
            .find(|s| s.role == check::lifecycle::StepRole::DrForward)
            .unwrap();
        let Payload::Ip(p) = &fwd.payload else {
            panic!("DR copy")
        };
        assert_eq!(
            (p.src, p.dst),
            (ip("2001:db8:20::50"), ip("2001:db8:20::241"))
        );
        assert_eq!(
            p.dst_mac.unwrap().to_string(),
            sc.port(&fwd.receiver.clone().unwrap())
                .mac_address
                .to_lowercase()
        );

        let r = run(&sc).unwrap();
        let d = r
            .flows
            .iter()
            .find(|f| f.name == conv.name)
            .and_then(|f| f.packets.iter().find_map(|p| p.drop.as_ref()))
            .unwrap_or_else(|| panic!("{path}: the DR copy is dropped"));
        assert_eq!(d.kind, DropKind::AntiSpoof, "{path}: {}", d.reason);
        assert_eq!(d.src, Some(ip("2001:db8:20::50")));

        let fix = find_fix(&sc, &r).unwrap();
        assert!(
            fix.recheck.passed(),
            "{path}: {:?}",
            first_drops(&fix.recheck)
        );
        let p = pairs(&fix);
        assert_eq!(
            p,
            vec!["director-1 2000::/3", "director-2 2000::/3"],
            "{path}: the API refuses ::/0, so every global unicast source"
        );
        assert!(
            !fix.unfixable.iter().any(|u| u.contains("::/0")),
            "{:?}",
            fix.unfixable
        );
    }
}

#[test]
fn a_pair_overlapping_multicast_is_refused_like_the_api_does() {
    let sc = load(DR6);
    let pair = |net: &str| Change::AddAllowedAddressPair {
        port_id: sc.directors[0].port_id.clone(),
        port: "director-1".into(),
        ip_address: net.parse().unwrap(),
        mac_address: None,
    };
    for refused in [
        "::/0",
        "8000::/1",
        "ff02::12/128",
        "224.0.0.0/8",
        "128.0.0.0/1",
    ] {
        let why = check::fix::refused(&sc, &pair(refused));
        assert!(
            why.as_deref().is_some_and(|w| w.contains("multicast")),
            "{refused}: {why:?}"
        );
    }
    for accepted in [
        "0.0.0.0/0",
        "2000::/3",
        "2001:db8:20::241/128",
        "203.0.113.0/24",
    ] {
        assert_eq!(
            check::fix::refused(&sc, &pair(accepted)),
            None,
            "{accepted}"
        );
    }
}

#[test]
fn ipv6_tun_and_nat_are_refused_with_file_and_line() {
    let dir = std::env::temp_dir().join(format!("vipwire-ipv6-refusal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("examples/lvs-dr-v6/neutron.json"),
        dir.join("neutron.json"),
    )
    .unwrap();
    let conf =
        std::fs::read_to_string(root().join("examples/lvs-dr-v6/keepalived-director-1.conf"))
            .unwrap();
    let line = conf
        .lines()
        .position(|l| l.starts_with("virtual_server"))
        .unwrap()
        + 1;
    for (kind, says) in [("TUN", "ip6ip6"), ("NAT", "NAT")] {
        std::fs::write(
            dir.join("k.conf"),
            conf.replace("lb_kind DR", &format!("lb_kind {kind}")),
        )
        .unwrap();
        std::fs::write(
            dir.join("scenario.yaml"),
            "neutron: neutron.json\ndirectors:\n  - port: director-1\n    keepalived: k.conf\n\
             clients:\n  - port: client-1\n",
        )
        .unwrap();
        let err = Scenario::load(&dir.join("scenario.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("k.conf:{line}")), "{kind}: {err}");
        assert!(err.contains(says) && err.contains("IPv6"), "{kind}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hybrid_nd_protection_refuses_an_na_for_the_vip_until_it_is_a_pair() {
    // On iptables_hybrid the NA from the VIP meets ip6tables on qbr first
    // (the check names that drop); br-int's ICMPv6 NA spoofing protection
    // behind it refuses the same NA, and the same pair clears both.
    let sc = load(HYBRID);
    let lb1 = sc
        .cloud
        .ports
        .iter()
        .find(|p| p.name == "lb-1")
        .unwrap()
        .clone();
    let fabric = fabric::build(&sc.cloud, sc.driver).unwrap();
    let d = fabric.nd_from(&lb1.id, &lb1.mac_address, true, ip(VIP6));
    assert!(
        matches!(d.refused, Some(fabric::ArpRefusal::NdTarget { .. })),
        "{d:?}"
    );
    assert!(d.table.contains("table 24"), "{}", d.table);
    // Its own address and its link-local pass; a solicitation is not checked.
    assert!(fabric
        .nd_from(&lb1.id, &lb1.mac_address, true, ip("2001:db8:10::21"))
        .refused
        .is_none());
    assert!(fabric
        .nd_from(
            &lb1.id,
            &lb1.mac_address,
            true,
            ip("fe80::f816:3eff:fe4c:2101")
        )
        .refused
        .is_none());
    assert!(fabric
        .nd_from(&lb1.id, &lb1.mac_address, false, ip(VIP6))
        .refused
        .is_none());
    let fixed = check::fix::with_changes(
        &sc,
        &[Change::AddAllowedAddressPair {
            port_id: lb1.id.clone(),
            port: "lb-1".into(),
            ip_address: "2001:db8:10::241/128".parse().unwrap(),
            mac_address: None,
        }],
    );
    let fabric = fabric::build(&fixed.cloud, fixed.driver).unwrap();
    assert!(fabric
        .nd_from(&lb1.id, &lb1.mac_address, true, ip(VIP6))
        .refused
        .is_none());
}

#[test]
fn unicast_ipv6_vrrp_goes_between_the_members_global_addresses() {
    let dir = std::env::temp_dir().join(format!("vipwire-ipv6-unicast-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = std::fs::read_to_string(root().join(HYBRID))
        .unwrap()
        .replace("neutron: neutron.json", "neutron: NEUTRON")
        .replace(
            "members: [lb-1, lb-2]",
            "members: [lb-1, lb-2]\nvrrp: unicast",
        );
    let neutron = root().join("examples/vip-failover-v6/neutron.json");
    std::fs::write(
        dir.join("scenario.yaml"),
        scenario.replace("NEUTRON", &neutron.display().to_string()),
    )
    .unwrap();
    let sc = Scenario::load(&dir.join("scenario.yaml")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let fl = flows(&sc);
    let adverts: Vec<(IpAddr, IpAddr)> = fl
        .iter()
        .filter(|f| f.category == Category::Vrrp)
        .map(|f| match &f.steps[0].payload {
            Payload::Ip(p) => (p.src, p.dst),
            _ => panic!("advert"),
        })
        .collect();
    assert_eq!(
        adverts,
        vec![
            (ip("2001:db8:10::21"), ip("2001:db8:10::22")),
            (ip("2001:db8:10::22"), ip("2001:db8:10::21")),
        ]
    );
    // The first adverts meet no rule; the drop says when conntrack heals it.
    let r = run(&sc).unwrap();
    let d = r
        .flows
        .iter()
        .find(|f| f.category == Category::Vrrp)
        .and_then(|f| f.packets[0].drop.as_ref())
        .expect("dropped without a VRRP rule");
    assert!(d.reason.contains("heals through conntrack"), "{}", d.reason);
}

#[test]
fn use_vmac_over_ipv6_needs_the_vrrp_mac_pairs_and_default_sources_cover_ipv6() {
    // keepalived's IPv6 VMAC: frames from 00:00:5e:00:02:VRID, the advert
    // still from the base interface's link-local address (vrrp_vmac.c
    // set_link_local_address). No client_sources: IPv4 and IPv6 any.
    let dir = std::env::temp_dir().join(format!("vipwire-ipv6-vmac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (n, state, prio) in [(1, "MASTER", 200), (2, "BACKUP", 100)] {
        std::fs::write(
            dir.join(format!("lb-{n}.conf")),
            format!(
                "vrrp_instance VI_6 {{\n state {state}\n interface eth0\n use_vmac\n \
                 virtual_router_id 52\n priority {prio}\n advert_int 1\n \
                 virtual_ipaddress {{\n  2001:db8:10::241\n }}\n}}\n"
            ),
        )
        .unwrap();
    }
    let neutron = root().join("examples/vip-failover-v6/neutron.json");
    for driver in ["iptables_hybrid", "ovn"] {
        std::fs::write(
            dir.join("scenario.yaml"),
            format!(
                "neutron: {}\nfirewall_driver: {driver}\npattern: vip-failover\nmembers:\n  \
                 - {{port: lb-1, keepalived: lb-1.conf}}\n  - {{port: lb-2, keepalived: \
                 lb-2.conf}}\nservices: [tcp/443]\nclients:\n  - port: client-1\n",
                neutron.display()
            ),
        )
        .unwrap();
        let sc = Scenario::load(&dir.join("scenario.yaml")).unwrap();
        assert_eq!(
            sc.client_sources
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            vec!["0.0.0.0/0", "::/0"]
        );
        let fl = flows(&sc);
        let adv = fl.iter().find(|f| f.category == Category::Vrrp).unwrap();
        let Payload::Ip(p) = &adv.steps[0].payload else {
            panic!("advert")
        };
        assert_eq!(p.src_mac.unwrap().to_string(), "00:00:5e:00:02:34");
        assert_eq!(p.src, ip("fe80::f816:3eff:fe4c:2101"));
        let r = run(&sc).unwrap();
        let fix = find_fix(&sc, &r).unwrap();
        assert!(
            fix.recheck.passed(),
            "{driver}: {:?}",
            first_drops(&fix.recheck)
        );
        let macs: Vec<String> = fix
            .changes
            .iter()
            .filter_map(|c| match &c.change {
                Change::AddAllowedAddressPair {
                    ip_address,
                    mac_address: Some(m),
                    ..
                } => Some(format!("{ip_address} {m}")),
                _ => None,
            })
            .collect();
        assert!(
            macs.contains(&"2001:db8:10::241/128 00:00:5e:00:02:34".to_string()),
            "{driver}: {macs:?}"
        );
        assert!(
            rules(&fix, true).contains(&"lb IPv6 tcp 443 ::/0".to_string()),
            "{driver}: the client's IPv6 address stands for ::/0: {:?}",
            rules(&fix, true)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
