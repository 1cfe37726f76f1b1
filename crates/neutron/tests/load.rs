//! Loader tests: API shapes, CLI `show -f json` shapes, error messages, round trip,
//! and no panics on arbitrary input.

use neutron::{load_json, Cloud, Ethertype, LoadError, RuleDirection};
use proptest::prelude::*;

const API: &str = r#"{
 "ports": [{
  "id": "3f2a0000-0000-4000-8000-000000000001", "name": "director-1",
  "network_id": "net-1", "binding:host_id": "compute-1", "mac_address": "FA:16:3E:00:00:05",
  "fixed_ips": [{"subnet_id": "sub-1", "ip_address": "203.0.113.5"}],
  "allowed_address_pairs": [{"ip_address": "203.0.113.241", "mac_address": "fa:16:3e:00:00:05"},
                            {"ip_address": "10.0.0.201/30"}],
  "security_groups": ["sg-1"], "device_owner": "compute:nova", "extra": {"ignored": true}
 }],
 "security_groups": [{"id": "sg-1", "name": "web", "security_group_rules": [
   {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
    "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0",
    "remote_group_id": null, "standard_attr_id": 17, "security_group_id": "sg-1"}]}],
 "subnets": [{"id": "sub-1", "name": "s", "network_id": "net-1", "cidr": "203.0.113.0/24",
              "ip_version": 4, "gateway_ip": "203.0.113.1"}],
 "networks": [{"id": "net-1", "name": "n"}]
}"#;

#[test]
fn api_lists_load() {
    let c = load_json(API, "neutron.json").unwrap();
    let p = c.port("director-1").unwrap();
    assert_eq!(p.mac_address, "fa:16:3e:00:00:05");
    assert_eq!(p.host_id, "compute-1");
    assert!(p.port_security_enabled);
    assert_eq!(
        p.allowed_address_pairs[1].ip_address.to_string(),
        "10.0.0.201/30"
    );
    assert_eq!(p.allowed_address_pairs[1].mac_address, None);
    let g = c.group("web").unwrap();
    assert!(g.stateful);
    assert_eq!(g.rules[0].direction, RuleDirection::Ingress);
    assert_eq!(g.rules[0].ethertype, Ethertype::IPv4);
    assert_eq!(g.rules[0].port_range_min, Some(80));
    assert_eq!(g.rules[0].standard_attr_id, Some(17));
    assert_eq!(c.subnets[0].gateway_ip.unwrap().to_string(), "203.0.113.1");
}

#[test]
fn round_trip_through_to_json() {
    let c = load_json(API, "neutron.json").unwrap();
    let text = serde_json::to_string(&c.to_json()).unwrap();
    let back = load_json(&text, "again.json").unwrap();
    assert_eq!(c, back);
}

#[test]
fn single_object_responses() {
    let c = load_json(
        r#"{"port": {"id": "p1", "mac_address": "fa:16:3e:00:00:01"}}"#,
        "x",
    )
    .unwrap();
    assert_eq!(c.ports.len(), 1);
    let c = load_json(
        r#"{"security_group": {"id": "g1", "stateful": false}}"#,
        "x",
    )
    .unwrap();
    assert!(!c.security_groups[0].stateful);
}

#[test]
fn cli_port_show_formatted_strings() {
    let text = r#"{"id": "p1", "name": "director-1", "binding_host_id": "compute-1",
      "mac_address": "fa:16:3e:00:00:05",
      "allowed_address_pairs": "ip_address='203.0.113.241', mac_address='fa:16:3e:aa:bb:cc'\nip_address='0.0.0.0/0', mac_address='fa:16:3e:00:00:05'",
      "fixed_ips": "ip_address='203.0.113.5', subnet_id='sub-1'",
      "security_group_ids": "sg-1, sg-2", "port_security_enabled": false}"#;
    let c = load_json(text, "show.json").unwrap();
    let p = &c.ports[0];
    assert_eq!(p.host_id, "compute-1");
    assert_eq!(p.allowed_address_pairs.len(), 2);
    assert_eq!(
        p.allowed_address_pairs[1].ip_address.to_string(),
        "0.0.0.0/0"
    );
    assert_eq!(p.fixed_ips[0].subnet_id, "sub-1");
    assert_eq!(p.security_groups, vec!["sg-1", "sg-2"]);
    assert!(!p.port_security_enabled);
}

#[test]
fn cli_show_list_of_objects() {
    let text = r#"[
      {"id": "p1", "binding_host_id": "h", "mac_address": "fa:16:3e:00:00:05",
       "fixed_ips": [{"ip_address": "203.0.113.5", "subnet_id": "s"}],
       "allowed_address_pairs": [{"ip_address": "203.0.113.241", "mac_address": "fa:16:3e:00:00:05"}],
       "security_group_ids": ["g1"]},
      {"id": "g1", "name": "web", "stateful": true, "rules": [
        {"id": "r", "direction": "egress", "ethertype": "IPv6", "protocol": null}]}]"#;
    let c = load_json(text, "cli.json").unwrap();
    assert_eq!(c.ports.len(), 1);
    assert_eq!(c.security_groups[0].rules[0].security_group_id, "g1");
    assert_eq!(c.security_groups[0].rules[0].ethertype, Ethertype::IPv6);
}

#[test]
fn loose_rules_attach_to_groups() {
    let text = r#"{"security_groups": [{"id": "g1"}],
      "security_group_rules": [{"id": "r", "security_group_id": "g1", "direction": "ingress", "ethertype": "IPv4", "protocol": "112"}]}"#;
    let c = load_json(text, "x").unwrap();
    assert_eq!(c.security_groups.len(), 1);
    assert_eq!(
        c.security_groups[0].rules[0].protocol.as_deref(),
        Some("112")
    );
}

#[test]
fn error_names_file_object_and_field() {
    let text = r#"{"ports": [{"id": "3f2a", "name": "director-1",
        "fixed_ips": [{"ip_address": "203.0.113.999"}]}]}"#;
    let e = load_json(text, "neutron.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"neutron.json: port "director-1" (3f2a): field "fixed_ips[0].ip_address": "203.0.113.999" is not an IP address"#
    );
    assert!(matches!(e, LoadError::Field { .. }));
    let e = load_json(r#"{"ports": [{"id": "p", "mac_address": "zz"}]}"#, "f.json").unwrap_err();
    assert!(e.to_string().contains("field \"mac_address\""), "{e}");
    let e = load_json("{\"ports\": [", "f.json").unwrap_err();
    assert!(e.to_string().starts_with("f.json:1:"), "{e}");
    let e = load_json(r#"{"foo": 1}"#, "f.json").unwrap_err();
    assert!(e.to_string().starts_with("f.json:1: "), "{e}");
}

#[test]
fn merge_replaces_by_id() {
    let mut a = load_json(API, "a").unwrap();
    let b = load_json(
        r#"{"port": {"id": "3f2a0000-0000-4000-8000-000000000001", "name": "renamed"}}"#,
        "b",
    )
    .unwrap();
    a.merge(b);
    assert_eq!(a.ports.len(), 1);
    assert_eq!(a.ports[0].name, "renamed");
    assert!(a.port("3f2a").is_some());
    let mut e = Cloud::default();
    e.merge(a.clone());
    assert_eq!(e, a);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            "[a-z0-9:./' ,=-]{0,20}",
            Just("ip_address='1.2.3.4', mac_address='x".to_string()),
            Just("203.0.113.5".to_string()),
            Just("fa:16:3e:00:00:01".to_string())
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("ports"),
            Just("port"),
            Just("security_groups"),
            Just("id"),
            Just("fixed_ips"),
            Just("allowed_address_pairs"),
            Just("ip_address"),
            Just("mac_address"),
            Just("rules"),
            Just("security_group_rules"),
            Just("direction"),
            Just("port_range_min"),
            Just("cidr"),
            Just("subnets"),
            Just("networks"),
            Just("stateful"),
            Just("security_group_ids")
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys.prop_map(String::from), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_on_json_like_input(v in json_value()) {
        let _ = load_json(&v.to_string(), "fuzz.json");
    }

    #[test]
    fn never_panics_on_text(s in "\\PC{0,200}") {
        let _ = load_json(&s, "fuzz.json");
    }
}
