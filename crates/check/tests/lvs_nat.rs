//! The LVS-NAT pattern (`lb_kind NAT`): examples/lvs-nat fails as the real
//! cloud would on iptables_hybrid and ML2/OVN and passes after `--fix`; each
//! drop is the one the backend's rules give (the DNAT copy leaves the director
//! with the client's source, the real servers meet the clients' address, the
//! director must receive the answer addressed to the client), and a wrong
//! real-server route is named as a host problem. Readable output pinned
//! (pinned in golden_output.rs).

mod common;

use check::diagnose::DropKind;
use check::fix::{find_fix, with_changes, Change, FixReport};
use check::lifecycle::{Category, StepRole};
use check::{run, Scenario};
use common::{load, root};
use fabric::Side;
use neutron::firewall::provenance::Origin;
use neutron::firewall::FirewallDriver;
use packet::{proto, tcp_flags, Packet};

/// A variant of examples/lvs-nat with other real-server and client lines.
fn variant(driver: &str, tail: &str) -> Scenario {
    let dir = root().join("examples/lvs-nat");
    let text = format!(
        "neutron: {}\nfirewall_driver: {driver}\ndirectors:\n  - port: director-1\n    \
         keepalived: {}\n  - port: director-2\n    keepalived: {}\n{tail}",
        dir.join("neutron.json").display(),
        dir.join("keepalived-director-1.conf").display(),
        dir.join("keepalived-director-2.conf").display(),
    );
    let tmp = std::env::temp_dir().join(format!(
        "vipwire-lvs-nat-{}-{}",
        std::process::id(),
        tail.len()
    ));
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("scenario.yaml");
    std::fs::write(&file, text).unwrap();
    Scenario::load(&file).unwrap()
}

const OUTSIDE: &str = "clients:\n  - cidr: 198.51.100.0/24\n    router_port: router-1\n";

fn summary(fix: &FixReport) -> Vec<String> {
    let mut v: Vec<String> = fix
        .changes
        .iter()
        .map(|c| match &c.change {
            Change::AddAllowedAddressPair {
                port, ip_address, ..
            } => format!("pair {port} {ip_address}"),
            Change::AddSecurityGroupRule {
                group,
                protocol,
                port,
                remote_ip_prefix,
                ..
            } => format!(
                "rule {group} {} {} {}",
                protocol.clone().unwrap_or_default(),
                port.map(|p| p.to_string()).unwrap_or_default(),
                remote_ip_prefix.map(|r| r.to_string()).unwrap_or_default()
            ),
            other => format!("{other:?}"),
        })
        .collect();
    v.sort();
    v
}

/// The first drop of every service flow (client through the master).
fn service_drops(report: &check::CheckReport) -> Vec<(StepRole, DropKind, String)> {
    report
        .flows
        .iter()
        .filter(|f| f.category == Category::Service)
        .flat_map(|f| &f.packets)
        .filter_map(|p| p.drop.as_ref().map(|d| (p.role, d.kind, d.port.clone())))
        .collect()
}

#[test]
fn the_pattern_comes_from_lb_kind() {
    let sc = load("examples/lvs-nat/scenario.yaml");
    assert_eq!(sc.pattern.name(), "lvs-nat");
    let report = run(&sc).unwrap();
    assert_eq!(report.coverage.pattern, "lvs-nat");
    assert!(report.coverage.summary().starts_with("pattern lvs-nat"));
    // Without `pattern:` the same files are the same pattern.
    assert_eq!(
        variant("iptables_hybrid", OUTSIDE).pattern.name(),
        "lvs-nat"
    );
}

#[test]
fn hybrid_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/lvs-nat/scenario.yaml");
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    // The director's group does not admit tcp/80; the real servers' gateway
    // .254 is no pair of the directors (their ARP for it is refused).
    assert_eq!(
        service_drops(&report),
        vec![
            (
                StepRole::Plain,
                DropKind::IngressPolicy,
                "director-1".into()
            ),
            (
                StepRole::Plain,
                DropKind::IngressPolicy,
                "director-1".into()
            ),
        ]
    );
    assert!(report
        .drops()
        .filter(|(f, _, _)| f.category == Category::Arp)
        .all(|(_, _, d)| d.kind == DropKind::ArpSpoof
            && d.src.unwrap().to_string() == "203.0.113.254"));
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    // On iptables_hybrid the 0.0.0.0/0 pair joins group lvs's ipset as two
    // /1 halves, and web admits tcp/8080 from remote group lvs: that rule
    // now admits every client, so no explicit rule is needed (the cost says
    // so). On OVN it is (address sets hold fixed IPs only).
    assert_eq!(
        summary(&fix),
        vec![
            "pair director-1 0.0.0.0/0",
            "pair director-2 0.0.0.0/0",
            "rule lvs tcp 80 0.0.0.0/0",
        ]
    );
    assert!(fix.changes[1].cost.contains("two /1 halves"));
    assert!(fix.remedies.is_empty(), "the DR remedies are not NAT's");
}

/// With the service port open and the gateway pair in place, the next drop is
/// the director's DNAT copy: the client's source from the director's MAC.
#[test]
fn hybrid_anti_spoof_drops_the_dnat_copy() {
    let sc = load("examples/lvs-nat/scenario.yaml");
    let opened = with_changes(&sc, &first_wave(&sc));
    let report = run(&opened).unwrap();
    let drops = service_drops(&report);
    assert_eq!(drops.len(), 2);
    for (role, kind, port) in drops {
        assert_eq!(
            (role, kind, port.as_str()),
            (StepRole::NatForward, DropKind::AntiSpoof, "director-1")
        );
    }
    let (_, p, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert!(
        p.what.starts_with("DNAT TCP SYN 198.51.100.1:"),
        "{}",
        p.what
    );
    assert_eq!(d.dst.unwrap().to_string(), "203.0.113.8");
    assert_eq!(
        d.dport,
        Some(8080),
        "NAT maps the port to the real server's"
    );
    assert!(d.reason.contains("LVS-NAT rewrites only the destination"));
    assert!(d.chain.starts_with("neutron-openvswi-s"), "{}", d.chain);
}

/// The tcp/80 rule and the gateway pairs the first round proposes.
fn first_wave(sc: &Scenario) -> Vec<Change> {
    let lvs = sc
        .cloud
        .security_groups
        .iter()
        .find(|g| g.name == "lvs")
        .unwrap()
        .id
        .clone();
    let mut v = vec![Change::AddSecurityGroupRule {
        group_id: lvs,
        group: "lvs".into(),
        ingress: true,
        ethertype: "IPv4".into(),
        protocol: Some("tcp".into()),
        port: Some(80),
        remote_ip_prefix: Some("0.0.0.0/0".parse().unwrap()),
    }];
    for d in &sc.directors {
        v.push(Change::AddAllowedAddressPair {
            port_id: d.port_id.clone(),
            port: sc.port_label(&d.port_id),
            ip_address: "203.0.113.254/32".parse().unwrap(),
            mac_address: None,
        });
    }
    v
}

#[test]
fn ovn_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/lvs-nat-ovn/scenario.yaml");
    assert_eq!(sc.driver, FirewallDriver::Ovn);
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    let drops = service_drops(&report);
    assert!(drops.iter().all(|d| d
        == &(
            StepRole::Plain,
            DropKind::IngressPolicy,
            "director-1".to_string()
        )));
    // Next: the DNAT copy dies in ls_in_check_port_sec.
    let opened = run(&with_changes(&sc, &first_wave(&sc))).unwrap();
    let (_, _, d) = opened
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert_eq!(d.kind, DropKind::AntiSpoof);
    assert!(d.place.contains("ls_in_apply_port_sec"), "{}", d.place);
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    assert_eq!(
        summary(&fix),
        vec![
            "pair director-1 0.0.0.0/0",
            "pair director-2 0.0.0.0/0",
            "rule lvs tcp 80 0.0.0.0/0",
            "rule web tcp 8080 0.0.0.0/0",
        ]
    );
}

/// OVN checks destinations too: the real server's answer is addressed to the
/// client, and the director's port receives it only with a pair covering the
/// client. (In the whole flow the pair that lets the DNAT copy out is the same,
/// so this drop never comes first; here the answer meets the port alone, with
/// a rule admitting it so the ACL stage is passed.)
#[test]
fn ovn_destination_check_drops_the_answer_to_the_client_at_the_director() {
    let sc = load("examples/lvs-nat-ovn/scenario.yaml");
    let d1 = sc.directors[0].port_id.clone();
    let lvs = sc.port(&d1).security_groups[0].clone();
    let admit_rs = Change::AddSecurityGroupRule {
        group_id: lvs,
        group: "lvs".into(),
        ingress: true,
        ethertype: "IPv4".into(),
        protocol: Some("udp".into()),
        port: None,
        remote_ip_prefix: Some("203.0.113.8/32".parse().unwrap()),
    };
    let mut answer = Packet::new(
        "203.0.113.8".parse().unwrap(),
        "198.51.100.1".parse().unwrap(),
        proto::UDP,
    );
    answer.sport = 8053;
    answer.dport = 40000;
    answer.src_mac = Some("fa:16:3e:4e:00:08".parse().unwrap());
    answer.dst_mac = Some(sc.port(&d1).mac_address.parse().unwrap());
    let verdict = |changes: &[Change]| {
        let cloud = with_changes(&sc, changes).cloud;
        let mut f = fabric::build(&cloud, FirewallDriver::Ovn).unwrap();
        f.cross(&d1, Side::Ingress, &answer).unwrap()
    };
    let hop = verdict(std::slice::from_ref(&admit_rs));
    assert!(
        matches!(hop.decided_by.first(), Some(Origin::DestinationDrop { .. })),
        "{:?}",
        hop.decided_by
    );
    let pair = Change::AddAllowedAddressPair {
        port_id: d1.clone(),
        port: "director-1".into(),
        ip_address: "0.0.0.0/0".parse().unwrap(),
        mac_address: None,
    };
    let hop = verdict(&[admit_rs, pair]);
    assert_eq!(hop.trace.verdict, packet::Verdict::Accept);
}

/// The answers come back through the director: on iptables_hybrid the
/// director's own conntrack zone saw the DNAT copy leave, so the real server's
/// answer entering the director is ESTABLISHED (no rule needed for it).
#[test]
fn hybrid_answer_enters_the_director_as_established() {
    let sc = load("examples/lvs-nat/scenario.yaml");
    let report = run(&sc).unwrap();
    let fix = find_fix(&sc, &report).unwrap();
    let flow = fix
        .recheck
        .flows
        .iter()
        .find(|f| f.category == Category::Service)
        .unwrap();
    let back = flow
        .packets
        .iter()
        .find(|p| p.role == StepRole::NatReturn)
        .unwrap();
    assert!(back
        .what
        .starts_with("TCP SYN-ACK 203.0.113.8:8080 -> 198.51.100.1:"));
    assert_eq!(back.to, "director-1");
    let into_director = back.hops.iter().find(|h| h.side == Side::Ingress).unwrap();
    assert_eq!(into_director.trace.ctstate, "ESTABLISHED");
    let snat = flow
        .packets
        .iter()
        .find(|p| p.what.starts_with("SNAT TCP SYN-ACK"))
        .unwrap();
    match &snat.payload {
        check::lifecycle::Payload::Ip(p) => {
            assert_eq!(p.src.to_string(), "203.0.113.241");
            assert_eq!(p.sport, 80);
            assert_eq!(p.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);
        }
        other => panic!("{other:?}"),
    }
}

/// The real server's route is a host setting: the router (DHCP's default),
/// the backup director's address, or a client on the real servers' own subnet
/// are host problems no Neutron change fixes.
#[test]
fn a_wrong_real_server_route_is_a_host_problem() {
    for driver in ["iptables_hybrid", "ovn"] {
        let sc = variant(driver, &format!("{OUTSIDE}client_sources: [0.0.0.0/0]\n"));
        let fixed = fixed_for(&sc);
        let report = run(&fixed).unwrap();
        assert!(!report.passed());
        let (_, p, d) = report
            .drops()
            .find(|(f, _, _)| f.category == Category::Service)
            .unwrap();
        assert_eq!(d.kind, DropKind::Host, "{driver}");
        assert_eq!(p.role, StepRole::NatReturn);
        assert_eq!(p.to, "router-1");
        assert!(d
            .reason
            .contains("DHCP: the subnet's gateway_ip 203.0.113.1"));
        let fix = find_fix(&fixed, &report).unwrap();
        assert!(!fix.recheck.passed());
        assert!(!fix.unfixable.is_empty());

        // A director's own address: right while it is master, wrong after a
        // failover.
        let sc = variant(
            driver,
            &format!("{OUTSIDE}real_server_defaults:\n  gateway: 203.0.113.5\n"),
        );
        let report = run(&fixed_for(&sc)).unwrap();
        assert!(report
            .flows
            .iter()
            .filter(|f| f.category == Category::Service)
            .all(|f| f.outcome == check::simulate::Outcome::Pass));
        let failover: Vec<_> = report
            .drops()
            .filter(|(f, _, _)| f.category == Category::Failover && f.name.contains("NAT to"))
            .collect();
        assert_eq!(failover.len(), 2, "{driver}");
        assert!(failover
            .iter()
            .all(|(_, p, d)| d.kind == DropKind::Host && p.to == "director-1"));

        // A client beside the real servers is answered directly.
        let sc = variant(
            driver,
            "clients:\n  - port: rs-2\nreal_server_defaults:\n  gateway: 203.0.113.254\n",
        );
        let report = run(&fixed_for(&sc)).unwrap();
        let (_, _, d) = report
            .drops()
            .find(|(f, _, _)| f.name.contains("NAT to rs-1"))
            .unwrap();
        assert_eq!(d.kind, DropKind::Host);
        assert!(d.reason.contains("own subnet"), "{}", d.reason);
    }
}

/// The Neutron side made right (what --fix proposes on OVN), so only host
/// problems are left.
fn fixed_for(sc: &Scenario) -> Scenario {
    let web = sc
        .cloud
        .security_groups
        .iter()
        .find(|g| g.name == "web")
        .unwrap()
        .id
        .clone();
    let mut changes = first_wave(sc);
    changes.push(Change::AddSecurityGroupRule {
        group_id: web,
        group: "web".into(),
        ingress: true,
        ethertype: "IPv4".into(),
        protocol: Some("tcp".into()),
        port: Some(8080),
        remote_ip_prefix: Some("0.0.0.0/0".parse().unwrap()),
    });
    for d in &sc.directors {
        changes.push(Change::AddAllowedAddressPair {
            port_id: d.port_id.clone(),
            port: sc.port_label(&d.port_id),
            ip_address: "0.0.0.0/0".parse().unwrap(),
            mac_address: None,
        });
    }
    with_changes(sc, &changes)
}

#[test]
fn a_pattern_that_disagrees_with_lb_kind_is_refused() {
    let dir = root().join("examples/lvs-nat");
    let tmp = std::env::temp_dir().join(format!("vipwire-lvs-nat-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("scenario.yaml");
    std::fs::write(
        &file,
        format!(
            "neutron: {}\npattern: lvs-tun\ndirectors:\n  - port: director-1\n    keepalived: {}\n",
            dir.join("neutron.json").display(),
            dir.join("keepalived-director-1.conf").display()
        ),
    )
    .unwrap();
    let err = Scenario::load(&file).unwrap_err().to_string();
    assert!(err.contains("uses lb_kind NAT"), "{err}");
    assert!(err.contains("pattern: lvs-tun"), "{err}");
}
