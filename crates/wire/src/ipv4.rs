//! IPv4 headers (with options): parse/emit, in-place address rewrites with
//! incremental checksums (RFC 1624), and IPIP (protocol 4) encapsulation.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::ethernet::{invalid, need, ParseError};

pub const MIN_HEADER_LEN: usize = 20;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_VRRP: u8 = 112;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;

/// A decoded IPv4 header. `options` holds the raw option bytes (padded to 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub options: Vec<u8>,
    /// Bytes after the header (total length - header length).
    pub payload_len: usize,
}

/// What `parse` saw besides the header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub header_len: usize,
    pub total_len: usize,
    pub checksum_ok: bool,
}

impl Ipv4Repr {
    /// Decode an IPv4 header at the start of `buf`. Trailing bytes past
    /// total length (Ethernet padding) are allowed.
    pub fn parse(buf: &[u8]) -> Result<(Ipv4Repr, Ipv4Info), ParseError> {
        need("ipv4", buf, MIN_HEADER_LEN)?;
        let version = buf[0] >> 4;
        if version != 4 {
            return Err(invalid("ipv4", "version", version.into()));
        }
        let hl = usize::from(buf[0] & 0x0f) * 4;
        if hl < MIN_HEADER_LEN {
            return Err(invalid("ipv4", "ihl", (hl / 4) as u32));
        }
        need("ipv4 options", buf, hl)?;
        let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if total < hl {
            return Err(invalid("ipv4", "total length", total as u32));
        }
        need("ipv4 payload", buf, total)?;
        let ff = u16::from_be_bytes([buf[6], buf[7]]);
        let repr = Ipv4Repr {
            dscp_ecn: buf[1],
            ident: u16::from_be_bytes([buf[4], buf[5]]),
            dont_frag: ff & FLAG_DF != 0,
            more_frags: ff & FLAG_MF != 0,
            frag_offset: ff & 0x1fff,
            ttl: buf[8],
            protocol: buf[9],
            src: addr_at(buf, 12),
            dst: addr_at(buf, 16),
            options: buf[MIN_HEADER_LEN..hl].to_vec(),
            payload_len: total - hl,
        };
        let info = Ipv4Info {
            header_len: hl,
            total_len: total,
            checksum_ok: checksum::checksum(&buf[..hl]) == 0,
        };
        Ok((repr, info))
    }

    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len().div_ceil(4) * 4
    }

    /// Write the header (with a fresh checksum) at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let hl = self.header_len();
        need("ipv4 emit", buf, hl)?;
        let total = hl + self.payload_len;
        if total > usize::from(u16::MAX) {
            return Err(invalid("ipv4 emit", "total length", total as u32));
        }
        buf[0] = 0x40 | (hl / 4) as u8;
        buf[1] = self.dscp_ecn;
        buf[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        buf[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut ff = self.frag_offset & 0x1fff;
        if self.dont_frag {
            ff |= FLAG_DF;
        }
        if self.more_frags {
            ff |= FLAG_MF;
        }
        buf[6..8].copy_from_slice(&ff.to_be_bytes());
        buf[8] = self.ttl;
        buf[9] = self.protocol;
        buf[10..12].copy_from_slice(&[0, 0]);
        buf[12..16].copy_from_slice(&self.src.octets());
        buf[16..20].copy_from_slice(&self.dst.octets());
        buf[MIN_HEADER_LEN..hl].fill(0);
        buf[MIN_HEADER_LEN..MIN_HEADER_LEN + self.options.len()].copy_from_slice(&self.options);
        let c = checksum::checksum(&buf[..hl]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        Ok(hl)
    }
}

fn addr_at(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3])
}

/// Header length of the IPv4 packet in `buf` (no validation beyond bounds).
pub fn header_len(buf: &[u8]) -> usize {
    buf.first().map_or(0, |b| usize::from(b & 0x0f) * 4)
}

pub fn src(buf: &[u8]) -> Ipv4Addr {
    addr_at(buf, 12)
}

pub fn dst(buf: &[u8]) -> Ipv4Addr {
    addr_at(buf, 16)
}

pub fn protocol(buf: &[u8]) -> u8 {
    buf[9]
}

/// True for a non-first fragment (no L4 header inside).
pub fn is_later_fragment(buf: &[u8]) -> bool {
    u16::from_be_bytes([buf[6], buf[7]]) & 0x1fff != 0
}

fn header_checksum(buf: &[u8]) -> u16 {
    u16::from_be_bytes([buf[10], buf[11]])
}

fn set_addr(buf: &mut [u8], at: usize, new: Ipv4Addr) -> u32 {
    let old = u32::from(addr_at(buf, at));
    let c = checksum::update32(header_checksum(buf), old, u32::from(new));
    buf[10..12].copy_from_slice(&c.to_be_bytes());
    buf[at..at + 4].copy_from_slice(&new.octets());
    old
}

/// In-place: new source address, header checksum updated incrementally.
/// Returns the old address (the caller fixes the L4 pseudo-header).
pub fn set_src(buf: &mut [u8], new: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(set_addr(buf, 12, new))
}

/// In-place: new destination address, header checksum updated incrementally.
pub fn set_dst(buf: &mut [u8], new: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(set_addr(buf, 16, new))
}

/// In-place TTL decrement with incremental checksum; false if TTL was <= 1.
pub fn decrement_ttl(buf: &mut [u8]) -> bool {
    if buf[8] <= 1 {
        return false;
    }
    let old = u16::from_be_bytes([buf[8], buf[9]]);
    buf[8] -= 1;
    let new = u16::from_be_bytes([buf[8], buf[9]]);
    let c = checksum::update16(header_checksum(buf), old, new);
    buf[10..12].copy_from_slice(&c.to_be_bytes());
    true
}

/// IPIP (RFC 2003) as IPVS's TUN method sends it: a 20-byte outer header
/// (protocol 4) with the inner packet's TOS, TTL and DF bit
/// (kernel net/netfilter/ipvs/ip_vs_xmit.c, ip_vs_tunnel_xmit). Writes outer
/// header + `inner` into `out`; returns the length written.
pub fn encapsulate_ipip(
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
    ident: u16,
    inner: &[u8],
    out: &mut [u8],
) -> Result<usize, ParseError> {
    let (ir, info) = Ipv4Repr::parse(inner)?;
    let outer = Ipv4Repr {
        dscp_ecn: ir.dscp_ecn,
        ident,
        dont_frag: ir.dont_frag,
        more_frags: false,
        frag_offset: 0,
        ttl: ir.ttl,
        protocol: PROTO_IPIP,
        src: outer_src,
        dst: outer_dst,
        options: Vec::new(),
        payload_len: info.total_len,
    };
    need("ipip emit", out, MIN_HEADER_LEN + info.total_len)?;
    let hl = outer.emit(out)?;
    out[hl..hl + info.total_len].copy_from_slice(&inner[..info.total_len]);
    Ok(hl + info.total_len)
}

/// The inner packet of an IPIP packet (outer protocol must be 4).
pub fn decapsulate_ipip(outer: &[u8]) -> Result<&[u8], ParseError> {
    let (r, info) = Ipv4Repr::parse(outer)?;
    if r.protocol != PROTO_IPIP {
        return Err(invalid("ipip", "protocol", r.protocol.into()));
    }
    Ok(&outer[info.header_len..info.total_len])
}

/// Which end of a flow a NAT rewrite changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatSide {
    Src,
    Dst,
}

fn l4_checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        PROTO_TCP => Some(crate::tcp::CHECKSUM_OFFSET),
        PROTO_UDP => Some(crate::udp::CHECKSUM_OFFSET),
        _ => None,
    }
}

/// In-place NAT of a TCP/UDP packet: new address and port on one side; the IP
/// header checksum and the L4 checksum (pseudo-header + port) are updated
/// incrementally (RFC 1624), as IPVS's tcp_dnat_handler/udp_snat_handler do
/// when the checksum is complete. A UDP checksum of 0 (none) stays 0.
pub fn nat_rewrite(
    pkt: &mut [u8],
    side: NatSide,
    addr: Ipv4Addr,
    port: u16,
) -> Result<(), ParseError> {
    let (r, info) = Ipv4Repr::parse(pkt)?;
    if r.frag_offset != 0 {
        return Err(invalid("nat", "fragment offset", r.frag_offset.into()));
    }
    let Some(coff) = l4_checksum_offset(r.protocol) else {
        return Err(invalid("nat", "protocol", r.protocol.into()));
    };
    let hl = info.header_len;
    need("nat l4", pkt, hl + coff + 2)?;
    let poff = hl + if side == NatSide::Src { 0 } else { 2 };
    let old_port = u16::from_be_bytes([pkt[poff], pkt[poff + 1]]);
    let old_addr = match side {
        NatSide::Src => r.src,
        NatSide::Dst => r.dst,
    };
    let c = hl + coff;
    let old_sum = u16::from_be_bytes([pkt[c], pkt[c + 1]]);
    if !(r.protocol == PROTO_UDP && old_sum == 0) {
        let mut s = checksum::update32(old_sum, u32::from(old_addr), u32::from(addr));
        s = checksum::update16(s, old_port, port);
        if r.protocol == PROTO_UDP && s == 0 {
            s = 0xffff;
        }
        pkt[c..c + 2].copy_from_slice(&s.to_be_bytes());
    }
    pkt[poff..poff + 2].copy_from_slice(&port.to_be_bytes());
    match side {
        NatSide::Src => set_src(pkt, addr),
        NatSide::Dst => set_dst(pkt, addr),
    };
    Ok(())
}

/// True unless the packet is TCP/UDP (first fragment) with an L4 checksum that
/// does not verify (a UDP checksum of 0 means none and verifies).
pub fn l4_checksum_ok(pkt: &[u8]) -> bool {
    if pkt.len() < MIN_HEADER_LEN || pkt[0] >> 4 != 4 {
        return true;
    }
    let hl = header_len(pkt);
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if hl < MIN_HEADER_LEN || total < hl || total > pkt.len() || is_later_fragment(pkt) {
        return true;
    }
    if pkt[6] & 0x20 != 0 {
        return true; // more fragments: the checksum covers data we do not have
    }
    let seg = &pkt[hl..total];
    match protocol(pkt) {
        PROTO_TCP => crate::tcp::verify(src(pkt), dst(pkt), seg),
        PROTO_UDP => crate::udp::verify(src(pkt), dst(pkt), seg),
        _ => true,
    }
}

/// Compute the full TCP/UDP checksum of the packet from scratch. Needed for
/// frames captured with a partial checksum (CHECKSUM_PARTIAL offload, AF_PACKET
/// TP_STATUS_CSUMNOTREADY), whose checksum field holds only the pseudo-header.
pub fn fill_l4_checksum(pkt: &mut [u8]) -> Result<(), ParseError> {
    let (r, info) = Ipv4Repr::parse(pkt)?;
    let Some(coff) = l4_checksum_offset(r.protocol) else {
        return Ok(());
    };
    if r.frag_offset != 0 || r.more_frags {
        return Ok(());
    }
    let seg = &mut pkt[info.header_len..info.total_len];
    need("l4 checksum", seg, coff + 2)?;
    seg[coff..coff + 2].copy_from_slice(&[0, 0]);
    let c = if r.protocol == PROTO_TCP {
        crate::tcp::segment_checksum(r.src, r.dst, seg)
    } else {
        crate::udp::datagram_checksum(r.src, r.dst, seg)
    };
    seg[coff..coff + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.0.2.1 -> 203.0.113.241, TCP, ttl 64, DF, id 0x1c46, checksum 0x0b49.
    pub(crate) const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0x00, 0x02,
        0x01, 0xcb, 0x00, 0x71, 0xf1,
    ];

    fn with_checksum(mut h: Vec<u8>) -> Vec<u8> {
        let hl = header_len(&h);
        let c = checksum::checksum(&h[..hl]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    fn packet() -> Vec<u8> {
        let mut p = with_checksum(HDR.to_vec());
        p.resize(0x3c, 0xab);
        p
    }

    #[test]
    fn parse_fields() {
        let p = packet();
        let (r, info) = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(r.dst, Ipv4Addr::new(203, 0, 113, 241));
        assert_eq!((r.protocol, r.ttl, r.ident), (PROTO_TCP, 64, 0x1c46));
        assert!(r.dont_frag && !r.more_frags);
        assert_eq!(info.header_len, 20);
        assert_eq!(r.payload_len, 40);
        assert!(info.checksum_ok);
    }

    #[test]
    fn emit_round_trips_bytes() {
        let p = packet();
        let (r, _) = Ipv4Repr::parse(&p).unwrap();
        let mut out = [0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(&out[..], &p[..20]);
    }

    #[test]
    fn options_round_trip() {
        // Router alert option (RFC 2113): 94 04 00 00, ihl 6.
        let mut h = HDR.to_vec();
        h[0] = 0x46;
        h[3] = 0x18;
        h.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        let h = with_checksum(h);
        let (r, info) = Ipv4Repr::parse(&h).unwrap();
        assert_eq!(info.header_len, 24);
        assert_eq!(r.options, vec![0x94, 0x04, 0, 0]);
        assert!(info.checksum_ok);
        let mut out = [0u8; 24];
        assert_eq!(r.emit(&mut out).unwrap(), 24);
        assert_eq!(&out[..], &h[..]);
    }

    #[test]
    fn bad_inputs() {
        let p = packet();
        assert!(Ipv4Repr::parse(&p[..19]).is_err());
        assert!(
            Ipv4Repr::parse(&p[..50]).is_err(),
            "shorter than total length"
        );
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert!(matches!(
            Ipv4Repr::parse(&v6),
            Err(ParseError::Invalid {
                field: "version",
                ..
            })
        ));
        let mut ihl = p.clone();
        ihl[0] = 0x44;
        assert!(Ipv4Repr::parse(&ihl).is_err());
        let mut bad = p;
        bad[10] ^= 1;
        assert!(!Ipv4Repr::parse(&bad).unwrap().1.checksum_ok);
    }

    #[test]
    fn rewrite_keeps_checksum_valid() {
        let mut p = packet();
        let old = set_dst(&mut p, Ipv4Addr::new(198, 51, 100, 8));
        assert_eq!(old, Ipv4Addr::new(203, 0, 113, 241));
        set_src(&mut p, Ipv4Addr::new(192, 0, 2, 77));
        assert!(decrement_ttl(&mut p));
        assert_eq!(p[8], 63);
        assert_eq!(checksum::checksum(&p[..20]), 0);
        assert_eq!(dst(&p), Ipv4Addr::new(198, 51, 100, 8));
        p[8] = 1;
        assert!(!decrement_ttl(&mut p));
    }

    #[test]
    fn ipip_encapsulation_bytes() {
        let inner = packet();
        let mut out = vec![0u8; 100];
        let n = encapsulate_ipip(
            Ipv4Addr::new(198, 51, 100, 5),
            Ipv4Addr::new(198, 51, 100, 8),
            7,
            &inner,
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 80);
        let expected_outer = with_checksum(vec![
            0x45, 0x00, 0x00, 0x50, 0x00, 0x07, 0x40, 0x00, 0x40, 0x04, 0, 0, 198, 51, 100, 5, 198,
            51, 100, 8,
        ]);
        assert_eq!(&out[..20], &expected_outer[..]);
        assert_eq!(decapsulate_ipip(&out[..n]).unwrap(), &inner[..]);
        assert!(decapsulate_ipip(&inner).is_err());
    }

    fn tcp_packet() -> Vec<u8> {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(203, 0, 113, 241);
        let t = crate::tcp::TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1,
            ack: 0,
            flags: crate::tcp::SYN,
            window: 1000,
            urgent: 0,
            options: vec![],
        };
        let mut p = vec![0u8; 44];
        let mut ip = Ipv4Repr::parse(&packet()).unwrap().0;
        ip.payload_len = 24;
        ip.emit(&mut p).unwrap();
        t.emit(src, dst, b"data", &mut p[20..]).unwrap();
        p
    }

    #[test]
    fn nat_tcp_dst_and_back() {
        let orig = tcp_packet();
        let mut p = orig.clone();
        let rs = Ipv4Addr::new(198, 51, 100, 8);
        nat_rewrite(&mut p, NatSide::Dst, rs, 8080).unwrap();
        assert_eq!(dst(&p), rs);
        assert_eq!(u16::from_be_bytes([p[22], p[23]]), 8080);
        assert_eq!(checksum::checksum(&p[..20]), 0);
        assert!(crate::tcp::verify(src(&p), rs, &p[20..]));
        // Incremental equals full recompute.
        let mut full = p.clone();
        fill_l4_checksum(&mut full).unwrap();
        assert_eq!(full, p);
        nat_rewrite(&mut p, NatSide::Dst, Ipv4Addr::new(203, 0, 113, 241), 80).unwrap();
        assert_eq!(p, orig);
    }

    #[test]
    fn nat_udp_src_and_zero_checksum() {
        let src_a = Ipv4Addr::new(198, 51, 100, 8);
        let dst_a = Ipv4Addr::new(192, 0, 2, 1);
        let mut p = vec![0u8; 32];
        let ip = Ipv4Repr {
            dscp_ecn: 0,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            ttl: 64,
            protocol: PROTO_UDP,
            src: src_a,
            dst: dst_a,
            options: vec![],
            payload_len: 12,
        };
        ip.emit(&mut p).unwrap();
        crate::udp::emit(src_a, dst_a, 53, 5000, b"abcd", &mut p[20..]).unwrap();
        let vip = Ipv4Addr::new(203, 0, 113, 241);
        nat_rewrite(&mut p, NatSide::Src, vip, 5353).unwrap();
        assert!(crate::udp::verify(vip, dst_a, &p[20..]));
        assert_eq!(src(&p), vip);
        p[26] = 0;
        p[27] = 0;
        nat_rewrite(&mut p, NatSide::Src, src_a, 53).unwrap();
        assert_eq!(&p[26..28], &[0, 0], "no checksum stays none");
    }

    #[test]
    fn nat_refuses_other_protocols_and_fragments() {
        let mut p = packet();
        p[9] = PROTO_ICMP;
        let c = checksum::checksum(&{
            let mut h = p[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        p[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(nat_rewrite(&mut p, NatSide::Dst, Ipv4Addr::LOCALHOST, 1).is_err());
        let mut f = tcp_packet();
        f[7] = 1;
        assert!(nat_rewrite(&mut f, NatSide::Dst, Ipv4Addr::LOCALHOST, 1).is_err());
    }

    #[test]
    fn fill_checksum_repairs_partial() {
        let good = tcp_packet();
        let mut p = good.clone();
        // What CHECKSUM_PARTIAL leaves: the folded pseudo-header sum only.
        let ph = checksum::pseudo_header_v4(src(&p).octets(), dst(&p).octets(), 6, 24);
        p[36..38].copy_from_slice(&(!checksum::finish(ph)).to_be_bytes());
        assert_ne!(p, good);
        assert!(!l4_checksum_ok(&p));
        fill_l4_checksum(&mut p).unwrap();
        assert_eq!(p, good);
        assert!(l4_checksum_ok(&p));
        assert!(
            l4_checksum_ok(&packet()[..10]),
            "not an IPv4 L4 packet: nothing to say"
        );
    }
}
