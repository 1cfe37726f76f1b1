//! Neutron's OVSHybridIptablesFirewallDriver (neutron 29.0.0), rendered as the
//! text `iptables-save`, `ip6tables-save` and `ipset save` print for one host.
