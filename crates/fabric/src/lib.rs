//! A cloud's dataplane as packets meet it, behind one interface for every
//! Neutron firewall backend: build it from a cloud, move a packet out of a port
//! (egress) or into one (ingress), send an ARP frame from a port, and get back
//! the verdict, the backend-native steps and the Neutron objects behind the
//! rule that decided. `check` and the cloud-level `trace` use only this seam.
//!
//! Backends: [`hybrid`] (iptables_hybrid: per-host iptables on qbr bridges with
//! one conntrack per host, and the OVS agent's ARP protection) and [`ovn`]
//! (ML2/OVN: the logical switch pipeline with one conntrack zone per logical
//! port, kernel semantics).

#![forbid(unsafe_code)]

pub mod deliver;
pub mod hybrid;
pub mod ovn;

use ipnet::IpNet;
use netfilter::PacketTrace;
use neutron::firewall::provenance::Origin;
use neutron::firewall::FirewallDriver;
use neutron::model::Cloud;
use packet::Packet;
use serde::Serialize;
use std::net::IpAddr;

/// Which way a packet crosses its port's firewall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Leaving the VM.
    Egress,
    /// Entering the VM.
    Ingress,
}

/// One crossing of one port's firewall.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub port_id: String,
    /// Where the filtering runs (a compute host for iptables_hybrid).
    pub host: String,
    pub side: Side,
    /// The backend-native path with verdict and conntrack state.
    pub trace: PacketTrace,
    /// Where the rule that decided comes from: the Neutron objects and agent
    /// behaviour behind it.
    pub decided_by: Vec<Origin>,
}

/// An ARP frame as a port sends it.
#[derive(Clone, Debug, Serialize)]
pub struct ArpFrame {
    pub reply: bool,
    pub sender_mac: String,
    pub sender_ip: IpAddr,
    pub target_ip: IpAddr,
}

/// Why a port's ARP protection refused a frame.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ArpRefusal {
    /// The sender IP is none of the port's fixed IPs and pair IPs.
    SenderIp { allowed: Vec<IpNet> },
    /// The sender MAC is neither the port's MAC nor a pair MAC.
    SenderMac { allowed: Vec<String> },
    /// An IPv6 neighbour advertisement for a target that is none of the
    /// port's IPv6 addresses (fixed, pairs, link-local of its MACs).
    NdTarget { allowed: Vec<IpNet> },
    /// ML2/OVN: the VM's port is an unclaimed virtual port, so nothing it
    /// sends enters the switch (`why` in plain words).
    CutOff { why: String },
}

/// What the backend did with an ARP frame from a port.
#[derive(Clone, Debug, Serialize)]
pub struct ArpDecision {
    /// None: the frame passes.
    pub refused: Option<ArpRefusal>,
    pub host: String,
    /// The backend-native place and rule that refused it.
    pub table: String,
    pub rule_text: String,
}

impl ArpDecision {
    /// The frame passes (no protection applies, or it allows the frame).
    pub fn pass() -> ArpDecision {
        ArpDecision {
            refused: None,
            host: String::new(),
            table: String::new(),
            rule_text: String::new(),
        }
    }
}

/// The interface every firewall backend offers.
pub trait Backend {
    /// What filters a port's traffic here: "host" (a compute host's
    /// firewall) or "logical switch" (OVN's pipeline).
    fn site(&self) -> &'static str;
    /// Where a port's traffic is filtered; None when nothing filters it here.
    fn host_of(&self, port_id: &str) -> Option<&str>;
    /// Move `pkt` across the firewall of `port_id` in direction `side`, with
    /// the state the earlier packets left. None when the port is not filtered.
    fn cross(&mut self, port_id: &str, side: Side, pkt: &Packet) -> Option<Hop>;
    /// An ARP frame sent by `port_id`.
    fn arp_from(&self, port_id: &str, frame: &ArpFrame) -> ArpDecision;
    /// The neighbour-discovery protection for an ICMPv6 ND message sent by
    /// `port_id` (`na`: an advertisement for `target`, else a solicitation);
    /// the packet itself then crosses the firewall like any other.
    fn nd_from(&self, port_id: &str, sender_mac: &str, na: bool, target: IpAddr) -> ArpDecision;
    /// The port the backend itself answers an ARP request or IPv6 neighbour
    /// solicitation for, when it does (OVN's ARP/ND responder answers for
    /// fixed IPs, so the request never reaches the owner); None: the request
    /// is delivered.
    fn responder(&self, _sender: &str, _target: IpAddr) -> Option<String> {
        None
    }
    /// Whether frames are delivered to this port in its own name (OVN: a
    /// virtual port never is; its traffic is its claiming parent's).
    fn receives(&self, _port_id: &str) -> bool {
        true
    }
    /// A frame from `sender` with source MAC `smac` entered the switch: a
    /// learning switch records where that MAC lives, whatever later stages
    /// (ACLs, responders) then do with the frame.
    fn learn(&mut self, _sender: &str, _smac: &str) {}
    /// The ports a unicast frame to `dmac` reaches, when the backend's own L2
    /// lookup decides it (OVN: known addresses, learned MACs, else every port
    /// with `unknown` addresses); None: the port owning `dmac`.
    fn l2_lookup(&self, _sender: &str, _dmac: &str) -> Option<Vec<String>> {
        None
    }
}

/// Why a backend cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("generated rules do not parse (vipwire bug): {0}")]
    Rules(String),
}

/// The backend of `driver` for a whole cloud.
pub fn build(cloud: &Cloud, driver: FirewallDriver) -> Result<Box<dyn Backend>, BuildError> {
    build_for(cloud, driver, None)
}

/// The backend for the ports packets will cross (None: every port). The rest
/// of the cloud still shapes the rules (remote-group members), but nothing is
/// built for hosts no such port is on: a big project costs little.
pub fn build_for(
    cloud: &Cloud,
    driver: FirewallDriver,
    ports: Option<&[&str]>,
) -> Result<Box<dyn Backend>, BuildError> {
    match driver {
        FirewallDriver::IptablesHybrid => {
            Ok(Box::new(hybrid::HybridFabric::build_for(cloud, ports)?))
        }
        FirewallDriver::Ovn => Ok(Box::new(ovn::OvnFabric::build(cloud)?)),
    }
}
