//! Snapshot and property tests of the drawn formats on the built-in field-report
//! scenario, on both firewall backends (iptables_hybrid and ML2/OVN).
//!
//! Snapshots live in tests/snapshots; after an intended change run
//! `INSTA_UPDATE=always cargo test -p report` (or `cargo insta review`) and read the diff.

use check::fix::find_fix;
use check::{CheckReport, Scenario};
use neutron::firewall::FirewallDriver;
use report::{render, Input, Kind};

fn builtin(driver: FirewallDriver) -> (Scenario, CheckReport) {
    let mut sc = Scenario::builtin().unwrap();
    sc.driver = driver;
    let r = check::run(&sc).unwrap();
    (sc, r)
}

fn input<'a>(sc: &'a Scenario, r: &'a CheckReport) -> Input<'a> {
    Input {
        scenario: sc,
        check: r,
        fix: None,
    }
}

#[test]
fn dot_hybrid_snapshot() {
    let (sc, r) = builtin(FirewallDriver::IptablesHybrid);
    insta::assert_snapshot!(render(Kind::Dot, input(&sc, &r)));
}

#[test]
fn dot_ovn_snapshot() {
    let (sc, r) = builtin(FirewallDriver::Ovn);
    insta::assert_snapshot!(render(Kind::Dot, input(&sc, &r)));
}

#[test]
fn svg_hybrid_snapshot() {
    let (sc, r) = builtin(FirewallDriver::IptablesHybrid);
    insta::assert_snapshot!(render(Kind::Svg, input(&sc, &r)));
}

#[test]
fn svg_ovn_names_the_logical_flow() {
    let (sc, r) = builtin(FirewallDriver::Ovn);
    let svg = render(Kind::Svg, input(&sc, &r));
    assert!(svg.contains(r#"class="leg drop""#));
    assert!(
        svg.contains("ls_in_apply_port_sec"),
        "the OVN stage is named"
    );
    assert!(svg.contains("priority=50, match=(reg0[15] == 1), action=(drop;)"));
    assert!(svg.contains("is not allowed by the port_security of logical port director-1"));
}

#[test]
fn svg_hybrid_draws_the_dropping_rule_in_red() {
    let (sc, r) = builtin(FirewallDriver::IptablesHybrid);
    let svg = render(Kind::Svg, input(&sc, &r));
    let drop_leg = svg
        .lines()
        .find(|l| l.contains(r#"class="leg drop""#))
        .expect("a red leg");
    assert!(drop_leg.contains(r##"stroke="#cf222e""##));
    assert!(drop_leg.contains(r#"data-from="director-1""#));
    assert!(svg.contains("DROP: neutron-openvswi-s236e03f1-b rule 3"));
    // The rule's own text (escaped quotes) and the plain-words reason.
    assert!(
        svg.contains("--comment &quot;Drop traffic without an IP/MAC allow rule.&quot; -j DROP")
    );
    assert!(svg.contains("DR forwarding keeps the client&#39;s source IP"));
    assert_well_formed(&svg);
}

#[test]
fn fixed_check_is_all_green() {
    let (sc, r) = builtin(FirewallDriver::IptablesHybrid);
    let fix = find_fix(&sc, &r).unwrap();
    let after = check::fix::with_changes(
        &sc,
        &fix.changes
            .iter()
            .map(|c| c.change.clone())
            .collect::<Vec<_>>(),
    );
    let svg = render(Kind::Svg, input(&after, &fix.recheck));
    assert!(!svg.contains(r#"class="leg drop""#));
    assert!(svg.contains(r#"class="leg pass""#));
    let dot = render(Kind::Dot, input(&after, &fix.recheck));
    assert!(!dot.contains("vw_state=\"drop\""));
}

/// Tags balance and attributes are quoted: a tiny check, no XML library.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        assert_eq!(tag.matches('"').count() % 2, 0, "quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "closing </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}
