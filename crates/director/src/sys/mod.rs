//! The system calls behind the AF_PACKET ring ([`crate::afpacket`]), each in
//! one small `unsafe` block over libc: socket, setsockopt, bind to a
//! `sockaddr_ll`, a shared mapping of the rings, poll, the zero-length send
//! that kicks a TX ring, and the interface index. What is left unsafe in
//! `afpacket` is reading and writing the ring memory itself.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// socket(2), owned.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = cvt(unsafe { libc::socket(domain, ty, protocol) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with a plain value (an int, a `tpacket_req3`, ...).
pub(crate) fn setsockopt<T: Copy>(
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

/// bind(2) a packet socket to a link-layer address.
pub(crate) fn bind_ll(fd: RawFd, sll: &libc::sockaddr_ll) -> io::Result<()> {
    // SAFETY: `sll` is a live sockaddr_ll and we pass its size.
    cvt(unsafe {
        libc::bind(
            fd,
            (sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// poll(2) on one descriptor. Returns the number of ready descriptors (0 on
/// timeout); EINTR comes back as an error of kind `Interrupted`.
pub(crate) fn poll_one(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<usize> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `p` is one live pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, ms) }).map(|n| n as usize)
}

/// A zero-length, non-blocking send(2): the kick that makes the kernel send
/// what a TX ring holds.
pub(crate) fn send_empty(fd: RawFd) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed (null with length 0).
    let r = unsafe { libc::sendto(fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Interface index by name.
pub fn ifindex(name: &str) -> io::Result<i32> {
    let c =
        std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}: {}", io::Error::last_os_error()),
        ))
    } else {
        Ok(i as i32)
    }
}

/// A shared read-write mapping of a descriptor (the rings of a packet
/// socket), unmapped on drop. Only raw pointers into it are handed out: the
/// kernel writes it concurrently, so reading and writing it stays the
/// caller's (unsafe) business.
pub(crate) struct SharedMap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value (like a Vec<u8>);
// moving it to another thread moves that ownership.
unsafe impl Send for SharedMap {}

impl SharedMap {
    /// mmap(2) `len` bytes of `fd` at offset 0, PROT_READ | PROT_WRITE,
    /// MAP_SHARED | `extra_flags`.
    pub(crate) fn new(fd: RawFd, len: usize, extra_flags: libc::c_int) -> io::Result<SharedMap> {
        // SAFETY: a fresh mapping at an address the kernel picks; it aliases
        // no Rust object.
        let m = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | extra_flags,
                fd,
                0,
            )
        };
        if m == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(m.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(SharedMap { ptr, len })
    }

    /// Start of the mapping; valid for `len` bytes while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; no pointer into it outlives
        // its owner.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
