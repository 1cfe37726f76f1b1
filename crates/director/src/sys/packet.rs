//! The mmapped rings of an AF_PACKET socket (TPACKET_V3 RX, then TX, in one
//! shared mapping), and the ownership protocol that makes touching them
//! sound: an RX block is ours from the moment the kernel sets TP_STATUS_USER
//! until we write TP_STATUS_KERNEL back (an [`RxBlock`] guard, at most one
//! per block); a TX slot is ours while its status is TP_STATUS_AVAILABLE,
//! and we hand it over by writing TP_STATUS_SEND_REQUEST last. Layouts:
//! include/uapi/linux/if_packet.h, as libc's `tpacket_block_desc`,
//! `tpacket3_hdr` and `sockaddr_ll`; V3 TX slots need tp_next_offset 0
//! (net/packet/af_packet.c, tpacket_parse_header).

use std::io;
use std::os::fd::RawFd;
use std::ptr::{self, addr_of, addr_of_mut, NonNull};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use libc::{sockaddr_ll, tpacket3_hdr, tpacket_block_desc};

/// Where frame data starts in a V3 slot: TPACKET_ALIGN(sizeof(tpacket3_hdr)),
/// which is also where the kernel puts the `sockaddr_ll` of an RX frame
/// (TPACKET3_HDRLEN is that plus the sockaddr_ll).
pub const V3_HDR: usize = libc::TPACKET3_HDRLEN - std::mem::size_of::<sockaddr_ll>();

/// A shared read-write mapping of a descriptor, unmapped on drop. Only this
/// module dereferences it.
struct SharedMap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value (like a Vec<u8>);
// moving it to another thread moves that ownership.
unsafe impl Send for SharedMap {}
// SAFETY: `&SharedMap` only yields the base address; every access through it
// is a volatile access or a slice of a block/slot this module hands out under
// the ring protocol above, so sharing the value between threads adds no
// unsynchronised access.
unsafe impl Sync for SharedMap {}

impl SharedMap {
    /// mmap(2) `len` bytes of `fd` at offset 0, PROT_READ | PROT_WRITE,
    /// MAP_SHARED | `extra_flags`.
    fn new(fd: RawFd, len: usize, extra_flags: libc::c_int) -> io::Result<SharedMap> {
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

    fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.len);
        self.ptr.as_ptr().wrapping_add(off)
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; the guards and rings that
        // point into it hold the Arc that owns this value.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The mapping plus which RX blocks are out in an [`RxBlock`].
struct Shared {
    map: SharedMap,
    taken: Vec<AtomicBool>,
}

/// Ring sizes as set with PACKET_RX_RING / PACKET_TX_RING.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub rx_block_size: usize,
    pub rx_block_nr: usize,
    pub tx_frame_size: usize,
    pub tx_frame_nr: usize,
    /// Bytes of the TX ring (block size times block count).
    pub tx_len: usize,
}

/// Map the rings of packet socket `fd` (MAP_LOCKED when RLIMIT_MEMLOCK
/// allows, else without).
pub fn map_rings(fd: RawFd, g: Geometry) -> io::Result<(RxRing, TxRing)> {
    let rx_len = g.rx_block_size * g.rx_block_nr;
    assert!(g.rx_block_size >= std::mem::size_of::<tpacket_block_desc>());
    assert!(g.tx_frame_size > V3_HDR && g.tx_frame_size * g.tx_frame_nr <= g.tx_len);
    let len = rx_len + g.tx_len;
    let map = SharedMap::new(fd, len, libc::MAP_LOCKED).or_else(|_| SharedMap::new(fd, len, 0))?;
    let shared = Arc::new(Shared {
        map,
        taken: (0..g.rx_block_nr).map(|_| AtomicBool::new(false)).collect(),
    });
    Ok((
        RxRing {
            shared: shared.clone(),
            block_size: g.rx_block_size,
        },
        TxRing {
            shared,
            base: rx_len,
            frame_size: g.tx_frame_size,
            frame_nr: g.tx_frame_nr,
        },
    ))
}

/// The RX half: blocks of variable-size frames.
pub struct RxRing {
    shared: Arc<Shared>,
    block_size: usize,
}

impl RxRing {
    fn block(&self, i: usize) -> *mut tpacket_block_desc {
        assert!(i < self.shared.taken.len(), "RX block {i} out of range");
        self.shared.map.at(i * self.block_size).cast()
    }

    /// True when the kernel has handed block `i` over (TP_STATUS_USER).
    pub fn ready(&self, i: usize) -> bool {
        let b = self.block(i);
        // SAFETY: the header lies inside the RX ring (i checked), 8-byte
        // aligned (blocks are page multiples). The kernel writes block_status
        // concurrently: one volatile read, no reference.
        let status = unsafe { addr_of!((*b).hdr.bh1.block_status).read_volatile() };
        status & libc::TP_STATUS_USER != 0
    }

    /// Block `i` if the kernel has handed it over and it is not out already;
    /// it goes back to the kernel when the guard drops.
    pub fn take(&self, i: usize) -> Option<RxBlock> {
        if !self.ready(i) || self.shared.taken[i].swap(true, Ordering::AcqRel) {
            return None;
        }
        fence(Ordering::Acquire);
        let blk = self.block(i);
        // SAFETY: the header is inside the RX ring (see `ready`), and the
        // kernel leaves the block alone until we set it back to
        // TP_STATUS_KERNEL.
        let (num, first) = unsafe {
            let h = addr_of!((*blk).hdr.bh1);
            ((*h).num_pkts as usize, (*h).offset_to_first_pkt as usize)
        };
        Some(RxBlock {
            shared: self.shared.clone(),
            index: i,
            base: blk.cast(),
            size: self.block_size,
            num,
            first,
        })
    }
}

/// One RX block handed over by the kernel; returned to it on drop.
pub struct RxBlock {
    shared: Arc<Shared>,
    index: usize,
    base: *mut u8,
    size: usize,
    num: usize,
    first: usize,
}

/// One received frame of an [`RxBlock`].
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

impl RxBlock {
    /// num_pkts of the block header.
    pub fn num_pkts(&self) -> usize {
        self.num
    }

    /// The frames that lie wholly inside the block, in order.
    pub fn frames(&self) -> RxFrames<'_> {
        RxFrames {
            block: self,
            left: self.num,
            off: self.first,
        }
    }
}

impl Drop for RxBlock {
    fn drop(&mut self) {
        fence(Ordering::Release);
        let b = self.base.cast::<tpacket_block_desc>();
        // SAFETY: the block header as in `RxRing::ready`; the mapping lives
        // while `self.shared` does. Writing TP_STATUS_KERNEL hands the block
        // back; no frame slice outlives `self`.
        unsafe { addr_of_mut!((*b).hdr.bh1.block_status).write_volatile(libc::TP_STATUS_KERNEL) };
        self.shared.taken[self.index].store(false, Ordering::Release);
    }
}

/// Iterator over the frames of an [`RxBlock`].
pub struct RxFrames<'a> {
    block: &'a RxBlock,
    left: usize,
    off: usize,
}

impl<'a> Iterator for RxFrames<'a> {
    type Item = RxFrame<'a>;

    fn next(&mut self) -> Option<RxFrame<'a>> {
        let size = self.block.size;
        while self.left > 0 {
            self.left -= 1;
            // Frame header plus the sockaddr_ll after it (every frame the
            // kernel writes has both).
            if self.off + libc::TPACKET3_HDRLEN > size {
                self.left = 0;
                return None;
            }
            let h = self.block.base.wrapping_add(self.off);
            // SAFETY: the frame header and the sockaddr_ll after it lie inside
            // this block (checked just above); the kernel aligns frames to
            // TPACKET_ALIGNMENT (16) and the block is ours while the guard
            // lives.
            let (hdr, pkttype) = unsafe {
                (
                    h.cast::<tpacket3_hdr>().read_volatile(),
                    addr_of!((*h.add(V3_HDR).cast::<sockaddr_ll>()).sll_pkttype).read_volatile(),
                )
            };
            let (mac, snap) = (hdr.tp_mac as usize, hdr.tp_snaplen as usize);
            let frame = (self.off + mac + snap <= size).then(|| {
                // SAFETY: the frame lies inside this block (checked), which
                // the kernel leaves alone while the guard (which this slice
                // borrows) lives.
                let data = unsafe { std::slice::from_raw_parts(h.add(mac), snap) };
                RxFrame {
                    data,
                    len: hdr.tp_len as usize,
                    status: hdr.tp_status,
                    pkttype,
                }
            });
            if hdr.tp_next_offset == 0 {
                self.left = 0;
            } else {
                self.off += hdr.tp_next_offset as usize;
            }
            if frame.is_some() {
                return frame;
            }
        }
        None
    }
}

/// The TX half: fixed slots, contiguous (the TX block size is a multiple of
/// the frame size). One value per socket, so `&mut self` is exclusive.
pub struct TxRing {
    shared: Arc<Shared>,
    base: usize,
    frame_size: usize,
    frame_nr: usize,
}

/// What [`TxRing::fill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxFill {
    /// The kernel still owns the slot.
    Busy,
    /// The filler declined (or returned a bad length): the slot stays free.
    Skipped,
    /// Marked TP_STATUS_SEND_REQUEST.
    Queued,
}

impl TxRing {
    pub fn slots(&self) -> usize {
        self.frame_nr
    }

    /// Largest frame a slot holds.
    pub fn capacity(&self) -> usize {
        self.frame_size - V3_HDR
    }

    fn slot(&self, slot: usize) -> *mut tpacket3_hdr {
        assert!(slot < self.frame_nr, "TX slot {slot} out of range");
        self.shared
            .map
            .at(self.base + slot * self.frame_size)
            .cast()
    }

    /// True while the kernel owns `slot` (send requested or sending).
    pub fn busy(&self, slot: usize) -> bool {
        let s = self.slot(slot);
        // SAFETY: slot checked, so the header is inside the TX ring; the
        // kernel only accepts frame sizes that are multiples of
        // TPACKET_ALIGNMENT, so it is aligned. The kernel writes tp_status
        // concurrently: one volatile read, no reference.
        let st = unsafe { addr_of!((*s).tp_status).read_volatile() };
        st & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0
    }

    /// Let `fill` write a frame into `slot` (it returns the length, or None to
    /// skip) and hand the slot to the kernel.
    pub fn fill<F: FnOnce(&mut [u8]) -> Option<usize>>(&mut self, slot: usize, fill: F) -> TxFill {
        if self.busy(slot) {
            return TxFill::Busy;
        }
        let s = self.slot(slot);
        let cap = self.capacity();
        // SAFETY: the slot is ours (status available, checked above, and the
        // kernel does not touch an available slot); its data area, V3_HDR
        // bytes in, is `cap` bytes long; `&mut self` makes this the only
        // view of it.
        let buf = unsafe { std::slice::from_raw_parts_mut(s.cast::<u8>().add(V3_HDR), cap) };
        match fill(buf) {
            Some(n) if n > 0 && n <= cap => {
                // SAFETY: header fields of our slot (see `busy`); tp_status
                // last, after the release fence, hands the slot over.
                unsafe {
                    addr_of_mut!((*s).tp_next_offset).write_volatile(0);
                    addr_of_mut!((*s).tp_snaplen).write_volatile(n as u32);
                    addr_of_mut!((*s).tp_len).write_volatile(n as u32);
                    fence(Ordering::Release);
                    addr_of_mut!((*s).tp_status).write_volatile(libc::TP_STATUS_SEND_REQUEST);
                }
                TxFill::Queued
            }
            _ => TxFill::Skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// libc's structs against the offsets of include/uapi/linux/if_packet.h.
    #[test]
    fn tpacket_v3_layout() {
        assert_eq!(V3_HDR, 48);
        assert_eq!(offset_of!(sockaddr_ll, sll_pkttype), 10);
        assert_eq!(offset_of!(tpacket_block_desc, hdr), 8);
        assert_eq!(offset_of!(libc::tpacket_hdr_v1, num_pkts), 4);
        assert_eq!(offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt), 8);
        assert_eq!(offset_of!(tpacket3_hdr, tp_snaplen), 12);
        assert_eq!(offset_of!(tpacket3_hdr, tp_len), 16);
        assert_eq!(offset_of!(tpacket3_hdr, tp_status), 20);
        assert_eq!(offset_of!(tpacket3_hdr, tp_mac), 24);
    }
}
