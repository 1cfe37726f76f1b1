//! The fix as a plan of API writes, and the fix in the forms deployments are
//! managed by (`--fix-format openstack|json|terraform|ansible`). Pure: built
//! from the scenario (what was read) and the fix's changes.
//!
//! A plan runs in this order, so that no port ever sits in a group missing a
//! rule it needs: new stateless groups with their copied rules, then new rules,
//! then ports moved into the new groups, then allowed address pairs (merged
//! into each port's current list), then ports whose port security is turned off.

use check::fix::{refused, Change, STATELESS_ID};
use check::Scenario;
use openstack::write::Pair;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// A security group rule as the API takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_min: Option<u32>,
    pub port_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

impl RuleSpec {
    /// The `security_group_rule` body for the group `group_id`.
    pub fn body(&self, group_id: &str) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("security_group_id".into(), json!(group_id));
        m.insert("direction".into(), json!(self.direction));
        m.insert("ethertype".into(), json!(self.ethertype));
        if let Some(p) = &self.protocol {
            m.insert("protocol".into(), json!(p));
        }
        if let Some(p) = self.port_min {
            m.insert("port_range_min".into(), json!(p));
        }
        if let Some(p) = self.port_max {
            m.insert("port_range_max".into(), json!(p));
        }
        if let Some(r) = &self.remote_ip_prefix {
            m.insert("remote_ip_prefix".into(), json!(r));
        }
        if let Some(g) = &self.remote_group_id {
            m.insert("remote_group_id".into(), json!(g));
        }
        Value::Object(m)
    }

    /// `ingress IPv4 tcp 80 from 0.0.0.0/0`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.direction, self.ethertype);
        s += &format!(" {}", self.protocol.as_deref().unwrap_or("any protocol"));
        match (self.port_min, self.port_max) {
            (Some(a), Some(b)) if a != b => s += &format!(" {a}-{b}"),
            (Some(a), _) => s += &format!(" {a}"),
            _ => {}
        }
        let dir = if self.direction == "ingress" {
            "from"
        } else {
            "to"
        };
        match (&self.remote_ip_prefix, &self.remote_group_id) {
            (Some(r), _) => s += &format!(" {dir} {r}"),
            (None, Some(g)) => s += &format!(" {dir} members of group {g}"),
            (None, None) => s += &format!(" {dir} anywhere"),
        }
        s
    }
}

/// The group a rule goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRef {
    /// A group of the cloud.
    Existing { id: String, name: String },
    /// The stateless group the plan creates for this port.
    New { port_id: String, name: String },
}

impl GroupRef {
    pub fn name(&self) -> &str {
        match self {
            GroupRef::Existing { name, .. } | GroupRef::New { name, .. } => name,
        }
    }
}

/// One write of the plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// Create a stateless group holding copies of the port's groups' rules.
    NewGroup {
        port_id: String,
        port: String,
        name: String,
        copies: Vec<RuleSpec>,
        from: Vec<String>,
    },
    /// Create a rule.
    Rule { group: GroupRef, rule: RuleSpec },
    /// Move a port into its new stateless group (revision-safe).
    SetGroups {
        port_id: String,
        port: String,
        before: Vec<String>,
        group: String,
    },
    /// Write bare pairs as CIDRs and merge pairs into a port's list, in one
    /// revision-safe write.
    Pairs {
        port_id: String,
        port: String,
        before: Vec<Pair>,
        /// Pairs held as a bare IP, to be written as their /32 (/128).
        as_cidr: Vec<Pair>,
        add: Vec<Pair>,
    },
    /// Turn port security off (groups and pairs go too; revision-safe).
    NoPortSecurity {
        port_id: String,
        port: String,
        groups: Vec<String>,
        pairs: Vec<Pair>,
    },
}

/// The plan: steps in order, and the changes the cloud would refuse.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub refused: Vec<String>,
}

/// Why the cloud's API refuses a change: the fix's own rule (ML2/OVN pair
/// MACs) and Neutron's refusal of a `::/0` pair (neutron-lib's
/// `validate_subnet_not_multicast` in the allowed-address-pairs validator:
/// `::/0` contains ff00::/8).
pub fn why_refused(sc: &Scenario, c: &Change) -> Option<String> {
    if let Some(why) = refused(sc, c) {
        return Some(why);
    }
    if let Change::AddAllowedAddressPair {
        port, ip_address, ..
    } = c
    {
        let multicast: std::net::IpAddr = "ff00::".parse().expect("literal");
        if ip_address.addr().is_ipv6() && ip_address.contains(&multicast) {
            return Some(format!(
                "Neutron refuses the pair {ip_address} on {port}: 400 (it overlaps the \
                     multicast range ff00::/8; neutron-lib's allowed-address-pairs validator)"
            ));
        }
    }
    None
}

fn group_name(sc: &Scenario, id: &str) -> String {
    sc.cloud
        .group(id)
        .map(|g| g.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string())
}

fn model_pairs(sc: &Scenario, port_id: &str) -> Vec<Pair> {
    sc.cloud
        .port(port_id)
        .map(|p| {
            p.allowed_address_pairs
                .iter()
                .map(|a| Pair {
                    ip_address: a.written(),
                    mac_address: a.mac_address.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The copies of a port's groups' rules, as its new stateless group gets them.
fn copies_of(sc: &Scenario, port_id: &str) -> (Vec<RuleSpec>, Vec<String>) {
    let Some(p) = sc.cloud.port(port_id) else {
        return (vec![], vec![]);
    };
    let mut out = Vec::new();
    let mut from = Vec::new();
    for g in &p.security_groups {
        let Some(sg) = sc.cloud.group(g) else {
            continue;
        };
        from.push(group_name(sc, g));
        let mut rules: Vec<_> = sg.rules.iter().collect();
        rules.sort_by_key(|r| r.standard_attr_id);
        for r in rules {
            let spec = RuleSpec {
                direction: r.direction.as_str().into(),
                ethertype: r.ethertype.as_str().into(),
                protocol: r.protocol.clone(),
                port_min: r.port_range_min,
                port_max: r.port_range_max,
                remote_ip_prefix: r.remote_ip_prefix.map(|n| n.to_string()),
                remote_group_id: r.remote_group_id.clone(),
            };
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    (out, from)
}

/// The plan for `changes` on the cloud `sc` was read from.
pub fn plan(sc: &Scenario, changes: &[Change]) -> Plan {
    let mut new_groups = Vec::new();
    let mut rules = Vec::new();
    let mut set_groups = Vec::new();
    let mut pairs: Vec<Step> = Vec::new();
    let mut no_security = Vec::new();
    let mut refused = Vec::new();
    for c in changes {
        if let Some(why) = why_refused(sc, c) {
            refused.push(why);
            continue;
        }
        match c {
            Change::AddAllowedAddressPair {
                port_id,
                port,
                ip_address,
                mac_address,
            } => {
                // As `--fix` writes it (check::fix::pair_ip_written).
                let pair = Pair {
                    ip_address: check::fix::pair_ip_written(&sc.cloud, ip_address),
                    mac_address: mac_address.clone(),
                };
                if let Step::Pairs { add, .. } = pairs_step(sc, &mut pairs, port_id, port) {
                    add.push(pair);
                }
            }
            Change::WritePairAsCidr {
                port_id,
                port,
                ip_address,
                mac_address,
            } => {
                let bare = Pair {
                    ip_address: ip_address.to_string(),
                    mac_address: mac_address.clone(),
                };
                if let Step::Pairs { as_cidr, .. } = pairs_step(sc, &mut pairs, port_id, port) {
                    as_cidr.push(bare);
                }
            }
            Change::AddSecurityGroupRule {
                group_id,
                group,
                ingress,
                ethertype,
                protocol,
                port,
                remote_ip_prefix,
            } => {
                let target = match group_id.strip_prefix(STATELESS_ID) {
                    Some(port_id) => GroupRef::New {
                        port_id: port_id.to_string(),
                        name: group.clone(),
                    },
                    None => GroupRef::Existing {
                        id: group_id.clone(),
                        name: group.clone(),
                    },
                };
                rules.push(Step::Rule {
                    group: target,
                    rule: RuleSpec {
                        direction: if *ingress { "ingress" } else { "egress" }.into(),
                        ethertype: ethertype.clone(),
                        protocol: protocol.clone(),
                        port_min: port.map(u32::from),
                        port_max: port.map(u32::from),
                        remote_ip_prefix: remote_ip_prefix.map(|r| r.to_string()),
                        remote_group_id: None,
                    },
                });
            }
            Change::UseStatelessGroup {
                port_id,
                port,
                group,
                ..
            } => {
                let (copies, from) = copies_of(sc, port_id);
                new_groups.push(Step::NewGroup {
                    port_id: port_id.clone(),
                    port: port.clone(),
                    name: group.clone(),
                    copies,
                    from,
                });
                set_groups.push(Step::SetGroups {
                    port_id: port_id.clone(),
                    port: port.clone(),
                    before: sc
                        .cloud
                        .port(port_id)
                        .map(|p| p.security_groups.clone())
                        .unwrap_or_default(),
                    group: group.clone(),
                });
            }
            Change::DisablePortSecurity { port_id, port } => {
                no_security.push(Step::NoPortSecurity {
                    port_id: port_id.clone(),
                    port: port.clone(),
                    groups: sc
                        .cloud
                        .port(port_id)
                        .map(|p| p.security_groups.clone())
                        .unwrap_or_default(),
                    pairs: model_pairs(sc, port_id),
                })
            }
        }
    }
    let mut steps = new_groups;
    steps.extend(rules);
    steps.extend(set_groups);
    steps.extend(pairs);
    steps.extend(no_security);
    Plan { steps, refused }
}

/// The port's pairs step of the plan, made on first use.
fn pairs_step<'a>(
    sc: &Scenario,
    steps: &'a mut Vec<Step>,
    port_id: &str,
    port: &str,
) -> &'a mut Step {
    let at = match steps
        .iter()
        .position(|s| matches!(s, Step::Pairs { port_id: p, .. } if p == port_id))
    {
        Some(i) => i,
        None => {
            steps.push(Step::Pairs {
                port_id: port_id.to_string(),
                port: port.to_string(),
                before: model_pairs(sc, port_id),
                as_cidr: Vec::new(),
                add: Vec::new(),
            });
            steps.len() - 1
        }
    };
    &mut steps[at]
}

/// A bare pair written as its CIDR (`203.0.113.5` -> `203.0.113.5/32`), same MAC.
pub fn cidr_form(bare: &Pair) -> Pair {
    let ip_address = match bare.ip_address.parse::<std::net::IpAddr>() {
        Ok(a) => format!("{a}/{}", if a.is_ipv4() { 32 } else { 128 }),
        Err(_) => bare.ip_address.clone(),
    };
    Pair {
        ip_address,
        mac_address: bare.mac_address.clone(),
    }
}

/// `as_cidr` with each pair's new address text, as [`openstack::write::add_pairs`] takes them.
pub fn retext(as_cidr: &[Pair]) -> Vec<(Pair, String)> {
    as_cidr
        .iter()
        .map(|p| (p.clone(), cidr_form(p).ip_address))
        .collect()
}

/// What a port's pairs step leaves: `before` with the `as_cidr` entries
/// written as CIDRs, then `add`.
pub fn pairs_after(before: &[Pair], as_cidr: &[Pair], add: &[Pair]) -> Vec<Pair> {
    let mut after: Vec<Pair> = before
        .iter()
        .map(|p| match as_cidr.contains(p) {
            true => cidr_form(p),
            false => p.clone(),
        })
        .collect();
    after.extend(add.iter().cloned());
    after
}

fn pair_text(p: &Pair) -> String {
    match &p.mac_address {
        Some(m) => format!("{} ({m})", p.ip_address),
        None => p.ip_address.clone(),
    }
}

fn pairs_text(l: &[Pair]) -> String {
    if l.is_empty() {
        "(none)".into()
    } else {
        l.iter().map(pair_text).collect::<Vec<_>>().join(", ")
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

impl Step {
    /// One line (or a few) saying what the step changes, before -> after.
    pub fn describe(&self, sc: &Scenario) -> String {
        let names = |ids: &[String]| {
            if ids.is_empty() {
                "(none)".to_string()
            } else {
                ids.iter()
                    .map(|g| group_name(sc, g))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        match self {
            Step::NewGroup {
                name, copies, from, ..
            } => {
                let mut s = format!(
                    "create security group {name} (stateless) with {} rule(s) copied from {}",
                    copies.len(),
                    if from.is_empty() {
                        "(no group)".into()
                    } else {
                        from.join(", ")
                    }
                );
                for r in copies {
                    s += &format!("\n      + {}", r.describe());
                }
                s
            }
            Step::Rule { group, rule } => {
                let id = match group {
                    GroupRef::Existing { id, .. } => format!(" ({})", short(id)),
                    GroupRef::New { .. } => " (new)".into(),
                };
                format!(
                    "security group {}{id}: add rule {}",
                    group.name(),
                    rule.describe()
                )
            }
            Step::SetGroups {
                port_id,
                port,
                before,
                group,
            } => format!(
                "port {port} ({}): security groups: {} -> {group}",
                short(port_id),
                names(before)
            ),
            Step::Pairs {
                port_id,
                port,
                before,
                as_cidr,
                add,
            } => {
                let after = pairs_after(before, as_cidr, add);
                format!(
                    "port {port} ({}): allowed address pairs: {} -> {}",
                    short(port_id),
                    pairs_text(before),
                    pairs_text(&after)
                )
            }
            Step::NoPortSecurity {
                port_id,
                port,
                groups,
                pairs,
            } => format!(
                "port {port} ({}): port security on -> off; security groups {} -> (none); \
                 allowed address pairs {} -> (none)",
                short(port_id),
                names(groups),
                pairs_text(pairs)
            ),
        }
    }

    /// A short name for the applied / not applied lists.
    pub fn title(&self) -> String {
        match self {
            Step::NewGroup { name, port, .. } => format!("create group {name} (for {port})"),
            Step::Rule { group, rule } => format!("rule {} on {}", rule.describe(), group.name()),
            Step::SetGroups { port, group, .. } => format!("port {port}: groups -> {group}"),
            Step::Pairs {
                port, as_cidr, add, ..
            } => {
                let mut t = format!("port {port}:");
                if !as_cidr.is_empty() {
                    t += &format!(
                        " pairs {} written as CIDRs",
                        as_cidr
                            .iter()
                            .map(|p| p.ip_address.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if !add.is_empty() {
                    t += &format!(" + pairs {}", pairs_text(add));
                }
                t
            }
            Step::NoPortSecurity { port, .. } => format!("port {port}: port security off"),
        }
    }
}

/// The plan as text, one numbered step each.
pub fn render_plan(sc: &Scenario, plan: &Plan, cloud: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Plan for cloud \"{cloud}\" ({} write step(s)):",
        plan.steps.len()
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let _ = writeln!(o, "  {}. {}", i + 1, s.describe(sc));
    }
    for r in &plan.refused {
        let _ = writeln!(o, "  not planned: {r}");
    }
    o
}

// ---------------------------------------------------------------------------
// --fix-format

/// The forms of `--fix-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FixFormat {
    /// `openstack` CLI commands (as `--fix` prints them).
    Openstack,
    /// The Networking API calls: method, path, body.
    Json,
    /// Terraform (terraform-provider-openstack) resources.
    Terraform,
    /// Ansible tasks (openstack.cloud collection).
    Ansible,
}

/// The fix's changes in `format`. `cloud`: the cloud's name for Ansible's
/// `cloud:` (else a variable).
pub fn render_fix_as(
    sc: &Scenario,
    changes: &[Change],
    format: FixFormat,
    cloud: Option<&str>,
) -> String {
    let p = plan(sc, changes);
    match format {
        FixFormat::Openstack => {
            let mut o = String::new();
            for c in changes {
                if let Some(why) = why_refused(sc, c) {
                    let _ = writeln!(o, "# not planned: {why}");
                    continue;
                }
                let _ = writeln!(o, "{}", c.command(&sc.cloud));
            }
            o
        }
        FixFormat::Json => serde_json::to_string_pretty(&api_calls(sc, &p)).expect("json") + "\n",
        FixFormat::Terraform => terraform(sc, &p),
        FixFormat::Ansible => ansible(sc, &p, cloud),
    }
}

fn pairs_json(l: &[Pair]) -> Vec<Value> {
    l.iter().map(Pair::to_json).collect()
}

/// The API calls of a plan. A PUT replaces the port's list whole: the body is
/// the merged list as read; `If-Match` carries the revision read, when known
/// (`--apply` reads each port again right before writing it).
pub fn api_calls(sc: &Scenario, p: &Plan) -> Value {
    let rev = |port_id: &str| {
        sc.cloud
            .port(port_id)
            .and_then(|p| p.revision_number)
            .map(|r| json!({"If-Match": format!("revision_number={r}")}))
            .unwrap_or_else(|| json!({}))
    };
    let new_id = |name: &str| format!("<id of the new group {name}>");
    let mut calls = Vec::new();
    for s in &p.steps {
        match s {
            Step::NewGroup { name, copies, .. } => {
                calls.push(json!({"method": "POST", "path": "/v2.0/security-groups",
                    "body": {"security_group": {"name": name, "stateful": false}}}));
                for r in copies {
                    calls.push(
                        json!({"method": "POST", "path": "/v2.0/security-group-rules",
                        "body": {"security_group_rule": r.body(&new_id(name))}}),
                    );
                }
            }
            Step::Rule { group, rule } => {
                let id = match group {
                    GroupRef::Existing { id, .. } => id.clone(),
                    GroupRef::New { name, .. } => new_id(name),
                };
                calls.push(
                    json!({"method": "POST", "path": "/v2.0/security-group-rules",
                    "body": {"security_group_rule": rule.body(&id)}}),
                );
            }
            Step::SetGroups { port_id, group, .. } => {
                calls.push(
                    json!({"method": "PUT", "path": format!("/v2.0/ports/{port_id}"),
                    "headers": rev(port_id),
                    "body": {"port": {"security_groups": [new_id(group)]}}}),
                );
            }
            Step::Pairs {
                port_id,
                before,
                as_cidr,
                add,
                ..
            } => {
                let all = pairs_after(before, as_cidr, add);
                calls.push(
                    json!({"method": "PUT", "path": format!("/v2.0/ports/{port_id}"),
                    "headers": rev(port_id),
                    "body": {"port": {"allowed_address_pairs": pairs_json(&all)}}}),
                );
            }
            Step::NoPortSecurity { port_id, .. } => {
                calls.push(
                    json!({"method": "PUT", "path": format!("/v2.0/ports/{port_id}"),
                    "headers": rev(port_id),
                    "body": {"port": {"port_security_enabled": false, "security_groups": [],
                                      "allowed_address_pairs": []}}}),
                );
            }
        }
    }
    Value::Array(calls)
}

/// A name usable as a Terraform or Ansible identifier.
fn ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert_str(0, "p_");
    }
    out
}

/// A rule's optional fields as (Neutron API name, value, is a string): the
/// Terraform and Ansible renderers print the same fields in their syntax.
fn rule_options(r: &RuleSpec) -> Vec<(&'static str, String, bool)> {
    let mut v = Vec::new();
    if let Some(p) = &r.protocol {
        v.push(("protocol", p.clone(), true));
    }
    if let Some(p) = r.port_min {
        v.push(("port_range_min", p.to_string(), false));
    }
    if let Some(p) = r.port_max {
        v.push(("port_range_max", p.to_string(), false));
    }
    if let Some(p) = &r.remote_ip_prefix {
        v.push(("remote_ip_prefix", p.to_string(), true));
    }
    if let Some(g) = &r.remote_group_id {
        v.push(("remote_group_id", g.clone(), true));
    }
    v
}

fn tf_rule(o: &mut String, name: &str, r: &RuleSpec, group_expr: &str) {
    let _ = writeln!(
        o,
        "resource \"openstack_networking_secgroup_rule_v2\" \"{name}\" {{"
    );
    let _ = writeln!(o, "  direction         = \"{}\"", r.direction);
    let _ = writeln!(o, "  ethertype         = \"{}\"", r.ethertype);
    for (key, value, string) in rule_options(r) {
        let value = if string {
            format!("\"{value}\"")
        } else {
            value
        };
        let _ = writeln!(o, "  {key:<17} = {value}");
    }
    let _ = writeln!(o, "  security_group_id = {group_expr}");
    let _ = writeln!(o, "}}\n");
}

fn rule_ident(group: &str, r: &RuleSpec) -> String {
    let mut s = format!("vipwire_{}_{}_{}", group, r.direction, r.ethertype);
    if let Some(p) = &r.protocol {
        s += &format!("_{p}");
    }
    if let Some(p) = r.port_min {
        s += &format!("_{p}");
    }
    if let Some(r) = &r.remote_ip_prefix {
        s += &format!("_from_{r}");
    }
    ident(&s)
}

/// Terraform: new rules as `openstack_networking_secgroup_rule_v2` resources,
/// pairs as the `allowed_address_pairs` blocks the port's
/// `openstack_networking_port_v2` must hold (all of them: Terraform owns the
/// whole list), stateless groups as `openstack_networking_secgroup_v2` with
/// `stateful = false`.
pub fn terraform(sc: &Scenario, p: &Plan) -> String {
    let mut o = String::from(
        "# vipwire check --fix: the change as Terraform (terraform-provider-openstack).\n\
         # Merge the port blocks into the resources that manage those ports.\n\n",
    );
    let mut used: Vec<String> = Vec::new();
    let mut unique = |s: String| {
        let mut n = s.clone();
        let mut i = 2;
        while used.contains(&n) {
            n = format!("{s}_{i}");
            i += 1;
        }
        used.push(n.clone());
        n
    };
    for s in &p.steps {
        match s {
            Step::NewGroup { name, copies, .. } => {
                let g = ident(name);
                let _ = writeln!(
                    o,
                    "resource \"openstack_networking_secgroup_v2\" \"{g}\" {{"
                );
                let _ = writeln!(o, "  name                 = \"{name}\"");
                let _ = writeln!(o, "  stateful             = false");
                let _ = writeln!(o, "  delete_default_rules = true");
                let _ = writeln!(o, "}}\n");
                for r in copies {
                    let n = unique(rule_ident(name, r));
                    tf_rule(
                        &mut o,
                        &n,
                        r,
                        &format!("openstack_networking_secgroup_v2.{g}.id"),
                    );
                }
            }
            Step::Rule { group, rule } => {
                let n = unique(rule_ident(group.name(), rule));
                let expr = match group {
                    GroupRef::Existing { id, name } => format!("\"{id}\" # {name}"),
                    GroupRef::New { name, .. } => {
                        format!("openstack_networking_secgroup_v2.{}.id", ident(name))
                    }
                };
                tf_rule(&mut o, &n, rule, &expr);
            }
            Step::SetGroups {
                port_id,
                port,
                group,
                ..
            } => {
                let _ = writeln!(
                    o,
                    "# port {port} ({port_id}): in its openstack_networking_port_v2\n\
                     resource \"openstack_networking_port_v2\" \"{}\" {{\n  \
                     security_group_ids = [openstack_networking_secgroup_v2.{}.id]\n}}\n",
                    ident(port),
                    ident(group)
                );
            }
            Step::Pairs {
                port_id,
                port,
                before,
                as_cidr,
                add,
            } => {
                let _ = writeln!(
                    o,
                    "# port {port} ({port_id}): in its openstack_networking_port_v2 \
                     (every pair it must hold)"
                );
                let _ = writeln!(
                    o,
                    "resource \"openstack_networking_port_v2\" \"{}\" {{",
                    ident(port)
                );
                for pair in &pairs_after(before, as_cidr, add) {
                    let _ = writeln!(o, "  allowed_address_pairs {{");
                    match &pair.mac_address {
                        Some(m) => {
                            let _ = writeln!(o, "    ip_address  = \"{}\"", pair.ip_address);
                            let _ = writeln!(o, "    mac_address = \"{m}\"");
                        }
                        None => {
                            let _ = writeln!(o, "    ip_address = \"{}\"", pair.ip_address);
                        }
                    }
                    let _ = writeln!(o, "  }}");
                }
                let _ = writeln!(o, "}}\n");
            }
            Step::NoPortSecurity { port_id, port, .. } => {
                let _ = writeln!(
                    o,
                    "# port {port} ({port_id}): in its openstack_networking_port_v2 (and no \
                     allowed_address_pairs blocks)\nresource \"openstack_networking_port_v2\" \
                     \"{}\" {{\n  port_security_enabled = false\n  no_security_groups    = \
                     true\n}}\n",
                    ident(port)
                );
            }
        }
    }
    let _ = sc;
    o.trim_end().to_string() + "\n"
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn ansible_rule(o: &mut String, cloud: &str, group: &str, label: &str, r: &RuleSpec) {
    let _ = writeln!(
        o,
        "- name: {}",
        yaml_str(&format!("{label}: {}", r.describe()))
    );
    let _ = writeln!(o, "  openstack.cloud.security_group_rule:");
    let _ = writeln!(o, "    cloud: {cloud}");
    let _ = writeln!(o, "    security_group: {}", yaml_str(group));
    let _ = writeln!(o, "    direction: {}", r.direction);
    let _ = writeln!(o, "    ethertype: {}", r.ethertype);
    for (key, value, _) in rule_options(r) {
        // The module calls the remote group `remote_group`.
        let key = if key == "remote_group_id" {
            "remote_group"
        } else {
            key
        };
        let _ = writeln!(o, "    {key}: {value}");
    }
    let _ = writeln!(o, "    state: present");
}

/// Ansible: `openstack.cloud.security_group_rule` tasks for new rules,
/// `openstack.cloud.port` tasks with the port's whole pair list (the module
/// sets the list as given), `openstack.cloud.security_group` with
/// `stateful: false` for a new stateless group.
pub fn ansible(sc: &Scenario, p: &Plan, cloud: Option<&str>) -> String {
    let cloud = cloud
        .map(yaml_str)
        .unwrap_or_else(|| "\"{{ openstack_cloud }}\"".to_string());
    let mut o =
        String::from("# vipwire check --fix: the change as Ansible tasks (openstack.cloud).\n");
    let port_ref = |id: &str| id.to_string();
    for s in &p.steps {
        match s {
            Step::NewGroup { name, copies, .. } => {
                let _ = writeln!(
                    o,
                    "- name: {}",
                    yaml_str(&format!("create stateless group {name}"))
                );
                let _ = writeln!(o, "  openstack.cloud.security_group:");
                let _ = writeln!(o, "    cloud: {cloud}");
                let _ = writeln!(o, "    name: {}", yaml_str(name));
                let _ = writeln!(o, "    stateful: false");
                let _ = writeln!(o, "    state: present");
                for r in copies {
                    ansible_rule(&mut o, &cloud, name, name, r);
                }
            }
            Step::Rule { group, rule } => {
                let g = match group {
                    GroupRef::Existing { id, .. } => id.as_str(),
                    GroupRef::New { name, .. } => name.as_str(),
                };
                ansible_rule(&mut o, &cloud, g, group.name(), rule);
            }
            Step::SetGroups {
                port_id,
                port,
                group,
                ..
            } => {
                let _ = writeln!(
                    o,
                    "- name: {}",
                    yaml_str(&format!("{port}: security group {group} only"))
                );
                let _ = writeln!(o, "  openstack.cloud.port:");
                let _ = writeln!(o, "    cloud: {cloud}");
                let _ = writeln!(o, "    name: {}", port_ref(port_id));
                let _ = writeln!(o, "    security_groups:");
                let _ = writeln!(o, "      - {}", yaml_str(group));
            }
            Step::Pairs {
                port_id,
                port,
                before,
                as_cidr,
                add,
            } => {
                let _ = writeln!(
                    o,
                    "- name: {}",
                    yaml_str(&format!("{port}: allowed address pairs (all it must hold)"))
                );
                let _ = writeln!(o, "  openstack.cloud.port:");
                let _ = writeln!(o, "    cloud: {cloud}");
                let _ = writeln!(o, "    name: {}", port_ref(port_id));
                let _ = writeln!(o, "    allowed_address_pairs:");
                for pair in &pairs_after(before, as_cidr, add) {
                    let _ = writeln!(o, "      - ip_address: {}", pair.ip_address);
                    if let Some(m) = &pair.mac_address {
                        let _ = writeln!(o, "        mac_address: \"{m}\"");
                    }
                }
            }
            Step::NoPortSecurity { port_id, port, .. } => {
                let _ = writeln!(
                    o,
                    "- name: {}",
                    yaml_str(&format!("{port}: port security off"))
                );
                let _ = writeln!(o, "  openstack.cloud.port:");
                let _ = writeln!(o, "    cloud: {cloud}");
                let _ = writeln!(o, "    name: {}", port_ref(port_id));
                let _ = writeln!(o, "    port_security_enabled: false");
                let _ = writeln!(o, "    no_security_groups: true");
                let _ = writeln!(o, "    allowed_address_pairs: []");
            }
        }
    }
    let _ = sc;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_SG: &str = "98abab29-3c71-48bc-907b-bbb7b5f9e524";
    const DIRECTOR_1: &str = "236e03f1-b8bc-4a4a-9a23-9f14bd36b719";

    fn sc() -> Scenario {
        Scenario::builtin().unwrap()
    }

    fn any_pair() -> Change {
        Change::AddAllowedAddressPair {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            ip_address: "0.0.0.0/0".parse().unwrap(),
            mac_address: None,
        }
    }

    fn http_rule() -> Change {
        Change::AddSecurityGroupRule {
            group_id: DEFAULT_SG.into(),
            group: "default".into(),
            ingress: true,
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port: Some(80),
            remote_ip_prefix: Some("0.0.0.0/0".parse().unwrap()),
        }
    }

    #[test]
    fn plan_orders_rules_before_pairs_and_merges_pairs_per_port() {
        let extra = Change::AddAllowedAddressPair {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            ip_address: "198.51.100.0/24".parse().unwrap(),
            mac_address: None,
        };
        let p = plan(&sc(), &[any_pair(), http_rule(), extra]);
        assert_eq!(p.steps.len(), 2);
        assert!(matches!(p.steps[0], Step::Rule { .. }));
        let Step::Pairs { add, before, .. } = &p.steps[1] else {
            panic!("{:?}", p.steps[1]);
        };
        assert_eq!(add.len(), 2);
        assert_eq!(before.len(), 1);
        assert_eq!(
            p.steps[1].describe(&sc()),
            "port director-1 (236e03f1): allowed address pairs: 203.0.113.241 \
             (fa:16:3e:54:84:88) -> 203.0.113.241 (fa:16:3e:54:84:88), 0.0.0.0/0, 198.51.100.0/24"
        );
    }

    #[test]
    fn a_v6_any_pair_is_refused_with_the_reason() {
        let c = Change::AddAllowedAddressPair {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            ip_address: "::/0".parse().unwrap(),
            mac_address: None,
        };
        let p = plan(&sc(), &[c]);
        assert!(p.steps.is_empty());
        assert!(p.refused[0].contains("multicast"), "{:?}", p.refused);
        let narrow = Change::AddAllowedAddressPair {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            ip_address: "2001:db8::/64".parse().unwrap(),
            mac_address: None,
        };
        assert!(why_refused(&sc(), &narrow).is_none());
    }

    #[test]
    fn terraform_pinned() {
        let s = sc();
        let got = render_fix_as(&s, &[http_rule(), any_pair()], FixFormat::Terraform, None);
        let want = r#"# vipwire check --fix: the change as Terraform (terraform-provider-openstack).
# Merge the port blocks into the resources that manage those ports.

resource "openstack_networking_secgroup_rule_v2" "vipwire_default_ingress_ipv4_tcp_80_from_0_0_0_0_0" {
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 80
  port_range_max    = 80
  remote_ip_prefix  = "0.0.0.0/0"
  security_group_id = "98abab29-3c71-48bc-907b-bbb7b5f9e524" # default
}

# port director-1 (236e03f1-b8bc-4a4a-9a23-9f14bd36b719): in its openstack_networking_port_v2 (every pair it must hold)
resource "openstack_networking_port_v2" "director_1" {
  allowed_address_pairs {
    ip_address  = "203.0.113.241"
    mac_address = "fa:16:3e:54:84:88"
  }
  allowed_address_pairs {
    ip_address = "0.0.0.0/0"
  }
}
"#;
        assert_eq!(got, want, "{got}");
    }

    #[test]
    fn ansible_pinned() {
        let s = sc();
        let got = render_fix_as(
            &s,
            &[http_rule(), any_pair()],
            FixFormat::Ansible,
            Some("prod"),
        );
        let want = r#"# vipwire check --fix: the change as Ansible tasks (openstack.cloud).
- name: "default: ingress IPv4 tcp 80 from 0.0.0.0/0"
  openstack.cloud.security_group_rule:
    cloud: "prod"
    security_group: "98abab29-3c71-48bc-907b-bbb7b5f9e524"
    direction: ingress
    ethertype: IPv4
    protocol: tcp
    port_range_min: 80
    port_range_max: 80
    remote_ip_prefix: 0.0.0.0/0
    state: present
- name: "director-1: allowed address pairs (all it must hold)"
  openstack.cloud.port:
    cloud: "prod"
    name: 236e03f1-b8bc-4a4a-9a23-9f14bd36b719
    allowed_address_pairs:
      - ip_address: 203.0.113.241
        mac_address: "fa:16:3e:54:84:88"
      - ip_address: 0.0.0.0/0
"#;
        assert_eq!(got, want, "{got}");
    }

    #[test]
    fn json_is_the_api_calls() {
        let s = sc();
        let got: Value = serde_json::from_str(&render_fix_as(
            &s,
            &[http_rule(), any_pair()],
            FixFormat::Json,
            None,
        ))
        .unwrap();
        assert_eq!(got[0]["method"], "POST");
        assert_eq!(got[0]["path"], "/v2.0/security-group-rules");
        assert_eq!(
            got[0]["body"]["security_group_rule"],
            json!({"security_group_id": DEFAULT_SG, "direction": "ingress", "ethertype": "IPv4",
                   "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
                   "remote_ip_prefix": "0.0.0.0/0"})
        );
        assert_eq!(got[1]["method"], "PUT");
        assert_eq!(got[1]["path"], format!("/v2.0/ports/{DIRECTOR_1}"));
        assert_eq!(
            got[1]["body"]["port"]["allowed_address_pairs"],
            json!([{"ip_address": "203.0.113.241", "mac_address": "fa:16:3e:54:84:88"},
                   {"ip_address": "0.0.0.0/0"}])
        );
    }

    #[test]
    fn a_bare_pair_written_as_a_cidr_in_the_same_write_as_new_pairs() {
        let s = sc();
        let as_cidr = Change::WritePairAsCidr {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            ip_address: "203.0.113.241".parse().unwrap(),
            mac_address: Some("fa:16:3e:54:84:88".into()),
        };
        let p = plan(&s, &[any_pair(), as_cidr]);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(
            p.steps[0].describe(&s),
            "port director-1 (236e03f1): allowed address pairs: 203.0.113.241 \
             (fa:16:3e:54:84:88) -> 203.0.113.241/32 (fa:16:3e:54:84:88), 0.0.0.0/0"
        );
        assert_eq!(
            p.steps[0].title(),
            "port director-1: pairs 203.0.113.241 written as CIDRs + pairs 0.0.0.0/0"
        );
        let calls = api_calls(&s, &p);
        assert_eq!(
            calls[0]["body"]["port"]["allowed_address_pairs"],
            json!([{"ip_address": "203.0.113.241/32", "mac_address": "fa:16:3e:54:84:88"},
                   {"ip_address": "0.0.0.0/0"}])
        );
    }

    #[test]
    fn openstack_is_the_cli_commands() {
        let got = render_fix_as(&sc(), &[any_pair()], FixFormat::Openstack, None);
        assert_eq!(
            got,
            format!(
                "openstack port set --allowed-address ip-address=0.0.0.0/0 {DIRECTOR_1}  # \
                 director-1\n"
            )
        );
    }

    #[test]
    fn stateless_group_and_port_security_steps() {
        let s = sc();
        let stateless = Change::UseStatelessGroup {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
            group: "director-1-stateless".into(),
            copies: vec![],
        };
        let rule_on_new = Change::AddSecurityGroupRule {
            group_id: format!("{STATELESS_ID}{DIRECTOR_1}"),
            group: "director-1-stateless".into(),
            ingress: false,
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port: None,
            remote_ip_prefix: None,
        };
        let off = Change::DisablePortSecurity {
            port_id: DIRECTOR_1.into(),
            port: "director-1".into(),
        };
        let p = plan(&s, &[off, stateless, rule_on_new]);
        let kinds: Vec<&str> = p
            .steps
            .iter()
            .map(|s| match s {
                Step::NewGroup { .. } => "group",
                Step::Rule { .. } => "rule",
                Step::SetGroups { .. } => "set",
                Step::Pairs { .. } => "pairs",
                Step::NoPortSecurity { .. } => "off",
            })
            .collect();
        assert_eq!(kinds, ["group", "rule", "set", "off"]);
        let Step::NewGroup { copies, .. } = &p.steps[0] else {
            unreachable!()
        };
        // The default group's 5 rules, copied.
        assert_eq!(copies.len(), 5);
        let tf = terraform(&s, &p);
        assert!(tf.contains("stateful             = false"), "{tf}");
        assert!(
            tf.contains(
                "security_group_id = openstack_networking_secgroup_v2.director_1_stateless.id"
            ),
            "{tf}"
        );
        assert!(tf.contains("port_security_enabled = false"), "{tf}");
        let yml = ansible(&s, &p, None);
        assert!(
            yml.contains("stateful: false") && yml.contains("no_security_groups: true"),
            "{yml}"
        );
    }
}
