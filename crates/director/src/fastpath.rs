//! The DR fast path's user-space half (`--io xdp-fast`), as Katran splits it:
//! the XDP program (`afxdp::classifier_program` with the fast path in front)
//! forwards the frames of established DR connections by itself, rewriting the
//! MACs from a connection map; user space (the AF_XDP / TPACKET_V3 slow path)
//! schedules new connections, sees every SYN, FIN and RST, runs the health
//! checks and VRRP, and maintains the map:
//!
//! - [`FastPath::learn`]: after the slow path forwarded a frame of a DR
//!   connection that is ESTABLISHED (TCP) or any UDP connection, the
//!   connection's 5-tuple goes into the map with the MACs of the frame the
//!   slow path sent (real server's MAC, director's MAC).
//! - [`FastPath::refresh`] (once a second): the packets the program forwarded
//!   re-arm the connection in the table as one input packet would (IPVS
//!   re-arms the timer on every packet); an entry whose connection has left
//!   the table, has left ESTABLISHED, points to another real server now, or
//!   whose real server's MAC has changed is removed, so its next frames take
//!   the slow path again.
//! - [`FastPath::set_forwarding`]: the VRRP gate; off, the program passes
//!   every frame to the slow path (which drops them while not master).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lvs::conn::{ConnKey, ConnState, PacketMeta, Service, TcpState};
use lvs::keepalived::{L4Proto, LbKind};
use wire::ethernet::MacAddr;

use crate::afxdp::fast_layout as l;
use crate::sys::xdp::BpfMap;

const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// Default size of the connection map.
pub const DEFAULT_MAX_ENTRIES: u32 = 65536;
const TCP_ACK: u8 = 0x10;

/// The connection-map key of an untagged IPv4 (IHL 5, first fragment)
/// TCP/UDP frame, as the XDP program builds it; with the connection's key
/// in the table.
pub fn frame_key(frame: &[u8]) -> Option<([u8; l::KEY_LEN], ConnKey)> {
    if frame.len() < 38 || frame[12..14] != [0x08, 0x00] || frame[14] != 0x45 {
        return None;
    }
    if u16::from_be_bytes([frame[20], frame[21]]) & 0x1fff != 0 {
        return None;
    }
    let proto = match frame[23] {
        wire::ipv4::PROTO_TCP => L4Proto::Tcp,
        wire::ipv4::PROTO_UDP => L4Proto::Udp,
        _ => return None,
    };
    let mut k = [0u8; l::KEY_LEN];
    k[0..12].copy_from_slice(&frame[26..38]);
    k[12] = frame[23];
    let ip = |o: usize| {
        IpAddr::V4(Ipv4Addr::new(
            frame[o],
            frame[o + 1],
            frame[o + 2],
            frame[o + 3],
        ))
    };
    let port = |o: usize| u16::from_be_bytes([frame[o], frame[o + 1]]);
    Some((
        k,
        ConnKey {
            proto,
            client: ip(26),
            cport: port(34),
            vaddr: ip(30),
            vport: port(36),
        },
    ))
}

/// A map value: the two MACs, the egress ifindex (0: XDP_TX), packets 0.
pub fn value(dst: MacAddr, src: MacAddr, egress_ifindex: u32) -> [u8; l::VALUE_LEN] {
    let mut v = [0u8; l::VALUE_LEN];
    v[l::V_DST_MAC..l::V_DST_MAC + 6].copy_from_slice(&dst.0);
    v[l::V_SRC_MAC..l::V_SRC_MAC + 6].copy_from_slice(&src.0);
    v[l::V_IFINDEX..l::V_IFINDEX + 4].copy_from_slice(&egress_ifindex.to_ne_bytes());
    v
}

fn packets(v: &[u8; l::VALUE_LEN]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[l::V_PACKETS..l::V_PACKETS + 8]);
    u64::from_ne_bytes(b)
}

struct Entry {
    svc: usize,
    key: ConnKey,
    rs: IpAddr,
    dst_mac: MacAddr,
    /// The entry's packet counter when last read.
    seen: u64,
}

/// What one [`FastPath::refresh`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Packets the program forwarded since the last refresh.
    pub packets: u64,
    /// Entries removed (connection gone, closing, moved, or MAC changed).
    pub removed: u64,
}

/// The maps the fast path shares with its XDP program, and what user space
/// put in them.
pub struct FastPath {
    conns: BpfMap,
    ctl: BpfMap,
    my_mac: MacAddr,
    on: Option<bool>,
    entries: HashMap<[u8; l::KEY_LEN], Entry>,
    /// Inserts the kernel refused (map full).
    pub full: u64,
}

impl FastPath {
    /// Create the maps: connections (hash, `max_entries`) and control, with
    /// forwarding off and `my_mac` as the MAC frames must be addressed to.
    pub fn new(max_entries: u32, my_mac: MacAddr) -> io::Result<FastPath> {
        let conns = BpfMap::create(
            crate::afxdp::BPF_MAP_TYPE_HASH,
            l::KEY_LEN as u32,
            l::VALUE_LEN as u32,
            max_entries,
        )?;
        let ctl = BpfMap::create(BPF_MAP_TYPE_ARRAY, 4, l::CTL_LEN as u32, 1)?;
        let mut f = FastPath {
            conns,
            ctl,
            my_mac,
            on: None,
            entries: HashMap::new(),
            full: 0,
        };
        f.set_forwarding(false)?;
        Ok(f)
    }

    /// (connection map fd, control map fd), for the program.
    pub fn fds(&self) -> (i32, i32) {
        (self.conns.fd(), self.ctl.fd())
    }

    /// The VRRP gate: the program forwards only while on.
    pub fn set_forwarding(&mut self, on: bool) -> io::Result<()> {
        if self.on == Some(on) {
            return Ok(());
        }
        let mut v = [0u8; l::CTL_LEN];
        v[l::C_ON..l::C_ON + 4].copy_from_slice(&u32::from(on).to_ne_bytes());
        v[l::C_MAC..l::C_MAC + 6].copy_from_slice(&self.my_mac.0);
        self.ctl.update(&0u32.to_ne_bytes(), &v)?;
        self.on = Some(on);
        Ok(())
    }

    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// After the slow path sent `out` for the received `frame`: put the
    /// connection into the map if it is a DR connection in ESTABLISHED (or
    /// UDP) and not there yet. `egress_ifindex` 0 sends by XDP_TX. Returns
    /// whether an entry was added.
    pub fn learn(
        &mut self,
        frame: &[u8],
        out: &[u8],
        services: &[Service],
        egress_ifindex: u32,
    ) -> bool {
        let Some((k, key)) = frame_key(frame) else {
            return false;
        };
        if self.entries.contains_key(&k) || out.len() < 12 {
            return false;
        }
        let Some(si) = services.iter().position(|s| {
            s.kind == LbKind::Dr
                && s.proto == key.proto
                && s.vaddr == key.vaddr
                && s.vport == key.vport
        }) else {
            return false;
        };
        let Some(c) = services[si].conn(&key) else {
            return false;
        };
        if !forwardable(c.state) {
            return false;
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&out[0..6]);
        src.copy_from_slice(&out[6..12]);
        if self
            .conns
            .update(&k, &value(MacAddr(dst), MacAddr(src), egress_ifindex))
            .is_err()
        {
            self.full += 1;
            return false;
        }
        self.entries.insert(
            k,
            Entry {
                svc: si,
                key,
                rs: services[si].dests[c.dest].addr,
                dst_mac: MacAddr(dst),
                seen: 0,
            },
        );
        true
    }

    /// Read the packet counters: connections the program forwarded for are
    /// re-armed in the table (as by one input packet: an ACK for TCP);
    /// entries that must go back to the slow path are removed. `mac_of`
    /// gives the current MAC of a real server.
    pub fn refresh(
        &mut self,
        now: Duration,
        services: &mut [Service],
        mac_of: impl Fn(IpAddr) -> Option<MacAddr>,
    ) -> Refresh {
        let mut r = Refresh::default();
        let mut gone = Vec::new();
        for (k, e) in self.entries.iter_mut() {
            let mut v = [0u8; l::VALUE_LEN];
            if !self.conns.lookup(k, &mut v).unwrap_or(false) {
                gone.push(*k);
                continue;
            }
            let p = packets(&v);
            let Some(svc) = services.get_mut(e.svc) else {
                gone.push(*k);
                continue;
            };
            // (A UDP input without a connection would schedule a new one.)
            if p != e.seen && svc.conn(&e.key).is_some() {
                r.packets += p.wrapping_sub(e.seen);
                e.seen = p;
                let meta = PacketMeta {
                    proto: e.key.proto,
                    src: e.key.client,
                    sport: e.key.cport,
                    dst: e.key.vaddr,
                    dport: e.key.vport,
                    tcp_flags: if e.key.proto == L4Proto::Tcp {
                        TCP_ACK
                    } else {
                        0
                    },
                };
                let _ = svc.input(now, &meta);
            }
            let keep = svc.conn(&e.key).is_some_and(|c| {
                forwardable(c.state)
                    && svc.dests.get(c.dest).is_some_and(|d| d.addr == e.rs)
                    && c.expires > now
            }) && mac_of(e.rs) == Some(e.dst_mac);
            if !keep {
                gone.push(*k);
            }
        }
        for k in gone {
            let _ = self.conns.delete(&k);
            if self.entries.remove(&k).is_some() {
                r.removed += 1;
            }
        }
        r
    }

    /// Remove every entry (the map and our view of it).
    pub fn clear(&mut self) -> io::Result<()> {
        for k in self.conns.keys()? {
            self.conns.delete(&k)?;
        }
        self.entries.clear();
        Ok(())
    }

    /// The packet counter of the entry for `frame`'s connection, if any (tests).
    pub fn entry_packets(&self, frame: &[u8]) -> Option<u64> {
        let (k, _) = frame_key(frame)?;
        let mut v = [0u8; l::VALUE_LEN];
        self.conns
            .lookup(&k, &mut v)
            .ok()
            .filter(|f| *f)
            .map(|_| packets(&v))
    }
}

/// States whose frames the program may forward: TCP ESTABLISHED, UDP.
fn forwardable(s: ConnState) -> bool {
    matches!(s, ConnState::Tcp(TcpState::Established) | ConnState::Udp)
}

#[cfg(test)]
mod tests;
