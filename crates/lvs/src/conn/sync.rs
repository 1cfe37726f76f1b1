//! Connection synchronisation, pure: which connections a master sends and
//! how a backup applies what it receives, after the kernel's IPVS sync
//! daemon (net/netfilter/ipvs/ip_vs_sync.c: `ip_vs_sync_conn_needed` with
//! the default sysctls sync_threshold 3, sync_period 50, sync_refresh_period
//! 0; `ip_vs_proc_conn` on the backup). No wire format here: a
//! [`SyncRecord`] carries the fields the protocol carries, in its numbering
//! (TCP states as `IP_VS_TCP_S_*`), and the director's `sync` module turns
//! it into `wire::ipvs_sync` entries.
//!
//! - A connection is sent when its packet count reaches 3, then every 50
//!   packets; a TCP connection also when it enters FIN_WAIT, CLOSE,
//!   CLOSE_WAIT or TIME_WAIT, and only in those states or ESTABLISHED.
//! - The persistence template that controls a sent connection is sent with it.
//! - The backup binds each entry to the real server with the same address and
//!   port; an entry for a connection that now has another real server
//!   replaces it, unless it is marked inactive (an expiry message of the old
//!   one). Timeouts are the full timeout of the state, as the kernel sends.

use std::net::IpAddr;
use std::time::Duration;

use super::{Conn, ConnKey, ConnState, Service, Template};
use crate::conn::tcp_state::TcpState;
use crate::keepalived::{L4Proto, LbKind};

/// `sync_threshold`: the packet count of the first sync.
pub const SYNC_THRESHOLD: u32 = 3;
/// `sync_period`: then every this many packets.
pub const SYNC_PERIOD: u32 = 50;

/// One connection or persistence template as the sync protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    pub proto: L4Proto,
    pub client: IpAddr,
    /// 0 for a template.
    pub cport: u16,
    pub vaddr: IpAddr,
    pub vport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
    pub template: bool,
    /// `IP_VS_TCP_S_*` for TCP, 0 for UDP and templates.
    pub state: u16,
    pub no_output: bool,
    pub inactive: bool,
    /// Whole seconds; the receiver arms the entry for this long.
    pub timeout: Duration,
    pub method: LbKind,
}

/// What a backup did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Added,
    Updated,
    /// Another real server than the one we had: ours replaced.
    Replaced,
    /// An inactive record for a connection we already moved on: ignored.
    Stale,
    /// No real server of this service has that address and port.
    NoDest,
    /// Not this service, or a state number the protocol does not have.
    NotOurs,
}

/// `ip_vs_sync_conn_needed` for a connection after a packet (defaults).
pub(super) fn needed(c: &mut Conn) -> bool {
    let by_count = c.in_pkts % SYNC_PERIOD == SYNC_THRESHOLD % SYNC_PERIOD;
    let sync = match c.state {
        ConnState::Udp => by_count,
        ConnState::Tcp(s) => {
            use TcpState::*;
            if !matches!(s, Established | FinWait | Close | CloseWait | TimeWait) {
                return false;
            }
            let changed = c.synced_state != Some(c.state);
            (changed && s != Established) || by_count
        }
    };
    if sync {
        c.synced_state = Some(c.state);
    }
    sync
}

fn state_number(s: ConnState) -> u16 {
    match s {
        ConnState::Tcp(t) => t.number(),
        ConnState::Udp => 0,
    }
}

impl Service {
    fn record(&self, key: &ConnKey, c: &Conn) -> SyncRecord {
        let d = &self.dests[c.dest];
        SyncRecord {
            proto: key.proto,
            client: key.client,
            cport: key.cport,
            vaddr: key.vaddr,
            vport: key.vport,
            daddr: d.addr,
            dport: d.port,
            template: false,
            state: state_number(c.state),
            no_output: c.no_output,
            inactive: c.inactive,
            timeout: match c.state {
                ConnState::Tcp(t) => t.timeout(),
                ConnState::Udp => super::UDP_TIMEOUT,
            },
            method: self.kind,
        }
    }

    fn template_record(&self, proto: L4Proto, client: IpAddr, t: &Template) -> SyncRecord {
        let d = &self.dests[t.dest];
        SyncRecord {
            proto,
            client,
            cport: 0,
            vaddr: self.vaddr,
            vport: self.vport,
            daddr: d.addr,
            dport: d.port,
            template: true,
            state: 0,
            no_output: false,
            inactive: false,
            timeout: self.persistence.unwrap_or_default(),
            method: self.kind,
        }
    }

    /// The records a master sends now: each connection that needed a sync
    /// since the last call (still in the table), each followed by its
    /// persistence template.
    pub fn take_sync(&mut self) -> Vec<SyncRecord> {
        let keys = std::mem::take(&mut self.sync_pending);
        let mut out = Vec::new();
        for k in keys {
            let Some(c) = self.conns.get(&k) else {
                continue;
            };
            out.push(self.record(&k, c));
            if let Some(t) = self.templates.get(&(k.proto, k.client)) {
                out.push(self.template_record(k.proto, k.client, t));
            }
        }
        out
    }

    /// Every connection and template (a full refresh, e.g. for a new backup).
    pub fn sync_all(&self) -> Vec<SyncRecord> {
        let mut out: Vec<SyncRecord> = self.conns.iter().map(|(k, c)| self.record(k, c)).collect();
        out.extend(
            self.templates
                .iter()
                .map(|((p, a), t)| self.template_record(*p, *a, t)),
        );
        out
    }

    /// A backup applies one record received from the master at `now`.
    pub fn apply_sync(&mut self, now: Duration, r: &SyncRecord) -> Applied {
        if r.proto != self.proto || r.vaddr != self.vaddr || r.vport != self.vport {
            return Applied::NotOurs;
        }
        let Some(dest) = self
            .dests
            .iter()
            .position(|d| d.addr == r.daddr && d.port == r.dport)
        else {
            return Applied::NoDest;
        };
        let expires = now + r.timeout;
        if r.template {
            let tkey = (r.proto, r.client);
            let controlled = self
                .conns
                .iter()
                .filter(|(k, c)| k.client == r.client && k.proto == r.proto && c.dest == dest)
                .count() as u32;
            let had = self.templates.insert(
                tkey,
                Template {
                    dest,
                    expires,
                    controlled,
                },
            );
            return if had.is_some() {
                Applied::Updated
            } else {
                Applied::Added
            };
        }
        let state = match r.proto {
            L4Proto::Udp => ConnState::Udp,
            L4Proto::Tcp => match TcpState::from_number(r.state) {
                Some(s) => ConnState::Tcp(s),
                None => return Applied::NotOurs,
            },
        };
        let key = ConnKey {
            proto: r.proto,
            client: r.client,
            cport: r.cport,
            vaddr: r.vaddr,
            vport: r.vport,
        };
        let mut replaced = false;
        if let Some(c) = self.conns.get_mut(&key) {
            if c.dest == dest {
                // Same real server: state, timer and the active/inactive count.
                if c.inactive != r.inactive {
                    let d = &mut self.dests[dest];
                    if r.inactive {
                        d.active = d.active.saturating_sub(1);
                        d.inactive += 1;
                    } else {
                        d.inactive = d.inactive.saturating_sub(1);
                        d.active += 1;
                    }
                }
                c.state = state;
                c.inactive = r.inactive;
                c.no_output = r.no_output;
                c.expires = expires;
                return Applied::Updated;
            }
            if r.inactive {
                return Applied::Stale;
            }
            self.remove_conn(&key);
            replaced = true;
        }
        if r.inactive {
            self.dests[dest].inactive += 1;
        } else {
            self.dests[dest].active += 1;
        }
        if self.kind == LbKind::Nat {
            let d = &self.dests[dest];
            self.out_index
                .insert((r.proto, d.addr, d.port, r.client, r.cport), key);
        }
        if let Some(t) = self.templates.get_mut(&(r.proto, r.client)) {
            if t.dest == dest {
                t.controlled += 1;
            }
        }
        self.conns.insert(
            key,
            Conn {
                dest,
                state,
                expires,
                no_output: r.no_output,
                inactive: r.inactive,
                in_pkts: SYNC_THRESHOLD,
                synced_state: Some(state),
            },
        );
        if replaced {
            Applied::Replaced
        } else {
            Applied::Added
        }
    }

    /// Drop one connection with its counters, reply index and template count.
    fn remove_conn(&mut self, k: &ConnKey) {
        if let Some(c) = self.conns.remove(k) {
            if let Some(d) = self.dests.get_mut(c.dest) {
                if c.inactive {
                    d.inactive = d.inactive.saturating_sub(1);
                } else {
                    d.active = d.active.saturating_sub(1);
                }
                let oi = (k.proto, d.addr, d.port, k.client, k.cport);
                self.out_index.remove(&oi);
            }
            if let Some(t) = self.templates.get_mut(&(k.proto, k.client)) {
                t.controlled = t.controlled.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests;
