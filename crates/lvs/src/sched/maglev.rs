//! Maglev hashing (kernel ip_vs_mh.c; Eisenbud et al., NSDI 2016, §3.4).
//!
//! Each destination gets an offset and a skip from two keyed hashes of its
//! address and port; destinations take turns (weight / gcd, shifted down so
//! the largest fits in 6 bits) claiming their next free slot in a 4093-slot
//! table. A client maps to slot `hash(src) % 4093`.

use super::hash::hsiphash_u32;
use super::{addr_fold, signature, ConnKey, Dest, Scheduler};

/// Slots in the lookup table (primes[CONFIG_IP_VS_MH_TAB_INDEX - 8], index 12).
pub const MH_TABLE_SIZE: usize = 4093;
/// IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2.
const TAB_BITS: u32 = 6;
/// generate_hash_secret(): fixed keys, so tables agree across directors.
const HASH1: (u64, u64) = (2_654_435_761, 2_654_435_761);
const HASH2: (u64, u64) = (2_654_446_892, 2_654_446_892);

fn mh_hash(addr: std::net::IpAddr, port: u16, key: (u64, u64)) -> u32 {
    let v = addr_fold(addr).wrapping_add(port as u32);
    hsiphash_u32(v, key.0, key.1)
}

/// mh without the mh-port / mh-fallback flags.
#[derive(Debug, Clone, Default)]
pub struct Mh {
    lookup: Vec<Option<usize>>,
    sig: Option<Vec<(std::net::IpAddr, u16, u32, u32)>>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Kernel fls(): 1-based index of the highest set bit, 0 for 0.
fn fls(x: u64) -> u32 {
    64 - x.leading_zeros()
}

impl Mh {
    /// The slot a client maps to.
    pub fn slot(key: &ConnKey) -> usize {
        mh_hash(key.src, 0, HASH1) as usize % MH_TABLE_SIZE
    }

    /// The destination index of each slot (after the last pick's rebuild).
    pub fn table(&self) -> &[Option<usize>] {
        &self.lookup
    }

    /// ip_vs_mh_gcd_weight, ip_vs_mh_shift_weight, _permutate, _populate.
    fn refresh(&mut self, servers: &[Dest]) {
        let sig = signature(servers);
        if self.sig.as_ref() == Some(&sig) {
            return;
        }
        self.sig = Some(sig);
        if self.lookup.len() != MH_TABLE_SIZE {
            self.lookup = vec![None; MH_TABLE_SIZE];
        }
        if servers.len() > MH_TABLE_SIZE {
            // ip_vs_mh_reassign refuses (-EINVAL) and keeps the old table.
            return;
        }
        let g = servers
            .iter()
            .map(|d| d.last_weight as u64)
            .filter(|w| *w > 0)
            .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
        if g < 1 {
            self.lookup.iter_mut().for_each(|s| *s = None);
            return;
        }
        let mw = servers
            .iter()
            .map(|d| d.last_weight as u64)
            .max()
            .unwrap_or(0)
            / g;
        let rshift = fls(mw).saturating_sub(TAB_BITS);
        let n = MH_TABLE_SIZE as u64;
        let mut perm = Vec::with_capacity(servers.len());
        let mut skip = Vec::with_capacity(servers.len());
        let mut turns = Vec::with_capacity(servers.len());
        for d in servers {
            perm.push(mh_hash(d.addr, d.port, HASH1) as u64 % n);
            skip.push(mh_hash(d.addr, d.port, HASH2) as u64 % (n - 1) + 1);
            let lw = d.last_weight as u64;
            let t = (lw / g) >> rshift;
            turns.push(if t > 0 { t } else { u64::from(lw != 0) });
        }
        // Slots are only overwritten, never cleared first (as the kernel does);
        // every slot is refilled because n reaches the table size.
        let mut taken = vec![false; MH_TABLE_SIZE];
        let mut filled = 0usize;
        let mut dt_count = 0u64;
        'fill: loop {
            let mut i = 0;
            while i < servers.len() {
                if turns[i] < 1 {
                    i += 1;
                    continue;
                }
                let mut c = perm[i] as usize;
                while taken[c] {
                    perm[i] += skip[i];
                    if perm[i] >= n {
                        perm[i] -= n;
                    }
                    c = perm[i] as usize;
                }
                taken[c] = true;
                self.lookup[c] = Some(i);
                filled += 1;
                if filled == MH_TABLE_SIZE {
                    break 'fill;
                }
                dt_count += 1;
                if dt_count >= turns[i] {
                    dt_count = 0;
                    i += 1;
                }
            }
        }
    }
}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn pick(&mut self, servers: &[Dest], key: &ConnKey) -> Option<usize> {
        self.refresh(servers);
        let i = (*self.lookup.get(Self::slot(key))?)?;
        let d = servers.get(i)?;
        (d.weight > 0 && !d.overloaded).then_some(i)
    }
}
