//! The IPv6 fixed header (RFC 8200 §3), parse/emit with byte-vector tests,
//! the upper-layer pseudo-header sum (RFC 8200 §8.1), the Ethernet
//! multicast mapping (RFC 2464 §7), and the TCP/UDP checksum work of the
//! director's IPv6 data plane: NAT rewrite with incremental checksum
//! updates, completing a partial checksum, verifying one.
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                   Source Address (16 bytes)                   |
//! |                Destination Address (16 bytes)                 |
//! ```
//!
//! Extension headers are not walked: `next_header` is what follows the fixed
//! header, which is all VRRP and neighbour discovery need.

use std::net::Ipv6Addr;

use crate::checksum;
use crate::ethernet::{invalid, need, MacAddr, ParseError};
use crate::ipv4::NatSide;

pub const HEADER_LEN: usize = 40;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
/// ff02::1, every node on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    /// Bytes after the fixed header.
    pub payload_len: usize,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Repr {
    /// Decode the fixed header; returns it and the payload (exactly
    /// `payload_len` bytes; trailing bytes, such as Ethernet padding, are cut).
    pub fn parse(buf: &[u8]) -> Result<(Ipv6Repr, &[u8]), ParseError> {
        need("ipv6", buf, HEADER_LEN)?;
        if buf[0] >> 4 != 6 {
            return Err(invalid("ipv6", "version", u32::from(buf[0] >> 4)));
        }
        let payload_len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
        need("ipv6 payload", buf, HEADER_LEN + payload_len)?;
        let addr = |o: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&buf[o..o + 16]);
            Ipv6Addr::from(a)
        };
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let repr = Ipv6Repr {
            traffic_class: (word >> 20) as u8,
            flow_label: word & 0x000f_ffff,
            payload_len,
            next_header: buf[6],
            hop_limit: buf[7],
            src: addr(8),
            dst: addr(24),
        };
        Ok((repr, &buf[HEADER_LEN..HEADER_LEN + payload_len]))
    }

    /// Write the fixed header into `buf`; returns [`HEADER_LEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        need("ipv6 emit", buf, HEADER_LEN)?;
        let len = u16::try_from(self.payload_len)
            .map_err(|_| invalid("ipv6 emit", "payload length", self.payload_len as u32))?;
        let word = 6u32 << 28 | u32::from(self.traffic_class) << 20 | (self.flow_label & 0xfffff);
        buf[0..4].copy_from_slice(&word.to_be_bytes());
        buf[4..6].copy_from_slice(&len.to_be_bytes());
        buf[6] = self.next_header;
        buf[7] = self.hop_limit;
        buf[8..24].copy_from_slice(&self.src.octets());
        buf[24..40].copy_from_slice(&self.dst.octets());
        Ok(HEADER_LEN)
    }
}

/// Sum of the IPv6 pseudo-header: source, destination, 32-bit upper-layer
/// length, three zero bytes and the next header (RFC 8200 §8.1).
pub fn pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    checksum::sum(&src.octets())
        + checksum::sum(&dst.octets())
        + (len >> 16)
        + (len & 0xffff)
        + u32::from(next_header)
}

/// The checksum of an upper-layer message `msg` (its checksum field zeroed,
/// or holding the value to verify) under the pseudo-header.
pub fn upper_layer_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, msg: &[u8]) -> u16 {
    checksum::finish(
        checksum::sum(msg) + pseudo_header_sum(src, dst, next_header, msg.len() as u32),
    )
}

/// The Ethernet destination of an IPv6 multicast group: 33:33 and the
/// group's last 32 bits (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// True for fe80::/10.
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn l4_checksum_offset(next_header: u8) -> Option<usize> {
    match next_header {
        PROTO_TCP => Some(crate::tcp::CHECKSUM_OFFSET),
        PROTO_UDP => Some(crate::udp::CHECKSUM_OFFSET),
        _ => None,
    }
}

/// In-place NAT of an IPv6 TCP/UDP packet (no extension headers): new
/// address and port on one side, the L4 checksum updated incrementally
/// (RFC 1624, one step per 16-bit word of the address and the port), as
/// IPVS's tcp_dnat_handler/udp_snat_handler do for IPv6. IPv6 has no header
/// checksum, and UDP's is mandatory: a result of 0 is sent as 0xffff.
pub fn nat_rewrite(
    pkt: &mut [u8],
    side: NatSide,
    addr: Ipv6Addr,
    port: u16,
) -> Result<(), ParseError> {
    let (r, payload) = Ipv6Repr::parse(pkt)?;
    let Some(coff) = l4_checksum_offset(r.next_header) else {
        return Err(invalid("nat6", "next header", r.next_header.into()));
    };
    need("nat6 l4", payload, coff + 2)?;
    let poff = HEADER_LEN + if side == NatSide::Src { 0 } else { 2 };
    let old_port = u16::from_be_bytes([pkt[poff], pkt[poff + 1]]);
    let (aoff, old_addr) = match side {
        NatSide::Src => (8, r.src),
        NatSide::Dst => (24, r.dst),
    };
    let c = HEADER_LEN + coff;
    let mut s = u16::from_be_bytes([pkt[c], pkt[c + 1]]);
    for (o, n) in old_addr.segments().into_iter().zip(addr.segments()) {
        s = checksum::update16(s, o, n);
    }
    s = checksum::update16(s, old_port, port);
    if r.next_header == PROTO_UDP && s == 0 {
        s = 0xffff;
    }
    pkt[c..c + 2].copy_from_slice(&s.to_be_bytes());
    pkt[poff..poff + 2].copy_from_slice(&port.to_be_bytes());
    pkt[aoff..aoff + 16].copy_from_slice(&addr.octets());
    Ok(())
}

/// The TCP/UDP checksum of the packet computed from scratch and written in
/// (frames captured with a partial checksum: CHECKSUM_PARTIAL offload,
/// TP_STATUS_CSUMNOTREADY). Other next headers are left alone.
pub fn fill_l4_checksum(pkt: &mut [u8]) -> Result<(), ParseError> {
    let (r, payload) = Ipv6Repr::parse(pkt)?;
    let Some(coff) = l4_checksum_offset(r.next_header) else {
        return Ok(());
    };
    need("l4 checksum", payload, coff + 2)?;
    let seg = &mut pkt[HEADER_LEN..HEADER_LEN + r.payload_len];
    seg[coff..coff + 2].copy_from_slice(&[0, 0]);
    let mut c = upper_layer_checksum(r.src, r.dst, r.next_header, seg);
    if r.next_header == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    seg[coff..coff + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// True unless the packet is TCP/UDP with a checksum that does not verify.
pub fn l4_checksum_ok(pkt: &[u8]) -> bool {
    match Ipv6Repr::parse(pkt) {
        Ok((r, payload)) if l4_checksum_offset(r.next_header).is_some() => {
            upper_layer_checksum(r.src, r.dst, r.next_header, payload) == 0
        }
        _ => true,
    }
}

/// Software TCP segmentation of an IPv6 packet (what GSO/TSO would have
/// done): each segment fits `max_ip_len` bytes and gets its payload length,
/// sequence number and full checksum; FIN and PSH stay on the last segment,
/// CWR on the first, TCP options are copied. A packet that already fits
/// comes back alone.
pub fn segment_tcp(pkt: &[u8], max_ip_len: usize) -> Result<Vec<Vec<u8>>, ParseError> {
    let (ip, payload) = Ipv6Repr::parse(pkt)?;
    if ip.next_header != PROTO_TCP {
        return Err(invalid(
            "tcp6 segmentation",
            "next header",
            ip.next_header.into(),
        ));
    }
    let (tcp, thl) = crate::tcp::TcpRepr::parse(payload)?;
    let total = HEADER_LEN + ip.payload_len;
    if total <= max_ip_len {
        return Ok(vec![pkt[..total].to_vec()]);
    }
    if max_ip_len <= HEADER_LEN + thl {
        return Err(invalid(
            "tcp6 segmentation",
            "max length",
            max_ip_len as u32,
        ));
    }
    let hl = HEADER_LEN + thl;
    let chunks: Vec<&[u8]> = payload[thl..].chunks(max_ip_len - hl).collect();
    let last = chunks.len().saturating_sub(1);
    let mut seq = tcp.seq;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let mut p = Vec::with_capacity(hl + chunk.len());
        p.extend_from_slice(&pkt[..hl]);
        p.extend_from_slice(chunk);
        let plen = (thl + chunk.len()) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let t = &mut p[HEADER_LEN..];
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        let mut fl = tcp.flags;
        if i != last {
            fl &= !(crate::tcp::FIN | crate::tcp::PSH);
        }
        if i != 0 {
            fl &= !0x80; // CWR
        }
        t[13] = fl;
        fill_l4_checksum(&mut p)?;
        seq = seq.wrapping_add(chunk.len() as u32);
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 header by hand: traffic class 0xc0, flow 0x12345, payload 8,
    /// next header 112, hop limit 255, fe80::1 -> ff02::12.
    const HAND: [u8; 40] = [
        0x6c, 0x01, 0x23, 0x45, 0x00, 0x08, 112, 255, //
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12,
    ];

    fn hand_repr() -> Ipv6Repr {
        Ipv6Repr {
            traffic_class: 0xc0,
            flow_label: 0x12345,
            payload_len: 8,
            next_header: 112,
            hop_limit: 255,
            src: "fe80::1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
        }
    }

    #[test]
    fn hand_vector_both_ways() {
        let mut pkt = HAND.to_vec();
        pkt.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 0]); // payload + padding
        let (r, payload) = Ipv6Repr::parse(&pkt).unwrap();
        assert_eq!(r, hand_repr());
        assert_eq!(payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0u8; 40];
        assert_eq!(hand_repr().emit(&mut out), Ok(40));
        assert_eq!(out, HAND);
    }

    #[test]
    fn rejects_other_versions_and_short_payloads() {
        let mut v4 = HAND;
        v4[0] = 0x4c;
        assert!(matches!(
            Ipv6Repr::parse(&v4),
            Err(ParseError::Invalid {
                field: "version",
                ..
            })
        ));
        // The header promises 8 payload bytes; none follow.
        assert!(matches!(
            Ipv6Repr::parse(&HAND),
            Err(ParseError::Truncated { .. })
        ));
        assert!(Ipv6Repr::parse(&HAND[..39]).is_err());
    }

    /// RFC 8200 §8.1 by hand: the pseudo-header of fe80::1 -> ff02::12,
    /// next header 112, length 8 is the sum of its 16-bit words.
    #[test]
    fn pseudo_header_by_hand() {
        let want = 0xfe80 + 0x0001 + 0xff02 + 0x0012 + 8 + 112;
        let r = hand_repr();
        assert_eq!(pseudo_header_sum(r.src, r.dst, 112, 8), want);
        // A message whose checksum field holds the right value verifies to 0.
        let mut msg = [0x31u8, 1, 100, 0, 0, 100, 0, 0];
        let c = upper_layer_checksum(r.src, r.dst, 112, &msg);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(upper_layer_checksum(r.src, r.dst, 112, &msg), 0);
    }

    #[test]
    fn multicast_mapping_and_link_local() {
        let g: Ipv6Addr = "ff02::12".parse().unwrap();
        assert_eq!(multicast_mac(g), MacAddr([0x33, 0x33, 0, 0, 0, 0x12]));
        assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
        assert!(!is_link_local("2001:db8::1".parse().unwrap()));
    }

    /// A TCP SYN 2001:db8::1.40000 -> 2001:db8::100.80 with a good checksum.
    fn syn() -> Vec<u8> {
        let ip = Ipv6Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: 20,
            next_header: PROTO_TCP,
            hop_limit: 64,
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::100".parse().unwrap(),
        };
        let mut p = vec![0u8; 60];
        ip.emit(&mut p).unwrap();
        let tcp = [
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        p[40..].copy_from_slice(&tcp);
        fill_l4_checksum(&mut p).unwrap();
        p
    }

    #[test]
    fn l4_checksum_fill_and_verify() {
        let mut p = syn();
        assert!(l4_checksum_ok(&p));
        // By hand: pseudo-header words + segment words, folded, inverted.
        let w = |b: &[u8]| -> u32 {
            b.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum()
        };
        let mut seg = p[40..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        let mut acc = w(&p[8..40]) + 20 + 6 + w(&seg);
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        assert_eq!(&p[56..58], &(!(acc as u16)).to_be_bytes());
        p[59] ^= 1;
        assert!(!l4_checksum_ok(&p));
    }

    #[test]
    fn nat_rewrite_keeps_checksum_valid_both_sides() {
        let rs: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
        let mut p = syn();
        nat_rewrite(&mut p, NatSide::Dst, rs, 8080).unwrap();
        let (r, payload) = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(
            (r.dst, u16::from_be_bytes([payload[2], payload[3]])),
            (rs, 8080)
        );
        assert!(l4_checksum_ok(&p));
        // The incremental result equals a full recomputation.
        let mut full = p.clone();
        fill_l4_checksum(&mut full).unwrap();
        assert_eq!(p, full);
        // And back on the reply side.
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        nat_rewrite(&mut p, NatSide::Src, vip, 80).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).unwrap().0.src, vip);
        assert!(l4_checksum_ok(&p));
        // Not TCP/UDP: refused.
        let mut icmp = p.clone();
        icmp[6] = PROTO_ICMPV6;
        assert!(nat_rewrite(&mut icmp, NatSide::Dst, rs, 1).is_err());
    }

    #[test]
    fn tcp_segmentation_of_a_super_packet() {
        let mut big = syn();
        big[40 + 13] = crate::tcp::ACK | crate::tcp::PSH | crate::tcp::FIN;
        big.extend((0..3000u32).map(|i| i as u8));
        let plen = (big.len() - 40) as u16;
        big[4..6].copy_from_slice(&plen.to_be_bytes());
        fill_l4_checksum(&mut big).unwrap();
        let segs = segment_tcp(&big, 1500).unwrap();
        assert_eq!(segs.len(), 3); // 1440 + 1440 + 120 payload bytes
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            assert!(s.len() <= 1500);
            assert!(l4_checksum_ok(s));
            let (_, l4) = Ipv6Repr::parse(s).unwrap();
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            assert_eq!(seq, 1 + data.len() as u32);
            let fin = l4[13] & crate::tcp::FIN != 0;
            assert_eq!(fin, i == 2);
            data.extend_from_slice(&l4[20..]);
        }
        assert_eq!(data, big[60..]);
        assert_eq!(segment_tcp(&syn(), 1500).unwrap(), vec![syn()]);
    }

    #[test]
    fn emit_refuses_oversized_payload_length() {
        let r = Ipv6Repr {
            payload_len: 70_000,
            ..hand_repr()
        };
        assert!(r.emit(&mut [0u8; 40]).is_err());
        assert!(hand_repr().emit(&mut [0u8; 39]).is_err());
    }
}
