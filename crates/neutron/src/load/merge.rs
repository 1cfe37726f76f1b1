//! Merges the objects of one or more inputs by id, field by field, and records
//! which input gave each field: a field only one input has is taken from it, a
//! lossy rendering (a rule list's `Port Range`) gives way to an exact one, and
//! two inputs that disagree are a [`Conflict`]. Rules join their
//! group (a group only rules name gets its id as name). Fields no input gave
//! become [`Unknown`]s; [`Merger::check_references`] refuses groups that ports
//! or rules name but no input holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::list::{ip_range_text, is_icmp, port_range_text};
use super::{describe, Conflict, Form, Item, Kind, LoadError, MissingGroup, Obj};
use crate::model::{Cloud, Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use crate::unknown::Unknown;

/// A model object whose fields can be compared and copied by API field name.
trait Record: Clone {
    const KIND: Kind;
    /// Every field a [`super::Known`] map may name for this kind.
    const FIELDS: &'static [&'static str];
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    /// The field's value for messages and comparison; `lossy` renders it as
    /// the lossy form prints it (both sides, when either is lossy).
    fn text(&self, field: &str, lossy: bool) -> String;
    fn take(&mut self, other: &Self, field: &str);
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "null".to_string(), |x| quoted(&x.to_string()))
}

impl Record for Port {
    const KIND: Kind = Kind::Port;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "network_id",
        "binding:host_id",
        "mac_address",
        "fixed_ips",
        "allowed_address_pairs",
        "security_groups",
        "port_security_enabled",
        "device_owner",
        "device_id",
        "project_id",
        "revision_number",
        "admin_state_up",
        "binding:vnic_type",
        "binding:vif_type",
        "status",
        "binding:profile",
        "extra_dhcp_opts",
    ];
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn text(&self, field: &str, lossy: bool) -> String {
        match field {
            "name" => quoted(&self.name),
            "network_id" => quoted(&self.network_id),
            "binding:host_id" => quoted(&self.host_id),
            "mac_address" => quoted(&self.mac_address),
            "fixed_ips" => {
                let v: Vec<String> = self
                    .fixed_ips
                    .iter()
                    .map(|f| format!("{} (subnet {})", f.ip_address, f.subnet_id))
                    .collect();
                format!("[{}]", v.join(", "))
            }
            "allowed_address_pairs" => {
                let v: Vec<String> = self
                    .allowed_address_pairs
                    .iter()
                    .map(|p| {
                        let ip = p.written();
                        match &p.mac_address {
                            Some(m) => format!("{ip} {m}"),
                            None => ip,
                        }
                    })
                    .collect();
                format!("[{}]", v.join(", "))
            }
            "security_groups" => {
                let mut v = self.security_groups.clone();
                if lossy {
                    // osc-lib's format_list sorts.
                    v.sort();
                }
                format!("[{}]", v.join(", "))
            }
            "port_security_enabled" => self.port_security_enabled.to_string(),
            "device_owner" => quoted(&self.device_owner),
            "device_id" => quoted(&self.device_id),
            "project_id" => quoted(&self.project_id),
            // Two snapshots of a port taken at different times differ in
            // it: never a conflict, the first input giving it wins.
            "revision_number" => String::new(),
            "admin_state_up" => self.admin_state_up.to_string(),
            "binding:vnic_type" => quoted(&self.vnic_type),
            "binding:vif_type" => quoted(&self.vif_type),
            // Changes as the port goes up and down: never a conflict.
            "status" => String::new(),
            "binding:profile" => Value::Object(self.binding_profile.clone()).to_string(),
            "extra_dhcp_opts" => {
                let v: Vec<String> = self
                    .extra_dhcp_opts
                    .iter()
                    .map(|o| format!("{}={} (IPv{})", o.opt_name, o.opt_value, o.ip_version))
                    .collect();
                format!("[{}]", v.join(", "))
            }
            _ => String::new(),
        }
    }
    fn take(&mut self, o: &Self, field: &str) {
        match field {
            "name" => self.name = o.name.clone(),
            "network_id" => self.network_id = o.network_id.clone(),
            "binding:host_id" => self.host_id = o.host_id.clone(),
            "mac_address" => self.mac_address = o.mac_address.clone(),
            "fixed_ips" => self.fixed_ips = o.fixed_ips.clone(),
            "allowed_address_pairs" => self.allowed_address_pairs = o.allowed_address_pairs.clone(),
            "security_groups" => self.security_groups = o.security_groups.clone(),
            "port_security_enabled" => self.port_security_enabled = o.port_security_enabled,
            "device_owner" => self.device_owner = o.device_owner.clone(),
            "device_id" => self.device_id = o.device_id.clone(),
            "project_id" => self.project_id = o.project_id.clone(),
            "revision_number" => self.revision_number = o.revision_number,
            "admin_state_up" => self.admin_state_up = o.admin_state_up,
            "binding:vnic_type" => self.vnic_type = o.vnic_type.clone(),
            "binding:vif_type" => self.vif_type = o.vif_type.clone(),
            "status" => self.status = o.status.clone(),
            "binding:profile" => self.binding_profile = o.binding_profile.clone(),
            "extra_dhcp_opts" => self.extra_dhcp_opts = o.extra_dhcp_opts.clone(),
            _ => {}
        }
    }
}

impl Record for SecurityGroup {
    const KIND: Kind = Kind::Group;
    const FIELDS: &'static [&'static str] = &["name", "stateful", "security_group_rules"];
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn text(&self, field: &str, _lossy: bool) -> String {
        match field {
            "name" => quoted(&self.name),
            "stateful" => self.stateful.to_string(),
            // Rules merge one by one (by rule id), not as a field.
            _ => String::new(),
        }
    }
    fn take(&mut self, o: &Self, field: &str) {
        match field {
            "name" => self.name = o.name.clone(),
            "stateful" => self.stateful = o.stateful,
            _ => {}
        }
    }
}

impl Record for SecurityGroupRule {
    const KIND: Kind = Kind::Rule;
    const FIELDS: &'static [&'static str] = &[
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range",
        "remote_ip_prefix",
        "remote_group_id",
        "standard_attr_id",
        "description",
    ];
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        ""
    }
    fn text(&self, field: &str, lossy: bool) -> String {
        match field {
            "security_group_id" => quoted(&self.security_group_id),
            "direction" => self.direction.as_str().to_string(),
            "ethertype" => self.ethertype.as_str().to_string(),
            "protocol" => opt(&self.protocol),
            "port_range" if lossy => format!("Port Range {}", quoted(&port_range_text(self))),
            "port_range" => format!(
                "port_range_min {} port_range_max {}",
                opt(&self.port_range_min),
                opt(&self.port_range_max)
            ),
            "remote_ip_prefix" if lossy => format!("IP Range {}", quoted(&ip_range_text(self))),
            "remote_ip_prefix" => opt(&self.remote_ip_prefix),
            "remote_group_id" => opt(&self.remote_group_id),
            "standard_attr_id" => opt(&self.standard_attr_id),
            "description" => quoted(&self.description),
            _ => String::new(),
        }
    }
    fn take(&mut self, o: &Self, field: &str) {
        match field {
            "security_group_id" => self.security_group_id = o.security_group_id.clone(),
            "direction" => self.direction = o.direction,
            "ethertype" => self.ethertype = o.ethertype,
            "protocol" => self.protocol = o.protocol.clone(),
            "port_range" => {
                self.port_range_min = o.port_range_min;
                self.port_range_max = o.port_range_max;
            }
            "remote_ip_prefix" => self.remote_ip_prefix = o.remote_ip_prefix,
            "remote_group_id" => self.remote_group_id = o.remote_group_id.clone(),
            "standard_attr_id" => self.standard_attr_id = o.standard_attr_id,
            "description" => self.description = o.description.clone(),
            _ => {}
        }
    }
}

impl Record for Subnet {
    const KIND: Kind = Kind::Subnet;
    const FIELDS: &'static [&'static str] =
        &["name", "network_id", "cidr", "ip_version", "gateway_ip"];
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn text(&self, field: &str, _lossy: bool) -> String {
        match field {
            "name" => quoted(&self.name),
            "network_id" => quoted(&self.network_id),
            "cidr" => self.cidr.to_string(),
            "ip_version" => self.ip_version.to_string(),
            "gateway_ip" => opt(&self.gateway_ip),
            _ => String::new(),
        }
    }
    fn take(&mut self, o: &Self, field: &str) {
        match field {
            "name" => self.name = o.name.clone(),
            "network_id" => self.network_id = o.network_id.clone(),
            "cidr" => self.cidr = o.cidr,
            "ip_version" => self.ip_version = o.ip_version,
            "gateway_ip" => self.gateway_ip = o.gateway_ip,
            _ => {}
        }
    }
}

impl Record for Network {
    const KIND: Kind = Kind::Network;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "mtu",
        "revision_number",
        "project_id",
        "provider:network_type",
        "provider:physical_network",
        "router:external",
        "vlan_transparent",
        "qinq",
        "availability_zone_hints",
        "subnets",
        "ipv4_address_scope",
        "ipv6_address_scope",
    ];
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn text(&self, field: &str, _lossy: bool) -> String {
        match field {
            "name" => quoted(&self.name),
            "mtu" => opt(&self.mtu),
            // Differs between snapshots taken at different times: never a
            // conflict, the first input giving it wins.
            "revision_number" => String::new(),
            "project_id" => quoted(&self.project_id),
            "provider:network_type" => opt(&self.network_type),
            "provider:physical_network" => opt(&self.physical_network),
            "router:external" => self.router_external.to_string(),
            "vlan_transparent" => self.vlan_transparent.to_string(),
            "qinq" => self.qinq.to_string(),
            "availability_zone_hints" => format!("[{}]", self.availability_zone_hints.join(", ")),
            // A subnet added between two snapshots changes it: the first wins.
            "subnets" => String::new(),
            "ipv4_address_scope" => opt(&self.ipv4_address_scope),
            "ipv6_address_scope" => opt(&self.ipv6_address_scope),
            _ => String::new(),
        }
    }
    fn take(&mut self, o: &Self, field: &str) {
        match field {
            "name" => self.name = o.name.clone(),
            "mtu" => self.mtu = o.mtu,
            "revision_number" => self.revision_number = o.revision_number,
            "project_id" => self.project_id = o.project_id.clone(),
            "provider:network_type" => self.network_type = o.network_type.clone(),
            "provider:physical_network" => self.physical_network = o.physical_network.clone(),
            "router:external" => self.router_external = o.router_external,
            "vlan_transparent" => self.vlan_transparent = o.vlan_transparent,
            "qinq" => self.qinq = o.qinq,
            "availability_zone_hints" => {
                self.availability_zone_hints = o.availability_zone_hints.clone()
            }
            "subnets" => self.subnets = o.subnets.clone(),
            "ipv4_address_scope" => self.ipv4_address_scope = o.ipv4_address_scope.clone(),
            "ipv6_address_scope" => self.ipv6_address_scope = o.ipv6_address_scope.clone(),
            _ => {}
        }
    }
}

/// One merged object: its value, the input (and lossiness) behind each field,
/// and every input it was read from.
struct Entry<T> {
    value: T,
    from: BTreeMap<&'static str, (usize, bool)>,
    inputs: Vec<(usize, Form)>,
}

struct Table<T> {
    entries: Vec<Entry<T>>,
    index: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Record> Table<T> {
    fn push(&mut self, key: String, file: usize, obj: Obj<T>) {
        let from = obj
            .known
            .iter()
            .map(|(f, lossy)| (*f, (file, *lossy)))
            .collect();
        self.index.insert(key, self.entries.len());
        self.entries.push(Entry {
            value: obj.value,
            from,
            inputs: vec![(file, obj.form)],
        });
    }

    /// Adds `obj` (from input `file`) under `key`, merging with an earlier one.
    fn add(
        &mut self,
        files: &[String],
        key: String,
        file: usize,
        obj: Obj<T>,
    ) -> Result<(), LoadError> {
        let Some(&i) = self.index.get(&key) else {
            self.push(key, file, obj);
            return Ok(());
        };
        let e = &mut self.entries[i];
        for &field in T::FIELDS {
            let Some(&lossy_new) = obj.known.get(field) else {
                continue;
            };
            match e.from.get(field).copied() {
                None => {
                    e.value.take(&obj.value, field);
                    e.from.insert(field, (file, lossy_new));
                }
                Some((old_file, lossy_old)) => {
                    let lossy = lossy_old || lossy_new;
                    let (a, b) = (e.value.text(field, lossy), obj.value.text(field, lossy));
                    if a != b {
                        let name = if e.value.name().is_empty() {
                            obj.value.name()
                        } else {
                            e.value.name()
                        };
                        return Err(LoadError::Conflict(Box::new(Conflict {
                            object: describe(T::KIND.noun(), e.value.id(), name, ""),
                            field: field.to_string(),
                            first_source: files[old_file].clone(),
                            first_value: a,
                            second_source: files[file].clone(),
                            second_value: b,
                        })));
                    }
                    if lossy_old && !lossy_new {
                        e.value.take(&obj.value, field);
                        e.from.insert(field, (file, false));
                    }
                }
            }
        }
        if !e.inputs.contains(&(file, obj.form)) {
            e.inputs.push((file, obj.form));
        }
        Ok(())
    }

    fn values(&self) -> impl Iterator<Item = &Entry<T>> {
        self.entries.iter()
    }
}

#[derive(Default)]
pub(crate) struct Merger {
    files: Vec<String>,
    networks: Table<Network>,
    subnets: Table<Subnet>,
    ports: Table<Port>,
    groups: Table<SecurityGroup>,
    rules: Table<SecurityGroupRule>,
    /// Rules without an id get a key of their own (never merged, only
    /// de-duplicated when equal).
    anonymous: usize,
}

impl Merger {
    /// Adds one input's objects.
    pub(crate) fn add(&mut self, source: &str, items: Vec<Item>) -> Result<(), LoadError> {
        let file = self.files.len();
        self.files.push(source.to_string());
        let files = self.files.clone();
        for item in items {
            match item {
                Item::Network(o) => self.networks.add(&files, o.value.id.clone(), file, o)?,
                Item::Subnet(o) => self.subnets.add(&files, o.value.id.clone(), file, o)?,
                Item::Port(o) => self.ports.add(&files, o.value.id.clone(), file, o)?,
                Item::Group(o) => self.groups.add(&files, o.value.id.clone(), file, o)?,
                Item::Rule(o) => {
                    if o.value.security_group_id.is_empty() {
                        return Err(LoadError::Field {
                            source_name: source.to_string(),
                            object: format!("security group rule ({})", o.value.id),
                            field: "security_group_id".into(),
                            message: "missing".into(),
                        });
                    }
                    let key = if o.value.id.is_empty() {
                        if self
                            .rules
                            .values()
                            .any(|e| e.value.id.is_empty() && e.value == o.value)
                        {
                            continue;
                        }
                        self.anonymous += 1;
                        format!("\0{}", self.anonymous)
                    } else {
                        o.value.id.clone()
                    };
                    self.rules.add(&files, key, file, o)?;
                }
            }
        }
        Ok(())
    }

    fn read_from(&self, inputs: &[(usize, Form)]) -> Vec<String> {
        inputs
            .iter()
            .map(|(f, form)| format!("{} ({})", self.files[*f], form.label()))
            .collect()
    }

    /// The merged cloud, with the fields no input gave in `Cloud::unknown`.
    pub(crate) fn finish(&mut self) -> Cloud {
        // Groups that only rules name; groups whose rules came from rule lists.
        for r in &self.rules.entries {
            let gid = r.value.security_group_id.clone();
            let rule_file = r.inputs[0].0;
            match self.groups.index.get(&gid) {
                Some(&i) => {
                    let g = &mut self.groups.entries[i];
                    g.from
                        .entry("security_group_rules")
                        .or_insert((rule_file, false));
                }
                None => {
                    let mut from = BTreeMap::new();
                    from.insert("security_group_rules", (rule_file, false));
                    self.groups
                        .index
                        .insert(gid.clone(), self.groups.entries.len());
                    self.groups.entries.push(Entry {
                        value: SecurityGroup {
                            id: gid,
                            ..SecurityGroup::default()
                        },
                        from,
                        inputs: r.inputs.clone(),
                    });
                }
            }
        }

        let mut cloud = Cloud {
            networks: self.networks.values().map(|e| e.value.clone()).collect(),
            subnets: self.subnets.values().map(|e| e.value.clone()).collect(),
            ports: self.ports.values().map(|e| e.value.clone()).collect(),
            ..Cloud::default()
        };
        let mut groups: Vec<SecurityGroup> = self
            .groups
            .values()
            .map(|e| {
                let mut g = e.value.clone();
                g.rules.clear();
                if !e.from.contains_key("name") {
                    // Known only from rule lists: the id stands in for the name.
                    g.name = g.id.clone();
                }
                g
            })
            .collect();
        for r in self.rules.values() {
            let i = self.groups.index[&r.value.security_group_id];
            groups[i].rules.push(r.value.clone());
        }
        cloud.security_groups = groups;

        let mut unknown = Vec::new();
        let mut note = |kind: Kind,
                        id: &str,
                        name: &str,
                        field: &'static str,
                        inputs: &[(usize, Form)],
                        hint: String| {
            unknown.push(Unknown {
                kind: kind.noun(),
                id: id.to_string(),
                name: name.to_string(),
                field,
                read_from: self.read_from(inputs),
                hint,
            });
        };
        for e in self.ports.values() {
            let p = &e.value;
            // A router or DHCP port without groups: the agent does not filter
            // it and it is in no remote-group set, so nothing here matters.
            let network_owned = e.from.contains_key("device_owner")
                && p.device_owner.starts_with("network:")
                && p.security_groups.is_empty();
            if network_owned {
                continue;
            }
            for field in [
                "binding:host_id",
                "allowed_address_pairs",
                "port_security_enabled",
                "security_groups",
                "fixed_ips",
                "device_owner",
            ] {
                if e.from.contains_key(field) {
                    continue;
                }
                let hint = if field == "binding:host_id" {
                    format!(
                        "an admin's `openstack port show -f json {}` (or GET /v2.0/ports/{} \
                         with an admin token) has it",
                        p.id, p.id
                    )
                } else {
                    format!(
                        "add `openstack port show -f json {}` (or GET /v2.0/ports/{}) to the inputs",
                        p.id, p.id
                    )
                };
                note(Kind::Port, &p.id, &p.name, field, &e.inputs, hint);
            }
        }
        for e in self.groups.values() {
            let g = &e.value;
            for field in ["security_group_rules", "stateful"] {
                if !e.from.contains_key(field) {
                    let hint = format!(
                        "add `openstack security group show -f json {}` (or GET \
                         /v2.0/security-groups/{}) to the inputs",
                        g.id, g.id
                    );
                    let name = if e.from.contains_key("name") {
                        &g.name
                    } else {
                        ""
                    };
                    note(Kind::Group, &g.id, name, field, &e.inputs, hint);
                }
            }
        }
        for e in self.rules.values() {
            let r = &e.value;
            let lossy_range = e.from.get("port_range").is_some_and(|&(_, lossy)| lossy);
            if !lossy_range || !is_icmp(r.protocol.as_deref()) {
                continue;
            }
            let hint = format!(
                "rule lists print ICMP type 0 and code 0 as nothing; add `openstack security \
                 group show -f json {}` to the inputs",
                r.security_group_id
            );
            if r.port_range_min.is_none() {
                note(
                    Kind::Rule,
                    &r.id,
                    "",
                    "port_range_min",
                    &e.inputs,
                    hint.clone(),
                );
            }
            if r.port_range_max.is_none() {
                note(Kind::Rule, &r.id, "", "port_range_max", &e.inputs, hint);
            }
        }
        for e in self.subnets.values() {
            if !e.from.contains_key("gateway_ip") {
                let s = &e.value;
                let hint = format!(
                    "add `openstack subnet show -f json {}` or use `openstack subnet list --long -f json`",
                    s.id
                );
                note(Kind::Subnet, &s.id, &s.name, "gateway_ip", &e.inputs, hint);
            }
        }
        cloud.unknown = unknown;
        cloud
    }

    /// Refuses ports and rules that name security groups no input holds.
    pub(crate) fn check_references(&self, cloud: &Cloud) -> Result<(), LoadError> {
        let known: BTreeSet<&str> = cloud
            .security_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        let source = |from: &BTreeMap<&'static str, (usize, bool)>,
                      field: &str,
                      inputs: &[(usize, Form)]| {
            let f = from.get(field).map_or(inputs[0].0, |&(f, _)| f);
            self.files[f].clone()
        };
        let mut missing = Vec::new();
        for e in self.ports.values() {
            let p = &e.value;
            for g in &p.security_groups {
                if !known.contains(g.as_str()) {
                    missing.push(MissingGroup {
                        source_name: source(&e.from, "security_groups", &e.inputs),
                        object: describe("port", &p.id, &p.name, ""),
                        field: "security_groups",
                        group_id: g.clone(),
                    });
                }
            }
        }
        for e in self.rules.values() {
            let r = &e.value;
            let Some(rg) = &r.remote_group_id else {
                continue;
            };
            if known.contains(rg.as_str()) {
                continue;
            }
            let group = cloud
                .security_groups
                .iter()
                .find(|g| g.id == r.security_group_id)
                .map(|g| describe("security group", &g.id, &g.name, ""))
                .unwrap_or_default();
            let rule = if r.id.is_empty() {
                "security group rule".to_string()
            } else {
                format!("security group rule {}", r.id)
            };
            missing.push(MissingGroup {
                source_name: source(&e.from, "remote_group_id", &e.inputs),
                object: format!("{rule} of {group}"),
                field: "remote_group_id",
                group_id: rg.clone(),
            });
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(LoadError::MissingGroups(missing))
        }
    }
}
