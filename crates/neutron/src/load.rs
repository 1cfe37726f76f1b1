//! Reads Neutron JSON into a [`Cloud`]: API list and single-object responses
//! (`GET /v2.0/ports`, `{"port": {...}}`, ...), and the OpenStack CLI's
//! `openstack port show -f json` / `openstack security group show -f json`
//! output (alone or as a JSON list). Unknown fields are ignored.
//!
//! CLI facts (python-openstackclient `network/v2/port.py`, `security_group.py`,
//! osc-lib `format_columns`): `-f json` prints `fixed_ips` and
//! `allowed_address_pairs` as lists of dicts, older clients as the
//! `format_list_of_dicts` text (`key='value', key='value'` per dict, dicts joined
//! by newlines); the host is `binding_host_id`, groups are `security_group_ids`,
//! and a group's rules are `rules`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::model::{
    mac_bytes, AddressPair, Cloud, Ethertype, FixedIp, Network, Port, RuleDirection, SecurityGroup,
    SecurityGroupRule, Subnet,
};

/// Why a file could not be loaded; the message names the file, the object and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{source_name}:{line}:{column}: not valid JSON: {message}")]
    Json {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Shape {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {object}: field \"{field}\": {message}")]
    Field {
        source_name: String,
        object: String,
        field: String,
        message: String,
    },
}

/// Loads one JSON document (see the module doc for the accepted shapes).
pub fn load_json(text: &str, source: &str) -> Result<Cloud, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Json {
        source_name: source.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut cx = Loader {
        source,
        cloud: Cloud::default(),
        loose_rules: Vec::new(),
    };
    cx.document(&value)?;
    cx.finish()
}

/// Loads a file from disk; the error names the path.
pub fn load_file(path: &std::path::Path) -> Result<Cloud, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Shape {
        source_name: name.clone(),
        message: format!("cannot read: {e}"),
    })?;
    load_json(&text, &name)
}

struct Loader<'a> {
    source: &'a str,
    cloud: Cloud,
    /// Rules given outside their group (`GET /v2.0/security-group-rules`).
    loose_rules: Vec<SecurityGroupRule>,
}

/// Which object a field belongs to, for error messages.
struct Ctx<'a> {
    source: &'a str,
    object: String,
}

impl Ctx<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> LoadError {
        LoadError::Field {
            source_name: self.source.to_string(),
            object: self.object.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Network,
    Subnet,
    Port,
    Group,
    Rule,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::Group => "security group",
            Kind::Rule => "security group rule",
        }
    }
}

impl Loader<'_> {
    fn shape(&self, message: impl Into<String>) -> LoadError {
        LoadError::Shape {
            source_name: self.source.to_string(),
            message: message.into(),
        }
    }

    fn document(&mut self, v: &Value) -> Result<(), LoadError> {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let obj = item.as_object().ok_or_else(|| {
                        self.shape(format!("item [{i}] of the top-level list is not an object"))
                    })?;
                    match guess_kind(obj) {
                        Some(kind) => self.object(kind, obj, &format!("[{i}]"))?,
                        None => {
                            return Err(self.shape(format!(
                                "item [{i}] of the top-level list is not a network, subnet, port or security group"
                            )))
                        }
                    }
                }
                Ok(())
            }
            Value::Object(map) => self.top_object(map),
            _ => Err(self.shape("expected a JSON object or list at the top level")),
        }
    }

    fn top_object(&mut self, map: &Map<String, Value>) -> Result<(), LoadError> {
        const LISTS: [(&str, Kind); 5] = [
            ("networks", Kind::Network),
            ("subnets", Kind::Subnet),
            ("ports", Kind::Port),
            ("security_groups", Kind::Group),
            ("security_group_rules", Kind::Rule),
        ];
        const SINGLE: [(&str, Kind); 5] = [
            ("network", Kind::Network),
            ("subnet", Kind::Subnet),
            ("port", Kind::Port),
            ("security_group", Kind::Group),
            ("security_group_rule", Kind::Rule),
        ];
        // A bare object (CLI `show -f json`) has an `id`; wrappers do not.
        if map.contains_key("id") {
            return match guess_kind(map) {
                Some(kind) => self.object(kind, map, ""),
                None => Err(self.shape(
                    "object with an \"id\" is not a network, subnet, port or security group",
                )),
            };
        }
        let mut found = false;
        for (key, kind) in LISTS {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    found = true;
                    for (i, item) in items.iter().enumerate() {
                        let obj = item
                            .as_object()
                            .ok_or_else(|| self.shape(format!("{key}[{i}] is not an object")))?;
                        self.object(kind, obj, &format!("{key}[{i}]"))?;
                    }
                }
                Some(_) => return Err(self.shape(format!("\"{key}\" is not a list"))),
            }
        }
        for (key, kind) in SINGLE {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(obj)) => {
                    found = true;
                    self.object(kind, obj, key)?;
                }
                Some(_) => return Err(self.shape(format!("\"{key}\" is not an object"))),
            }
        }
        if found {
            Ok(())
        } else {
            Err(self.shape(
                "no networks, subnets, ports, security_groups or security_group_rules found at the top level",
            ))
        }
    }

    fn object(
        &mut self,
        kind: Kind,
        obj: &Map<String, Value>,
        place: &str,
    ) -> Result<(), LoadError> {
        let cx = Ctx {
            source: self.source,
            object: describe(kind, obj, place),
        };
        match kind {
            Kind::Network => self.cloud.networks.push(network(&cx, obj)?),
            Kind::Subnet => self.cloud.subnets.push(subnet(&cx, obj)?),
            Kind::Port => self.cloud.ports.push(port(&cx, obj)?),
            Kind::Group => self.cloud.security_groups.push(group(&cx, obj)?),
            Kind::Rule => self.loose_rules.push(rule(&cx, obj, None)?),
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Cloud, LoadError> {
        for r in std::mem::take(&mut self.loose_rules) {
            let gid = r.security_group_id.clone();
            if gid.is_empty() {
                return Err(LoadError::Field {
                    source_name: self.source.to_string(),
                    object: format!("security group rule ({})", r.id),
                    field: "security_group_id".into(),
                    message: "missing".into(),
                });
            }
            match self.cloud.security_groups.iter_mut().find(|g| g.id == gid) {
                Some(g) => {
                    if !g.rules.iter().any(|x| x.id == r.id && !r.id.is_empty()) {
                        g.rules.push(r);
                    }
                }
                None => self.cloud.security_groups.push(SecurityGroup {
                    id: gid,
                    rules: vec![r],
                    ..SecurityGroup::default()
                }),
            }
        }
        Ok(self.cloud)
    }
}

fn guess_kind(obj: &Map<String, Value>) -> Option<Kind> {
    let has = |k: &str| obj.contains_key(k);
    if has("mac_address") || has("fixed_ips") || has("binding:host_id") || has("binding_host_id") {
        Some(Kind::Port)
    } else if has("security_group_rules") || has("rules") || has("stateful") {
        Some(Kind::Group)
    } else if has("direction")
        && (has("ethertype") || has("ether_type") || has("security_group_id"))
    {
        Some(Kind::Rule)
    } else if has("cidr") {
        Some(Kind::Subnet)
    } else if has("subnets") || has("mtu") || has("provider:network_type") || has("router:external")
    {
        Some(Kind::Network)
    } else {
        None
    }
}

fn describe(kind: Kind, obj: &Map<String, Value>, place: &str) -> String {
    let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
    let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
    let noun = kind.noun();
    match (name.is_empty(), id.is_empty()) {
        (false, false) => format!("{noun} \"{name}\" ({id})"),
        (true, false) => format!("{noun} {id}"),
        (false, true) => format!("{noun} \"{name}\""),
        (true, true) if place.is_empty() => noun.to_string(),
        (true, true) => format!("{noun} at {place}"),
    }
}

// ---- field readers -------------------------------------------------------

fn first<'m>(
    obj: &'m Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'m Value)> {
    keys.iter().find_map(|k| match obj.get(*k) {
        None | Some(Value::Null) => None,
        Some(v) => Some((*k, v)),
    })
}

fn string(cx: &Ctx, obj: &Map<String, Value>, keys: &[&'static str]) -> Result<String, LoadError> {
    match first(obj, keys) {
        None => Ok(String::new()),
        Some((_, Value::String(s))) => Ok(s.clone()),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a string", short(other)))),
    }
}

fn required_id(cx: &Ctx, obj: &Map<String, Value>) -> Result<String, LoadError> {
    let id = string(cx, obj, &["id"])?;
    if id.is_empty() {
        return Err(cx.err("id", "missing or empty"));
    }
    Ok(id)
}

fn boolean(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
    default: bool,
) -> Result<bool, LoadError> {
    match first(obj, keys) {
        None => Ok(default),
        Some((_, Value::Bool(b))) => Ok(*b),
        Some((k, Value::String(s))) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(cx.err(k, format!("\"{s}\" is not a boolean"))),
        },
        Some((k, other)) => Err(cx.err(k, format!("{} is not a boolean", short(other)))),
    }
}

fn integer(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
    max: u64,
) -> Result<Option<u64>, LoadError> {
    let n = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if s.is_empty() || s == "None" => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => return Err(cx.err(key, format!("{} is not a number", short(other)))),
    };
    match n {
        Some(n) if n <= max => Ok(Some(n)),
        _ => Err(cx.err(
            key,
            format!("{} is not an integer from 0 to {max}", short(&obj[key])),
        )),
    }
}

/// A short rendering of a JSON value for error messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn parse_ip(cx: &Ctx, field: &str, text: &str) -> Result<IpAddr, LoadError> {
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| cx.err(field, format!("\"{text}\" is not an IP address")))
}

/// A CIDR or bare address (bare becomes /32 or /128); host bits are kept.
fn parse_net(cx: &Ctx, field: &str, text: &str) -> Result<IpNet, LoadError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(cx.err(field, format!("\"{text}\" is not an IP address or CIDR")))
}

/// Checks `aa:bb:cc:dd:ee:ff` (also `-` separated); returns it lowercased with colons.
fn parse_mac(cx: &Ctx, field: &str, text: &str) -> Result<String, LoadError> {
    let b = mac_bytes(text.trim())
        .ok_or_else(|| cx.err(field, format!("\"{text}\" is not a MAC address")))?;
    Ok(format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    ))
}

/// A list of dicts: a JSON list, or the CLI's `format_list_of_dicts` text.
fn dict_list(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<Vec<Map<String, Value>>, LoadError> {
    match first(obj, keys) {
        None => Ok(Vec::new()),
        Some((k, Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::Object(m) => Ok(m.clone()),
                Value::String(s) => {
                    let mut v = parse_cli_dicts(s).map_err(|e| cx.err(&format!("{k}[{i}]"), e))?;
                    match (v.len(), v.pop()) {
                        (1, Some(m)) => Ok(m),
                        _ => Err(cx.err(
                            &format!("{k}[{i}]"),
                            format!("{} is not one key='value' dict", short(it)),
                        )),
                    }
                }
                other => Err(cx.err(
                    &format!("{k}[{i}]"),
                    format!("{} is not an object", short(other)),
                )),
            })
            .collect(),
        Some((k, Value::String(s))) => parse_cli_dicts(s).map_err(|e| cx.err(k, e)),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a list", short(other)))),
    }
}

/// Parses osc-lib's `format_list_of_dicts` text: `a='1', b='2'` per dict, dicts on
/// separate lines. `'None'` values become JSON null.
pub(crate) fn parse_cli_dicts(text: &str) -> Result<Vec<Map<String, Value>>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_cli_dict(line)?);
    }
    Ok(out)
}

fn parse_cli_dict(line: &str) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    let mut rest = line;
    while !rest.is_empty() {
        let eq = rest
            .find("='")
            .ok_or_else(|| format!("\"{line}\" is not key='value' text"))?;
        let key = rest[..eq].trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("\"{line}\" is not key='value' text"));
        }
        let after = &rest[eq + 2..];
        // The value ends at the quote that is followed by `, key='` or the line end.
        let mut end = None;
        for (i, _) in after.match_indices('\'') {
            let tail = &after[i + 1..];
            if tail.trim().is_empty() || next_is_key(tail) {
                end = Some(i);
                break;
            }
        }
        let end = end.ok_or_else(|| format!("unterminated quote in \"{line}\""))?;
        let raw = &after[..end];
        let value = if raw == "None" {
            Value::Null
        } else {
            Value::String(raw.to_string())
        };
        map.insert(key.to_string(), value);
        let tail = after[end + 1..].trim_start();
        rest = tail.strip_prefix(',').unwrap_or(tail).trim_start();
    }
    Ok(map)
}

fn next_is_key(tail: &str) -> bool {
    let Some(t) = tail.strip_prefix(", ") else {
        return false;
    };
    match t.find("='") {
        Some(eq) => {
            eq > 0
                && t[..eq]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        None => false,
    }
}

/// A list of strings: a JSON list, or the CLI's `ListColumn` text (`a, b`).
fn string_list(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<Vec<String>, LoadError> {
    match first(obj, keys) {
        None => Ok(Vec::new()),
        Some((k, Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::String(s) => Ok(s.clone()),
                Value::Object(m) => match m.get("id").or_else(|| m.get("name")) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(cx.err(&format!("{k}[{i}]"), "object without an id")),
                },
                other => Err(cx.err(
                    &format!("{k}[{i}]"),
                    format!("{} is not a string", short(other)),
                )),
            })
            .collect(),
        Some((_, Value::String(s))) => Ok(s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a list", short(other)))),
    }
}

// ---- resources -----------------------------------------------------------

fn network(cx: &Ctx, obj: &Map<String, Value>) -> Result<Network, LoadError> {
    Ok(Network {
        id: required_id(cx, obj)?,
        name: string(cx, obj, &["name"])?,
    })
}

fn subnet(cx: &Ctx, obj: &Map<String, Value>) -> Result<Subnet, LoadError> {
    let id = required_id(cx, obj)?;
    let cidr_text = string(cx, obj, &["cidr"])?;
    if cidr_text.is_empty() {
        return Err(cx.err("cidr", "missing"));
    }
    let cidr = parse_net(cx, "cidr", &cidr_text)?;
    let ip_version = match integer(cx, obj, "ip_version", 255)? {
        Some(4) => 4,
        Some(6) => 6,
        Some(n) => return Err(cx.err("ip_version", format!("{n} is not 4 or 6"))),
        None => match cidr {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        },
    };
    let family_ok = matches!((ip_version, cidr), (4, IpNet::V4(_)) | (6, IpNet::V6(_)));
    if !family_ok {
        return Err(cx.err("cidr", format!("\"{cidr_text}\" is not IPv{ip_version}")));
    }
    let gw = string(cx, obj, &["gateway_ip"])?;
    let gateway_ip = if gw.is_empty() || gw == "None" {
        None
    } else {
        Some(parse_ip(cx, "gateway_ip", &gw)?)
    };
    Ok(Subnet {
        id,
        name: string(cx, obj, &["name"])?,
        network_id: string(cx, obj, &["network_id"])?,
        cidr,
        ip_version,
        gateway_ip,
    })
}

fn port(cx: &Ctx, obj: &Map<String, Value>) -> Result<Port, LoadError> {
    let id = required_id(cx, obj)?;
    let mac_text = string(cx, obj, &["mac_address"])?;
    let mac_address = if mac_text.is_empty() {
        String::new()
    } else {
        parse_mac(cx, "mac_address", &mac_text)?
    };

    let mut fixed_ips = Vec::new();
    for (i, d) in dict_list(cx, obj, &["fixed_ips"])?.iter().enumerate() {
        let field = format!("fixed_ips[{i}].ip_address");
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
                    &format!("fixed_ips[{i}].subnet_id"),
                    format!("{} is not a string", short(other)),
                ))
            }
        };
        fixed_ips.push(FixedIp {
            subnet_id,
            ip_address: ip,
        });
    }

    let mut allowed_address_pairs = Vec::new();
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
        allowed_address_pairs.push(AddressPair {
            ip_address,
            mac_address,
            ip_text,
        });
    }

    Ok(Port {
        id,
        name: string(cx, obj, &["name"])?,
        network_id: string(cx, obj, &["network_id"])?,
        host_id: string(cx, obj, &["binding:host_id", "binding_host_id"])?,
        mac_address,
        fixed_ips,
        allowed_address_pairs,
        security_groups: string_list(cx, obj, &["security_groups", "security_group_ids"])?,
        port_security_enabled: boolean(
            cx,
            obj,
            &["port_security_enabled", "is_port_security_enabled"],
            true,
        )?,
        device_owner: string(cx, obj, &["device_owner"])?,
    })
}

fn group(cx: &Ctx, obj: &Map<String, Value>) -> Result<SecurityGroup, LoadError> {
    let id = required_id(cx, obj)?;
    let mut rules = Vec::new();
    let (key, list) = match first(obj, &["security_group_rules", "rules"]) {
        None => ("security_group_rules", Vec::new()),
        Some((k, _)) => (k, dict_list(cx, obj, &[k])?),
    };
    for (i, r) in list.iter().enumerate() {
        let rcx = Ctx {
            source: cx.source,
            object: format!("{} {key}[{i}]", cx.object),
        };
        rules.push(rule(&rcx, r, Some(&id))?);
    }
    Ok(SecurityGroup {
        id,
        name: string(cx, obj, &["name"])?,
        stateful: boolean(cx, obj, &["stateful"], true)?,
        rules,
    })
}

fn rule(
    cx: &Ctx,
    obj: &Map<String, Value>,
    group_id: Option<&str>,
) -> Result<SecurityGroupRule, LoadError> {
    let direction = match string(cx, obj, &["direction"])?
        .to_ascii_lowercase()
        .as_str()
    {
        "ingress" => RuleDirection::Ingress,
        "egress" => RuleDirection::Egress,
        other => return Err(cx.err("direction", format!("\"{other}\" is not ingress or egress"))),
    };
    let eth = string(cx, obj, &["ethertype", "ether_type"])?;
    let ethertype = match eth.to_ascii_lowercase().as_str() {
        "ipv4" | "" => Ethertype::IPv4,
        "ipv6" => Ethertype::IPv6,
        _ => return Err(cx.err("ethertype", format!("\"{eth}\" is not IPv4 or IPv6"))),
    };
    let protocol = match first(obj, &["protocol"]) {
        None => None,
        Some((_, Value::String(s))) if s.is_empty() || s == "None" => None,
        Some((_, Value::String(s))) => Some(s.to_ascii_lowercase()),
        Some((_, Value::Number(n))) => Some(n.to_string()),
        Some((k, other)) => return Err(cx.err(k, format!("{} is not a protocol", short(other)))),
    };
    let port_range_min = integer(cx, obj, "port_range_min", 65535)?.map(|n| n as u32);
    let port_range_max = integer(cx, obj, "port_range_max", 65535)?.map(|n| n as u32);
    let prefix = string(cx, obj, &["remote_ip_prefix"])?;
    let remote_ip_prefix = if prefix.is_empty() || prefix == "None" {
        None
    } else {
        Some(parse_net(cx, "remote_ip_prefix", &prefix)?)
    };
    if let Some(p) = remote_ip_prefix {
        let fam = match p {
            IpNet::V4(_) => Ethertype::IPv4,
            IpNet::V6(_) => Ethertype::IPv6,
        };
        if fam != ethertype {
            return Err(cx.err(
                "remote_ip_prefix",
                format!(
                    "\"{prefix}\" does not match ethertype {}",
                    ethertype.as_str()
                ),
            ));
        }
    }
    let remote_group = string(cx, obj, &["remote_group_id"])?;
    let given_group = string(cx, obj, &["security_group_id"])?;
    let security_group_id = match (given_group.is_empty(), group_id) {
        (true, Some(g)) => g.to_string(),
        _ => given_group,
    };
    Ok(SecurityGroupRule {
        id: string(cx, obj, &["id"])?,
        security_group_id,
        direction,
        ethertype,
        protocol,
        port_range_min,
        port_range_max,
        remote_ip_prefix,
        remote_group_id: if remote_group.is_empty() || remote_group == "None" {
            None
        } else {
            Some(remote_group)
        },
        standard_attr_id: integer(cx, obj, "standard_attr_id", u64::MAX)?,
        description: string(cx, obj, &["description"])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_dict_text_parses() {
        let v = parse_cli_dicts("ip_address='203.0.113.241', mac_address='fa:16:3e:00:00:01'\nip_address='10.0.0.1', mac_address='None'")
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["ip_address"], "203.0.113.241");
        assert_eq!(v[0]["mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(v[1]["mac_address"], Value::Null);
    }

    #[test]
    fn cli_dict_value_with_comma() {
        let v = parse_cli_dicts("description='a, b', id='x'").unwrap();
        assert_eq!(v[0]["description"], "a, b");
        assert_eq!(v[0]["id"], "x");
    }

    #[test]
    fn bad_cli_text_is_error() {
        assert!(parse_cli_dicts("ip_address='1.2.3.4").is_err());
        assert!(parse_cli_dicts("nonsense").is_err());
    }

    #[test]
    fn mac_forms_normalise_and_bad_ones_are_named() {
        let cx = Ctx {
            source: "t.json",
            object: "port p".into(),
        };
        assert_eq!(
            parse_mac(&cx, "mac_address", " FA-16-3E-0a-00-05 ").unwrap(),
            "fa:16:3e:0a:00:05"
        );
        for bad in [
            "fa:16:3e:0a:00",
            "fa:16:3e:0a:00:5",
            "fa:16:3e:0a:00:+5",
            "fa:16:3e:0a:00:05:06",
        ] {
            let e = parse_mac(&cx, "mac_address", bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a MAC address") && e.contains("mac_address"),
                "{e}"
            );
        }
    }
}
