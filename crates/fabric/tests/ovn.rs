//! The ML2/OVN backend on the field report's cloud: where OVN differs from
//! iptables_hybrid (BRIEF §7), each pinned with the origin that decides.

use fabric::ovn::OvnFabric;
use fabric::{Backend, Side};
use neutron::firewall::ovn::Northbound;
use neutron::firewall::provenance::Origin;
use neutron::model::{AddressPair, Cloud};
use packet::tcp_flags::{ACK, SYN};
use packet::{proto, MacAddr, Packet, Verdict};
use std::net::IpAddr;

fn cloud() -> Cloud {
    neutron::load::load_json(
        include_str!("../../../examples/lvs-dr/neutron.json"),
        "examples/lvs-dr/neutron.json",
    )
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(c: &Cloud, port: &str) -> MacAddr {
    MacAddr::parse_strict(&c.port(port).unwrap().mac_address).unwrap()
}

fn id(c: &Cloud, port: &str) -> String {
    c.port(port).unwrap().id.clone()
}

/// A TCP segment from `src` to `dst` with the MACs of the ports it travels between.
#[allow(clippy::too_many_arguments)]
fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    smac: MacAddr,
    dmac: MacAddr,
    flags: u8,
    seq: u32,
    ack: u32,
) -> Packet {
    let mut p = Packet::new(ip(src), ip(dst), proto::TCP);
    p.sport = sport;
    p.dport = if sport == 80 { 40000 } else { 80 };
    p.src_mac = Some(smac);
    p.dst_mac = Some(dmac);
    p.tcp_flags = flags;
    p.seq = seq;
    p.ack = ack;
    p.window = 64240;
    p
}

/// Every step of a hop is a flow of the listing `rules --lflows` prints.
fn listed(c: &Cloud, hop: &fabric::Hop) {
    let nb = Northbound::of(c);
    let ls = nb.switches.iter().find(|s| s.name == hop.host).unwrap();
    let flows = fabric::ovn::lflows::switch_flows(c, &nb, ls);
    for s in &hop.trace.path {
        let text = |f: &fabric::ovn::lflows::Lflow| {
            format!(
                "priority={}, match=({}), action=({})",
                f.priority, f.m, f.action
            )
        };
        assert!(
            flows
                .iter()
                .any(|f| f.stage == s.chain && f.table == s.rule_num && text(f) == s.rule_text),
            "step not in the lflow listing: {} {}",
            s.chain,
            s.rule_text
        );
    }
}

/// Cross and check the steps against the listing.
fn cross(f: &mut OvnFabric, c: &Cloud, port: &str, side: Side, p: &Packet) -> fabric::Hop {
    let hop = f.cross(port, side, p).unwrap();
    listed(c, &hop);
    hop
}

/// director-1's DR copy of the client's SYN to the VIP, sent to `rs`.
fn dr_copy(c: &Cloud, rs: &str) -> Packet {
    let (dm, rm) = (mac(c, "director-1"), mac(c, rs));
    tcp("203.0.113.50", 40000, "203.0.113.241", dm, rm, SYN, 1000, 0)
}

fn with_any_pair(c: &mut Cloud, port: &str) {
    c.port_mut(port)
        .unwrap()
        .allowed_address_pairs
        .push(AddressPair {
            ip_address: "0.0.0.0/0".parse().unwrap(),
            mac_address: None,
            ip_text: None,
        });
}

#[test]
fn dr_copy_dies_at_the_directors_port_security() {
    let c = cloud();
    let mut f = OvnFabric::build(&c).unwrap();
    let d1 = id(&c, "director-1");
    let syn = dr_copy(&c, "rs-1");
    let hop = cross(&mut f, &c, &d1, Side::Egress, &syn);
    assert_eq!(hop.trace.verdict, Verdict::Drop);
    assert!(matches!(hop.decided_by[0], Origin::SpoofDrop { .. }));
    assert_eq!(hop.trace.path.last().unwrap().chain, "ls_in_apply_port_sec");
}

#[test]
fn a_real_server_receives_only_for_its_addresses() {
    let mut c = cloud();
    with_any_pair(&mut c, "director-1");
    c.port_mut("rs-1").unwrap().allowed_address_pairs.clear();
    let mut f = OvnFabric::build(&c).unwrap();
    let syn = dr_copy(&c, "rs-1");
    let out = cross(&mut f, &c, &id(&c, "director-1"), Side::Egress, &syn);
    assert_eq!(out.trace.verdict, Verdict::Accept);
    let hop = cross(&mut f, &c, &id(&c, "rs-1"), Side::Ingress, &syn);
    assert_eq!(hop.trace.verdict, Verdict::Drop);
    assert!(matches!(hop.decided_by[0], Origin::DestinationDrop { .. }));
    // With the VIP pair, the same copy is delivered.
    let mut c2 = cloud();
    with_any_pair(&mut c2, "director-1");
    let mut f2 = OvnFabric::build(&c2).unwrap();
    cross(&mut f2, &c2, &id(&c2, "director-1"), Side::Egress, &syn);
    let hop = cross(&mut f2, &c2, &id(&c2, "rs-1"), Side::Ingress, &syn);
    assert_eq!(hop.trace.verdict, Verdict::Accept, "{:?}", hop.trace.path);
}

/// In the director's zone a DR flow is half-seen: the kernel's conntrack calls
/// the client's ACK after a lone SYN INVALID, and OVN drops it above every ACL,
/// even with a 0.0.0.0/0 pair. A stateless group's ACLs skip conntrack.
#[test]
fn half_seen_dr_flow_meets_the_ct_inv_drop_unless_stateless() {
    for stateless in [false, true] {
        let mut c = cloud();
        with_any_pair(&mut c, "director-1");
        if stateless {
            for g in &mut c.security_groups {
                g.stateful = false;
            }
        }
        let mut f = OvnFabric::build(&c).unwrap();
        let (cl, d1) = (id(&c, "client-1"), id(&c, "director-1"));
        let (cm, dm, rm) = (mac(&c, "client-1"), mac(&c, "director-1"), mac(&c, "rs-1"));
        let vip = "203.0.113.241";
        let syn = tcp("203.0.113.50", 40000, vip, cm, dm, SYN, 1000, 0);
        assert_eq!(
            cross(&mut f, &c, &cl, Side::Egress, &syn).trace.verdict,
            Verdict::Accept
        );
        assert_eq!(
            cross(&mut f, &c, &d1, Side::Ingress, &syn).trace.verdict,
            Verdict::Accept
        );
        let mut copy = syn.clone();
        copy.src_mac = Some(dm);
        copy.dst_mac = Some(rm);
        assert_eq!(
            cross(&mut f, &c, &d1, Side::Egress, &copy).trace.verdict,
            Verdict::Accept
        );
        // (rs-1 answers the client directly; the director never sees it.)
        let ack = tcp("203.0.113.50", 40000, vip, cm, dm, ACK, 1001, 5001);
        cross(&mut f, &c, &cl, Side::Egress, &ack);
        let hop = cross(&mut f, &c, &d1, Side::Ingress, &ack);
        if stateless {
            assert_eq!(hop.trace.verdict, Verdict::Accept, "{:?}", hop.trace.path);
            assert_eq!(hop.trace.ctstate, "UNTRACKED");
        } else {
            assert_eq!(hop.trace.verdict, Verdict::Drop);
            assert_eq!(hop.trace.ctstate, "INVALID");
            assert!(matches!(hop.decided_by[0], Origin::CtInvalidDrop { .. }));
            assert_eq!(
                hop.trace.path.last().unwrap().rule_text.split(',').next(),
                Some("priority=65532")
            );
        }
    }
}

/// Remote-group rules match `$pg_<id>_ip4`: the members' fixed IPs, never
/// their pair IPs (hybrid's ipsets hold both).
#[test]
fn remote_group_address_sets_hold_fixed_ips_only() {
    let c = cloud();
    let nb = Northbound::of(&c);
    let g = &c.security_groups[0].id;
    let set = nb.address_set(g, false);
    assert!(set.contains(&ip("203.0.113.5")));
    assert!(!set.contains(&ip("203.0.113.241")));
    let mut f = OvnFabric::build(&c).unwrap();
    let (d1, rs) = (id(&c, "director-1"), id(&c, "rs-1"));
    for (src, want) in [
        ("203.0.113.5", Verdict::Accept),
        ("203.0.113.241", Verdict::Drop),
    ] {
        let mut p = tcp(
            src,
            41000,
            "203.0.113.8",
            mac(&c, "director-1"),
            mac(&c, "rs-1"),
            SYN,
            7,
            0,
        );
        p.dport = 22;
        assert_eq!(
            cross(&mut f, &c, &d1, Side::Egress, &p).trace.verdict,
            Verdict::Accept
        );
        let hop = cross(&mut f, &c, &rs, Side::Ingress, &p);
        assert_eq!(hop.trace.verdict, want, "from {src}");
        if want == Verdict::Drop {
            assert!(matches!(hop.decided_by[0], Origin::PortGroupDrop { .. }));
        }
    }
}

#[test]
fn northbound_rows_follow_neutron() {
    let mut c = cloud();
    with_any_pair(&mut c, "director-1");
    let nb = Northbound::of(&c);
    let d1 = nb.port(&id(&c, "director-1")).unwrap();
    let m = &c.port("director-1").unwrap().mac_address;
    // Pair IPs are in port_security, never in addresses.
    assert_eq!(d1.addresses, vec![format!("{m} 203.0.113.5")]);
    assert_eq!(
        d1.port_security,
        vec![format!("{m} 203.0.113.5 203.0.113.241 0.0.0.0/0")]
    );
    let router = nb.port(&id(&c, "router-1")).unwrap();
    assert!(router.port_security.is_empty());
    let drop = nb
        .port_groups
        .iter()
        .find(|g| g.name == "neutron_pg_drop")
        .unwrap();
    assert!(drop.ports.contains(&d1.name) && !drop.ports.contains(&router.name));
    let keys: Vec<String> = nb.acls.iter().map(|a| a.key()).collect();
    let pg = neutron::firewall::ovn::port_group_name(&c.security_groups[0].id);
    assert!(keys.contains(&"from-lport 1000 inport == @neutron_pg_drop && ip drop".to_string()));
    assert!(keys.contains(&format!(
        "to-lport 1002 outport == @{pg} && ip4 && ip4.src == 0.0.0.0/0 && icmp4 allow-related"
    )));
    assert!(keys.contains(&format!(
        "to-lport 1002 outport == @{pg} && ip4 && ip4.src == ${pg}_ip4 allow-related"
    )));
}

#[test]
fn rule_forms_become_neutrons_match_strings() {
    use neutron::model::{Ethertype, RuleDirection, SecurityGroup, SecurityGroupRule};
    let g = SecurityGroup {
        id: "a-b".into(),
        stateful: false,
        ..Default::default()
    };
    let rule = |proto: &str, min: Option<u32>, max: Option<u32>, v6: bool| SecurityGroupRule {
        id: "r".into(),
        direction: RuleDirection::Egress,
        ethertype: if v6 { Ethertype::IPv6 } else { Ethertype::IPv4 },
        protocol: Some(proto.into()),
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix: Some("203.0.113.9/24".parse().unwrap()),
        ..Default::default()
    };
    let cases = [
        (rule("tcp", Some(1000), Some(2000), false), "inport == @pg_a_b && ip4 && ip4.dst == 203.0.113.0/24 && tcp && tcp.dst >= 1000 && tcp.dst <= 2000"),
        (rule("17", Some(53), Some(53), false), "inport == @pg_a_b && ip4 && ip4.dst == 203.0.113.0/24 && udp && udp.dst == 53"),
        (rule("icmp", Some(8), Some(0), false), "inport == @pg_a_b && ip4 && ip4.dst == 203.0.113.0/24 && icmp4 && icmp4.type == 8 && icmp4.code == 0"),
        (rule("ipv6-icmp", Some(135), None, true), "inport == @pg_a_b && ip6 && ip6.dst == 203.0.113.0/24 && icmp6 && icmp6.type == 135"),
        (rule("vrrp", None, None, false), "inport == @pg_a_b && ip4 && ip4.dst == 203.0.113.0/24 && ip.proto == 112"),
    ];
    for (r, want) in cases {
        let acl = neutron::firewall::ovn::Acl::of_rule(&g, &r);
        assert_eq!(acl.match_text, want);
        assert_eq!(acl.action.as_str(), "allow-stateless");
    }
}

/// A pair written with host bits (`203.0.113.138/30`) lets the port send only
/// from that address, but receive for it and its subnet's broadcast
/// (ovn-controller's out-port-security flows; seen on real delivery).
#[test]
fn a_host_bits_pair_receives_its_subnet_broadcast() {
    let mut c = cloud();
    c.port_mut("rs-1")
        .unwrap()
        .allowed_address_pairs
        .push(AddressPair {
            ip_address: "203.0.113.138/30".parse().unwrap(),
            mac_address: None,
            ip_text: Some("203.0.113.138/30".into()),
        });
    let mut f = OvnFabric::build(&c).unwrap();
    let rs = id(&c, "rs-1");
    for (dst, want) in [
        ("203.0.113.138", Verdict::Accept),
        ("203.0.113.139", Verdict::Accept),
        ("203.0.113.137", Verdict::Drop),
    ] {
        let mut p = tcp(
            "203.0.113.50",
            40000,
            dst,
            mac(&c, "client-1"),
            mac(&c, "rs-1"),
            SYN,
            9,
            0,
        );
        p.dport = 22;
        let hop = cross(&mut f, &c, &rs, Side::Ingress, &p);
        assert_eq!(hop.trace.verdict, want, "to {dst}");
    }
    // As a source only the address itself.
    for (src, want) in [
        ("203.0.113.138", Verdict::Accept),
        ("203.0.113.137", Verdict::Drop),
    ] {
        let p = tcp(
            src,
            41000,
            "203.0.113.50",
            mac(&c, "rs-1"),
            mac(&c, "client-1"),
            SYN,
            9,
            0,
        );
        let hop = cross(&mut f, &c, &rs, Side::Egress, &p);
        assert_eq!(hop.trace.verdict, want, "from {src}");
    }
}
