//! Objects with API field names: Neutron API responses (`GET /v2.0/ports`,
//! `{"port": {...}}`) and the CLI's `show -f json` output (SDK attribute names
//! such as `binding_host_id`, `security_group_ids`, `rules`).

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::read::{
    boolean, dict_list, first, has, integer, opt_string, parse_ip, parse_mac, parse_net,
    required_id, short, string, string_list, Ctx,
};
use super::{Item, Known, LoadError, Obj};
use crate::model::{
    AddressPair, Ethertype, ExtraDhcpOpt, FixedIp, Network, Port, RuleDirection, SecurityGroup,
    SecurityGroupRule, Subnet,
};

/// Marks `field` known (strong) when one of `keys` is present and non-null.
fn mark(known: &mut Known, obj: &Map<String, Value>, field: &'static str, keys: &[&'static str]) {
    if has(obj, keys) {
        known.insert(field, false);
    }
}

const PROJECT: [&str; 2] = ["project_id", "tenant_id"];
const NET_TYPE: [&str; 2] = ["provider:network_type", "provider_network_type"];
const PHYSNET: [&str; 2] = ["provider:physical_network", "provider_physical_network"];
const EXTERNAL: [&str; 2] = ["router:external", "is_router_external"];
const VLAN_TRANSPARENT: [&str; 2] = ["vlan_transparent", "is_vlan_transparent"];
const QINQ: [&str; 2] = ["qinq", "is_vlan_qinq"];
const AZ_HINTS: [&str; 1] = ["availability_zone_hints"];
const NET_SUBNETS: [&str; 2] = ["subnets", "subnet_ids"];

/// An integer field read from the first of `keys` present.
fn integer_of(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
    max: u64,
) -> Result<Option<u64>, LoadError> {
    match first(obj, keys) {
        None => Ok(None),
        Some((k, _)) => integer(cx, obj, k, max),
    }
}

/// `router:external` as the API (a boolean) or the CLI's `show` ("External" /
/// "Internal") prints it.
fn external(cx: &Ctx, obj: &Map<String, Value>) -> Result<bool, LoadError> {
    match first(obj, &EXTERNAL) {
        Some((_, Value::String(s))) if s.eq_ignore_ascii_case("external") => Ok(true),
        Some((_, Value::String(s))) if s.eq_ignore_ascii_case("internal") => Ok(false),
        _ => boolean(cx, obj, &EXTERNAL, false),
    }
}

pub(crate) fn network(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<Network>, LoadError> {
    let mut known = Known::new();
    mark(&mut known, obj, "name", &["name"]);
    mark(&mut known, obj, "mtu", &["mtu"]);
    mark(&mut known, obj, "revision_number", &["revision_number"]);
    mark(&mut known, obj, "project_id", &PROJECT);
    mark(&mut known, obj, "provider:network_type", &NET_TYPE);
    mark(&mut known, obj, "provider:physical_network", &PHYSNET);
    mark(&mut known, obj, "router:external", &EXTERNAL);
    mark(&mut known, obj, "vlan_transparent", &VLAN_TRANSPARENT);
    mark(&mut known, obj, "qinq", &QINQ);
    mark(&mut known, obj, "availability_zone_hints", &AZ_HINTS);
    mark(&mut known, obj, "subnets", &NET_SUBNETS);
    mark(
        &mut known,
        obj,
        "ipv4_address_scope",
        &["ipv4_address_scope"],
    );
    mark(
        &mut known,
        obj,
        "ipv6_address_scope",
        &["ipv6_address_scope"],
    );
    Ok(Obj::new(
        Network {
            id: required_id(cx, obj, "id")?,
            name: string(cx, obj, &["name"])?,
            mtu: integer_of(cx, obj, &["mtu"], u64::from(u32::MAX))?.map(|n| n as u32),
            revision_number: integer_of(cx, obj, &["revision_number"], u64::MAX)?,
            project_id: string(cx, obj, &PROJECT)?,
            network_type: opt_string(cx, obj, &NET_TYPE)?,
            physical_network: opt_string(cx, obj, &PHYSNET)?,
            router_external: external(cx, obj)?,
            vlan_transparent: boolean(cx, obj, &VLAN_TRANSPARENT, false)?,
            qinq: boolean(cx, obj, &QINQ, false)?,
            availability_zone_hints: string_list(cx, obj, &AZ_HINTS)?.0,
            subnets: string_list(cx, obj, &NET_SUBNETS)?.0,
            ipv4_address_scope: opt_string(cx, obj, &["ipv4_address_scope"])?,
            ipv6_address_scope: opt_string(cx, obj, &["ipv6_address_scope"])?,
        },
        known,
    ))
}

/// Key names of a subnet's fields in one input form.
pub(crate) struct SubnetKeys {
    pub id: &'static str,
    pub name: &'static str,
    pub network_id: &'static str,
    pub cidr: &'static str,
    pub ip_version: &'static str,
    pub gateway_ip: &'static str,
    pub enable_dhcp: &'static str,
    pub ipv6_address_mode: &'static str,
    pub subnetpool_id: &'static str,
}

pub(crate) const API_SUBNET: SubnetKeys = SubnetKeys {
    id: "id",
    name: "name",
    network_id: "network_id",
    cidr: "cidr",
    ip_version: "ip_version",
    gateway_ip: "gateway_ip",
    enable_dhcp: "enable_dhcp",
    ipv6_address_mode: "ipv6_address_mode",
    subnetpool_id: "subnetpool_id",
};

pub(crate) fn subnet(
    cx: &Ctx,
    obj: &Map<String, Value>,
    k: &SubnetKeys,
) -> Result<Obj<Subnet>, LoadError> {
    let id = required_id(cx, obj, k.id)?;
    let cidr_text = string(cx, obj, &[k.cidr])?;
    if cidr_text.is_empty() {
        return Err(cx.err(k.cidr, "missing"));
    }
    let cidr = parse_net(cx, k.cidr, &cidr_text)?;
    let ip_version = match integer(cx, obj, k.ip_version, 255)? {
        Some(4) => 4,
        Some(6) => 6,
        Some(n) => return Err(cx.err(k.ip_version, format!("{n} is not 4 or 6"))),
        None => match cidr {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        },
    };
    let family_ok = matches!((ip_version, cidr), (4, IpNet::V4(_)) | (6, IpNet::V6(_)));
    if !family_ok {
        return Err(cx.err(k.cidr, format!("\"{cidr_text}\" is not IPv{ip_version}")));
    }
    let gateway_ip = match opt_string(cx, obj, &[k.gateway_ip])? {
        None => None,
        Some(gw) => Some(parse_ip(cx, k.gateway_ip, &gw)?),
    };
    let mut known = Known::new();
    mark(&mut known, obj, "name", &[k.name]);
    mark(&mut known, obj, "network_id", &[k.network_id]);
    known.insert("cidr", false);
    known.insert("ip_version", false);
    // A subnet without a gateway has `gateway_ip: null`: present means known.
    if obj.contains_key(k.gateway_ip) {
        known.insert("gateway_ip", false);
    }
    Ok(Obj::new(
        Subnet {
            id,
            name: string(cx, obj, &[k.name])?,
            network_id: string(cx, obj, &[k.network_id])?,
            cidr,
            ip_version,
            gateway_ip,
            enable_dhcp: boolean(cx, obj, &[k.enable_dhcp], true)?,
            ipv6_address_mode: opt_string(cx, obj, &[k.ipv6_address_mode])?,
            subnetpool_id: opt_string(cx, obj, &[k.subnetpool_id])?,
        },
        known,
    ))
}

pub(crate) fn fixed_ips(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<Vec<FixedIp>, LoadError> {
    let mut out = Vec::new();
    for (i, d) in dict_list(cx, obj, &[key])?.iter().enumerate() {
        let field = format!("{key}[{i}].ip_address");
        let ip = match d.get("ip_address") {
            Some(Value::String(s)) => parse_ip(cx, &field, s)?,
            None | Some(Value::Null) => return Err(cx.err(&field, "missing")),
            Some(other) => return Err(cx.err(&field, format!("{} is not a string", short(other)))),
        };
        let subnet_id = match d.get("subnet_id") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => {
                return Err(cx.err(
                    &format!("{key}[{i}].subnet_id"),
                    format!("{} is not a string", short(other)),
                ))
            }
        };
        out.push(FixedIp {
            subnet_id,
            ip_address: ip,
        });
    }
    Ok(out)
}

fn address_pairs(cx: &Ctx, obj: &Map<String, Value>) -> Result<Vec<AddressPair>, LoadError> {
    let mut out = Vec::new();
    for (i, d) in dict_list(cx, obj, &["allowed_address_pairs"])?
        .iter()
        .enumerate()
    {
        let field = format!("allowed_address_pairs[{i}].ip_address");
        let ip_text = d
            .get("ip_address")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string());
        let ip_address = match d.get("ip_address") {
            Some(Value::String(s)) => parse_net(cx, &field, s)?,
            None | Some(Value::Null) => return Err(cx.err(&field, "missing")),
            Some(other) => return Err(cx.err(&field, format!("{} is not a string", short(other)))),
        };
        let mfield = format!("allowed_address_pairs[{i}].mac_address");
        let mac_address = match d.get("mac_address") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            // Stored as given (Neutron keeps the pair MAC's case); only checked.
            Some(Value::String(s)) => {
                parse_mac(cx, &mfield, s)?;
                Some(s.trim().to_string())
            }
            Some(other) => return Err(cx.err(&mfield, format!("{} is not a string", short(other)))),
        };
        out.push(AddressPair {
            ip_address,
            mac_address,
            ip_text,
        });
    }
    Ok(out)
}

pub(crate) fn mac(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<String, LoadError> {
    let text = string(cx, obj, &[key])?;
    if text.is_empty() {
        Ok(String::new())
    } else {
        parse_mac(cx, key, &text)
    }
}

const HOST: [&str; 2] = ["binding:host_id", "binding_host_id"];
const GROUPS: [&str; 2] = ["security_groups", "security_group_ids"];
const PSEC: [&str; 2] = ["port_security_enabled", "is_port_security_enabled"];
const ADMIN_UP: [&str; 2] = ["admin_state_up", "is_admin_state_up"];
const VNIC: [&str; 2] = ["binding:vnic_type", "binding_vnic_type"];
const VIF: [&str; 2] = ["binding:vif_type", "binding_vif_type"];
const PROFILE: [&str; 2] = ["binding:profile", "binding_profile"];
const EXTRA_DHCP: [&str; 1] = ["extra_dhcp_opts"];

/// `admin_state_up`: a boolean, or the CLI's `show` text "UP" / "DOWN".
fn admin_up(cx: &Ctx, obj: &Map<String, Value>) -> Result<bool, LoadError> {
    match first(obj, &ADMIN_UP) {
        Some((_, Value::String(s))) if s.eq_ignore_ascii_case("up") => Ok(true),
        Some((_, Value::String(s))) if s.eq_ignore_ascii_case("down") => Ok(false),
        _ => boolean(cx, obj, &ADMIN_UP, true),
    }
}

/// `binding:profile`: an object (the CLI's `show` may print it as JSON text).
fn profile(cx: &Ctx, obj: &Map<String, Value>) -> Result<Map<String, Value>, LoadError> {
    match first(obj, &PROFILE) {
        None => Ok(Map::new()),
        Some((_, Value::Object(m))) => Ok(m.clone()),
        Some((_, Value::String(s))) if s.trim().is_empty() => Ok(Map::new()),
        Some((k, Value::String(s))) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(cx.err(k, format!("\"{s}\" is not a JSON object"))),
        },
        Some((k, other)) => Err(cx.err(k, format!("{} is not an object", short(other)))),
    }
}

fn extra_dhcp_opts(cx: &Ctx, obj: &Map<String, Value>) -> Result<Vec<ExtraDhcpOpt>, LoadError> {
    let mut out = Vec::new();
    for (i, d) in dict_list(cx, obj, &EXTRA_DHCP)?.iter().enumerate() {
        let text = |k: &str| match d.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let ip_version = match text("ip_version").as_str() {
            "" | "4" => 4,
            "6" => 6,
            other => {
                return Err(cx.err(
                    &format!("extra_dhcp_opts[{i}].ip_version"),
                    format!("\"{other}\" is not 4 or 6"),
                ))
            }
        };
        out.push(ExtraDhcpOpt {
            opt_name: text("opt_name"),
            opt_value: text("opt_value"),
            ip_version,
        });
    }
    Ok(out)
}

pub(crate) fn port(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<Port>, LoadError> {
    let id = required_id(cx, obj, "id")?;
    let (security_groups, groups_sorted) = string_list(cx, obj, &GROUPS)?;
    let mut known = Known::new();
    mark(&mut known, obj, "name", &["name"]);
    mark(&mut known, obj, "network_id", &["network_id"]);
    // Absent (a non-admin's API view), null (a non-admin's `port show`) or ""
    // (an unbound port) all load as no host; only "" says so for certain.
    mark(&mut known, obj, "binding:host_id", &HOST);
    mark(&mut known, obj, "mac_address", &["mac_address"]);
    mark(&mut known, obj, "fixed_ips", &["fixed_ips"]);
    mark(
        &mut known,
        obj,
        "allowed_address_pairs",
        &["allowed_address_pairs"],
    );
    if has(obj, &GROUPS) {
        known.insert("security_groups", groups_sorted);
    }
    // Without the port-security extension the field is absent and Neutron
    // filters every port: absent or null is "enabled", not unknown.
    known.insert("port_security_enabled", false);
    mark(&mut known, obj, "device_owner", &["device_owner"]);
    mark(&mut known, obj, "device_id", &["device_id"]);
    mark(&mut known, obj, "project_id", &PROJECT);
    mark(&mut known, obj, "revision_number", &["revision_number"]);
    mark(&mut known, obj, "admin_state_up", &ADMIN_UP);
    mark(&mut known, obj, "binding:vnic_type", &VNIC);
    mark(&mut known, obj, "binding:vif_type", &VIF);
    mark(&mut known, obj, "status", &["status"]);
    mark(&mut known, obj, "binding:profile", &PROFILE);
    mark(&mut known, obj, "extra_dhcp_opts", &EXTRA_DHCP);
    let vnic_type = string(cx, obj, &VNIC)?;
    Ok(Obj::new(
        Port {
            id,
            name: string(cx, obj, &["name"])?,
            network_id: string(cx, obj, &["network_id"])?,
            host_id: string(cx, obj, &HOST)?,
            mac_address: mac(cx, obj, "mac_address")?,
            fixed_ips: fixed_ips(cx, obj, "fixed_ips")?,
            allowed_address_pairs: address_pairs(cx, obj)?,
            security_groups,
            port_security_enabled: boolean(cx, obj, &PSEC, true)?,
            device_owner: string(cx, obj, &["device_owner"])?,
            device_id: string(cx, obj, &["device_id"])?,
            project_id: string(cx, obj, &PROJECT)?,
            revision_number: integer_of(cx, obj, &["revision_number"], u64::MAX)?,
            admin_state_up: admin_up(cx, obj)?,
            vnic_type: if vnic_type.is_empty() {
                "normal".to_string()
            } else {
                vnic_type
            },
            vif_type: string(cx, obj, &VIF)?,
            status: string(cx, obj, &["status"])?,
            binding_profile: profile(cx, obj)?,
            extra_dhcp_opts: extra_dhcp_opts(cx, obj)?,
        },
        known,
    ))
}

/// A group and its inline rules (as separate items, so they merge by id).
pub(crate) fn group(cx: &Ctx, obj: &Map<String, Value>) -> Result<Vec<Item>, LoadError> {
    let id = required_id(cx, obj, "id")?;
    let mut known = Known::new();
    mark(&mut known, obj, "name", &["name"]);
    // Before the stateful-security-group extension every group was stateful.
    known.insert("stateful", false);
    let mut items = Vec::new();
    if let Some((key, _)) = first(obj, &["security_group_rules", "rules"]) {
        known.insert("security_group_rules", false);
        for (i, r) in dict_list(cx, obj, &[key])?.iter().enumerate() {
            let rcx = Ctx {
                source: cx.source,
                object: format!("{} {key}[{i}]", cx.object),
            };
            items.push(Item::Rule(rule(&rcx, r, Some(&id))?));
        }
    }
    let group = SecurityGroup {
        id,
        name: string(cx, obj, &["name"])?,
        stateful: boolean(cx, obj, &["stateful"], true)?,
        rules: Vec::new(),
    };
    items.insert(0, Item::Group(Obj::new(group, known)));
    Ok(items)
}

/// A rule's remote prefix (`text`, read from `field`), which must be of the
/// rule's ethertype.
pub(crate) fn remote_prefix(
    cx: &Ctx,
    field: &str,
    text: &str,
    ethertype: Ethertype,
) -> Result<IpNet, LoadError> {
    let prefix = parse_net(cx, field, text)?;
    let fam = match prefix {
        IpNet::V4(_) => Ethertype::IPv4,
        IpNet::V6(_) => Ethertype::IPv6,
    };
    if fam != ethertype {
        return Err(cx.err(
            field,
            format!("\"{text}\" does not match ethertype {}", ethertype.as_str()),
        ));
    }
    Ok(prefix)
}

/// Refuses rules whose remote is an address group: vipwire does not model
/// address groups, and reading the rule without it would open it to any source.
pub(crate) fn refuse_address_group(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<(), LoadError> {
    match opt_string(cx, obj, &[key])? {
        None => Ok(()),
        Some(g) => Err(cx.err(
            key,
            format!(
                "remote address group {g}: vipwire does not model address groups \
                 (the rule would read as open to any source); leave this group out of \
                 the inputs or replace the rule by remote_ip_prefix rules to check"
            ),
        )),
    }
}

pub(crate) fn direction(cx: &Ctx, field: &str, text: &str) -> Result<RuleDirection, LoadError> {
    match text.to_ascii_lowercase().as_str() {
        "ingress" => Ok(RuleDirection::Ingress),
        "egress" => Ok(RuleDirection::Egress),
        other => Err(cx.err(field, format!("\"{other}\" is not ingress or egress"))),
    }
}

pub(crate) fn ethertype(cx: &Ctx, field: &str, text: &str) -> Result<Ethertype, LoadError> {
    match text.to_ascii_lowercase().as_str() {
        "ipv4" | "" => Ok(Ethertype::IPv4),
        "ipv6" => Ok(Ethertype::IPv6),
        _ => Err(cx.err(field, format!("\"{text}\" is not IPv4 or IPv6"))),
    }
}

pub(crate) fn protocol(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, LoadError> {
    match first(obj, &[key]) {
        None => Ok(None),
        Some((_, Value::String(s))) if s.is_empty() || s == "None" => Ok(None),
        Some((_, Value::String(s))) => Ok(Some(s.to_ascii_lowercase())),
        Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a protocol", short(other)))),
    }
}

pub(crate) fn rule(
    cx: &Ctx,
    obj: &Map<String, Value>,
    group_id: Option<&str>,
) -> Result<Obj<SecurityGroupRule>, LoadError> {
    let direction = direction(cx, "direction", &string(cx, obj, &["direction"])?)?;
    let ethertype = ethertype(
        cx,
        "ethertype",
        &string(cx, obj, &["ethertype", "ether_type"])?,
    )?;
    let protocol = protocol(cx, obj, "protocol")?;
    let port_range_min = integer(cx, obj, "port_range_min", 65535)?.map(|n| n as u32);
    let port_range_max = integer(cx, obj, "port_range_max", 65535)?.map(|n| n as u32);
    let remote_ip_prefix = opt_string(cx, obj, &["remote_ip_prefix"])?
        .map(|text| remote_prefix(cx, "remote_ip_prefix", &text, ethertype))
        .transpose()?;
    refuse_address_group(cx, obj, "remote_address_group_id")?;
    let given_group = string(cx, obj, &["security_group_id"])?;
    let security_group_id = match (given_group.is_empty(), group_id) {
        (true, Some(g)) => g.to_string(),
        _ => given_group,
    };
    let mut known = Known::new();
    for f in [
        "direction",
        "ethertype",
        "protocol",
        "port_range",
        "remote_ip_prefix",
        "remote_group_id",
    ] {
        known.insert(f, false);
    }
    if !security_group_id.is_empty() {
        known.insert("security_group_id", false);
    }
    mark(&mut known, obj, "standard_attr_id", &["standard_attr_id"]);
    mark(&mut known, obj, "description", &["description"]);
    Ok(Obj::new(
        SecurityGroupRule {
            id: string(cx, obj, &["id"])?,
            security_group_id,
            direction,
            ethertype,
            protocol,
            port_range_min,
            port_range_max,
            remote_ip_prefix,
            remote_group_id: opt_string(cx, obj, &["remote_group_id"])?,
            standard_attr_id: integer(cx, obj, "standard_attr_id", u64::MAX)?,
            description: string(cx, obj, &["description"])?,
        },
        known,
    ))
}

#[cfg(test)]
mod tests {
    use crate::load::{load_files, load_json};

    #[test]
    fn ovn_fields_from_api_and_cli_show_forms() {
        let api = r#"{"ports": [{"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
            "project_id": "proj", "device_id": "vm1", "revision_number": 4,
            "admin_state_up": false, "binding:vnic_type": "direct",
            "binding:vif_type": "ovs", "status": "ACTIVE",
            "binding:profile": {"capabilities": ["switchdev"]},
            "extra_dhcp_opts": [{"opt_name": "dhcp_disabled", "opt_value": "true", "ip_version": 6}]}],
          "networks": [{"id": "n1", "name": "net", "mtu": 1400, "revision_number": 5,
            "tenant_id": "proj", "provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "router:external": true,
            "availability_zone_hints": ["az2", "az1"], "subnets": ["s1"]}]}"#;
        let c = load_json(api, "api.json").unwrap();
        let p = &c.ports[0];
        assert_eq!(
            (p.project_id.as_str(), p.device_id.as_str()),
            ("proj", "vm1")
        );
        assert_eq!(p.revision_number, Some(4));
        assert!(!p.admin_state_up);
        assert_eq!(
            (p.vnic_type.as_str(), p.vif_type.as_str()),
            ("direct", "ovs")
        );
        assert_eq!(p.status, "ACTIVE");
        assert_eq!(p.binding_profile["capabilities"][0], "switchdev");
        assert_eq!(p.extra_dhcp_opts[0].ip_version, 6);
        let n = &c.networks[0];
        assert_eq!((n.mtu, n.revision_number), (Some(1400), Some(5)));
        assert_eq!(n.project_id, "proj");
        assert_eq!(n.network_type.as_deref(), Some("vlan"));
        assert_eq!(n.physical_network.as_deref(), Some("physnet1"));
        assert!(n.router_external);
        assert_eq!(n.subnets, ["s1"]);

        // `openstack port show -f json` / `network show -f json` names and texts.
        let show = r#"{"id": "p1", "mac_address": "fa:16:3e:00:00:01",
            "is_admin_state_up": "DOWN", "binding_vnic_type": "direct",
            "binding_profile": "{\"capabilities\": [\"switchdev\"]}", "revision_number": 6}"#;
        let net_show = r#"{"id": "n1", "name": "net", "subnet_ids": ["s1"], "mtu": 1400,
            "is_router_external": "External", "provider_network_type": "vlan"}"#;
        let m = load_files(&[
            (api.to_string(), "api.json".to_string()),
            (show.to_string(), "show.json".to_string()),
            (net_show.to_string(), "net.json".to_string()),
        ])
        .unwrap();
        // A later snapshot's revision is no conflict; the first input's stays.
        assert_eq!(m.ports[0].revision_number, Some(4));
        assert_eq!(m.ports[0].vnic_type, "direct");
        assert!(m.networks[0].router_external);

        // Inputs without the fields load the defaults.
        let bare = load_json(
            r#"{"ports": [{"id": "p2"}], "networks": [{"id": "n2"}]}"#,
            "x",
        )
        .unwrap();
        let p = &bare.ports[0];
        assert!(p.admin_state_up);
        assert_eq!(p.vnic_type, "normal");
        assert_eq!(p.revision_number, None);
        assert_eq!(bare.networks[0].mtu, None);
    }

    #[test]
    fn a_show_disagreeing_on_admin_state_is_a_conflict() {
        let api = r#"{"ports": [{"id": "p1", "admin_state_up": true}]}"#;
        let show = r#"{"id": "p1", "mac_address": "", "is_admin_state_up": "DOWN"}"#;
        let err = load_files(&[
            (api.to_string(), "api.json".to_string()),
            (show.to_string(), "show.json".to_string()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("admin_state_up"), "{err}");
    }
}
