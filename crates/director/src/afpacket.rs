//! AF_PACKET socket with a TPACKET_V3 RX ring and a TX ring in one mmap,
//! bound to one interface. RX: the kernel fills blocks of variable-size frames
//! and hands a whole block over (TP_STATUS_USER), so one poll wakes up for many
//! packets. TX: fixed slots, marked TP_STATUS_SEND_REQUEST, sent by one
//! `sendto` kick per batch; PACKET_QDISC_BYPASS skips the qdisc layer.
//! Layouts: include/uapi/linux/if_packet.h; V3 TX slots need tp_next_offset 0
//! (net/packet/af_packet.c, tpacket_parse_header).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

/// Ring geometry.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    pub rx_block_size: u32,
    pub rx_block_nr: u32,
    /// How long the kernel keeps a partly filled RX block (ms).
    pub rx_block_timeout_ms: u32,
    pub tx_frame_size: u32,
    pub tx_frame_nr: u32,
    pub qdisc_bypass: bool,
    /// Join a PACKET_FANOUT group (hash) with this id, for several workers.
    pub fanout_group: Option<u16>,
}

impl Default for RingConfig {
    fn default() -> RingConfig {
        RingConfig {
            rx_block_size: 1 << 18,
            rx_block_nr: 16,
            rx_block_timeout_ms: 1,
            tx_frame_size: 2048,
            tx_frame_nr: 1024,
            qdisc_bypass: true,
            fanout_group: None,
        }
    }
}

/// One received frame, borrowed from the ring.
pub struct RxFrame<'a> {
    pub data: &'a [u8],
    /// Original length (data may be cut at the block size).
    pub len: usize,
    pub status: u32,
    /// sll_pkttype: PACKET_HOST, PACKET_BROADCAST, ...
    pub pkttype: u8,
}

impl RxFrame<'_> {
    /// The L4 checksum is partial (CHECKSUM_PARTIAL from a local sender).
    pub fn csum_not_ready(&self) -> bool {
        self.status & libc::TP_STATUS_CSUMNOTREADY != 0
    }
}

/// An AF_PACKET socket bound to one interface with mmapped rings.
pub struct PacketRing {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    cfg: RingConfig,
    rx_len: usize,
    rx_block: usize,
    tx_slot: usize,
    tx_pending: usize,
    ifindex: i32,
}

// SAFETY: the ring memory is owned by this value; one thread uses it at a time.
unsafe impl Send for PacketRing {}

const V3_HDR: usize = 48; // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
const SLL_PKTTYPE: usize = V3_HDR + 10;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt<T>(fd: RawFd, level: i32, name: i32, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the given size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
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

/// Kick a TX ring (AF_PACKET TX_RING or AF_XDP) with a zero-length send.
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a send with no buffer kicks the TX ring.
    let r = unsafe { libc::sendto(fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) };
    if r < 0 {
        let e = io::Error::last_os_error();
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

impl PacketRing {
    /// Open, configure and bind a ring socket on `ifname` (needs CAP_NET_RAW).
    pub fn open(ifname: &str, cfg: RingConfig) -> io::Result<PacketRing> {
        let idx = ifindex(ifname)?;
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain socket(2).
        let raw = cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) })?;
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let v = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &v)?;
        let one: libc::c_int = 1;
        let _ = setopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
        if cfg.qdisc_bypass {
            setopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
        }
        // A TX slot the kernel refuses (e.g. longer than the MTU) is skipped
        // instead of stopping the ring at TP_STATUS_WRONG_FORMAT.
        setopt(raw, libc::SOL_PACKET, libc::PACKET_LOSS, &one)?;
        let rx = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_block_nr,
            tp_frame_size: 2048,
            tp_frame_nr: cfg.rx_block_size / 2048 * cfg.rx_block_nr,
            tp_retire_blk_tov: cfg.rx_block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx)?;
        let per_block = (1u32 << 16) / cfg.tx_frame_size;
        let tx = libc::tpacket_req3 {
            tp_block_size: 1 << 16,
            tp_block_nr: cfg.tx_frame_nr.div_ceil(per_block),
            tp_frame_size: cfg.tx_frame_size,
            tp_frame_nr: cfg.tx_frame_nr.div_ceil(per_block) * per_block,
            tp_retire_blk_tov: 0,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setopt(raw, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx)?;
        let rx_len = (cfg.rx_block_size * cfg.rx_block_nr) as usize;
        let tx_len = (tx.tp_block_size * tx.tp_block_nr) as usize;
        // SAFETY: mapping the rings the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                rx_len + tx_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                raw,
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED can fail under RLIMIT_MEMLOCK; retry without it.
            // SAFETY: as above.
            let m = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    rx_len + tx_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    raw,
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            m
        } else {
            map
        };
        let mut cfg = cfg;
        cfg.tx_frame_nr = tx.tp_frame_nr;
        let ring = PacketRing {
            fd,
            map: map as *mut u8,
            map_len: rx_len + tx_len,
            cfg,
            rx_len,
            rx_block: 0,
            tx_slot: 0,
            tx_pending: 0,
            ifindex: idx,
        };
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto as u16;
        sll.sll_ifindex = idx;
        // SAFETY: sll is a valid sockaddr_ll.
        cvt(unsafe {
            libc::bind(
                raw,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        if let Some(g) = cfg.fanout_group {
            let arg: u32 = u32::from(g) | (libc::PACKET_FANOUT_HASH << 16);
            setopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
        }
        Ok(ring)
    }

    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// The socket (for polling together with other sockets).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// True when the kernel has handed over the current RX block.
    pub fn rx_ready(&self) -> bool {
        // SAFETY: the block header is inside the mapping.
        Self::read_u32(unsafe { self.block_ptr(self.rx_block).add(8) }) & libc::TP_STATUS_USER != 0
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY (of callers): i < rx_block_nr keeps this inside the RX ring.
        unsafe { self.map.add(i * self.cfg.rx_block_size as usize) }
    }

    fn read_u32(p: *const u8) -> u32 {
        // SAFETY: callers pass pointers inside the mapping, 4-byte aligned.
        unsafe { ptr::read_volatile(p as *const u32) }
    }

    /// Wait up to `timeout` for a filled RX block. True if one is ready.
    pub fn wait_rx(&self, timeout: Duration) -> io::Result<bool> {
        if Self::read_u32(unsafe { self.block_ptr(self.rx_block).add(8) }) & libc::TP_STATUS_USER
            != 0
        {
            return Ok(true);
        }
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        // SAFETY: p is a valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(
            Self::read_u32(unsafe { self.block_ptr(self.rx_block).add(8) }) & libc::TP_STATUS_USER
                != 0,
        )
    }

    /// Hand every frame of the current RX block (if the kernel released it) to
    /// `f`, then give the block back. Returns the number of frames.
    pub fn rx_block<F: FnMut(&mut PacketRing, RxFrame<'_>)>(&mut self, mut f: F) -> usize {
        let blk = self.block_ptr(self.rx_block);
        // SAFETY: the block header is inside the mapping.
        let status = Self::read_u32(unsafe { blk.add(8) });
        if status & libc::TP_STATUS_USER == 0 {
            return 0;
        }
        fence(Ordering::Acquire);
        let num = Self::read_u32(unsafe { blk.add(12) }) as usize;
        let mut off = Self::read_u32(unsafe { blk.add(16) }) as usize;
        let bsize = self.cfg.rx_block_size as usize;
        for _ in 0..num {
            if off + V3_HDR > bsize {
                break;
            }
            // SAFETY: off < block size, checked above and below.
            let h = unsafe { blk.add(off) };
            let next = Self::read_u32(h) as usize;
            let snap = Self::read_u32(unsafe { h.add(12) }) as usize;
            let len = Self::read_u32(unsafe { h.add(16) }) as usize;
            let st = Self::read_u32(unsafe { h.add(20) });
            let mac = unsafe { ptr::read_volatile(h.add(24) as *const u16) } as usize;
            let pkttype = unsafe { ptr::read_volatile(h.add(SLL_PKTTYPE)) };
            if off + mac + snap <= bsize {
                // SAFETY: the frame lies inside this block; the kernel does not
                // touch the block until we set it back to TP_STATUS_KERNEL.
                let data = unsafe { std::slice::from_raw_parts(h.add(mac), snap) };
                f(
                    self,
                    RxFrame {
                        data,
                        len,
                        status: st,
                        pkttype,
                    },
                );
            }
            if next == 0 {
                break;
            }
            off += next;
        }
        fence(Ordering::Release);
        // SAFETY: writing block_status back to the kernel.
        unsafe { ptr::write_volatile(blk.add(8) as *mut u32, libc::TP_STATUS_KERNEL) };
        self.rx_block = (self.rx_block + 1) % self.cfg.rx_block_nr as usize;
        num
    }

    fn tx_ptr(&self, slot: usize) -> *mut u8 {
        // SAFETY (of callers): slot < tx_frame_nr; slots are contiguous because
        // the TX block size is a multiple of the frame size.
        unsafe {
            self.map
                .add(self.rx_len + slot * self.cfg.tx_frame_size as usize)
        }
    }

    /// Largest frame a TX slot holds.
    pub fn tx_capacity(&self) -> usize {
        self.cfg.tx_frame_size as usize - V3_HDR
    }

    /// Fill the next free TX slot with `fill` (which returns the frame length,
    /// or None to skip). False when the ring is full (after a kick and a retry).
    pub fn send_with<F: FnOnce(&mut [u8]) -> Option<usize>>(&mut self, fill: F) -> bool {
        let mut slot = self.tx_ptr(self.tx_slot);
        if Self::read_u32(unsafe { slot.add(20) })
            & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING)
            != 0
        {
            let _ = self.flush();
            let mut tries = 0;
            loop {
                slot = self.tx_ptr(self.tx_slot);
                let st = Self::read_u32(unsafe { slot.add(20) });
                if st & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) == 0 {
                    break;
                }
                tries += 1;
                if tries > 1000 {
                    return false;
                }
                std::thread::yield_now();
            }
        }
        let cap = self.tx_capacity();
        // SAFETY: the slot is ours (status AVAILABLE) and cap bytes long.
        let buf = unsafe { std::slice::from_raw_parts_mut(slot.add(V3_HDR), cap) };
        let Some(n) = fill(buf) else {
            return true;
        };
        if n == 0 || n > cap {
            return true;
        }
        // SAFETY: header fields of our slot.
        unsafe {
            ptr::write_volatile(slot as *mut u32, 0);
            ptr::write_volatile(slot.add(12) as *mut u32, n as u32);
            ptr::write_volatile(slot.add(16) as *mut u32, n as u32);
        }
        fence(Ordering::Release);
        unsafe { ptr::write_volatile(slot.add(20) as *mut u32, libc::TP_STATUS_SEND_REQUEST) };
        self.tx_slot = (self.tx_slot + 1) % self.cfg.tx_frame_nr as usize;
        self.tx_pending += 1;
        true
    }

    /// Ask the kernel to send every slot marked SEND_REQUEST.
    pub fn flush(&mut self) -> io::Result<usize> {
        if self.tx_pending == 0 {
            return Ok(0);
        }
        let n = self.tx_pending;
        self.tx_pending = 0;
        kick_tx(self.fd.as_raw_fd())?;
        Ok(n)
    }

    /// Send one frame now (slow path: ARP requests and the like).
    pub fn send_now(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send_with(|b| {
            let n = frame.len().min(b.len());
            b[..n].copy_from_slice(&frame[..n]);
            Some(n)
        });
        self.flush().map(|_| ())
    }
}

impl Drop for PacketRing {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.map_len) };
    }
}
