//! lvs: the load-balancer side of vipwire, all pure (no sockets, no clocks).
//!
//! - [`keepalived`]: keepalived.conf parser with keepalived's defaults.
//! - [`sched`]: IPVS-compatible schedulers (rr, wrr, lc, wlc, sed, nq, sh, dh, mh, fo).
//! - [`conn`]: IPVS connection table (TCP/UDP states, timeouts, persistence).
//! - [`health`]: health-check scheduling (delay_loop, retry) -> up/down.

#![forbid(unsafe_code)]

pub mod conn;
pub mod health;
pub mod keepalived;
pub mod sched;
pub mod vrrp;
