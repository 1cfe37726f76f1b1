//! IPVS connection table, pure: packets and time in, the chosen real server out.
//!
//! - [`tcp_state`]: the kernel's TCP state tables and timeouts (incl. INPUT-ONLY).
//! - [`Service`]: one virtual server: its real servers, scheduler, connections
//!   and persistence templates. Counters `active`/`inactive` on each
//!   [`Dest`](crate::sched::Dest) follow the kernel (ip_vs_conn.c bind/unbind,
//!   ip_vs_proto_tcp.c set_tcp_state) so that lc/wlc/sed/nq see what IPVS sees.
//!
//! - [`sync`]: what the IPVS sync daemon sends and applies (the master's
//!   changed connections and templates out, the backup's warm table in).
//!
//! Time is a `Duration` since any fixed origin, given by the caller.

pub mod sync;
pub mod tcp_state;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::keepalived::{L4Proto, LbKind};
use crate::sched::{ConnKey as SchedKey, Dest, Scheduler};
pub use tcp_state::{next_state, Direction, TcpState, UDP_TIMEOUT};

/// Client side of a connection as the director sees it on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ConnKey {
    pub proto: L4Proto,
    pub client: IpAddr,
    pub cport: u16,
    pub vaddr: IpAddr,
    pub vport: u16,
}

/// Protocol state of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConnState {
    Tcp(TcpState),
    Udp,
}

/// One IPVS connection (`struct ip_vs_conn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conn {
    /// Index of the real server in the service's list.
    pub dest: usize,
    pub state: ConnState,
    pub expires: Duration,
    /// IP_VS_CONN_F_NOOUTPUT: no reply seen (always so for DR/TUN).
    pub no_output: bool,
    /// IP_VS_CONN_F_INACTIVE: counted in `inactive` rather than `active`.
    pub inactive: bool,
    /// Input packets seen (`in_pkts`), for the sync daemon's threshold.
    pub in_pkts: u32,
    /// The state last synced (`old_state`); `None` before the first sync.
    pub synced_state: Option<ConnState>,
}

/// Persistence template: client address -> real server (`IP_VS_CONN_F_TEMPLATE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub dest: usize,
    pub expires: Duration,
    /// Connections created through it (`n_control`); it lives while > 0.
    pub controlled: u32,
}

/// One packet as the connection table needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub proto: L4Proto,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send to this real server; `new` for the first packet of a connection.
    Forward {
        dest: usize,
        new: bool,
    },
    /// (NAT output) rewrite the source back to the virtual server.
    Reply {
        dest: usize,
    },
    Drop(DropReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DropReason {
    /// Not a connection and not a SYN (IPVS only schedules on SYN).
    NotSyn,
    /// Every real server quiesced or down.
    NoDest,
    /// Not for this service.
    NotOurs,
}

/// IPVS TCP_S_* name of a connection's state (UDP shows as `UDP`).
pub fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::Tcp(t) => t.name(),
        ConnState::Udp => "UDP",
    }
}

/// A virtual server with its real servers, scheduler and connection table.
#[derive(Debug)]
pub struct Service {
    pub vaddr: IpAddr,
    pub vport: u16,
    pub proto: L4Proto,
    pub kind: LbKind,
    pub persistence: Option<Duration>,
    pub dests: Vec<Dest>,
    /// Configured weights, restored when a server comes back up.
    pub config_weights: Vec<u32>,
    sched: Box<dyn Scheduler>,
    conns: HashMap<ConnKey, Conn>,
    /// (proto, client addr) -> template, for this service's (vaddr, vport).
    templates: HashMap<(L4Proto, IpAddr), Template>,
    /// NAT: (proto, rs addr, rs port, client addr, client port) -> input key.
    out_index: HashMap<(L4Proto, IpAddr, u16, IpAddr, u16), ConnKey>,
    /// Connections to send to the backups (only while `sync_master`).
    sync_pending: Vec<ConnKey>,
    /// Record connections for the sync daemon ([`sync`]).
    pub sync_master: bool,
}

impl Service {
    pub fn new(
        vaddr: IpAddr,
        vport: u16,
        proto: L4Proto,
        kind: LbKind,
        persistence: Option<Duration>,
        dests: Vec<Dest>,
        sched: Box<dyn Scheduler>,
    ) -> Service {
        let config_weights = dests.iter().map(|d| d.weight).collect();
        Service {
            vaddr,
            vport,
            proto,
            kind,
            persistence,
            dests,
            config_weights,
            sched,
            conns: HashMap::new(),
            templates: HashMap::new(),
            out_index: HashMap::new(),
            sync_pending: Vec::new(),
            sync_master: false,
        }
    }

    pub fn scheduler_name(&self) -> &'static str {
        self.sched.name()
    }

    /// Health: down sets weight 0 (quiesced), up restores the configured weight.
    pub fn set_up(&mut self, dest: usize, up: bool) {
        if let (Some(d), Some(w)) = (self.dests.get_mut(dest), self.config_weights.get(dest)) {
            d.set_weight(if up { *w } else { 0 });
        }
    }

    pub fn conns(&self) -> impl Iterator<Item = (&ConnKey, &Conn)> {
        self.conns.iter()
    }

    pub fn templates(&self) -> impl Iterator<Item = (&(L4Proto, IpAddr), &Template)> {
        self.templates.iter()
    }

    /// A packet towards the virtual server (client -> VIP:port).
    pub fn input(&mut self, now: Duration, p: &PacketMeta) -> Verdict {
        if p.proto != self.proto || p.dst != self.vaddr || p.dport != self.vport {
            return Verdict::Drop(DropReason::NotOurs);
        }
        let key = ConnKey {
            proto: p.proto,
            client: p.src,
            cport: p.sport,
            vaddr: p.dst,
            vport: p.dport,
        };
        if let Some(c) = self.conns.get_mut(&key) {
            let dest = c.dest;
            transition(c, &mut self.dests, Direction::Input, p.tcp_flags, now);
            c.in_pkts = c.in_pkts.wrapping_add(1);
            if self.sync_master && sync::needed(c) {
                self.sync_pending.push(key);
            }
            return Verdict::Forward { dest, new: false };
        }
        // ip_vs_proto_tcp.c tcp_conn_schedule: only a SYN (without RST) schedules.
        if p.proto == L4Proto::Tcp && (p.tcp_flags & 0x02 == 0 || p.tcp_flags & 0x04 != 0) {
            return Verdict::Drop(DropReason::NotSyn);
        }
        let Some(dest) = self.choose(now, &key) else {
            return Verdict::Drop(DropReason::NoDest);
        };
        let mut c = Conn {
            dest,
            state: match p.proto {
                L4Proto::Tcp => ConnState::Tcp(TcpState::None),
                L4Proto::Udp => ConnState::Udp,
            },
            expires: now,
            // ip_vs_ctl.c: every method but NAT sets NOOUTPUT on new conns.
            no_output: self.kind != LbKind::Nat,
            inactive: true,
            in_pkts: 1,
            synced_state: None,
        };
        // ip_vs_bind_dest: a new connection starts inactive.
        self.dests[dest].inactive += 1;
        transition(&mut c, &mut self.dests, Direction::Input, p.tcp_flags, now);
        if self.kind == LbKind::Nat {
            let d = &self.dests[dest];
            self.out_index
                .insert((p.proto, d.addr, d.port, p.src, p.sport), key);
        }
        if self.sync_master && sync::needed(&mut c) {
            self.sync_pending.push(key);
        }
        self.conns.insert(key, c);
        Verdict::Forward { dest, new: true }
    }

    /// A packet from a real server (NAT replies: RS -> client).
    pub fn output(&mut self, now: Duration, p: &PacketMeta) -> Verdict {
        let idx = (p.proto, p.src, p.sport, p.dst, p.dport);
        let Some(key) = self.out_index.get(&idx).copied() else {
            return Verdict::Drop(DropReason::NotOurs);
        };
        let Some(c) = self.conns.get_mut(&key) else {
            return Verdict::Drop(DropReason::NotOurs);
        };
        let dest = c.dest;
        transition(c, &mut self.dests, Direction::Output, p.tcp_flags, now);
        Verdict::Reply { dest }
    }

    /// Persistence template first (same client -> same server), then the scheduler.
    fn choose(&mut self, now: Duration, key: &ConnKey) -> Option<usize> {
        let tkey = (key.proto, key.client);
        if let Some(timeout) = self.persistence {
            if let Some(t) = self.templates.get_mut(&tkey) {
                // A template to a server that is down is not used (keepalived
                // takes failed servers out; the kernel then drops the template).
                if self.dests.get(t.dest).is_some_and(|d| d.weight > 0) {
                    t.expires = now + timeout;
                    t.controlled += 1;
                    return Some(t.dest);
                }
                self.templates.remove(&tkey);
            }
        }
        let skey = SchedKey {
            src: key.client,
            sport: key.cport,
            dst: key.vaddr,
            dport: key.vport,
        };
        let dest = self.sched.pick(&self.dests, &skey)?;
        if let Some(timeout) = self.persistence {
            self.templates.insert(
                tkey,
                Template {
                    dest,
                    expires: now + timeout,
                    controlled: 1,
                },
            );
        }
        Some(dest)
    }

    /// Remove expired connections and templates; returns how many connections went.
    pub fn expire(&mut self, now: Duration) -> usize {
        let dead: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &dead {
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
        // ip_vs_conn.c ip_vs_conn_expire: a template with controlled
        // connections is re-armed rather than freed.
        self.templates
            .retain(|_, t| t.expires > now || t.controlled > 0);
        dead.len()
    }

    pub fn conn(&self, key: &ConnKey) -> Option<&Conn> {
        self.conns.get(key)
    }
}

/// Apply a packet to a connection: state, counters, timeout.
fn transition(c: &mut Conn, dests: &mut [Dest], dir: Direction, flags: u8, now: Duration) {
    let timeout = match c.state {
        ConnState::Udp => UDP_TIMEOUT,
        ConnState::Tcp(s) => {
            let (next, no_output) = next_state(s, dir, flags, c.no_output);
            c.no_output = no_output;
            if next != s {
                if let Some(d) = dests.get_mut(c.dest) {
                    let est = next == TcpState::Established;
                    if !c.inactive && !est {
                        d.active = d.active.saturating_sub(1);
                        d.inactive += 1;
                        c.inactive = true;
                    } else if c.inactive && est {
                        d.inactive = d.inactive.saturating_sub(1);
                        d.active += 1;
                        c.inactive = false;
                    }
                }
            }
            c.state = ConnState::Tcp(next);
            next.timeout()
        }
    };
    c.expires = now + timeout;
}

#[cfg(test)]
mod tests;
