//! The field report's scenario, end to end through the generated Neutron rules and
//! conntrack: the drop, its reason, the fix, and variations of the setup.

use check::diagnose::DropKind;
use check::fix::{find_fix, with_changes, Change};
use check::lifecycle::Category;
use check::simulate::{run, Outcome};
use check::Scenario;
use neutron::model::{RuleDirection, SecurityGroup, SecurityGroupRule};

fn builtin() -> Scenario {
    Scenario::builtin().expect("built-in scenario loads")
}

fn port_id(sc: &Scenario, name: &str) -> String {
    sc.cloud.port(name).unwrap().id.clone()
}

#[test]
fn dr_syn_dies_in_the_directors_anti_spoof_chain() {
    let sc = builtin();
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    let drops: Vec<_> = report.drops().collect();
    assert_eq!(
        drops.len(),
        8,
        "4 real servers through the master and, after failover, the backup"
    );
    for (flow, pkt, d) in drops {
        assert!(matches!(
            flow.category,
            Category::Service | Category::Failover
        ));
        assert!(pkt.what.starts_with("DR TCP SYN"), "{}", pkt.what);
        assert_eq!(d.kind, DropKind::AntiSpoof);
        assert!(d.chain.starts_with("neutron-openvswi-s"));
        assert!(d.rule_text.ends_with("-j DROP"));
        assert!(d.dr_forward);
    }
    for cat in [
        Category::Arp,
        Category::Vrrp,
        Category::Ping,
        Category::HealthCheck,
    ] {
        assert!(report
            .flows
            .iter()
            .filter(|f| f.category == cat)
            .all(|f| f.outcome == Outcome::Pass));
    }
}

#[test]
fn fix_is_the_reports_zero_pair_on_both_directors() {
    let sc = builtin();
    let report = run(&sc).unwrap();
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    let pairs: Vec<(String, String)> = fix
        .changes
        .iter()
        .map(|c| match &c.change {
            Change::AddAllowedAddressPair {
                port, ip_address, ..
            } => (port.clone(), ip_address.to_string()),
            other => panic!("unexpected change {other:?}"),
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("director-1".to_string(), "0.0.0.0/0".to_string()),
            ("director-2".to_string(), "0.0.0.0/0".to_string())
        ]
    );
    let r2 = fix
        .remedies
        .iter()
        .find(|r| r.name.contains("(2)"))
        .unwrap();
    assert!(!r2.works);
}

#[test]
fn fixed_dr_flow_is_invalid_in_the_directors_zone_yet_passes() {
    // Only the client's direction crosses the director's zone: its ACK after a lone
    // SYN is INVALID to conntrack, and passes only because Neutron's group rules
    // carry no state match and come before the INVALID drop.
    let sc = builtin();
    let fix = find_fix(&sc, &run(&sc).unwrap()).unwrap();
    let fixed = with_changes(
        &sc,
        &fix.changes
            .iter()
            .map(|c| c.change.clone())
            .collect::<Vec<_>>(),
    );
    let report = run(&fixed).unwrap();
    let flow = report
        .flows
        .iter()
        .find(|f| f.category == Category::Service)
        .unwrap();
    let ack = flow
        .packets
        .iter()
        .find(|p| p.what.starts_with("TCP ACK "))
        .unwrap();
    assert_eq!(ack.outcome, Outcome::Pass);
    let director_ingress = ack
        .hops
        .iter()
        .find(|h| h.port_id == port_id(&sc, "director-1"))
        .unwrap();
    assert_eq!(director_ingress.trace.ctstate, "INVALID");
    let syn_ack = flow
        .packets
        .iter()
        .find(|p| p.what.starts_with("TCP SYN-ACK"))
        .unwrap();
    let client_ingress = syn_ack.hops.last().unwrap();
    assert_eq!(client_ingress.trace.ctstate, "ESTABLISHED");
}

#[test]
fn real_server_without_the_vip_pair_gets_it_proposed() {
    let mut sc = builtin();
    let rs1 = port_id(&sc, "rs-1");
    sc.cloud
        .port_mut(&rs1)
        .unwrap()
        .allowed_address_pairs
        .clear();
    let fix = find_fix(&sc, &run(&sc).unwrap()).unwrap();
    assert!(fix.recheck.passed(), "{:?}", fix.recheck.drops().next());
    assert!(fix.changes.iter().any(|c| matches!(&c.change,
        Change::AddAllowedAddressPair { port, ip_address, .. }
            if port == "rs-1" && ip_address.to_string() == "203.0.113.241/32")));
}

#[test]
fn client_outside_the_group_needs_a_service_rule() {
    let mut sc = builtin();
    // The client gets its own group that only allows egress, like a VM of
    // another tenant: it is no longer in the LB group's remote-group ipset.
    let client = port_id(&sc, "client-1");
    sc.cloud.security_groups.push(SecurityGroup {
        id: "c0ffee00-0000-4000-8000-000000000001".into(),
        name: "client".into(),
        stateful: true,
        rules: vec![SecurityGroupRule {
            id: "c0ffee00-0000-4000-8000-000000000002".into(),
            security_group_id: "c0ffee00-0000-4000-8000-000000000001".into(),
            direction: RuleDirection::Egress,
            standard_attr_id: Some(1),
            ..Default::default()
        }],
    });
    sc.cloud.port_mut(&client).unwrap().security_groups =
        vec!["c0ffee00-0000-4000-8000-000000000001".into()];
    let report = run(&sc).unwrap();
    let (_, pkt, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert!(pkt.what.starts_with("TCP SYN "), "{}", pkt.what);
    assert_eq!(d.kind, DropKind::IngressPolicy, "{d:?}");
    assert!(d.chain.ends_with("sg-fallback"));
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    assert!(fix.changes.iter().any(|c| c.command.contains(
        "security group rule create --ingress --ethertype IPv4 --protocol tcp --dst-port 80 --remote-ip 0.0.0.0/0"
    )));
}

#[test]
fn host_settings_are_reported() {
    let mut sc = builtin();
    let d1 = port_id(&sc, "director-1");
    let zero_pair = Change::AddAllowedAddressPair {
        port_id: d1,
        port: "director-1".into(),
        ip_address: "0.0.0.0/0".parse().unwrap(),
        mac_address: None,
    };
    sc = with_changes(&sc, &[zero_pair]);
    sc.real_servers[0].settings.vip_on_lo = false;
    sc.real_servers[1].settings.arp_ignore = 0;
    let report = run(&sc).unwrap();
    assert!(report
        .drops()
        .any(|(_, _, d)| d.kind == DropKind::Host && d.reason.contains("on lo")));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("arp_ignore=0")));
}

#[test]
fn arp_for_a_vip_without_pair_is_dropped_by_arp_protection() {
    let mut sc = builtin();
    let d1 = port_id(&sc, "director-1");
    sc.cloud
        .port_mut(&d1)
        .unwrap()
        .allowed_address_pairs
        .clear();
    let report = run(&sc).unwrap();
    let (_, _, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Arp)
        .unwrap();
    assert_eq!(d.kind, DropKind::ArpSpoof);
    assert!(d.reason.contains("203.0.113.241"));
}

#[test]
fn external_clients_need_the_service_rule_the_report_added() {
    // Clients behind the router are in no remote group: the SYN dies at the
    // director's ingress, as in the report before its tcp/80 rule.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/lvs-dr-external/scenario.yaml");
    let sc = Scenario::load(&path).expect("example loads");
    assert!(sc.clients[0].external);
    let report = run(&sc).unwrap();
    let (_, pkt, d) = report
        .drops()
        .find(|(f, _, _)| f.category == Category::Service)
        .unwrap();
    assert!(
        pkt.what.starts_with("TCP SYN 198.51.100.1:"),
        "{}",
        pkt.what
    );
    assert_eq!(d.kind, DropKind::IngressPolicy);
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed());
    let commands: Vec<&str> = fix.changes.iter().map(|c| c.command.as_str()).collect();
    assert!(
        commands.iter().any(|c| c.contains(
            "--ingress --ethertype IPv4 --protocol tcp --dst-port 80 --remote-ip 198.51.100.0/24"
        )),
        "{commands:?}"
    );
    assert!(commands
        .iter()
        .any(|c| c.contains("--allowed-address ip-address=198.51.100.0/24")));
    assert!(!commands.iter().any(|c| c.contains("0.0.0.0/0")));
}

#[test]
fn election_by_priority_then_higher_primary_ip() {
    let mut sc = builtin();
    let order = |sc: &Scenario| -> Vec<String> {
        sc.directors_by_election()
            .iter()
            .map(|d| sc.port(&d.port_id).name.clone())
            .collect()
    };
    assert_eq!(order(&sc), ["director-1", "director-2"]);
    // Equal priorities: the higher primary IP (.7 over .5) wins, as in keepalived.
    for d in &mut sc.directors {
        d.config.vrrp_instances[0].priority = 100;
    }
    assert_eq!(order(&sc), ["director-2", "director-1"]);
}
