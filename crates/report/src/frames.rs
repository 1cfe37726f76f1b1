//! The check's packets as the Ethernet frames a capture on the sender's tap
//! would show: headers from the packet summary, checksums computed, payload
//! bytes zero. Built with the `wire` crate's emitters where it has them (Ethernet,
//! IPv4, IPv6, ARP, ND, VRRP); TCP, UDP and ICMP are written here for both
//! families with their pseudo-header checksums.
//!
//! MAC addresses: the packet's own when the check set them (DR forwarding
//! rewrites only the destination MAC), else the sending and receiving ports'
//! MACs; multicast groups map to their group MAC; broadcasts go to
//! ff:ff:ff:ff:ff:ff. VRRP adverts carry the sending director's instance
//! (VRID, priority, VIPs, interval): version 2 over IPv4, 3 over IPv6.

use check::lifecycle::Payload;
use check::simulate::PacketResult;
use check::Scenario;
use packet::{MacAddr, Packet};
use std::net::IpAddr;
use wire::checksum;
use wire::ethernet::{EthernetRepr, ETHERTYPE_IPV4};

/// Payload bytes written at most (the rest of a long segment is left out).
const MAX_PAYLOAD: usize = 1400;

fn port_mac(sc: &Scenario, id: Option<&str>) -> Option<MacAddr> {
    id.and_then(|id| sc.cloud.port(id))
        .and_then(|p| p.mac_address.parse().ok())
}

fn group_mac(dst: IpAddr) -> Option<MacAddr> {
    match dst {
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        IpAddr::V4(a) if a.is_broadcast() => Some(MacAddr::BROADCAST),
        IpAddr::V6(a) if a.is_multicast() => Some(wire::ipv6::multicast_mac(a)),
        _ => None,
    }
}

/// The frame of one packet of the check.
pub fn frame(sc: &Scenario, p: &PacketResult) -> Vec<u8> {
    match &p.payload {
        Payload::Arp(a) => {
            let src = a.sender_mac.parse().unwrap_or(MacAddr([0; 6]));
            match (a.sender_ip, a.target_ip) {
                (IpAddr::V4(s), IpAddr::V4(t)) => {
                    let target_mac = if a.reply {
                        port_mac(sc, p.to_port.as_deref())
                    } else {
                        None
                    };
                    let arp = wire::arp::ArpRepr {
                        op: if a.reply {
                            wire::arp::OP_REPLY
                        } else {
                            wire::arp::OP_REQUEST
                        },
                        sender_mac: src,
                        sender_ip: s,
                        target_mac: target_mac.unwrap_or(MacAddr([0; 6])),
                        target_ip: t,
                    };
                    let dst = target_mac.unwrap_or(MacAddr::BROADCAST);
                    arp.to_frame(dst).to_vec()
                }
                // check's solicited answer: sender = the advertised address,
                // target = the asker's address (as an ARP reply).
                (IpAddr::V6(s), IpAddr::V6(t)) if a.reply && s != t => {
                    let dst = port_mac(sc, p.to_port.as_deref()).unwrap_or(MacAddr::BROADCAST);
                    solicited_na_frame(src, dst, s, t)
                }
                (IpAddr::V6(_), IpAddr::V6(t)) if a.reply => {
                    let mut f = wire::icmpv6::unsolicited_na_frame(src, t, false).to_vec();
                    if let Some(dst) = port_mac(sc, p.to_port.as_deref()) {
                        wire::ethernet::set_dst(&mut f, dst);
                    }
                    f
                }
                (IpAddr::V6(s), IpAddr::V6(t)) => wire::icmpv6::solicit_frame(src, s, t),
                _ => Vec::new(),
            }
        }
        Payload::Ip(pkt) => ip_frame(sc, p, pkt),
    }
}

/// A solicited neighbour advertisement for `target` (an address of the
/// sender's) to the soliciting `to`: from the target itself, Solicited and
/// Override set, with the target link-layer option, hop limit 255 (RFC 4861
/// 4.4, 7.2.4; net/ipv6/ndisc.c ndisc_send_na).
fn solicited_na_frame(
    mac: MacAddr,
    dst_mac: MacAddr,
    target: std::net::Ipv6Addr,
    to: std::net::Ipv6Addr,
) -> Vec<u8> {
    let na = wire::icmpv6::NeighbourAdvert {
        router: false,
        solicited: true,
        override_flag: true,
        target,
        target_lladdr: Some(mac),
    };
    let mut msg = vec![0u8; na.buffer_len()];
    let _ = na.emit(&mut msg, target, to);
    let ip = wire::ipv6::Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: msg.len(),
        next_header: packet::proto::ICMPV6,
        hop_limit: wire::icmpv6::ND_HOP_LIMIT,
        src: target,
        dst: to,
    };
    let eth = EthernetRepr::untagged(dst_mac, mac, wire::ipv6::ETHERTYPE_IPV6);
    let mut f = vec![0u8; eth.header_len()];
    let _ = eth.emit(&mut f);
    let mut h = vec![0u8; wire::ipv6::HEADER_LEN];
    let _ = ip.emit(&mut h);
    f.extend_from_slice(&h);
    f.extend_from_slice(&msg);
    f
}

fn ip_frame(sc: &Scenario, p: &PacketResult, pkt: &Packet) -> Vec<u8> {
    let src_mac = pkt
        .src_mac
        .or_else(|| port_mac(sc, Some(&p.from_port)))
        .unwrap_or(MacAddr([0; 6]));
    let dst_mac = pkt
        .dst_mac
        .or_else(|| group_mac(pkt.dst))
        .or_else(|| port_mac(sc, p.to_port.as_deref()))
        .unwrap_or(MacAddr::BROADCAST);
    let l4 = l4_message(sc, p, pkt);
    let (ethertype, ip) = match (pkt.src, pkt.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let repr = wire::ipv4::Ipv4Repr {
                dscp_ecn: if pkt.proto == wire::vrrp::PROTOCOL {
                    0xc0
                } else {
                    0
                },
                ident: 0,
                dont_frag: pkt.proto == packet::proto::TCP,
                more_frags: false,
                frag_offset: 0,
                ttl: if pkt.ttl == 0 { 64 } else { pkt.ttl },
                protocol: pkt.proto,
                src: s,
                dst: d,
                options: Vec::new(),
                payload_len: l4.len(),
            };
            let mut b = vec![0u8; repr.header_len()];
            let _ = repr.emit(&mut b);
            (ETHERTYPE_IPV4, b)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let repr = wire::ipv6::Ipv6Repr {
                traffic_class: 0,
                flow_label: 0,
                payload_len: l4.len(),
                next_header: pkt.proto,
                hop_limit: if pkt.ttl == 0 { 64 } else { pkt.ttl },
                src: s,
                dst: d,
            };
            let mut b = vec![0u8; wire::ipv6::HEADER_LEN];
            let _ = repr.emit(&mut b);
            (wire::ipv6::ETHERTYPE_IPV6, b)
        }
        _ => return Vec::new(),
    };
    let eth = EthernetRepr::untagged(dst_mac, src_mac, ethertype);
    let mut f = vec![0u8; eth.header_len()];
    let _ = eth.emit(&mut f);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// Sum of the pseudo-header for either family.
fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            checksum::pseudo_header_v4(s.octets(), d.octets(), proto, len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => wire::ipv6::pseudo_header_sum(s, d, proto, len as u32),
        _ => 0,
    }
}

fn l4_message(sc: &Scenario, p: &PacketResult, pkt: &Packet) -> Vec<u8> {
    let payload = vec![0u8; (pkt.payload_len as usize).min(MAX_PAYLOAD)];
    let v6 = pkt.src.is_ipv6();
    match pkt.proto {
        packet::proto::TCP => {
            let mut m = vec![0u8; 20];
            m[0..2].copy_from_slice(&pkt.sport.to_be_bytes());
            m[2..4].copy_from_slice(&pkt.dport.to_be_bytes());
            m[4..8].copy_from_slice(&pkt.seq.to_be_bytes());
            m[8..12].copy_from_slice(&pkt.ack.to_be_bytes());
            m[12] = 5 << 4;
            m[13] = pkt.tcp_flags;
            let window = if pkt.window == 0 { 64240 } else { pkt.window };
            m[14..16].copy_from_slice(&window.to_be_bytes());
            m.extend_from_slice(&payload);
            let c =
                checksum::finish(checksum::sum(&m) + pseudo(pkt.src, pkt.dst, pkt.proto, m.len()));
            m[16..18].copy_from_slice(&c.to_be_bytes());
            m
        }
        packet::proto::UDP => {
            let mut m = vec![0u8; 8];
            m[0..2].copy_from_slice(&pkt.sport.to_be_bytes());
            m[2..4].copy_from_slice(&pkt.dport.to_be_bytes());
            m.extend_from_slice(&payload);
            let len = m.len() as u16;
            m[4..6].copy_from_slice(&len.to_be_bytes());
            let mut c =
                checksum::finish(checksum::sum(&m) + pseudo(pkt.src, pkt.dst, pkt.proto, m.len()));
            if c == 0 {
                c = 0xffff;
            }
            m[6..8].copy_from_slice(&c.to_be_bytes());
            m
        }
        packet::proto::ICMP | packet::proto::ICMPV6 => {
            let mut m = vec![pkt.icmp_type, pkt.icmp_code, 0, 0, 0, 0, 0, 1];
            m[4..6].copy_from_slice(&pkt.icmp_id.to_be_bytes());
            if let Some(inner) = &pkt.inner {
                m[4..8].fill(0);
                m.extend_from_slice(&quoted(inner));
            } else {
                m.extend_from_slice(&payload);
            }
            let extra = if v6 {
                pseudo(pkt.src, pkt.dst, pkt.proto, m.len())
            } else {
                0
            };
            let c = checksum::finish(checksum::sum(&m) + extra);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            m
        }
        wire::vrrp::PROTOCOL => vrrp(sc, p, pkt),
        _ => payload,
    }
}

/// The start of the packet an ICMP error quotes: its IP header and 8 bytes.
fn quoted(inner: &packet::InnerHeader) -> Vec<u8> {
    let ports = [inner.sport.to_be_bytes(), inner.dport.to_be_bytes()].concat();
    let mut l4 = ports;
    l4.extend_from_slice(&[0, 0, 0, 0]);
    match (inner.src, inner.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let repr = wire::ipv4::Ipv4Repr {
                dscp_ecn: 0,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                ttl: 64,
                protocol: inner.proto,
                src: s,
                dst: d,
                options: Vec::new(),
                payload_len: 40,
            };
            let mut b = vec![0u8; repr.header_len()];
            let _ = repr.emit(&mut b);
            b.extend_from_slice(&l4);
            b
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let repr = wire::ipv6::Ipv6Repr {
                traffic_class: 0,
                flow_label: 0,
                payload_len: 40,
                next_header: inner.proto,
                hop_limit: 64,
                src: s,
                dst: d,
            };
            let mut b = vec![0u8; wire::ipv6::HEADER_LEN];
            let _ = repr.emit(&mut b);
            b.extend_from_slice(&l4);
            b
        }
        _ => l4,
    }
}

/// The VRRP advert of the sending director's instance for this family.
fn vrrp(sc: &Scenario, p: &PacketResult, pkt: &Packet) -> Vec<u8> {
    let v6 = pkt.src.is_ipv6();
    let inst = sc
        .directors
        .iter()
        .filter(|d| d.port_id == p.from_port)
        .flat_map(|d| &d.config.vrrp_instances)
        .find(|i| {
            i.virtual_ipaddresses
                .iter()
                .any(|a| a.addr().is_ipv6() == v6)
        });
    let Some(inst) = inst else {
        return vec![0u8; 8];
    };
    let addrs: Vec<IpAddr> = inst
        .virtual_ipaddresses
        .iter()
        .map(|a| a.addr())
        .filter(|a| a.is_ipv6() == v6)
        .collect();
    let timing = if v6 {
        wire::vrrp::Timing::V3 {
            max_adver_int_cs: (inst.advert_int * 100.0).round() as u16,
        }
    } else {
        wire::vrrp::Timing::V2 {
            auth_type: wire::vrrp::AUTH_NONE,
            adver_int_s: inst.advert_int.round().max(1.0) as u8,
            auth_data: [0; wire::vrrp::AUTH_LEN],
        }
    };
    let repr = wire::vrrp::VrrpRepr {
        kind: wire::vrrp::TYPE_ADVERT,
        vrid: inst.virtual_router_id,
        priority: inst.priority,
        addrs,
        timing,
    };
    repr.to_bytes(pkt.src, pkt.dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ethernet::ETHERTYPE_ARP;

    #[test]
    fn every_builtin_packet_is_a_valid_frame() {
        let sc = Scenario::builtin().unwrap();
        let r = check::run(&sc).unwrap();
        let mut n = 0;
        for f in &r.flows {
            for p in &f.packets {
                let b = frame(&sc, p);
                assert!(b.len() >= 42, "{}: {} bytes", p.what, b.len());
                let (eth, hl) = EthernetRepr::parse(&b).unwrap();
                match eth.ethertype {
                    ETHERTYPE_IPV4 => {
                        let (ip, info) = wire::ipv4::Ipv4Repr::parse(&b[hl..]).unwrap();
                        assert!(info.checksum_ok, "{}", p.what);
                        let l4 = &b[hl + info.header_len..];
                        if ip.protocol == packet::proto::TCP {
                            assert!(wire::tcp::verify(ip.src, ip.dst, l4), "{}", p.what);
                        }
                        if ip.protocol == wire::vrrp::PROTOCOL {
                            assert!(wire::vrrp::checksum_ok(l4, ip.src, ip.dst), "{}", p.what);
                        }
                    }
                    ETHERTYPE_ARP => {
                        wire::arp::ArpRepr::parse(&b[hl..]).unwrap();
                    }
                    t => panic!("{}: ethertype {t:#x}", p.what),
                }
                n += 1;
            }
        }
        assert!(n > 100);
    }

    /// IPv6 neighbour discovery from check (examples/lvs-dr-v6): the
    /// solicitation and the holder's solicited answer, from the VIP to the
    /// asker, for the VIP.
    #[test]
    fn ipv6_neighbour_discovery_frames_carry_the_right_addresses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/lvs-dr-v6/scenario.yaml");
        let sc = Scenario::load(&path).unwrap();
        let r = check::run(&sc).unwrap();
        let nd: Vec<&PacketResult> = r
            .flows
            .iter()
            .flat_map(|f| &f.packets)
            .filter(|p| matches!(&p.payload, Payload::Arp(a) if a.sender_ip.is_ipv6()))
            .collect();
        let vip: std::net::Ipv6Addr = "2001:db8:20::241".parse().unwrap();
        let client: std::net::Ipv6Addr = "2001:db8:20::50".parse().unwrap();
        let answer = nd
            .iter()
            .find(|p| matches!(&p.payload, Payload::Arp(a) if a.reply && a.target_ip == IpAddr::V6(client)))
            .expect("the holder's answer to the client");
        let (_, ip, na) = wire::icmpv6::parse_na_frame(&frame(&sc, answer)).unwrap();
        assert_eq!((ip.src, ip.dst, ip.hop_limit), (vip, client, 255));
        assert_eq!(na.target, vip);
        assert!(na.solicited && na.override_flag);
    }
}
