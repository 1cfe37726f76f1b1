//! OpenStack Neutron resources as plain mutable structs: networks, subnets,
//! ports and security groups. `check` edits them to try fixes, so they stay
//! simple data with a few lookup helpers.

use std::net::IpAddr;

use ipnet::IpNet;
use packet::MacAddr;
use serde_json::{json, Map, Value};

use crate::unknown::Unknown;

/// Everything vipwire knows about one cloud (or the part of it loaded so far).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cloud {
    pub networks: Vec<Network>,
    pub subnets: Vec<Subnet>,
    pub ports: Vec<Port>,
    pub security_groups: Vec<SecurityGroup>,
    /// Fields no input carried (see [`Unknown`]); their values above are the
    /// model's defaults, not facts. Empty for complete API or `show` inputs.
    pub unknown: Vec<Unknown>,
}

/// A network. Besides id and name, the fields ML2/OVN copies into the
/// logical switch (`Logical_Switch.external_ids` / `other_config`); an input
/// without them loads the defaults noted on each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `mtu`; None when the input lacks it.
    pub mtu: Option<u32>,
    /// `revision_number`; None when the input lacks it.
    pub revision_number: Option<u64>,
    /// `project_id` (or `tenant_id`); "" when absent.
    pub project_id: String,
    /// `provider:network_type` (`geneve`, `vlan`, `flat`, ...), if given.
    pub network_type: Option<String>,
    /// `provider:physical_network`, if any.
    pub physical_network: Option<String>,
    /// `router:external` (default false).
    pub router_external: bool,
    /// `vlan_transparent` (default false).
    pub vlan_transparent: bool,
    /// `qinq` (default false).
    pub qinq: bool,
    /// `availability_zone_hints`, as listed.
    pub availability_zone_hints: Vec<String>,
    /// `subnets`: the ids of the network's subnets, as listed.
    pub subnets: Vec<String>,
    /// `ipv4_address_scope` / `ipv6_address_scope`: the address scope of the
    /// subnet pools the network's subnets come from, if any.
    pub ipv4_address_scope: Option<String>,
    pub ipv6_address_scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub cidr: IpNet,
    pub ip_version: u8,
    pub gateway_ip: Option<IpAddr>,
    /// `enable_dhcp` (API default true): ML2/OVN then serves DHCP natively.
    pub enable_dhcp: bool,
    /// `ipv6_address_mode` (`slaac`, `dhcpv6-stateful`, ...), if set.
    pub ipv6_address_mode: Option<String>,
    /// `subnetpool_id`, if the subnet was allocated from a pool.
    pub subnetpool_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub network_id: String,
    /// `binding:host_id`.
    pub host_id: String,
    /// Lowercase, colon separated.
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub allowed_address_pairs: Vec<AddressPair>,
    /// Security group ids, in the order the API lists them.
    pub security_groups: Vec<String>,
    pub port_security_enabled: bool,
    pub device_owner: String,
    /// `device_id` ("" when absent).
    pub device_id: String,
    /// `project_id` (or `tenant_id`; "" when absent).
    pub project_id: String,
    /// `revision_number`; None when the input lacks it.
    pub revision_number: Option<u64>,
    /// `admin_state_up` (default true).
    pub admin_state_up: bool,
    /// `binding:vnic_type` (default `normal`).
    pub vnic_type: String,
    /// `binding:vif_type` ("" when absent; `unbound` for an unbound port).
    pub vif_type: String,
    /// `status` (`ACTIVE`, `DOWN`, ...; "" when absent).
    pub status: String,
    /// `binding:profile` as given (empty when absent).
    pub binding_profile: Map<String, Value>,
    /// `extra_dhcp_opts`, in the order listed.
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
}

/// One of a port's `extra_dhcp_opts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    /// 4 or 6 (the API's default is 4).
    pub ip_version: u8,
}

impl Default for Port {
    fn default() -> Self {
        Port {
            id: String::new(),
            name: String::new(),
            network_id: String::new(),
            host_id: String::new(),
            mac_address: String::new(),
            fixed_ips: Vec::new(),
            allowed_address_pairs: Vec::new(),
            security_groups: Vec::new(),
            port_security_enabled: true,
            device_owner: String::new(),
            device_id: String::new(),
            project_id: String::new(),
            revision_number: None,
            admin_state_up: true,
            vnic_type: "normal".to_string(),
            vif_type: String::new(),
            status: String::new(),
            binding_profile: Map::new(),
            extra_dhcp_opts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPair {
    /// As given, host bits kept (`10.0.0.201/30` stays so); a bare IP is /32 or /128.
    pub ip_address: IpNet,
    /// As given (Neutron stores pair MACs unnormalised); `None` means the port MAC.
    pub mac_address: Option<String>,
    /// `ip_address` exactly as the API returned it (None when built in code).
    /// The API orders pairs by these raw strings, case included.
    pub ip_text: Option<String>,
}

impl AddressPair {
    /// `ip_address` as the API holds it: the raw text, else a host as a bare IP.
    pub fn written(&self) -> String {
        self.ip_text
            .clone()
            .unwrap_or_else(|| pair_ip_text(&self.ip_address))
    }

    /// The key the API sorts a port's pairs by: the raw (mac, ip) strings.
    pub fn api_sort_key(&self, port_mac: &str) -> (String, String) {
        (
            self.mac_address
                .clone()
                .unwrap_or_else(|| port_mac.to_string()),
            self.written(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub stateful: bool,
    pub rules: Vec<SecurityGroupRule>,
}

impl Default for SecurityGroup {
    fn default() -> Self {
        SecurityGroup {
            id: String::new(),
            name: String::new(),
            stateful: true,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    Ingress,
    Egress,
}

impl RuleDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleDirection::Ingress => "ingress",
            RuleDirection::Egress => "egress",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ethertype {
    IPv4,
    IPv6,
}

impl Ethertype {
    pub fn as_str(self) -> &'static str {
        match self {
            Ethertype::IPv4 => "IPv4",
            Ethertype::IPv6 => "IPv6",
        }
    }

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Ethertype {
        match ip {
            IpAddr::V4(_) => Ethertype::IPv4,
            IpAddr::V6(_) => Ethertype::IPv6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRule {
    pub id: String,
    pub security_group_id: String,
    pub direction: RuleDirection,
    pub ethertype: Ethertype,
    /// As the API gives it: "tcp", "6", "icmp", "ipv6-icmp", "vrrp", "112", ...
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<IpNet>,
    pub remote_group_id: Option<String>,
    /// Creation order; the agent sorts a group's rules by it.
    pub standard_attr_id: Option<u64>,
    pub description: String,
}

impl Default for SecurityGroupRule {
    fn default() -> Self {
        SecurityGroupRule {
            id: String::new(),
            security_group_id: String::new(),
            direction: RuleDirection::Ingress,
            ethertype: Ethertype::IPv4,
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: None,
            standard_attr_id: None,
            description: String::new(),
        }
    }
}

impl Cloud {
    /// A port by exact id, else by unique name, else by unique id prefix.
    pub fn port(&self, id_or_name: &str) -> Option<&Port> {
        let i = find_index(&self.ports, id_or_name, |p| (&p.id, &p.name))?;
        self.ports.get(i)
    }

    pub fn port_mut(&mut self, id_or_name: &str) -> Option<&mut Port> {
        let i = find_index(&self.ports, id_or_name, |p| (&p.id, &p.name))?;
        self.ports.get_mut(i)
    }

    /// A security group by exact id, else by unique name, else by unique id prefix.
    pub fn group(&self, id_or_name: &str) -> Option<&SecurityGroup> {
        let i = find_index(&self.security_groups, id_or_name, |g| (&g.id, &g.name))?;
        self.security_groups.get(i)
    }

    pub fn group_mut(&mut self, id_or_name: &str) -> Option<&mut SecurityGroup> {
        let i = find_index(&self.security_groups, id_or_name, |g| (&g.id, &g.name))?;
        self.security_groups.get_mut(i)
    }

    pub fn network(&self, id_or_name: &str) -> Option<&Network> {
        let i = find_index(&self.networks, id_or_name, |n| (&n.id, &n.name))?;
        self.networks.get(i)
    }

    pub fn subnet(&self, id_or_name: &str) -> Option<&Subnet> {
        let i = find_index(&self.subnets, id_or_name, |s| (&s.id, &s.name))?;
        self.subnets.get(i)
    }

    /// The fields no input carried for the object with this exact id (a port,
    /// group, rule or subnet), e.g. `["allowed_address_pairs"]`.
    pub fn unknown_fields(&self, id: &str) -> Vec<&'static str> {
        self.unknown
            .iter()
            .filter(|u| u.id == id)
            .map(|u| u.field)
            .collect()
    }

    /// Adds `other`'s resources; one with an id already present replaces the old one
    /// in place (later files win), new ones are appended in their order. The
    /// unknown fields of a replaced object are `other`'s. (`load::load_files`
    /// merges files field by field instead and refuses conflicts.)
    pub fn merge(&mut self, other: Cloud) {
        let replaced: std::collections::BTreeSet<&str> = other
            .networks
            .iter()
            .map(|n| n.id.as_str())
            .chain(other.subnets.iter().map(|s| s.id.as_str()))
            .chain(other.ports.iter().map(|p| p.id.as_str()))
            .chain(other.security_groups.iter().flat_map(|g| {
                std::iter::once(g.id.as_str()).chain(g.rules.iter().map(|r| r.id.as_str()))
            }))
            .collect();
        self.unknown.retain(|u| !replaced.contains(u.id.as_str()));
        self.unknown.extend(other.unknown.iter().cloned());
        merge_by_id(&mut self.networks, other.networks, |n| n.id.clone());
        merge_by_id(&mut self.subnets, other.subnets, |s| s.id.clone());
        merge_by_id(&mut self.ports, other.ports, |p| p.id.clone());
        merge_by_id(&mut self.security_groups, other.security_groups, |g| {
            g.id.clone()
        });
    }

    /// The hosts (`binding:host_id`) that have at least one port, sorted.
    pub fn hosts(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<String> = self
            .ports
            .iter()
            .map(|p| p.host_id.clone())
            .filter(|h| !h.is_empty())
            .collect();
        set.into_iter().collect()
    }

    /// The API list-response shape (`{"networks": [...], "subnets": [...], "ports": [...],
    /// "security_groups": [...]}`); `load::load_json` reads it back to an equal `Cloud`.
    /// Fields in [`Cloud::unknown`] are written as their defaults, as known values.
    pub fn to_json(&self) -> Value {
        json!({
            "networks": self.networks.iter().map(Network::to_json).collect::<Vec<_>>(),
            "subnets": self.subnets.iter().map(Subnet::to_json).collect::<Vec<_>>(),
            "ports": self.ports.iter().map(Port::to_json).collect::<Vec<_>>(),
            "security_groups": self.security_groups.iter().map(SecurityGroup::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Network {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        if let Some(mtu) = self.mtu {
            m.insert("mtu".into(), json!(mtu));
        }
        if let Some(r) = self.revision_number {
            m.insert("revision_number".into(), json!(r));
        }
        m.insert("project_id".into(), json!(self.project_id));
        m.insert("provider:network_type".into(), json!(self.network_type));
        m.insert(
            "provider:physical_network".into(),
            json!(self.physical_network),
        );
        m.insert("router:external".into(), json!(self.router_external));
        m.insert("vlan_transparent".into(), json!(self.vlan_transparent));
        m.insert("qinq".into(), json!(self.qinq));
        m.insert(
            "availability_zone_hints".into(),
            json!(self.availability_zone_hints),
        );
        m.insert("subnets".into(), json!(self.subnets));
        m.insert("ipv4_address_scope".into(), json!(self.ipv4_address_scope));
        m.insert("ipv6_address_scope".into(), json!(self.ipv6_address_scope));
        Value::Object(m)
    }
}

impl Subnet {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "network_id": self.network_id,
            "cidr": self.cidr.to_string(),
            "ip_version": self.ip_version,
            "gateway_ip": self.gateway_ip.map(|g| g.to_string()),
            "enable_dhcp": self.enable_dhcp,
            "ipv6_address_mode": self.ipv6_address_mode,
            "subnetpool_id": self.subnetpool_id,
        })
    }
}

impl Port {
    /// Every address the port may send from (fixed IPs and pair prefixes).
    pub fn addresses(&self) -> Vec<IpNet> {
        let mut out: Vec<IpNet> = self
            .fixed_ips
            .iter()
            .map(|f| IpNet::from(f.ip_address))
            .collect();
        out.extend(self.allowed_address_pairs.iter().map(|p| p.ip_address));
        out
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("network_id".into(), json!(self.network_id));
        m.insert("binding:host_id".into(), json!(self.host_id));
        m.insert("mac_address".into(), json!(self.mac_address));
        m.insert(
            "fixed_ips".into(),
            Value::Array(
                self.fixed_ips
                    .iter()
                    .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address.to_string()}))
                    .collect(),
            ),
        );
        m.insert(
            "allowed_address_pairs".into(),
            Value::Array(
                self.allowed_address_pairs
                    .iter()
                    .map(|p| {
                        let mut o = Map::new();
                        let ip = p.written();
                        o.insert("ip_address".into(), json!(ip));
                        if let Some(mac) = &p.mac_address {
                            o.insert("mac_address".into(), json!(mac));
                        }
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        m.insert("security_groups".into(), json!(self.security_groups));
        m.insert(
            "port_security_enabled".into(),
            json!(self.port_security_enabled),
        );
        m.insert("device_owner".into(), json!(self.device_owner));
        m.insert("device_id".into(), json!(self.device_id));
        m.insert("project_id".into(), json!(self.project_id));
        if let Some(r) = self.revision_number {
            m.insert("revision_number".into(), json!(r));
        }
        m.insert("admin_state_up".into(), json!(self.admin_state_up));
        m.insert("binding:vnic_type".into(), json!(self.vnic_type));
        m.insert("binding:vif_type".into(), json!(self.vif_type));
        m.insert("status".into(), json!(self.status));
        m.insert(
            "binding:profile".into(),
            Value::Object(self.binding_profile.clone()),
        );
        m.insert(
            "extra_dhcp_opts".into(),
            Value::Array(
                self.extra_dhcp_opts
                    .iter()
                    .map(|o| {
                        json!({"opt_name": o.opt_name, "opt_value": o.opt_value,
                               "ip_version": o.ip_version})
                    })
                    .collect(),
            ),
        );
        Value::Object(m)
    }
}

/// The bytes of a MAC written as six two-digit hex groups separated by `:` or
/// `-` (the forms netaddr's EUI accepts from the API): [`MacAddr::parse_strict`].
pub fn mac_bytes(text: &str) -> Option<[u8; 6]> {
    MacAddr::parse_strict(text).map(|m| m.0)
}

/// A pair address as the API prints it: a bare IP for a host prefix, else a CIDR
/// with the host bits as given.
pub fn pair_ip_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

impl SecurityGroup {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "stateful": self.stateful,
            "security_group_rules": self.rules.iter().map(SecurityGroupRule::to_json).collect::<Vec<_>>(),
        })
    }
}

impl SecurityGroupRule {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("security_group_id".into(), json!(self.security_group_id));
        m.insert("direction".into(), json!(self.direction.as_str()));
        m.insert("ethertype".into(), json!(self.ethertype.as_str()));
        m.insert("protocol".into(), json!(self.protocol));
        m.insert("port_range_min".into(), json!(self.port_range_min));
        m.insert("port_range_max".into(), json!(self.port_range_max));
        m.insert(
            "remote_ip_prefix".into(),
            json!(self.remote_ip_prefix.map(|p| p.to_string())),
        );
        m.insert("remote_group_id".into(), json!(self.remote_group_id));
        if let Some(s) = self.standard_attr_id {
            m.insert("standard_attr_id".into(), json!(s));
        }
        m.insert("description".into(), json!(self.description));
        Value::Object(m)
    }
}

fn find_index<T>(
    items: &[T],
    key: &str,
    idname: impl Fn(&T) -> (&String, &String),
) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    if let Some(i) = items.iter().position(|t| idname(t).0 == key) {
        return Some(i);
    }
    let unique = |pred: &dyn Fn(&T) -> bool| {
        let mut hits = items.iter().enumerate().filter(|(_, t)| pred(t));
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    unique(&|t| idname(t).1 == key).or_else(|| unique(&|t| idname(t).0.starts_with(key)))
}

fn merge_by_id<T>(into: &mut Vec<T>, from: Vec<T>, id: impl Fn(&T) -> String) {
    for item in from {
        let k = id(&item);
        match into.iter().position(|t| id(t) == k) {
            Some(i) => into[i] = item,
            None => into.push(item),
        }
    }
}
