//! The IPv6 fixed header (RFC 8200 §3), parse/emit with byte-vector tests,
//! the upper-layer pseudo-header sum (RFC 8200 §8.1) and the Ethernet
//! multicast mapping (RFC 2464 §7).
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
