//! Round-robin (kernel ip_vs_rr.c) and weighted round-robin (ip_vs_wrr.c).

use std::net::IpAddr;

use super::{signature, ConnKey, Dest, Scheduler};

fn usable(d: &Dest) -> bool {
    !d.overloaded && d.weight > 0
}

/// rr: walk on from the last pick, first usable destination wins.
#[derive(Debug, Default, Clone)]
pub struct Rr {
    /// Last picked position; None = list head (kernel `sched_data`).
    cursor: Option<usize>,
    /// The list the cursor refers to.
    last: Vec<(IpAddr, u16)>,
}

impl Rr {
    /// Map the cursor onto a changed list. ip_vs_rr_del_dest: if the current
    /// destination went away, the cursor moves to the entry before it.
    fn follow(&mut self, servers: &[Dest]) {
        let now: Vec<(IpAddr, u16)> = servers.iter().map(|d| (d.addr, d.port)).collect();
        if now == self.last {
            return;
        }
        self.cursor = self.cursor.and_then(|c| {
            self.last
                .get(..=c)?
                .iter()
                .rev()
                .find_map(|id| now.iter().position(|n| n == id))
        });
        self.last = now;
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        self.follow(servers);
        let n = servers.len();
        // Entries after the cursor, then (unless at head) from the start up to
        // and including the cursor itself.
        let start = self.cursor.map_or(0, |c| c + 1);
        let order = (start..n).chain(match self.cursor {
            Some(c) => 0..c + 1,
            None => 0..0,
        });
        for i in order {
            if usable(&servers[i]) {
                self.cursor = Some(i);
                return Some(i);
            }
        }
        None
    }
}

/// wrr: the kernel's gcd / max-weight walk.
///
/// cw starts at mw = max - (gcd - 1) and drops by gcd after each full walk;
/// a destination is picked when its weight >= cw. Weights 4,3,2 give AABABCABC.
#[derive(Debug, Default, Clone)]
pub struct Wrr {
    init: bool,
    /// Current position (`mark->cl`); None = list head.
    cl: Option<usize>,
    cw: i64,
    mw: i64,
    di: i64,
    sig: Vec<(IpAddr, u16, u32, u32)>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Wrr {
    fn gcd_weight(servers: &[Dest]) -> i64 {
        let g = servers
            .iter()
            .map(Dest::weight_i64)
            .filter(|w| *w > 0)
            .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
        if g > 0 {
            g
        } else {
            1
        }
    }

    fn max_weight(servers: &[Dest]) -> i64 {
        servers
            .iter()
            .map(Dest::weight_i64)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// ip_vs_wrr_init_svc / ip_vs_wrr_dest_changed.
    fn refresh(&mut self, servers: &[Dest]) {
        let sig = signature(servers);
        if self.init && sig == self.sig {
            return;
        }
        self.cl = None;
        self.di = Self::gcd_weight(servers);
        self.mw = Self::max_weight(servers) - (self.di - 1);
        if !self.init || self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
        self.init = true;
        self.sig = sig;
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn pick(&mut self, servers: &[Dest], _key: &ConnKey) -> Option<usize> {
        self.refresh(servers);
        if self.mw == 0 {
            return None;
        }
        let last = self.cl;
        let mut pos = self.cl;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        // The kernel's stop rules end the walk within two cw cycles; the
        // bound only guards against a slip in this translation.
        let mut budget = 2 * (self.mw / self.di + 2);
        loop {
            budget -= 1;
            if budget < 0 {
                self.cl = None;
                return None;
            }
            let start = pos.map_or(0, |p| p + 1);
            for (i, d) in servers.iter().enumerate().skip(start) {
                pos = Some(i);
                if !d.overloaded && d.weight_i64() >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = pos;
                    return None;
                }
            }
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // Stop after a full w >= 1 pass over every destination.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted {
                if let Some(l) = last {
                    stop = Some(l);
                }
            }
        }
    }
}
