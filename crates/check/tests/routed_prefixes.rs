//! The routed-prefixes pattern (ports that send from and receive for prefixes
//! behind them: Calico/kube-router direct routing, MetalLB BGP next hops, a
//! router VM): examples/routed-prefixes fails as the real cloud would on
//! iptables_hybrid and ML2/OVN, and passes after `--fix`; its readable output
//! is pinned in golden_output.rs.

mod common;

use check::diagnose::DropKind;
use check::fix::{find_fix, Change};
use check::lifecycle::Category;
use check::{run, Scenario};
use common::{load, own_mac_pairs as pairs, root, rules};
use fabric::Side;

/// (flow, port, kind, side) of every drop.
fn drops(r: &check::CheckReport) -> Vec<(String, String, DropKind, Option<Side>)> {
    r.drops()
        .map(|(f, _, d)| (f.name.clone(), d.port.clone(), d.kind, d.side))
        .collect()
}

const PAIRS: [&str; 2] = ["node-1 192.0.2.0/26", "node-2 192.0.2.64/26"];

#[test]
fn the_scenario_names_its_pattern_and_every_router_peer_service_and_direction() {
    let sc = load("examples/routed-prefixes/scenario.yaml");
    assert_eq!(sc.pattern.name(), "routed-prefixes");
    let report = run(&sc).unwrap();
    assert_eq!(report.coverage.pattern, "routed-prefixes");
    assert_eq!(
        report.coverage.routers,
        vec!["node-1 (192.0.2.0/26)", "node-2 (192.0.2.64/26)"]
    );
    assert_eq!(report.coverage.client_classes, vec!["client-1"]);
    // 2 routers × 1 peer × 1 service × 2 directions + router to router both ways.
    assert_eq!(report.flows.len(), 6);
    assert!(report.flows.iter().all(|f| f.category == Category::Routed));
    let summary = report.coverage.summary();
    assert!(summary.starts_with("pattern routed-prefixes"), "{summary}");
    assert!(summary.contains("both directions"), "{summary}");
    assert!(summary.contains("router to router"), "{summary}");
    assert!(report
        .coverage
        .not_exercised
        .iter()
        .any(|n| n.contains("the routing itself")));
}

/// iptables_hybrid: the `s` chain drops everything a node sends from a pod
/// address (the connections it opens and its answers); the peer's remote-group
/// rule then matches because the pair joins the `nodes` ipset: pairs alone fix it.
#[test]
fn hybrid_drops_at_anti_spoofing_and_the_prefix_pairs_fix_it() {
    let sc = load("examples/routed-prefixes/scenario.yaml");
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    let d = drops(&report);
    assert_eq!(d.len(), 6, "{d:?}");
    for (flow, port, kind, side) in &d {
        assert_eq!(*kind, DropKind::AntiSpoof, "{flow}");
        assert_eq!(*side, Some(Side::Egress), "{flow}");
        assert!(port == "node-1" || port == "node-2", "{flow}");
    }
    let (_, _, drop) = report.drops().next().unwrap();
    assert!(
        drop.chain.starts_with("neutron-openvswi-s"),
        "{}",
        drop.chain
    );
    assert!(
        drop.reason.contains("node-1 routes 192.0.2.0/26"),
        "{}",
        drop.reason
    );

    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed(), "the fix passes its re-check");
    assert_eq!(pairs(&fix), PAIRS);
    assert!(rules(&fix, false).is_empty(), "{:?}", rules(&fix, false));
    assert!(fix
        .changes
        .iter()
        .all(|c| c.cost.contains("joins the remote-group ipsets of nodes")));
}

/// ML2/OVN: the source check drops what a node sends from a pod address, the
/// destination check what the peer sends to one; with the pairs, the peers'
/// remote-group ACLs still drop pod sources (address sets hold fixed IPs
/// only), so the fix adds a rule for each prefix to each peer's group.
#[test]
fn ovn_drops_source_and_destination_and_needs_rules_for_the_prefixes() {
    let sc = load("examples/routed-prefixes-ovn/scenario.yaml");
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    let d = drops(&report);
    let dest: Vec<_> = d
        .iter()
        .filter(|(_, _, k, _)| *k == DropKind::Destination)
        .collect();
    assert_eq!(dest.len(), 2, "{d:?}");
    assert!(dest
        .iter()
        .all(|(f, _, _, _)| f.starts_with("TCP client-1 ->")));
    assert_eq!(
        d.iter()
            .filter(|(_, _, k, _)| *k == DropKind::AntiSpoof)
            .count(),
        4,
        "{d:?}"
    );

    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed(), "the fix passes its re-check");
    assert_eq!(pairs(&fix), PAIRS);
    assert_eq!(
        rules(&fix, false),
        vec![
            "clients tcp 443 192.0.2.0/26",
            "clients tcp 443 192.0.2.64/26",
            "nodes tcp 443 192.0.2.0/26",
            "nodes tcp 443 192.0.2.64/26",
        ]
    );
    // Without the rules, the pairs alone leave the peers' ACL drops, named.
    let pairs_only: Vec<Change> = fix
        .changes
        .iter()
        .map(|c| c.change.clone())
        .filter(|c| matches!(c, Change::AddAllowedAddressPair { .. }))
        .collect();
    let after = run(&check::fix::with_changes(&sc, &pairs_only)).unwrap();
    let left = drops(&after);
    assert!(!left.is_empty());
    assert!(left
        .iter()
        .all(|(_, _, k, s)| *k == DropKind::IngressPolicy && *s == Some(Side::Ingress)));
    let (_, _, d) = after.drops().next().unwrap();
    assert!(
        d.reason.contains("OVN's address sets hold fixed IPs only"),
        "{}",
        d.reason
    );
}

/// Keys of other patterns are refused; without `services:`/`peers:` the defaults apply.
#[test]
fn the_scenario_refuses_keys_of_other_patterns() {
    let dir = std::env::temp_dir().join(format!("vipwire-routed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let neutron = root().join("examples/routed-prefixes/neutron.json");
    let write = |body: &str| {
        let p = dir.join("scenario.yaml");
        std::fs::write(
            &p,
            format!(
                "neutron: {}\npattern: routed-prefixes\n{body}",
                neutron.display()
            ),
        )
        .unwrap();
        Scenario::load(&p)
    };
    let e = write("routers: [{port: node-1, prefixes: [192.0.2.0/26]}]\nvip: 198.51.100.99\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`vip:` has no place"), "{e}");
    let e = write("peers: [client-1]\n").unwrap_err().to_string();
    assert!(e.contains("routers"), "{e}");
    let e = write(
        "routers: [{port: node-1, prefixes: [192.0.2.0/26]}, \
         {port: node-2, prefixes: [192.0.2.0/25]}]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("overlaps"), "{e}");
    // Defaults: one TCP service, every other port a peer.
    let sc = write("routers: [{port: node-1, prefixes: [192.0.2.0/26]}]\n").unwrap();
    let r = run(&sc).unwrap();
    assert_eq!(r.coverage.services, vec!["tcp/443"]);
    assert_eq!(r.coverage.client_classes, vec!["node-2", "client-1"]);
    std::fs::remove_dir_all(&dir).ok();
}
