//! Neutron's OVSHybridIptablesFirewallDriver (neutron 29.0.0), rendered as the
//! text `iptables-save`, `ip6tables-save` and `ipset save -sorted` print on a
//! compute host after the OVS agent programmed its ports from scratch.
//!
//! The renderer replays the agent: `IptablesManager` setup, the driver's
//! `sg-fallback`, trusted ports, then `_setup_chains_apply` over the filtered
//! ports in port-id order and the port-security-off ports after them. Like
//! `IptablesManager._modify_rules` it keeps `top` rules before the others and
//! drops duplicate lines keeping the last one; the kernel then prints each chain
//! in that order (builtin chains first, user chains sorted by name).
//! Facts: neutron/agent/linux/iptables_firewall.py, iptables_manager.py,
//! ipset_manager.py, ip_conntrack.py, db/securitygroups_rpc_base.py (29.0.0).
//! Agent-side orders this follows (the real agent iterates Python sets here):
//! devices in port-id order, a port's groups in its `security_groups` order,
//! a group's rules by `standard_attr_id`. Checked equal, after the conformance
//! normalisation (sets and set members sorted), to the real 29.0.0 driver on
//! 20 hand-picked and 220 generated scenarios, nft and legacy.
//!
//! Output conventions: no `#` lines, counters `[0:0]`; `ipset_save` omits the
//! random `initval 0x...` that `ipset save` appends and lists members by
//! (address, prefix) (see [`normalize_ipset_save`]).
//!
//! Files, split as Neutron splits these sources: `agent.rs` (the agent's pass,
//! securitygroups_rpc.py), `sg_info.rs` (the server's rule dicts,
//! securitygroups_rpc_base.py), `manager.rs` (iptables_manager.py: tables,
//! duplicates, printing), `ipset.rs` (ipset_manager.py), `conntrack.rs`
//! (ip_conntrack.py and the CT jumps), `port_chains.rs` and `convert.rs`
//! (iptables_firewall.py: per-port chains, rule conversion), `comments.rs`
//! (iptables_comments.py), `names.rs` (device, chain and address forms).

mod agent;
mod comments;
mod conntrack;
mod convert;
mod ipset;
mod manager;
mod names;
mod port_chains;
mod sg_info;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::provenance::Provenance;
use super::SaveFlavor;
use crate::model::{Cloud, Ethertype, Port};

pub use agent::{render_host_with, RPC_RESOURCES_STEP};
pub use conntrack::ZONE_START;
pub use ipset::{ipset_name, normalize_ipset_save};
pub use manager::normalize_iptables_save;
pub use names::{device_name, link_local, port_chain, WRAP};

use manager::Family;
use sg_info::AgentRule;

/// The rules one host ends up with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostRules {
    pub iptables_save: String,
    pub ip6tables_save: String,
    pub ipset_save: String,
    /// Every port bound to the host, in port-id order.
    pub ports: Vec<PortPlumbing>,
    /// Which Neutron object made each rule of the two saves.
    pub provenance: Provenance,
}

/// The Linux devices Nova and the agent create for one hybrid-plugged port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlumbing {
    pub port_id: String,
    pub tap: String,
    pub qvb: String,
    pub qvo: String,
    pub qbr: String,
    /// Conntrack zone; 0 when the port has none (port security off, trusted port).
    pub zone: u16,
}

/// Why a host's rules cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "port {port}: field \"mac_address\": empty, the anti-spoofing chain needs the port MAC"
    )]
    MissingMac { port: String },
    #[error("port {port}: field \"id\": {id:?} cannot be used in device and chain names")]
    BadPortId { port: String, id: String },
    #[error("port {port}: field \"security_groups\": security group {group} is not loaded")]
    UnknownGroup { port: String, group: String },
    #[error("host {host}: more than {max} conntrack zones needed")]
    TooManyZones { host: String, max: u32 },
}

/// Options that change only how the kernel prints, not what Neutron programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    pub flavor: SaveFlavor,
}

/// Renders one host with the default options (iptables-nft printing).
pub fn render_host(cloud: &Cloud, host: &str) -> Result<HostRules, RenderError> {
    render_host_with(cloud, host, &RenderOptions::default())
}

/// Renders every host that has a bound port.
pub fn render_all_hosts(cloud: &Cloud) -> Result<BTreeMap<String, HostRules>, RenderError> {
    cloud
        .hosts()
        .into_iter()
        .map(|h| render_host(cloud, &h).map(|r| (h, r)))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn of(ip: &IpAddr) -> Fam {
        match ip {
            IpAddr::V4(_) => Fam::V4,
            IpAddr::V6(_) => Fam::V6,
        }
    }

    fn ethertype(self) -> Ethertype {
        match self {
            Fam::V4 => Ethertype::IPv4,
            Fam::V6 => Ethertype::IPv6,
        }
    }
}

/// Port ids become device and chain names; refuse text iptables cannot take.
fn check_id(port: &Port) -> Result<(), RenderError> {
    let ok = !port.id.is_empty()
        && port
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadPortId {
            port: port_label(port),
            id: port.id.clone(),
        })
    }
}

fn port_label(port: &Port) -> String {
    if port.name.is_empty() {
        port.id.clone()
    } else {
        format!("\"{}\" ({})", port.name, port.id)
    }
}

struct Renderer<'a> {
    cloud: &'a Cloud,
    v4: Family,
    v6: Family,
    /// Remote-group ipsets in creation order: (name, family, members).
    sets: Vec<(String, Fam, Vec<IpNet>)>,
    /// `sg_rules` of the driver, per group id.
    sg_rules: BTreeMap<String, Vec<AgentRule>>,
    /// Zone per `_device_key` (first 11 characters of the port id).
    zones: BTreeMap<String, u16>,
}

impl<'a> Renderer<'a> {
    fn fam(&mut self, f: Fam) -> &mut Family {
        match f {
            Fam::V4 => &mut self.v4,
            Fam::V6 => &mut self.v6,
        }
    }

    fn both(&mut self, mut op: impl FnMut(&mut Family)) {
        op(&mut self.v4);
        op(&mut self.v6);
    }
}
