//! Firewall backends: how a Neutron agent turns a host's ports into dataplane
//! rules. Only the OVS hybrid iptables driver exists so far; OVS native
//! (OpenFlow) and OVN (logical flows) are planned behind the same seam.

pub mod iptables_hybrid;
pub mod iptables_text;
pub mod provenance;

use std::collections::BTreeMap;

use crate::model::Cloud;

pub use iptables_hybrid::{HostRules, PortPlumbing, RenderError, RenderOptions};

/// Which Neutron firewall driver programs a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FirewallDriver {
    /// `iptables_hybrid` (OVSHybridIptablesFirewallDriver): iptables on a qbr Linux bridge.
    #[default]
    IptablesHybrid,
}

impl FirewallDriver {
    /// The driver's rules for one host.
    pub fn render_host(self, cloud: &Cloud, host: &str) -> Result<HostRules, RenderError> {
        match self {
            FirewallDriver::IptablesHybrid => iptables_hybrid::render_host(cloud, host),
        }
    }

    /// The driver's rules for every host with a bound port.
    pub fn render_all_hosts(
        self,
        cloud: &Cloud,
    ) -> Result<BTreeMap<String, HostRules>, RenderError> {
        match self {
            FirewallDriver::IptablesHybrid => iptables_hybrid::render_all_hosts(cloud),
        }
    }
}

/// Which iptables build prints the rules. They print rules and chains the same
/// way but list tables in a different order (checked on iptables 1.8.9 and
/// against the real agent in a fresh namespace):
/// - nft: its fixed table order, raw, filter, nat;
/// - legacy: the kernel's table list, newest table first. The agent's firewall
///   runs `iptables-save -t raw` when it starts (ip_conntrack's zone map), which
///   creates the IPv4 raw table; its first restore then creates filter and nat
///   (tables sorted by name): IPv4 nat, filter, raw. IPv6 gets no early save:
///   raw, nat, filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SaveFlavor {
    /// `iptables-nft-save` (Debian 12's default `iptables`).
    #[default]
    Nft,
    /// `iptables-legacy-save`.
    Legacy,
}

impl SaveFlavor {
    /// Tables in the order `iptables-save` (`ipv6` false) or `ip6tables-save` lists them.
    pub fn table_order(self, ipv6: bool) -> &'static [&'static str] {
        match (self, ipv6) {
            (SaveFlavor::Nft, _) => &["raw", "filter", "nat"],
            (SaveFlavor::Legacy, false) => &["nat", "filter", "raw"],
            (SaveFlavor::Legacy, true) => &["raw", "nat", "filter"],
        }
    }
}
