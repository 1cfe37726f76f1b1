//! `check` on ML2/OVN: the field report's drops and fix as OVN decides them,
//! the report's remedies weighed there, and the VIP's virtual port.

use check::diagnose::DropKind;
use check::fix::{find_fix, Change};
use check::{run, Scenario};
use neutron::firewall::FirewallDriver;
use neutron::model::{FixedIp, Port};

fn field_report_on_ovn() -> Scenario {
    let mut sc = Scenario::builtin().unwrap();
    sc.driver = FirewallDriver::Ovn;
    sc
}

#[test]
fn ovn_needs_more_than_the_hybrid_fix() {
    let sc = field_report_on_ovn();
    let report = run(&sc).unwrap();
    assert!(!report.passed());
    assert!(report
        .drops()
        .all(|(_, _, d)| d.kind == DropKind::AntiSpoof));
    let fix = find_fix(&sc, &report).unwrap();
    assert!(fix.recheck.passed(), "the OVN fix passes its re-check");
    assert!(fix
        .changes
        .iter()
        .any(|c| matches!(c.change, Change::UseStatelessGroup { .. })));
    let remedy = |name: &str| fix.remedies.iter().find(|r| r.name.contains(name)).unwrap();
    // The hybrid fix alone: the client's ACK dies at the ct.inv flow.
    let pair = remedy("5.3 (1)");
    assert!(!pair.works);
    assert!(pair.why_not.as_deref().unwrap().contains("priority 65532"));
    // Foreign pair MACs are refused by the API, never tried.
    let macs = remedy("5.3 (2)");
    assert!(macs
        .why_not
        .as_deref()
        .unwrap()
        .contains("InvalidVirtualMACAddress"));
    // Port security off still meets conntrack.
    assert!(remedy("port_security_enabled=false")
        .why_not
        .as_deref()
        .unwrap()
        .contains("INVALID"));
    // The same scenario on iptables_hybrid: the pair is enough.
    let mut hybrid = sc.clone();
    hybrid.driver = FirewallDriver::IptablesHybrid;
    let r = run(&hybrid).unwrap();
    let f = find_fix(&hybrid, &r).unwrap();
    assert!(
        f.remedies
            .iter()
            .find(|r| r.name.contains("5.3 (1)"))
            .unwrap()
            .works
    );
}

#[test]
fn a_vip_port_becomes_virtual_with_every_pair_holder_as_parent() {
    let mut sc = field_report_on_ovn();
    let report = run(&sc).unwrap();
    assert!(report
        .backend
        .iter()
        .any(|n| n.contains("has no Neutron port")));
    let d1 = sc.cloud.port("director-1").unwrap().clone();
    sc.cloud.ports.push(Port {
        id: "0f0f0f0f-0000-4000-8000-000000000241".into(),
        name: "vip".into(),
        network_id: d1.network_id.clone(),
        mac_address: "fa:16:3e:00:02:41".into(),
        fixed_ips: vec![FixedIp {
            subnet_id: d1.fixed_ips[0].subnet_id.clone(),
            ip_address: "203.0.113.241".parse().unwrap(),
        }],
        ..Default::default()
    });
    let report = run(&sc).unwrap();
    let note = report
        .backend
        .iter()
        .find(|n| n.contains("type virtual"))
        .expect("a virtual port note");
    // The real servers hold the VIP pair too: a GARP from one would take it.
    for p in ["director-1", "director-2", "rs-1", "rs-4"] {
        assert!(note.contains(p), "{p} in {note}");
    }
}

/// ML2/OVN refuses a single-address pair equal to the metadata port's fixed IP
/// on the same network; a wider pair passes that check.
#[test]
fn a_pair_on_the_metadata_address_is_refused() {
    use check::fix::refused;
    let mut sc = field_report_on_ovn();
    let d1 = sc.cloud.port("director-1").unwrap().clone();
    sc.cloud.ports.push(Port {
        id: "0f0f0f0f-0000-4000-8000-000000000002".into(),
        name: "metadata".into(),
        network_id: d1.network_id.clone(),
        device_owner: "network:distributed".into(),
        mac_address: "fa:16:3e:00:00:02".into(),
        fixed_ips: vec![FixedIp {
            subnet_id: d1.fixed_ips[0].subnet_id.clone(),
            ip_address: "203.0.113.2".parse().unwrap(),
        }],
        ..Default::default()
    });
    let pair = |ip: &str| Change::AddAllowedAddressPair {
        port_id: d1.id.clone(),
        port: "director-1".into(),
        ip_address: ip.parse().unwrap(),
        mac_address: None,
    };
    assert!(refused(&sc, &pair("203.0.113.2/32"))
        .unwrap()
        .contains("metadata port"));
    assert!(refused(&sc, &pair("0.0.0.0/0")).is_none());
    sc.driver = FirewallDriver::IptablesHybrid;
    assert!(refused(&sc, &pair("203.0.113.2/32")).is_none());
}
