//! UDP headers: parse/emit with the IPv4 pseudo-header checksum (0 = none).

use std::net::Ipv4Addr;

use crate::checksum;
use crate::ethernet::{invalid, need, ParseError};
use crate::ipv4::PROTO_UDP;

pub const HEADER_LEN: usize = 8;
/// Offset of the checksum field in the UDP header.
pub const CHECKSUM_OFFSET: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Header + payload length, from the length field.
    pub length: u16,
    pub checksum: u16,
}

impl UdpRepr {
    pub fn parse(dgram: &[u8]) -> Result<UdpRepr, ParseError> {
        need("udp", dgram, HEADER_LEN)?;
        let length = u16::from_be_bytes([dgram[4], dgram[5]]);
        if usize::from(length) < HEADER_LEN || usize::from(length) > dgram.len() {
            return Err(invalid("udp", "length", length.into()));
        }
        Ok(UdpRepr {
            src_port: u16::from_be_bytes([dgram[0], dgram[1]]),
            dst_port: u16::from_be_bytes([dgram[2], dgram[3]]),
            length,
            checksum: u16::from_be_bytes([dgram[6], dgram[7]]),
        })
    }
}

/// Write a datagram (header + payload) with its checksum; returns its length.
pub fn emit(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize, ParseError> {
    let total = HEADER_LEN + payload.len();
    need("udp emit", buf, total)?;
    buf[0..2].copy_from_slice(&src_port.to_be_bytes());
    buf[2..4].copy_from_slice(&dst_port.to_be_bytes());
    buf[4..6].copy_from_slice(&(total as u16).to_be_bytes());
    buf[6..8].copy_from_slice(&[0, 0]);
    buf[HEADER_LEN..total].copy_from_slice(payload);
    let c = datagram_checksum(src, dst, &buf[..total]);
    buf[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

/// The checksum to put on the wire (a computed 0 is sent as 0xffff, RFC 768).
pub fn datagram_checksum(src: Ipv4Addr, dst: Ipv4Addr, dgram: &[u8]) -> u16 {
    let ph = checksum::pseudo_header_v4(src.octets(), dst.octets(), PROTO_UDP, dgram.len() as u16);
    match checksum::finish(ph + checksum::sum(dgram)) {
        0 => 0xffff,
        c => c,
    }
}

/// True when the checksum verifies or is absent (0).
pub fn verify(src: Ipv4Addr, dst: Ipv4Addr, dgram: &[u8]) -> bool {
    if dgram.len() < HEADER_LEN || dgram[6..8] == [0, 0] {
        return dgram.len() >= HEADER_LEN;
    }
    let ph = checksum::pseudo_header_v4(src.octets(), dst.octets(), PROTO_UDP, dgram.len() as u16);
    checksum::finish(ph + checksum::sum(dgram)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 241);

    #[test]
    fn emit_parse_bytes() {
        let mut buf = [0u8; 12];
        assert_eq!(emit(SRC, DST, 5000, 53, b"abcd", &mut buf).unwrap(), 12);
        assert_eq!(&buf[..6], &[0x13, 0x88, 0x00, 0x35, 0x00, 0x0c]);
        let r = UdpRepr::parse(&buf).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.length), (5000, 53, 12));
        assert!(verify(SRC, DST, &buf));
        // Hand-computed: pseudo header + header + payload.
        let ph = checksum::pseudo_header_v4(SRC.octets(), DST.octets(), 17, 12);
        let mut z = buf;
        z[6] = 0;
        z[7] = 0;
        assert_eq!(r.checksum, checksum::finish(ph + checksum::sum(&z)));
        buf[9] ^= 0xff;
        assert!(!verify(SRC, DST, &buf));
    }

    #[test]
    fn zero_checksum_means_none_and_bad_length() {
        let mut buf = [0u8; 8];
        emit(SRC, DST, 1, 2, &[], &mut buf).unwrap();
        buf[6] = 0;
        buf[7] = 0;
        assert!(verify(SRC, DST, &buf));
        buf[5] = 9;
        assert!(UdpRepr::parse(&buf).is_err());
        buf[5] = 7;
        assert!(UdpRepr::parse(&buf).is_err());
        assert!(UdpRepr::parse(&buf[..7]).is_err());
    }
}
