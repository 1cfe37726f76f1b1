//! Adding and removing the VIPs with rtnetlink (RTM_NEWADDR / RTM_DELADDR on a
//! NETLINK_ROUTE socket), as keepalived does (keepalived vrrp_ipaddress.c,
//! netlink_ipaddress): IFA_LOCAL and IFA_ADDRESS set to the VIP, scope global;
//! IPv6 VIPs with IFA_F_NODAD, as keepalived adds them, so they are usable at
//! once instead of tentative for the duplicate-address-detection second.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys::socket;

const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A NETLINK_ROUTE socket (SOCK_RAW | SOCK_CLOEXEC plus `extra_flags`) bound to
/// a kernel-assigned port id and the multicast `groups`.
fn open_route_socket(extra_flags: libc::c_int, groups: u32) -> io::Result<OwnedFd> {
    let fd = socket::socket(
        libc::AF_NETLINK,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | extra_flags,
        libc::NETLINK_ROUTE,
    )?;
    socket::bind(fd.as_raw_fd(), &socket::sockaddr_nl(groups))?;
    Ok(fd)
}

/// A NETLINK_ROUTE socket in the current network namespace.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // Kernel-assigned port id, no groups.
        let fd = open_route_socket(0, 0)?;
        Ok(Rtnl { fd, seq: 1 })
    }

    /// Add `addr/prefix` on interface `ifindex`, with a finite preferred
    /// lifetime in seconds when given (IPv6: 0 = deprecated, never chosen as
    /// a source address); an address already there is fine.
    pub fn add_addr(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix: u8,
        preferred_lft: Option<u32>,
    ) -> io::Result<()> {
        let flags = libc::NLM_F_CREATE | libc::NLM_F_EXCL;
        let mut msg = addr_message(libc::RTM_NEWADDR, flags, self.seq, ifindex, addr, prefix);
        if let Some(p) = preferred_lft {
            push_cacheinfo(&mut msg, p);
        }
        self.seq = self.seq.wrapping_add(1);
        match socket::send(self.fd.as_raw_fd(), &msg, 0).and_then(|_| self.read_ack()) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Remove `addr/prefix` from `ifindex`; an address already gone is fine.
    pub fn del_addr(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        match self.addr_request(libc::RTM_DELADDR, 0, ifindex, addr, prefix) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r,
        }
    }

    fn addr_request(
        &mut self,
        kind: u16,
        flags: libc::c_int,
        ifindex: u32,
        addr: IpAddr,
        prefix: u8,
    ) -> io::Result<()> {
        let msg = addr_message(kind, flags, self.seq, ifindex, addr, prefix);
        self.seq = self.seq.wrapping_add(1);
        socket::send(self.fd.as_raw_fd(), &msg, 0)?;
        self.read_ack()
    }

    fn read_ack(&self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let n = match socket::recv(self.fd.as_raw_fd(), &mut buf, 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let data = &buf[..n];
            let mut off = 0;
            while off + NLMSG_HDRLEN <= data.len() {
                let len =
                    u32::from_ne_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]])
                        as usize;
                let ty = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
                if len < NLMSG_HDRLEN || off + len > data.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "netlink: truncated reply",
                    ));
                }
                if ty == libc::NLMSG_ERROR as u16 && len >= NLMSG_HDRLEN + 4 {
                    let p = off + NLMSG_HDRLEN;
                    let err = i32::from_ne_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]);
                    return if err == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-err))
                    };
                }
                off += align4(len);
            }
        }
    }
}

/// Link state changes (RTM_NEWLINK on the RTMGRP_LINK multicast group), as
/// keepalived follows them: an interface is usable while IFF_UP and IFF_RUNNING.
pub struct LinkWatch {
    fd: OwnedFd,
}

impl LinkWatch {
    pub fn open() -> io::Result<LinkWatch> {
        let fd = open_route_socket(libc::SOCK_NONBLOCK, libc::RTMGRP_LINK as u32)?;
        Ok(LinkWatch { fd })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Read every queued message: each link event, in order.
    pub fn drain_events(&self) -> Vec<LinkEvent> {
        let mut buf = [0u8; 16384];
        let mut out = Vec::new();
        loop {
            let n = match socket::recv(self.fd.as_raw_fd(), &mut buf, 0) {
                Ok(n) if n > 0 => n,
                _ => return out,
            };
            out.extend(link_events(&buf[..n]));
        }
    }
}

/// One RTM_NEWLINK (or RTM_DELLINK) message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    /// IFF_UP and IFF_RUNNING (false for a deleted link).
    pub up: bool,
    /// RTM_DELLINK: the interface is gone.
    pub deleted: bool,
}

/// The link events in a batch of netlink messages, in order.
fn link_events(data: &[u8]) -> Vec<LinkEvent> {
    let mut off = 0;
    let mut out = Vec::new();
    while off + NLMSG_HDRLEN <= data.len() {
        let len =
            u32::from_ne_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        let ty = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
        if len < NLMSG_HDRLEN || off + len > data.len() {
            break;
        }
        // struct ifinfomsg: family, pad, type (u16), index (i32), flags (u32), change.
        let p = off + NLMSG_HDRLEN;
        if (ty == libc::RTM_NEWLINK || ty == libc::RTM_DELLINK) && len >= NLMSG_HDRLEN + 16 {
            let idx = u32::from_ne_bytes([data[p + 4], data[p + 5], data[p + 6], data[p + 7]]);
            let flags = u32::from_ne_bytes([data[p + 8], data[p + 9], data[p + 10], data[p + 11]]);
            let want = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
            let deleted = ty == libc::RTM_DELLINK;
            out.push(LinkEvent {
                ifindex: idx,
                up: !deleted && flags & want == want,
                deleted,
            });
        }
        off += align4(len);
    }
    out
}

/// The up/running state of `ifindex` in a batch of netlink messages, if any.
#[cfg(test)]
fn link_state(data: &[u8], ifindex: u32) -> Option<bool> {
    link_events(data)
        .into_iter()
        .rev()
        .find(|e| e.ifindex == ifindex && !e.deleted)
        .map(|e| e.up)
}

/// Append IFA_CACHEINFO (preferred `preferred` s, valid forever), as
/// keepalived does for an IPv6 VIP with a finite preferred_lft, and fix the
/// message length.
fn push_cacheinfo(msg: &mut Vec<u8>, preferred: u32) {
    let mut ci = Vec::with_capacity(16);
    ci.extend_from_slice(&preferred.to_ne_bytes());
    ci.extend_from_slice(&u32::MAX.to_ne_bytes()); // INFINITY_LIFE_TIME
    ci.extend_from_slice(&[0u8; 8]); // cstamp, tstamp: set by the kernel
    push_attr(msg, libc::IFA_CACHEINFO, &ci);
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
}

fn push_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

/// The request bytes (host byte order headers, as netlink wants).
fn addr_message(
    kind: u16,
    flags: libc::c_int,
    seq: u32,
    ifindex: u32,
    addr: IpAddr,
    prefix: u8,
) -> Vec<u8> {
    let (family, flags_byte, octets) = match addr {
        IpAddr::V4(a) => (libc::AF_INET, 0, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6, libc::IFA_F_NODAD as u8, a.octets().to_vec()),
    };
    let mut m = Vec::with_capacity(80);
    m.extend_from_slice(&[0u8; NLMSG_HDRLEN]);
    // struct ifaddrmsg
    m.push(family as u8);
    m.push(prefix);
    m.push(flags_byte);
    m.push(libc::RT_SCOPE_UNIVERSE);
    m.extend_from_slice(&ifindex.to_ne_bytes());
    debug_assert_eq!(m.len(), NLMSG_HDRLEN + IFADDRMSG_LEN);
    push_attr(&mut m, libc::IFA_LOCAL, &octets);
    push_attr(&mut m, libc::IFA_ADDRESS, &octets);
    let len = m.len() as u32;
    let fl = (libc::NLM_F_REQUEST | libc::NLM_F_ACK | flags) as u16;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&fl.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel.
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newlink(index: u32, flags: u32) -> Vec<u8> {
        let mut m = vec![0u8; 32];
        m[0..4].copy_from_slice(&32u32.to_ne_bytes());
        m[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        m[20..24].copy_from_slice(&index.to_ne_bytes());
        m[24..28].copy_from_slice(&flags.to_ne_bytes());
        m
    }

    #[test]
    fn link_state_from_newlink() {
        let up = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        let mut batch = newlink(3, up);
        batch.extend(newlink(4, 0));
        assert_eq!(link_state(&batch, 3), Some(true));
        assert_eq!(link_state(&batch, 4), Some(false));
        assert_eq!(link_state(&batch, 5), None);
        // Up without carrier (RUNNING) counts as down.
        assert_eq!(link_state(&newlink(3, libc::IFF_UP as u32), 3), Some(false));
    }

    #[test]
    fn link_events_in_order_with_deletions() {
        let up = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        let mut batch = newlink(3, 0);
        batch.extend(newlink(3, up));
        let mut del = newlink(4, up);
        del[4..6].copy_from_slice(&libc::RTM_DELLINK.to_ne_bytes());
        batch.extend(del);
        let ev = link_events(&batch);
        let got: Vec<(u32, bool, bool)> = ev.iter().map(|e| (e.ifindex, e.up, e.deleted)).collect();
        assert_eq!(got, [(3, false, false), (3, true, false), (4, false, true)]);
    }

    #[test]
    fn newaddr_message_layout() {
        let m = addr_message(
            libc::RTM_NEWADDR,
            libc::NLM_F_CREATE | libc::NLM_F_EXCL,
            7,
            3,
            std::net::Ipv4Addr::new(203, 0, 113, 100).into(),
            32,
        );
        assert_eq!(m.len(), 16 + 8 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), libc::RTM_NEWADDR);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x0605); // REQUEST|ACK|EXCL|CREATE
        assert_eq!(&m[16..24], &[2, 32, 0, 0, 3, 0, 0, 0][..]);
        assert_eq!(&m[24..32], &[8, 0, 2, 0, 203, 0, 113, 100][..]); // IFA_LOCAL
        assert_eq!(&m[32..40], &[8, 0, 1, 0, 203, 0, 113, 100][..]); // IFA_ADDRESS
    }

    #[test]
    fn newaddr_message_ipv6_nodad() {
        let vip: std::net::Ipv6Addr = "2001:db8::100".parse().unwrap();
        let m = addr_message(libc::RTM_NEWADDR, 0, 1, 3, vip.into(), 64);
        assert_eq!(m.len(), 16 + 8 + 20 + 20);
        // AF_INET6, /64, IFA_F_NODAD, scope universe, ifindex 3.
        assert_eq!(&m[16..24], &[10, 64, 2, 0, 3, 0, 0, 0][..]);
        assert_eq!(&m[24..28], &[20, 0, 2, 0][..]); // IFA_LOCAL, 16 bytes
        assert_eq!(&m[28..44], &vip.octets()[..]);
        assert_eq!(&m[44..48], &[20, 0, 1, 0][..]); // IFA_ADDRESS
        let mut m = m;
        push_cacheinfo(&mut m, 0);
        assert_eq!(m.len(), 64 + 20);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 84);
        assert_eq!(&m[64..68], &[20, 0, 6, 0][..]); // IFA_CACHEINFO
        assert_eq!(&m[68..76], &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
    }
}
