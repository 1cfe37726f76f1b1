//! The kernel interfaces VRRP needs: a raw IPv4 socket on protocol 112
//! (multicast group 224.0.0.18 or unicast) or a raw IPv6 one (ff02::12 or
//! unicast), an AF_PACKET socket for gratuitous ARPs and unsolicited
//! neighbour advertisements, the interface index, and the wake-up pipe,
//! timer and poll of its loop. The system calls themselves are `crate::sys`; the
//! interface's MAC, flags and addresses come from `crate::netif`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::socket::{self, setsockopt};

pub use crate::sys::event::{poll_in, Timer, Waker};

/// Interface index in the current network namespace.
pub fn ifindex(ifname: &str) -> io::Result<u32> {
    crate::sys::iface::ifindex(ifname)
}

/// Raw IPv4 socket for protocol 112 bound to one interface, IP header included
/// on send (IP_HDRINCL) and delivered on receive.
pub struct VrrpSocket {
    fd: OwnedFd,
}

impl VrrpSocket {
    /// Open on `ifname` (index `ifindex`); `multicast` joins 224.0.0.18 there.
    pub fn open(ifname: &str, ifindex: u32, multicast: bool) -> io::Result<VrrpSocket> {
        let fd = socket::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(wire::vrrp::PROTOCOL),
        )?;
        let raw = fd.as_raw_fd();
        socket::setsockopt_bytes(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_bytes(),
        )?;
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_HDRINCL, &1i32)?;
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(wire::vrrp::MCAST_GROUP).to_be(),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: ifindex as libc::c_int,
        };
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &0i32)?;
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &255i32)?;
        if multicast {
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(VrrpSocket { fd })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send a whole IPv4 packet (header built by us) to `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        // keepalived sends multicast adverts with MSG_DONTROUTE.
        let flags = if dst.is_multicast() {
            libc::MSG_DONTROUTE
        } else {
            0
        };
        socket::sendto(self.fd(), packet, flags, &socket::sockaddr_in(dst, 0)).map(drop)
    }

    /// One datagram (IP header included) or `None` when nothing is queued.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        match socket::recv(self.fd(), buf, libc::MSG_DONTWAIT) {
            Ok(n) => Ok(Some(&buf[..n])),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            },
        }
    }
}

/// Raw IPv6 socket for protocol 112 bound to one interface. The kernel adds
/// the IPv6 header (hop limit 255, traffic class 0xc0, as keepalived sets
/// them in vrrp_if.c); we compute the checksum ourselves (keepalived lets the
/// kernel do it with IPV6_CHECKSUM, same bytes) and verify it on receive, so
/// the socket hands over bad ones too and the state machine logs them.
pub struct Vrrp6Socket {
    fd: OwnedFd,
    ifindex: u32,
    src: Ipv6Addr,
}

/// One received IPv6 advert: the VRRP message length in the caller's buffer
/// and the IP-level facts the VRRP checks need.
#[derive(Debug, Clone, Copy)]
pub struct Received6 {
    pub len: usize,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub truncated: bool,
}

impl Vrrp6Socket {
    /// Open on `ifname` (index `ifindex`), sending from `src` (the
    /// link-local address, or unicast_src_ip); `multicast` joins ff02::12.
    pub fn open(
        ifname: &str,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
    ) -> io::Result<Vrrp6Socket> {
        let fd = socket::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(wire::vrrp::PROTOCOL),
        )?;
        let raw = fd.as_raw_fd();
        socket::setsockopt_bytes(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_bytes(),
        )?;
        let v6 = libc::IPPROTO_IPV6;
        // Groups other sockets joined stay out of this one (keepalived does the same).
        setsockopt(raw, v6, libc::IPV6_MULTICAST_ALL, &0i32)?;
        setsockopt(raw, v6, libc::IPV6_MULTICAST_IF, &(ifindex as i32))?;
        setsockopt(raw, v6, libc::IPV6_MULTICAST_LOOP, &0i32)?;
        setsockopt(raw, v6, libc::IPV6_MULTICAST_HOPS, &255i32)?;
        setsockopt(raw, v6, libc::IPV6_UNICAST_HOPS, &255i32)?;
        setsockopt(
            raw,
            v6,
            libc::IPV6_TCLASS,
            &i32::from(wire::vrrp::TRAFFIC_CLASS_V6),
        )?;
        setsockopt(raw, v6, libc::IPV6_RECVHOPLIMIT, &1i32)?;
        setsockopt(raw, v6, libc::IPV6_RECVPKTINFO, &1i32)?;
        if multicast {
            let mreq = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr {
                    s6_addr: wire::vrrp::MCAST_GROUP_V6.octets(),
                },
                ipv6mr_interface: ifindex,
            };
            setsockopt(raw, v6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(Vrrp6Socket { fd, ifindex, src })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send one VRRP message (checksum already in it) to `dst`.
    pub fn send(&self, msg: &[u8], dst: Ipv6Addr) -> io::Result<()> {
        let scope = if wire::ipv6::is_link_local(dst) || dst.is_multicast() {
            self.ifindex
        } else {
            0
        };
        let to = socket::sockaddr_in6(dst, scope);
        socket::sendmsg6_from(self.fd(), msg, &to, self.src, self.ifindex, 0).map(drop)
    }

    /// One VRRP message into `buf`, or `None` when nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received6>> {
        match socket::recvmsg6(self.fd(), buf, libc::MSG_DONTWAIT) {
            Ok(r) => Ok(Some(Received6 {
                len: r.len,
                src: r.src,
                // Without ancillary data (never on Linux) count it as not ours.
                dst: r.dst.unwrap_or(Ipv6Addr::UNSPECIFIED),
                hop_limit: r.hop_limit.unwrap_or(0),
                truncated: r.truncated,
            })),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            },
        }
    }
}

/// AF_PACKET socket that only sends (protocol 0: receives nothing).
pub struct PacketSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSender {
    pub fn open(ifindex: u32) -> io::Result<PacketSender> {
        let fd = socket::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)?;
        Ok(PacketSender { fd, ifindex })
    }

    /// Send a whole Ethernet frame (dst MAC first) out of the interface.
    pub fn send(&self, frame: &[u8], ethertype: u16) -> io::Result<()> {
        let mut dst = [0u8; 6];
        let n = 6.min(frame.len());
        dst[..n].copy_from_slice(&frame[..n]);
        let sll = socket::sockaddr_ll(self.ifindex as i32, ethertype, Some(dst));
        socket::sendto(self.fd.as_raw_fd(), frame, 0, &sll).map(drop)
    }
}
