//! Rule provenance: every rule the hybrid renderer prints has an origin, and the
//! rules that decide drops name the Neutron object behind them.

use neutron::firewall::iptables_hybrid::{port_chain, render_host};
use neutron::firewall::provenance::{Origin, PairSource, RuleRef};
use neutron::RuleDirection;

fn field_report() -> neutron::Cloud {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lvs-dr/neutron.json"),
    )
    .unwrap();
    neutron::load_json(&text, "neutron.json").unwrap()
}

/// (family, table, chain, rule number) of every `-A` line of a save.
fn rules_of(save: &str, family: u8) -> Vec<(u8, String, String, usize)> {
    let mut table = String::new();
    let mut count: std::collections::BTreeMap<String, usize> = Default::default();
    let mut out = Vec::new();
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            count.clear();
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap().to_string();
            let n = count.entry(chain.clone()).or_default();
            *n += 1;
            out.push((family, table.clone(), chain, *n));
        }
    }
    out
}

#[test]
fn every_printed_rule_has_an_origin() {
    let cloud = field_report();
    for host in cloud.hosts() {
        let rules = render_host(&cloud, &host).unwrap();
        let all = rules_of(&rules.iptables_save, 4)
            .into_iter()
            .chain(rules_of(&rules.ip6tables_save, 6));
        let mut n = 0;
        for (f, t, c, i) in all {
            assert!(
                !rules.provenance.origins(f, &t, &c, i).is_empty(),
                "{host}: no origin for {t} {c} rule {i} (IPv{f})"
            );
            n += 1;
        }
        assert!(n > 20, "{host}: only {n} rules");
        // One past the last rule has none.
        assert!(rules
            .provenance
            .origins(4, "filter", "neutron-openvswi-sg-fallback", 2)
            .is_empty());
    }
}

#[test]
fn deciding_rules_name_their_neutron_objects() {
    let cloud = field_report();
    let d1 = cloud.port("director-1").unwrap().clone();
    let rules = render_host(&cloud, &d1.host_id).unwrap();
    let s = port_chain('s', &d1.id);
    let chain_rules: Vec<&str> = rules
        .iptables_save
        .lines()
        .filter(|l| l.starts_with(&format!("-A {s} ")))
        .collect();
    // The s chain: the VIP pair, the fixed IP, then the drop.
    assert_eq!(chain_rules.len(), 3, "{chain_rules:?}");
    let o = |i| rules.provenance.origins(4, "filter", &s, i).to_vec();
    assert!(
        matches!(&o(1)[..], [Origin::SourcePair { from: PairSource::AllowedAddressPair, ip: Some(ip), .. }] if ip == "203.0.113.241/32")
    );
    assert!(matches!(
        &o(2)[..],
        [Origin::SourcePair {
            from: PairSource::FixedIp,
            ..
        }]
    ));
    assert!(matches!(&o(3)[..], [Origin::SpoofDrop { port_id }] if *port_id == d1.id));

    assert_eq!(
        rules
            .provenance
            .origins(4, "filter", "neutron-openvswi-sg-fallback", 1),
        [Origin::DefaultDrop]
    );

    // The ingress chain: ESTABLISHED, DHCP replies (provider), the group's rules
    // (naming group and rule ids), INVALID, then the jump to the fallback.
    let i = port_chain('i', &d1.id);
    let origins: Vec<Vec<Origin>> = (1..)
        .map(|n| rules.provenance.origins(4, "filter", &i, n).to_vec())
        .take_while(|o| !o.is_empty())
        .collect();
    assert!(matches!(
        &origins[0][..],
        [Origin::ConntrackEstablished { .. }]
    ));
    assert!(matches!(
        origins.last().unwrap()[..],
        [Origin::NoRuleMatched {
            direction: RuleDirection::Ingress,
            ..
        }]
    ));
    assert!(matches!(
        &origins[origins.len() - 2][..],
        [Origin::ConntrackInvalid { .. }]
    ));
    let group = &cloud.security_groups[0];
    let named: Vec<&RuleRef> = origins
        .iter()
        .flatten()
        .filter_map(|o| match o {
            Origin::GroupRule { rules, .. } => Some(rules),
            _ => None,
        })
        .flatten()
        .collect();
    let icmp = group
        .rules
        .iter()
        .find(|r| r.protocol.as_deref() == Some("icmp"))
        .unwrap();
    assert!(
        named
            .iter()
            .any(|r| r.group_id == group.id && r.rule_id == icmp.id),
        "{named:?}"
    );
    assert!(origins
        .iter()
        .flatten()
        .any(|o| matches!(o, Origin::ProviderRule { .. })));
}
