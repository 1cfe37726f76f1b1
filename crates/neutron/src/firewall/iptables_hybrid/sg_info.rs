//! What the server hands the agent for a port (neutron/db/securitygroups_rpc_base.py,
//! `security_group_info_for_ports`): each security group's rules as the rule
//! dicts the driver gets ([`AgentRule`]), and the provider rules the server
//! adds for every port (`_apply_provider_rule`).

use super::Fam;
use crate::firewall::provenance::RuleRef;
use crate::model::{Ethertype, Port, RuleDirection, SecurityGroup};

/// A security group rule as the agent's shim hands it to the driver.
#[derive(Debug, Clone)]
pub(super) struct AgentRule {
    pub(super) direction: RuleDirection,
    pub(super) ethertype: Ethertype,
    pub(super) protocol: Option<String>,
    pub(super) port_range_min: Option<u32>,
    pub(super) port_range_max: Option<u32>,
    pub(super) source_port_range_min: Option<u32>,
    pub(super) source_port_range_max: Option<u32>,
    pub(super) source_ip_prefix: Option<String>,
    pub(super) dest_ip_prefix: Option<String>,
    pub(super) remote_group_id: Option<String>,
    pub(super) stateful: bool,
    /// The security group rules this one stands for (equal rules fold).
    pub(super) refs: Vec<RuleRef>,
    /// A provider rule of the server instead: what it is for.
    pub(super) provider: Option<&'static str>,
}

impl PartialEq for AgentRule {
    /// Equal as the agent compares rule dicts: the origin does not count.
    fn eq(&self, o: &Self) -> bool {
        (
            self.direction,
            self.ethertype,
            &self.protocol,
            self.port_range_min,
            self.port_range_max,
            self.source_port_range_min,
            self.source_port_range_max,
            &self.source_ip_prefix,
            &self.dest_ip_prefix,
            &self.remote_group_id,
            self.stateful,
        ) == (
            o.direction,
            o.ethertype,
            &o.protocol,
            o.port_range_min,
            o.port_range_max,
            o.source_port_range_min,
            o.source_port_range_max,
            &o.source_ip_prefix,
            &o.dest_ip_prefix,
            &o.remote_group_id,
            o.stateful,
        )
    }
}

impl Eq for AgentRule {}

impl AgentRule {
    pub(super) fn provider(ethertype: Ethertype, what: &'static str) -> AgentRule {
        AgentRule {
            direction: RuleDirection::Ingress,
            ethertype,
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            source_port_range_min: None,
            source_port_range_max: None,
            source_ip_prefix: None,
            dest_ip_prefix: None,
            remote_group_id: None,
            stateful: true,
            refs: Vec::new(),
            provider: Some(what),
        }
    }
}

/// The group's rules as `security_group_info_for_ports` lists them: creation
/// order (ascending standard_attr_id, then given order), equal dicts once,
/// `remote_ip_prefix` with host bits cleared (the OVO `normalized_cidr`).
pub(super) fn agent_rules(group: &SecurityGroup) -> Vec<AgentRule> {
    let mut rules: Vec<_> = group.rules.iter().enumerate().collect();
    rules.sort_by_key(|(i, r)| (r.standard_attr_id.unwrap_or(u64::MAX), *i));
    let mut out: Vec<AgentRule> = Vec::new();
    for (_, r) in rules {
        let protocol = r.protocol.clone().filter(|p| !p.is_empty() && p != "any");
        // DIRECTION_IP_PREFIX: the remote prefix is the source of ingress traffic.
        let prefix = r.remote_ip_prefix.map(|p| p.trunc().to_string());
        let (source_ip_prefix, dest_ip_prefix) = match r.direction {
            RuleDirection::Ingress => (prefix, None),
            RuleDirection::Egress => (None, prefix),
        };
        let a = AgentRule {
            direction: r.direction,
            ethertype: r.ethertype,
            protocol,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            source_port_range_min: None,
            source_port_range_max: None,
            source_ip_prefix,
            dest_ip_prefix,
            remote_group_id: r.remote_group_id.clone().filter(|g| !g.is_empty()),
            stateful: group.stateful,
            refs: vec![RuleRef {
                group_id: group.id.clone(),
                rule_id: r.id.clone(),
            }],
            provider: None,
        };
        match out.iter_mut().find(|o| **o == a) {
            Some(o) => o.refs.extend(a.refs),
            None => out.push(a),
        }
    }
    out
}

/// The rules the server adds for every port (`_apply_provider_rule`): IPv6 RA
/// from routers (only with an IPv6 fixed IP), then DHCP replies to each fixed IP
/// and to broadcast / fe80::/64.
pub(super) fn provider_rules(port: &Port) -> Vec<AgentRule> {
    let mut out = Vec::new();
    let has_v6 = port.fixed_ips.iter().any(|f| f.ip_address.is_ipv6());
    if has_v6 {
        let mut ra = AgentRule::provider(Ethertype::IPv6, "router advertisements");
        ra.protocol = Some("ipv6-icmp".into());
        ra.source_port_range_min = Some(134);
        out.push(ra);
    }
    for fam in [Fam::V4, Fam::V6] {
        let (sport, dport, len) = match fam {
            Fam::V4 => (67, 68, 32),
            Fam::V6 => (547, 546, 128),
        };
        let mut dests: Vec<String> = port
            .fixed_ips
            .iter()
            .filter(|f| Fam::of(&f.ip_address) == fam)
            .map(|f| format!("{}/{len}", f.ip_address))
            .collect();
        dests.push(match fam {
            Fam::V4 => "255.255.255.255/32".into(),
            Fam::V6 => "fe80::/64".into(),
        });
        for d in dests {
            let mut r = AgentRule::provider(fam.ethertype(), "DHCP replies");
            r.protocol = Some("udp".into());
            r.port_range_min = Some(dport);
            r.port_range_max = Some(dport);
            r.source_port_range_min = Some(sport);
            r.source_port_range_max = Some(sport);
            r.dest_ip_prefix = Some(d);
            out.push(r);
        }
    }
    out
}
