//! ICMPv6 neighbour discovery (RFC 4861): advertisements (§4.4) parse/emit
//! with the pseudo-header checksum, the unsolicited advertisement a new VRRP
//! master sends for each IPv6 VIP (the IPv6 counterpart of a gratuitous
//! ARP), and the solicitation (§4.3) the data plane sends to resolve a real
//! server or client (the IPv6 counterpart of an ARP request).
//!
//! ```text
//! |     Type 136  |     Code 0    |          Checksum             |
//! |R|S|O|                     Reserved                            |
//! |                   Target Address (16 bytes)                   |
//! | Opt type 2    | Opt len 1     |  Target link-layer address... |
//! ```

use std::net::Ipv6Addr;

use crate::ethernet::{invalid, need, EthernetRepr, MacAddr, ParseError};
use crate::ipv6::{self, Ipv6Repr, ALL_NODES, ETHERTYPE_IPV6, PROTO_ICMPV6};

pub const TYPE_NEIGHBOUR_SOLICIT: u8 = 135;
pub const TYPE_NEIGHBOUR_ADVERT: u8 = 136;
/// Hop limit every neighbour discovery message carries (RFC 4861 §6.1.2
/// and §7.1.2: receivers drop anything else).
pub const ND_HOP_LIMIT: u8 = 255;
/// NA without options.
pub const NA_LEN: usize = 24;
const OPT_TARGET_LLADDR: u8 = 2;
/// An NA with the target link-layer address option for an Ethernet MAC.
pub const NA_WITH_LLADDR_LEN: usize = NA_LEN + 8;
/// The whole Ethernet frame of [`unsolicited_na_frame`].
pub const UNSOLICITED_NA_FRAME_LEN: usize =
    crate::ethernet::HEADER_LEN + ipv6::HEADER_LEN + NA_WITH_LLADDR_LEN;

/// A decoded neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourAdvert {
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation (never set in an unsolicited NA).
    pub solicited: bool,
    /// O: replace the cached link-layer address.
    pub override_flag: bool,
    pub target: Ipv6Addr,
    /// The Target Link-Layer Address option, when present.
    pub target_lladdr: Option<MacAddr>,
}

impl NeighbourAdvert {
    pub fn buffer_len(&self) -> usize {
        if self.target_lladdr.is_some() {
            NA_WITH_LLADDR_LEN
        } else {
            NA_LEN
        }
    }

    /// Decode an ICMPv6 message (exactly the IPv6 payload) and verify its
    /// checksum under the pseudo-header of `src` -> `dst`. Options other
    /// than the target link-layer address are skipped.
    pub fn parse(msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<NeighbourAdvert, ParseError> {
        need("neighbour advert", msg, NA_LEN)?;
        if msg[0] != TYPE_NEIGHBOUR_ADVERT {
            return Err(invalid("neighbour advert", "type", msg[0].into()));
        }
        if msg[1] != 0 {
            return Err(invalid("neighbour advert", "code", msg[1].into()));
        }
        if ipv6::upper_layer_checksum(src, dst, PROTO_ICMPV6, msg) != 0 {
            let c = u16::from_be_bytes([msg[2], msg[3]]);
            return Err(invalid("neighbour advert", "checksum", c.into()));
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&msg[8..24]);
        let mut target_lladdr = None;
        let mut opts = &msg[NA_LEN..];
        while opts.len() >= 2 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return Err(invalid("neighbour advert", "option length", opts[1].into()));
            }
            if opts[0] == OPT_TARGET_LLADDR && len == 8 {
                let mut m = [0u8; 6];
                m.copy_from_slice(&opts[2..8]);
                target_lladdr = Some(MacAddr(m));
            }
            opts = &opts[len..];
        }
        Ok(NeighbourAdvert {
            router: msg[4] & 0x80 != 0,
            solicited: msg[4] & 0x40 != 0,
            override_flag: msg[4] & 0x20 != 0,
            target: Ipv6Addr::from(target),
            target_lladdr,
        })
    }

    /// Write the message with its checksum for `src` -> `dst`; returns its length.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, ParseError> {
        let len = self.buffer_len();
        need("neighbour advert emit", buf, len)?;
        let msg = &mut buf[..len];
        msg.fill(0);
        msg[0] = TYPE_NEIGHBOUR_ADVERT;
        msg[4] = u8::from(self.router) << 7
            | u8::from(self.solicited) << 6
            | u8::from(self.override_flag) << 5;
        msg[8..24].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.target_lladdr {
            msg[24] = OPT_TARGET_LLADDR;
            msg[25] = 1;
            msg[26..32].copy_from_slice(&mac.0);
        }
        let c = ipv6::upper_layer_checksum(src, dst, PROTO_ICMPV6, msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        Ok(len)
    }
}

/// The unsolicited NA keepalived 2.2.7 sends for IPv6 VIP `vip` from an
/// interface with MAC `mac` (vrrp_ndisc.c, ndisc_send_unsolicited_na_immediate):
/// Ethernet to 33:33:00:00:00:01, IPv6 from the VIP itself to ff02::1 with
/// hop limit 255 and traffic class 0, Override set, Solicited clear, Router
/// set only when the interface forwards IPv6, and the target link-layer option.
pub fn unsolicited_na_frame(
    mac: MacAddr,
    vip: Ipv6Addr,
    router: bool,
) -> [u8; UNSOLICITED_NA_FRAME_LEN] {
    let na = NeighbourAdvert {
        router,
        solicited: false,
        override_flag: true,
        target: vip,
        target_lladdr: Some(mac),
    };
    let ip = Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: NA_WITH_LLADDR_LEN,
        next_header: PROTO_ICMPV6,
        hop_limit: ND_HOP_LIMIT,
        src: vip,
        dst: ALL_NODES,
    };
    let eth = EthernetRepr::untagged(ipv6::multicast_mac(ALL_NODES), mac, ETHERTYPE_IPV6);
    let mut f = [0u8; UNSOLICITED_NA_FRAME_LEN];
    // Cannot fail: the array holds all three parts.
    let e = eth.emit(&mut f).unwrap_or(crate::ethernet::HEADER_LEN);
    let i = ip.emit(&mut f[e..]).unwrap_or(ipv6::HEADER_LEN);
    let _ = na.emit(&mut f[e + i..], vip, ALL_NODES);
    f
}

/// Decode a whole Ethernet frame carrying a neighbour advertisement; returns
/// the IPv6 header and the advert (checksum verified).
pub fn parse_na_frame(
    frame: &[u8],
) -> Result<(EthernetRepr, Ipv6Repr, NeighbourAdvert), ParseError> {
    let (eth, off) = EthernetRepr::parse(frame)?;
    if eth.ethertype != ETHERTYPE_IPV6 {
        return Err(invalid("na frame", "ethertype", eth.ethertype.into()));
    }
    let (ip, payload) = Ipv6Repr::parse(&frame[off..])?;
    if ip.next_header != PROTO_ICMPV6 {
        return Err(invalid("na frame", "next header", ip.next_header.into()));
    }
    let na = NeighbourAdvert::parse(payload, ip.src, ip.dst)?;
    Ok((eth, ip, na))
}

const OPT_SOURCE_LLADDR: u8 = 1;
/// NS with the source link-layer address option for an Ethernet MAC.
pub const NS_WITH_LLADDR_LEN: usize = 32;

/// The solicited-node multicast group of `target`: ff02::1:ff00:0/104 and
/// the target's low 24 bits (RFC 4291 §2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// A neighbour solicitation for `target` from `src` (an address of ours) and
/// MAC `mac`, multicast to the target's solicited-node group, with the
/// source link-layer address option, hop limit 255: the whole Ethernet frame.
pub fn solicit_frame(mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst = solicited_node(target);
    let ip = Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: NS_WITH_LLADDR_LEN,
        next_header: PROTO_ICMPV6,
        hop_limit: ND_HOP_LIMIT,
        src,
        dst,
    };
    let eth = EthernetRepr::untagged(ipv6::multicast_mac(dst), mac, ETHERTYPE_IPV6);
    let mut f = vec![0u8; crate::ethernet::HEADER_LEN + ipv6::HEADER_LEN + NS_WITH_LLADDR_LEN];
    // Cannot fail: sized for all three parts.
    let e = eth.emit(&mut f).unwrap_or(crate::ethernet::HEADER_LEN);
    let i = ip.emit(&mut f[e..]).unwrap_or(ipv6::HEADER_LEN);
    let msg = &mut f[e + i..];
    msg[0] = TYPE_NEIGHBOUR_SOLICIT;
    msg[8..24].copy_from_slice(&target.octets());
    msg[24] = OPT_SOURCE_LLADDR;
    msg[25] = 1;
    msg[26..32].copy_from_slice(&mac.0);
    let c = ipv6::upper_layer_checksum(src, dst, PROTO_ICMPV6, msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    f
}

/// What a neighbour discovery frame teaches about a neighbour's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourInfo {
    /// An advertisement: `addr` is at `mac` (its target link-layer option,
    /// else the frame's source MAC).
    Advert { addr: Ipv6Addr, mac: MacAddr },
    /// A solicitation from `addr` (not the unspecified address) with its
    /// source link-layer option `mac`.
    Solicit { addr: Ipv6Addr, mac: MacAddr },
}

/// Read an NA or NS frame (checksum and hop limit 255 verified, RFC 4861
/// §7.1); `None` for anything else.
pub fn neighbour_info(frame: &[u8]) -> Option<NeighbourInfo> {
    let (eth, off) = EthernetRepr::parse(frame).ok()?;
    if eth.ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let (ip, msg) = Ipv6Repr::parse(&frame[off..]).ok()?;
    if ip.next_header != PROTO_ICMPV6 || ip.hop_limit != ND_HOP_LIMIT || msg.len() < NA_LEN {
        return None;
    }
    match msg[0] {
        TYPE_NEIGHBOUR_ADVERT => {
            let na = NeighbourAdvert::parse(msg, ip.src, ip.dst).ok()?;
            Some(NeighbourInfo::Advert {
                addr: na.target,
                mac: na.target_lladdr.unwrap_or(eth.src),
            })
        }
        TYPE_NEIGHBOUR_SOLICIT if !ip.src.is_unspecified() => {
            if ipv6::upper_layer_checksum(ip.src, ip.dst, PROTO_ICMPV6, msg) != 0 {
                return None;
            }
            let mut opts = &msg[24..];
            while opts.len() >= 8 && opts[1] != 0 {
                let len = usize::from(opts[1]) * 8;
                if opts[0] == OPT_SOURCE_LLADDR && len == 8 {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(&opts[2..8]);
                    return Some(NeighbourInfo::Solicit {
                        addr: ip.src,
                        mac: MacAddr(m),
                    });
                }
                opts = opts.get(len..)?;
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0, 0x5e, 0, 0, 0x0a]);

    fn vip() -> Ipv6Addr {
        "2001:db8::100".parse().unwrap()
    }

    /// The frame by hand, field by field (RFC 4861 §4.4, RFC 2464 §7).
    #[test]
    fn unsolicited_na_hand_vector() {
        let mut want: Vec<u8> = vec![
            0x33, 0x33, 0, 0, 0, 1, // to all nodes
            0x02, 0, 0x5e, 0, 0, 0x0a, // from our MAC
            0x86, 0xdd, // IPv6
            0x60, 0, 0, 0, 0, 32, 58, 255, // tc 0, flow 0, 32 bytes, ICMPv6, hop limit 255
        ];
        want.extend_from_slice(&vip().octets());
        want.extend_from_slice(&ALL_NODES.octets());
        want.extend_from_slice(&[136, 0, 0, 0, 0x20, 0, 0, 0]); // NA, O flag
        want.extend_from_slice(&vip().octets());
        want.extend_from_slice(&[2, 1, 0x02, 0, 0x5e, 0, 0, 0x0a]);
        // The checksum by hand: the pseudo-header (src, dst, length 32, next
        // header 58) plus the message's 16-bit words.
        let words = |b: &[u8]| -> u32 {
            b.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum()
        };
        let mut acc = words(&want[22..54]) + 32 + 58 + words(&want[54..]);
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        want[56..58].copy_from_slice(&(!(acc as u16)).to_be_bytes());
        let f = unsolicited_na_frame(MAC, vip(), false);
        assert_eq!(f.to_vec(), want);

        let (eth, ip, na) = parse_na_frame(&f).unwrap();
        assert_eq!(eth.dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!((ip.hop_limit, ip.src, ip.dst), (255, vip(), ALL_NODES));
        assert_eq!(
            na,
            NeighbourAdvert {
                router: false,
                solicited: false,
                override_flag: true,
                target: vip(),
                target_lladdr: Some(MAC),
            }
        );
    }

    /// keepalived 2.2.7 becoming master for 2001:db8::100 on an interface
    /// with MAC 02:00:5e:00:00:0a, forwarding off (tcpdump -w, whole frame).
    const KEEPALIVED_NA: &str = "333300000001\
     02005e00000a86dd6000000000203aff20010db8000000000000000000000100\
     ff020000000000000000000000000001880099232000000020010db8000000000000\
     000000000100020102005e00000a";

    #[test]
    fn keepalived_unsolicited_na_capture() {
        let frame: Vec<u8> = (0..KEEPALIVED_NA.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&KEEPALIVED_NA[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(unsolicited_na_frame(MAC, vip(), false).to_vec(), frame);
        let (_, ip, na) = parse_na_frame(&frame).unwrap();
        assert_eq!(ip.hop_limit, ND_HOP_LIMIT);
        assert!(na.override_flag && !na.solicited && !na.router);
    }

    /// An NS by hand (RFC 4861 §4.3): fe80::5 asks for 2001:db8::abcd:1234
    /// at ff02::1:ffcd:1234 (MAC 33:33:ff:cd:12:34).
    #[test]
    fn solicitation_hand_vector_and_learning() {
        let src: Ipv6Addr = "fe80::5".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::abcd:1234".parse().unwrap();
        let group: Ipv6Addr = "ff02::1:ffcd:1234".parse().unwrap();
        assert_eq!(solicited_node(target), group);
        let f = solicit_frame(MAC, src, target);
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0xcd, 0x12, 0x34]);
        let (ip, msg) = Ipv6Repr::parse(&f[14..]).unwrap();
        assert_eq!((ip.src, ip.dst, ip.hop_limit), (src, group, 255));
        let mut want = vec![135, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&target.octets());
        want.extend_from_slice(&[1, 1, 0x02, 0, 0x5e, 0, 0, 0x0a]);
        let c = ipv6::upper_layer_checksum(src, group, PROTO_ICMPV6, &want);
        want[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(msg, &want[..]);
        assert_eq!(
            neighbour_info(&f),
            Some(NeighbourInfo::Solicit {
                addr: src,
                mac: MAC
            })
        );
        let na = unsolicited_na_frame(MAC, vip(), false);
        assert_eq!(
            neighbour_info(&na),
            Some(NeighbourInfo::Advert {
                addr: vip(),
                mac: MAC
            })
        );
        // Hop limit other than 255: not neighbour discovery.
        let mut routed = na;
        routed[21] = 64;
        assert_eq!(neighbour_info(&routed), None);
    }

    #[test]
    fn router_flag_and_round_trips() {
        let f = unsolicited_na_frame(MAC, vip(), true);
        assert_eq!(f[14 + 40 + 4], 0xa0);
        let (_, _, na) = parse_na_frame(&f).unwrap();
        assert!(na.router && na.override_flag && !na.solicited);
        for flags in 0..8u8 {
            for ll in [None, Some(MAC)] {
                let na = NeighbourAdvert {
                    router: flags & 4 != 0,
                    solicited: flags & 2 != 0,
                    override_flag: flags & 1 != 0,
                    target: vip(),
                    target_lladdr: ll,
                };
                let src: Ipv6Addr = "fe80::1".parse().unwrap();
                let mut b = vec![0u8; na.buffer_len()];
                assert_eq!(na.emit(&mut b, src, ALL_NODES), Ok(na.buffer_len()));
                assert_eq!(NeighbourAdvert::parse(&b, src, ALL_NODES), Ok(na));
            }
        }
    }

    #[test]
    fn bad_checksum_type_and_options_are_rejected() {
        let f = unsolicited_na_frame(MAC, vip(), false);
        let msg = &f[54..];
        let other: Ipv6Addr = "2001:db8::1".parse().unwrap();
        // The pseudo-header binds the source address.
        assert!(NeighbourAdvert::parse(msg, other, ALL_NODES).is_err());
        let mut bad = msg.to_vec();
        bad[0] = TYPE_NEIGHBOUR_SOLICIT;
        assert!(matches!(
            NeighbourAdvert::parse(&bad, vip(), ALL_NODES),
            Err(ParseError::Invalid { field: "type", .. })
        ));
        let mut zero_len = msg.to_vec();
        zero_len[25] = 0;
        assert!(NeighbourAdvert::parse(&zero_len, vip(), ALL_NODES).is_err());
        assert!(NeighbourAdvert::parse(&msg[..20], vip(), ALL_NODES).is_err());
    }
}
