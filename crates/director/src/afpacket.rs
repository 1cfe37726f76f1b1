//! AF_PACKET socket with a TPACKET_V3 RX ring and a TX ring in one mmap,
//! bound to one interface. RX: the kernel fills blocks of variable-size frames
//! and hands a whole block over (TP_STATUS_USER), so one poll wakes up for many
//! packets. TX: fixed slots, marked TP_STATUS_SEND_REQUEST, sent by one
//! `sendto` kick per batch; PACKET_QDISC_BYPASS skips the qdisc layer.
//! Layouts: include/uapi/linux/if_packet.h, as libc's `tpacket_block_desc`
//! (RX block header), `tpacket3_hdr` (frame/slot header) and `sockaddr_ll`
//! (after the frame header); V3 TX slots need tp_next_offset 0
//! (net/packet/af_packet.c, tpacket_parse_header). System calls: `crate::sys`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::{addr_of, addr_of_mut};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use libc::{sockaddr_ll, tpacket3_hdr, tpacket_block_desc};

pub use crate::sys::ifindex;
use crate::sys::{self, SharedMap};

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
    // Field order: the mapping is unmapped before the socket closes.
    map: SharedMap,
    fd: OwnedFd,
    cfg: RingConfig,
    rx_len: usize,
    rx_block: usize,
    tx_slot: usize,
    tx_pending: usize,
    ifindex: i32,
}

/// Where frame data starts in a V3 slot: TPACKET_ALIGN(sizeof(tpacket3_hdr)),
/// which is also where the kernel puts the `sockaddr_ll` of an RX frame
/// (TPACKET3_HDRLEN is that plus the sockaddr_ll).
const V3_HDR: usize = libc::TPACKET3_HDRLEN - std::mem::size_of::<sockaddr_ll>();

/// Kick a TX ring (AF_PACKET TX_RING or AF_XDP) with a zero-length send.
pub(crate) fn kick_tx(fd: RawFd) -> io::Result<()> {
    if let Err(e) = sys::send_empty(fd) {
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
        let fd = sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        let raw = fd.as_raw_fd();
        let v = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &v)?;
        let one: libc::c_int = 1;
        let _ = sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
        if cfg.qdisc_bypass {
            sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
        }
        // A TX slot the kernel refuses (e.g. longer than the MTU) is skipped
        // instead of stopping the ring at TP_STATUS_WRONG_FORMAT.
        sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_LOSS, &one)?;
        let rx = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_block_nr,
            tp_frame_size: 2048,
            tp_frame_nr: cfg.rx_block_size / 2048 * cfg.rx_block_nr,
            tp_retire_blk_tov: cfg.rx_block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx)?;
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
        sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx)?;
        let rx_len = (cfg.rx_block_size * cfg.rx_block_nr) as usize;
        let tx_len = (tx.tp_block_size * tx.tp_block_nr) as usize;
        // The rings the kernel just allocated for this socket. MAP_LOCKED can
        // fail under RLIMIT_MEMLOCK; retry without it.
        let map = SharedMap::new(raw, rx_len + tx_len, libc::MAP_LOCKED)
            .or_else(|_| SharedMap::new(raw, rx_len + tx_len, 0))?;
        let mut cfg = cfg;
        cfg.tx_frame_nr = tx.tp_frame_nr;
        let ring = PacketRing {
            map,
            fd,
            cfg,
            rx_len,
            rx_block: 0,
            tx_slot: 0,
            tx_pending: 0,
            ifindex: idx,
        };
        let sll = sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: idx,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        sys::bind_ll(raw, &sll)?;
        if let Some(g) = cfg.fanout_group {
            let arg: u32 = u32::from(g) | (libc::PACKET_FANOUT_HASH << 16);
            sys::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
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

    /// Header of RX block `i` (< rx_block_nr). Dereferencing it is the
    /// caller's unsafe business.
    fn block(&self, i: usize) -> *mut tpacket_block_desc {
        self.map
            .as_ptr()
            .wrapping_add(i * self.cfg.rx_block_size as usize)
            .cast()
    }

    /// block_status of the current RX block.
    fn block_status(&self) -> u32 {
        let b = self.block(self.rx_block);
        // SAFETY: rx_block < rx_block_nr, so the header lies inside the RX
        // ring, 8-byte aligned (blocks are page multiples). The kernel writes
        // block_status concurrently: one volatile read, no reference.
        unsafe { addr_of!((*b).hdr.bh1.block_status).read_volatile() }
    }

    /// True when the kernel has handed over the current RX block.
    pub fn rx_ready(&self) -> bool {
        self.block_status() & libc::TP_STATUS_USER != 0
    }

    /// Wait up to `timeout` for a filled RX block. True if one is ready.
    pub fn wait_rx(&self, timeout: Duration) -> io::Result<bool> {
        if self.rx_ready() {
            return Ok(true);
        }
        match sys::poll_one(self.fd(), libc::POLLIN | libc::POLLERR, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(self.rx_ready())
    }

    /// Hand every frame of the current RX block (if the kernel released it) to
    /// `f`, then give the block back. Returns the number of frames.
    pub fn rx_block<F: FnMut(&mut PacketRing, RxFrame<'_>)>(&mut self, mut f: F) -> usize {
        if !self.rx_ready() {
            return 0;
        }
        fence(Ordering::Acquire);
        let blk = self.block(self.rx_block);
        // SAFETY: the header is inside the RX ring (see block_status), and the
        // kernel leaves the block alone until we set it back to
        // TP_STATUS_KERNEL.
        let (num, first) = unsafe {
            let h = addr_of!((*blk).hdr.bh1);
            ((*h).num_pkts as usize, (*h).offset_to_first_pkt as usize)
        };
        let mut off = first;
        let bsize = self.cfg.rx_block_size as usize;
        for _ in 0..num {
            // Frame header plus the sockaddr_ll after it (every frame the
            // kernel writes has both).
            if off + libc::TPACKET3_HDRLEN > bsize {
                break;
            }
            let h = blk.cast::<u8>().wrapping_add(off);
            // SAFETY: the frame header and the sockaddr_ll after it lie inside
            // this block (checked just above); the kernel aligns frames to
            // TPACKET_ALIGNMENT (16) and the block is ours (see above).
            let (hdr, pkttype) = unsafe {
                (
                    h.cast::<tpacket3_hdr>().read_volatile(),
                    addr_of!((*h.add(V3_HDR).cast::<sockaddr_ll>()).sll_pkttype).read_volatile(),
                )
            };
            let mac = hdr.tp_mac as usize;
            let snap = hdr.tp_snaplen as usize;
            if off + mac + snap <= bsize {
                // SAFETY: the frame lies inside this block (checked just
                // above); the kernel does not touch the block until we set it
                // back to TP_STATUS_KERNEL.
                let data = unsafe { std::slice::from_raw_parts(h.add(mac), snap) };
                f(
                    self,
                    RxFrame {
                        data,
                        len: hdr.tp_len as usize,
                        status: hdr.tp_status,
                        pkttype,
                    },
                );
            }
            if hdr.tp_next_offset == 0 {
                break;
            }
            off += hdr.tp_next_offset as usize;
        }
        fence(Ordering::Release);
        // SAFETY: the block header as in block_status; handing the block back.
        unsafe { addr_of_mut!((*blk).hdr.bh1.block_status).write_volatile(libc::TP_STATUS_KERNEL) };
        self.rx_block = (self.rx_block + 1) % self.cfg.rx_block_nr as usize;
        num
    }

    /// Header of TX slot `slot` (< tx_frame_nr); slots are contiguous because
    /// the TX block size is a multiple of the frame size. Dereferencing it is
    /// the caller's unsafe business.
    fn tx_slot_hdr(&self, slot: usize) -> *mut tpacket3_hdr {
        self.map
            .as_ptr()
            .wrapping_add(self.rx_len + slot * self.cfg.tx_frame_size as usize)
            .cast()
    }

    /// tp_status of TX slot `slot`.
    fn tx_status(&self, slot: usize) -> u32 {
        let s = self.tx_slot_hdr(slot);
        // SAFETY: slot < tx_frame_nr keeps the header inside the TX ring;
        // the kernel only accepts frame sizes that are multiples of
        // TPACKET_ALIGNMENT, so it is aligned. The kernel writes tp_status
        // concurrently: one volatile read, no reference.
        unsafe { addr_of!((*s).tp_status).read_volatile() }
    }

    /// Largest frame a TX slot holds.
    pub fn tx_capacity(&self) -> usize {
        self.cfg.tx_frame_size as usize - V3_HDR
    }

    /// Fill the next free TX slot with `fill` (which returns the frame length,
    /// or None to skip). False when the ring is full (after a kick and a retry).
    pub fn send_with<F: FnOnce(&mut [u8]) -> Option<usize>>(&mut self, fill: F) -> bool {
        const BUSY: u32 = libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING;
        if self.tx_status(self.tx_slot) & BUSY != 0 {
            let _ = self.flush();
            let mut tries = 0;
            while self.tx_status(self.tx_slot) & BUSY != 0 {
                tries += 1;
                if tries > 1000 {
                    return false;
                }
                std::thread::yield_now();
            }
        }
        let slot = self.tx_slot_hdr(self.tx_slot);
        let cap = self.tx_capacity();
        // SAFETY: the slot is ours (status AVAILABLE) and its data area,
        // V3_HDR bytes in, is cap bytes long.
        let buf = unsafe { std::slice::from_raw_parts_mut(slot.cast::<u8>().add(V3_HDR), cap) };
        let Some(n) = fill(buf) else {
            return true;
        };
        if n == 0 || n > cap {
            return true;
        }
        // SAFETY: header fields of our slot (see tx_status); tp_status last,
        // after the release fence, hands the slot to the kernel.
        unsafe {
            addr_of_mut!((*slot).tp_next_offset).write_volatile(0);
            addr_of_mut!((*slot).tp_snaplen).write_volatile(n as u32);
            addr_of_mut!((*slot).tp_len).write_volatile(n as u32);
            fence(Ordering::Release);
            addr_of_mut!((*slot).tp_status).write_volatile(libc::TP_STATUS_SEND_REQUEST);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// libc's structs against the offsets of include/uapi/linux/if_packet.h
    /// that this file used to spell out by hand.
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
