//! The Northbound rows in the normalised JSON form that
//! `conformance/ovn/normalise_nb.py` makes of the real NB (docs/conformance-ovn.md):
//! one list per table, empty columns left out (booleans and integers kept,
//! also false and 0), sets as sorted lists, maps as objects with every entry
//! (also those with an empty value), UUID references replaced by names
//! (a DHCP_Options row by `dhcp:<cidr>`), ACLs named by their key
//! `"<direction> <priority> <match> <action>"`.
//!
//! Columns written, per table, and where their values come from (neutron
//! 29.0.0 with OVN 23.03; file and function of Neutron in each doc comment):
//!
//! - `logical_switches`: `name`, `ports`, `external_ids` and `other_config`
//!   (`switch_columns` in `mod.rs`: network name, MTU, revision, AZ hints,
//!   network type; IGMP and VLAN-transparency settings at their defaults).
//! - `logical_switch_ports`: `name`, `type`, `addresses`, `port_security`,
//!   `enabled`, `options`, `parent_name`, `tag`, `ha_chassis_group`, `dhcpv4_options`,
//!   `dhcpv6_options`, `external_ids` (`lsp.rs`). Left out as the normaliser
//!   does: `up` and `dynamic_addresses` (written by northd).
//! - `port_groups`: `name`, `ports`, `acls`, `external_ids`
//!   (`neutron:security_group_id`; none on `neutron_pg_drop`).
//! - `acls`: `key`, `direction`, `priority`, `match`, `action`, `log` (false),
//!   `label` (0, OVN's default), `external_ids`
//!   (`neutron:security_group_rule_id` on rule ACLs) (`acl.rs`).
//! - `address_sets`: none. Neutron 29.0.0 writes no Address_Set for security
//!   groups (northd derives `$pg_<id>_ip4/6` from the port groups); address
//!   groups, which would have them, are refused by the loader.
//!
//! Defaults used where the Neutron input lacks a value (documented at the
//! constants): network MTU [`super::DEFAULT_MTU`], revision numbers
//! [`super::DEFAULT_REVISION`]; configuration as a production ML2/OVN has it
//! by default (no IGMP snooping, `rarp` live-migration activation, DHCP for
//! baremetal ports, OVN new enough that `mcast_flood_reports` is not written).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::Northbound;

fn sorted(mut v: Vec<String>) -> Value {
    v.sort();
    v.dedup();
    json!(v)
}

fn map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// A DHCP_Options reference as the normaliser names it.
fn dhcp_ref(cidr: &Option<String>) -> String {
    cidr.as_ref()
        .map(|c| format!("dhcp:{c}"))
        .unwrap_or_default()
}

fn put(row: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        row.insert(key.to_string(), value);
    }
}

/// The whole Northbound document.
pub fn northbound_json(nb: &Northbound) -> Value {
    let switches: Vec<Value> = nb
        .switches
        .iter()
        .map(|s| {
            let mut row = Map::new();
            put(&mut row, "name", json!(s.name));
            put(&mut row, "ports", sorted(s.ports.clone()));
            put(&mut row, "external_ids", map(&s.external_ids));
            put(&mut row, "other_config", map(&s.other_config));
            Value::Object(row)
        })
        .collect();
    let mut ports: Vec<Value> = nb
        .ports
        .iter()
        .map(|p| {
            let mut row = Map::new();
            put(&mut row, "name", json!(p.name));
            put(&mut row, "addresses", sorted(p.addresses.clone()));
            put(&mut row, "port_security", sorted(p.port_security.clone()));
            let options: Map<String, Value> = p
                .options
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            put(&mut row, "options", Value::Object(options));
            put(&mut row, "type", json!(p.lsp_type));
            put(&mut row, "enabled", json!(p.enabled));
            put(&mut row, "external_ids", map(&p.external_ids));
            put(
                &mut row,
                "dhcpv4_options",
                json!(dhcp_ref(&p.dhcpv4_options)),
            );
            put(
                &mut row,
                "dhcpv6_options",
                json!(dhcp_ref(&p.dhcpv6_options)),
            );
            put(&mut row, "parent_name", json!(p.parent_name));
            if let Some(tag) = p.tag {
                put(&mut row, "tag", json!(tag));
            }
            put(&mut row, "ha_chassis_group", json!(p.ha_chassis_group));
            Value::Object(row)
        })
        .collect();
    ports.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut groups: Vec<Value> = nb
        .port_groups
        .iter()
        .map(|g| {
            let mut row = Map::new();
            put(&mut row, "name", json!(g.name));
            put(&mut row, "ports", sorted(g.ports.clone()));
            let acls = nb
                .acls
                .iter()
                .filter(|a| a.port_group == g.name)
                .map(|a| a.key())
                .collect();
            put(&mut row, "acls", sorted(acls));
            put(&mut row, "external_ids", map(&g.external_ids));
            Value::Object(row)
        })
        .collect();
    groups.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut acls: Vec<Value> = nb
        .acls
        .iter()
        .map(|a| {
            let mut row = Map::new();
            put(&mut row, "key", json!(a.key()));
            put(&mut row, "direction", json!(a.direction.as_str()));
            put(&mut row, "priority", json!(a.priority));
            put(&mut row, "match", json!(a.match_text));
            put(&mut row, "action", json!(a.action.as_str()));
            put(&mut row, "log", json!(a.log));
            put(&mut row, "label", json!(a.label));
            if let Some(id) = &a.rule_id {
                put(
                    &mut row,
                    "external_ids",
                    json!({"neutron:security_group_rule_id": id}),
                );
            }
            Value::Object(row)
        })
        .collect();
    acls.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    acls.dedup();
    json!({
        "logical_switches": switches,
        "logical_switch_ports": ports,
        "port_groups": groups,
        "acls": acls,
        "address_sets": [],
    })
}

/// A readable listing, like `ovn-nbctl show` plus the port groups and ACLs.
pub fn northbound_text(nb: &Northbound) -> String {
    let mut out = String::new();
    for s in &nb.switches {
        let _ = writeln!(out, "switch {} (network {})", s.name, s.network_id);
        for p in s.ports.iter().filter_map(|p| nb.port(p)) {
            let _ = writeln!(out, "    port {}", p.name);
            if !p.lsp_type.is_empty() {
                let _ = writeln!(out, "        type: {}", p.lsp_type);
            }
            if !p.enabled {
                let _ = writeln!(out, "        enabled: false");
            }
            let _ = writeln!(out, "        addresses: {:?}", p.addresses);
            if !p.port_security.is_empty() {
                let _ = writeln!(out, "        port_security: {:?}", p.port_security);
            }
            for (k, v) in &p.options {
                let _ = writeln!(out, "        options:{k}={v}");
            }
        }
    }
    for g in &nb.port_groups {
        let _ = writeln!(out, "port_group {} ports: {:?}", g.name, g.ports);
        for a in nb.acls.iter().filter(|a| a.port_group == g.name) {
            let _ = writeln!(
                out,
                "    {:<10} {:>5} ({}) {}{}",
                a.direction.as_str(),
                a.priority,
                a.match_text,
                a.action.as_str(),
                a.rule_id
                    .as_ref()
                    .map(|r| format!("  # neutron:security_group_rule_id={r}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
