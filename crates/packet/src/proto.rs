//! IP protocol numbers the models look at (IANA assigned numbers). Their
//! names are in [`crate::protocols`].

pub const ICMP: u8 = 1;
/// IPv4 in IPv4 (RFC 2003), LVS-TUN's encapsulation (`/etc/protocols`: ipencap;
/// the Neutron API calls it `ipip`).
pub const IPIP: u8 = 4;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const DCCP: u8 = 33;
pub const GRE: u8 = 47;
pub const AH: u8 = 51;
pub const ICMPV6: u8 = 58;
pub const VRRP: u8 = 112;
pub const SCTP: u8 = 132;
pub const UDPLITE: u8 = 136;
