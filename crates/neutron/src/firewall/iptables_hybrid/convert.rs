//! Security group rules to iptables text (neutron/agent/linux/iptables_firewall.py,
//! `_convert_sgr_to_iptables_rules` and its helpers): the rules a port chain
//! gets for one direction and family, each as `-s`/`-d`, `-p` with ports or
//! ICMP type/code, or a `--match-set` on a remote group's ipset, between the
//! conntrack rules and the jump to the fallback chain.

use super::comments::{C_ALLOW_ASSOC, C_INVALID_DROP, C_UNMATCHED};
use super::ipset::ipset_name;
use super::manager::commented;
use super::names::{ip_to_cidr, wrapped};
use super::sg_info::{provider_rules, AgentRule};
use super::{Fam, Renderer};
use crate::firewall::iptables_text::{canonical_net, neutron_protocol_name};
use crate::firewall::provenance::Origin;
use crate::model::{Port, RuleDirection};

impl Renderer<'_> {
    /// Provider rules (RA, DHCP replies) and then the port's groups' rules for
    /// one direction and family, IPv6 legacy ICMP names folded.
    pub(super) fn select_rules(
        &self,
        port: &Port,
        direction: RuleDirection,
        fam: Fam,
    ) -> Vec<AgentRule> {
        let mut out = Vec::new();
        if direction == RuleDirection::Ingress {
            out.extend(
                provider_rules(port)
                    .into_iter()
                    .filter(|r| r.ethertype == fam.ethertype()),
            );
        }
        for g in &port.security_groups {
            for r in self.sg_rules.get(g).into_iter().flatten() {
                if r.direction == direction && r.ethertype == fam.ethertype() {
                    let mut r = r.clone();
                    if fam == Fam::V6
                        && matches!(r.protocol.as_deref(), Some("icmp") | Some("icmpv6"))
                    {
                        r.protocol = Some("ipv6-icmp".into());
                    }
                    out.push(r);
                }
            }
        }
        out
    }

    /// `_convert_sgr_to_iptables_rules`: established first, rules once each,
    /// invalid drop, fallback.
    pub(super) fn convert_rules(
        &self,
        port: &Port,
        direction: RuleDirection,
        rules: &[AgentRule],
        fam: Fam,
    ) -> Vec<(String, Origin)> {
        let port_id = port.id.clone();
        let mut out = vec![(
            commented(
                "-m state --state RELATED,ESTABLISHED -j RETURN",
                C_ALLOW_ASSOC,
            ),
            Origin::ConntrackEstablished {
                port_id: port_id.clone(),
            },
        )];
        for r in rules {
            let Some(text) = self.rule_text(r, fam) else {
                continue;
            };
            // Equal texts are emitted once; the first carries every rule behind it.
            match out.iter_mut().find(|(t, _)| *t == text) {
                Some((_, Origin::GroupRule { rules, .. })) => {
                    for x in &r.refs {
                        if !rules.contains(x) {
                            rules.push(x.clone());
                        }
                    }
                }
                Some(_) => {}
                None => {
                    let origin = match r.provider {
                        Some(what) => Origin::ProviderRule {
                            port_id: port_id.clone(),
                            what: what.into(),
                        },
                        None => Origin::GroupRule {
                            port_id: port_id.clone(),
                            direction,
                            rules: r.refs.clone(),
                        },
                    };
                    out.push((text, origin));
                }
            }
        }
        out.push((
            commented("-m state --state INVALID -j DROP", C_INVALID_DROP),
            Origin::ConntrackInvalid {
                port_id: port_id.clone(),
            },
        ));
        out.push((
            commented(&format!("-j {}", wrapped("sg-fallback")), C_UNMATCHED),
            Origin::NoRuleMatched { port_id, direction },
        ));
        out
    }

    fn rule_text(&self, r: &AgentRule, fam: Fam) -> Option<String> {
        let mut args: Vec<String> = Vec::new();
        if let Some(gid) = &r.remote_group_id {
            let name = ipset_name(gid, fam.ethertype());
            if !self.sets.iter().any(|(n, _, _)| *n == name) {
                return None;
            }
            args.extend(protocol_and_port_args(r));
            let dir = if r.direction == RuleDirection::Ingress {
                "src"
            } else {
                "dst"
            };
            args.push(format!("-m set --match-set {name} {dir}"));
        } else {
            for (flag, p) in [("-s", &r.source_ip_prefix), ("-d", &r.dest_ip_prefix)] {
                if let Some(text) = p.as_deref().and_then(prefix_arg) {
                    args.push(format!("{flag} {text}"));
                }
            }
            args.extend(protocol_and_port_args(r));
        }
        args.push("-j RETURN".into());
        Some(args.join(" "))
    }
}

/// `_ip_prefix_arg`: a bare address gets its host length, a `/0` is no constraint.
fn prefix_arg(prefix: &str) -> Option<String> {
    if !prefix.contains('/') {
        return Some(canonical_net(prefix).map_or_else(|| prefix.to_string(), |n| ip_to_cidr(&n)));
    }
    if prefix.ends_with("/0") {
        return None;
    }
    Some(prefix.to_string())
}

/// `_generate_protocol_and_port_args`: `-p`, the protocol module when a port or
/// type is given, then source and destination ports (or ICMP type/code).
fn protocol_and_port_args(r: &AgentRule) -> Vec<String> {
    let name = r.protocol.as_deref().and_then(neutron_protocol_name);
    let mut args = Vec::new();
    let is_port = r.source_port_range_min.is_some() || r.port_range_min.is_some();
    if let Some(n) = &name {
        args.push(format!("-p {n}"));
        let module = match n.as_str() {
            "dccp" => Some("dccp"),
            "icmp" => Some("icmp"),
            "ipv6-icmp" => Some("icmp6"),
            "sctp" => Some("sctp"),
            "tcp" => Some("tcp"),
            "udp" => Some("udp"),
            _ => None,
        };
        if let (true, Some(m)) = (is_port, module) {
            args.push(format!("-m {m}"));
        }
    }
    args.extend(port_arg(
        "sport",
        name.as_deref(),
        r.source_port_range_min,
        r.source_port_range_max,
    ));
    args.extend(port_arg(
        "dport",
        name.as_deref(),
        r.port_range_min,
        r.port_range_max,
    ));
    args
}

/// `_port_arg`. A missing maximum counts as the minimum for port protocols
/// (the API fills it so) and as "any code" for ICMP.
fn port_arg(
    direction: &str,
    protocol: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
) -> Vec<String> {
    let Some(min) = min else { return Vec::new() };
    match protocol {
        Some(p @ ("icmp" | "ipv6-icmp")) => {
            let flag = if p == "icmp" {
                "--icmp-type"
            } else {
                "--icmpv6-type"
            };
            match max {
                Some(code) => vec![format!("{flag} {min}/{code}")],
                None => vec![format!("{flag} {min}")],
            }
        }
        Some(p @ ("dccp" | "sctp" | "tcp" | "udp" | "udplite")) => {
            let max = max.unwrap_or(min);
            if min == max {
                if p == "udplite" {
                    vec![format!("-m multiport --{direction}s {min}")]
                } else {
                    vec![format!("--{direction} {min}")]
                }
            } else {
                vec![format!("-m multiport --{direction}s {min}:{max}")]
            }
        }
        _ => Vec::new(),
    }
}
