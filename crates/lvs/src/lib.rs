//! lvs: the load-balancer side of vipwire, all pure (no sockets, no clocks).
//!
//! - [`keepalived`]: keepalived.conf parser with keepalived's defaults.
//! - [`sched`]: IPVS-compatible schedulers (rr, wrr, lc, wlc, sed, nq, sh, dh, mh, fo).

pub mod keepalived;
pub mod sched;
