//! The running director: VRRP failover and a user-space IPVS-like data plane
//! (DR/NAT/TUN) configured by keepalived.conf. Pure state machines live in `lvs`;
//! this crate wires them to raw sockets, AF_PACKET and netlink.

pub mod vrrp;
