//! AF_XDP (copy mode) socket for the data-plane comparison: an XSK bound to
//! queue 0 of an interface with its own UMEM, and the 6-instruction XDP
//! program that redirects every frame of that queue into it (through an
//! XSKMAP), attached with BPF_LINK_CREATE. Used by `forward_bench` to measure
//! AF_XDP against TPACKET_V3 on veth; the director itself uses TPACKET_V3
//! (see docs/director.md for the numbers and the reasons).
//! Layouts: include/uapi/linux/if_xdp.h, include/uapi/linux/bpf.h.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

const FRAME: usize = 2048;
const NFRAMES: usize = 4096;
const RING: u32 = 2048;

const BPF_MAP_CREATE: i64 = 0;
const BPF_MAP_UPDATE_ELEM: i64 = 2;
const BPF_PROG_LOAD: i64 = 5;
const BPF_LINK_CREATE: i64 = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
/// XDP_FLAGS_DRV_MODE: native XDP (veth has it).
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// XDP_FLAGS_SKB_MODE: generic XDP.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;

fn bpf(cmd: i64, attr: &mut [u8; 128]) -> io::Result<i32> {
    // SAFETY: attr is a zero-padded bpf_attr of 128 bytes.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

fn put32(a: &mut [u8], at: usize, v: u32) {
    a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(a: &mut [u8], at: usize, v: u64) {
    a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn fd(r: i32) -> OwnedFd {
    // SAFETY: r is a descriptor the kernel just returned to us.
    unsafe { OwnedFd::from_raw_fd(r) }
}

/// One eBPF instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | (dst & 0x0f);
    b[2..4].copy_from_slice(&off.to_ne_bytes());
    b[4..8].copy_from_slice(&imm.to_ne_bytes());
    b
}

/// Key of the classifier's hash map: address and port as on the wire, the IP
/// protocol, and 0 = "destination is a virtual server" / 1 = "source is a
/// NAT real server" (its replies).
pub fn classifier_key(addr: std::net::Ipv4Addr, port: u16, proto: u8, source: bool) -> [u8; 8] {
    let o = addr.octets();
    let p = port.to_be_bytes();
    [o[0], o[1], o[2], o[3], p[0], p[1], proto, u8::from(source)]
}

/// Key saying "this address is the director's own": frames to it always pass
/// to the kernel (the health checks' replies come from the real servers'
/// service ports, like NAT replies, but are the kernel's).
pub fn local_key(addr: std::net::Ipv4Addr) -> [u8; 8] {
    let o = addr.octets();
    [o[0], o[1], o[2], o[3], 0, 0, 0, 2]
}

/// The director's XDP program: IPv4 (IHL 5, not a later fragment) TCP/UDP
/// frames whose (dst, dport, proto) is a virtual server go to the XSK; so do
/// frames whose (src, sport, proto) is a NAT real server, unless they are
/// addressed to one of the director's own addresses ([`local_key`]).
/// Everything else (ARP, VRRP, health-check replies, other traffic) passes to
/// the kernel. The program reads untagged offsets (ethertype at 12, IPv4 at
/// 14): VLAN-tagged frames (ethertype 0x8100 / 0x88a8) fail its IPv4 test and
/// pass too, reaching the TPACKET_V3 slow path, which parses them with `wire`.
pub struct XdpClassifier {
    redirect: XdpRedirect,
    _keys: OwnedFd,
}

const BPF_MAP_TYPE_HASH: u32 = 1;

impl XdpClassifier {
    pub fn attach(ifindex: i32, flags: u32, keys: &[[u8; 8]]) -> io::Result<XdpClassifier> {
        let mut a = [0u8; 128];
        put32(&mut a, 0, BPF_MAP_TYPE_HASH);
        put32(&mut a, 4, 8);
        put32(&mut a, 8, 4);
        put32(&mut a, 12, keys.len().max(1) as u32);
        let kmap = fd(bpf(BPF_MAP_CREATE, &mut a)?);
        for k in keys {
            let v: u32 = 1;
            let mut a = [0u8; 128];
            put32(&mut a, 0, kmap.as_raw_fd() as u32);
            put64(&mut a, 8, k.as_ptr() as u64);
            put64(&mut a, 16, &v as *const u32 as u64);
            bpf(BPF_MAP_UPDATE_ELEM, &mut a)?;
        }
        let mut a = [0u8; 128];
        put32(&mut a, 0, BPF_MAP_TYPE_XSKMAP);
        put32(&mut a, 4, 4);
        put32(&mut a, 8, 4);
        put32(&mut a, 12, 64);
        let xmap = fd(bpf(BPF_MAP_CREATE, &mut a)?);
        let k = kmap.as_raw_fd();
        let x = xmap.as_raw_fd();
        // Jump offsets count instructions after the jump; ld_imm64 takes two.
        let prog: Vec<[u8; 8]> = vec![
            insn(0xbf, 6, 1, 0, 0),       // 0: r6 = ctx
            insn(0x61, 2, 6, 0, 0),       // 1: r2 = data
            insn(0x61, 3, 6, 4, 0),       // 2: r3 = data_end
            insn(0xbf, 8, 2, 0, 0),       // 3: r8 = data
            insn(0x07, 2, 0, 0, 38),      // 4: r2 += 38 (eth + ip + ports)
            insn(0x2d, 2, 3, 41, 0),      // 5: if r2 > r3 goto pass (47)
            insn(0x69, 5, 8, 12, 0),      // 6: r5 = ethertype (LE load)
            insn(0x55, 5, 0, 39, 0x0008), // 7: if r5 != IPv4 goto pass
            insn(0x71, 5, 8, 14, 0),      // 8: r5 = version/ihl
            insn(0x55, 5, 0, 37, 0x45),   // 9: if r5 != 0x45 goto pass
            insn(0x69, 5, 8, 20, 0),      // 10: r5 = flags/fragment offset (LE)
            insn(0x57, 5, 0, 0, 0xff1f),  // 11: keep the offset bits
            insn(0x55, 5, 0, 34, 0),      // 12: later fragment -> pass
            insn(0x71, 7, 8, 23, 0),      // 13: r7 = protocol
            insn(0x61, 5, 8, 30, 0),      // 14: r5 = dst addr
            insn(0x63, 10, 5, -8, 0),     // 15: key[0..4]
            insn(0x69, 5, 8, 36, 0),      // 16: r5 = dst port
            insn(0x6b, 10, 5, -4, 0),     // 17: key[4..6]
            insn(0x73, 10, 7, -2, 0),     // 18: key[6] = proto
            insn(0x72, 10, 0, -1, 0),     // 19: key[7] = 0 (destination)
            insn(0x18, 1, 1, 0, k),       // 20-21: r1 = keys map
            insn(0, 0, 0, 0, 0),
            insn(0xbf, 2, 10, 0, 0),            // 22: r2 = fp
            insn(0x07, 2, 0, 0, -8),            // 23: r2 = &key
            insn(0x85, 0, 0, 0, 1),             // 24: map_lookup_elem
            insn(0x55, 0, 0, 23, 0),            // 25: found -> redirect (49)
            insn(0x61, 5, 8, 30, 0),            // 26: r5 = dst addr
            insn(0x63, 10, 5, -8, 0),           // 27: key[0..4]
            insn(0x62, 10, 0, -4, 0x0200_0000), // 28: key[4..8] = 0 0 0 2 (local)
            insn(0x18, 1, 1, 0, k),             // 29-30
            insn(0, 0, 0, 0, 0),
            insn(0xbf, 2, 10, 0, 0),  // 31
            insn(0x07, 2, 0, 0, -8),  // 32
            insn(0x85, 0, 0, 0, 1),   // 33
            insn(0x55, 0, 0, 12, 0),  // 34: to this host -> pass (47)
            insn(0x61, 5, 8, 26, 0),  // 35: r5 = src addr
            insn(0x63, 10, 5, -8, 0), // 36
            insn(0x69, 5, 8, 34, 0),  // 37: r5 = src port
            insn(0x6b, 10, 5, -4, 0), // 38
            insn(0x73, 10, 7, -2, 0), // 39
            insn(0x72, 10, 0, -1, 1), // 40: key[7] = 1 (source)
            insn(0x18, 1, 1, 0, k),   // 41-42
            insn(0, 0, 0, 0, 0),
            insn(0xbf, 2, 10, 0, 0), // 43
            insn(0x07, 2, 0, 0, -8), // 44
            insn(0x85, 0, 0, 0, 1),  // 45
            insn(0x55, 0, 0, 2, 0),  // 46: found -> redirect (49)
            insn(0xb7, 0, 0, 0, 2),  // 47: pass: r0 = XDP_PASS
            insn(0x95, 0, 0, 0, 0),  // 48: exit
            insn(0x61, 2, 6, 16, 0), // 49: redirect: r2 = rx_queue_index
            insn(0x18, 1, 1, 0, x),  // 50-51: r1 = xskmap
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, 2),  // 52: r3 = XDP_PASS if no socket
            insn(0x85, 0, 0, 0, 51), // 53: redirect_map
            insn(0x95, 0, 0, 0, 0),  // 54: exit
        ];
        let redirect = XdpRedirect::load(ifindex, flags, xmap, &prog.concat())?;
        Ok(XdpClassifier {
            redirect,
            _keys: kmap,
        })
    }

    /// Point queue `queue` at `xsk`.
    pub fn register(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        self.redirect.register(queue, xsk)
    }
}

/// An XDP program redirecting every frame to the XSK of its RX queue, attached.
pub struct XdpRedirect {
    map: OwnedFd,
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl XdpRedirect {
    /// Load and attach to `ifindex` (`flags`: XDP_FLAGS_DRV_MODE or _SKB_MODE).
    pub fn attach(ifindex: i32, flags: u32) -> io::Result<XdpRedirect> {
        let mut a = [0u8; 128];
        put32(&mut a, 0, BPF_MAP_TYPE_XSKMAP);
        put32(&mut a, 4, 4);
        put32(&mut a, 8, 4);
        put32(&mut a, 12, 64);
        let map = fd(bpf(BPF_MAP_CREATE, &mut a)?);
        // r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS (on a miss);
        // return bpf_redirect_map(r1, r2, r3).
        let prog: Vec<u8> = [
            insn(0x61, 2, 1, 16, 0),
            insn(0x18, 1, 1, 0, map.as_raw_fd()),
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, 2),
            insn(0x85, 0, 0, 0, 51),
            insn(0x95, 0, 0, 0, 0),
        ]
        .concat();
        XdpRedirect::load(ifindex, flags, map, &prog)
    }

    fn load(ifindex: i32, flags: u32, map: OwnedFd, prog: &[u8]) -> io::Result<XdpRedirect> {
        let license = b"GPL\0";
        // Load quietly; only on failure load again with the verifier's log
        // (a log that overflows its buffer makes the load fail with ENOSPC).
        let load = |log: Option<&mut Vec<u8>>| {
            let mut a = [0u8; 128];
            put32(&mut a, 0, BPF_PROG_TYPE_XDP);
            put32(&mut a, 4, (prog.len() / 8) as u32);
            put64(&mut a, 8, prog.as_ptr() as u64);
            put64(&mut a, 16, license.as_ptr() as u64);
            if let Some(log) = log {
                put32(&mut a, 24, 1);
                put32(&mut a, 28, log.len() as u32);
                put64(&mut a, 32, log.as_mut_ptr() as u64);
            }
            put32(&mut a, 68, BPF_XDP); // expected_attach_type
            bpf(BPF_PROG_LOAD, &mut a)
        };
        let p = match load(None) {
            Ok(p) => p,
            Err(e) => {
                let mut log = vec![0u8; 1 << 20];
                let _ = load(Some(&mut log));
                let msg = String::from_utf8_lossy(&log);
                let msg = msg.trim_end_matches('\0');
                let tail = &msg[msg.len().saturating_sub(2000)..];
                return Err(io::Error::new(
                    e.kind(),
                    format!("BPF_PROG_LOAD: {e}: {tail}"),
                ));
            }
        };
        let prog_fd = fd(p);
        let mut a = [0u8; 128];
        put32(&mut a, 0, prog_fd.as_raw_fd() as u32);
        put32(&mut a, 4, ifindex as u32);
        put32(&mut a, 8, BPF_XDP);
        put32(&mut a, 12, flags);
        let link = fd(bpf(BPF_LINK_CREATE, &mut a)
            .map_err(|e| io::Error::new(e.kind(), format!("BPF_LINK_CREATE: {e}")))?);
        Ok(XdpRedirect {
            map,
            _prog: prog_fd,
            _link: link,
        })
    }

    /// Point queue `queue` at `xsk`.
    pub fn register(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        let key = queue;
        let val = xsk as u32;
        let mut a = [0u8; 128];
        put32(&mut a, 0, self.map.as_raw_fd() as u32);
        put64(&mut a, 8, &key as *const u32 as u64);
        put64(&mut a, 16, &val as *const u32 as u64);
        bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
    }
}

struct Ring {
    map: *mut u8,
    len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
}

impl Ring {
    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into the ring mapping, which lives as long as self.
        unsafe { &*self.producer }
    }
    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
    }
}

/// An AF_XDP socket (copy mode, queue 0) with its UMEM and four rings.
pub struct Xsk {
    fd: OwnedFd,
    umem: *mut u8,
    rx: Ring,
    tx: Ring,
    fill: Ring,
    comp: Ring,
    /// Free UMEM frames for TX.
    free: Vec<u64>,
    tx_pending: u32,
}

// SAFETY: owned mappings, used by one thread at a time.
unsafe impl Send for Xsk {}

fn sockopt<T>(fd: RawFd, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: v is a live T.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn map_ring(
    fd: RawFd,
    off: &libc::xdp_ring_offset,
    pgoff: u64,
    n: u32,
    esize: usize,
) -> io::Result<Ring> {
    let len = off.desc as usize + n as usize * esize;
    // SAFETY: mapping a ring of this socket at its page offset.
    let m = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            pgoff as libc::off_t,
        )
    };
    if m == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let m = m as *mut u8;
    // SAFETY: offsets come from XDP_MMAP_OFFSETS for this mapping.
    unsafe {
        Ok(Ring {
            map: m,
            len,
            producer: m.add(off.producer as usize) as *const AtomicU32,
            consumer: m.add(off.consumer as usize) as *const AtomicU32,
            desc: m.add(off.desc as usize),
            mask: n - 1,
        })
    }
}

impl Xsk {
    /// Open an XSK on `ifindex` queue 0 in copy mode.
    pub fn open(ifindex: i32) -> io::Result<Xsk> {
        // SAFETY: plain socket(2).
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = fd(raw);
        let ulen = FRAME * NFRAMES;
        // SAFETY: anonymous mapping for the UMEM.
        let umem = unsafe {
            libc::mmap(
                ptr::null_mut(),
                ulen,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let reg = libc::xdp_umem_reg {
            addr: umem as u64,
            len: ulen as u64,
            chunk_size: FRAME as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        sockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        sockopt(raw, libc::XDP_UMEM_FILL_RING, &RING)?;
        sockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &RING)?;
        sockopt(raw, libc::XDP_RX_RING, &RING)?;
        sockopt(raw, libc::XDP_TX_RING, &RING)?;
        // SAFETY: zeroed offsets struct filled by getsockopt.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut olen = std::mem::size_of::<libc::xdp_mmap_offsets>() as u32;
        // SAFETY: off/olen describe a valid buffer.
        if unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                &mut off as *mut _ as *mut libc::c_void,
                &mut olen,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let d = std::mem::size_of::<libc::xdp_desc>();
        let rx = map_ring(raw, &off.rx, libc::XDP_PGOFF_RX_RING as u64, RING, d)?;
        let tx = map_ring(raw, &off.tx, libc::XDP_PGOFF_TX_RING as u64, RING, d)?;
        let fill = map_ring(raw, &off.fr, libc::XDP_UMEM_PGOFF_FILL_RING, RING, 8)?;
        let comp = map_ring(raw, &off.cr, libc::XDP_UMEM_PGOFF_COMPLETION_RING, RING, 8)?;
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex as u32,
            sxdp_queue_id: 0,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: sa is a valid sockaddr_xdp.
        if unsafe {
            libc::bind(
                raw,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_xdp>() as u32,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let mut x = Xsk {
            fd: sock,
            umem: umem as *mut u8,
            rx,
            tx,
            fill,
            comp,
            free: Vec::new(),
            tx_pending: 0,
        };
        // First half of the UMEM feeds RX, the second half is for TX.
        let half = NFRAMES / 2;
        let n = (RING as usize).min(half);
        let p = x.fill.prod().load(Ordering::Relaxed);
        for i in 0..n {
            x.fill_slot(p.wrapping_add(i as u32), (i * FRAME) as u64);
        }
        x.fill
            .prod()
            .store(p.wrapping_add(n as u32), Ordering::Release);
        x.free = (half..NFRAMES).map(|i| (i * FRAME) as u64).collect();
        Ok(x)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn fill_slot(&mut self, idx: u32, addr: u64) {
        // SAFETY: idx & mask is inside the fill ring.
        unsafe {
            ptr::write(
                (self.fill.desc as *mut u64).add((idx & self.fill.mask) as usize),
                addr,
            )
        };
    }

    /// Wait for RX (poll).
    pub fn wait_rx(&self, timeout_ms: i32) -> bool {
        if self.rx.prod().load(Ordering::Acquire) != self.rx.cons().load(Ordering::Relaxed) {
            return true;
        }
        let mut p = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is a valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout_ms) };
        self.rx.prod().load(Ordering::Acquire) != self.rx.cons().load(Ordering::Relaxed)
    }

    /// Walk the RX ring: call `f(self, addr, len)` for each received frame
    /// that lies inside the UMEM, then give every frame back to the fill ring.
    /// Returns how many descriptors were consumed.
    fn rx_each<F: FnMut(&mut Xsk, usize, usize)>(&mut self, mut f: F) -> usize {
        let prod = self.rx.prod().load(Ordering::Acquire);
        let cons = self.rx.cons().load(Ordering::Relaxed);
        let n = prod.wrapping_sub(cons);
        let fp = self.fill.prod().load(Ordering::Relaxed);
        for i in 0..n {
            let idx = cons.wrapping_add(i) & self.rx.mask;
            // SAFETY: a descriptor the kernel produced.
            let d: libc::xdp_desc =
                unsafe { ptr::read((self.rx.desc as *const libc::xdp_desc).add(idx as usize)) };
            let addr = d.addr as usize;
            if addr + d.len as usize <= FRAME * NFRAMES {
                f(self, addr, d.len as usize);
            }
            self.fill_slot(fp.wrapping_add(i), (addr - addr % FRAME) as u64);
        }
        self.rx.cons().store(prod, Ordering::Release);
        self.fill
            .prod()
            .store(fp.wrapping_add(n), Ordering::Release);
        n as usize
    }

    /// Hand each received frame to `f`, then give the frames back to the fill ring.
    pub fn rx_batch<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        self.rx_each(|x, addr, len| {
            // SAFETY: the frame lies inside the UMEM (rx_each checked) and is
            // ours until refilled.
            let data = unsafe { std::slice::from_raw_parts(x.umem.add(addr), len) };
            f(data);
        })
    }

    /// Receive a batch and, for each frame, let `f` build a reply frame in a
    /// TX buffer of the same socket (returns its length, or None to send
    /// nothing). Returns (received, queued for TX).
    pub fn forward_batch<F: FnMut(&[u8], &mut [u8]) -> Option<usize>>(
        &mut self,
        mut f: F,
    ) -> (usize, usize) {
        let mut queued = 0;
        let n = self.rx_each(|x, addr, len| {
            if x.free.is_empty() {
                x.reclaim();
            }
            if x.free.is_empty() {
                let _ = x.flush();
            }
            if let Some(t) = x.free.pop() {
                // SAFETY: the RX frame and the free TX frame are distinct
                // chunks of the UMEM, both ours right now.
                let (data, buf) = unsafe {
                    (
                        std::slice::from_raw_parts(x.umem.add(addr), len),
                        std::slice::from_raw_parts_mut(x.umem.add(t as usize), FRAME),
                    )
                };
                match f(data, buf) {
                    Some(len) if len > 0 && len <= FRAME => {
                        x.queue_tx(t, len);
                        queued += 1;
                    }
                    _ => x.free.push(t),
                }
            }
        });
        (n, queued)
    }

    fn queue_tx(&mut self, addr: u64, len: usize) {
        let p = self.tx.prod().load(Ordering::Relaxed);
        let d = libc::xdp_desc {
            addr,
            len: len as u32,
            options: 0,
        };
        // SAFETY: slot p & mask of the TX ring; at most NFRAMES/2 < RING in flight.
        unsafe {
            ptr::write(
                (self.tx.desc as *mut libc::xdp_desc).add((p & self.tx.mask) as usize),
                d,
            )
        };
        self.tx.prod().store(p.wrapping_add(1), Ordering::Release);
        self.tx_pending += 1;
    }

    fn reclaim(&mut self) {
        let prod = self.comp.prod().load(Ordering::Acquire);
        let mut cons = self.comp.cons().load(Ordering::Relaxed);
        while cons != prod {
            // SAFETY: a completion entry the kernel produced.
            let a = unsafe {
                ptr::read((self.comp.desc as *const u64).add((cons & self.comp.mask) as usize))
            };
            self.free.push(a);
            cons = cons.wrapping_add(1);
        }
        self.comp.cons().store(cons, Ordering::Release);
    }

    /// Queue one frame built by `fill` (returns its length, or None to skip).
    pub fn send_with<F: FnOnce(&mut [u8]) -> Option<usize>>(&mut self, fill: F) -> bool {
        if self.free.is_empty() {
            self.reclaim();
            if self.free.is_empty() {
                let _ = self.flush();
                self.reclaim();
            }
        }
        let Some(addr) = self.free.pop() else {
            return false;
        };
        // SAFETY: a free TX frame of the UMEM.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.umem.add(addr as usize), FRAME) };
        let Some(n) = fill(buf) else {
            self.free.push(addr);
            return true;
        };
        self.queue_tx(addr, n);
        true
    }

    /// Kick the kernel to send the queued frames (copy mode needs a sendto).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.tx_pending == 0 {
            return Ok(());
        }
        self.tx_pending = 0;
        crate::afpacket::kick_tx(self.fd())?;
        self.reclaim();
        Ok(())
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // SAFETY: unmapping our UMEM once (rings unmap themselves).
        unsafe { libc::munmap(self.umem as *mut libc::c_void, FRAME * NFRAMES) };
    }
}
