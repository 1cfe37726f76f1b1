//! ICMPv4 messages: type, code, the 4-byte rest-of-header and the body.

use crate::checksum;
use crate::ethernet::{need, ParseError};

pub const HEADER_LEN: usize = 8;
pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
/// Destination unreachable code 4: fragmentation needed (PMTU).
pub const FRAG_NEEDED: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpRepr {
    pub kind: u8,
    pub code: u8,
    /// Identifier+sequence (echo), next-hop MTU (frag needed), ...
    pub rest: [u8; 4],
    pub body: Vec<u8>,
}

impl IcmpRepr {
    /// Decode a message; the second value says whether its checksum verifies.
    pub fn parse(msg: &[u8]) -> Result<(IcmpRepr, bool), ParseError> {
        need("icmp", msg, HEADER_LEN)?;
        Ok((
            IcmpRepr {
                kind: msg[0],
                code: msg[1],
                rest: [msg[4], msg[5], msg[6], msg[7]],
                body: msg[HEADER_LEN..].to_vec(),
            },
            checksum::checksum(msg) == 0,
        ))
    }

    pub fn echo(request: bool, ident: u16, seq: u16, body: &[u8]) -> IcmpRepr {
        let mut rest = [0u8; 4];
        rest[..2].copy_from_slice(&ident.to_be_bytes());
        rest[2..].copy_from_slice(&seq.to_be_bytes());
        IcmpRepr {
            kind: if request { ECHO_REQUEST } else { ECHO_REPLY },
            code: 0,
            rest,
            body: body.to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let n = self.len();
        need("icmp emit", buf, n)?;
        buf[0] = self.kind;
        buf[1] = self.code;
        buf[2..4].copy_from_slice(&[0, 0]);
        buf[4..8].copy_from_slice(&self.rest);
        buf[HEADER_LEN..n].copy_from_slice(&self.body);
        let c = checksum::checksum(&buf[..n]);
        buf[2..4].copy_from_slice(&c.to_be_bytes());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_bytes() {
        let r = IcmpRepr::echo(true, 0x1234, 1, b"ab");
        let mut buf = [0u8; 10];
        assert_eq!(r.emit(&mut buf).unwrap(), 10);
        // 0800 + 1234 + 0001 + 6162 = 0x7b97 -> checksum !0x7b97 = 0x8468.
        assert_eq!(buf, [8, 0, 0x84, 0x68, 0x12, 0x34, 0, 1, b'a', b'b']);
        let (p, ok) = IcmpRepr::parse(&buf).unwrap();
        assert!(ok);
        assert_eq!(p, r);
        buf[9] = 0;
        assert!(!IcmpRepr::parse(&buf).unwrap().1);
        assert!(IcmpRepr::parse(&buf[..7]).is_err());
    }
}
