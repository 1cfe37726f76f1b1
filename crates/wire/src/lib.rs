//! Packet formats as typed views over byte buffers, each with a parse/emit pair
//! and byte-vector tests beside it (in the style of smoltcp's `wire`).
//!
//! Modules: [`checksum`] (RFC 1071 sum, RFC 1624 incremental update),
//! [`ethernet`], [`arp`], [`ipv4`], [`ipv6`], [`tcp`], [`udp`], [`icmp`], [`icmpv6`] (neighbour
//! advertisements), [`vrrp`] (over IPv4 and IPv6), [`ipvs_sync`] (the IPVS
//! connection-sync protocol).

#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipvs_sync;
pub mod tcp;
pub mod udp;
pub mod vrrp;
