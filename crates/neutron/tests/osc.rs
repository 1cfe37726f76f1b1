//! The real `openstack` CLI's `show -f json` output loads into the model the
//! API's list responses of the same cloud give.
//!
//! fixtures/osc/ was captured from python-openstackclient 10.5.0 against the
//! real neutron-server 29.0.0 (conformance/cloud, the field report's cloud):
//! show/ holds `openstack {network,subnet,port,security group} show -f json`
//! as the project member, except port-director-1-admin.json (as admin, so
//! `binding_host_id` and `binding_vif_type` are set); api/ holds GET
//! /v2.0/{networks,subnets,ports,security-groups} as the member at the same
//! moment, and GET /v2.0/ports?id= of director-1 as admin.

use std::path::PathBuf;

use neutron::{load_file, load_files, load_json, Cloud, Ethertype, RuleDirection};
use serde_json::Value;

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/osc")
        .join(rel)
}

fn read(rel: &str) -> (String, String) {
    let text = std::fs::read_to_string(path(rel)).unwrap();
    (text, rel.to_string())
}

const SHOW: [&str; 5] = [
    "show/network.json",
    "show/subnet.json",
    "show/security-group-default.json",
    "show/port-director-1.json",
    "show/port-router-1.json",
];
const API: [&str; 4] = [
    "api/networks.json",
    "api/subnets.json",
    "api/ports.json",
    "api/security-groups.json",
];

fn load(files: &[&str]) -> Cloud {
    load_files(&files.iter().map(|f| read(f)).collect::<Vec<_>>()).unwrap()
}

/// Every object of `cli` is in `api` and equal to it (rules in id order).
fn assert_same_objects(cli: &Cloud, api: &Cloud) {
    for n in &cli.networks {
        assert_eq!(Some(n), api.network(&n.id), "network {}", n.name);
    }
    for s in &cli.subnets {
        assert_eq!(Some(s), api.subnet(&s.id), "subnet {}", s.name);
    }
    for p in &cli.ports {
        assert_eq!(Some(p), api.port(&p.id), "port {}", p.name);
    }
    for g in &cli.security_groups {
        let sorted = |g: &neutron::SecurityGroup| {
            let mut g = g.clone();
            g.rules.sort_by(|a, b| a.id.cmp(&b.id));
            g
        };
        let a = api.group(&g.id).expect("group in the API lists");
        assert_eq!(sorted(g), sorted(a), "group {}", g.name);
    }
}

#[test]
fn each_show_file_loads_alone_as_its_kind() {
    for (f, counts) in [
        ("show/network.json", (1, 0, 0, 0)),
        ("show/subnet.json", (0, 1, 0, 0)),
        ("show/security-group-default.json", (0, 0, 0, 1)),
        ("show/port-director-1.json", (0, 0, 1, 0)),
        ("show/port-router-1.json", (0, 0, 1, 0)),
        ("show/port-director-1-admin.json", (0, 0, 1, 0)),
    ] {
        let c = load_file(&path(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let got = (
            c.networks.len(),
            c.subnets.len(),
            c.ports.len(),
            c.security_groups.len(),
        );
        assert_eq!(got, counts, "{f}");
    }
}

#[test]
fn show_files_give_the_api_lists_model() {
    let cli = load(&SHOW);
    let api = load(&API);
    assert_eq!(
        (cli.networks.len(), cli.subnets.len(), cli.ports.len()),
        (1, 1, 2)
    );
    assert_same_objects(&cli, &api);

    // What the CLI renames, read as the API's fields.
    let d = cli.port("director-1").unwrap();
    assert_eq!(d.security_groups, [cli.security_groups[0].id.clone()]);
    assert!(d.port_security_enabled);
    assert_eq!(d.allowed_address_pairs.len(), 1);
    assert_eq!(
        d.allowed_address_pairs[0].ip_address.to_string(),
        "203.0.113.241/32"
    );
    assert_eq!((d.host_id.as_str(), d.vif_type.as_str()), ("", ""));
    let r = cli.port("router-1").unwrap();
    assert!(!r.port_security_enabled && r.security_groups.is_empty());
    assert_eq!(r.device_owner, "network:router_interface");
    let n = &cli.networks[0];
    assert_eq!((n.mtu, n.network_type.as_deref()), (Some(1450), None));
    assert!(!n.router_external);

    // The group's `rules`: the API's rule objects inside the group.
    let g = cli.group("default").unwrap();
    assert_eq!(g.rules.len(), 5);
    let icmp = g
        .rules
        .iter()
        .find(|r| r.protocol.as_deref() == Some("icmp"))
        .unwrap();
    assert_eq!(icmp.direction, RuleDirection::Ingress);
    assert_eq!(icmp.remote_ip_prefix.unwrap().to_string(), "0.0.0.0/0");
    let remote = g
        .rules
        .iter()
        .filter(|r| r.remote_group_id.as_deref() == Some(g.id.as_str()))
        .map(|r| r.ethertype)
        .collect::<Vec<_>>();
    assert_eq!(remote.len(), 2);
    assert!(remote.contains(&Ethertype::IPv4) && remote.contains(&Ethertype::IPv6));
    assert!(g.rules.iter().all(|r| r.security_group_id == g.id));

    // Unknown fields are the same: the member sees no host either way.
    let unknown = |c: &Cloud, id: &str| c.unknown_fields(id);
    assert_eq!(unknown(&cli, &d.id), unknown(&api, &d.id));
    assert_eq!(unknown(&cli, &d.id), ["binding:host_id"]);
    let u = cli.unknown.iter().find(|u| u.id == d.id).unwrap();
    assert_eq!(
        u.read_from,
        ["show/port-director-1.json (`openstack port show -f json`)"]
    );
}

#[test]
fn show_files_and_api_lists_merge_without_conflict() {
    let both = load(&[&API[..], &SHOW[..]].concat());
    let api = load(&API);
    assert_eq!(both.ports.len(), api.ports.len());
    assert_same_objects(&both, &api);
}

#[test]
fn a_json_list_of_show_outputs_and_appended_outputs_load_alike() {
    let docs: Vec<Value> = SHOW
        .iter()
        .map(|f| serde_json::from_str(&read(f).0).unwrap())
        .collect();
    // `jq -s` of the files.
    let list = serde_json::to_string_pretty(&docs).unwrap();
    // `openstack ... show -f json` appended to one file in a loop.
    let appended: String = SHOW.iter().map(|f| read(f).0).collect();
    let one = load(&SHOW);
    for (text, name) in [(list, "all.json"), (appended, "appended.json")] {
        let c = load_json(&text, name).unwrap();
        assert_same_objects(&c, &one);
        assert_eq!(c.ports.len(), 2, "{name}");
    }
}

#[test]
fn admin_show_has_host_and_vif_type_as_the_admin_api() {
    let show = load(&[
        "show/port-director-1-admin.json",
        "show/security-group-default.json",
    ]);
    let api = load(&["api/port-director-1-admin.json", "api/security-groups.json"]);
    let p = &show.ports[0];
    assert_eq!(p.host_id, "compute-1");
    assert_eq!(p.vif_type, "binding_failed");
    assert_eq!(Some(p), api.port(&p.id));
    assert!(show.unknown_fields(&p.id).is_empty());
}

/// Line of the first occurrence of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn unrecognised_documents_name_the_file_and_line() {
    // An `openstack server show -f json` among the inputs.
    let server = r#"{
  "id": "0c5e7a91-2b4d-4f6e-8a0c-1e3f5a7c9b01",
  "name": "vm-1",
  "flavor": "m1.small",
  "addresses": {"tenant-net": ["203.0.113.5"]}
}"#;
    let e = load_json(server, "server.json").unwrap_err().to_string();
    assert!(
        e.starts_with(
            "server.json:1: object with an \"id\" (\"vm-1\" (0c5e7a91-2b4d-4f6e-8a0c-1e3f5a7c9b01)) \
             is not a network, subnet, port, security group or rule"
        ) && e.contains("`openstack network|subnet|port|security group show -f json`"),
        "{e}"
    );

    // In a `jq -s` list: the item's index and line.
    let mut docs: Vec<Value> = SHOW
        .iter()
        .map(|f| serde_json::from_str(&read(f).0).unwrap())
        .collect();
    docs.insert(2, serde_json::from_str(server).unwrap());
    let list = serde_json::to_string_pretty(&docs).unwrap();
    let e = load_json(&list, "all.json").unwrap_err().to_string();
    let line = line_of(&list, "\"addresses\"") - 1;
    assert!(
        e.starts_with(&format!(
            "all.json:{line}: item [2] of the top-level list (\"vm-1\""
        )),
        "{e}"
    );

    // Appended documents: the line where the foreign one starts.
    let appended = format!("{}{server}\n", read("show/network.json").0);
    let e = load_json(&appended, "appended.json")
        .unwrap_err()
        .to_string();
    let line = line_of(&appended, "\"id\": \"0c5e7a91") - 1;
    assert!(e.starts_with(&format!("appended.json:{line}: ")), "{e}");

    // A bad field in the second document of a file: its line too.
    let bad = read("show/port-router-1.json")
        .0
        .replace("\"mac_address\": \"fa:16:3e", "\"mac_address\": \"zz:16:3e");
    let first = read("show/port-director-1.json").0;
    let appended = format!("{first}{bad}");
    let e = load_json(&appended, "ports.json").unwrap_err().to_string();
    let line = first.trim_end().matches('\n').count() + 2;
    assert!(
        e.starts_with(&format!("ports.json:{line}: port \"router-1\""))
            && e.contains("mac_address"),
        "{e}"
    );

    // Not JSON: serde's line and column.
    let e = load_json("{\n \"id\": \"x\",\n}", "broken.json")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("broken.json:3:"), "{e}");
}
