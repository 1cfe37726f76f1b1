//! ARP for Ethernet/IPv4 (RFC 826), parse/emit, and the gratuitous ARP frame
//! keepalived sends for each VIP when it becomes master.
//!
//! keepalived 2.2.7's gratuitous ARP (vrrp_arp.c, send_gratuitous_arp_immediate;
//! checked against a capture): Ethernet broadcast from the interface MAC, an ARP
//! *request* with sender = target = the VIP, sender MAC = interface MAC and
//! target MAC = ff:ff:ff:ff:ff:ff (not zero), 42 bytes with no padding.

use std::net::Ipv4Addr;

use crate::ethernet::{
    invalid, need, EthernetRepr, MacAddr, ParseError, ETHERTYPE_ARP, ETHERTYPE_IPV4,
};

/// ARP payload length for Ethernet/IPv4.
pub const PAYLOAD_LEN: usize = 28;
/// Ethernet header + ARP payload, no padding.
pub const FRAME_LEN: usize = crate::ethernet::HEADER_LEN + PAYLOAD_LEN;
pub const HTYPE_ETHERNET: u16 = 1;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// keepalived's gratuitous ARP for `vip` from `mac`.
    pub fn gratuitous(mac: MacAddr, vip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            op: OP_REQUEST,
            sender_mac: mac,
            sender_ip: vip,
            target_mac: MacAddr::BROADCAST,
            target_ip: vip,
        }
    }

    /// True for a gratuitous ARP (request or reply announcing its own address).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// Decode the ARP payload (after the Ethernet header). Only Ethernet/IPv4.
    pub fn parse(buf: &[u8]) -> Result<ArpRepr, ParseError> {
        need("arp", buf, PAYLOAD_LEN)?;
        let htype = u16::from_be_bytes([buf[0], buf[1]]);
        let ptype = u16::from_be_bytes([buf[2], buf[3]]);
        if htype != HTYPE_ETHERNET || ptype != ETHERTYPE_IPV4 || buf[4] != 6 || buf[5] != 4 {
            return Err(invalid(
                "arp",
                "hardware/protocol type",
                (u32::from(htype) << 16) | u32::from(ptype),
            ));
        }
        let mac = |o: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&buf[o..o + 6]);
            MacAddr(m)
        };
        let ip = |o: usize| Ipv4Addr::new(buf[o], buf[o + 1], buf[o + 2], buf[o + 3]);
        Ok(ArpRepr {
            op: u16::from_be_bytes([buf[6], buf[7]]),
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// Write the ARP payload into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        need("arp emit", buf, PAYLOAD_LEN)?;
        buf[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        buf[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        buf[4] = 6;
        buf[5] = 4;
        buf[6..8].copy_from_slice(&self.op.to_be_bytes());
        buf[8..14].copy_from_slice(&self.sender_mac.0);
        buf[14..18].copy_from_slice(&self.sender_ip.octets());
        buf[18..24].copy_from_slice(&self.target_mac.0);
        buf[24..28].copy_from_slice(&self.target_ip.octets());
        Ok(PAYLOAD_LEN)
    }

    /// The whole Ethernet frame: `eth_dst` <- `sender_mac`, ethertype ARP.
    pub fn to_frame(&self, eth_dst: MacAddr) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        let eth = EthernetRepr {
            dst: eth_dst,
            src: self.sender_mac,
            outer_vlan: None,
            vlan_tci: None,
            ethertype: ETHERTYPE_ARP,
        };
        // Cannot fail: the array holds both parts.
        let n = eth.emit(&mut f).unwrap_or(crate::ethernet::HEADER_LEN);
        let _ = self.emit(&mut f[n..]);
        f
    }

    /// Decode an Ethernet frame carrying ARP (untagged or 802.1Q); returns the
    /// Ethernet header and the ARP packet.
    pub fn parse_frame(frame: &[u8]) -> Result<(EthernetRepr, ArpRepr), ParseError> {
        let (eth, off) = EthernetRepr::parse(frame)?;
        if eth.ethertype != ETHERTYPE_ARP {
            return Err(invalid("arp frame", "ethertype", eth.ethertype.into()));
        }
        Ok((eth, ArpRepr::parse(&frame[off..])?))
    }
}

/// keepalived's gratuitous ARP frame for `vip` on an interface with MAC `mac`.
pub fn gratuitous_frame(mac: MacAddr, vip: Ipv4Addr) -> [u8; FRAME_LEN] {
    ArpRepr::gratuitous(mac, vip).to_frame(MacAddr::BROADCAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from keepalived 2.2.7 becoming master for 203.0.113.100 on an
    /// interface with MAC 4e:2e:7a:95:5e:fb (tcpdump -xx, whole frame).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x4e, 0x2e, 0x7a, 0x95, 0x5e, 0xfb, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x4e, 0x2e, 0x7a, 0x95, 0x5e, 0xfb, 0xcb, 0x00,
        0x71, 0x64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xcb, 0x00, 0x71, 0x64,
    ];
    const MAC: MacAddr = MacAddr([0x4e, 0x2e, 0x7a, 0x95, 0x5e, 0xfb]);
    const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);

    #[test]
    fn gratuitous_matches_keepalived_capture() {
        assert_eq!(gratuitous_frame(MAC, VIP), KEEPALIVED_GARP);
        let (eth, arp) = ArpRepr::parse_frame(&KEEPALIVED_GARP).unwrap();
        assert_eq!(eth.dst, MacAddr::BROADCAST);
        assert_eq!(eth.src, MAC);
        assert_eq!(arp, ArpRepr::gratuitous(MAC, VIP));
        assert!(arp.is_gratuitous());
    }

    /// RFC 826 layout by hand: a reply 198.51.100.2 is-at 02:00:00:00:00:02 to .1.
    #[test]
    fn reply_by_hand() {
        let bytes: [u8; 28] = [
            0, 1, 8, 0, 6, 4, 0, 2, // htype, ptype, hlen, plen, op reply
            2, 0, 0, 0, 0, 2, 198, 51, 100, 2, // sender
            2, 0, 0, 0, 0, 1, 198, 51, 100, 1, // target
        ];
        let arp = ArpRepr::parse(&bytes).unwrap();
        assert_eq!(arp.op, OP_REPLY);
        assert_eq!(arp.sender_ip, Ipv4Addr::new(198, 51, 100, 2));
        assert!(!arp.is_gratuitous());
        let mut out = [0u8; 28];
        assert_eq!(arp.emit(&mut out).unwrap(), 28);
        assert_eq!(out, bytes);
    }

    #[test]
    fn rejects_non_ipv4_and_short() {
        let mut b = KEEPALIVED_GARP;
        b[16] = 0x86; // ptype 0x86dd
        assert!(ArpRepr::parse_frame(&b).is_err());
        assert!(ArpRepr::parse(&KEEPALIVED_GARP[14..40]).is_err());
        let mut ip = KEEPALIVED_GARP;
        ip[12..14].copy_from_slice(&[0x08, 0x00]);
        assert!(ArpRepr::parse_frame(&ip).is_err());
    }
}
