//! Firewall backends: how a Neutron agent turns a host's ports into dataplane
//! rules: the OVS hybrid iptables driver and ML2/OVN's Northbound rows; the
//! OVS native firewall (OpenFlow) is planned behind the same seam.

pub mod iptables_hybrid;
pub mod iptables_text;
pub mod ovn;
pub mod provenance;

pub use iptables_hybrid::{HostRules, PortPlumbing, RenderError, RenderOptions};

/// Which Neutron firewall backend filters a cloud's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FirewallDriver {
    /// `iptables_hybrid` (OVSHybridIptablesFirewallDriver): iptables on a qbr Linux bridge.
    #[default]
    IptablesHybrid,
    /// ML2/OVN: port security and ACLs in OVN's logical switch pipeline.
    Ovn,
}

impl FirewallDriver {
    /// The name a scenario or `--driver` gives it.
    pub fn name(self) -> &'static str {
        match self {
            FirewallDriver::IptablesHybrid => "iptables_hybrid",
            FirewallDriver::Ovn => "ovn",
        }
    }

    /// Read a driver name as operators write it (`firewall_driver` in a
    /// scenario, `--driver`); None for unknown or not yet modelled ones.
    pub fn parse(name: &str) -> Option<FirewallDriver> {
        match name {
            "iptables_hybrid" | "iptables-hybrid" | "hybrid" => {
                Some(FirewallDriver::IptablesHybrid)
            }
            "ovn" | "ml2/ovn" | "ML2/OVN" => Some(FirewallDriver::Ovn),
            _ => None,
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
