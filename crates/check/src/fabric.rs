//! The compute hosts as packets meet them: per host, the rules the firewall
//! backend generates, parsed into the netfilter engine, plus that host's conntrack.
//!
//! A port's traffic crosses its host twice in Neutron's hybrid wiring:
//! leaving the VM (tap -> qbr -> qvb, bridged, `physdev-in tap`) and entering it
//! (qvb -> qbr -> tap, `physdev-in qvb`). Each crossing is one [`Hop`].

use crate::error::CheckError;
use netfilter::conntrack::Conntrack;
use netfilter::ipset::IpsetStore;
use netfilter::{Engine, Packet, PacketTrace, PathKind, Rulesets};
use neutron::firewall::provenance::Origin;
use neutron::firewall::{FirewallDriver, HostRules, PortPlumbing};
use neutron::model::Cloud;
use serde::Serialize;
use std::collections::BTreeMap;

/// Which way a packet crosses its port's firewall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Leaving the VM (the port's `o`/`s` chains).
    Egress,
    /// Entering the VM (the port's `i` chain).
    Ingress,
}

/// One crossing of one host's firewall.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub port_id: String,
    pub host: String,
    pub side: Side,
    pub trace: PacketTrace,
    /// Where the rule that decided the verdict comes from (the last step's
    /// rule): the Neutron objects and agent behaviour behind it.
    pub decided_by: Vec<Origin>,
}

struct Host {
    rules: HostRules,
    engine: Engine,
    conntrack: Conntrack,
}

/// All compute hosts of a cloud with their rules and conntrack state.
pub struct Fabric {
    hosts: BTreeMap<String, Host>,
    ports: BTreeMap<String, (String, PortPlumbing)>,
}

impl Fabric {
    /// Generate (with `driver`) and load the rules of every host that has bound ports.
    pub fn build(cloud: &Cloud, driver: FirewallDriver) -> Result<Fabric, CheckError> {
        let mut host_names: Vec<&str> = cloud
            .ports
            .iter()
            .map(|p| p.host_id.as_str())
            .filter(|h| !h.is_empty())
            .collect();
        host_names.sort();
        host_names.dedup();
        let mut hosts = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for name in host_names {
            let rules = driver
                .render_host(cloud, name)
                .map_err(|e| CheckError::Rules(e.to_string()))?;
            let v4 = netfilter::Ruleset::parse(&rules.iptables_save)
                .map_err(|e| CheckError::Rules(format!("{name} iptables: {e}")))?;
            let v6 = netfilter::Ruleset::parse(&rules.ip6tables_save)
                .map_err(|e| CheckError::Rules(format!("{name} ip6tables: {e}")))?;
            let ipsets = IpsetStore::parse(&rules.ipset_save)
                .map_err(|e| CheckError::Rules(format!("{name} ipset: {e}")))?;
            let engine = Engine::new(&Rulesets { v4, v6 }, &ipsets)
                .map_err(|e| CheckError::Rules(format!("{name}: {e}")))?;
            for p in &rules.ports {
                ports.insert(p.port_id.clone(), (name.to_string(), p.clone()));
            }
            hosts.insert(
                name.to_string(),
                Host {
                    rules,
                    engine,
                    conntrack: Conntrack::new(),
                },
            );
        }
        Ok(Fabric { hosts, ports })
    }

    /// The generated rules of one host.
    pub fn host_rules(&self, host: &str) -> Option<&HostRules> {
        self.hosts.get(host).map(|h| &h.rules)
    }

    /// The host a port is bound to (None: unbound, so nothing filters it).
    pub fn host_of(&self, port_id: &str) -> Option<&str> {
        self.ports.get(port_id).map(|(h, _)| h.as_str())
    }

    /// Move `pkt` across the firewall of `port_id`'s host in direction `side`.
    /// Returns None when the port is not bound to any host we model.
    pub fn cross(&mut self, port_id: &str, side: Side, pkt: &Packet) -> Option<Hop> {
        let (host_name, plumbing) = self.ports.get(port_id)?;
        let host = self.hosts.get_mut(host_name)?;
        let mut p = pkt.clone();
        p.in_dev = Some(plumbing.qbr.clone());
        p.out_dev = Some(plumbing.qbr.clone());
        match side {
            Side::Egress => {
                p.physdev_in = Some(plumbing.tap.clone());
                p.physdev_out = Some(plumbing.qvb.clone());
            }
            Side::Ingress => {
                p.physdev_in = Some(plumbing.qvb.clone());
                p.physdev_out = Some(plumbing.tap.clone());
            }
        }
        let trace = host.engine.eval(&mut host.conntrack, &p, PathKind::Bridged);
        let family = if pkt.src.is_ipv4() { 4 } else { 6 };
        let decided_by = trace
            .path
            .last()
            .map(|s| {
                host.rules
                    .provenance
                    .origins(family, &s.table, &s.chain, s.rule_num)
                    .to_vec()
            })
            .unwrap_or_default();
        Some(Hop {
            port_id: port_id.to_string(),
            host: host_name.clone(),
            side,
            trace,
            decided_by,
        })
    }
}
