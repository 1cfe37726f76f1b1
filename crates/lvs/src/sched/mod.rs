//! IPVS-compatible schedulers: pure state machines that pick a real server.
//!
//! Each follows the kernel's `net/netfilter/ipvs/ip_vs_<name>.c`, including its
//! list walk order and tie-breaks, so that a sequence of picks matches what the
//! kernel would do for the same destination list. A destination with weight 0
//! is quiesced: never picked for a new connection. `overloaded` models the
//! kernel's IP_VS_DEST_F_OVERLOAD (upper threshold reached).
//!
//! The kernel's schedulers with tables (wrr, sh, dh, mh) rebuild them when a
//! destination is added, removed or its weight changes; here the scheduler
//! notices such a change by comparing the list it is given with the last one.

mod hash;
mod least;
mod maglev;
mod rotate;
mod table;

use std::net::IpAddr;

pub use hash::HashFlavor;
pub use least::{Fo, Lc, Nq, Sed, Wlc};
pub use maglev::{Mh, MH_TABLE_SIZE};
pub use rotate::{Rr, Wrr};
pub use table::{Dh, Sh, HASH_TABLE_SIZE};

/// One real server as the scheduler sees it (kernel `struct ip_vs_dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    /// Current weight; 0 = quiesced.
    pub weight: u32,
    /// Latest non-zero weight (kernel `last_weight`, used by mh so that a
    /// quiesced server keeps its slots). [`Dest::set_weight`] maintains it.
    pub last_weight: u32,
    /// Active connections (TCP ESTABLISHED).
    pub active: u32,
    /// Inactive connections (other states).
    pub inactive: u32,
    /// Upper connection threshold reached (IP_VS_DEST_F_OVERLOAD).
    pub overloaded: bool,
}

impl Dest {
    pub fn new(addr: IpAddr, port: u16, weight: u32) -> Dest {
        Dest {
            addr,
            port,
            weight,
            last_weight: weight,
            active: 0,
            inactive: 0,
            overloaded: false,
        }
    }

    /// Change the weight like ip_vs_ctl.c: last_weight keeps the last non-zero one.
    pub fn set_weight(&mut self, weight: u32) {
        self.weight = weight;
        if weight != 0 {
            self.last_weight = weight;
        }
    }

    /// Kernel ip_vs_dest_conn_overhead(): activeconns * 256 + inactconns.
    pub fn conn_overhead(&self) -> u64 {
        ((self.active as u64) << 8) + self.inactive as u64
    }

    fn weight_i64(&self) -> i64 {
        self.weight as i64
    }
}

/// The connection being scheduled (first packet of a flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

/// An IPVS scheduler: picks the index of a destination in `servers`, or none.
pub trait Scheduler: Send + std::fmt::Debug {
    /// Kernel name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;
    fn pick(&mut self, servers: &[Dest], key: &ConnKey) -> Option<usize>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("unknown IPVS scheduler \"{0}\"")]
    Unknown(String),
    #[error("IPVS scheduler \"{0}\" is not implemented by vipwire")]
    NotImplemented(String),
}

/// A fresh scheduler by kernel name. sh and dh use the hash of current kernels.
pub fn scheduler_for(name: &str) -> Result<Box<dyn Scheduler>, SchedulerError> {
    Ok(match name {
        "rr" => Box::new(Rr::default()),
        "wrr" => Box::new(Wrr::default()),
        "lc" => Box::new(Lc),
        "wlc" => Box::new(Wlc),
        "sed" => Box::new(Sed),
        "nq" => Box::new(Nq),
        "fo" => Box::new(Fo),
        "sh" => Box::new(Sh::new(HashFlavor::Hash32)),
        "dh" => Box::new(Dh::new(HashFlavor::Hash32)),
        "mh" => Box::new(Mh::default()),
        "lblc" | "lblcr" | "ovf" | "twos" => {
            return Err(SchedulerError::NotImplemented(name.to_string()))
        }
        other => return Err(SchedulerError::Unknown(other.to_string())),
    })
}

/// Identity of a destination list for "did the kernel see add/del/upd_dest?".
fn signature(servers: &[Dest]) -> Vec<(IpAddr, u16, u32, u32)> {
    servers
        .iter()
        .map(|d| (d.addr, d.port, d.weight, d.last_weight))
        .collect()
}

/// Kernel address fold for hashing: IPv4 host order; IPv6 XOR of its four
/// 32-bit words (ip_vs_sh.c / ip_vs_dh.c / ip_vs_mh.c `addr_fold`).
fn addr_fold(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(v) => u32::from(v),
        IpAddr::V6(v) => v
            .octets()
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .fold(0, |acc, w| acc ^ w),
    }
}

#[cfg(test)]
mod tests;
