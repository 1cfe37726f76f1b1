//! The iptables_hybrid backend: per compute host, the rules Neutron's
//! OVSHybridIptablesFirewallDriver programs, parsed into the netfilter engine,
//! plus that host's conntrack; and the OVS agent's ARP spoofing protection.
//!
//! A port's traffic crosses its host twice in Neutron's hybrid wiring:
//! leaving the VM (tap -> qbr -> qvb, bridged, `physdev-in tap`) and entering it
//! (qvb -> qbr -> tap, `physdev-in qvb`). Each crossing is one [`Hop`].

use crate::{ArpDecision, ArpFrame, ArpRefusal, BuildError, Hop, Side};
use conntrack::Conntrack;
use ipnet::IpNet;
use netfilter::ipset::IpsetStore;
use netfilter::{Engine, Rulesets};
use neutron::firewall::iptables_hybrid::{device_name, link_local, render_host};
use neutron::firewall::{HostRules, PortPlumbing};
use neutron::model::{Cloud, Port};
use packet::{Packet, PathKind};
use std::collections::BTreeMap;

struct Host {
    rules: HostRules,
    engine: Engine,
    conntrack: Conntrack,
}

/// Every compute host of a cloud with its rules and conntrack state.
pub struct HybridFabric {
    hosts: BTreeMap<String, Host>,
    ports: BTreeMap<String, (String, PortPlumbing)>,
    /// What the ARP protection needs of each port.
    arp: BTreeMap<String, ArpPolicy>,
}

/// A port's ARP spoofing protection (None for ports it skips).
struct ArpPolicy {
    host: String,
    qvo: String,
    ips: Vec<IpNet>,
    /// IPv6 ND targets the port may advertise: its IPv6 fixed IPs and pairs and
    /// the link-local address of each of its MACs.
    nd_targets: Vec<IpNet>,
    macs: Vec<String>,
}

impl ArpPolicy {
    fn mac_ok(&self, mac: &str) -> bool {
        self.macs.contains(&mac.to_lowercase())
    }

    fn refusal(&self, why: ArpRefusal, table: &str, rule_text: String) -> ArpDecision {
        ArpDecision {
            refused: Some(why),
            host: self.host.clone(),
            table: table.into(),
            rule_text,
        }
    }

    /// The MAC spoofing protection (every frame, ARP and ND alike).
    fn mac_refusal(&self) -> ArpDecision {
        self.refusal(
            ArpRefusal::SenderMac {
                allowed: self.macs.clone(),
            },
            "table 25 (MAC spoofing protection)",
            format!(
                "in_port={}: dl_src not in {{{}}} -> drop",
                self.qvo,
                self.macs.join(", ")
            ),
        )
    }

    /// The OVS agent protects a port's ARP unless port security is off or the
    /// port is network-owned (ovs_neutron_agent.py setup_arp_spoofing_protection):
    /// only its fixed IPs and pair IPs as sender, from its MAC or a pair MAC.
    fn of(port: &Port) -> Option<ArpPolicy> {
        if !port.port_security_enabled || port.device_owner.starts_with("network:") {
            return None;
        }
        let mut ips: Vec<IpNet> = port
            .fixed_ips
            .iter()
            .map(|f| IpNet::from(f.ip_address))
            .collect();
        ips.extend(
            port.allowed_address_pairs
                .iter()
                .map(|p| p.ip_address.trunc()),
        );
        let mut macs = vec![port.mac_address.to_lowercase()];
        macs.extend(
            port.allowed_address_pairs
                .iter()
                .filter_map(|p| p.mac_address.as_ref().map(|m| m.to_lowercase())),
        );
        // ovs_neutron_agent.py setup_arp_spoofing_protection: IPv6 addresses
        // plus the EUI-64 link-local of every allowed MAC feed
        // install_icmpv6_na_spoofing_protection (nd_target per address).
        let mut nd_targets: Vec<IpNet> =
            ips.iter().filter(|n| n.addr().is_ipv6()).copied().collect();
        for m in &macs {
            if let Some(lla) = link_local(m) {
                let net = IpNet::from(std::net::IpAddr::V6(lla));
                if !nd_targets.contains(&net) {
                    nd_targets.push(net);
                }
            }
        }
        Some(ArpPolicy {
            host: port.host_id.clone(),
            qvo: device_name("qvo", &port.id),
            ips,
            macs,
            nd_targets,
        })
    }
}

impl HybridFabric {
    /// Generate and load the rules of every host that has bound ports.
    pub fn build(cloud: &Cloud) -> Result<HybridFabric, BuildError> {
        Self::build_for(cloud, None)
    }

    /// Only the hosts of `ports` (None: every host with bound ports).
    pub fn build_for(cloud: &Cloud, ports: Option<&[&str]>) -> Result<HybridFabric, BuildError> {
        let wanted = |p: &Port| ports.is_none_or(|w| w.contains(&p.id.as_str()));
        let mut host_names: Vec<&str> = cloud
            .ports
            .iter()
            .filter(|p| wanted(p))
            .map(|p| p.host_id.as_str())
            .filter(|h| !h.is_empty())
            .collect();
        host_names.sort();
        host_names.dedup();
        let mut hosts = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for name in host_names {
            let rules = render_host(cloud, name).map_err(|e| BuildError::Rules(e.to_string()))?;
            let v4 = netfilter::Ruleset::parse(&rules.iptables_save)
                .map_err(|e| BuildError::Rules(format!("{name} iptables: {e}")))?;
            let v6 = netfilter::Ruleset::parse(&rules.ip6tables_save)
                .map_err(|e| BuildError::Rules(format!("{name} ip6tables: {e}")))?;
            let ipsets = IpsetStore::parse(&rules.ipset_save)
                .map_err(|e| BuildError::Rules(format!("{name} ipset: {e}")))?;
            let engine = Engine::new(&Rulesets { v4, v6 }, &ipsets)
                .map_err(|e| BuildError::Rules(format!("{name}: {e}")))?;
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
        let arp = cloud
            .ports
            .iter()
            .filter(|p| wanted(p))
            .filter_map(|p| ArpPolicy::of(p).map(|a| (p.id.clone(), a)))
            .collect();
        Ok(HybridFabric { hosts, ports, arp })
    }

    /// The generated rules of one host.
    pub fn host_rules(&self, host: &str) -> Option<&HostRules> {
        self.hosts.get(host).map(|h| &h.rules)
    }
}

impl crate::Backend for HybridFabric {
    fn site(&self) -> &'static str {
        "host"
    }

    fn host_of(&self, port_id: &str) -> Option<&str> {
        self.ports.get(port_id).map(|(h, _)| h.as_str())
    }

    fn cross(&mut self, port_id: &str, side: Side, pkt: &Packet) -> Option<Hop> {
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

    fn nd_from(
        &self,
        port_id: &str,
        sender_mac: &str,
        na: bool,
        target: std::net::IpAddr,
    ) -> ArpDecision {
        let Some(policy) = self.arp.get(port_id) else {
            return ArpDecision::pass();
        };
        if !policy.mac_ok(sender_mac) {
            return policy.mac_refusal();
        }
        if na && !policy.nd_targets.iter().any(|n| n.contains(&target)) {
            return policy.refusal(
                ArpRefusal::NdTarget {
                    allowed: policy.nd_targets.clone(),
                },
                "table 24 (ICMPv6 NA spoofing protection)",
                format!(
                    "icmp6,icmp_type=136,in_port={}: nd_target not in {{{}}} -> drop",
                    policy.qvo,
                    net_list(&policy.nd_targets)
                ),
            );
        }
        ArpDecision::pass()
    }

    fn arp_from(&self, port_id: &str, frame: &ArpFrame) -> ArpDecision {
        let Some(policy) = self.arp.get(port_id) else {
            return ArpDecision::pass();
        };
        if !policy.ips.iter().any(|n| n.contains(&frame.sender_ip)) {
            return policy.refusal(
                ArpRefusal::SenderIp {
                    allowed: policy.ips.clone(),
                },
                "table 24 (ARP spoofing protection)",
                format!(
                    "arp,in_port={}: arp_spa not in {{{}}} -> drop",
                    policy.qvo,
                    net_list(&policy.ips)
                ),
            );
        }
        if !policy.mac_ok(&frame.sender_mac) {
            return policy.mac_refusal();
        }
        ArpDecision::pass()
    }
}

fn net_list(nets: &[IpNet]) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
