//! TCP headers: parse/emit with the IPv4 pseudo-header checksum, flag helpers,
//! and in-place port rewrites with incremental checksums.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::ethernet::{invalid, need, ParseError};
use crate::ipv4::PROTO_TCP;

pub const MIN_HEADER_LEN: usize = 20;
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
/// Offset of the checksum field in the TCP header.
pub const CHECKSUM_OFFSET: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Low 8 flag bits (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes (padded to 4 on emit).
    pub options: Vec<u8>,
}

impl TcpRepr {
    /// Decode the header of `seg` (TCP header + payload); returns it and the
    /// header length.
    pub fn parse(seg: &[u8]) -> Result<(TcpRepr, usize), ParseError> {
        need("tcp", seg, MIN_HEADER_LEN)?;
        let hl = usize::from(seg[12] >> 4) * 4;
        if hl < MIN_HEADER_LEN {
            return Err(invalid("tcp", "data offset", (hl / 4) as u32));
        }
        need("tcp options", seg, hl)?;
        Ok((
            TcpRepr {
                src_port: u16::from_be_bytes([seg[0], seg[1]]),
                dst_port: u16::from_be_bytes([seg[2], seg[3]]),
                seq: u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]),
                ack: u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]),
                flags: seg[13],
                window: u16::from_be_bytes([seg[14], seg[15]]),
                urgent: u16::from_be_bytes([seg[18], seg[19]]),
                options: seg[MIN_HEADER_LEN..hl].to_vec(),
            },
            hl,
        ))
    }

    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len().div_ceil(4) * 4
    }

    /// Write header + `payload` into `buf` with the checksum for (src, dst).
    pub fn emit(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, ParseError> {
        let hl = self.header_len();
        let total = hl + payload.len();
        need("tcp emit", buf, total)?;
        buf[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        buf[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[4..8].copy_from_slice(&self.seq.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ack.to_be_bytes());
        buf[12] = ((hl / 4) as u8) << 4;
        buf[13] = self.flags;
        buf[14..16].copy_from_slice(&self.window.to_be_bytes());
        buf[16..18].copy_from_slice(&[0, 0]);
        buf[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        buf[MIN_HEADER_LEN..hl].fill(0);
        buf[MIN_HEADER_LEN..MIN_HEADER_LEN + self.options.len()].copy_from_slice(&self.options);
        buf[hl..total].copy_from_slice(payload);
        let c = segment_checksum(src, dst, &buf[..total]);
        buf[16..18].copy_from_slice(&c.to_be_bytes());
        Ok(total)
    }
}

/// Checksum of a whole segment (its checksum field counted as it is).
pub fn segment_checksum(src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> u16 {
    let ph = checksum::pseudo_header_v4(src.octets(), dst.octets(), PROTO_TCP, seg.len() as u16);
    checksum::finish(ph + checksum::sum(seg))
}

/// True when the segment's checksum verifies for (src, dst).
pub fn verify(src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> bool {
    segment_checksum(src, dst, seg) == 0
}

/// Software TCP segmentation (what GSO/TSO would have done): split an IPv4
/// TCP packet whose payload does not fit in `max_ip_len` bytes into packets
/// that do. Each gets its own total length, IP ID (+1 per segment), header
/// checksum, sequence number and full TCP checksum; FIN and PSH stay on the
/// last segment only, CWR on the first. Options (IP and TCP) are copied.
/// A packet that already fits comes back as the only element.
pub fn segment_ipv4(pkt: &[u8], max_ip_len: usize) -> Result<Vec<Vec<u8>>, ParseError> {
    let (ip, info) = crate::ipv4::Ipv4Repr::parse(pkt)?;
    if ip.protocol != PROTO_TCP || ip.frag_offset != 0 || ip.more_frags {
        return Err(invalid(
            "tcp segmentation",
            "protocol/fragment",
            ip.protocol.into(),
        ));
    }
    let hl = info.header_len;
    let (tcp, thl) = TcpRepr::parse(&pkt[hl..info.total_len])?;
    if info.total_len <= max_ip_len {
        return Ok(vec![pkt[..info.total_len].to_vec()]);
    }
    if max_ip_len <= hl + thl {
        return Err(invalid("tcp segmentation", "max length", max_ip_len as u32));
    }
    let mss = max_ip_len - hl - thl;
    let payload = &pkt[hl + thl..info.total_len];
    let chunks: Vec<&[u8]> = payload.chunks(mss).collect();
    let last = chunks.len().saturating_sub(1);
    let mut out = Vec::with_capacity(chunks.len());
    let mut seq = tcp.seq;
    for (i, chunk) in chunks.iter().enumerate() {
        let mut p = vec![0u8; hl + thl + chunk.len()];
        p[..hl + thl].copy_from_slice(&pkt[..hl + thl]);
        p[hl + thl..].copy_from_slice(chunk);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&ip.ident.wrapping_add(i as u16).to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&p[..hl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut p[hl..];
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        let mut fl = tcp.flags;
        if i != last {
            fl &= !(FIN | PSH);
        }
        if i != 0 {
            fl &= !0x80; // CWR
        }
        t[13] = fl;
        t[16..18].copy_from_slice(&[0, 0]);
        let c = segment_checksum(ip.src, ip.dst, t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        seq = seq.wrapping_add(chunk.len() as u32);
        out.push(p);
    }
    Ok(out)
}

pub fn flags(seg: &[u8]) -> u8 {
    seg.get(13).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 241);

    // SYN 40000 -> 80, seq 1, window 64240, MSS 1460 option.
    const SYN_BYTES: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0, 0,
        0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn parse_syn() {
        let (r, hl) = TcpRepr::parse(&SYN_BYTES).unwrap();
        assert_eq!(hl, 24);
        assert_eq!((r.src_port, r.dst_port, r.seq), (40000, 80, 1));
        assert_eq!(r.flags, SYN);
        assert_eq!(r.window, 64240);
        assert_eq!(r.options, vec![2, 4, 5, 0xb4]);
    }

    #[test]
    fn emit_matches_bytes_and_checksum_verifies() {
        let (r, _) = TcpRepr::parse(&SYN_BYTES).unwrap();
        let mut out = [0u8; 24];
        r.emit(SRC, DST, &[], &mut out).unwrap();
        assert_eq!(&out[..16], &SYN_BYTES[..16]);
        assert_eq!(&out[18..], &SYN_BYTES[18..]);
        assert!(verify(SRC, DST, &out));
        // Checksum computed by hand: pseudo-header + segment.
        let c = u16::from_be_bytes([out[16], out[17]]);
        let mut zeroed = out;
        zeroed[16] = 0;
        zeroed[17] = 0;
        let ph = checksum::pseudo_header_v4(SRC.octets(), DST.octets(), 6, 24);
        assert_eq!(c, checksum::finish(ph + checksum::sum(&zeroed)));
        assert!(!verify(SRC, Ipv4Addr::new(192, 0, 2, 2), &out));
    }

    fn big_packet(payload: usize, flags: u8) -> Vec<u8> {
        let t = TcpRepr {
            src_port: 8080,
            dst_port: 40000,
            seq: 0xffff_fff0,
            ack: 7,
            flags,
            window: 500,
            urgent: 0,
            options: vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        };
        let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
        let ip = crate::ipv4::Ipv4Repr {
            dscp_ecn: 0,
            ident: 0xfffe,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            ttl: 64,
            protocol: PROTO_TCP,
            src: DST,
            dst: SRC,
            options: vec![],
            payload_len: t.header_len() + payload,
        };
        let mut p = vec![0u8; 20 + t.header_len() + payload];
        ip.emit(&mut p).unwrap();
        t.emit(DST, SRC, &data, &mut p[20..]).unwrap();
        p
    }

    #[test]
    fn segmentation_like_gso() {
        let p = big_packet(3000, ACK | PSH | FIN);
        let segs = segment_ipv4(&p, 1500).unwrap();
        // 20 + 32 header bytes: MSS 1448 -> 1448 + 1448 + 104.
        let lens: Vec<usize> = segs.iter().map(|s| s.len() - 52).collect();
        assert_eq!(lens, vec![1448, 1448, 104]);
        let mut data = Vec::new();
        let mut expect_seq = 0xffff_fff0u32;
        for (i, s) in segs.iter().enumerate() {
            let (ip, info) = crate::ipv4::Ipv4Repr::parse(s).unwrap();
            assert!(info.checksum_ok);
            assert_eq!(ip.ident, 0xfffeu16.wrapping_add(i as u16));
            assert!(verify(ip.src, ip.dst, &s[20..]));
            let (t, thl) = TcpRepr::parse(&s[20..]).unwrap();
            assert_eq!(t.seq, expect_seq, "sequence wraps across segments");
            assert_eq!(t.options.len(), 12);
            let last = i == segs.len() - 1;
            assert_eq!(t.flags & (FIN | PSH) != 0, last);
            assert!(t.flags & ACK != 0);
            expect_seq = expect_seq.wrapping_add((s.len() - 20 - thl) as u32);
            data.extend_from_slice(&s[20 + thl..]);
        }
        assert_eq!(data, p[52..].to_vec());
        // Fits already: unchanged.
        let small = big_packet(100, ACK);
        assert_eq!(segment_ipv4(&small, 1500).unwrap(), vec![small.clone()]);
        assert!(segment_ipv4(&p, 52).is_err(), "no room for payload");
    }

    #[test]
    fn payload_and_bad_offset() {
        let r = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 9,
            ack: 2,
            flags: ACK | PSH,
            window: 500,
            urgent: 0,
            options: vec![],
        };
        let mut out = [0u8; 25];
        assert_eq!(r.emit(DST, SRC, b"hello", &mut out).unwrap(), 25);
        assert_eq!(&out[20..], b"hello");
        assert!(verify(DST, SRC, &out));
        let mut bad = SYN_BYTES;
        bad[12] = 0x40;
        assert!(TcpRepr::parse(&bad).is_err());
        assert!(TcpRepr::parse(&SYN_BYTES[..10]).is_err());
    }
}
