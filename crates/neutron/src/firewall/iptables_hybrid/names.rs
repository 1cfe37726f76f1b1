//! Names and address forms: the wrapped chain names of `IptablesManager`
//! (`binary_name` [`WRAP`], chain names cut to 11 characters), the device and
//! per-port chain names iptables_firewall.py derives from a port id, the EUI-64
//! link-local address of a MAC (netutils), netaddr's `mac_iptables` dialect and
//! `c_utils.ip_to_cidr`.

use std::net::Ipv6Addr;

use ipnet::IpNet;

use crate::model::mac_bytes;

/// `neutron-openvswitch-agent` cut to 16 characters (iptables_manager binary_name).
pub const WRAP: &str = "neutron-openvswi";

pub(super) fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A wrapped chain name: `neutron-openvswi-` + name cut to 11 characters.
pub(super) fn wrapped(name: &str) -> String {
    format!("{WRAP}-{}", cut(name, 11))
}

/// Device name: prefix + port id, cut to 14 characters (LINUX_DEV_LEN).
pub fn device_name(prefix: &str, port_id: &str) -> String {
    cut(&format!("{prefix}{port_id}"), 14)
}

/// Per-port chain: `neutron-openvswi-` + (`i`|`o`|`s` + port id) cut to 11.
pub fn port_chain(kind: char, port_id: &str) -> String {
    wrapped(&format!("{kind}{port_id}"))
}

/// EUI-64 link-local address of a MAC (netutils.get_ipv6_addr_by_EUI64 on fe80::/64).
pub fn link_local(mac: &str) -> Option<Ipv6Addr> {
    let b = mac_bytes(mac)?;
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(b[0] ^ 0x02, b[1]),
        seg(b[2], 0xff),
        seg(0xfe, b[3]),
        seg(b[4], b[5]),
    ))
}

/// netaddr `mac_iptables` dialect: upper case, colon separated.
pub(super) fn mac_upper(mac: &str) -> String {
    mac.replace('-', ":").to_ascii_uppercase()
}

/// `c_utils.ip_to_cidr`: a bare address gets /32 or /128, a CIDR stays as given.
pub(super) fn ip_to_cidr(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        format!("{}/{}", net.addr(), net.prefix_len())
    } else {
        net.to_string()
    }
}
