//! Rows of the CLI's `list -f json` output: JSON objects keyed by the display
//! column names (python-openstackclient `network/v2/*.py`). Since OSC 4.0.0
//! list and dict values are JSON lists and objects (cliff's JSON formatter
//! prints `machine_readable()`); before it they were osc-lib's text forms
//! (`format_list_of_dicts`, `format_list`, which sorts).
//!
//! - `openstack port list --long`: `ID`, `Name`, `MAC Address`, `Fixed IP
//!   Addresses`, `Status`, `Security Groups`, `Device Owner`, `Tags` (and
//!   `Trunk subports` since OSC 7.1). No network, host, allowed address pairs
//!   or port security flag.
//! - `openstack security group rule list`: `ID`, `IP Protocol`, `Ethertype`,
//!   `IP Range`, `Port Range`, `Direction`, `Remote Security Group`, `Remote
//!   Address Group` (5.5.0+), and `Security Group` only when no group is named.
//!   Before 5.5.0 `Direction` needs `--long`, before 4.0.0 `Ethertype` too.
//!   `Port Range` is `"80:80"`, `""`, or for ICMP `type=T[:code=C]` (0 is not
//!   printed); `IP Range` shows a missing prefix as `0.0.0.0/0` / `::/0` (4.0.0+).
//! - `openstack security group list`: `ID`, `Name`, `Description`, `Project`,
//!   `Tags`, `Shared` (no rules, no stateful flag).
//! - `openstack network list`: `ID`, `Name`, `Subnets` (more with `--long`).
//! - `openstack subnet list`: `ID`, `Name`, `Network`, `Subnet`; `--long` adds
//!   `IP Version` and `Gateway`.

use serde_json::{Map, Value};

use super::api::{
    direction, ethertype, fixed_ips, mac, protocol, refuse_address_group, remote_prefix, subnet,
    SubnetKeys,
};
use super::read::{first, opt_string, required_id, short, string, string_list, Ctx};
use super::{Form, Item, Known, LoadError, Obj};
use crate::model::{Network, Port, SecurityGroup, SecurityGroupRule};

/// Which list a row with display column names comes from.
pub(crate) fn row_form(obj: &Map<String, Value>) -> Option<Form> {
    let has = |k: &str| obj.contains_key(k);
    if has("MAC Address") || has("Fixed IP Addresses") {
        Some(Form::PortList)
    } else if has("IP Protocol") || has("Port Range") || has("IP Range") {
        Some(Form::RuleList)
    } else if has("Subnet") && has("Network") {
        Some(Form::SubnetList)
    } else if has("Subnets") {
        Some(Form::NetworkList)
    } else if has("ID") && (has("Description") || has("Project") || has("Shared")) {
        Some(Form::GroupList)
    } else {
        None
    }
}

/// A column the command prints only with an option (or without a filter).
fn needs(
    cx: &Ctx,
    obj: &Map<String, Value>,
    column: &'static str,
    advice: &str,
) -> Result<(), LoadError> {
    if obj.contains_key(column) {
        Ok(())
    } else {
        Err(cx.err(column, format!("column missing: {advice}")))
    }
}

pub(crate) fn row(cx: &Ctx, form: Form, obj: &Map<String, Value>) -> Result<Item, LoadError> {
    Ok(match form {
        Form::PortList => Item::Port(port(cx, obj)?),
        Form::RuleList => Item::Rule(rule(cx, obj)?),
        Form::GroupList => Item::Group(group(cx, obj)?),
        Form::NetworkList => Item::Network(network(cx, obj)?),
        Form::SubnetList => Item::Subnet(subnet(cx, obj, &LIST_SUBNET)?),
        _ => unreachable!("row() is called with a list form"),
    }
    .with_form(form))
}

fn port(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<Port>, LoadError> {
    const LONG: &str = "`openstack port list` prints Security Groups and Device Owner only \
                        with --long; use `openstack port list --long -f json`";
    needs(cx, obj, "Security Groups", LONG)?;
    needs(cx, obj, "Device Owner", LONG)?;
    let (security_groups, sorted) = string_list(cx, obj, &["Security Groups"])?;
    let mut known = Known::new();
    for f in ["name", "mac_address", "fixed_ips", "device_owner"] {
        known.insert(f, false);
    }
    known.insert("security_groups", sorted);
    if obj.contains_key("Status") {
        known.insert("status", false);
    }
    Ok(Obj::new(
        Port {
            id: required_id(cx, obj, "ID")?,
            name: string(cx, obj, &["Name"])?,
            mac_address: mac(cx, obj, "MAC Address")?,
            fixed_ips: fixed_ips(cx, obj, "Fixed IP Addresses")?,
            security_groups,
            device_owner: string(cx, obj, &["Device Owner"])?,
            status: string(cx, obj, &["Status"])?,
            ..Port::default()
        },
        known,
    ))
}

/// Whether the CLI prints the protocol's port range as ICMP type and code
/// (network/utils.py `is_icmp_protocol`).
pub(crate) fn is_icmp(protocol: Option<&str>) -> bool {
    matches!(protocol, Some("icmp" | "icmpv6" | "ipv6-icmp" | "1" | "58"))
}

/// `Port Range` as the CLI prints it (network/utils.py `format_network_port_range`).
pub(crate) fn port_range_text(r: &SecurityGroupRule) -> String {
    let (min, max) = (r.port_range_min, r.port_range_max);
    let truthy = |v: Option<u32>| v.filter(|&n| n != 0);
    if is_icmp(r.protocol.as_deref()) {
        let mut s = String::new();
        if let Some(t) = truthy(min) {
            s += &format!("type={t}");
        }
        if let Some(c) = truthy(max) {
            s += &format!(":code={c}");
        }
        s
    } else if truthy(min).is_some() || truthy(max).is_some() {
        let lo = min.or(max).unwrap_or(0);
        let hi = max.or(min).unwrap_or(0);
        format!("{lo}:{hi}")
    } else {
        String::new()
    }
}

/// `IP Range` as the CLI prints it since 4.0.0 (a missing prefix as the family's /0).
pub(crate) fn ip_range_text(r: &SecurityGroupRule) -> String {
    match (r.remote_ip_prefix, r.ethertype) {
        (Some(p), _) => p.to_string(),
        (None, crate::model::Ethertype::IPv4) => "0.0.0.0/0".into(),
        (None, crate::model::Ethertype::IPv6) => "::/0".into(),
    }
}

fn port_number(cx: &Ctx, text: &str, what: &str) -> Result<u32, LoadError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n <= 65535)
        .ok_or_else(|| {
            cx.err(
                "Port Range",
                format!("\"{text}\": {what} is not a number from 0 to 65535"),
            )
        })
}

/// Reads `Port Range` back into (min, max). ICMP: `type=T`, `type=T:code=C`,
/// `:code=C` (type 0); other protocols `lo:hi`; `""` is no range.
fn parse_port_range(
    cx: &Ctx,
    text: &str,
    icmp: bool,
) -> Result<(Option<u32>, Option<u32>), LoadError> {
    let t = text.trim();
    if t.is_empty() || t == "None" {
        return Ok((None, None));
    }
    let bad = || cx.err("Port Range", format!("\"{text}\" is not a port range"));
    if icmp {
        let (ty, code) = match t.split_once(":code=") {
            Some((ty, code)) => (ty, Some(code)),
            None => (t, None),
        };
        let ty = match ty {
            "" if code.is_some() => Some(0),
            _ => Some(port_number(
                cx,
                ty.strip_prefix("type=").ok_or_else(bad)?,
                "the ICMP type",
            )?),
        };
        let code = code
            .map(|c| port_number(cx, c, "the ICMP code"))
            .transpose()?;
        Ok((ty, code))
    } else {
        let (lo, hi) = t.split_once(':').ok_or_else(bad)?;
        Ok((
            Some(port_number(cx, lo, "the low port")?),
            Some(port_number(cx, hi, "the high port")?),
        ))
    }
}

fn rule(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<SecurityGroupRule>, LoadError> {
    const LONG: &str = "clients before 5.5.0 print Direction (before 4.0.0 also Ethertype) only \
                        with --long; use `openstack security group rule list --long -f json`";
    needs(cx, obj, "Direction", LONG)?;
    needs(cx, obj, "Ethertype", LONG)?;
    needs(
        cx,
        obj,
        "Security Group",
        "`openstack security group rule list GROUP` leaves out the Security Group column; \
         list the rules without naming a group, or use `openstack security group show -f json GROUP`",
    )?;
    let direction = direction(cx, "Direction", &string(cx, obj, &["Direction"])?)?;
    let ethertype = ethertype(cx, "Ethertype", &string(cx, obj, &["Ethertype"])?)?;
    let protocol = protocol(cx, obj, "IP Protocol")?;
    let range = match first(obj, &["Port Range"]) {
        None => String::new(),
        Some((_, Value::String(s))) => s.clone(),
        Some((k, other)) => return Err(cx.err(k, format!("{} is not a string", short(other)))),
    };
    let (port_range_min, port_range_max) =
        parse_port_range(cx, &range, is_icmp(protocol.as_deref()))?;
    refuse_address_group(cx, obj, "Remote Address Group")?;
    let remote_group_id = opt_string(cx, obj, &["Remote Security Group"])?;
    // A remote-group rule has no prefix; 4.0.0+ prints it as the family's /0.
    let remote_ip_prefix = match opt_string(cx, obj, &["IP Range"])? {
        Some(text) if remote_group_id.is_none() => {
            Some(remote_prefix(cx, "IP Range", &text, ethertype)?)
        }
        _ => None,
    };
    let security_group_id = required_id(cx, obj, "Security Group")?;
    let mut known = Known::new();
    for f in [
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "remote_group_id",
    ] {
        known.insert(f, false);
    }
    // Lossy renderings: compared with other inputs as the CLI would print them.
    known.insert("port_range", true);
    known.insert("remote_ip_prefix", true);
    Ok(Obj::new(
        SecurityGroupRule {
            id: required_id(cx, obj, "ID")?,
            security_group_id,
            direction,
            ethertype,
            protocol,
            port_range_min,
            port_range_max,
            remote_ip_prefix,
            remote_group_id,
            standard_attr_id: None,
            description: String::new(),
        },
        known,
    ))
}

/// `ID` and `Name`, all that a group or network list row gives of what the
/// model keeps (the name known).
fn id_and_name(cx: &Ctx, obj: &Map<String, Value>) -> Result<(String, String, Known), LoadError> {
    let id = required_id(cx, obj, "ID")?;
    let name = string(cx, obj, &["Name"])?;
    Ok((id, name, Known::from([("name", false)])))
}

fn group(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<SecurityGroup>, LoadError> {
    let (id, name, known) = id_and_name(cx, obj)?;
    let group = SecurityGroup {
        id,
        name,
        ..SecurityGroup::default()
    };
    Ok(Obj::new(group, known))
}

/// A network list row: `Subnets` always; `Project`, `Network Type` and
/// `Router Type` with `--long`.
fn network(cx: &Ctx, obj: &Map<String, Value>) -> Result<Obj<Network>, LoadError> {
    let (id, name, mut known) = id_and_name(cx, obj)?;
    let subnets = string_list(cx, obj, &["Subnets"])?.0;
    known.insert("subnets", false);
    let project_id = string(cx, obj, &["Project"])?;
    if obj.contains_key("Project") {
        known.insert("project_id", false);
    }
    let network_type = opt_string(cx, obj, &["Network Type"])?;
    if obj.contains_key("Network Type") {
        known.insert("provider:network_type", false);
    }
    let router_external = string(cx, obj, &["Router Type"])? == "External";
    if obj.contains_key("Router Type") {
        known.insert("router:external", false);
    }
    Ok(Obj::new(
        Network {
            id,
            name,
            subnets,
            project_id,
            network_type,
            router_external,
            ..Network::default()
        },
        known,
    ))
}

const LIST_SUBNET: SubnetKeys = SubnetKeys {
    id: "ID",
    name: "Name",
    network_id: "Network",
    cidr: "Subnet",
    ip_version: "IP Version",
    gateway_ip: "Gateway",
    enable_dhcp: "DHCP",
    ipv6_address_mode: "IPv6 Address Mode",
    subnetpool_id: "Subnet Pool",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ethertype;

    fn cx() -> Ctx<'static> {
        Ctx {
            source: "rules.json",
            object: "security group rule r".into(),
        }
    }

    #[test]
    fn port_ranges_read_back_as_printed() {
        let cx = cx();
        for (proto, min, max, text) in [
            (Some("tcp"), Some(80), Some(80), "80:80"),
            (Some("tcp"), Some(8000), Some(8080), "8000:8080"),
            (Some("udp"), None, None, ""),
            (None, None, None, ""),
            (Some("icmp"), Some(8), None, "type=8"),
            (Some("icmp"), Some(3), Some(4), "type=3:code=4"),
            (Some("ipv6-icmp"), Some(0), Some(1), ":code=1"),
            (Some("icmp"), None, None, ""),
        ] {
            let r = SecurityGroupRule {
                protocol: proto.map(String::from),
                port_range_min: min,
                port_range_max: max,
                ..SecurityGroupRule::default()
            };
            assert_eq!(port_range_text(&r), text, "{proto:?} {min:?} {max:?}");
            let icmp = is_icmp(proto);
            assert_eq!(
                parse_port_range(&cx, text, icmp).unwrap(),
                (min, max),
                "{text}"
            );
        }
        // Type 0 and code 0 are not printed: the text cannot tell them from "any".
        let echo_reply = SecurityGroupRule {
            protocol: Some("icmp".into()),
            port_range_min: Some(0),
            port_range_max: Some(0),
            ..SecurityGroupRule::default()
        };
        assert_eq!(port_range_text(&echo_reply), "");
        for bad in ["80", "a:b", "type=x", "70000:70001", "code=1"] {
            let icmp = bad.contains("type") || bad.contains("code");
            assert!(parse_port_range(&cx, bad, icmp).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_range_shows_missing_prefix_as_slash_zero() {
        let mut r = SecurityGroupRule::default();
        assert_eq!(ip_range_text(&r), "0.0.0.0/0");
        r.ethertype = Ethertype::IPv6;
        assert_eq!(ip_range_text(&r), "::/0");
        r.remote_ip_prefix = Some("2001:db8::/64".parse().unwrap());
        assert_eq!(ip_range_text(&r), "2001:db8::/64");
    }
}
