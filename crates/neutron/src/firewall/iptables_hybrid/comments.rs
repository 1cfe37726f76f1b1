//! Neutron's rule comments (neutron/agent/linux/iptables_comments.py), as the
//! driver puts them on its rules with `comment_rule`.

pub(super) const C_UNMATCH_DROP: &str = "Default drop rule for unmatched traffic.";
pub(super) const C_VM_INT_SG: &str =
    "Direct traffic from the VM interface to the security group chain.";
pub(super) const C_SG_TO_VM_SG: &str = "Jump to the VM specific chain.";
pub(super) const C_INPUT_TO_SG: &str =
    "Direct incoming traffic from VM to the security group chain.";
pub(super) const C_PAIR_ALLOW: &str = "Allow traffic from defined IP/MAC pairs.";
pub(super) const C_PAIR_DROP: &str = "Drop traffic without an IP/MAC allow rule.";
pub(super) const C_DHCP_CLIENT: &str = "Allow DHCP client traffic.";
pub(super) const C_DHCP_SPOOF: &str = "Prevent DHCP Spoofing by VM.";
pub(super) const C_UNMATCHED: &str = "Send unmatched traffic to the fallback chain.";
pub(super) const C_INVALID_DROP: &str =
    "Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack.";
pub(super) const C_ALLOW_ASSOC: &str =
    "Direct packets associated with a known session to the RETURN chain.";
pub(super) const C_PORT_SEC_ACCEPT: &str = "Accept all packets when port security is disabled.";
pub(super) const C_TRUSTED_ACCEPT: &str = "Accept all packets when port is trusted.";
pub(super) const C_IPV6_RA_DROP: &str = "Drop IPv6 Router Advts from VM Instance.";
pub(super) const C_IPV6_ICMP_ALLOW: &str = "Allow IPv6 ICMP traffic.";
