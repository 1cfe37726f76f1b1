//! DR forwarding benchmark: packets/s through the user-space data plane
//! (AF_PACKET TPACKET_V3 RX ring on one veth, TX ring with qdisc bypass on
//! another, the director's DR rewrite in between) next to the kernel's own
//! bridge forwarding of the same traffic over the same veths, in one run;
//! and, for the design choice, the same DR code on AF_XDP (copy mode, native
//! XDP redirect on the veth).
//!
//!   gen:eth0 <-veth-> fw:a0 [bridge br0 | vipwire DR] fw:b0 <-veth-> sink:eth0
//!
//! The generator blasts 64-byte UDP frames (256 client ports) from an AF_PACKET
//! TX ring; the figure is what arrives at sink:eth0 (rx_packets) per second.
//! Run as root: `cargo run --release -p lab --example forward_bench [-- SECS]`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use director::afpacket::{PacketRing, RingConfig};
use director::afxdp::{classifier_key, XdpClassifier, Xsk, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
use director::dataplane::{Action, Forwarder};
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

fn frame(dst_mac: MacAddr, src_mac: MacAddr, sport: u16) -> Vec<u8> {
    let payload = [0x5au8; 18]; // 14 + 20 + 8 + 18 = 60 bytes (+ FCS = 64 on a wire)
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

fn counter(ns: &Netns, ifname: &str, what: &str) -> Result<u64> {
    let s = ns.exec(&["cat", &format!("/sys/class/net/{ifname}/statistics/{what}")])?;
    Ok(s.trim().parse()?)
}

/// Pin the calling thread to `cpu` (when the machine has it): generator and
/// forwarder on different cores, as a real director would have it.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; we set one bit and apply it to this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
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

/// Generator thread: sends `frames` round-robin until stopped.
fn generator(
    path: String,
    frames: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<u64>> {
    std::thread::spawn(move || {
        enter(&path)?;
        pin(0);
        let cfg = RingConfig {
            tx_frame_nr: 4096,
            rx_block_nr: 2,
            ..RingConfig::default()
        };
        let mut ring = PacketRing::open("eth0", cfg)?;
        let mut sent = 0u64;
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..256 {
                let f = &frames[i % frames.len()];
                i += 1;
                if ring.send_with(|b| {
                    b[..f.len()].copy_from_slice(f);
                    Some(f.len())
                }) {
                    sent += 1;
                }
            }
            ring.flush()?;
        }
        Ok(sent)
    })
}

/// vipwire DR data plane from a0 to b0 until stopped; returns (packets
/// forwarded, CPU seconds of the forwarding thread).
fn forwarder(
    path: String,
    sink_mac: MacAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<(u64, f64)>> {
    std::thread::spawn(move || {
        enter(&path)?;
        pin(1);
        let mut rx = PacketRing::open("a0", RingConfig::default())?;
        let mut tx = PacketRing::open("b0", RingConfig::default())?;
        let mut fwd = dr_forwarder(sink_mac)?;
        let mut svcs = dr_service()?;
        let epoch = Instant::now();
        let cpu0 = thread_cpu();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !rx.wait_rx(Duration::from_millis(10))? {
                continue;
            }
            let now = epoch.elapsed();
            rx.rx_block(|_, fr| {
                let partial = fr.csum_not_ready();
                tx.send_with(|buf| {
                    forward_one(&mut fwd, now, fr.data, partial, &mut svcs, buf, &mut n)
                });
            });
            tx.flush()?;
        }
        Ok((n, thread_cpu() - cpu0))
    })
}

/// The forwarder both data planes run: out b0 from a0's MAC, the real server
/// at `sink_mac`.
fn dr_forwarder(sink_mac: MacAddr) -> Result<Forwarder> {
    let a0 = mac_ioctl("a0")?;
    let mut neigh = Neighbours::empty("b0", a0, Ipv4Addr::new(198, 51, 100, 5));
    neigh.insert(RS, sink_mac);
    Ok(Forwarder::new(neigh, Ipv4Addr::new(198, 51, 100, 5)))
}

/// Forward one received frame into `buf`; the length to send (counted in
/// `n`), or None to drop it.
fn forward_one(
    fwd: &mut Forwarder,
    now: Duration,
    frame: &[u8],
    partial: bool,
    svcs: &mut [Service],
    buf: &mut [u8],
    n: &mut u64,
) -> Option<usize> {
    match fwd.process(now, frame, partial, true, svcs, buf) {
        Action::Send(k) => {
            *n += 1;
            Some(k)
        }
        _ => None,
    }
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

/// The same DR forwarding on AF_XDP: XDP redirect on a0 into an XSK, TX by
/// an XSK on b0 (both copy mode: veth has no zero-copy).
fn forwarder_xdp(
    path: String,
    sink_mac: MacAddr,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<Result<String>>,
) -> std::thread::JoinHandle<Result<(u64, f64)>> {
    std::thread::spawn(move || {
        let setup = (|| -> Result<_> {
            enter(&path)?;
            pin(1);
            let a0 = director::afpacket::ifindex("a0")?;
            let b0 = director::afpacket::ifindex("b0")?;
            // The director's own classifier: only VIP:port frames go to the XSK.
            let keys = [classifier_key(VIP, PORT, 17, false)];
            let (prog, mode) = match XdpClassifier::attach(a0, XDP_FLAGS_DRV_MODE, &keys) {
                Ok(p) => (p, "native"),
                Err(e) => {
                    eprintln!("native XDP: {e}");
                    (
                        XdpClassifier::attach(a0, XDP_FLAGS_SKB_MODE, &keys)?,
                        "generic",
                    )
                }
            };
            let rx = Xsk::open(a0).context("XSK on a0")?;
            prog.register(0, rx.fd())?;
            let tx = Xsk::open(b0).context("XSK on b0")?;
            Ok((prog, rx, tx, mode))
        })();
        let (_prog, mut rx, mut tx, mode) = match setup {
            Ok(v) => v,
            Err(e) => {
                let _ = ready.send(Err(e));
                return Ok((0, 0.0));
            }
        };
        let _ = ready.send(Ok(mode.to_string()));
        let mut fwd = dr_forwarder(sink_mac)?;
        let mut svcs = dr_service()?;
        let epoch = Instant::now();
        let cpu0 = thread_cpu();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !rx.wait_rx(10) {
                continue;
            }
            let now = epoch.elapsed();
            rx.rx_batch(|data| {
                // As the director does on AF_XDP: no checksum state from XDP.
                let partial = !wire::ipv4::l4_checksum_ok(data.get(14..).unwrap_or(&[]));
                tx.send_with(|buf| {
                    forward_one(&mut fwd, now, data, partial, &mut svcs, buf, &mut n)
                });
            });
            tx.flush()?;
        }
        Ok((n, thread_cpu() - cpu0))
    })
}

struct Phase {
    offered: f64,
    delivered: f64,
}

fn measure(gen: &Netns, sink: &Netns, frames: Vec<Vec<u8>>, secs: f64) -> Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let g = generator(gen.path(), frames, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(300)); // warm up
    let (tx0, rx0) = (
        counter(gen, "eth0", "tx_packets")?,
        counter(sink, "eth0", "rx_packets")?,
    );
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (tx1, rx1) = (
        counter(gen, "eth0", "tx_packets")?,
        counter(sink, "eth0", "rx_packets")?,
    );
    let dt = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    g.join()
        .map_err(|_| anyhow::anyhow!("generator panicked"))??;
    Ok(Phase {
        offered: (tx1 - tx0) as f64 / dt,
        delivered: (rx1 - rx0) as f64 / dt,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Bridge,
    Tpacket,
    Xdp,
}

const METHODS: [(Method, &str); 3] = [
    (Method::Bridge, "kernel bridge"),
    (Method::Tpacket, "vipwire DR, TPACKET_V3"),
    (Method::Xdp, "vipwire DR, AF_XDP copy"),
];

struct Bed {
    gen: Netns,
    fw: Netns,
    sink: Netns,
    gen_mac: MacAddr,
    a0_mac: MacAddr,
    sink_mac: MacAddr,
}

/// One phase: set the method up, measure, tear it down. Returns the phase and
/// the forwarder's (packets, CPU seconds), or None when the method cannot run.
/// Packets forwarded and CPU seconds of the forwarding thread.
type FwdCpu = Option<(u64, f64)>;

fn phase(bed: &Bed, m: Method, secs: f64) -> Result<Option<(Phase, FwdCpu)>> {
    let to_director: Vec<Vec<u8>> = (0..256)
        .map(|i| frame(bed.a0_mac, bed.gen_mac, 10000 + i))
        .collect();
    match m {
        Method::Bridge => {
            lab::netns::bridge(&bed.fw, "br0", &["a0", "b0"])?;
            let frames = (0..256)
                .map(|i| frame(bed.sink_mac, bed.gen_mac, 10000 + i))
                .collect();
            let p = measure(&bed.gen, &bed.sink, frames, secs);
            bed.fw.exec(&["ip", "link", "del", "br0"])?;
            Ok(Some((p?, None)))
        }
        Method::Tpacket => {
            let stop = Arc::new(AtomicBool::new(false));
            let f = forwarder(bed.fw.path(), bed.sink_mac, Arc::clone(&stop));
            std::thread::sleep(Duration::from_millis(200));
            let p = measure(&bed.gen, &bed.sink, to_director, secs);
            stop.store(true, Ordering::Relaxed);
            let cpu = f
                .join()
                .map_err(|_| anyhow::anyhow!("forwarder panicked"))??;
            Ok(Some((p?, Some(cpu))))
        }
        Method::Xdp => {
            let stop = Arc::new(AtomicBool::new(false));
            let (rtx, rrx) = std::sync::mpsc::channel();
            let f = forwarder_xdp(bed.fw.path(), bed.sink_mac, Arc::clone(&stop), rtx);
            let ready = rrx.recv_timeout(Duration::from_secs(5));
            let p = match ready {
                Ok(Ok(_mode)) => Some(measure(&bed.gen, &bed.sink, to_director, secs)),
                Ok(Err(e)) => {
                    eprintln!("AF_XDP not available here: {e:#}");
                    None
                }
                Err(_) => None,
            };
            stop.store(true, Ordering::Relaxed);
            let cpu = f
                .join()
                .map_err(|_| anyhow::anyhow!("xdp forwarder panicked"))??;
            match p {
                Some(p) => Ok(Some((p?, Some(cpu)))),
                None => Ok(None),
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn main() -> Result<()> {
    if skip_unless("forward_bench", &["ip"]) {
        return Ok(());
    }
    // Seconds per phase, rounds (each round runs every method once, interleaved).
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let gen = Netns::new("fb-gen")?;
    let fw = Netns::new("fb-fw")?;
    let sink = Netns::new("fb-sink")?;
    veth(&gen, "eth0", &fw, "a0")?;
    veth(&fw, "b0", &sink, "eth0")?;
    sink.addr("eth0", &format!("{RS}/24"))?;
    gen.addr("eth0", &format!("{CLIENT}/24"))?;
    let mac = |ns: &Netns, ifname: &str| -> Result<MacAddr> {
        ns.exec(&["cat", &format!("/sys/class/net/{ifname}/address")])?
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let bed = Bed {
        gen_mac: mac(&gen, "eth0")?,
        a0_mac: mac(&fw, "a0")?,
        sink_mac: mac(&sink, "eth0")?,
        gen,
        fw,
        sink,
    };
    // results[method] = per-round (delivered, offered, ns of forwarder CPU per packet)
    let mut results: Vec<Vec<(f64, f64, Option<f64>)>> = vec![Vec::new(); METHODS.len()];
    for _ in 0..rounds {
        for (k, (m, _)) in METHODS.iter().enumerate() {
            if let Some((p, cpu)) = phase(&bed, *m, secs)? {
                let ns_per_pkt = cpu.filter(|c| c.0 > 0).map(|(n, c)| c * 1e9 / n as f64);
                results[k].push((p.delivered, p.offered, ns_per_pkt));
            }
        }
    }
    println!(
        "DR forwarding over veth, 60-byte UDP frames, {rounds} interleaved rounds x {secs} s per method (medians):"
    );
    let med: Vec<f64> = results
        .iter()
        .map(|r| median(r.iter().map(|x| x.0).collect()))
        .collect();
    for (k, (_, name)) in METHODS.iter().enumerate() {
        if results[k].is_empty() {
            continue;
        }
        let offered = median(results[k].iter().map(|x| x.1).collect());
        let cost: Vec<f64> = results[k].iter().filter_map(|x| x.2).collect();
        let cost = if cost.is_empty() {
            String::new()
        } else {
            format!("  forwarder thread {:.0} ns CPU/packet", median(cost))
        };
        let bound = if med[k] / offered.max(1.0) > 0.98 {
            "  [all offered delivered: generator-bound, lower bound]"
        } else {
            ""
        };
        println!(
            "  {name:<26} delivered {:>9.0} pps (offered {:>9.0}){cost}{bound}",
            med[k], offered
        );
    }
    println!(
        "  ratio vipwire DR (TPACKET_V3) / kernel bridge: {:.2}",
        med[1] / med[0].max(1.0)
    );
    if !results[2].is_empty() {
        println!(
            "  ratio AF_XDP / TPACKET_V3 (same DR code): {:.2}",
            med[2] / med[1].max(1.0)
        );
    }
    Ok(())
}
