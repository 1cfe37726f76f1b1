//! AF_XDP (copy mode) socket for the data-plane comparison: an XSK bound to
//! queue 0 of an interface with its own UMEM, and the 6-instruction XDP
//! program that redirects every frame of that queue into it (through an
//! XSKMAP), attached with BPF_LINK_CREATE. Used by `forward_bench` to measure
//! AF_XDP against TPACKET_V3 on veth; the director itself uses TPACKET_V3
//! (see docs/director.md for the numbers and the reasons).
//! This file builds the programs; bpf(2), the XSK socket and its rings are
//! `crate::sys::xdp`.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

pub use crate::sys::xdp::Xsk;
use crate::sys::xdp::{link_create_xdp, prog_load_xdp, BpfMap};

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// XDP_FLAGS_DRV_MODE: native XDP (veth has it).
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// XDP_FLAGS_SKB_MODE: generic XDP.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;

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
    _keys: BpfMap,
}

const BPF_MAP_TYPE_HASH: u32 = 1;

impl XdpClassifier {
    pub fn attach(ifindex: i32, flags: u32, keys: &[[u8; 8]]) -> io::Result<XdpClassifier> {
        let kmap = BpfMap::create(BPF_MAP_TYPE_HASH, 8, 4, keys.len().max(1) as u32)?;
        for k in keys {
            kmap.update(k, &1u32.to_ne_bytes())?;
        }
        let xmap = BpfMap::create(BPF_MAP_TYPE_XSKMAP, 4, 4, 64)?;
        let k = kmap.fd();
        let x = xmap.fd();
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
    map: BpfMap,
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl XdpRedirect {
    /// Load and attach to `ifindex` (`flags`: XDP_FLAGS_DRV_MODE or _SKB_MODE).
    pub fn attach(ifindex: i32, flags: u32) -> io::Result<XdpRedirect> {
        let map = BpfMap::create(BPF_MAP_TYPE_XSKMAP, 4, 4, 64)?;
        // r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS (on a miss);
        // return bpf_redirect_map(r1, r2, r3).
        let prog: Vec<u8> = [
            insn(0x61, 2, 1, 16, 0),
            insn(0x18, 1, 1, 0, map.fd()),
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, 2),
            insn(0x85, 0, 0, 0, 51),
            insn(0x95, 0, 0, 0, 0),
        ]
        .concat();
        XdpRedirect::load(ifindex, flags, map, &prog)
    }

    fn load(ifindex: i32, flags: u32, map: BpfMap, prog: &[u8]) -> io::Result<XdpRedirect> {
        let license = c"GPL";
        // Load quietly; only on failure load again with the verifier's log
        // (a log that overflows its buffer makes the load fail with ENOSPC).
        let prog_fd = match prog_load_xdp(prog, license, None) {
            Ok(p) => p,
            Err(e) => {
                let mut log = vec![0u8; 1 << 20];
                let _ = prog_load_xdp(prog, license, Some(&mut log));
                let msg = String::from_utf8_lossy(&log);
                let msg = msg.trim_end_matches('\0');
                let tail = &msg[msg.len().saturating_sub(2000)..];
                return Err(io::Error::new(
                    e.kind(),
                    format!("BPF_PROG_LOAD: {e}: {tail}"),
                ));
            }
        };
        let link = link_create_xdp(std::os::fd::AsRawFd::as_raw_fd(&prog_fd), ifindex, flags)
            .map_err(|e| io::Error::new(e.kind(), format!("BPF_LINK_CREATE: {e}")))?;
        Ok(XdpRedirect {
            map,
            _prog: prog_fd,
            _link: link,
        })
    }

    /// Point queue `queue` at `xsk`.
    pub fn register(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        self.map
            .update(&queue.to_ne_bytes(), &(xsk as u32).to_ne_bytes())
    }
}
