//! VRRP advertisements (IP protocol 112): version 2 (RFC 3768, IPv4) and
//! version 3 (RFC 5798 / RFC 9568, IPv4 and IPv6), parse/emit with
//! byte-vector tests.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! v2: | Auth Type   | Adver Int (s) |          Checksum             |
//! v3: |(rsvd)| Max Adver Int (cs, 12 bits) |     Checksum          |
//! |            IPv4 (4 bytes) or IPv6 (16 bytes) Address(es)       |
//! v2 only: Authentication Data (8 bytes)
//! ```
//!
//! The v2 checksum covers the VRRP message alone; the v3 checksum also covers
//! the pseudo-header: over IPv4 (source, destination, 0, 112, VRRP length), as
//! keepalived does by default (keepalived vrrp.c, vrrp_build_vrrp_v3), and over
//! IPv6 the RFC 8200 §8.1 one (RFC 5798 §5.2.8), which keepalived has the
//! kernel compute (IPV6_CHECKSUM at offset 6 on its raw socket, vrrp_if.c).
//! Over IPv6 adverts go to ff02::12 from the interface's link-local address
//! with hop limit 255 and traffic class 0xc0 (vrrp_if.c, if_setsockopt_priority).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::ethernet::{invalid, need, ParseError};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// Multicast group for IPv4 VRRP adverts.
pub const MCAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Multicast group for IPv6 VRRP adverts (RFC 5798 §5.1.2.2).
pub const MCAST_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL (IPv4) or hop limit (IPv6) every VRRP packet is sent with and must arrive with.
pub const TTL: u8 = 255;
/// IPv6 traffic class keepalived sends adverts with (network control, CS6).
pub const TRAFFIC_CLASS_V6: u8 = 0xc0;
/// The only VRRP packet type.
pub const TYPE_ADVERT: u8 = 1;
/// Fixed header length (before the addresses).
pub const HEADER_LEN: usize = 8;
/// v2 authentication data length.
pub const AUTH_LEN: usize = 8;
/// v2 Auth Type values (RFC 2338 5.3.6; PASS and AH are gone from RFC 3768 but keepalived keeps them).
pub const AUTH_NONE: u8 = 0;
pub const AUTH_PASS: u8 = 1;
pub const AUTH_AH: u8 = 2;

/// The address family of an advert: the family of the IP packet that
/// carries it, and of every address in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(a: IpAddr) -> Family {
        match a {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Bytes per address in the message.
    pub fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// Version-specific part of an advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// v2: Auth Type, Adver Int in seconds, 8 bytes of authentication data.
    V2 {
        auth_type: u8,
        adver_int_s: u8,
        auth_data: [u8; AUTH_LEN],
    },
    /// v3: Max Adver Int in centiseconds (12 bits; the 4 reserved bits are dropped).
    V3 { max_adver_int_cs: u16 },
}

/// A decoded VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpRepr {
    /// Type field (1 = ADVERTISEMENT; others are kept so callers can reject them).
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// All of one family, the family of the carrying IP packet.
    pub addrs: Vec<IpAddr>,
    pub timing: Timing,
}

impl VrrpRepr {
    /// 2 or 3.
    pub fn version(&self) -> u8 {
        match self.timing {
            Timing::V2 { .. } => 2,
            Timing::V3 { .. } => 3,
        }
    }

    /// The advertised interval in centiseconds (v2 seconds * 100).
    pub fn adver_int_cs(&self) -> u32 {
        match self.timing {
            Timing::V2 { adver_int_s, .. } => u32::from(adver_int_s) * 100,
            Timing::V3 { max_adver_int_cs } => u32::from(max_adver_int_cs),
        }
    }

    /// Length of the VRRP message on the wire (addresses sized by their family).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .addrs
                .iter()
                .map(|a| Family::of(*a).addr_len())
                .sum::<usize>()
            + match self.timing {
                Timing::V2 { .. } => AUTH_LEN,
                Timing::V3 { .. } => 0,
            }
    }

    /// Decode without checking the checksum. `family` is that of the carrying
    /// IP packet and sizes the addresses. Checks the version nibble (2 or 3),
    /// and that `buf` holds exactly the message the address count implies
    /// (keepalived rejects longer and shorter packets alike).
    pub fn parse_unchecked(buf: &[u8], family: Family) -> Result<VrrpRepr, ParseError> {
        need("vrrp", buf, HEADER_LEN)?;
        let version = buf[0] >> 4;
        let kind = buf[0] & 0x0f;
        let count = usize::from(buf[3]);
        let auth = match version {
            2 => AUTH_LEN,
            3 => 0,
            v => return Err(invalid("vrrp", "version", v.into())),
        };
        let alen = family.addr_len();
        let len = HEADER_LEN + alen * count + auth;
        need("vrrp addresses", buf, len)?;
        if buf.len() != len {
            return Err(invalid("vrrp", "length", buf.len() as u32));
        }
        let addrs = buf[HEADER_LEN..HEADER_LEN + alen * count]
            .chunks_exact(alen)
            .map(|c| match family {
                Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                Family::Ipv6 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
            .collect();
        let timing = if version == 2 {
            let mut auth_data = [0u8; AUTH_LEN];
            auth_data.copy_from_slice(&buf[len - AUTH_LEN..len]);
            Timing::V2 {
                auth_type: buf[4],
                adver_int_s: buf[5],
                auth_data,
            }
        } else {
            Timing::V3 {
                max_adver_int_cs: u16::from_be_bytes([buf[4], buf[5]]) & 0x0fff,
            }
        };
        Ok(VrrpRepr {
            kind,
            vrid: buf[1],
            priority: buf[2],
            addrs,
            timing,
        })
    }

    /// Decode and verify the checksum; `src`/`dst` are the IP addresses the
    /// message came with (their family sizes the addresses; v3 sums them in
    /// the pseudo-header).
    pub fn parse(
        buf: &[u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<VrrpRepr, ParseError> {
        let (src, dst) = (src.into(), dst.into());
        let repr = VrrpRepr::parse_unchecked(buf, Family::of(src))?;
        if !checksum_ok(buf, src, dst) {
            return Err(invalid(
                "vrrp",
                "checksum",
                u16::from_be_bytes([buf[6], buf[7]]).into(),
            ));
        }
        Ok(repr)
    }

    /// Write the message with its checksum into `buf`; returns its length.
    /// Every address, `src` and `dst` must be of one family.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<usize, ParseError> {
        let (src, dst) = (src.into(), dst.into());
        let family = Family::of(src);
        if Family::of(dst) != family || self.addrs.iter().any(|a| Family::of(*a) != family) {
            return Err(invalid("vrrp emit", "address family", 0));
        }
        let len = self.buffer_len();
        need("vrrp emit", buf, len)?;
        if self.addrs.len() > 255 {
            return Err(invalid(
                "vrrp emit",
                "address count",
                self.addrs.len() as u32,
            ));
        }
        buf[0] = (self.version() << 4) | (self.kind & 0x0f);
        buf[1] = self.vrid;
        buf[2] = self.priority;
        buf[3] = self.addrs.len() as u8;
        match self.timing {
            Timing::V2 {
                auth_type,
                adver_int_s,
                auth_data,
            } => {
                buf[4] = auth_type;
                buf[5] = adver_int_s;
                buf[len - AUTH_LEN..len].copy_from_slice(&auth_data);
            }
            Timing::V3 { max_adver_int_cs } => {
                buf[4..6].copy_from_slice(&(max_adver_int_cs & 0x0fff).to_be_bytes());
            }
        }
        buf[6..8].fill(0);
        let mut o = HEADER_LEN;
        for a in &self.addrs {
            let bytes = match a {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            buf[o..o + bytes.len()].copy_from_slice(&bytes);
            o += bytes.len();
        }
        let c = checksum::finish(sum(&buf[..len], self.version(), src, dst));
        buf[6..8].copy_from_slice(&c.to_be_bytes());
        Ok(len)
    }

    /// Encode into a fresh vector (empty when the families disagree).
    pub fn to_bytes(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        match self.emit(&mut v, src, dst) {
            Ok(_) => v,
            Err(_) => Vec::new(),
        }
    }
}

fn sum(msg: &[u8], version: u8, src: IpAddr, dst: IpAddr) -> u32 {
    let mut acc = checksum::sum(msg);
    if version == 3 {
        acc += match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                checksum::pseudo_header_v4(s.octets(), d.octets(), PROTOCOL, msg.len() as u16)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                crate::ipv6::pseudo_header_sum(s, d, PROTOCOL, msg.len() as u32)
            }
            // Mixed families carry no VRRP packet; make the sum fail.
            _ => 1,
        };
    }
    acc
}

/// True when the checksum of the VRRP message `buf` verifies (v2: message only;
/// v3: with the pseudo-header of `src`, `dst`, IPv4 or IPv6).
pub fn checksum_ok(buf: &[u8], src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
    if buf.is_empty() {
        return false;
    }
    checksum::finish(sum(buf, buf[0] >> 4, src.into(), dst.into())) == 0
}

/// The first 8 bytes of a PASS password, zero-padded, as it goes on the wire.
pub fn pass_auth_data(pass: &str) -> [u8; AUTH_LEN] {
    let mut d = [0u8; AUTH_LEN];
    for (o, b) in d.iter_mut().zip(pass.bytes()) {
        *o = b;
    }
    d
}

/// A whole IPv4 VRRP packet as keepalived builds it: TOS 0xc0 (network control),
/// no DF, TTL 255, protocol 112 (keepalived vrrp.c, vrrp_build_ip4).
pub fn ipv4_packet(repr: &VrrpRepr, src: Ipv4Addr, dst: Ipv4Addr, ident: u16) -> Vec<u8> {
    let ip = crate::ipv4::Ipv4Repr {
        dscp_ecn: 0xc0,
        ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        ttl: TTL,
        protocol: PROTOCOL,
        src,
        dst,
        options: Vec::new(),
        payload_len: repr.buffer_len(),
    };
    let mut buf = vec![0u8; ip.header_len() + repr.buffer_len()];
    // Cannot fail: sized above.
    let hl = ip.emit(&mut buf).unwrap_or(crate::ipv4::MIN_HEADER_LEN);
    let _ = repr.emit(&mut buf[hl..], src, dst);
    buf
}

/// What a raw IPv4 socket hands over for protocol 112: the IP header fields the
/// VRRP checks need, and the VRRP message (exactly total length - header length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Meta {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// True when the IP total length equals the bytes received.
    pub total_len_matches: bool,
}

/// Split a received IPv4 datagram (header included, as raw sockets deliver it).
pub fn split_ipv4(datagram: &[u8]) -> Result<(Ipv4Meta, &[u8]), ParseError> {
    let (ip, info) = crate::ipv4::Ipv4Repr::parse(datagram)?;
    let meta = Ipv4Meta {
        src: ip.src,
        dst: ip.dst,
        ttl: ip.ttl,
        protocol: ip.protocol,
        total_len_matches: info.total_len == datagram.len(),
    };
    Ok((meta, &datagram[info.header_len..info.total_len]))
}

/// A whole IPv6 VRRP packet as keepalived's socket sends it: traffic class
/// 0xc0, flow label 0, hop limit 255, next header 112, no extension headers.
pub fn ipv6_packet(repr: &VrrpRepr, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let ip = crate::ipv6::Ipv6Repr {
        traffic_class: TRAFFIC_CLASS_V6,
        flow_label: 0,
        payload_len: repr.buffer_len(),
        next_header: PROTOCOL,
        hop_limit: TTL,
        src,
        dst,
    };
    let mut buf = vec![0u8; crate::ipv6::HEADER_LEN + repr.buffer_len()];
    // Cannot fail: sized above.
    let _ = ip.emit(&mut buf);
    let _ = repr.emit(&mut buf[crate::ipv6::HEADER_LEN..], src, dst);
    buf
}

/// Split a whole IPv6 VRRP packet (as captured): the header and the VRRP
/// message; an error when the next header is not 112.
pub fn split_ipv6(packet: &[u8]) -> Result<(crate::ipv6::Ipv6Repr, &[u8]), ParseError> {
    let (ip, payload) = crate::ipv6::Ipv6Repr::parse(packet)?;
    if ip.next_header != PROTOCOL {
        return Err(invalid(
            "vrrp over ipv6",
            "next header",
            ip.next_header.into(),
        ));
    }
    Ok((ip, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

    /// v2 by hand from RFC 3768 section 5.1: vrid 51, prio 150, one address
    /// 203.0.113.100, auth PASS "secret", 1 s.
    #[test]
    fn v2_hand_vector() {
        let bytes: [u8; 20] = [
            0x21, 51, 150, 1, // version 2, type 1; vrid; priority; count
            1, 1, 0x00, 0x00, // auth PASS; adver int 1 s; checksum (filled below)
            203, 0, 113, 100, // address
            b's', b'e', b'c', b'r', b'e', b't', 0, 0, // auth data
        ];
        // Checksum by hand: sum of the 16-bit words with the checksum field zero.
        let words: u32 = [
            0x2133u32, 0x9601, 0x0101, 0xcb00, 0x7164, 0x7365, 0x6372, 0x6574, 0x0000,
        ]
        .iter()
        .sum();
        let folded = (words & 0xffff) + (words >> 16);
        let want = !(folded as u16);
        let mut v = bytes;
        v[6..8].copy_from_slice(&want.to_be_bytes());

        let repr = VrrpRepr {
            kind: TYPE_ADVERT,
            vrid: 51,
            priority: 150,
            addrs: vec![Ipv4Addr::new(203, 0, 113, 100).into()],
            timing: Timing::V2 {
                auth_type: AUTH_PASS,
                adver_int_s: 1,
                auth_data: pass_auth_data("secret"),
            },
        };
        // v2 ignores the addresses of the IP header.
        assert_eq!(repr.to_bytes(SRC, MCAST_GROUP), v.to_vec());
        assert_eq!(repr.to_bytes(Ipv4Addr::UNSPECIFIED, SRC), v.to_vec());
        assert_eq!(VrrpRepr::parse(&v, SRC, MCAST_GROUP).unwrap(), repr);
        assert_eq!(repr.adver_int_cs(), 100);
    }

    /// v3 by hand from RFC 5798 section 5.1, checksum with the pseudo-header.
    #[test]
    fn v3_hand_vector() {
        let mut v: [u8; 12] = [
            0x31, 51, 100, 1, // version 3, type 1; vrid; priority; count
            0x00, 50, 0, 0, // rsvd + max adver int 50 cs; checksum
            203, 0, 113, 100,
        ];
        // Pseudo-header: src, dst, zero, proto 112, length 12.
        let ph: u32 = 0xcb00 + 0x7101 + 0xe000 + 0x0012 + 112 + 12;
        let words: u32 = [0x3133u32, 0x6401, 0x0032, 0xcb00, 0x7164].iter().sum();
        let mut acc = ph + words;
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        v[6..8].copy_from_slice(&(!(acc as u16)).to_be_bytes());
        let repr = VrrpRepr {
            kind: TYPE_ADVERT,
            vrid: 51,
            priority: 100,
            addrs: vec![Ipv4Addr::new(203, 0, 113, 100).into()],
            timing: Timing::V3 {
                max_adver_int_cs: 50,
            },
        };
        assert_eq!(repr.to_bytes(SRC, MCAST_GROUP), v.to_vec());
        assert_eq!(VrrpRepr::parse(&v, SRC, MCAST_GROUP).unwrap(), repr);
        // The pseudo-header matters: another source breaks the checksum.
        let other = Ipv4Addr::new(203, 0, 113, 2);
        assert!(VrrpRepr::parse(&v, other, MCAST_GROUP).is_err());
        assert!(VrrpRepr::parse_unchecked(&v, Family::Ipv4).is_ok());
    }

    #[test]
    fn v3_reserved_bits_ignored_and_length_checked() {
        let repr = VrrpRepr {
            kind: TYPE_ADVERT,
            vrid: 7,
            priority: 200,
            addrs: vec![],
            timing: Timing::V3 {
                max_adver_int_cs: 4095,
            },
        };
        let mut v = repr.to_bytes(SRC, MCAST_GROUP);
        assert_eq!(v.len(), 8);
        v[4] |= 0xf0;
        assert_eq!(VrrpRepr::parse_unchecked(&v, Family::Ipv4).unwrap(), repr);
        let mut long = repr.to_bytes(SRC, MCAST_GROUP);
        long.push(0);
        assert!(VrrpRepr::parse_unchecked(&long, Family::Ipv4).is_err());
        assert!(VrrpRepr::parse_unchecked(&long[..5], Family::Ipv4).is_err());
        let mut bad = repr.to_bytes(SRC, MCAST_GROUP);
        bad[0] = 0x41;
        assert!(matches!(
            VrrpRepr::parse_unchecked(&bad, Family::Ipv4),
            Err(ParseError::Invalid {
                field: "version",
                ..
            })
        ));
    }

    /// Captured with tcpdump from keepalived 2.2.7 (Debian) in a namespace:
    /// `vrrp_instance { interface eth0; virtual_router_id 51; priority 150;
    /// advert_int 1; authentication { auth_type PASS; auth_pass secret }
    /// virtual_ipaddress { 203.0.113.100 } }` on 203.0.113.1 (whole IP packet).
    const KEEPALIVED_V2: &str = "45c0002800010000ff709e90cb007101e000001221339601010\
     1cf18cb0071647365637265740000";

    /// keepalived 2.2.7, `vrrp_version 3`, same instance with advert_int 0.5 and
    /// priority 100, no auth (v3 has none).
    const KEEPALIVED_V3: &str = "45c0002000010000ff709e98cb007101e00000123133640100\
     3211a3cb007164";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn keepalived_v2_capture() {
        let pkt = hex(KEEPALIVED_V2);
        let (meta, msg) = split_ipv4(&pkt).unwrap();
        assert_eq!(meta.ttl, TTL);
        assert_eq!(meta.protocol, PROTOCOL);
        assert_eq!(meta.dst, MCAST_GROUP);
        assert!(meta.total_len_matches);
        let repr = VrrpRepr::parse(msg, meta.src, meta.dst).unwrap();
        assert_eq!(repr.vrid, 51);
        assert_eq!(repr.priority, 150);
        assert_eq!(
            repr.timing,
            Timing::V2 {
                auth_type: AUTH_PASS,
                adver_int_s: 1,
                auth_data: pass_auth_data("secret")
            }
        );
        // Our encoder gives the same bytes, IP header included (same IP ident).
        assert_eq!(ipv4_packet(&repr, meta.src, meta.dst, 1), pkt);
    }

    #[test]
    fn keepalived_v3_capture() {
        let pkt = hex(KEEPALIVED_V3);
        let (meta, msg) = split_ipv4(&pkt).unwrap();
        let repr = VrrpRepr::parse(msg, meta.src, meta.dst).unwrap();
        assert_eq!(repr.version(), 3);
        assert_eq!(repr.adver_int_cs(), 50);
        assert_eq!(
            repr.addrs,
            vec![IpAddr::V4(Ipv4Addr::new(203, 0, 113, 100))]
        );
        assert_eq!(ipv4_packet(&repr, meta.src, meta.dst, 1), pkt);
    }

    #[test]
    fn round_trips_every_shape() {
        let dst = [MCAST_GROUP, Ipv4Addr::new(203, 0, 113, 9)];
        for n in [0usize, 1, 2, 7, 255] {
            let addrs: Vec<IpAddr> = (0..n)
                .map(|i| Ipv4Addr::new(198, 51, 100, i as u8).into())
                .collect();
            for timing in [
                Timing::V2 {
                    auth_type: AUTH_NONE,
                    adver_int_s: 255,
                    auth_data: [0; 8],
                },
                Timing::V2 {
                    auth_type: AUTH_PASS,
                    adver_int_s: 1,
                    auth_data: pass_auth_data("12345678"),
                },
                Timing::V3 {
                    max_adver_int_cs: 1,
                },
                Timing::V3 {
                    max_adver_int_cs: 0x0fff,
                },
            ] {
                for prio in [0u8, 1, 100, 255] {
                    let r = VrrpRepr {
                        kind: TYPE_ADVERT,
                        vrid: prio ^ 0x5a,
                        priority: prio,
                        addrs: addrs.clone(),
                        timing,
                    };
                    for d in dst {
                        let b = r.to_bytes(SRC, d);
                        assert_eq!(b.len(), r.buffer_len());
                        assert_eq!(VrrpRepr::parse(&b, SRC, d).unwrap(), r);
                        let ip = ipv4_packet(&r, SRC, d, 7);
                        let (m, msg) = split_ipv4(&ip).unwrap();
                        assert_eq!((m.src, m.dst, m.ttl), (SRC, d, TTL));
                        assert_eq!(msg, &b[..]);
                    }
                }
            }
        }
    }

    /// keepalived 2.2.7 on a veth with MAC 02:00:5e:00:00:0a and link-local
    /// fe80::1 only: `virtual_router_id 52; priority 150; advert_int 1;
    /// virtual_ipaddress { 2001:db8::100/64 }` (IPv6 implies VRRPv3); the
    /// whole Ethernet frame, tcpdump -w.
    const KEEPALIVED_V3_IPV6: &str = "33330000001202005e00000a86dd6c0e49af001870ff\
     fe800000000000000000000000000001ff020000000000000000000000000012\
     3134960100640b8e20010db8000000000000000000000100";

    #[test]
    fn keepalived_v3_ipv6_capture() {
        let frame = hex(KEEPALIVED_V3_IPV6);
        assert_eq!(&frame[..6], &[0x33, 0x33, 0, 0, 0, 0x12]);
        let (ip, msg) = split_ipv6(&frame[14..]).unwrap();
        assert_eq!(ip.dst, MCAST_GROUP_V6);
        assert!(crate::ipv6::is_link_local(ip.src));
        assert_eq!((ip.hop_limit, ip.traffic_class), (TTL, TRAFFIC_CLASS_V6));
        let repr = VrrpRepr::parse(msg, ip.src, ip.dst).unwrap();
        assert_eq!((repr.version(), repr.vrid, repr.priority), (3, 52, 150));
        assert_eq!(repr.adver_int_cs(), 100);
        assert_eq!(repr.addrs, vec!["2001:db8::100".parse::<IpAddr>().unwrap()]);
        // Same bytes from our encoder; the flow label is the kernel's
        // (net.ipv6.auto_flowlabels), not keepalived's, so copy it over.
        let mut ours = ipv6_packet(&repr, ip.src, ip.dst);
        ours[1..4].copy_from_slice(&frame[15..18]);
        assert_eq!(ours, frame[14..]);
        // The v4 pseudo-header would not verify, nor would another source.
        assert!(!checksum_ok(
            msg,
            Ipv4Addr::new(203, 0, 113, 1),
            MCAST_GROUP
        ));
        let other: Ipv6Addr = "fe80::2".parse().unwrap();
        assert!(VrrpRepr::parse(msg, other, ip.dst).is_err());
        // Read as IPv4 the 16-byte address makes the length wrong.
        assert!(VrrpRepr::parse_unchecked(msg, Family::Ipv4).is_err());
    }

    /// RFC 5798 §5.1 / §5.2.8 over IPv6 by hand: vrid 7, prio 100, 2 addresses.
    #[test]
    fn v3_ipv6_hand_vector() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let a1: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let a2: Ipv6Addr = "fe80::100".parse().unwrap();
        let mut v = vec![0x31, 7, 100, 2, 0x00, 100, 0, 0];
        v.extend_from_slice(&a1.octets());
        v.extend_from_slice(&a2.octets());
        let words = |b: &[u8]| -> u32 {
            b.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum()
        };
        // Pseudo-header: src, dst, 32-bit length 40, next header 112.
        let mut acc = words(&src.octets()) + words(&MCAST_GROUP_V6.octets()) + 40 + 112 + words(&v);
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        v[6..8].copy_from_slice(&(!(acc as u16)).to_be_bytes());
        let repr = VrrpRepr {
            kind: TYPE_ADVERT,
            vrid: 7,
            priority: 100,
            addrs: vec![a1.into(), a2.into()],
            timing: Timing::V3 {
                max_adver_int_cs: 100,
            },
        };
        assert_eq!(repr.buffer_len(), 40);
        assert_eq!(repr.to_bytes(src, MCAST_GROUP_V6), v);
        assert_eq!(VrrpRepr::parse(&v, src, MCAST_GROUP_V6).unwrap(), repr);
        // Families must agree.
        assert!(repr.emit(&mut [0u8; 64], SRC, MCAST_GROUP).is_err());
        assert!(repr.to_bytes(src, MCAST_GROUP).is_empty());
    }

    #[test]
    fn corrupted_byte_fails_checksum() {
        let pkt = hex(KEEPALIVED_V2);
        let (meta, msg) = split_ipv4(&pkt).unwrap();
        let mut m = msg.to_vec();
        m[2] ^= 1;
        assert!(!checksum_ok(&m, meta.src, meta.dst));
        assert!(VrrpRepr::parse(&m, meta.src, meta.dst).is_err());
    }
}
