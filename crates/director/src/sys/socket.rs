//! Sockets: socket(2), setsockopt(2), bind(2), send/recv, with the address
//! kinds the director uses: `sockaddr_in` (VRRP, health-check tests),
//! `sockaddr_in6` (VRRP over IPv6, with its sendmsg/recvmsg ancillary data),
//! `sockaddr_ll` (AF_PACKET), `sockaddr_nl` (rtnetlink) and `sockaddr_xdp`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

use super::{cvt, cvt_size};

/// socket(2), owned.
pub fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = cvt(unsafe { libc::socket(domain, ty, protocol) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with a plain value (an int, a `tpacket_req3`, an
/// `ip_mreqn`, ...).
pub fn setsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
) -> io::Result<()> {
    // SAFETY: `val` points to a live T and we pass its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// setsockopt(2) with a byte string (SO_BINDTODEVICE takes the name).
pub fn setsockopt_bytes(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &[u8],
) -> io::Result<()> {
    // SAFETY: `val` is live for its length, which we pass.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A `sockaddr_in` for `addr:port`.
pub fn sockaddr_in(addr: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A `sockaddr_in6` for `addr`, port 0, with `scope_id` (the interface
/// index, needed for link-local and link-scope multicast addresses).
pub fn sockaddr_in6(addr: Ipv6Addr, scope_id: u32) -> libc::sockaddr_in6 {
    // SAFETY: an all-zero sockaddr_in6 is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope_id;
    sa
}

/// What [`recvmsg6`] got: the datagram length, its source and, from the
/// ancillary data, its destination and hop limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received6 {
    pub len: usize,
    pub src: Ipv6Addr,
    /// IPV6_PKTINFO (needs IPV6_RECVPKTINFO on the socket).
    pub dst: Option<Ipv6Addr>,
    /// IPV6_HOPLIMIT (needs IPV6_RECVHOPLIMIT on the socket).
    pub hop_limit: Option<u8>,
    /// MSG_TRUNC: the datagram was longer than the buffer.
    pub truncated: bool,
}

/// Room for an IPV6_PKTINFO and an IPV6_HOPLIMIT control message, aligned
/// for `cmsghdr`.
type CmsgBuf = [u64; 16];

/// recvmsg(2) on an IPv6 datagram socket, with the ancillary data above.
pub fn recvmsg6(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received6> {
    let mut src = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 0);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf: CmsgBuf = [0; 16];
    // SAFETY: an all-zero msghdr is valid; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut src as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<CmsgBuf>() as _;
    // SAFETY: every pointer in `msg` refers to a live local of the size given.
    let len = cvt_size(unsafe { libc::recvmsg(fd, &mut msg, flags) })?;
    let mut got = Received6 {
        len,
        src: Ipv6Addr::from(src.sin6_addr.s6_addr),
        dst: None,
        hop_limit: None,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
    };
    // SAFETY: the CMSG_* walk stays within msg_controllen, which the kernel
    // set to what it wrote into `cbuf`; each payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    got.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let h = ptr::read_unaligned(data.cast::<libc::c_int>());
                    got.hop_limit = u8::try_from(h).ok();
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(got)
}

/// sendmsg(2) of `buf` to `dst` from source address `src` on interface
/// `ifindex` (an IPV6_PKTINFO control message, as keepalived sends its IPv6
/// adverts), so the advert leaves from the link-local address we chose.
pub fn sendmsg6_from(
    fd: RawFd,
    buf: &[u8],
    dst: &libc::sockaddr_in6,
    src: Ipv6Addr,
    ifindex: u32,
    flags: libc::c_int,
) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut cbuf: CmsgBuf = [0; 16];
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.octets(),
        },
        ipi6_ifindex: ifindex,
    };
    // SAFETY: an all-zero msghdr is valid; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (dst as *const libc::sockaddr_in6) as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations; the one
    // control message fits `cbuf` (16 u64s > CMSG_SPACE(20)), and the
    // kernel only reads `buf`, `dst` and `cbuf`, all live for the call.
    unsafe {
        let size = std::mem::size_of::<libc::in6_pktinfo>() as u32;
        msg.msg_controllen = libc::CMSG_SPACE(size) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IPV6;
        (*c).cmsg_type = libc::IPV6_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(size) as _;
        ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), info);
        cvt_size(libc::sendmsg(fd, &msg, flags))
    }
}

/// A `sockaddr_ll` for sending or binding on interface `ifindex`.
pub fn sockaddr_ll(ifindex: i32, protocol: u16, dst: Option<[u8; 6]>) -> libc::sockaddr_ll {
    let mut addr = [0u8; 8];
    if let Some(d) = dst {
        addr[..6].copy_from_slice(&d);
    }
    libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: protocol.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: if dst.is_some() { 6 } else { 0 },
        sll_addr: addr,
    }
}

/// The address kinds [`bind`] and [`sendto`] take: plain C structs whose
/// size is their length on the wire of the call.
pub trait SockAddr: Copy {}
impl SockAddr for libc::sockaddr_in {}
impl SockAddr for libc::sockaddr_in6 {}
impl SockAddr for libc::sockaddr_ll {}
impl SockAddr for libc::sockaddr_nl {}
impl SockAddr for libc::sockaddr_xdp {}

/// bind(2) to one of the [`SockAddr`] kinds.
pub fn bind<A: SockAddr>(fd: RawFd, addr: &A) -> io::Result<()> {
    // SAFETY: `addr` is a live sockaddr of the size we pass.
    cvt(unsafe {
        libc::bind(
            fd,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A `sockaddr_nl` for the kernel-assigned port id and multicast `groups`.
pub fn sockaddr_nl(groups: u32) -> libc::sockaddr_nl {
    // SAFETY: an all-zero sockaddr_nl is valid (nl_pid 0: the kernel picks).
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    sa
}

/// getsockname(2) of an IPv4 socket (tests: a bound, non-listening port).
#[cfg(test)]
pub fn local_addr_in(fd: RawFd) -> io::Result<(Ipv4Addr, u16)> {
    let mut sa = sockaddr_in(Ipv4Addr::UNSPECIFIED, 0);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa`/`len` describe a live sockaddr_in the kernel fills.
    cvt(unsafe { libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_in).cast(), &mut len) })?;
    Ok((
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    ))
}

/// sendto(2) `buf` to `addr`.
pub fn sendto<A: SockAddr>(
    fd: RawFd,
    buf: &[u8],
    flags: libc::c_int,
    addr: &A,
) -> io::Result<usize> {
    // SAFETY: buffer and address are live for the call, with their sizes.
    cvt_size(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    })
}

/// send(2) on a connected (or netlink) socket.
pub fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the buffer is live for its length.
    cvt_size(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) })
}

/// recv(2) into `buf`; the number of bytes received.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the buffer is writable for its length.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// A zero-length, non-blocking send(2): the kick that makes the kernel send
/// what a TX ring (AF_PACKET or AF_XDP) holds.
pub fn send_empty(fd: RawFd) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed (null with length 0).
    cvt_size(unsafe { libc::sendto(fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) })
        .map(drop)
}

/// Kick a TX ring (AF_PACKET TX_RING or AF_XDP) with [`send_empty`].
pub fn kick_tx(fd: RawFd) -> io::Result<()> {
    if let Err(e) = send_empty(fd) {
        // With PACKET_QDISC_BYPASS a full device queue (veth under load)
        // comes back as ENOBUFS: those frames are dropped, as a qdisc
        // would drop them; it is not an error of the socket. AF_XDP
        // copy mode answers EAGAIN/EBUSY while the kernel is still busy.
        if !matches!(
            e.raw_os_error(),
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EBUSY)
        ) {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn bind_and_local_addr() {
        let s = socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        bind(s.as_raw_fd(), &sockaddr_in(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let (a, port) = local_addr_in(s.as_raw_fd()).unwrap();
        assert_eq!(a, Ipv4Addr::LOCALHOST);
        assert_ne!(port, 0);
    }

    #[test]
    fn sockaddr_ll_fields() {
        let sll = sockaddr_ll(3, 0x0806, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(sll.sll_protocol, 0x0806u16.to_be());
        assert_eq!((sll.sll_ifindex, sll.sll_halen), (3, 6));
        assert_eq!(&sll.sll_addr[..6], &[2, 0, 0, 0, 0, 1]);
    }
}
