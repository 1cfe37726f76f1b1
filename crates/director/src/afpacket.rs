//! AF_PACKET socket with a TPACKET_V3 RX ring and a TX ring in one mmap,
//! bound to one interface. RX: the kernel fills blocks of variable-size frames
//! and hands a whole block over (TP_STATUS_USER), so one poll wakes up for many
//! packets. TX: fixed slots, marked TP_STATUS_SEND_REQUEST, sent by one
//! `sendto` kick per batch; PACKET_QDISC_BYPASS skips the qdisc layer.
//! The ring memory and its ownership protocol (which block or slot is ours,
//! libc's TPACKET_V3 structs) live in `crate::sys::packet`; this file is the
//! socket's configuration and the walk over blocks and slots.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::sys::event;
pub use crate::sys::packet::RxFrame;
use crate::sys::packet::{self as rings, RxRing, TxFill, TxRing};
use crate::sys::socket::{self, kick_tx};

/// Interface index by name.
pub fn ifindex(name: &str) -> io::Result<i32> {
    crate::sys::iface::ifindex(name).map(|i| i as i32)
}

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

/// An AF_PACKET socket bound to one interface with mmapped rings.
pub struct PacketRing {
    // Field order: the mapping is unmapped before the socket closes.
    rx: RxRing,
    tx: TxRing,
    fd: OwnedFd,
    cfg: RingConfig,
    rx_block: usize,
    tx_slot: usize,
    tx_pending: usize,
    ifindex: i32,
}

impl PacketRing {
    /// Open, configure and bind a ring socket on `ifname` (needs CAP_NET_RAW).
    pub fn open(ifname: &str, cfg: RingConfig) -> io::Result<PacketRing> {
        let idx = ifindex(ifname)?;
        let fd = socket::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        let raw = fd.as_raw_fd();
        let v = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &v)?;
        let one: libc::c_int = 1;
        let _ = socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
        if cfg.qdisc_bypass {
            socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)?;
        }
        // A TX slot the kernel refuses (e.g. longer than the MTU) is skipped
        // instead of stopping the ring at TP_STATUS_WRONG_FORMAT.
        socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_LOSS, &one)?;
        let rx = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_block_nr,
            tp_frame_size: 2048,
            tp_frame_nr: cfg.rx_block_size / 2048 * cfg.rx_block_nr,
            tp_retire_blk_tov: cfg.rx_block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx)?;
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
        socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx)?;
        // The rings the kernel just allocated for this socket.
        let (rx_ring, tx_ring) = rings::map_rings(
            raw,
            rings::Geometry {
                rx_block_size: cfg.rx_block_size as usize,
                rx_block_nr: cfg.rx_block_nr as usize,
                tx_frame_size: tx.tp_frame_size as usize,
                tx_frame_nr: tx.tp_frame_nr as usize,
                tx_len: (tx.tp_block_size * tx.tp_block_nr) as usize,
            },
        )?;
        let mut cfg = cfg;
        cfg.tx_frame_nr = tx.tp_frame_nr;
        let ring = PacketRing {
            rx: rx_ring,
            tx: tx_ring,
            fd,
            cfg,
            rx_block: 0,
            tx_slot: 0,
            tx_pending: 0,
            ifindex: idx,
        };
        socket::bind(raw, &socket::sockaddr_ll(idx, libc::ETH_P_ALL as u16, None))?;
        if let Some(g) = cfg.fanout_group {
            let arg: u32 = u32::from(g) | (libc::PACKET_FANOUT_HASH << 16);
            socket::setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
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
        self.rx.ready(self.rx_block)
    }

    /// Wait up to `timeout` for a filled RX block. True if one is ready.
    pub fn wait_rx(&self, timeout: Duration) -> io::Result<bool> {
        if self.rx_ready() {
            return Ok(true);
        }
        match event::poll_one(self.fd(), libc::POLLIN | libc::POLLERR, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(self.rx_ready())
    }

    /// Hand every frame of the current RX block (if the kernel released it) to
    /// `f`, then give the block back. Returns the number of frames.
    pub fn rx_block<F: FnMut(&mut PacketRing, RxFrame<'_>)>(&mut self, mut f: F) -> usize {
        let Some(block) = self.rx.take(self.rx_block) else {
            return 0;
        };
        for frame in block.frames() {
            f(self, frame);
        }
        let num = block.num_pkts();
        drop(block);
        self.rx_block = (self.rx_block + 1) % self.cfg.rx_block_nr as usize;
        num
    }

    /// Largest frame a TX slot holds.
    pub fn tx_capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// Fill the next free TX slot with `fill` (which returns the frame length,
    /// or None to skip). False when the ring is full (after a kick and a retry).
    pub fn send_with<F: FnOnce(&mut [u8]) -> Option<usize>>(&mut self, fill: F) -> bool {
        if self.tx.busy(self.tx_slot) {
            let _ = self.flush();
            let mut tries = 0;
            while self.tx.busy(self.tx_slot) {
                tries += 1;
                if tries > 1000 {
                    return false;
                }
                std::thread::yield_now();
            }
        }
        match self.tx.fill(self.tx_slot, fill) {
            TxFill::Queued => {
                self.tx_slot = (self.tx_slot + 1) % self.tx.slots();
                self.tx_pending += 1;
                true
            }
            TxFill::Skipped => true,
            TxFill::Busy => false,
        }
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
