//! Connection-count schedulers (lc, wlc, sed, nq) and weighted failover (fo).
//!
//! Stateless: each pick scans the list in order. The kernel compares loads by
//! cross-multiplying (h1*w2 > h2*w1) and replaces the current best only on a
//! strict improvement, so ties go to the earliest destination in the list.

use super::{ConnKey, Dest, Scheduler};

/// lc (ip_vs_lc.c): least `active*256 + inactive`, weight only as on/off.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lc;

impl Scheduler for Lc {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, d) in servers.iter().enumerate() {
            if d.overloaded || d.weight == 0 {
                continue;
            }
            let doh = d.conn_overhead();
            if least.is_none_or(|(_, loh)| doh < loh) {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
}

/// Shared walk of wlc and sed (ip_vs_wlc.c, ip_vs_sed.c): the first usable
/// destination seeds the search; later ones (weight 0 included, as in the
/// kernel, where h*0 can never win) replace it when `loh*w_d > doh*w_least`.
fn weighted_least(servers: &[Dest], overhead: fn(&Dest) -> u64) -> Option<usize> {
    let first = servers.iter().position(|d| !d.overloaded && d.weight > 0)?;
    let mut least = first;
    let mut loh = overhead(&servers[first]) as i128;
    for (i, d) in servers.iter().enumerate().skip(first + 1) {
        if d.overloaded {
            continue;
        }
        let doh = overhead(d) as i128;
        if loh * d.weight as i128 > doh * servers[least].weight as i128 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// wlc (ip_vs_wlc.c): least `(active*256 + inactive) / weight`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wlc;

impl Scheduler for Wlc {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        weighted_least(servers, Dest::conn_overhead)
    }
}

/// sed and nq count only active connections plus the new one
/// (ip_vs_sed_dest_overhead / ip_vs_nq_dest_overhead: activeconns + 1).
fn expected_delay(d: &Dest) -> u64 {
    d.active as u64 + 1
}

/// sed (ip_vs_sed.c): least `(active + 1) / weight`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sed;

impl Scheduler for Sed {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        weighted_least(servers, expected_delay)
    }
}

/// nq (ip_vs_nq.c): the first idle (no active connection) usable destination,
/// else sed's choice.
#[derive(Debug, Default, Clone, Copy)]
pub struct Nq;

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        let mut least: Option<(usize, i128)> = None;
        for (i, d) in servers.iter().enumerate() {
            if d.overloaded || d.weight == 0 {
                continue;
            }
            let doh = expected_delay(d) as i128;
            if d.active == 0 {
                return Some(i);
            }
            let better = match least {
                None => true,
                Some((l, loh)) => loh * d.weight as i128 > doh * servers[l].weight as i128,
            };
            if better {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
}

/// fo (ip_vs_fo.c): the highest weight; the first one on ties.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fo;

impl Scheduler for Fo {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for (i, d) in servers.iter().enumerate() {
            if !d.overloaded && d.weight > best.map_or(0, |(_, w)| w) {
                best = Some((i, d.weight));
            }
        }
        best.map(|(i, _)| i)
    }
}
