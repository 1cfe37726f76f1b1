//! AF_XDP and the bpf(2) calls behind it: BPF maps (create, update), an XDP
//! program loaded and attached with BPF_LINK_CREATE, and an XSK socket in
//! copy mode with its UMEM and four rings, whose ownership protocol (which
//! UMEM frame belongs to the kernel, which to us) lives here with the
//! unsafe reads and writes it justifies: the fill ring lends frames to the
//! kernel, the RX ring gives them back; the first half of the UMEM feeds RX,
//! the second half is the free list for TX, returned by the completion ring.
//! Layouts: include/uapi/linux/if_xdp.h, include/uapi/linux/bpf.h.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

const FRAME: usize = 2048;
const NFRAMES: usize = 4096;
const RING: u32 = 2048;

const BPF_MAP_CREATE: i64 = 0;
const BPF_MAP_LOOKUP_ELEM: i64 = 1;
const BPF_MAP_UPDATE_ELEM: i64 = 2;
const BPF_MAP_DELETE_ELEM: i64 = 3;
const BPF_MAP_GET_NEXT_KEY: i64 = 4;
const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_TEST_RUN: i64 = 10;
const BPF_LINK_CREATE: i64 = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: an XDP program for a device, and one run by a
/// CPUMAP entry on its CPU.
pub const BPF_XDP: u32 = 37;
pub const BPF_XDP_CPUMAP: u32 = 35;

/// `union bpf_attr` as the kernel reads it: 128 zero-padded bytes.
type Attr = [u8; 128];

fn bpf(cmd: i64, attr: &mut Attr) -> io::Result<OwnedFd> {
    let r = bpf_raw(cmd, attr)?;
    // SAFETY: the commands that get here return a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// bpf(2). Every pointer an `attr` carries is set by the callers below from
/// a live buffer whose length goes in the matching size field.
fn bpf_raw(cmd: i64, attr: &mut Attr) -> io::Result<i32> {
    // SAFETY: `attr` is a zero-padded bpf_attr of 128 bytes; the pointers in
    // it point to live buffers of the sizes it states (see the callers).
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

/// A BPF map with its key and value sizes, which [`BpfMap::update`] holds
/// the caller to (the kernel reads that many bytes behind each pointer).
pub struct BpfMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl BpfMap {
    /// BPF_MAP_CREATE.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> io::Result<BpfMap> {
        let mut a = [0u8; 128];
        put32(&mut a, 0, map_type);
        put32(&mut a, 4, key_size);
        put32(&mut a, 8, value_size);
        put32(&mut a, 12, max_entries);
        Ok(BpfMap {
            fd: bpf(BPF_MAP_CREATE, &mut a)?,
            key_size: key_size as usize,
            value_size: value_size as usize,
        })
    }

    /// BPF_MAP_UPDATE_ELEM (BPF_ANY). Panics when a length differs from the
    /// map's.
    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        assert_eq!(key.len(), self.key_size, "BPF map key size");
        assert_eq!(value.len(), self.value_size, "BPF map value size");
        let mut a = [0u8; 128];
        put32(&mut a, 0, self.fd.as_raw_fd() as u32);
        put64(&mut a, 8, key.as_ptr() as u64);
        put64(&mut a, 16, value.as_ptr() as u64);
        bpf_raw(BPF_MAP_UPDATE_ELEM, &mut a).map(drop)
    }

    /// BPF_MAP_LOOKUP_ELEM into `value`; false when the key is absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
        assert_eq!(key.len(), self.key_size, "BPF map key size");
        assert_eq!(value.len(), self.value_size, "BPF map value size");
        let mut a = [0u8; 128];
        put32(&mut a, 0, self.fd.as_raw_fd() as u32);
        put64(&mut a, 8, key.as_ptr() as u64);
        put64(&mut a, 16, value.as_mut_ptr() as u64);
        match bpf_raw(BPF_MAP_LOOKUP_ELEM, &mut a) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// BPF_MAP_DELETE_ELEM; false when the key was absent.
    pub fn delete(&self, key: &[u8]) -> io::Result<bool> {
        assert_eq!(key.len(), self.key_size, "BPF map key size");
        let mut a = [0u8; 128];
        put32(&mut a, 0, self.fd.as_raw_fd() as u32);
        put64(&mut a, 8, key.as_ptr() as u64);
        match bpf_raw(BPF_MAP_DELETE_ELEM, &mut a) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every key of the map (BPF_MAP_GET_NEXT_KEY from no key on).
    pub fn keys(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut next = vec![0u8; self.key_size];
            let mut a = [0u8; 128];
            put32(&mut a, 0, self.fd.as_raw_fd() as u32);
            // A null key asks for the first one.
            let key_ptr = out.last().map_or(0, |k| k.as_ptr() as u64);
            put64(&mut a, 8, key_ptr);
            put64(&mut a, 16, next.as_mut_ptr() as u64);
            match bpf_raw(BPF_MAP_GET_NEXT_KEY, &mut a) {
                Ok(_) => out.push(next),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// BPF_F_TEST_XDP_LIVE_FRAMES: run the program on live frames whose
/// XDP_TX / XDP_REDIRECT verdicts really transmit (kernel 5.18+).
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// BPF_PROG_TEST_RUN of an XDP program on `data`, `repeat` times, with the
/// `struct xdp_md` context `ctx` (24 bytes: data, data_end, data_meta,
/// ingress_ifindex, rx_queue_index, egress_ifindex). Returns (the program's
/// return value, the frame as the program left it, ns per run).
pub fn prog_test_run_xdp(
    prog: RawFd,
    data: &[u8],
    ctx: Option<&[u8; 24]>,
    repeat: u32,
    flags: u32,
) -> io::Result<(u32, Vec<u8>, u32)> {
    let mut out = vec![0u8; data.len() + 256];
    let mut a = [0u8; 128];
    put32(&mut a, 0, prog as u32);
    put32(&mut a, 8, data.len() as u32);
    put64(&mut a, 16, data.as_ptr() as u64);
    if flags & BPF_F_TEST_XDP_LIVE_FRAMES == 0 {
        put32(&mut a, 12, out.len() as u32);
        put64(&mut a, 24, out.as_mut_ptr() as u64);
    }
    put32(&mut a, 32, repeat);
    if let Some(ctx) = ctx {
        put32(&mut a, 40, ctx.len() as u32);
        put64(&mut a, 48, ctx.as_ptr() as u64);
    }
    put32(&mut a, 64, flags);
    bpf_raw(BPF_PROG_TEST_RUN, &mut a)?;
    let retval = u32::from_ne_bytes([a[4], a[5], a[6], a[7]]);
    let out_len = u32::from_ne_bytes([a[12], a[13], a[14], a[15]]) as usize;
    let duration = u32::from_ne_bytes([a[36], a[37], a[38], a[39]]);
    out.truncate(out_len.min(out.len()));
    Ok((retval, out, duration))
}

/// BPF_PROG_LOAD of an XDP program (`insns`: 8-byte instructions) for
/// `expected_attach_type` (BPF_XDP, BPF_XDP_CPUMAP), with the verifier's log
/// in `log` when given.
pub fn prog_load_xdp(
    insns: &[u8],
    license: &CStr,
    log: Option<&mut [u8]>,
    expected_attach_type: u32,
) -> io::Result<OwnedFd> {
    assert_eq!(insns.len() % 8, 0, "eBPF instructions are 8 bytes");
    let mut a = [0u8; 128];
    put32(&mut a, 0, BPF_PROG_TYPE_XDP);
    put32(&mut a, 4, (insns.len() / 8) as u32);
    put64(&mut a, 8, insns.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    if let Some(log) = log {
        put32(&mut a, 24, 1);
        put32(&mut a, 28, log.len() as u32);
        put64(&mut a, 32, log.as_mut_ptr() as u64);
    }
    put32(&mut a, 68, expected_attach_type);
    bpf(BPF_PROG_LOAD, &mut a)
}

/// BPF_LINK_CREATE: attach XDP program `prog` to `ifindex`.
pub fn link_create_xdp(prog: RawFd, ifindex: i32, flags: u32) -> io::Result<OwnedFd> {
    let mut a = [0u8; 128];
    put32(&mut a, 0, prog as u32);
    put32(&mut a, 4, ifindex as u32);
    put32(&mut a, 8, BPF_XDP);
    put32(&mut a, 12, flags);
    bpf(BPF_LINK_CREATE, &mut a)
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
        // SAFETY: the kernel's producer index, a u32 at the offset
        // XDP_MMAP_OFFSETS gave (4-byte aligned) inside the ring mapping,
        // which lives as long as self; shared with the kernel, hence atomic.
        unsafe { &*self.producer }
    }
    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as `prod`, for the consumer index.
        unsafe { &*self.consumer }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: our own ring mapping, unmapped once; the references `prod`
        // and `cons` hand out borrow self, so none outlives it.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
    }
}

/// The UMEM: an anonymous private mapping, unmapped on drop.
struct Umem {
    ptr: *mut u8,
    len: usize,
}

impl Umem {
    fn new(len: usize) -> io::Result<Umem> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks;
        // it aliases no Rust object.
        let m = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if m == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Umem { ptr: m.cast(), len })
    }

    fn add(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.len);
        self.ptr.wrapping_add(off)
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; the socket that registered
        // it is declared (and so closed) before it in `Xsk`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// An AF_XDP socket (copy mode, queue 0) with its UMEM and four rings.
pub struct Xsk {
    // Field order: the socket closes before the UMEM and rings unmap.
    fd: OwnedFd,
    umem: Umem,
    rx: Ring,
    tx: Ring,
    fill: Ring,
    comp: Ring,
    /// Free UMEM frames for TX.
    free: Vec<u64>,
    tx_pending: u32,
}

// SAFETY: the socket, the UMEM and the rings are owned by this value (like a
// Vec<u8>) and every access goes through `&mut self` or atomics; moving it to
// another thread moves that ownership.
unsafe impl Send for Xsk {}

fn sockopt<T: Copy>(fd: RawFd, name: i32, v: &T) -> io::Result<()> {
    super::socket::setsockopt(fd, libc::SOL_XDP, name, v)
}

fn map_ring(
    fd: RawFd,
    off: &libc::xdp_ring_offset,
    pgoff: u64,
    n: u32,
    esize: usize,
) -> io::Result<Ring> {
    let len = off.desc as usize + n as usize * esize;
    // SAFETY: a fresh shared mapping of this socket's ring at its page
    // offset; it aliases no Rust object.
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
    // SAFETY: the offsets come from XDP_MMAP_OFFSETS for this ring, so the
    // indices and the descriptor array lie inside the `len` bytes mapped.
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
        let sock = super::socket::socket(libc::AF_XDP, libc::SOCK_RAW, 0)?;
        let raw = sock.as_raw_fd();
        let ulen = FRAME * NFRAMES;
        let umem = Umem::new(ulen)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr as u64,
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
        // SAFETY: an all-zero xdp_mmap_offsets (plain integers) is valid.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut olen = std::mem::size_of::<libc::xdp_mmap_offsets>() as u32;
        // SAFETY: `off`/`olen` describe a live xdp_mmap_offsets the kernel
        // fills.
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
        super::socket::bind(raw, &sa)?;
        let mut x = Xsk {
            fd: sock,
            umem,
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
        let _ = super::event::poll_ms(&[self.fd()], libc::POLLIN, timeout_ms);
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
        super::socket::kick_tx(self.fd())?;
        self.reclaim();
        Ok(())
    }
}
