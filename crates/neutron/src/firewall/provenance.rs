//! Where each generated rule comes from: the Neutron object (a port's address
//! pair, a security group rule) or the agent behaviour (anti-spoof drop,
//! conntrack handling, DHCP) that made it. The diagnosis reads these, never the
//! rule text or chain names, so a backend's naming can change freely.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::model::RuleDirection;

/// Which Neutron object an address in a port's anti-spoof list comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairSource {
    FixedIp,
    AllowedAddressPair,
    /// The IPv6 link-local address derived from the MAC (EUI-64).
    LinkLocal,
    /// A port without fixed IPs: its MAC alone.
    MacOnly,
}

/// The origin of one generated rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// A jump between the agent's own chains: decides nothing by itself.
    Dispatch,
    /// A Neutron-owned port (router, DHCP): the agent passes its traffic untouched.
    TrustedPort { port_id: String },
    /// `port_security_enabled=false`: no filtering for this port.
    PortSecurityOff { port_id: String },
    /// The conntrack zone (or NOTRACK for a stateless group) of a port.
    ConntrackZone { port_id: String },
    /// One (MAC, source) entry of the port's anti-spoof chain.
    SourcePair {
        port_id: String,
        mac: String,
        ip: Option<String>,
        from: PairSource,
    },
    /// The anti-spoof chain's final drop: no (MAC, source) entry matched.
    SpoofDrop { port_id: String },
    /// What the agent adds for every port: DHCP, IPv6 ND/RA/MLD, their drops.
    Infrastructure { port_id: String, what: String },
    /// `RELATED,ESTABLISHED` returns before any group rule.
    ConntrackEstablished { port_id: String },
    /// The `INVALID` drop after the group rules.
    ConntrackInvalid { port_id: String },
    /// One or more security group rules rendered as this text (equal rules of
    /// several groups become one iptables rule).
    GroupRule {
        port_id: String,
        direction: RuleDirection,
        rules: Vec<RuleRef>,
    },
    /// The server's provider rule (DHCP replies, router advertisements).
    ProviderRule { port_id: String, what: String },
    /// End of a port's chain: no group rule matched, go to the fallback.
    NoRuleMatched {
        port_id: String,
        direction: RuleDirection,
    },
    /// The shared fallback chain's drop.
    DefaultDrop,
    /// ML2/OVN: `neutron_pg_drop`'s drop ACL, reached when no allow ACL of the
    /// port's groups matched.
    PortGroupDrop {
        port_id: String,
        direction: RuleDirection,
    },
    /// ML2/OVN: the `ct.inv` drop northd puts above every ACL (priority 65532):
    /// no security group rule is consulted for a packet conntrack calls invalid.
    CtInvalidDrop { port_id: String },
    /// ML2/OVN: outgoing port security, the destination is none of the port's
    /// fixed or pair addresses (nor broadcast or multicast).
    DestinationDrop { port_id: String },
}

/// A security group rule by its group and rule id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    pub group_id: String,
    pub rule_id: String,
}

/// Origins of every rule of a host, by (family, table, chain) and rule number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    chains: BTreeMap<(u8, String, String), Vec<Vec<Origin>>>,
}

impl Provenance {
    /// Record the origins of the next rule of a chain.
    pub fn push(&mut self, family: u8, table: &str, chain: &str, origins: Vec<Origin>) {
        self.chains
            .entry((family, table.to_string(), chain.to_string()))
            .or_default()
            .push(origins);
    }

    /// The origins of rule `rule_num` (1-based, as iptables numbers them) of a
    /// chain; several when equal rules were merged into one.
    pub fn origins(&self, family: u8, table: &str, chain: &str, rule_num: usize) -> &[Origin] {
        self.chains
            .get(&(family, table.to_string(), chain.to_string()))
            .and_then(|rules| rule_num.checked_sub(1).and_then(|i| rules.get(i)))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}
