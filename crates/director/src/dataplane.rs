//! The forwarding decision for one frame: find the virtual server, ask the
//! connection table, and build the outgoing frame for the method:
//! DR (new destination MAC only), NAT (destination address/port rewritten with
//! incremental checksums, replies rewritten back to the VIP) or TUN (IPIP).
//! IPv4 and IPv6 (no extension headers) for DR and NAT; TUN is IPv4 only.
//! No I/O here: the caller passes the received frame and a TX buffer.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lvs::conn::{DropReason, PacketMeta, Service, Verdict};
use lvs::keepalived::{L4Proto, LbKind};
use wire::ethernet::{self, EthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use wire::ipv4::{self, Ipv4Repr, NatSide, PROTO_TCP, PROTO_UDP};
use wire::ipv6::{Ipv6Repr, ETHERTYPE_IPV6};

use crate::netif::Neighbours;

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Not for us (other traffic, ARP learnt, not a service).
    Ignore,
    /// For a service, but dropped.
    Drop(DropWhy),
    /// `n` bytes of the TX buffer are to be sent.
    Send(usize),
    /// The next hop's MAC is unknown: ARP (IPv4) or solicit (IPv6) for it
    /// (the packet is dropped; TCP retransmits).
    NeedArp(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropWhy {
    NotMaster,
    Table(DropReason),
    Malformed,
    TooBig,
}

/// Counters the status shows.
#[derive(Debug, Default)]
pub struct Counters {
    pub rx: AtomicU64,
    pub forwarded: AtomicU64,
    pub nat_replies: AtomicU64,
    pub dropped_not_master: AtomicU64,
    pub dropped_not_syn: AtomicU64,
    pub dropped_no_dest: AtomicU64,
    pub dropped_other: AtomicU64,
    pub arp_wait: AtomicU64,
    pub tx_ring_full: AtomicU64,
    /// Frames larger than the MTU (GRO/GSO) cut into segments before forwarding.
    pub gso_segmented: AtomicU64,
    /// lvs_sync_daemon: entries sent (master), received and applied (backup),
    /// messages rejected (malformed or another sync id).
    pub sync_sent: AtomicU64,
    pub sync_received: AtomicU64,
    pub sync_applied: AtomicU64,
    pub sync_rejected: AtomicU64,
    /// `--io xdp-fast`: packets the XDP program forwarded by itself (read
    /// from its connection map once a second), connections put into and
    /// taken out of the map, and how many are in it now.
    pub xdp_fast_packets: AtomicU64,
    pub xdp_fast_learned: AtomicU64,
    pub xdp_fast_removed: AtomicU64,
    pub xdp_fast_entries: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("rx", g(&self.rx)),
            ("forwarded", g(&self.forwarded)),
            ("nat_replies", g(&self.nat_replies)),
            ("dropped_not_master", g(&self.dropped_not_master)),
            ("dropped_not_syn", g(&self.dropped_not_syn)),
            ("dropped_no_dest", g(&self.dropped_no_dest)),
            ("dropped_other", g(&self.dropped_other)),
            ("arp_wait", g(&self.arp_wait)),
            ("tx_ring_full", g(&self.tx_ring_full)),
            ("gso_segmented", g(&self.gso_segmented)),
            ("sync_sent", g(&self.sync_sent)),
            ("sync_received", g(&self.sync_received)),
            ("sync_applied", g(&self.sync_applied)),
            ("sync_rejected", g(&self.sync_rejected)),
            ("xdp_fast_packets", g(&self.xdp_fast_packets)),
            ("xdp_fast_learned", g(&self.xdp_fast_learned)),
            ("xdp_fast_removed", g(&self.xdp_fast_removed)),
            ("xdp_fast_entries", g(&self.xdp_fast_entries)),
        ]
    }

    pub fn count(&self, a: &Action) {
        let c = match a {
            Action::Ignore => return,
            Action::Send(_) => &self.forwarded,
            Action::NeedArp(_) => &self.arp_wait,
            Action::Drop(DropWhy::NotMaster) => &self.dropped_not_master,
            Action::Drop(DropWhy::Table(DropReason::NotSyn)) => &self.dropped_not_syn,
            Action::Drop(DropWhy::Table(DropReason::NoDest)) => &self.dropped_no_dest,
            Action::Drop(_) => &self.dropped_other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Per-frame forwarding state (the part that is not the services).
#[derive(Debug)]
pub struct Forwarder {
    pub neigh: Neighbours,
    /// Outer source address for TUN.
    pub tun_src: Ipv4Addr,
    ident: u16,
}

/// The fields of an IPv4 or IPv6 TCP/UDP frame the decision needs.
struct Parsed {
    /// The received L2 header (its VLAN tags are kept on the way out).
    l2: EthernetRepr,
    /// Offset of the IP header: after the Ethernet header and its tags.
    l3: usize,
    /// IP packet length (IPv6: 40 + payload length).
    total: usize,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: u8,
}

fn parse(frame: &[u8]) -> Option<(EthernetRepr, Option<Parsed>)> {
    let (eth, l3) = EthernetRepr::parse(frame).ok()?;
    let p = match eth.ethertype {
        ETHERTYPE_IPV6 => parse_ipv6(frame, eth, l3),
        _ => parse_ipv4(frame, eth, l3),
    };
    Some((eth, p))
}

/// The IPv6 TCP/UDP fields of a frame whose L2 header `eth` ends at `l3`;
/// a packet with extension headers is not a service packet here.
fn parse_ipv6(frame: &[u8], eth: EthernetRepr, l3: usize) -> Option<Parsed> {
    let (ip, l4) = Ipv6Repr::parse(frame.get(l3..)?).ok()?;
    if ip.next_header != PROTO_TCP && ip.next_header != PROTO_UDP {
        return None;
    }
    let need = if ip.next_header == PROTO_TCP { 14 } else { 8 };
    if l4.len() < need {
        return None;
    }
    Some(Parsed {
        l2: eth,
        l3,
        total: wire::ipv6::HEADER_LEN + ip.payload_len,
        proto: ip.next_header,
        src: IpAddr::V6(ip.src),
        dst: IpAddr::V6(ip.dst),
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        flags: if ip.next_header == PROTO_TCP {
            wire::tcp::flags(l4)
        } else {
            0
        },
    })
}

/// The IPv4 TCP/UDP fields (first fragment only) of a frame whose L2 header
/// `eth` ends at `l3`.
fn parse_ipv4(frame: &[u8], eth: EthernetRepr, l3: usize) -> Option<Parsed> {
    if eth.ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let (ip, info) = Ipv4Repr::parse(frame.get(l3..)?).ok()?;
    if ip.frag_offset != 0 || (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) {
        return None;
    }
    let l4 = frame.get(l3 + info.header_len..l3 + info.total_len)?;
    let need = if ip.protocol == PROTO_TCP { 14 } else { 8 };
    if l4.len() < need {
        return None;
    }
    Some(Parsed {
        l2: eth,
        l3,
        total: info.total_len,
        proto: ip.protocol,
        src: IpAddr::V4(ip.src),
        dst: IpAddr::V4(ip.dst),
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        flags: if ip.protocol == PROTO_TCP {
            wire::tcp::flags(l4)
        } else {
            0
        },
    })
}

/// The IPv4 packet a frame carries, behind its Ethernet header and any
/// 802.1Q / 802.1ad tags; `None` for other ethertypes and for a packet too
/// short for an IPv4 header or of another IP version.
pub fn ipv4_packet(frame: &[u8]) -> Option<&[u8]> {
    let (eth, l3) = EthernetRepr::parse(frame).ok()?;
    let ip = frame.get(l3..)?;
    (eth.ethertype == ETHERTYPE_IPV4 && ip.len() >= ipv4::MIN_HEADER_LEN && ip[0] >> 4 == 4)
        .then_some(ip)
}

/// The source address of the IPv4 or IPv6 packet a frame carries (behind
/// its Ethernet header and tags).
pub fn ip_source(frame: &[u8]) -> Option<IpAddr> {
    if let Some(ip) = ipv4_packet(frame) {
        return Some(IpAddr::V4(ipv4::src(ip)));
    }
    let (eth, l3) = EthernetRepr::parse(frame).ok()?;
    if eth.ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    Ipv6Repr::parse(frame.get(l3..)?)
        .ok()
        .map(|(ip, _)| IpAddr::V6(ip.src))
}

impl Forwarder {
    pub fn new(neigh: Neighbours, tun_src: Ipv4Addr) -> Forwarder {
        Forwarder {
            neigh,
            tun_src,
            ident: 1,
        }
    }

    /// Decide for one received frame; on `Send(n)` the first `n` bytes of
    /// `out` hold the frame to transmit. `csum_partial`: the frame came with
    /// a partial L4 checksum (TP_STATUS_CSUMNOTREADY) that must be completed
    /// before it leaves. `master`: VRRP says this director owns the VIPs.
    pub fn process(
        &mut self,
        now: Duration,
        frame: &[u8],
        csum_partial: bool,
        master: bool,
        services: &mut [Service],
        out: &mut [u8],
    ) -> Action {
        let Some((eth, p)) = parse(frame) else {
            return Action::Ignore;
        };
        if eth.ethertype == ETHERTYPE_ARP {
            self.neigh.learn(frame);
            return Action::Ignore;
        }
        let Some(p) = p else {
            if eth.ethertype == ETHERTYPE_IPV6 {
                // Neighbour advertisements (and solicitations) teach MACs.
                self.neigh.learn(frame);
            }
            return Action::Ignore;
        };
        if eth.dst != self.neigh.my_mac {
            return Action::Ignore;
        }
        let l4p = if p.proto == PROTO_TCP {
            L4Proto::Tcp
        } else {
            L4Proto::Udp
        };
        let meta = PacketMeta {
            proto: l4p,
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            tcp_flags: p.flags,
        };
        // Input: client -> VIP:port.
        if let Some(svc) = services
            .iter_mut()
            .find(|s| s.proto == l4p && s.vaddr == p.dst && s.vport == p.dport)
        {
            if !master {
                return Action::Drop(DropWhy::NotMaster);
            }
            return match svc.input(now, &meta) {
                Verdict::Forward { dest, .. } => {
                    let d = &svc.dests[dest];
                    let (rs, port) = (d.addr, d.port);
                    // DR and NAT keep the family; TUN is IPv4 in IPv4 only.
                    if rs.is_ipv6() != p.dst.is_ipv6() {
                        return Action::Drop(DropWhy::Malformed);
                    }
                    self.forward_to_rs(svc.kind, frame, &p, csum_partial, rs, port, out)
                }
                Verdict::Drop(r) => Action::Drop(DropWhy::Table(r)),
                Verdict::Reply { .. } => Action::Drop(DropWhy::Malformed),
            };
        }
        // Output (NAT only): real server -> client.
        for svc in services
            .iter_mut()
            .filter(|s| s.kind == LbKind::Nat && s.proto == l4p)
        {
            if !svc
                .dests
                .iter()
                .any(|d| d.addr == p.src && d.port == p.sport)
            {
                continue;
            }
            if !master {
                return Action::Drop(DropWhy::NotMaster);
            }
            if let Verdict::Reply { .. } = svc.output(now, &meta) {
                if svc.vaddr.is_ipv6() != p.src.is_ipv6() {
                    return Action::Drop(DropWhy::Malformed);
                }
                return self.nat_reply(frame, &p, csum_partial, svc.vaddr, svc.vport, out);
            }
        }
        Action::Ignore
    }

    fn copy_in(frame: &[u8], p: &Parsed, csum_partial: bool, out: &mut [u8]) -> Option<usize> {
        let n = p.l3 + p.total;
        if n > out.len() {
            return None;
        }
        out[..n].copy_from_slice(&frame[..n]);
        if csum_partial {
            match p.dst {
                IpAddr::V4(_) => ipv4::fill_l4_checksum(&mut out[p.l3..n]).ok()?,
                IpAddr::V6(_) => wire::ipv6::fill_l4_checksum(&mut out[p.l3..n]).ok()?,
            }
        }
        Some(n)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_to_rs(
        &mut self,
        kind: LbKind,
        frame: &[u8],
        p: &Parsed,
        csum_partial: bool,
        rs: IpAddr,
        port: u16,
        out: &mut [u8],
    ) -> Action {
        let Some(mac) = self.neigh.lookup(rs) else {
            return Action::NeedArp(rs);
        };
        let my = self.neigh.my_mac;
        match kind {
            LbKind::Dr => {
                let Some(n) = Self::copy_in(frame, p, csum_partial, out) else {
                    return Action::Drop(DropWhy::TooBig);
                };
                ethernet::set_dst(out, mac);
                ethernet::set_src(out, my);
                Action::Send(n)
            }
            LbKind::Nat => {
                let Some(n) = Self::copy_in(frame, p, csum_partial, out) else {
                    return Action::Drop(DropWhy::TooBig);
                };
                if nat_rewrite(&mut out[p.l3..n], NatSide::Dst, rs, port).is_err() {
                    return Action::Drop(DropWhy::Malformed);
                }
                ethernet::set_dst(out, mac);
                ethernet::set_src(out, my);
                Action::Send(n)
            }
            LbKind::Tun => {
                // build_services refuses IPv6 TUN services (no ip6ip6 here).
                let IpAddr::V4(rs) = rs else {
                    return Action::Drop(DropWhy::Malformed);
                };
                // The received L2 header with new MACs (its VLAN tags kept, as
                // DR and NAT keep them), a 20-byte IPIP header, the packet.
                let eth = EthernetRepr {
                    dst: mac,
                    src: my,
                    ethertype: ETHERTYPE_IPV4,
                    ..p.l2
                };
                let inner_at = eth.header_len() + ipv4::MIN_HEADER_LEN;
                let n = inner_at + p.total;
                if n > out.len() {
                    return Action::Drop(DropWhy::TooBig);
                }
                let inner = &frame[p.l3..p.l3 + p.total];
                let Ok(hl) = eth.emit(out) else {
                    return Action::Drop(DropWhy::Malformed);
                };
                // The outer header takes the inner one's TOS, TTL and DF bit.
                if ipv4::encapsulate_ipip(self.tun_src, rs, self.ident, inner, &mut out[hl..])
                    .is_err()
                {
                    return Action::Drop(DropWhy::Malformed);
                }
                self.ident = self.ident.wrapping_add(1);
                if csum_partial && ipv4::fill_l4_checksum(&mut out[inner_at..n]).is_err() {
                    return Action::Drop(DropWhy::Malformed);
                }
                Action::Send(n)
            }
        }
    }

    fn nat_reply(
        &mut self,
        frame: &[u8],
        p: &Parsed,
        csum_partial: bool,
        vip: IpAddr,
        vport: u16,
        out: &mut [u8],
    ) -> Action {
        let Some(mac) = self.neigh.lookup(p.dst) else {
            return Action::NeedArp(p.dst);
        };
        let Some(n) = Self::copy_in(frame, p, csum_partial, out) else {
            return Action::Drop(DropWhy::TooBig);
        };
        if nat_rewrite(&mut out[p.l3..n], NatSide::Src, vip, vport).is_err() {
            return Action::Drop(DropWhy::Malformed);
        }
        ethernet::set_dst(out, mac);
        ethernet::set_src(out, self.neigh.my_mac);
        Action::Send(n)
    }
}

/// NAT of an IP packet (`pkt` starts at its IP header) by the address's family.
fn nat_rewrite(pkt: &mut [u8], side: NatSide, addr: IpAddr, port: u16) -> Result<(), ()> {
    match addr {
        IpAddr::V4(a) => ipv4::nat_rewrite(pkt, side, a, port).map_err(drop),
        IpAddr::V6(a) => wire::ipv6::nat_rewrite(pkt, side, a, port).map_err(drop),
    }
}

/// Frames to feed to [`Forwarder::process`] for one received frame: the frame
/// itself, or, when it is an IPv4 or IPv6 TCP packet longer than `mtu` (a GRO/GSO
/// super-packet, which cannot leave through a TX ring), its segments with the
/// same L2 header and complete checksums. `None`: nothing to split.
pub fn split_oversized(frame: &[u8], mtu: usize) -> Option<Vec<Vec<u8>>> {
    let (eth, l3) = EthernetRepr::parse(frame).ok()?;
    if frame.len() <= l3 + mtu {
        return None;
    }
    let ip = &frame[l3..];
    let segs = match eth.ethertype {
        ETHERTYPE_IPV4 if ip.len() >= 20 && ipv4::protocol(ip) == PROTO_TCP => {
            wire::tcp::segment_ipv4(ip, mtu).ok()?
        }
        ETHERTYPE_IPV6 => wire::ipv6::segment_tcp(ip, mtu).ok()?,
        _ => return None,
    };
    Some(
        segs.into_iter()
            .map(|s| {
                let mut f = frame[..l3].to_vec();
                f.extend_from_slice(&s);
                f
            })
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests;
