//! The 48-bit Ethernet (MAC) address: one type for the packet summary, the
//! iptables `--mac-source` match, Neutron's port MACs and the director's frames.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A 48-bit Ethernet address. Prints as six lower-case two-digit hex groups
/// separated by `:`; serializes as its six bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Exactly six two-digit hex groups, each separated by `:` or `-`, either
    /// case (`fa:16:3e:00:00:05`, `FA-16-3E-00-00-05`): the forms Neutron's API
    /// takes (netaddr's EUI). Stricter than [`str::parse`], which is the
    /// kernel's and iptables' `:` form.
    pub fn parse_strict(text: &str) -> Option<MacAddr> {
        let parts: Vec<&str> = text.split([':', '-']).collect();
        if parts.len() != 6 {
            return None;
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            *o = u8::from_str_radix(p, 16).ok()?;
        }
        Some(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Text that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacParseError {
    /// The text as given.
    pub text: String,
}

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad MAC address {:?}", self.text)
    }
}

impl std::error::Error for MacParseError {}

impl std::str::FromStr for MacAddr {
    type Err = MacParseError;

    /// `aa:bb:cc:dd:ee:ff`, either case, each group one or two hex digits (as
    /// `iptables-save`, `/proc/net/arp` and `/sys/class/net/*/address` print it).
    fn from_str(s: &str) -> Result<MacAddr, MacParseError> {
        let bad = || MacParseError {
            text: s.to_string(),
        };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(bad());
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| bad())?;
            n += 1;
        }
        if n != 6 {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::MacAddr;

    #[test]
    fn colon_text() {
        let m: MacAddr = "02:aa:0b:00:00:ff".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0xaa, 0x0b, 0, 0, 0xff]));
        assert_eq!(m.to_string(), "02:aa:0b:00:00:ff");
        assert_eq!(
            "FA:16:3E:0:0:5".parse(),
            Ok(MacAddr([0xfa, 0x16, 0x3e, 0, 0, 5]))
        );
        assert!("02:aa:0b:00:00".parse::<MacAddr>().is_err());
        assert!("02:aa:0b:00:00:ff:1".parse::<MacAddr>().is_err());
        assert!("zz:aa:0b:00:00:ff".parse::<MacAddr>().is_err());
        assert!("02-aa-0b-00-00-ff".parse::<MacAddr>().is_err());
        assert_eq!(
            "x".parse::<MacAddr>().unwrap_err().to_string(),
            "bad MAC address \"x\""
        );
    }

    #[test]
    fn strict_text() {
        let want = Some(MacAddr([0xfa, 0x16, 0x3e, 0x0a, 0, 5]));
        assert_eq!(MacAddr::parse_strict("FA-16-3E-0a-00-05"), want);
        assert_eq!(MacAddr::parse_strict("fa:16:3e:0a:00:05"), want);
        assert_eq!(MacAddr::parse_strict("fa:16:3e:a:00:05"), None);
        assert_eq!(MacAddr::parse_strict("fa:16:3e:+a:00:05"), None);
        assert_eq!(MacAddr::parse_strict("fa:16:3e:0a:00"), None);
    }

    #[test]
    fn constants_and_serde_form() {
        assert_eq!(MacAddr::BROADCAST.0, [0xff; 6]);
        assert_eq!(MacAddr::default().0, [0; 6]);
        let m = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 5]);
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(j, "[250,22,62,0,0,5]");
        assert_eq!(serde_json::from_str::<MacAddr>(&j).unwrap(), m);
    }
}
