//! Ethernet II frames with an optional 802.1Q tag, and the parse error shared by
//! the L2-L4 views of this crate (ethernet, ipv4, tcp, udp, icmp).

use std::fmt;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;

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

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Mac, ParseError> {
        let bad = invalid("mac", "text", s.len() as u32);
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(bad);
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| bad.clone())?;
            n += 1;
        }
        if n != 6 {
            return Err(bad);
        }
        Ok(Mac(out))
    }
}

/// The decoded header: addresses, optional VLAN TCI and the inner ethertype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: Mac,
    pub src: Mac,
    /// 802.1Q tag control information (PCP, DEI, VID) when tagged.
    pub vlan_tci: Option<u16>,
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Decode the header; returns it and the offset of the payload.
    pub fn parse(buf: &[u8]) -> Result<(EthernetRepr, usize), ParseError> {
        need("ethernet", buf, HEADER_LEN)?;
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&buf[0..6]);
        src.copy_from_slice(&buf[6..12]);
        let t = u16::from_be_bytes([buf[12], buf[13]]);
        if t == ETHERTYPE_VLAN {
            need("ethernet 802.1Q", buf, HEADER_LEN + VLAN_TAG_LEN)?;
            let tci = u16::from_be_bytes([buf[14], buf[15]]);
            let inner = u16::from_be_bytes([buf[16], buf[17]]);
            return Ok((
                EthernetRepr {
                    dst: Mac(dst),
                    src: Mac(src),
                    vlan_tci: Some(tci),
                    ethertype: inner,
                },
                HEADER_LEN + VLAN_TAG_LEN,
            ));
        }
        Ok((
            EthernetRepr {
                dst: Mac(dst),
                src: Mac(src),
                vlan_tci: None,
                ethertype: t,
            },
            HEADER_LEN,
        ))
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + if self.vlan_tci.is_some() {
                VLAN_TAG_LEN
            } else {
                0
            }
    }

    /// Write the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let n = self.header_len();
        need("ethernet emit", buf, n)?;
        buf[0..6].copy_from_slice(&self.dst.0);
        buf[6..12].copy_from_slice(&self.src.0);
        if let Some(tci) = self.vlan_tci {
            buf[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            buf[14..16].copy_from_slice(&tci.to_be_bytes());
        }
        buf[n - 2..n].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(n)
    }
}

/// In-place: set the destination MAC of a frame (the whole of DR forwarding).
pub fn set_dst(frame: &mut [u8], mac: Mac) {
    if frame.len() >= 6 {
        frame[0..6].copy_from_slice(&mac.0);
    }
}

/// In-place: set the source MAC of a frame.
pub fn set_src(frame: &mut [u8], mac: Mac) {
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
        assert_eq!(r.dst, Mac([2, 0, 0, 0, 0, 8]));
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
    fn mac_text() {
        let m: Mac = "02:aa:0b:00:00:ff".parse().unwrap();
        assert_eq!(m.0, [2, 0xaa, 0x0b, 0, 0, 0xff]);
        assert!("02:aa:0b:00:00".parse::<Mac>().is_err());
        assert!("02:aa:0b:00:00:ff:1".parse::<Mac>().is_err());
        assert!("zz:aa:0b:00:00:ff".parse::<Mac>().is_err());
    }

    #[test]
    fn set_dst_rewrites_only_dst() {
        let mut f = UNTAGGED;
        set_dst(&mut f, Mac([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(&f[6..], &UNTAGGED[6..]);
    }
}
