//! The director's system-call layer: every `unsafe` block of the crate lives
//! in this module tree, each over libc and each with its `// SAFETY:`
//! argument; the rest of the crate is safe code (`#![deny(unsafe_code)]` at
//! the crate root, allowed only here).
//!
//! - [`socket`]: socket(2), socket options, bind, send/recv with the
//!   `sockaddr` kinds the director uses (IPv4, IPv6, link layer, netlink).
//! - [`event`]: poll/ppoll, a wake-up pipe, a timerfd, SIGTERM/SIGINT.
//! - [`iface`]: interface index, MAC, flags and MTU (ioctls), addresses.
//! - [`packet`]: the mmapped TPACKET_V3 rings of an AF_PACKET socket.
//! - [`xdp`]: bpf(2) maps, programs and links, and AF_XDP sockets.
//!
//! libc stays the only binding: what is left unsafe here is shared ring
//! memory, ioctls and bpf(2), which neither rustix nor socket2 make safe; the
//! plain calls are one line each.

pub mod event;
pub mod iface;
pub mod packet;
pub mod socket;
pub mod xdp;

use std::io;

/// A negative return of a system call as the thread's `errno`.
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// As [`cvt`], for calls returning a byte count.
fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}
