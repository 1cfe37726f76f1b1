//! Ethernet II frames with up to two VLAN tags (802.1Q, and 802.1ad QinQ), and
//! the parse error shared by the L2-L4 views of this crate (ethernet, ipv4,
//! tcp, udp, icmp). Addresses are the shared [`MacAddr`].

use std::fmt;

pub use packet::MacAddr;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// TPID of an 802.1Q (customer) tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// TPID of an 802.1ad service tag, the outer tag of a QinQ frame.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// An untagged header: destination, source, ethertype.
pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;
/// Tags [`EthernetRepr`] takes: an outer (service) tag and an inner (customer) tag.
pub const MAX_VLAN_TAGS: usize = 2;

/// Why a buffer is not a valid packet of the named layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    Invalid {
        what: &'static str,
        field: &'static str,
        value: u32,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Truncated { what, need, got } => {
                write!(f, "{what}: truncated, need {need} bytes, got {got}")
            }
            ParseError::Invalid { what, field, value } => {
                write!(f, "{what}: invalid {field} {value}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

pub(crate) fn need(what: &'static str, buf: &[u8], n: usize) -> Result<(), ParseError> {
    if buf.len() < n {
        Err(ParseError::Truncated {
            what,
            need: n,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// `field` of `what` holds a value the format does not allow.
pub(crate) fn invalid(what: &'static str, field: &'static str, value: u32) -> ParseError {
    ParseError::Invalid { what, field, value }
}

/// One VLAN tag: its TPID ([`ETHERTYPE_VLAN`] or [`ETHERTYPE_QINQ`]) and its
/// tag control information (PCP 3 bits, DEI 1 bit, VID 12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    pub tpid: u16,
    pub tci: u16,
}

impl VlanTag {
    /// The VLAN identifier (low 12 bits of the TCI).
    pub fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }

    /// The priority code point (top 3 bits of the TCI).
    pub fn pcp(&self) -> u8 {
        (self.tci >> 13) as u8
    }
}

fn is_vlan_tpid(t: u16) -> bool {
    t == ETHERTYPE_VLAN || t == ETHERTYPE_QINQ
}

/// The decoded header: addresses, VLAN tags and the inner ethertype.
///
/// Tags, outermost first on the wire: `outer_vlan`, then `vlan_tci`.
/// - untagged: both `None`;
/// - one 802.1Q tag (TPID 0x8100): `vlan_tci`;
/// - one 802.1ad tag (TPID 0x88a8): `outer_vlan`;
/// - QinQ (0x88a8, or 0x8100 stacked as older switches do, then 0x8100):
///   `outer_vlan` and `vlan_tci`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    /// The service (outer) tag of a QinQ frame, with its TPID so that
    /// [`emit`](Self::emit) writes the frame back as it came.
    pub outer_vlan: Option<VlanTag>,
    /// 802.1Q tag control information (PCP, DEI, VID) of the customer tag
    /// (TPID 0x8100): the only tag of a single-tagged frame, the inner one of QinQ.
    pub vlan_tci: Option<u16>,
    /// The ethertype after the tags.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// An untagged header.
    pub fn untagged(dst: MacAddr, src: MacAddr, ethertype: u16) -> EthernetRepr {
        EthernetRepr {
            dst,
            src,
            outer_vlan: None,
            vlan_tci: None,
            ethertype,
        }
    }

    /// Decode the header and its VLAN tags; returns it and the offset of the
    /// payload (14, 18 or 22). More than [`MAX_VLAN_TAGS`] tags, or an 802.1ad
    /// tag inside another tag, is invalid.
    pub fn parse(buf: &[u8]) -> Result<(EthernetRepr, usize), ParseError> {
        need("ethernet", buf, HEADER_LEN)?;
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&buf[0..6]);
        src.copy_from_slice(&buf[6..12]);
        let be16 = |at: usize| u16::from_be_bytes([buf[at], buf[at + 1]]);
        let mut tags = [VlanTag { tpid: 0, tci: 0 }; MAX_VLAN_TAGS];
        let mut n = 0;
        let mut at = 12; // the TPID or ethertype being read
        let mut t = be16(at);
        while is_vlan_tpid(t) {
            if n == MAX_VLAN_TAGS {
                return Err(invalid("ethernet", "vlan tag count", n as u32 + 1));
            }
            let what = if t == ETHERTYPE_QINQ {
                "ethernet 802.1ad"
            } else {
                "ethernet 802.1Q"
            };
            need(what, buf, at + 2 + VLAN_TAG_LEN)?;
            tags[n] = VlanTag {
                tpid: t,
                tci: be16(at + 2),
            };
            n += 1;
            at += VLAN_TAG_LEN;
            t = be16(at);
        }
        let (outer_vlan, vlan_tci) = match n {
            0 => (None, None),
            1 if tags[0].tpid == ETHERTYPE_QINQ => (Some(tags[0]), None),
            1 => (None, Some(tags[0].tci)),
            _ if tags[1].tpid != ETHERTYPE_VLAN => {
                return Err(invalid("ethernet", "inner vlan tpid", tags[1].tpid.into()));
            }
            _ => (Some(tags[0]), Some(tags[1].tci)),
        };
        Ok((
            EthernetRepr {
                dst: MacAddr(dst),
                src: MacAddr(src),
                outer_vlan,
                vlan_tci,
                ethertype: t,
            },
            at + 2,
        ))
    }

    /// The tags in wire order, outermost first.
    pub fn vlan_tags(&self) -> impl Iterator<Item = VlanTag> {
        let inner = self.vlan_tci.map(|tci| VlanTag {
            tpid: ETHERTYPE_VLAN,
            tci,
        });
        self.outer_vlan.into_iter().chain(inner)
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + VLAN_TAG_LEN * self.vlan_tags().count()
    }

    /// Write the header (tags included) at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let n = self.header_len();
        need("ethernet emit", buf, n)?;
        buf[0..6].copy_from_slice(&self.dst.0);
        buf[6..12].copy_from_slice(&self.src.0);
        let mut at = 12;
        for tag in self.vlan_tags() {
            buf[at..at + 2].copy_from_slice(&tag.tpid.to_be_bytes());
            buf[at + 2..at + 4].copy_from_slice(&tag.tci.to_be_bytes());
            at += VLAN_TAG_LEN;
        }
        buf[at..at + 2].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(n)
    }
}

/// In-place: set the destination MAC of a frame (the whole of DR forwarding).
pub fn set_dst(frame: &mut [u8], mac: MacAddr) {
    if frame.len() >= 6 {
        frame[0..6].copy_from_slice(&mac.0);
    }
}

/// In-place: set the source MAC of a frame.
pub fn set_src(frame: &mut [u8], mac: MacAddr) {
    if frame.len() >= 12 {
        frame[6..12].copy_from_slice(&mac.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 14] = [0x02, 0, 0, 0, 0, 0x08, 0x02, 0, 0, 0, 0, 0x05, 0x08, 0x00];

    #[test]
    fn parse_emit_untagged() {
        let (r, off) = EthernetRepr::parse(&UNTAGGED).unwrap();
        assert_eq!(off, 14);
        assert_eq!(r.dst, MacAddr([2, 0, 0, 0, 0, 8]));
        assert_eq!(r.src.to_string(), "02:00:00:00:00:05");
        assert_eq!(r.ethertype, ETHERTYPE_IPV4);
        let mut out = [0u8; 14];
        assert_eq!(r.emit(&mut out).unwrap(), 14);
        assert_eq!(out, UNTAGGED);
    }

    #[test]
    fn parse_emit_vlan() {
        let bytes = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x20, 0x64, 0x08,
            0x06,
        ];
        let (r, off) = EthernetRepr::parse(&bytes).unwrap();
        assert_eq!(off, 18);
        assert_eq!(r.vlan_tci, Some(0x2064));
        assert_eq!(r.vlan_tci.map(|t| t & 0xfff), Some(100));
        assert_eq!(r.ethertype, ETHERTYPE_ARP);
        let mut out = [0u8; 18];
        r.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn parse_emit_qinq_8021ad() {
        // S-tag 0x88a8 PCP 5 VID 1000, C-tag 0x8100 VID 100, IPv4.
        let bytes = [
            0x02, 0, 0, 0, 0, 0x08, 0x02, 0, 0, 0, 0, 0x05, 0x88, 0xa8, 0xa3, 0xe8, 0x81, 0x00,
            0x00, 0x64, 0x08, 0x00,
        ];
        let (r, off) = EthernetRepr::parse(&bytes).unwrap();
        assert_eq!(off, 22);
        let outer = r.outer_vlan.unwrap();
        assert_eq!(
            (outer.tpid, outer.vid(), outer.pcp()),
            (ETHERTYPE_QINQ, 1000, 5)
        );
        assert_eq!(r.vlan_tci, Some(100));
        assert_eq!(r.ethertype, ETHERTYPE_IPV4);
        assert_eq!(r.header_len(), 22);
        let mut out = [0u8; 22];
        assert_eq!(r.emit(&mut out).unwrap(), 22);
        assert_eq!(out, bytes);
    }

    #[test]
    fn parse_emit_stacked_8021q() {
        // Two 0x8100 tags (QinQ as pre-802.1ad switches send it), VIDs 7 and 9.
        let bytes = [
            0x02, 0, 0, 0, 0, 0x08, 0x02, 0, 0, 0, 0, 0x05, 0x81, 0x00, 0x00, 0x07, 0x81, 0x00,
            0x00, 0x09, 0x08, 0x06,
        ];
        let (r, off) = EthernetRepr::parse(&bytes).unwrap();
        assert_eq!(off, 22);
        assert_eq!(
            r.outer_vlan,
            Some(VlanTag {
                tpid: ETHERTYPE_VLAN,
                tci: 7
            })
        );
        assert_eq!(r.vlan_tci, Some(9));
        assert_eq!(r.ethertype, ETHERTYPE_ARP);
        let mut out = [0u8; 22];
        r.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn parse_emit_single_8021ad() {
        // A lone S-tag, VID 300.
        let bytes = [
            0x02, 0, 0, 0, 0, 0x08, 0x02, 0, 0, 0, 0, 0x05, 0x88, 0xa8, 0x01, 0x2c, 0x08, 0x00,
        ];
        let (r, off) = EthernetRepr::parse(&bytes).unwrap();
        assert_eq!(off, 18);
        assert_eq!(r.outer_vlan.map(|t| (t.tpid, t.vid())), Some((0x88a8, 300)));
        assert_eq!(r.vlan_tci, None);
        let mut out = [0u8; 18];
        r.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn bad_tag_stacks_are_errors() {
        let mut f = UNTAGGED.to_vec();
        f.truncate(12);
        // Three tags.
        for _ in 0..3 {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(
            EthernetRepr::parse(&f),
            Err(ParseError::Invalid {
                what: "ethernet",
                field: "vlan tag count",
                value: 3
            })
        );
        // An 802.1ad tag inside an 802.1Q tag.
        let inner_ad = [
            0x02, 0, 0, 0, 0, 0x08, 0x02, 0, 0, 0, 0, 0x05, 0x81, 0x00, 0x00, 0x07, 0x88, 0xa8,
            0x00, 0x09, 0x08, 0x00,
        ];
        assert!(matches!(
            EthernetRepr::parse(&inner_ad),
            Err(ParseError::Invalid {
                field: "inner vlan tpid",
                value: 0x88a8,
                ..
            })
        ));
        // QinQ cut inside the inner tag.
        assert!(matches!(
            EthernetRepr::parse(&inner_ad[..20]),
            Err(ParseError::Truncated {
                need: 22,
                got: 20,
                ..
            })
        ));
    }

    #[test]
    fn untagged_constructor_emits_14_bytes() {
        let r = EthernetRepr::untagged(
            MacAddr([2, 0, 0, 0, 0, 8]),
            MacAddr([2, 0, 0, 0, 0, 5]),
            0x0800,
        );
        let mut out = [0u8; 14];
        assert_eq!(r.emit(&mut out).unwrap(), 14);
        assert_eq!(out, UNTAGGED);
        assert!(r.emit(&mut [0u8; 13]).is_err());
    }

    #[test]
    fn truncated_is_an_error() {
        assert!(matches!(
            EthernetRepr::parse(&UNTAGGED[..13]),
            Err(ParseError::Truncated {
                need: 14,
                got: 13,
                ..
            })
        ));
        let mut tagged = UNTAGGED;
        tagged[12] = 0x81;
        tagged[13] = 0x00;
        assert!(EthernetRepr::parse(&tagged).is_err());
    }

    #[test]
    fn set_dst_rewrites_only_dst() {
        let mut f = UNTAGGED;
        set_dst(&mut f, MacAddr([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(&f[6..], &UNTAGGED[6..]);
    }
}
