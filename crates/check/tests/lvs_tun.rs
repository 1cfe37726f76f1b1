//! The LVS-TUN pattern (`lb_kind TUN`): examples/lvs-tun fails as the real
//! cloud would on iptables_hybrid and ML2/OVN and passes after `--fix`. The
//! director's IPIP packets (IP protocol 4, its own address outside) meet the
//! real servers' groups; the real servers answer from the VIP; their tunl0,
//! VIP and rp_filter are host settings. Readable output pinned
//! (pinned in golden_output.rs).

mod common;

use check::diagnose::DropKind;
use check::fix::{find_fix, with_changes, Change, FixReport};
use check::lifecycle::{Category, Payload, StepRole};
use check::simulate::Outcome;
use check::{run, Scenario};
use common::{load, root};
use fabric::Side;
use neutron::firewall::FirewallDriver;
use packet::proto;

/// examples/lvs-tun with other real-server settings.
fn variant(driver: &str, settings: &str) -> Scenario {
    let dir = root().join("examples/lvs-tun");
    let text = format!(
        "neutron: {}\nfirewall_driver: {driver}\ndirectors:\n  - port: director-1\n    \
         keepalived: {}\n  - port: director-2\n    keepalived: {}\nclients:\n  - port: \
         client-1\nreal_server_defaults:\n{settings}",
        dir.join("neutron.json").display(),
        dir.join("keepalived-director-1.conf").display(),
        dir.join("keepalived-director-2.conf").display(),
    );
    let tmp = std::env::temp_dir().join(format!(
        "vipwire-lvs-tun-{}-{driver}-{}",
        std::process::id(),
        settings.len()
    ));
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("scenario.yaml");
    std::fs::write(&file, text).unwrap();
    Scenario::load(&file).unwrap()
}

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
            Change::UseStatelessGroup { port, .. } => format!("stateless {port}"),
            other => format!("{other:?}"),
        })
        .collect();
    v.sort();
    v
}

fn rule(sc: &Scenario, group: &str, protocol: &str, port: Option<u16>, remote: &str) -> Change {
    Change::AddSecurityGroupRule {
        group_id: sc
            .cloud
            .security_groups
            .iter()
            .find(|g| g.name == group)
            .unwrap()
            .id
            .clone(),
        group: group.into(),
        ingress: true,
        ethertype: "IPv4".into(),
        protocol: Some(protocol.into()),
        port,
        remote_ip_prefix: Some(remote.parse().unwrap()),
    }
}

/// tcp/80 into the directors, IPIP from both directors into the real servers.
fn opened(sc: &Scenario) -> Vec<Change> {
    vec![
        rule(sc, "lvs", "tcp", Some(80), "0.0.0.0/0"),
        rule(sc, "web", "ipip", None, "203.0.113.5/32"),
        rule(sc, "web", "ipip", None, "203.0.113.7/32"),
    ]
}

fn vip_pairs(sc: &Scenario) -> Vec<Change> {
    sc.real_servers
        .iter()
        .map(|r| Change::AddAllowedAddressPair {
            port_id: r.port_id.clone(),
            port: sc.port_label(&r.port_id),
            ip_address: "203.0.113.241/32".parse().unwrap(),
            mac_address: None,
        })
        .collect()
}

/// The first drop of each service flow through the master.
fn first_drops(report: &check::CheckReport) -> Vec<(StepRole, DropKind, String, u8)> {
    report
        .flows
        .iter()
        .filter(|f| f.category == Category::Service)
        .flat_map(|f| &f.packets)
        .filter_map(|p| {
            p.drop
                .as_ref()
                .map(|d| (p.role, d.kind, d.port.clone(), d.protocol.unwrap_or(0)))
        })
        .collect()
}

#[test]
fn hybrid_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/lvs-tun/scenario.yaml");
    assert_eq!(sc.pattern.name(), "lvs-tun");
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    assert_eq!(report.coverage.pattern, "lvs-tun");
    assert!(report.coverage.summary().starts_with("pattern lvs-tun"));
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    // The director sends IPIP from its own address: no pair for it. The real
    // servers need protocol 4 from the directors and the VIP to answer from.
    assert_eq!(
        summary(&fix),
        vec![
            "pair rs-1 203.0.113.241/32",
            "pair rs-2 203.0.113.241/32",
            "rule lvs tcp 80 0.0.0.0/0",
            "rule web ipip  203.0.113.5/32",
            "rule web ipip  203.0.113.7/32",
        ]
    );
    assert!(fix.changes.iter().any(|c| c
        .command
        .contains("--protocol ipip --remote-ip 203.0.113.5/32")));
    assert!(fix.remedies.is_empty());
}

/// Wave by wave on iptables_hybrid: the IPIP packet dies at the real
/// server's sg-fallback (protocol 4 from the director), then the answer
/// from the VIP in the real server's anti-spoof chain.
#[test]
fn hybrid_drops_ipip_at_the_real_server_then_the_answer_from_the_vip() {
    let sc = load("examples/lvs-tun/scenario.yaml");
    let only_80 = with_changes(&sc, &opened(&sc)[..1]);
    let report = run(&only_80).unwrap();
    let drops = first_drops(&report);
    assert_eq!(drops.len(), 2);
    for (role, kind, port, protocol) in &drops {
        assert_eq!(
            (*role, *kind, *protocol),
            (StepRole::TunEncap, DropKind::IngressPolicy, proto::IPIP)
        );
        assert!(port == "rs-1" || port == "rs-2");
    }
    let (_, p, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert!(p
        .what
        .starts_with("IPIP 203.0.113.5 -> 203.0.113.8 [TCP SYN 203.0.113.50:"));
    assert_eq!(
        d.src.unwrap().to_string(),
        "203.0.113.5",
        "the outer source"
    );
    assert!(d.reason.contains("ipip (4)"), "{}", d.reason);
    assert!(d.reason.contains("LVS-TUN"), "{}", d.reason);
    assert!(d.chain.ends_with("sg-fallback"), "{}", d.chain);
    // The kernel's generic tracker: protocol 4 one way only stays NEW.
    let hop = p.hops.iter().find(|h| h.side == Side::Ingress).unwrap();
    assert_eq!(hop.trace.ctstate, "NEW");

    let report = run(&with_changes(&sc, &opened(&sc))).unwrap();
    let drops = first_drops(&report);
    assert_eq!(drops.len(), 2);
    for (role, kind, _, protocol) in &drops {
        assert_eq!(
            (*role, *kind, *protocol),
            (StepRole::Plain, DropKind::AntiSpoof, proto::TCP)
        );
    }
    let (_, _, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert_eq!(d.src.unwrap().to_string(), "203.0.113.241");
    assert!(
        d.reason.contains("TUN real server answers from the VIP"),
        "{}",
        d.reason
    );
}

/// Every IPIP packet of a fixed conversation is NEW at the real server (no
/// answer ever comes back inside protocol 4), and passes by the rule.
#[test]
fn hybrid_ipip_stays_new_and_passes_by_its_rule() {
    let sc = load("examples/lvs-tun/scenario.yaml");
    let mut changes = opened(&sc);
    changes.extend(vip_pairs(&sc));
    let report = run(&with_changes(&sc, &changes)).unwrap();
    assert!(report.passed());
    let flow = report
        .flows
        .iter()
        .find(|f| f.category == Category::Service)
        .unwrap();
    let ipip: Vec<_> = flow
        .packets
        .iter()
        .filter(|p| p.role == StepRole::TunEncap)
        .collect();
    assert_eq!(ipip.len(), 5, "SYN, ACK, request, FIN, ACK");
    for p in ipip {
        match &p.payload {
            Payload::Ip(pkt) => assert_eq!((pkt.proto, pkt.sport, pkt.dport), (proto::IPIP, 0, 0)),
            other => panic!("{other:?}"),
        }
        let hop = p.hops.iter().find(|h| h.side == Side::Ingress).unwrap();
        assert_eq!(hop.trace.ctstate, "NEW", "{}", p.what);
        assert_eq!(p.outcome, Outcome::Pass);
    }
    // Each zone sees one side of the handshake: the real server's SYN-ACK
    // and the client's ACK at the director are INVALID, and pass only because
    // hybrid's group rules carry no state match (OVN drops both at ct.inv).
    let state = |what: &str, side: Side| {
        let p = flow
            .packets
            .iter()
            .find(|p| p.what.starts_with(what))
            .unwrap();
        p.hops
            .iter()
            .find(|h| h.side == side)
            .unwrap()
            .trace
            .ctstate
            .clone()
    };
    assert_eq!(
        state("TCP SYN-ACK 203.0.113.241:80", Side::Egress),
        "INVALID"
    );
    assert_eq!(state("TCP ACK 203.0.113.50:", Side::Ingress), "INVALID");
}

#[test]
fn ovn_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/lvs-tun-ovn/scenario.yaml");
    assert_eq!(sc.driver, FirewallDriver::Ovn);
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    // IPIP into the real server dies in neutron_pg_drop without the rule.
    let report80 = run(&with_changes(&sc, &opened(&sc)[..1])).unwrap();
    let (_, p, d) = report80
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert_eq!(
        (p.role, d.kind),
        (StepRole::TunEncap, DropKind::IngressPolicy)
    );
    assert!(d.rule_text.contains("neutron_pg_drop"), "{}", d.rule_text);
    // With IPIP allowed and the VIP pairs, the real server's SYN-ACK from the
    // VIP is the first packet of that connection its zone sees (the SYN came
    // inside IPIP): conntrack calls it invalid, and OVN drops ct.inv above
    // every ACL (iptables_hybrid lets it through by the egress rule).
    let mut changes = opened(&sc);
    changes.extend(vip_pairs(&sc));
    let report = run(&with_changes(&sc, &changes)).unwrap();
    let (_, p, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert_eq!(d.kind, DropKind::Invalid);
    assert_eq!(d.port, "rs-1");
    assert!(
        p.what.starts_with("TCP SYN-ACK 203.0.113.241:80"),
        "{}",
        p.what
    );

    let fix = find_fix(&sc, &run(&sc).unwrap()).unwrap();
    assert!(fix.recheck.passed());
    let s = summary(&fix);
    for want in [
        "pair rs-1 203.0.113.241/32",
        "pair rs-2 203.0.113.241/32",
        "rule lvs tcp 80 0.0.0.0/0",
        "rule web ipip  203.0.113.5/32",
        "rule web ipip  203.0.113.7/32",
        "stateless rs-1",
        "stateless rs-2",
        // The client's ACK meets the director's zone without the SYN-ACK (it
        // went straight from the real server), as in DR.
        "stateless director-1",
        "stateless director-2",
    ] {
        assert!(s.iter().any(|c| c == want), "{want} missing from {s:#?}");
    }
}

/// tunl0, the VIP and rp_filter are the real server's own: host problems.
#[test]
fn real_server_settings_are_host_problems() {
    for driver in ["iptables_hybrid", "ovn"] {
        for (settings, words) in [
            ("  rp_filter: 1\n", "rp_filter=1"),
            ("  tunl0: false\n", "no tunl0"),
            ("  vip_on_lo: false\n", "not have the VIP"),
        ] {
            let sc = variant(driver, settings);
            let mut changes = opened(&sc);
            changes.extend(vip_pairs(&sc));
            let report = run(&with_changes(&sc, &changes)).unwrap();
            let (_, p, d) = report
                .drops()
                .find(|(f, _, _)| f.category == Category::Service)
                .unwrap();
            assert_eq!(
                (p.role, d.kind),
                (StepRole::TunEncap, DropKind::Host),
                "{driver} {settings}"
            );
            assert!(d.reason.contains(words), "{}", d.reason);
            assert!(report.warnings.iter().any(|w| w.port == "rs-1"));
        }
        // Loose reverse-path filtering passes: a route back exists.
        let sc = variant(driver, "  rp_filter: 2\n");
        let mut changes = opened(&sc);
        changes.extend(vip_pairs(&sc));
        let report = run(&with_changes(&sc, &changes)).unwrap();
        assert!(report.drops().all(|(_, _, d)| d.kind != DropKind::Host));
    }
}
