//! The running director: VRRP failover and a user-space IPVS-like data plane
//! (DR/NAT/TUN) configured by keepalived.conf. Pure state machines live in `lvs`;
//! this crate wires them to raw sockets, AF_PACKET and netlink.
//!
//! - [`afpacket`]: TPACKET_V3 RX ring + TX ring (qdisc bypass).
//! - [`afxdp`]: AF_XDP socket and the XDP programs (classifier, DR fast path).
//! - [`ebpf`]: the small assembler those programs are written with.
//! - [`fastpath`]: the DR fast path's connection map, kept by user space.
//! - [`dataplane`]: per-frame forwarding decision and rewrite (DR, NAT, TUN).
//! - [`netif`]: interface MAC/addresses, routes, neighbour cache and ARP.
//! - [`health`]: TCP_CHECK / HTTP_GET / MISC_CHECK threads.
//! - [`sync`]: `lvs_sync_daemon`, the IPVS connection sync (UDP multicast).
//! - [`guard`]: iptables rules that keep the kernel from answering VIP:port.
//! - [`daemon`]: `vipwire director -f`; [`control`] + [`status`]: `director status`.
//! - [`config_test`]: `vipwire director -t`, the host checks of `keepalived -t`.
//! - `sys`: the system-call layer, the only module with `unsafe` code (libc
//!   calls, the mmapped rings of AF_PACKET and AF_XDP, bpf(2)); the crate
//!   denies `unsafe_code` everywhere else.

#![deny(unsafe_code)]

pub mod afpacket;
pub mod afxdp;
pub mod config_test;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod ebpf;
pub mod fastpath;
pub mod guard;
pub mod health;
pub mod netif;
pub mod status;
pub mod sync;
#[allow(unsafe_code)]
mod sys;
pub mod vrrp;

pub use daemon::{run, IoMode, RunOptions, Shared};

/// Why the director could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DirectorError {
    #[error("{file}:{line}: {msg}")]
    Config {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("{0}")]
    Io(String),
}
