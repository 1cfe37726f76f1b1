//! AF_XDP (copy mode) for the director and `forward_bench`: an XSK bound to
//! queue 0 of an interface with its own UMEM, and the XDP programs that feed
//! it, attached with BPF_LINK_CREATE:
//!
//! - the director's classifier: service frames to the XSK, the rest to the
//!   kernel;
//! - the same classifier behind the DR fast path (`--io xdp-fast`,
//!   [`crate::fastpath`]): frames of established DR connections get their
//!   MACs from a connection map and leave by XDP_TX (or bpf_redirect) without
//!   leaving the kernel;
//! - a plain redirect of every frame to the XSK (the benchmark).
//!
//! The programs are written with [`crate::ebpf::Asm`] (named instructions and
//! labels). bpf(2), the XSK socket and its rings are `crate::sys::xdp`.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use crate::ebpf::{
    Asm, Helper, Jmp, Size, FP, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, XDP_PASS, XDP_TX,
};
pub use crate::sys::xdp::Xsk;
use crate::sys::xdp::{link_create_xdp, prog_load_xdp, BpfMap};

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// XDP_FLAGS_DRV_MODE: native XDP (veth has it).
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// XDP_FLAGS_SKB_MODE: generic XDP.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;

// struct xdp_md (include/uapi/linux/bpf.h): offsets of its u32 fields.
const MD_DATA: i16 = 0;
const MD_DATA_END: i16 = 4;
const MD_RX_QUEUE_INDEX: i16 = 16;

// Offsets in an untagged Ethernet + IPv4 (IHL 5) frame.
const ETH_TYPE: i16 = 12;
const IP_VIHL: i16 = 14;
const IP_FRAG: i16 = 20;
const IP_PROTO: i16 = 23;
const IP_SRC: i16 = 26;
const IP_DST: i16 = 30;
const L4_SPORT: i16 = 34;
const L4_DPORT: i16 = 36;
const TCP_FLAGS: i16 = 47;
/// Ethernet + IPv4 + the two ports.
const PORTS_END: i32 = 38;
/// Ethernet + IPv4 + TCP up to and including its flags byte.
const TCP_FLAGS_END: i32 = 48;
/// 0x0800 as the little-endian u16 load of the big-endian ethertype reads it.
const ETHERTYPE_IPV4_LE: i32 = 0x0008;
/// The fragment-offset bits of the flags/offset field in a little-endian load.
const FRAG_OFFSET_LE: i32 = 0xff1f;
const TCP_SYN_FIN_RST: i32 = 0x07;

/// Common start: r6 = ctx, r8 = data, r3 = data_end; untagged IPv4 with IHL 5,
/// not a later fragment, with room for the ports, else `pass`; r7 = protocol.
fn prologue(a: &mut Asm) {
    a.mov64_reg(R6, R1)
        .ldx(Size::W, R2, R6, MD_DATA)
        .ldx(Size::W, R3, R6, MD_DATA_END)
        .mov64_reg(R8, R2)
        .add64_imm(R2, PORTS_END)
        .jmp_reg(Jmp::Gt, R2, R3, "pass")
        .ldx(Size::H, R5, R8, ETH_TYPE)
        .jmp_imm(Jmp::Ne, R5, ETHERTYPE_IPV4_LE, "pass")
        .ldx(Size::B, R5, R8, IP_VIHL)
        .jmp_imm(Jmp::Ne, R5, 0x45, "pass")
        .ldx(Size::H, R5, R8, IP_FRAG)
        .and64_imm(R5, FRAG_OFFSET_LE)
        .jmp_imm(Jmp::Ne, R5, 0, "pass")
        .ldx(Size::B, R7, R8, IP_PROTO);
}

/// Look the 8-byte key at fp-8 up in the map `map_fd`; r0 = value or 0.
fn lookup_key8(a: &mut Asm, map_fd: i32) {
    a.ld_map_fd(R1, map_fd)
        .mov64_reg(R2, FP)
        .add64_imm(R2, -8)
        .call(Helper::MapLookupElem);
}

/// The 8-byte key at fp-8: the address at `addr` and the port at `port` of
/// the packet (R8), the protocol (R7) and `dir` (0 to a service, 1 from a
/// NAT real server).
fn flow_key(a: &mut Asm, addr: i16, port: i16, dir: i32) {
    a.ldx(Size::W, R5, R8, addr)
        .stx(Size::W, FP, -8, R5)
        .ldx(Size::H, R5, R8, port)
        .stx(Size::H, FP, -4, R5)
        .stx(Size::B, FP, -2, R7)
        .st_imm(Size::B, FP, -1, dir);
}

/// The classifier (label `classify`), then `pass` and `redirect`: (dst, dport,
/// proto, 0) in the keys map -> the XSK of the RX queue; else a destination
/// that is the director's own (dst, 0, 0, 0, 2) -> pass; else (src, sport,
/// proto, 1) (a NAT real server's reply) -> the XSK; else pass.
fn classifier(a: &mut Asm, keys_fd: i32, xskmap_fd: i32) {
    a.label("classify");
    flow_key(a, IP_DST, L4_DPORT, 0);
    lookup_key8(a, keys_fd);
    a.jmp_imm(Jmp::Ne, R0, 0, "redirect")
        .ldx(Size::W, R5, R8, IP_DST)
        .stx(Size::W, FP, -8, R5)
        // key[4..8] = 0 0 0 2 as one little-endian word.
        .st_imm(Size::W, FP, -4, 0x0200_0000);
    lookup_key8(a, keys_fd);
    a.jmp_imm(Jmp::Ne, R0, 0, "pass");
    flow_key(a, IP_SRC, L4_SPORT, 1);
    lookup_key8(a, keys_fd);
    a.jmp_imm(Jmp::Ne, R0, 0, "redirect")
        .label("pass")
        .ret(XDP_PASS)
        .label("redirect")
        .ldx(Size::W, R2, R6, MD_RX_QUEUE_INDEX)
        .ld_map_fd(R1, xskmap_fd)
        .mov64_imm(R3, XDP_PASS)
        .call(Helper::RedirectMap)
        .exit();
}

/// Layout of the fast path's maps, shared with [`crate::fastpath`].
pub mod fast_layout {
    /// Connection key: saddr, daddr (4 bytes each, as on the wire), sport and
    /// dport (as on the wire), protocol, 3 zero bytes.
    pub const KEY_LEN: usize = 16;
    /// Value: new destination MAC (6), new source MAC (6), egress ifindex
    /// (u32; 0 = XDP_TX out of the interface it came in on), packets
    /// forwarded by the program (u64, atomically added).
    pub const VALUE_LEN: usize = 24;
    pub const V_DST_MAC: usize = 0;
    pub const V_SRC_MAC: usize = 6;
    pub const V_IFINDEX: usize = 12;
    pub const V_PACKETS: usize = 16;
    /// Control (array map, one entry): u32 forwarding on (VRRP master), then
    /// the MAC frames must be addressed to (6 bytes), 6 bytes of padding.
    pub const CTL_LEN: usize = 16;
    pub const C_ON: usize = 0;
    pub const C_MAC: usize = 4;
}

/// The DR fast path (from after the prologue): a TCP frame without SYN, FIN
/// or RST, or any UDP frame, addressed to the control map's MAC while
/// forwarding is on, whose 5-tuple is in the connection map, gets the entry's
/// MACs, counts in its packet counter, and leaves by XDP_TX (ifindex 0) or
/// bpf_redirect. Everything else goes on to `classify`.
fn fast_path(a: &mut Asm, conns_fd: i32, ctl_fd: i32) {
    use fast_layout as l;
    a.jmp_imm(Jmp::Eq, R7, i32::from(wire::ipv4::PROTO_TCP), "fast_tcp")
        .jmp_imm(Jmp::Ne, R7, i32::from(wire::ipv4::PROTO_UDP), "classify")
        .ja("fast_ctl")
        .label("fast_tcp")
        .mov64_reg(R2, R8)
        .add64_imm(R2, TCP_FLAGS_END)
        .jmp_reg(Jmp::Gt, R2, R3, "classify")
        .ldx(Size::B, R5, R8, TCP_FLAGS)
        // SYN, FIN and RST move the connection's state: user space sees them.
        .jmp_imm(Jmp::Set, R5, TCP_SYN_FIN_RST, "classify")
        .label("fast_ctl")
        .st_imm(Size::W, FP, -20, 0)
        .ld_map_fd(R1, ctl_fd)
        .mov64_reg(R2, FP)
        .add64_imm(R2, -20)
        .call(Helper::MapLookupElem)
        .jmp_imm(Jmp::Eq, R0, 0, "classify")
        .ldx(Size::W, R5, R0, l::C_ON as i16)
        .jmp_imm(Jmp::Eq, R5, 0, "classify")
        // Only frames addressed to the director (not flooded copies).
        .ldx(Size::W, R5, R8, 0)
        .ldx(Size::W, R4, R0, l::C_MAC as i16)
        .jmp_reg(Jmp::Ne, R5, R4, "classify")
        .ldx(Size::H, R5, R8, 4)
        .ldx(Size::H, R4, R0, l::C_MAC as i16 + 4)
        .jmp_reg(Jmp::Ne, R5, R4, "classify")
        // The connection key at fp-16.
        .st_imm(Size::W, FP, -4, 0)
        .ldx(Size::W, R5, R8, IP_SRC)
        .stx(Size::W, FP, -16, R5)
        .ldx(Size::W, R5, R8, IP_DST)
        .stx(Size::W, FP, -12, R5)
        .ldx(Size::W, R5, R8, L4_SPORT)
        .stx(Size::W, FP, -8, R5)
        .stx(Size::B, FP, -4, R7)
        .ld_map_fd(R1, conns_fd)
        .mov64_reg(R2, FP)
        .add64_imm(R2, -16)
        .call(Helper::MapLookupElem)
        .jmp_imm(Jmp::Eq, R0, 0, "classify")
        .mov64_reg(R9, R0)
        // Destination MAC (bytes 0-5) and source MAC (6-11) from the entry.
        .ldx(Size::W, R5, R9, l::V_DST_MAC as i16)
        .stx(Size::W, R8, 0, R5)
        .ldx(Size::H, R5, R9, l::V_DST_MAC as i16 + 4)
        .stx(Size::H, R8, 4, R5)
        .ldx(Size::H, R5, R9, l::V_SRC_MAC as i16)
        .stx(Size::H, R8, 6, R5)
        .ldx(Size::W, R5, R9, l::V_SRC_MAC as i16 + 2)
        .stx(Size::W, R8, 8, R5)
        .mov64_imm(R5, 1)
        .atomic_add64(R9, l::V_PACKETS as i16, R5)
        .ldx(Size::W, R1, R9, l::V_IFINDEX as i16)
        .jmp_imm(Jmp::Eq, R1, 0, "fast_tx")
        .mov64_imm(R2, 0)
        .call(Helper::Redirect)
        .exit()
        .label("fast_tx")
        .ret(XDP_TX);
}

/// The classifier program, with the DR fast path in front when `fast` holds
/// (connection map fd, control map fd).
pub fn classifier_program(
    keys_fd: i32,
    xskmap_fd: i32,
    fast: Option<(i32, i32)>,
) -> io::Result<Vec<u8>> {
    let mut a = Asm::new();
    prologue(&mut a);
    if let Some((conns, ctl)) = fast {
        fast_path(&mut a, conns, ctl);
    }
    classifier(&mut a, keys_fd, xskmap_fd);
    a.finish().map_err(io::Error::other)
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

pub(crate) const BPF_MAP_TYPE_HASH: u32 = 1;

impl XdpClassifier {
    pub fn attach(ifindex: i32, flags: u32, keys: &[[u8; 8]]) -> io::Result<XdpClassifier> {
        XdpClassifier::attach_with(ifindex, flags, keys, None)
    }

    /// As [`XdpClassifier::attach`], with the DR fast path in front when
    /// `fast` holds (connection map fd, control map fd).
    pub fn attach_with(
        ifindex: i32,
        flags: u32,
        keys: &[[u8; 8]],
        fast: Option<(i32, i32)>,
    ) -> io::Result<XdpClassifier> {
        let kmap = BpfMap::create(BPF_MAP_TYPE_HASH, 8, 4, keys.len().max(1) as u32)?;
        for k in keys {
            kmap.update(k, &1u32.to_ne_bytes())?;
        }
        let xmap = BpfMap::create(BPF_MAP_TYPE_XSKMAP, 4, 4, 64)?;
        let prog = classifier_program(kmap.fd(), xmap.fd(), fast)?;
        let redirect = XdpRedirect::load(ifindex, flags, xmap, &prog)?;
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

/// `return bpf_redirect_map(xskmap, ctx->rx_queue_index, XDP_PASS on a miss)`.
fn redirect_program(xskmap_fd: i32) -> io::Result<Vec<u8>> {
    let mut a = Asm::new();
    a.ldx(Size::W, R2, R1, MD_RX_QUEUE_INDEX)
        .ld_map_fd(R1, xskmap_fd)
        .mov64_imm(R3, XDP_PASS)
        .call(Helper::RedirectMap)
        .exit();
    a.finish().map_err(io::Error::other)
}

/// The classifier program (with the fast path when `fast` holds) and its
/// maps, loaded but not attached: for BPF_PROG_TEST_RUN (its XSKMAP is
/// empty, so a classified frame returns XDP_PASS).
pub struct LoadedClassifier {
    pub prog: XdpProgram,
    _keys: BpfMap,
    _xsk: BpfMap,
}

pub fn load_classifier(keys: &[[u8; 8]], fast: Option<(i32, i32)>) -> io::Result<LoadedClassifier> {
    let kmap = BpfMap::create(BPF_MAP_TYPE_HASH, 8, 4, keys.len().max(1) as u32)?;
    for k in keys {
        kmap.update(k, &1u32.to_ne_bytes())?;
    }
    let xmap = BpfMap::create(BPF_MAP_TYPE_XSKMAP, 4, 4, 64)?;
    let code = classifier_program(kmap.fd(), xmap.fd(), fast)?;
    Ok(LoadedClassifier {
        prog: XdpProgram::load(&code, None)?,
        _keys: kmap,
        _xsk: xmap,
    })
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
        let prog = redirect_program(map.fd())?;
        XdpRedirect::load(ifindex, flags, map, &prog)
    }

    fn load(ifindex: i32, flags: u32, map: BpfMap, prog: &[u8]) -> io::Result<XdpRedirect> {
        let prog_fd = load_xdp(prog)?;
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

/// Any XDP program (from [`Asm::finish`]) loaded and, unless `ifindex` is
/// None, attached; detached and unloaded on drop. The benchmark's baselines
/// (XDP_DROP sinks, the kernel's own XDP_TX and bpf_redirect) and its
/// generator use it.
pub struct XdpProgram {
    prog: OwnedFd,
    _link: Option<OwnedFd>,
}

impl XdpProgram {
    pub fn load(code: &[u8], attach: Option<(i32, u32)>) -> io::Result<XdpProgram> {
        let prog = load_xdp(code)?;
        let link = match attach {
            Some((ifindex, flags)) => Some(
                link_create_xdp(std::os::fd::AsRawFd::as_raw_fd(&prog), ifindex, flags)
                    .map_err(|e| io::Error::new(e.kind(), format!("BPF_LINK_CREATE: {e}")))?,
            ),
            None => None,
        };
        Ok(XdpProgram { prog, _link: link })
    }

    /// Load `code` as a CPUMAP program: run on the CPU of a [`CpuMap`] entry
    /// for each frame redirected there (it may XDP_REDIRECT on).
    pub fn load_cpumap(code: &[u8]) -> io::Result<XdpProgram> {
        Ok(XdpProgram {
            prog: load_xdp_as(code, crate::sys::xdp::BPF_XDP_CPUMAP)?,
            _link: None,
        })
    }

    /// BPF_PROG_TEST_RUN on `frame`: (return value, the frame as the program
    /// left it, ns per run). `ingress_ifindex` (needed by live frames) goes
    /// in the context; `live`: BPF_F_TEST_XDP_LIVE_FRAMES, whose XDP_TX and
    /// redirects really transmit, `repeat` times (the kernel's in-kernel
    /// traffic generator, as xdp-trafficgen uses it).
    pub fn test_run(
        &self,
        frame: &[u8],
        ingress_ifindex: Option<u32>,
        repeat: u32,
        live: bool,
    ) -> io::Result<(u32, Vec<u8>, u32)> {
        let ctx = ingress_ifindex.map(|i| {
            let mut c = [0u8; 24];
            c[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
            c[12..16].copy_from_slice(&i.to_ne_bytes());
            c
        });
        let flags = if live {
            crate::sys::xdp::BPF_F_TEST_XDP_LIVE_FRAMES
        } else {
            0
        };
        crate::sys::xdp::prog_test_run_xdp(
            std::os::fd::AsRawFd::as_raw_fd(&self.prog),
            frame,
            ctx.as_ref(),
            repeat,
            flags,
        )
    }
}

/// A CPUMAP (`bpf_redirect_map` target that moves frames to another CPU,
/// where a kernel thread runs the entry's program on them). The benchmark
/// uses it to take the forwarding off the generator's CPU.
pub struct CpuMap {
    map: BpfMap,
}

const BPF_MAP_TYPE_CPUMAP: u32 = 16;

impl CpuMap {
    pub fn new(max_cpus: u32) -> io::Result<CpuMap> {
        Ok(CpuMap {
            map: BpfMap::create(BPF_MAP_TYPE_CPUMAP, 4, 8, max_cpus)?,
        })
    }

    /// Entry `cpu`: a queue of `qsize` frames and `prog` (a
    /// [`XdpProgram::load_cpumap`] program) to run there (`struct
    /// bpf_cpumap_val`).
    pub fn set(&self, cpu: u32, qsize: u32, prog: &XdpProgram) -> io::Result<()> {
        let mut v = [0u8; 8];
        v[0..4].copy_from_slice(&qsize.to_ne_bytes());
        let fd = std::os::fd::AsRawFd::as_raw_fd(&prog.prog);
        v[4..8].copy_from_slice(&fd.to_ne_bytes());
        self.map.update(&cpu.to_ne_bytes(), &v)
    }

    pub fn fd(&self) -> RawFd {
        self.map.fd()
    }
}

/// BPF_PROG_LOAD of an XDP program; on failure, the tail of the verifier's log
/// in the error.
pub fn load_xdp(prog: &[u8]) -> io::Result<OwnedFd> {
    load_xdp_as(prog, crate::sys::xdp::BPF_XDP)
}

fn load_xdp_as(prog: &[u8], attach: u32) -> io::Result<OwnedFd> {
    let license = c"GPL";
    // Load quietly; only on failure load again with the verifier's log
    // (a log that overflows its buffer makes the load fail with ENOSPC).
    let prog_fd = match prog_load_xdp(prog, license, None, attach) {
        Ok(p) => p,
        Err(e) => {
            let mut log = vec![0u8; 1 << 20];
            let _ = prog_load_xdp(prog, license, Some(&mut log), attach);
            let msg = String::from_utf8_lossy(&log);
            let msg = msg.trim_end_matches('\0');
            let tail = &msg[msg.len().saturating_sub(2000)..];
            return Err(io::Error::new(
                e.kind(),
                format!("BPF_PROG_LOAD: {e}: {tail}"),
            ));
        }
    };
    Ok(prog_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One instruction, encoded by hand (the reference for the assembler).
    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = code;
        b[1] = (src << 4) | (dst & 0x0f);
        b[2..4].copy_from_slice(&off.to_ne_bytes());
        b[4..8].copy_from_slice(&imm.to_ne_bytes());
        b
    }

    /// The plain redirect program is the six instructions it was by hand.
    #[test]
    fn assembled_redirect_equals_the_hand_encoded_one() {
        let old: Vec<u8> = [
            insn(0x61, 2, 1, 16, 0),
            insn(0x18, 1, 1, 0, 9),
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, 2),
            insn(0x85, 0, 0, 0, 51),
            insn(0x95, 0, 0, 0, 0),
        ]
        .concat();
        assert_eq!(redirect_program(9).unwrap(), old);
    }

    /// The classifier written with the assembler is, instruction for
    /// instruction, the hand-encoded program it replaced (kept here as the
    /// reference, with the hand-counted jump offsets).
    #[test]
    fn assembled_classifier_equals_the_hand_encoded_one() {
        let (k, x) = (3, 4);
        let old: Vec<[u8; 8]> = vec![
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

        let new = classifier_program(k, x, None).unwrap();
        let new: Vec<&[u8]> = new.chunks(8).collect();
        assert_eq!(new.len(), old.len());
        for (i, (n, o)) in new.iter().zip(&old).enumerate() {
            assert_eq!(n, o, "instruction {i}");
        }
    }
}
