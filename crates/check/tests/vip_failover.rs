//! The vip-failover pattern (members hold the VIP by VRRP and serve it
//! themselves): examples/vip-failover fails as the real cloud would on
//! iptables_hybrid and ML2/OVN, and passes after `--fix`; its readable output
//! is pinned in golden_output.rs.

mod common;

use check::diagnose::DropKind;
use check::fix::{find_fix, Change};
use check::lifecycle::Category;
use check::report::render_check;
use check::{run, Scenario};
use common::{load, pairs, root, rules};
use neutron::firewall::FirewallDriver;

const VIP: &str = "203.0.113.241";

/// The same fix on both backends: the /32 VIP pair on each member, VRRP
/// from each member, udp/53 from every client source, and tcp/8080 into
/// the backends from each member's own address (not the VIP).
fn assert_expected_fix(fix: &check::fix::FixReport) {
    assert!(fix.recheck.passed(), "the fix passes its re-check");
    assert_eq!(
        pairs(fix),
        vec![format!("lb-1 {VIP}/32"), format!("lb-2 {VIP}/32")]
    );
    assert_eq!(
        rules(fix, false),
        vec![
            "app tcp 8080 203.0.113.21/32",
            "app tcp 8080 203.0.113.22/32",
            "lb udp 53 0.0.0.0/0",
            "lb vrrp  203.0.113.21/32",
            "lb vrrp  203.0.113.22/32",
        ]
    );
    assert!(
        fix.remedies.is_empty(),
        "no LVS-DR remedies for this pattern"
    );
}

#[test]
fn hybrid_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/vip-failover/scenario.yaml");
    assert_eq!(sc.pattern.name(), "vip-failover");
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    let kinds = |cat: Category| -> Vec<DropKind> {
        report
            .drops()
            .filter(|(f, _, _)| f.category == cat)
            .map(|(_, _, d)| d.kind)
            .collect()
    };
    // Split brain: each member's adverts die at the other's sg-fallback.
    assert_eq!(
        kinds(Category::Vrrp),
        vec![DropKind::IngressPolicy, DropKind::IngressPolicy]
    );
    // The GARP and the holder's ARP answers die in the OVS agent's ARP
    // protection (the VIP is no pair of the member).
    assert!(kinds(Category::Arp)
        .iter()
        .chain(&kinds(Category::Service))
        .chain(&kinds(Category::Failover))
        .all(|k| *k == DropKind::ArpSpoof));
    // The backends' group admits the VIP, but HAProxy connects from the member.
    for (_, p, d) in report
        .drops()
        .filter(|(f, _, _)| f.category == Category::Backend)
    {
        assert_eq!(d.kind, DropKind::IngressPolicy);
        assert!(d.port == "app-1" || d.port == "app-2");
        assert_ne!(d.src.unwrap().to_string(), VIP, "{}", p.what);
    }
    // Every member × service × client class, and every backend from every member.
    let c = &report.coverage;
    assert_eq!(c.pattern, "vip-failover");
    assert_eq!(c.directors, vec!["lb-1", "lb-2"]);
    assert_eq!(c.services, vec!["tcp/443", "udp/53"]);
    assert_eq!(c.client_classes.len(), 2);
    let served = report
        .flows
        .iter()
        .filter(|f| matches!(f.category, Category::Service | Category::Failover))
        .filter(|f| f.name.contains("served by"))
        .count();
    assert_eq!(served, 2 * 2 * 2, "members × services × client classes");
    assert_eq!(
        report
            .flows
            .iter()
            .filter(|f| f.category == Category::Backend)
            .count(),
        2 * 2
    );
    assert_expected_fix(&find_fix(&sc, &report).unwrap());
}

/// With the pair but without the ARP exchange (a static neighbour entry on
/// the client), the answer from the VIP still needs the pair: the anti-spoof
/// chain drops it on iptables_hybrid.
#[test]
fn hybrid_anti_spoof_drops_the_answer_from_the_vip_without_the_pair() {
    let sc = load("examples/vip-failover/scenario.yaml");
    let report = run(&sc).unwrap();
    let fix = find_fix(&sc, &report).unwrap();
    // Everything but lb-1's pair, and lb-1's ARP rescued by a pair-less
    // route: check the SYN-ACK by itself.
    let without: Vec<Change> = fix
        .changes
        .iter()
        .map(|c| c.change.clone())
        .filter(|c| !matches!(c, Change::AddAllowedAddressPair { port, .. } if port == "lb-1"))
        .collect();
    let partial = check::fix::with_changes(&sc, &without);
    let r = run(&partial).unwrap();
    assert!(!r.passed());
    assert!(r
        .drops()
        .all(|(_, _, d)| d.port == "lb-1" && d.kind == DropKind::ArpSpoof));
    // The frames of lb-1's conversations, sent through the fabric without
    // their ARP steps: the answer from the VIP dies in the s chain.
    let mut fabric = fabric::build(&partial.cloud, partial.driver).unwrap();
    let flows = check::lifecycle::flows(&partial);
    let flow = flows
        .iter()
        .find(|f| f.name == format!("TCP client-1 -> {VIP}:443 served by lb-1"))
        .unwrap();
    let mut answer_dropped = false;
    for step in flow
        .steps
        .iter()
        .filter(|s| matches!(s.payload, check::lifecycle::Payload::Ip(_)))
    {
        let check::lifecycle::Payload::Ip(pkt) = &step.payload else {
            unreachable!()
        };
        let hop = fabric
            .cross(&step.sender, fabric::Side::Egress, pkt)
            .unwrap();
        if hop.trace.verdict == packet::Verdict::Drop {
            assert_eq!(pkt.src.to_string(), VIP, "{}", step.what);
            assert!(matches!(
                hop.decided_by.first(),
                Some(neutron::firewall::provenance::Origin::SpoofDrop { .. })
            ));
            answer_dropped = true;
            break;
        }
        if let Some(r) = &step.receiver {
            fabric.cross(r, fabric::Side::Ingress, pkt);
        }
    }
    assert!(answer_dropped, "the SYN-ACK from the VIP is dropped");
}

#[test]
fn keepalived_files_with_only_vrrp_instances_are_the_same_pattern() {
    let sc = load("examples/vip-failover/scenario-keepalived.yaml");
    assert_eq!(sc.pattern.name(), "vip-failover");
    assert!(sc
        .directors
        .iter()
        .all(|d| d.config.virtual_servers.is_empty()));
    let report = run(&sc).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Unicast adverts, each checked as the first between the members: the
    // other member's earlier advert does not open conntrack for it.
    let vrrp: Vec<_> = report
        .flows
        .iter()
        .filter(|f| f.category == Category::Vrrp)
        .collect();
    assert_eq!(vrrp.len(), 2);
    assert!(vrrp
        .iter()
        .all(|f| f.outcome == check::simulate::Outcome::Drop));
    assert!(vrrp[0].packets[0].what.contains("-> 203.0.113.22"));
    for driver in [FirewallDriver::IptablesHybrid, FirewallDriver::Ovn] {
        let mut sc = sc.clone();
        sc.driver = driver;
        let report = run(&sc).unwrap();
        assert!(!report.passed());
        assert_expected_fix(&find_fix(&sc, &report).unwrap());
    }
}

#[test]
fn ovn_fails_like_the_cloud_and_passes_after_the_fix() {
    let sc = load("examples/vip-failover-ovn/scenario.yaml");
    assert_eq!(sc.driver, FirewallDriver::Ovn);
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    for (f, _, d) in report.drops() {
        let want = match f.category {
            Category::Vrrp | Category::Backend => DropKind::IngressPolicy,
            _ => DropKind::ArpSpoof,
        };
        assert_eq!(d.kind, want, "{}", f.name);
        assert!(!d.place.is_empty());
    }
    // The unbound VIP port is not virtual before the fix; it is after.
    assert!(report
        .backend
        .iter()
        .any(|n| n.contains("unbound port vip") && n.contains("not virtual")));
    let fix = find_fix(&sc, &report).unwrap();
    assert_expected_fix(&fix);
    assert!(fix
        .recheck
        .backend
        .iter()
        .any(|n| n.contains("type virtual, parents lb-1, lb-2")));
    assert!(fix
        .changes
        .iter()
        .any(|c| c.cost.contains("becomes type virtual")));
}

/// On OVN the member needs the pair to RECEIVE for the VIP: with ARP out of
/// the way (the pair on the member for ARP only is impossible, so the client's
/// SYN is sent straight through the fabric), port security checks the
/// destination and drops it before any ACL.
#[test]
fn ovn_drops_the_clients_packet_for_the_vip_at_the_destination_check() {
    let sc = load("examples/vip-failover-ovn/scenario.yaml");
    let mut fabric = fabric::build(&sc.cloud, sc.driver).unwrap();
    let flows = check::lifecycle::flows(&sc);
    let flow = flows
        .iter()
        .find(|f| f.name == format!("TCP client-1 -> {VIP}:443 served by lb-1"))
        .unwrap();
    let step = flow
        .steps
        .iter()
        .find(|s| matches!(s.payload, check::lifecycle::Payload::Ip(_)))
        .unwrap();
    let check::lifecycle::Payload::Ip(pkt) = &step.payload else {
        unreachable!()
    };
    fabric
        .cross(&step.sender, fabric::Side::Egress, pkt)
        .unwrap();
    let hop = fabric
        .cross(
            step.receiver.as_deref().unwrap(),
            fabric::Side::Ingress,
            pkt,
        )
        .unwrap();
    assert_eq!(hop.trace.verdict, packet::Verdict::Drop);
    assert_eq!(
        check::diagnose::kind_of(&hop.decided_by, hop.side),
        DropKind::Destination
    );
}

#[test]
fn a_pass_means_every_path_passed_and_says_what_was_not_exercised() {
    let sc = load("examples/vip-failover/scenario.yaml");
    let report = run(&sc).unwrap();
    let fix = find_fix(&sc, &report).unwrap();
    let text = render_check(&fix.recheck, false);
    assert!(text.contains("Exercised: pattern vip-failover (VIP 203.0.113.241"));
    assert!(text.contains("2 members × 2 client classes × tcp/443, udp/53"));
    assert!(text.contains("backends app-1 (tcp/8080), app-2 (tcp/8080) from every member"));
    assert!(text.contains("Not exercised:"));
    assert!(text.contains("HAProxy/nginx"));
}

#[test]
fn scenario_errors_name_the_pattern() {
    let dir = std::env::temp_dir().join(format!("vipwire-vf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("examples/vip-failover/neutron.json"),
        dir.join("neutron.json"),
    )
    .unwrap();
    let try_load = |yaml: &str| {
        std::fs::write(dir.join("s.yaml"), yaml).unwrap();
        Scenario::load(&dir.join("s.yaml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let base = "neutron: neutron.json\n";
    assert!(try_load(&format!(
        "{base}pattern: vip-failover\nmembers: [lb-1, lb-2]\nservices: [tcp/443]\n"
    ))
    .contains("give the shared `vip:`"));
    assert!(try_load(&format!(
        "{base}pattern: vip-failover\nmembers: [lb-1, lb-2]\nvip: 203.0.113.241\n"
    ))
    .contains("services: [tcp/443]"));
    assert!(try_load(&format!(
        "{base}pattern: vip-failover\nmembers: [lb-1]\nvip: 203.0.113.241\nservices: [sctp/9]\n"
    ))
    .contains("tcp/PORT or udp/PORT"));
    assert!(try_load(&format!(
        "{base}directors: [{{port: lb-1}}]\nservices: [tcp/443]\n"
    ))
    .contains("belongs to `pattern: vip-failover`"));
    assert!(
        try_load(&format!("{base}pattern: lvs-fullnat\nmembers: [lb-1]\n"))
            .contains("supported: lvs-dr, lvs-nat, lvs-tun, vip-failover")
    );
    // lvs-tun is an LVS pattern now: members belong to vip-failover.
    assert!(
        try_load(&format!("{base}pattern: lvs-tun\nmembers: [lb-1]\n"))
            .contains("belongs to `pattern: vip-failover`")
    );
    std::fs::remove_dir_all(&dir).ok();
}
