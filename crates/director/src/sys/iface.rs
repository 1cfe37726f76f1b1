//! Interfaces: index by name (if_nametoindex), MAC, flags and MTU through
//! the SIOCGIF* ioctls (right even when /sys belongs to another namespace),
//! and IPv4 addresses through getifaddrs(3).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// Interface index by name in the current network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}: {}", io::Error::last_os_error()),
        ))
    } else {
        Ok(i)
    }
}

/// The getter ioctls of [`ifreq_get`], each naming the `ifreq` union member
/// the kernel fills.
#[derive(Clone, Copy)]
enum IfreqGet {
    HwAddr,
    Flags,
    Mtu,
}

/// An `ifreq` for `ifname` filled by a SIOCGIF* getter, issued on a
/// throwaway datagram socket; errors name `ifname`.
fn ifreq_get(ifname: &str, what: IfreqGet) -> io::Result<libc::ifreq> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    // SAFETY: an all-zero ifreq is valid; the name below leaves its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    let fd = super::socket::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
    let request = match what {
        IfreqGet::HwAddr => libc::SIOCGIFHWADDR,
        IfreqGet::Flags => libc::SIOCGIFFLAGS,
        IfreqGet::Mtu => libc::SIOCGIFMTU,
    };
    // SAFETY: each of these requests takes a `struct ifreq`, which `req` is.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &mut req) } < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("{ifname}: {err}")));
    }
    Ok(req)
}

/// MAC address (SIOCGIFHWADDR).
pub fn hwaddr(ifname: &str) -> io::Result<[u8; 6]> {
    let req = ifreq_get(ifname, IfreqGet::HwAddr)?;
    // SAFETY: the union member SIOCGIFHWADDR writes.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(m)
}

/// Interface flags (SIOCGIFFLAGS): IFF_UP, IFF_RUNNING, ...
pub fn flags(ifname: &str) -> io::Result<i32> {
    let req = ifreq_get(ifname, IfreqGet::Flags)?;
    // SAFETY: the union member SIOCGIFFLAGS writes.
    Ok(i32::from(unsafe { req.ifr_ifru.ifru_flags }))
}

/// MTU (SIOCGIFMTU).
pub fn mtu(ifname: &str) -> io::Result<i32> {
    let req = ifreq_get(ifname, IfreqGet::Mtu)?;
    // SAFETY: the union member SIOCGIFMTU writes.
    Ok(unsafe { req.ifr_ifru.ifru_mtu })
}

/// IPv4 addresses with prefix length on `ifname` (getifaddrs), in kernel
/// order: the first is the primary.
pub fn ipv4_addrs(ifname: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    let mut out = Vec::new();
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we free below.
    if unsafe { libc::getifaddrs(&mut ifa) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut p = ifa;
    while !p.is_null() {
        // SAFETY: `p` walks the list getifaddrs returned, which lives until
        // freeifaddrs below.
        let e = unsafe { &*p };
        p = e.ifa_next;
        if e.ifa_addr.is_null() || e.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated C string of the list.
        let name = unsafe { std::ffi::CStr::from_ptr(e.ifa_name) };
        if name.to_bytes() != ifname.as_bytes() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr of the list.
        if i32::from(unsafe { (*e.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: AF_INET addresses are sockaddr_in.
        let a = unsafe { &*(e.ifa_addr as *const libc::sockaddr_in) };
        let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
        let plen = if e.ifa_netmask.is_null() {
            32
        } else {
            // SAFETY: the netmask of an AF_INET entry is a sockaddr_in too.
            let m = unsafe { &*(e.ifa_netmask as *const libc::sockaddr_in) };
            u32::from_be(m.sin_addr.s_addr).count_ones() as u8
        };
        out.push((ip, plen));
    }
    // SAFETY: freeing the list once; no reference into it survives.
    unsafe { libc::freeifaddrs(ifa) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        assert!(ifindex("lo").unwrap() > 0);
        assert_eq!(hwaddr("lo").unwrap(), [0; 6]);
        assert!(flags("lo").unwrap() & libc::IFF_UP != 0);
        assert!(mtu("lo").unwrap() >= 1500);
        assert!(ipv4_addrs("lo")
            .unwrap()
            .contains(&(Ipv4Addr::LOCALHOST, 8)));
        assert!(ifindex("vw-none0").is_err());
        assert!(flags("vw-none0")
            .unwrap_err()
            .to_string()
            .contains("vw-none0"));
    }
}
