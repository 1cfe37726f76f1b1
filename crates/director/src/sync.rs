//! `lvs_sync_daemon`: the IPVS connection sync daemon on a UDP socket.
//!
//! While the configured VRRP instance is MASTER, the connections the table
//! marks for sync (`lvs::conn::sync`) go out as IPVS sync protocol v1
//! messages (`wire::ipvs_sync`) to the group (224.0.0.81:8848 by default)
//! with the configured TTL, from the interface's own address. Otherwise the
//! director is a backup: it reads the group and applies every entry whose
//! sync id matches (or any, with id 0) to its tables, so the data plane finds
//! the connections the moment VRRP makes it master.
//!
//! std's `UdpSocket` does all of it (multicast join, TTL, loop off), so this
//! module has no `unsafe`. The outgoing interface of the multicast is the one
//! that owns the bound source address (Linux picks it so when the socket has
//! no IP_MULTICAST_IF).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use lvs::conn::sync::{Applied, SyncRecord};
use lvs::conn::Service;
use lvs::keepalived::{L4Proto, LbKind, LvsSyncDaemon};
use wire::ipvs_sync::{self, flags, SyncConn, SyncMessage};

use crate::dataplane::Counters;

/// The IPv4 + UDP headers a message must leave room for in the MTU.
const IP_UDP_HEADERS: usize = 28;

/// A sync socket pair: one to send (master), one joined to the group (backup).
pub struct SyncDaemon {
    tx: UdpSocket,
    rx: UdpSocket,
    group: SocketAddrV4,
    syncid: u8,
    maxlen: usize,
    /// The VRRP instance whose state decides the role.
    pub instance: Option<String>,
    buf: Vec<u8>,
}

impl SyncDaemon {
    /// Open the sockets on `local` (the interface's own address).
    pub fn open(
        cfg: &LvsSyncDaemon,
        syncid: u8,
        local: Ipv4Addr,
        mtu: usize,
    ) -> io::Result<SyncDaemon> {
        let group = match cfg.group {
            Some(IpAddr::V4(g)) => g,
            Some(IpAddr::V6(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "an IPv6 sync group is not supported",
                ))
            }
            None => ipvs_sync::SYNC_GROUP,
        };
        let tx = UdpSocket::bind((local, 0))?;
        tx.set_multicast_ttl_v4(cfg.ttl.into())?;
        tx.set_multicast_loop_v4(false)?;
        let rx = UdpSocket::bind((group, cfg.port))?;
        rx.join_multicast_v4(&group, &local)?;
        rx.set_nonblocking(true)?;
        let maxlen = cfg
            .maxlen
            .map(usize::from)
            .unwrap_or(mtu.saturating_sub(IP_UDP_HEADERS))
            .max(ipvs_sync::HEADER_LEN + ipvs_sync::V6_ENTRY_LEN);
        Ok(SyncDaemon {
            tx,
            rx,
            group: SocketAddrV4::new(group, cfg.port),
            syncid,
            maxlen,
            instance: cfg.instance.clone(),
            buf: vec![0; 65536],
        })
    }

    pub fn rx_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }

    pub fn describe(&self) -> String {
        format!(
            "{} syncid {} maxlen {}",
            self.group, self.syncid, self.maxlen
        )
    }

    /// Tell the tables whether to record connections for sync: call with the
    /// role before the frames of a batch are processed.
    pub fn set_role(master: bool, svcs: &mut [Service]) {
        for s in svcs.iter_mut() {
            s.sync_master = master;
        }
    }

    /// One step of the daemon after a batch: as master, send what the tables
    /// recorded; as backup, apply what arrived.
    pub fn step(&mut self, now: Duration, master: bool, svcs: &mut [Service], c: &Counters) {
        let recs: Vec<SyncRecord> = svcs.iter_mut().flat_map(|s| s.take_sync()).collect();
        if master && !recs.is_empty() {
            self.send(&recs, c);
        }
        // Drain the socket in both roles; only a backup applies.
        while let Ok(n) = self.rx.recv(&mut self.buf) {
            if master {
                continue;
            }
            let Ok(m) = SyncMessage::parse(&self.buf[..n]) else {
                c.sync_rejected.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if self.syncid != 0 && m.syncid != self.syncid {
                c.sync_rejected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            for e in &m.conns {
                c.sync_received.fetch_add(1, Ordering::Relaxed);
                let Some(r) = from_wire(e) else {
                    continue;
                };
                if svcs.iter_mut().any(|s| {
                    !matches!(
                        s.apply_sync(now, &r),
                        Applied::NotOurs | Applied::NoDest | Applied::Stale
                    )
                }) {
                    c.sync_applied.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn send(&mut self, recs: &[SyncRecord], c: &Counters) {
        let conns: Vec<SyncConn> = recs.iter().filter_map(to_wire).collect();
        for m in ipvs_sync::pack(self.syncid, &conns, self.maxlen) {
            let Ok(bytes) = m.emit() else {
                continue;
            };
            match self.tx.send_to(&bytes, self.group) {
                Ok(_) => {
                    c.sync_sent
                        .fetch_add(m.conns.len() as u64, Ordering::Relaxed);
                }
                Err(e) => eprintln!("vipwire director: lvs_sync_daemon send: {e}"),
            }
        }
    }
}

fn method_flag(k: LbKind) -> u32 {
    match k {
        LbKind::Dr => flags::DROUTE,
        LbKind::Nat => flags::MASQ,
        LbKind::Tun => flags::TUNNEL,
    }
}

fn proto_number(p: L4Proto) -> u8 {
    match p {
        L4Proto::Tcp => wire::ipv4::PROTO_TCP,
        L4Proto::Udp => wire::ipv4::PROTO_UDP,
    }
}

/// A table record as a v1 entry, flags as the kernel sets them.
pub fn to_wire(r: &SyncRecord) -> Option<SyncConn> {
    let mut f = method_flag(r.method);
    if r.no_output {
        f |= flags::NOOUTPUT;
    }
    if r.inactive {
        f |= flags::INACTIVE;
    }
    if r.template {
        f |= flags::TEMPLATE;
    }
    if r.client.is_ipv4() != r.daddr.is_ipv4() || r.client.is_ipv4() != r.vaddr.is_ipv4() {
        return None;
    }
    Some(SyncConn {
        protocol: proto_number(r.proto),
        flags: f,
        state: r.state,
        cport: r.cport,
        vport: r.vport,
        dport: r.dport,
        fwmark: 0,
        timeout: r.timeout.as_secs().min(u32::MAX.into()) as u32,
        caddr: r.client,
        vaddr: r.vaddr,
        daddr: r.daddr,
        options: vec![],
    })
}

/// A received entry as a table record; `None` for protocols and forwarding
/// methods the director does not run (fwmark services, local node, bypass).
pub fn from_wire(c: &SyncConn) -> Option<SyncRecord> {
    let proto = match c.protocol {
        wire::ipv4::PROTO_TCP => L4Proto::Tcp,
        wire::ipv4::PROTO_UDP => L4Proto::Udp,
        _ => return None,
    };
    let method = match c.forward_method() {
        flags::DROUTE => LbKind::Dr,
        flags::MASQ => LbKind::Nat,
        flags::TUNNEL => LbKind::Tun,
        _ => return None,
    };
    let f = c.flags & flags::BACKUP_MASK;
    Some(SyncRecord {
        proto,
        client: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport,
        daddr: c.daddr,
        dport: c.dport,
        template: f & flags::TEMPLATE != 0,
        state: c.state,
        no_output: f & flags::NOOUTPUT != 0,
        inactive: f & flags::INACTIVE != 0,
        timeout: Duration::from_secs(c.timeout.into()),
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(template: bool) -> SyncRecord {
        SyncRecord {
            proto: L4Proto::Tcp,
            client: "192.0.2.100".parse().unwrap(),
            cport: if template { 0 } else { 40000 },
            vaddr: "198.51.100.241".parse().unwrap(),
            vport: 80,
            daddr: "198.51.100.8".parse().unwrap(),
            dport: 80,
            template,
            state: if template { 0 } else { 1 },
            no_output: !template,
            inactive: false,
            timeout: Duration::from_secs(if template { 300 } else { 900 }),
            method: LbKind::Dr,
        }
    }

    #[test]
    fn records_map_to_kernel_flags_and_back() {
        let c = to_wire(&rec(false)).unwrap();
        assert_eq!(c.flags, flags::DROUTE | flags::NOOUTPUT);
        assert_eq!((c.protocol, c.state, c.timeout), (6, 1, 900));
        assert_eq!(from_wire(&c).unwrap(), rec(false));
        let t = to_wire(&rec(true)).unwrap();
        assert_eq!(t.flags, flags::DROUTE | flags::TEMPLATE);
        assert_eq!(from_wire(&t).unwrap(), rec(true));
        // The same bytes a kernel master would send for it.
        let b = SyncMessage {
            syncid: 51,
            conns: vec![c.clone()],
        }
        .emit()
        .unwrap();
        assert_eq!(&b[..8], &[0, 51, 0, 44, 1, 1, 0, 0]);
        assert_eq!(&b[12..16], &[0, 0, 0, 0x83]);
        // Flags a backup does not keep are masked; LOCALNODE is not run here.
        let mut k = c.clone();
        k.flags |= flags::HASHED | flags::SYNC;
        assert_eq!(from_wire(&k).unwrap(), rec(false));
        k.flags = flags::LOCALNODE;
        assert!(from_wire(&k).is_none());
        k.flags = flags::DROUTE;
        k.protocol = 132;
        assert!(from_wire(&k).is_none());
    }
}
