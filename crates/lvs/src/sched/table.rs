//! Source hashing (kernel ip_vs_sh.c) and destination hashing (ip_vs_dh.c):
//! 256 buckets filled round the destination list, looked up by address hash.

use super::{addr_fold, signature, ConnKey, Dest, HashFlavor, Scheduler};

/// Buckets in the sh and dh tables (CONFIG_IP_VS_SH_TAB_BITS = 8).
pub const HASH_TABLE_SIZE: usize = 256;

/// Bucket -> destination index, rebuilt when the list changes.
#[derive(Debug, Clone, Default)]
struct Table {
    buckets: Vec<Option<usize>>,
    sig: Option<Vec<(std::net::IpAddr, u16, u32, u32)>>,
}

impl Table {
    /// Fill buckets cyclically over the list; with `weighted`, a destination
    /// takes `weight` consecutive buckets (at least one, even at weight 0).
    fn refresh(&mut self, servers: &[Dest], weighted: bool) {
        let sig = signature(servers);
        if self.sig.as_ref() == Some(&sig) {
            return;
        }
        self.buckets = vec![None; HASH_TABLE_SIZE];
        if !servers.is_empty() {
            let (mut p, mut count) = (0usize, 0u64);
            for b in self.buckets.iter_mut() {
                *b = Some(p);
                count += 1;
                if !weighted || count >= servers[p].weight as u64 {
                    p = (p + 1) % servers.len();
                    count = 0;
                }
            }
        }
        self.sig = Some(sig);
    }

    /// The bucket's destination if it can take a new connection.
    fn get(&self, servers: &[Dest], bucket: usize) -> Option<usize> {
        let i = (*self.buckets.get(bucket)?)?;
        let d = servers.get(i)?;
        (d.weight > 0 && !d.overloaded).then_some(i)
    }
}

/// sh: hash of the client (source) address. No sh-port / sh-fallback flags.
#[derive(Debug, Clone)]
pub struct Sh {
    flavor: HashFlavor,
    table: Table,
}

impl Sh {
    pub fn new(flavor: HashFlavor) -> Sh {
        Sh {
            flavor,
            table: Table::default(),
        }
    }

    /// The bucket a client address maps to.
    pub fn bucket(&self, key: &ConnKey) -> usize {
        self.flavor.bucket(addr_fold(key.src))
    }
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn pick(&mut self, servers: &[Dest], key: &ConnKey) -> Option<usize> {
        self.table.refresh(servers, true);
        self.table.get(servers, self.bucket(key))
    }
}

/// dh: hash of the destination address; one bucket per destination in turn.
#[derive(Debug, Clone)]
pub struct Dh {
    flavor: HashFlavor,
    table: Table,
}

impl Dh {
    pub fn new(flavor: HashFlavor) -> Dh {
        Dh {
            flavor,
            table: Table::default(),
        }
    }

    pub fn bucket(&self, key: &ConnKey) -> usize {
        self.flavor.bucket(addr_fold(key.dst))
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn pick(&mut self, servers: &[Dest], key: &ConnKey) -> Option<usize> {
        self.table.refresh(servers, false);
        self.table.get(servers, self.bucket(key))
    }
}
