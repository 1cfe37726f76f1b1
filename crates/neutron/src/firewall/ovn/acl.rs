//! Security group rules as ML2/OVN's ACLs (neutron/common/ovn/acl.py,
//! `_add_sg_rule_acl_for_port_group`): the match string Neutron writes, and the
//! same match as a typed value the pipeline evaluates. Both come from one
//! [`AclMatch`], so what is printed is what is evaluated.

use std::net::IpAddr;

use ipnet::IpNet;
use packet::{proto, protocols, Packet};

use super::{address_set_name, port_group_name, ACL_PRIORITY_ALLOW, ACL_PRIORITY_DROP, PG_DROP};
use crate::firewall::provenance::{Origin, RuleRef};
use crate::model::{Ethertype, RuleDirection, SecurityGroup, SecurityGroupRule};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclDirection {
    /// Traffic a port sends (egress rules): the ingress pipeline, `inport`.
    FromLport,
    /// Traffic delivered to a port (ingress rules): the egress pipeline, `outport`.
    ToLport,
}

impl AclDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            AclDirection::FromLport => "from-lport",
            AclDirection::ToLport => "to-lport",
        }
    }

    fn port_field(self) -> &'static str {
        match self {
            AclDirection::FromLport => "inport",
            AclDirection::ToLport => "outport",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclAction {
    /// Stateful group: commit the connection, let its replies back.
    AllowRelated,
    /// Stateless group (`stateful: false`): skip conntrack for what matches.
    AllowStateless,
    Drop,
}

impl AclAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AclAction::AllowRelated => "allow-related",
            AclAction::AllowStateless => "allow-stateless",
            AclAction::Drop => "drop",
        }
    }
}

/// The remote side of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclRemote {
    Prefix(IpNet),
    /// `$pg_<id>_ip4`: the fixed IPs of the group's members.
    Group(String),
}

/// The L4 part of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclProto {
    /// tcp, udp, sctp with an optional destination port range.
    Transport {
        number: u8,
        min: Option<u32>,
        max: Option<u32>,
    },
    /// icmp4/icmp6 with optional type and code.
    Icmp {
        icmp_type: Option<u32>,
        code: Option<u32>,
    },
    /// `ip.proto == N`.
    Number(u8),
}

/// What an ACL matches, besides its port group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclMatch {
    /// None: `ip` (the drop ACLs).
    pub family: Option<Ethertype>,
    pub remote: Option<AclRemote>,
    pub proto: Option<AclProto>,
}

/// A row of the `ACL` table, attached to a port group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub port_group: String,
    pub direction: AclDirection,
    pub priority: u16,
    pub action: AclAction,
    pub matcher: AclMatch,
    /// The `match` column as Neutron writes it.
    pub match_text: String,
    /// `neutron:security_group_rule_id`, for rule ACLs.
    pub rule_id: Option<String>,
    pub origin: Origin,
    /// `log`: Neutron writes false (true only for network-log ACLs, not
    /// modelled); `name`, `severity` and `meter` stay empty with it.
    pub log: bool,
    /// `label`: Neutron does not set it; OVN's column default is 0.
    pub label: u32,
}

/// Neutron's protocol number for a rule's `protocol` (`_get_protocol_number`).
fn protocol_number(p: &str) -> Option<u8> {
    p.parse::<u8>()
        .ok()
        .or_else(|| protocols::neutron_number(p))
}

impl Acl {
    pub fn of_rule(group: &SecurityGroup, r: &SecurityGroupRule) -> Acl {
        let pg = port_group_name(&group.id);
        let direction = match r.direction {
            RuleDirection::Ingress => AclDirection::ToLport,
            RuleDirection::Egress => AclDirection::FromLport,
        };
        let v6 = r.ethertype == Ethertype::IPv6;
        let remote = if let Some(p) = r.remote_ip_prefix {
            Some(AclRemote::Prefix(p.trunc()))
        } else {
            r.remote_group_id.clone().map(AclRemote::Group)
        };
        let proto = r
            .protocol
            .as_deref()
            .and_then(protocol_number)
            .map(|n| match n {
                proto::TCP | proto::UDP | proto::SCTP => AclProto::Transport {
                    number: n,
                    min: r.port_range_min,
                    max: r.port_range_max,
                },
                proto::ICMP | proto::ICMPV6 => AclProto::Icmp {
                    icmp_type: r.port_range_min,
                    code: r.port_range_max,
                },
                n => AclProto::Number(n),
            });
        let matcher = AclMatch {
            family: Some(if v6 { Ethertype::IPv6 } else { Ethertype::IPv4 }),
            remote,
            proto,
        };
        Acl {
            match_text: matcher.text(&format!("{} == @{pg}", direction.port_field()), r.direction),
            port_group: pg,
            direction,
            priority: ACL_PRIORITY_ALLOW,
            action: if group.stateful {
                AclAction::AllowRelated
            } else {
                AclAction::AllowStateless
            },
            matcher,
            rule_id: Some(r.id.clone()),
            log: false,
            label: 0,
            origin: Origin::GroupRule {
                port_id: String::new(),
                direction: r.direction,
                rules: vec![RuleRef {
                    group_id: group.id.clone(),
                    rule_id: r.id.clone(),
                }],
            },
        }
    }

    /// `neutron_pg_drop`'s two ACLs: drop all IP from and to its members.
    pub fn pg_drop() -> [Acl; 2] {
        [AclDirection::FromLport, AclDirection::ToLport].map(|direction| Acl {
            port_group: PG_DROP.into(),
            direction,
            priority: ACL_PRIORITY_DROP,
            action: AclAction::Drop,
            matcher: AclMatch {
                family: None,
                remote: None,
                proto: None,
            },
            match_text: format!("{} == @{PG_DROP} && ip", direction.port_field()),
            rule_id: None,
            log: false,
            label: 0,
            origin: Origin::DefaultDrop,
        })
    }

    /// The key the conformance harness names ACLs by.
    pub fn key(&self) -> String {
        format!(
            "{} {} {} {}",
            self.direction.as_str(),
            self.priority,
            self.match_text,
            self.action.as_str()
        )
    }
}

impl AclMatch {
    fn text(&self, port: &str, dir: RuleDirection) -> String {
        let mut m = port.to_string();
        let (ip, icmp) = match self.family {
            Some(Ethertype::IPv6) => ("ip6", "icmp6"),
            Some(Ethertype::IPv4) => ("ip4", "icmp4"),
            None => return m + " && ip",
        };
        m += &format!(" && {ip}");
        let sd = if dir == RuleDirection::Ingress {
            "src"
        } else {
            "dst"
        };
        match &self.remote {
            Some(AclRemote::Prefix(p)) => m += &format!(" && {ip}.{sd} == {p}"),
            Some(AclRemote::Group(g)) => {
                m += &format!(
                    " && {ip}.{sd} == ${}",
                    address_set_name(g, self.family == Some(Ethertype::IPv6))
                )
            }
            None => {}
        }
        match &self.proto {
            Some(AclProto::Transport { number, min, max }) => {
                let name = protocols::name(*number).unwrap_or("tcp");
                m += &format!(" && {name}");
                if min.is_some() && min == max {
                    m += &format!(" && {name}.dst == {}", min.unwrap_or(0));
                } else {
                    if let Some(lo) = min {
                        m += &format!(" && {name}.dst >= {lo}");
                    }
                    if let Some(hi) = max {
                        m += &format!(" && {name}.dst <= {hi}");
                    }
                }
            }
            Some(AclProto::Icmp { icmp_type, code }) => {
                m += &format!(" && {icmp}");
                if let Some(t) = icmp_type {
                    m += &format!(" && {icmp}.type == {t}");
                }
                if let Some(c) = code {
                    m += &format!(" && {icmp}.code == {c}");
                }
            }
            Some(AclProto::Number(n)) => m += &format!(" && ip.proto == {n}"),
            None => {}
        }
        m
    }

    /// Does the packet match (the port-group part is the caller's)? `remote`
    /// is the packet's address on the far side; `set` gives an address set's
    /// members.
    pub fn matches(
        &self,
        pkt: &Packet,
        remote: IpAddr,
        set: &dyn Fn(&str, bool) -> Vec<IpAddr>,
    ) -> bool {
        match self.family {
            None => return true,
            Some(Ethertype::IPv4) if !pkt.src.is_ipv4() => return false,
            Some(Ethertype::IPv6) if pkt.src.is_ipv4() => return false,
            _ => {}
        }
        let ok_remote = match &self.remote {
            None => true,
            Some(AclRemote::Prefix(p)) => p.contains(&remote),
            Some(AclRemote::Group(g)) => set(g, !pkt.src.is_ipv4()).contains(&remote),
        };
        if !ok_remote {
            return false;
        }
        // An IPv6 packet's protocol after its extension headers; ICMP rules
        // match the family's ICMP whatever protocol name the rule used.
        let icmp = if pkt.src.is_ipv4() {
            proto::ICMP
        } else {
            proto::ICMPV6
        };
        match &self.proto {
            None => true,
            Some(AclProto::Transport { number, min, max }) => {
                pkt.proto == *number
                    && min.is_none_or(|lo| u32::from(pkt.dport) >= lo)
                    && max.is_none_or(|hi| u32::from(pkt.dport) <= hi)
            }
            Some(AclProto::Icmp { icmp_type, code }) => {
                pkt.proto == icmp
                    && icmp_type.is_none_or(|t| u32::from(pkt.icmp_type) == t)
                    && code.is_none_or(|c| u32::from(pkt.icmp_code) == c)
            }
            Some(AclProto::Number(n)) => pkt.proto == *n,
        }
    }
}
