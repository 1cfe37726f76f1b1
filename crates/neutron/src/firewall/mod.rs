//! Firewall backends: how a Neutron agent turns a host's ports into dataplane
//! rules. Only the OVS hybrid iptables driver exists so far.

pub mod iptables_hybrid;

/// Which Neutron firewall driver programs a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FirewallDriver {
    /// `iptables_hybrid` (OVSHybridIptablesFirewallDriver): iptables on a qbr Linux bridge.
    #[default]
    IptablesHybrid,
}
