//! DR forwarding benchmark, measured against what the machine can do: in one
//! run, on the same veths, interleaved, median of several rounds:
//!
//! - `direct`: the generator straight into a sink, no forwarder (its own
//!   veth pair gen:d0 <-> sink:d0): the generator's ceiling;
//! - `bridge`: the kernel bridge between fw:a0 and fw:b0;
//! - `xdp-redirect`: the kernel's own XDP, `bpf_redirect(b0)` on a0;
//! - `xdp-tx`: the kernel's own XDP_TX on a0 (back out to the generator);
//! - `af_xdp`: vipwire DR on AF_XDP (the director's classifier, XSK on a0,
//!   XSK TX on b0, copy mode);
//! - `tpacket`: vipwire DR on TPACKET_V3 rings (RX on a0, TX on b0);
//! - `fast-redirect` / `fast-tx`: vipwire's XDP DR fast path (the
//!   director's program with its connection map, filled by the AF_XDP slow
//!   path) sending by bpf_redirect to b0 / by XDP_TX back out of a0.
//!
//! ```text
//!   gen:fbeth <-veth-> fw:fba0 [method] fw:fbb0 <-veth-> sink:fbsink
//!   gen:fbd0g <-veth-> sink:fbd0s                                  (direct)
//!   gen:fbg0  <-veth-> gen:fbg1 (XDP: CPUMAP to CPU 1, then on to fbeth or fbd0g)
//! ```
//!
//! Generator: one thread with a TPACKET TX ring (qdisc bypass) on CPU 0,
//! 256 prebuilt flows of 60-byte UDP frames (64 on a wire). The kernel has no
//! pktgen module here, and its in-kernel XDP generator (BPF_PROG_TEST_RUN
//! with BPF_F_TEST_XDP_LIVE_FRAMES, xdp-trafficgen's mechanism) is refused
//! with EPERM by this kernel.
//!
//! Placement (two CPUs): on veth the receive side of a transmit runs in the
//! sender's softirq on the sender's CPU, so by default (CPUMAP hop) the
//! generator sends on gen:fbg0, whose peer gen:fbg1 has an XDP program that
//! moves every frame to CPU 1 through a CPUMAP; the CPUMAP entry's own
//! program redirects it to the path's veth there. The forwarding (kernel or
//! user space) and the sinks then run on CPU 1, the generator alone on CPU
//! 0, and CPU 1's time per delivered packet beyond the direct run's is the
//! forwarding cost. `--no-cpumap` sends on the path's veth directly: kernel
//! paths then run in the generator's softirq on CPU 0 (a one-core
//! measurement), user-space forwarders still on CPU 1.
//!
//! Sinks (sink:fbsink, sink:fbd0s, and gen:fbeth for the XDP_TX methods)
//! drop every frame in an XDP program: a frame is counted (rx_packets) as
//! soon as it arrives and costs the same in every method. CPU per packet is
//! read from /proc/stat (non-idle time per CPU) over the measured interval;
//! the forwarder thread's own time (CLOCK_THREAD_CPUTIME_ID) is shown for
//! the user-space methods.
//!
//! Run as root: `cargo run --release -p lab --example forward_bench -- [--quick]
//! [--secs S] [--rounds N] [--no-cpumap] [--only m1,m2]`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use director::afpacket::{PacketRing, RingConfig};
use director::afxdp::{classifier_key, CpuMap, XdpClassifier, XdpProgram, Xsk, XDP_FLAGS_DRV_MODE};
use director::dataplane::{Action, Forwarder};
use director::ebpf::{Asm, Helper, R1, R2, R3, XDP_DROP, XDP_TX};
use director::fastpath::FastPath;
use director::netif::{mac_ioctl, Neighbours};
use lab::netns::{skip_unless, veth, Netns};
use lab::topo::enter;
use lvs::conn::Service;
use lvs::keepalived::{L4Proto, LbKind};
use lvs::sched::{scheduler_for, Dest};
use wire::ethernet::{EthernetRepr, MacAddr, ETHERTYPE_IPV4};
use wire::ipv4::{Ipv4Repr, PROTO_UDP};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 241);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
const PORT: u16 = 9000;
/// The 256 flows' source ports start here.
const SPORT_BASE: u16 = 10000;
/// CPU of the generator and the sinks; CPU of the forwarding.
const GEN_CPU: usize = 0;
const FWD_CPU: usize = 1;

/// The 256 flows' 60-byte UDP frames client:port -> VIP:PORT.
fn frames(dst_mac: MacAddr, src_mac: MacAddr) -> Vec<Vec<u8>> {
    (0..256)
        .map(|i| frame(dst_mac, src_mac, SPORT_BASE + i))
        .collect()
}

fn frame(dst_mac: MacAddr, src_mac: MacAddr, sport: u16) -> Vec<u8> {
    let payload = [0x5au8; 18]; // 14 + 20 + 8 + 18 = 60 bytes (+ FCS = 64)
    let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        outer_vlan: None,
        vlan_tci: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(&mut f)
    .expect("ethernet");
    Ipv4Repr {
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        protocol: PROTO_UDP,
        src: CLIENT,
        dst: VIP,
        options: vec![],
        payload_len: 8 + payload.len(),
    }
    .emit(&mut f[14..])
    .expect("ipv4");
    wire::udp::emit(CLIENT, VIP, sport, PORT, &payload, &mut f[34..]).expect("udp");
    f
}

fn one_verdict(v: i32) -> Result<Vec<u8>> {
    let mut a = Asm::new();
    a.ret(v);
    a.finish().map_err(anyhow::Error::msg)
}

/// `return bpf_redirect(ifindex, 0)`.
fn redirect_program(ifindex: i32) -> Result<Vec<u8>> {
    let mut a = Asm::new();
    a.mov64_imm(R1, ifindex)
        .mov64_imm(R2, 0)
        .call(Helper::Redirect)
        .exit();
    a.finish().map_err(anyhow::Error::msg)
}

/// Pin the calling thread (or `pid`, 0 = self) to `cpu`.
fn pin_pid(pid: i32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; we set one bit and apply it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time of the calling thread (user + system), seconds.
fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: t is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Non-idle time of each CPU (user nice system irq softirq steal), and
/// softirq alone, in clock ticks, from /proc/stat.
fn cpu_ticks() -> Vec<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    s.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            let g = |i: usize| v.get(i).copied().unwrap_or(0);
            // user nice system idle iowait irq softirq steal
            (g(0) + g(1) + g(2) + g(5) + g(6) + g(7), g(6))
        })
        .collect()
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn counter(ns: &Netns, ifname: &str, what: &str) -> Result<u64> {
    let s = ns.exec(&["cat", &format!("/sys/class/net/{ifname}/statistics/{what}")])?;
    Ok(s.trim().parse()?)
}

fn ifindex_in(ns: &Netns, ifname: &str) -> Result<i32> {
    Ok(ns
        .exec(&["cat", &format!("/sys/class/net/{ifname}/ifindex")])?
        .trim()
        .parse()?)
}

fn mac_in(ns: &Netns, ifname: &str) -> Result<MacAddr> {
    ns.exec(&["cat", &format!("/sys/class/net/{ifname}/address")])?
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Load (and attach, native) an XDP program inside `ns`.
fn xdp_in(ns: &Netns, ifname: &str, code: Vec<u8>) -> Result<XdpProgram> {
    let idx = ifindex_in(ns, ifname)?;
    let path = ns.path();
    std::thread::spawn(move || -> Result<XdpProgram> {
        enter(&path)?;
        XdpProgram::load(&code, Some((idx, XDP_FLAGS_DRV_MODE)))
            .with_context(|| format!("XDP on ifindex {idx}"))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("xdp thread panicked"))?
}

/// NAPI on a veth without XDP: GRO on (switched off first: it may show on
/// without the NAPI ring).
fn gro_napi(ns: &Netns, ifname: &str) -> Result<()> {
    ns.exec(&["ethtool", "-K", ifname, "gro", "off"])?;
    ns.exec(&["ethtool", "-K", ifname, "gro", "on"])?;
    Ok(())
}

/// The generator thread: a TPACKET TX ring (qdisc bypass) on `ifname` in
/// `ns`, sending the 256 flows' frames round-robin until stopped; `offered`
/// counts the frames the kernel took.
fn generators(
    ns: &Netns,
    ifname: &str,
    frames: Vec<Vec<u8>>,
    stop: &Arc<AtomicBool>,
    offered: &Arc<AtomicU64>,
) -> Result<Vec<std::thread::JoinHandle<Result<()>>>> {
    (0..1)
        .map(|t| {
            let (path, frames, ifname) = (ns.path(), frames.clone(), ifname.to_string());
            let (stop, offered) = (Arc::clone(stop), Arc::clone(offered));
            Ok(std::thread::spawn(move || -> Result<()> {
                enter(&path)?;
                pin_pid(0, GEN_CPU);
                let cfg = RingConfig {
                    tx_frame_nr: 4096,
                    rx_block_nr: 2,
                    ..RingConfig::default()
                };
                let mut ring = PacketRing::open(&ifname, cfg)?;
                let mut i = t * 7;
                while !stop.load(Ordering::Relaxed) {
                    let mut n = 0;
                    for _ in 0..256 {
                        let f = &frames[i % frames.len()];
                        i += 1;
                        if ring.send_with(|b| {
                            b[..f.len()].copy_from_slice(f);
                            Some(f.len())
                        }) {
                            n += 1;
                        }
                    }
                    ring.flush()?;
                    offered.fetch_add(n, Ordering::Relaxed);
                }
                Ok(())
            }))
        })
        .collect()
}

/// The DR forwarder all user-space methods share: out b0 with a0's MAC as
/// source (the director's), the real server at `sink_mac`.
fn dr_forwarder(sink_mac: MacAddr) -> Result<Forwarder> {
    let a0 = mac_ioctl("fba0")?;
    let mut neigh = Neighbours::empty("fbb0", a0, Ipv4Addr::new(198, 51, 100, 5));
    neigh.insert(RS, sink_mac);
    Ok(Forwarder::new(neigh, Ipv4Addr::new(198, 51, 100, 5)))
}

fn dr_service() -> Result<Vec<Service>> {
    Ok(vec![Service::new(
        IpAddr::V4(VIP),
        PORT,
        L4Proto::Udp,
        LbKind::Dr,
        None,
        vec![Dest::new(IpAddr::V4(RS), PORT, 1)],
        scheduler_for("rr").map_err(|e| anyhow::anyhow!("{e}"))?,
    )])
}

/// What a user-space forwarder has done so far: packets it sent, and its
/// thread's CPU time (ns); published after every batch.
#[derive(Default)]
struct FwdStats {
    sent: AtomicU64,
    cpu_ns: AtomicU64,
}

impl FwdStats {
    fn publish(&self, sent: u64, cpu_s: f64) {
        self.sent.store(sent, Ordering::Relaxed);
        self.cpu_ns.store((cpu_s * 1e9) as u64, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.cpu_ns.load(Ordering::Relaxed),
        )
    }
}

/// A user-space forwarder running in fw until stopped: (packets it sent,
/// its CPU seconds).
type FwdThread = std::thread::JoinHandle<Result<(u64, f64)>>;

/// vipwire DR on TPACKET_V3: RX ring on a0, TX ring on b0.
fn tpacket_forwarder(
    fw: &Netns,
    sink_mac: MacAddr,
    stop: &Arc<AtomicBool>,
    sent: &Arc<FwdStats>,
) -> Result<FwdThread> {
    let (path, stop, sent) = (fw.path(), Arc::clone(stop), Arc::clone(sent));
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || -> Result<(u64, f64)> {
        let setup = (|| -> Result<_> {
            enter(&path)?;
            pin_pid(0, FWD_CPU);
            let rxr = PacketRing::open("fba0", RingConfig::default())?;
            let txr = PacketRing::open("fbb0", RingConfig::default())?;
            Ok((rxr, txr, dr_forwarder(sink_mac)?, dr_service()?))
        })();
        let (mut rxr, mut txr, mut fwd, mut svcs) = match setup {
            Ok(v) => {
                let _ = tx.send(Ok(()));
                v
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok((0, 0.0));
            }
        };
        let epoch = Instant::now();
        let cpu0 = thread_cpu();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !rxr.wait_rx(Duration::from_millis(10))? {
                continue;
            }
            let now = epoch.elapsed();
            rxr.rx_block(|_, fr| {
                let partial = fr.csum_not_ready();
                txr.send_with(|buf| {
                    match fwd.process(now, fr.data, partial, true, &mut svcs, buf) {
                        Action::Send(k) => {
                            n += 1;
                            Some(k)
                        }
                        _ => None,
                    }
                });
            });
            txr.flush()?;
            sent.publish(n, thread_cpu() - cpu0);
        }
        Ok((n, thread_cpu() - cpu0))
    });
    rx.recv_timeout(Duration::from_secs(5))
        .context("tpacket forwarder start")??;
    Ok(h)
}

/// vipwire DR on AF_XDP (the director's classifier, XSK RX on a0, XSK TX on
/// b0); with `fast`, the fast path in front of the classifier, its entries
/// learnt by this loop with egress `fast` (ifindex; 0 = XDP_TX).
fn xdp_forwarder(
    fw: &Netns,
    sink_mac: MacAddr,
    stop: &Arc<AtomicBool>,
    sent: &Arc<FwdStats>,
    fast: Option<u32>,
) -> Result<FwdThread> {
    let (path, stop, sent) = (fw.path(), Arc::clone(stop), Arc::clone(sent));
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || -> Result<(u64, f64)> {
        let setup = (|| -> Result<_> {
            enter(&path)?;
            pin_pid(0, FWD_CPU);
            let a0 = director::afpacket::ifindex("fba0")?;
            let b0 = director::afpacket::ifindex("fbb0")?;
            let keys = [classifier_key(VIP, PORT, PROTO_UDP, false)];
            let fp = match fast {
                Some(_) => {
                    let mut f = FastPath::new(65536, mac_ioctl("fba0")?)?;
                    f.set_forwarding(true)?;
                    Some(f)
                }
                None => None,
            };
            let prog = XdpClassifier::attach_with(
                a0,
                XDP_FLAGS_DRV_MODE,
                &keys,
                fp.as_ref().map(|f| f.fds()),
            )?;
            let rxs = Xsk::open(a0).context("XSK on a0")?;
            prog.register(0, rxs.fd())?;
            let txs = Xsk::open(b0).context("XSK on b0")?;
            Ok((prog, rxs, txs, fp, dr_forwarder(sink_mac)?, dr_service()?))
        })();
        let (_prog, mut rxs, mut txs, mut fp, mut fwd, mut svcs) = match setup {
            Ok(v) => {
                let _ = tx.send(Ok(()));
                v
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok((0, 0.0));
            }
        };
        let epoch = Instant::now();
        let cpu0 = thread_cpu();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !rxs.wait_rx(10) {
                continue;
            }
            let now = epoch.elapsed();
            rxs.rx_batch(|data| {
                // As the director does on AF_XDP: no checksum state from XDP.
                let partial = !wire::ipv4::l4_checksum_ok(data.get(14..).unwrap_or(&[]));
                txs.send_with(
                    |buf| match fwd.process(now, data, partial, true, &mut svcs, buf) {
                        Action::Send(k) => {
                            n += 1;
                            if let (Some(f), Some(egress)) = (fp.as_mut(), fast) {
                                f.learn(data, &buf[..k], &svcs, egress);
                            }
                            Some(k)
                        }
                        _ => None,
                    },
                );
            });
            txs.flush()?;
            sent.publish(n, thread_cpu() - cpu0);
        }
        Ok((n, thread_cpu() - cpu0))
    });
    rx.recv_timeout(Duration::from_secs(5))
        .context("AF_XDP forwarder start")??;
    Ok(h)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Direct,
    Bridge,
    XdpRedirect,
    XdpTx,
    AfXdp,
    Tpacket,
    FastRedirect,
    FastTx,
}

const METHODS: [(Method, &str, &str); 8] = [
    (Method::Direct, "direct", "generator -> sink, no forwarder"),
    (Method::Bridge, "bridge", "kernel bridge a0-b0"),
    (
        Method::XdpRedirect,
        "xdp-redirect",
        "kernel XDP bpf_redirect a0->b0",
    ),
    (Method::XdpTx, "xdp-tx", "kernel XDP_TX on a0"),
    (Method::AfXdp, "af_xdp", "vipwire DR, AF_XDP copy mode"),
    (Method::Tpacket, "tpacket", "vipwire DR, TPACKET_V3"),
    (
        Method::FastRedirect,
        "fast-redirect",
        "vipwire XDP DR fast path, redirect",
    ),
    (
        Method::FastTx,
        "fast-tx",
        "vipwire XDP DR fast path, XDP_TX",
    ),
];

struct Bed {
    gen: Netns,
    fw: Netns,
    sink: Netns,
    gen_mac: MacAddr,
    d0_mac: MacAddr,
    a0_mac: MacAddr,
    sink_mac: MacAddr,
    b0_index: u32,
    /// The generator's hop to the forwarding CPU: a CPUMAP whose entry for
    /// FWD_CPU redirects to the path's first veth, fed by an XDP program on
    /// gen:fbg1 (the peer of the generator's gen:fbg0). None: the generator
    /// sends on the path's veth itself (`--no-cpumap`).
    hop: Option<(CpuMap, XdpProgram)>,
}

/// One measured phase.
#[derive(Clone, Copy, Debug)]
struct Sample {
    offered: f64,
    delivered: f64,
    /// ns of CPU per delivered packet: all CPUs' non-idle time, the
    /// forwarding CPU's, and the softirq time of all.
    cpu_ns: f64,
    fwd_cpu_ns: f64,
    softirq_ns: f64,
    /// The user-space forwarder thread's own CPU ns per delivered packet.
    thread_ns: Option<f64>,
    /// Share of the delivered packets that user space did not send (the
    /// fast path's, for the fast-path methods).
    fast_share: Option<f64>,
}

fn measure(
    bed: &Bed,
    m: Method,
    secs: f64,
    fwd: Option<(FwdThread, Arc<AtomicBool>)>,
    slow: &Arc<FwdStats>,
) -> Result<Sample> {
    let (path_if, gen_dst) = match m {
        Method::Direct => ("fbd0g", bed.d0_mac),
        Method::Bridge => ("fbeth", bed.sink_mac),
        _ => ("fbeth", bed.a0_mac),
    };
    // Through the CPUMAP hop: the generator sends on fbg0, the entry's
    // program on FWD_CPU redirects to the path's veth.
    let _hop_prog = match &bed.hop {
        Some((cpumap, _)) => {
            let idx = ifindex_in(&bed.gen, path_if)?;
            let p = XdpProgram::load_cpumap(&redirect_program(idx)?)?;
            cpumap.set(FWD_CPU as u32, 2048, &p)?;
            Some(p)
        }
        None => None,
    };
    let gen_if = if bed.hop.is_some() { "fbg0" } else { path_if };
    let (rx_ns, rx_if) = match m {
        Method::Direct => (&bed.sink, "fbd0s"),
        Method::XdpTx | Method::FastTx => (&bed.gen, "fbeth"),
        _ => (&bed.sink, "fbsink"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let offered = Arc::new(AtomicU64::new(0));
    let gens = generators(
        &bed.gen,
        gen_if,
        frames(gen_dst, bed.gen_mac),
        &stop,
        &offered,
    )?;
    // Warm up (the fast path learns its 256 flows through the slow path).
    std::thread::sleep(Duration::from_millis(500));
    let rx0 = counter(rx_ns, rx_if, "rx_packets")?;
    let o0 = offered.load(Ordering::Relaxed);
    let (s0, t0ns) = slow.read();
    let c0 = cpu_ticks();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let rx1 = counter(rx_ns, rx_if, "rx_packets")?;
    let o1 = offered.load(Ordering::Relaxed);
    let (s1, t1ns) = slow.read();
    let c1 = cpu_ticks();
    let dt = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for g in gens {
        g.join()
            .map_err(|_| anyhow::anyhow!("generator panicked"))??;
    }
    let thread_ns = match fwd {
        Some((h, fstop)) => {
            fstop.store(true, Ordering::Relaxed);
            h.join()
                .map_err(|_| anyhow::anyhow!("forwarder panicked"))??;
            Some((t1ns - t0ns) as f64 / (rx1 - rx0).max(1) as f64)
        }
        None => None,
    };
    let delivered = (rx1 - rx0) as f64;
    let per_pkt = |ticks: u64| ticks as f64 / clk_tck() * 1e9 / delivered.max(1.0);
    let busy: u64 = c1.iter().zip(&c0).map(|(a, b)| a.0 - b.0).sum();
    let fwd_busy = c1.get(FWD_CPU).map_or(0, |x| x.0) - c0.get(FWD_CPU).map_or(0, |x| x.0);
    let soft: u64 = c1.iter().zip(&c0).map(|(a, b)| a.1 - b.1).sum();
    let fast_share = match m {
        Method::FastRedirect | Method::FastTx => {
            Some(1.0 - ((s1 - s0) as f64 / delivered.max(1.0)).min(1.0))
        }
        _ => None,
    };
    Ok(Sample {
        offered: (o1 - o0) as f64 / dt,
        delivered: delivered / dt,
        cpu_ns: per_pkt(busy),
        fwd_cpu_ns: per_pkt(fwd_busy),
        softirq_ns: per_pkt(soft),
        thread_ns,
        fast_share,
    })
}

/// Set the method up, measure, tear it down.
fn phase(bed: &Bed, m: Method, secs: f64) -> Result<Sample> {
    let fw = &bed.fw;
    // Sinks: XDP_DROP.
    let drop_code = one_verdict(XDP_DROP)?;
    let mut progs = Vec::new();
    match m {
        Method::Direct => {
            progs.push(xdp_in(&bed.sink, "fbd0s", drop_code.clone())?);
        }
        Method::XdpTx | Method::FastTx => {
            progs.push(xdp_in(&bed.gen, "fbeth", drop_code.clone())?);
        }
        _ => {
            progs.push(xdp_in(&bed.sink, "fbsink", drop_code.clone())?);
        }
    }
    let fstop = Arc::new(AtomicBool::new(false));
    let slow = Arc::new(FwdStats::default());
    let mut fwd = None;
    let mut bridged = false;
    match m {
        Method::Direct => {}
        Method::Bridge => {
            lab::netns::bridge(fw, "fbbr", &["fba0", "fbb0"])?;
            bridged = true;
            gro_napi(fw, "fba0")?;
        }
        Method::Tpacket => {
            gro_napi(fw, "fba0")?;
            fwd = Some(tpacket_forwarder(fw, bed.sink_mac, &fstop, &slow)?);
        }
        Method::XdpRedirect => {
            progs.push(xdp_in(fw, "fba0", redirect_program(bed.b0_index as i32)?)?);
        }
        Method::XdpTx => progs.push(xdp_in(fw, "fba0", one_verdict(XDP_TX)?)?),
        Method::AfXdp => fwd = Some(xdp_forwarder(fw, bed.sink_mac, &fstop, &slow, None)?),
        Method::FastRedirect => {
            let egress = Some(bed.b0_index);
            fwd = Some(xdp_forwarder(fw, bed.sink_mac, &fstop, &slow, egress)?)
        }
        Method::FastTx => fwd = Some(xdp_forwarder(fw, bed.sink_mac, &fstop, &slow, Some(0))?),
    }
    let r = measure(bed, m, secs, fwd.map(|f| (f, fstop)), &slow);
    drop(progs);
    if bridged {
        fw.exec(&["ip", "link", "del", "fbbr"])?;
    }
    r
}

/// ns per run of each XDP program on one frame (BPF_PROG_TEST_RUN, not
/// live: the verdict is only returned), median of 5 calls of 1,000,000 runs:
/// the programs' own cost, apart from veth and the sinks.
fn program_costs(a0_mac: MacAddr) -> Result<Vec<(&'static str, u32, f64)>> {
    let f = frame(a0_mac, MacAddr([2, 0, 0, 0, 0, 0x64]), SPORT_BASE);
    let keys = [classifier_key(VIP, PORT, PROTO_UDP, false)];
    // The fast path with this frame's flow learnt as the slow path would.
    let mut fp = FastPath::new(1024, a0_mac)?;
    fp.set_forwarding(true)?;
    let mut svcs = dr_service()?;
    let (_, key) = director::fastpath::frame_key(&f).context("frame key")?;
    svcs[0].input(
        Duration::ZERO,
        &lvs::conn::PacketMeta {
            proto: key.proto,
            src: key.client,
            sport: key.cport,
            dst: key.vaddr,
            dport: key.vport,
            tcp_flags: 0,
        },
    );
    // The runs reuse one buffer, so the entry rewrites the frame into itself
    // (destination MAC a0's again): every run takes the same path.
    let mut out = f.clone();
    out[6..12].copy_from_slice(&a0_mac.0);
    if !fp.learn(&f, &out, &svcs, 0) {
        bail!("the fast path did not learn the flow");
    }
    let fast = director::afxdp::load_classifier(&keys, Some(fp.fds()))?;
    let classifier = director::afxdp::load_classifier(&keys, None)?;
    let tx = XdpProgram::load(&one_verdict(XDP_TX)?, None)?;
    let redirect = XdpProgram::load(&redirect_program(1)?, None)?;
    let mut other = f.clone();
    other[35] ^= 1; // another source port: not in the map
    let cases: [(&str, &XdpProgram, &[u8]); 5] = [
        ("XDP_TX alone (xdp-tx)", &tx, &f),
        ("bpf_redirect alone (xdp-redirect)", &redirect, &f),
        ("fast path, flow in the map (fast-tx)", &fast.prog, &f),
        (
            "fast path, flow not in the map (-> classifier)",
            &fast.prog,
            &other,
        ),
        ("classifier alone (af_xdp, --io xdp)", &classifier.prog, &f),
    ];
    cases
        .iter()
        .map(|(name, p, fr)| {
            let mut runs = Vec::new();
            let mut verdict = 0;
            for _ in 0..5 {
                let (v, _, ns) = p.test_run(fr, None, 1_000_000, false)?;
                verdict = v;
                runs.push(f64::from(ns));
            }
            Ok((*name, verdict, median(runs)))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

struct Args {
    secs: f64,
    rounds: usize,
    cpumap: bool,
    only: Option<Vec<String>>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        secs: 3.0,
        rounds: 5,
        cpumap: true,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().context("missing value");
        match x.as_str() {
            "--quick" => {
                a.secs = 1.0;
                a.rounds = 1;
            }
            "--secs" => a.secs = val()?.parse()?,
            "--rounds" => a.rounds = val()?.parse()?,
            "--no-cpumap" => a.cpumap = false,
            "--only" => a.only = Some(val()?.split(',').map(String::from).collect()),
            _ => bail!("unknown argument {x}"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    if skip_unless("forward_bench", &["ip", "ethtool"]) {
        return Ok(());
    }
    let a = args()?;
    let methods: Vec<(Method, &str, &str)> = METHODS
        .iter()
        .copied()
        .filter(|(_, n, _)| a.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n)))
        .collect();
    let pid = std::process::id() % 100_000;
    let gen = Netns::new(&format!("fb-gen{pid}"))?;
    let fw = Netns::new(&format!("fb-fw{pid}"))?;
    let sink = Netns::new(&format!("fb-sink{pid}"))?;
    veth(&gen, "fbeth", &fw, "fba0")?;
    veth(&fw, "fbb0", &sink, "fbsink")?;
    veth(&gen, "fbd0g", &sink, "fbd0s")?;
    veth(&gen, "fbg0", &gen, "fbg1")?;
    let hop = if a.cpumap {
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        if ncpu <= FWD_CPU {
            bail!("the CPUMAP hop needs CPU {FWD_CPU}; run with --no-cpumap");
        }
        let cpumap = CpuMap::new(ncpu as u32)?;
        let mut asm = Asm::new();
        asm.ld_map_fd(R1, cpumap.fd())
            .mov64_imm(R2, FWD_CPU as i32)
            .mov64_imm(R3, 0)
            .call(Helper::RedirectMap)
            .exit();
        let feed = xdp_in(&gen, "fbg1", asm.finish().map_err(anyhow::Error::msg)?)?;
        Some((cpumap, feed))
    } else {
        None
    };
    let bed = Bed {
        hop,
        gen_mac: mac_in(&gen, "fbeth")?,
        d0_mac: mac_in(&sink, "fbd0s")?,
        a0_mac: mac_in(&fw, "fba0")?,
        sink_mac: mac_in(&sink, "fbsink")?,
        b0_index: ifindex_in(&fw, "fbb0")? as u32,
        gen,
        fw,
        sink,
    };
    let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let placement = if a.cpumap {
        format!(
            "generator (TPACKET TX) on CPU {GEN_CPU}, its frames moved to CPU {FWD_CPU} by a CPUMAP; \
             all forwarding and the sinks on CPU {FWD_CPU}"
        )
    } else {
        format!(
            "generator (TPACKET TX) on CPU {GEN_CPU}, kernel forwarding and sinks in its softirq there; \
             user-space forwarders on CPU {FWD_CPU}"
        )
    };
    eprintln!(
        "forward_bench: {} rounds x {} s per method; {placement}; load average before: {}",
        a.rounds,
        a.secs,
        load0.trim()
    );
    let costs = program_costs(bed.a0_mac)?;
    let mut results: Vec<Vec<Sample>> = vec![Vec::new(); methods.len()];
    for round in 0..a.rounds {
        for (k, (m, name, _)) in methods.iter().enumerate() {
            match phase(&bed, *m, a.secs) {
                Ok(s) => {
                    eprintln!(
                        "  round {round} {name:<13} {:>6.3} Mpps delivered (offered {:.3}), CPU {:.0} ns/pkt",
                        s.delivered / 1e6,
                        s.offered / 1e6,
                        s.cpu_ns
                    );
                    results[k].push(s);
                }
                Err(e) => eprintln!("  round {round} {name}: {e:#}"),
            }
        }
    }
    let load1 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let med = |k: usize, f: &dyn Fn(&Sample) -> f64| median(results[k].iter().map(f).collect());
    let rate = |name: &str| -> Option<f64> {
        let k = methods.iter().position(|(_, n, _)| *n == name)?;
        (!results[k].is_empty()).then(|| med(k, &|s| s.delivered))
    };
    // Forwarding cost: the forwarding CPU's time per packet beyond the
    // direct run's (with the CPUMAP hop: the hop and the sink are on that CPU
    // in every method); without the hop, all CPUs' time beyond direct's.
    let cost = |s: &Sample| if a.cpumap { s.fwd_cpu_ns } else { s.cpu_ns };
    let direct_cpu = methods
        .iter()
        .position(|(m, _, _)| *m == Method::Direct)
        .filter(|k| !results[*k].is_empty())
        .map(|k| med(k, &cost));
    println!(
        "DR forwarding over veth, 60-byte UDP frames (256 flows), {} round(s) x {} s per method, medians; {placement}",
        a.rounds, a.secs
    );
    println!(
        "load average before {} / after {}",
        load0.trim(),
        load1.trim()
    );
    println!(
        "| method | Mpps delivered | Mpps offered | CPU ns/pkt, all CPUs | CPU ns/pkt, CPU {FWD_CPU} | forwarding ns/pkt ({} - direct) | softirq ns/pkt | forwarder thread ns/pkt | / direct | / bridge | / xdp-redirect | / xdp-tx |",
        if a.cpumap { format!("CPU {FWD_CPU}") } else { "all".to_string() }
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (k, (m, name, what)) in methods.iter().enumerate() {
        if results[k].is_empty() {
            continue;
        }
        let d = med(k, &|s| s.delivered);
        let opt = |v: Vec<f64>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", median(v))
            }
        };
        let thread = opt(results[k].iter().filter_map(|s| s.thread_ns).collect());
        let ratio = |base: &str| {
            rate(base)
                .map(|b| format!("{:.2}", d / b.max(1.0)))
                .unwrap_or_else(|| "-".into())
        };
        let share: Vec<f64> = results[k].iter().filter_map(|s| s.fast_share).collect();
        let share = if share.is_empty() {
            String::new()
        } else {
            format!(", {:.1}% by XDP alone", median(share) * 100.0)
        };
        let cpu = med(k, &|s| s.cpu_ns);
        let fwd_cost = match (m, direct_cpu) {
            (Method::Direct, _) | (_, None) => "-".to_string(),
            (_, Some(dc)) => format!("{:.0}", med(k, &cost) - dc),
        };
        let bound = if d / med(k, &|s| s.offered).max(1.0) > 0.98 {
            " [all offered delivered]"
        } else {
            ""
        };
        println!(
            "| {name} ({what}{share}){bound} | {:.3} | {:.3} | {cpu:.0} | {:.0} | {fwd_cost} | {:.0} | {thread} | {} | {} | {} | {} |",
            d / 1e6,
            med(k, &|s| s.offered) / 1e6,
            med(k, &|s| s.fwd_cpu_ns),
            med(k, &|s| s.softirq_ns),
            ratio("direct"),
            ratio("bridge"),
            ratio("xdp-redirect"),
            ratio("xdp-tx"),
        );
    }
    println!(
        "\nXDP programs alone (BPF_PROG_TEST_RUN on one frame, median of 5 x 1,000,000 runs):"
    );
    println!("| program | verdict | ns per frame |");
    println!("|---|---|---|");
    for (name, verdict, ns) in &costs {
        let v = match *verdict {
            2 => "XDP_PASS".to_string(),
            3 => "XDP_TX".to_string(),
            4 => "XDP_REDIRECT".to_string(),
            n => n.to_string(),
        };
        println!("| {name} | {v} | {ns:.0} |");
    }
    Ok(())
}
