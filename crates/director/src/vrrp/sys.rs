//! The kernel interfaces VRRP needs, over libc: a raw IPv4 socket on protocol
//! 112 (multicast group 224.0.0.18 or unicast), an AF_PACKET socket for
//! gratuitous ARPs, the interface index, a wake-up pipe and poll. The
//! interface's MAC, flags and addresses come from `crate::netif`.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size we pass.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Interface index in the current network namespace.
pub fn ifindex(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a valid C string.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}: {}", io::Error::last_os_error()),
        ));
    }
    Ok(i)
}

fn sockaddr_in(a: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: all-zero sockaddr_in is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from(a).to_be();
    sa
}

/// Raw IPv4 socket for protocol 112 bound to one interface, IP header included
/// on send (IP_HDRINCL) and delivered on receive.
pub struct VrrpSocket {
    fd: OwnedFd,
}

impl VrrpSocket {
    /// Open on `ifname` (index `ifindex`); `multicast` joins 224.0.0.18 there.
    pub fn open(ifname: &str, ifindex: u32, multicast: bool) -> io::Result<VrrpSocket> {
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                i32::from(wire::vrrp::PROTOCOL),
            ))?)
        };
        let raw = fd.as_raw_fd();
        let name = ifname.as_bytes();
        // SAFETY: SO_BINDTODEVICE takes the name bytes and their length.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        })?;
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
        let sa = sockaddr_in(dst);
        // keepalived sends multicast adverts with MSG_DONTROUTE.
        let flags = if dst.is_multicast() {
            libc::MSG_DONTROUTE
        } else {
            0
        };
        // SAFETY: buffer and sockaddr are live for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                flags,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One datagram (IP header included) or `None` when nothing is queued.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        // SAFETY: buf is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(&buf[..n as usize]))
    }
}

/// AF_PACKET socket that only sends (protocol 0: receives nothing).
pub struct PacketSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSender {
    pub fn open(ifindex: u32) -> io::Result<PacketSender> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                0,
            ))?)
        };
        Ok(PacketSender { fd, ifindex })
    }

    /// Send a whole Ethernet frame (dst MAC first) out of the interface.
    pub fn send(&self, frame: &[u8], ethertype: u16) -> io::Result<()> {
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6.min(frame.len())]);
        // SAFETY: frame and sockaddr live for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A self-pipe: other threads `wake()` a poll loop.
pub struct Waker {
    rd: OwnedFd,
    wr: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: both fds are fresh and ours.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Waker { rd, wr })
    }

    pub fn wake(&self) {
        // SAFETY: one byte from a live buffer; a full pipe already means "wake".
        unsafe { libc::write(self.wr.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }

    pub fn fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    pub fn drain(&self) {
        let mut b = [0u8; 64];
        // SAFETY: reading into a live buffer from our non-blocking pipe.
        while unsafe { libc::read(self.rd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) } > 0 {}
    }
}

/// A timerfd on CLOCK_MONOTONIC. poll/ppoll timeouts get a slack of 0.1% of
/// the timeout (kernel fs/select.c, select_estimate_accuracy: 3.6 ms late on a
/// 3.6 s Master_Down); a timerfd hrtimer only has the task's 50 us timer slack,
/// as keepalived's timerfd-driven scheduler.
pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain timerfd_create; owned from here on.
        let fd = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            ))?)
        };
        Ok(Timer { fd })
    }

    /// Arm to fire after `after` (None: disarm). A zero delay fires at once.
    pub fn set(&self, after: Option<Duration>) -> io::Result<()> {
        let d = after.map(|d| d.max(Duration::from_nanos(1)));
        let v = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.map_or(0, |d| d.as_secs().min(i32::MAX as u64) as libc::time_t),
                tv_nsec: d.map_or(0, |d| d.subsec_nanos() as libc::c_long),
            },
        };
        // SAFETY: a live itimerspec; no old value wanted.
        cvt(unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &v, std::ptr::null_mut()) })
            .map(drop)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Consume an expiry.
    pub fn clear(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reading the 8-byte expiry count into a live buffer.
        unsafe { libc::read(self.fd.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
    }
}

/// poll(2) on `fds` for input; returns which are readable.
pub fn poll_in(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // ppoll: microsecond deadlines, not poll's milliseconds.
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: p is a live array of pollfd; tsp is null or points to ts.
    let r = unsafe {
        libc::ppoll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            tsp,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents != 0).collect())
}
