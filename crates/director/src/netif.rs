//! What the director needs to know about its interface and neighbours: MAC,
//! IPv4 addresses, IPv6 addresses (/proc/net/if_inet6) and whether the
//! interface forwards IPv6, IPv6 routes (/proc/net/ipv6_route) and neighbour
//! discovery, the routing next hop (/proc/net/route) and a neighbour cache
//! fed by the kernel's table (/proc/net/arp), by ARP replies the data plane sees
//! and by ARP requests it sends itself.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use wire::arp::{ArpRepr, OP_REPLY, OP_REQUEST};
use wire::ethernet::MacAddr;
use wire::icmpv6::NeighbourInfo;

/// MAC via ioctl SIOCGIFHWADDR: right even when /sys belongs to another namespace.
pub fn mac_ioctl(ifname: &str) -> io::Result<MacAddr> {
    crate::sys::iface::hwaddr(ifname).map(MacAddr)
}

/// True when `ifname` is IFF_UP and IFF_RUNNING (SIOCGIFFLAGS).
pub fn link_up(ifname: &str) -> io::Result<bool> {
    let flags = crate::sys::iface::flags(ifname)?;
    let want = libc::IFF_UP | libc::IFF_RUNNING;
    Ok(flags & want == want)
}

/// MTU of an interface (ioctl SIOCGIFMTU).
pub fn mtu(ifname: &str) -> io::Result<usize> {
    Ok(crate::sys::iface::mtu(ifname)?.max(68) as usize)
}

/// IPv4 addresses with prefix length on `ifname` (getifaddrs), in kernel
/// order: the first is the primary.
pub fn ipv4_addrs(ifname: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    crate::sys::iface::ipv4_addrs(ifname)
}

/// One line of /proc/net/if_inet6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inet6Addr {
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
    /// IFA_F_TENTATIVE: duplicate address detection still running, not
    /// usable as a source yet.
    pub tentative: bool,
}

const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_DADFAILED: u32 = 0x08;

/// Parse /proc/net/if_inet6 (`ADDR32HEX IFINDEX PLEN SCOPE FLAGS NAME`, all
/// hex) for `ifname`; addresses whose DAD failed are left out.
pub fn parse_if_inet6(text: &str, ifname: &str) -> Vec<Inet6Addr> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() != 6 || w[5] != ifname || w[0].len() != 32 {
                return None;
            }
            let addr = Ipv6Addr::from(u128::from_str_radix(w[0], 16).ok()?);
            let prefix_len = u8::from_str_radix(w[2], 16).ok()?;
            let flags = u32::from_str_radix(w[4], 16).ok()?;
            (flags & IFA_F_DADFAILED == 0).then_some(Inet6Addr {
                addr,
                prefix_len,
                tentative: flags & IFA_F_TENTATIVE != 0,
            })
        })
        .collect()
}

/// IPv6 addresses on `ifname`, in the kernel's order.
pub fn ipv6_addrs(ifname: &str) -> io::Result<Vec<Inet6Addr>> {
    match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(t) => Ok(parse_if_inet6(&t, ifname)),
        // No IPv6 in this kernel or namespace: no addresses.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// True when IPv6 forwarding is on for `ifname` (keepalived then sets the
/// Router flag of its neighbour advertisements, vrrp_ndisc.c).
pub fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|s| s.trim() == "1")
}

/// One IPv4 route of /proc/net/route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
}

/// The kernel prints the address's in-memory (network order) bytes as a
/// host-order hex number: little-endian hosts show them reversed.
fn hex_le(s: &str) -> Option<Ipv4Addr> {
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(Ipv4Addr::from(v.to_ne_bytes()))
}

/// Parse /proc/net/route text: (interface, route) per line.
pub fn parse_routes(text: &str) -> Vec<(String, Route)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let gw = hex_le(f[2])?;
            Some((
                f[0].to_string(),
                Route {
                    dst: hex_le(f[1])?,
                    mask: hex_le(f[7])?,
                    gateway: (!gw.is_unspecified()).then_some(gw),
                },
            ))
        })
        .collect()
}

/// Next hop for `dst` out of `ifname`: the longest matching route's gateway,
/// or `dst` itself when on-link (or when no route matches).
pub fn next_hop(routes: &[(String, Route)], ifname: &str, dst: Ipv4Addr) -> Ipv4Addr {
    routes
        .iter()
        .filter(|(i, r)| i == ifname && u32::from(dst) & u32::from(r.mask) == u32::from(r.dst))
        .max_by_key(|(_, r)| u32::from(r.mask).count_ones())
        .and_then(|(_, r)| r.gateway)
        .unwrap_or(dst)
}

/// Parse /proc/net/arp: complete entries (flags 0x2) on `ifname`.
pub fn parse_proc_arp(text: &str, ifname: &str) -> Vec<(Ipv4Addr, MacAddr)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || f[5] != ifname {
                return None;
            }
            let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
            if flags & 0x2 == 0 {
                return None;
            }
            Some((f[0].parse().ok()?, f[3].parse().ok()?))
        })
        .collect()
}

/// One IPv6 route of /proc/net/ipv6_route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route6 {
    pub dst: Ipv6Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv6Addr>,
}

/// Parse /proc/net/ipv6_route (`DST PLEN SRC SPLEN NEXTHOP METRIC REFCNT
/// USE FLAGS IFNAME`, addresses as 32 hex digits): (interface, route).
pub fn parse_routes6(text: &str) -> Vec<(String, Route6)> {
    let hex = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let gw = hex(f[4])?;
            Some((
                f[9].to_string(),
                Route6 {
                    dst: hex(f[0])?,
                    prefix_len: u8::from_str_radix(f[1], 16).ok()?,
                    gateway: (!gw.is_unspecified()).then_some(gw),
                },
            ))
        })
        .collect()
}

/// Next hop for `dst` out of `ifname`: the longest matching route's gateway,
/// or `dst` itself when on-link (or when no route matches).
pub fn next_hop6(routes: &[(String, Route6)], ifname: &str, dst: Ipv6Addr) -> Ipv6Addr {
    let matches = |r: &Route6| {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(r.prefix_len.min(128)))
            .unwrap_or(0);
        u128::from(dst) & mask == u128::from(r.dst) & mask
    };
    routes
        .iter()
        .filter(|(i, r)| i == ifname && matches(r))
        .max_by_key(|(_, r)| r.prefix_len)
        .and_then(|(_, r)| r.gateway)
        .unwrap_or(dst)
}

/// Neighbour cache with ARP (IPv4) and neighbour discovery (IPv6) resolution.
#[derive(Debug)]
pub struct Neighbours {
    pub ifname: String,
    pub my_mac: MacAddr,
    pub my_ip: Ipv4Addr,
    /// Our IPv6 source for neighbour solicitations (none: IPv6 neighbours
    /// are only learnt, never asked).
    pub my_ip6: Option<Ipv6Addr>,
    entries: HashMap<IpAddr, MacAddr>,
    asked: HashMap<IpAddr, Instant>,
    routes: Vec<(String, Route)>,
    routes6: Vec<(String, Route6)>,
}

impl Neighbours {
    /// A cache primed from the kernel's tables.
    pub fn new(ifname: &str, my_mac: MacAddr, my_ip: Ipv4Addr) -> Neighbours {
        let mut n = Neighbours::empty(ifname, my_mac, my_ip);
        n.refresh_kernel();
        n
    }

    /// An empty cache (no routes: every destination is on-link).
    pub fn empty(ifname: &str, my_mac: MacAddr, my_ip: Ipv4Addr) -> Neighbours {
        Neighbours {
            ifname: ifname.to_string(),
            my_mac,
            my_ip,
            my_ip6: None,
            entries: HashMap::new(),
            asked: HashMap::new(),
            routes: Vec::new(),
            routes6: Vec::new(),
        }
    }

    /// Re-read the kernel's routes and ARP table (the kernel's IPv6
    /// neighbours are not in /proc; those come from our own solicitations).
    pub fn refresh_kernel(&mut self) {
        if let Ok(t) = std::fs::read_to_string("/proc/net/route") {
            self.routes = parse_routes(&t);
        }
        if let Ok(t) = std::fs::read_to_string("/proc/net/ipv6_route") {
            self.routes6 = parse_routes6(&t);
        }
        if let Ok(t) = std::fs::read_to_string("/proc/net/arp") {
            for (ip, mac) in parse_proc_arp(&t, &self.ifname) {
                self.entries.insert(IpAddr::V4(ip), mac);
            }
        }
    }

    pub fn insert(&mut self, ip: impl Into<IpAddr>, mac: MacAddr) {
        self.entries.insert(ip.into(), mac);
    }

    fn hop(&self, dst: IpAddr) -> IpAddr {
        match dst {
            IpAddr::V4(a) => IpAddr::V4(next_hop(&self.routes, &self.ifname, a)),
            IpAddr::V6(a) => IpAddr::V6(next_hop6(&self.routes6, &self.ifname, a)),
        }
    }

    /// MAC of the next hop towards `dst`, if known.
    pub fn lookup(&self, dst: impl Into<IpAddr>) -> Option<MacAddr> {
        self.entries.get(&self.hop(dst.into())).copied()
    }

    /// The next hop of `dst` when it needs an ARP request or a neighbour
    /// solicitation now (not asked in the last second).
    pub fn want_resolve(&mut self, dst: impl Into<IpAddr>) -> Option<IpAddr> {
        let hop = self.hop(dst.into());
        if self.entries.contains_key(&hop) {
            return None;
        }
        let now = Instant::now();
        match self.asked.get(&hop) {
            Some(t) if now.duration_since(*t) < Duration::from_secs(1) => None,
            _ => {
                self.asked.insert(hop, now);
                Some(hop)
            }
        }
    }

    /// Broadcast ARP request for `ip` from this interface.
    pub fn request_frame(&self, ip: Ipv4Addr) -> [u8; wire::arp::FRAME_LEN] {
        ArpRepr {
            op: OP_REQUEST,
            sender_mac: self.my_mac,
            sender_ip: self.my_ip,
            target_mac: MacAddr([0; 6]),
            target_ip: ip,
        }
        .to_frame(MacAddr::BROADCAST)
    }

    /// The frame that resolves `hop`: an ARP request, or a neighbour
    /// solicitation (none without an IPv6 address of ours).
    pub fn resolve_frame(&self, hop: IpAddr) -> Option<Vec<u8>> {
        match hop {
            IpAddr::V4(a) => Some(self.request_frame(a).to_vec()),
            IpAddr::V6(a) => self
                .my_ip6
                .map(|src| wire::icmpv6::solicit_frame(self.my_mac, src, a)),
        }
    }

    /// Learn from an ARP frame (replies and gratuitous announcements) or a
    /// neighbour discovery frame (advertisements and solicitations).
    pub fn learn(&mut self, frame: &[u8]) {
        if let Ok((_, a)) = ArpRepr::parse_frame(frame) {
            // Replies and announcements teach us; a request only refreshes
            // an entry we already have (as the kernel's arp_process does).
            let ip = IpAddr::V4(a.sender_ip);
            let teach = (a.op == OP_REPLY || a.is_gratuitous()) && !a.sender_ip.is_unspecified();
            let refresh = a.op == OP_REQUEST && self.entries.contains_key(&ip);
            if teach || refresh {
                self.entries.insert(ip, a.sender_mac);
            }
            return;
        }
        match wire::icmpv6::neighbour_info(frame) {
            Some(NeighbourInfo::Advert { addr, mac }) => {
                self.entries.insert(IpAddr::V6(addr), mac);
            }
            // A solicitation carries its sender's MAC (a client asking for
            // the VIP): the NAT replies to that client need it, and the
            // kernel's IPv6 neighbours are not readable from /proc.
            Some(NeighbourInfo::Solicit { addr, mac }) => {
                self.entries.insert(IpAddr::V6(addr), mac);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_next_hop() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t016433C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 eth0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1.gateway, Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(r[1].1.dst, Ipv4Addr::new(198, 51, 100, 0));
        let on_link = Ipv4Addr::new(198, 51, 100, 8);
        assert_eq!(next_hop(&r, "eth0", on_link), on_link);
        assert_eq!(
            next_hop(&r, "eth0", Ipv4Addr::new(192, 0, 2, 9)),
            Ipv4Addr::new(198, 51, 100, 1)
        );
        assert_eq!(next_hop(&r, "eth1", on_link), on_link);
    }

    #[test]
    fn proc_arp() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 198.51.100.8     0x1         0x2         02:00:00:00:00:08     *        eth0\n\
                 198.51.100.9     0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                 198.51.100.10    0x1         0x2         02:00:00:00:00:0a     *        eth1\n";
        let v = parse_proc_arp(t, "eth0");
        assert_eq!(
            v,
            vec![(Ipv4Addr::new(198, 51, 100, 8), MacAddr([2, 0, 0, 0, 0, 8]))]
        );
    }

    #[test]
    fn learn_from_reply_and_request_frame() {
        let me = MacAddr([2, 0, 0, 0, 0, 5]);
        let mut n = Neighbours::empty("eth0", me, Ipv4Addr::new(198, 51, 100, 5));
        let rs = Ipv4Addr::new(198, 51, 100, 8);
        assert_eq!(n.want_resolve(rs), Some(IpAddr::V4(rs)));
        assert_eq!(n.want_resolve(rs), None, "asked within the last second");
        let req = n.request_frame(rs);
        let (eth, a) = ArpRepr::parse_frame(&req).unwrap();
        assert_eq!(eth.dst, MacAddr::BROADCAST);
        assert_eq!((a.op, a.target_ip, a.sender_mac), (OP_REQUEST, rs, me));
        let reply = ArpRepr {
            op: OP_REPLY,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 8]),
            sender_ip: rs,
            target_mac: me,
            target_ip: n.my_ip,
        }
        .to_frame(me);
        n.learn(&reply);
        assert_eq!(n.lookup(rs), Some(MacAddr([2, 0, 0, 0, 0, 8])));
    }

    #[test]
    fn if_inet6_lines() {
        let t = "fe800000000000000000000000000001 1852 40 20 80     eth0\n\
                 20010db8000000000000000000000100 1852 40 00 42     eth0\n\
                 fe800000000000000000000000000009 1852 40 20 c8     eth0\n\
                 00000000000000000000000000000001 01 80 10 80       lo\n";
        let got = parse_if_inet6(t, "eth0");
        assert_eq!(got.len(), 2, "{got:?}"); // the DAD-failed one is gone
        assert_eq!(got[0].addr, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!((got[0].prefix_len, got[0].tentative), (64, false));
        assert_eq!(got[1].addr, "2001:db8::100".parse::<Ipv6Addr>().unwrap());
        assert!(got[1].tentative);
        assert_eq!(parse_if_inet6(t, "lo").len(), 1);
    }

    #[test]
    fn ipv6_routes_next_hop_and_neighbour_discovery() {
        let t = "20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                 00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000100000000000000000001 00000400 00000001 00000000 00000003     eth0\n";
        let r = parse_routes6(t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1.prefix_len, 64);
        let gw: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert_eq!(r[1].1.gateway, Some(gw));
        let on_link: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
        assert_eq!(next_hop6(&r, "eth0", on_link), on_link);
        let far: Ipv6Addr = "2001:db8:9::9".parse().unwrap();
        assert_eq!(next_hop6(&r, "eth0", far), gw);

        let me = MacAddr([2, 0, 0, 0, 0, 5]);
        let rs_mac = MacAddr([2, 0, 0, 0, 0, 0x11]);
        let mut n = Neighbours::empty("eth0", me, Ipv4Addr::new(198, 51, 100, 5));
        assert_eq!(n.resolve_frame(IpAddr::V6(on_link)), None);
        n.my_ip6 = Some("2001:db8:1::5".parse().unwrap());
        assert_eq!(n.want_resolve(on_link), Some(IpAddr::V6(on_link)));
        assert_eq!(n.want_resolve(on_link), None); // asked within the second
        let ns = n.resolve_frame(IpAddr::V6(on_link)).unwrap();
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0, 0, 0x11]);
        assert_eq!(n.lookup(on_link), None);
        n.learn(&wire::icmpv6::unsolicited_na_frame(rs_mac, on_link, false));
        assert_eq!(n.lookup(on_link), Some(rs_mac));
    }
}
