//! DR forwarding benchmark: packets/s through the user-space data plane
//! (AF_PACKET TPACKET_V3 RX ring on one veth, TX ring with qdisc bypass on
//! another, the director's DR rewrite in between) next to the kernel's own
//! bridge forwarding of the same traffic over the same veths, in one run.
//!
//!   gen:eth0 <-veth-> fw:a0 [bridge br0 | vipwire DR] fw:b0 <-veth-> sink:eth0
//!
//! The generator blasts 64-byte UDP frames (256 client ports) from an AF_PACKET
//! TX ring; the figure is what arrives at sink:eth0 (rx_packets) per second.
//! Run as root: `cargo run --release -p lab --example forward_bench [-- SECS]`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use director::afpacket::{PacketRing, RingConfig};
use director::dataplane::{Action, Forwarder};
use director::netif::{mac_ioctl, Neighbours};
use lab::netns::{skip_unless, veth, Netns};
use lab::topo::enter;
use lvs::conn::Service;
use lvs::keepalived::{L4Proto, LbKind};
use lvs::sched::{scheduler_for, Dest};
use wire::ethernet::{EthernetRepr, Mac, ETHERTYPE_IPV4};
use wire::ipv4::{Ipv4Repr, PROTO_UDP};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 241);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);
const PORT: u16 = 9000;

fn frame(dst_mac: Mac, src_mac: Mac, sport: u16) -> Vec<u8> {
    let payload = [0x5au8; 18]; // 14 + 20 + 8 + 18 = 60 bytes (+ FCS = 64 on a wire)
    let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
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

/// vipwire DR data plane from a0 to b0 until stopped.
fn forwarder(
    path: String,
    sink_mac: Mac,
    stop: Arc<AtomicBool>,
    fwd_count: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Result<()>> {
    std::thread::spawn(move || {
        enter(&path)?;
        pin(1);
        let mut rx = PacketRing::open("a0", RingConfig::default())?;
        let mut tx = PacketRing::open("b0", RingConfig::default())?;
        let a0 = mac_ioctl("a0")?;
        let mut neigh = Neighbours::empty("b0", a0, Ipv4Addr::new(198, 51, 100, 5));
        neigh.insert(RS, sink_mac);
        let mut fwd = Forwarder::new(neigh, Ipv4Addr::new(198, 51, 100, 5));
        let mut svcs = vec![Service::new(
            IpAddr::V4(VIP),
            PORT,
            L4Proto::Udp,
            LbKind::Dr,
            None,
            vec![Dest::new(IpAddr::V4(RS), PORT, 1)],
            scheduler_for("rr").map_err(|e| anyhow::anyhow!("{e}"))?,
        )];
        let epoch = Instant::now();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !rx.wait_rx(Duration::from_millis(10))? {
                continue;
            }
            let now = epoch.elapsed();
            rx.rx_block(|_, fr| {
                let partial = fr.csum_not_ready();
                tx.send_with(|buf| {
                    match fwd.process(now, fr.data, partial, true, &mut svcs, buf) {
                        Action::Send(k) => {
                            n += 1;
                            Some(k)
                        }
                        _ => None,
                    }
                });
            });
            tx.flush()?;
            fwd_count.store(n, Ordering::Relaxed);
        }
        Ok(())
    })
}

struct Phase {
    name: &'static str,
    offered: f64,
    delivered: f64,
}

fn measure(
    gen: &Netns,
    sink: &Netns,
    frames: Vec<Vec<u8>>,
    secs: f64,
    name: &'static str,
) -> Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let g = generator(gen.path(), frames, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(500)); // warm up
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
        name,
        offered: (tx1 - tx0) as f64 / dt,
        delivered: (rx1 - rx0) as f64 / dt,
    })
}

fn main() -> Result<()> {
    if skip_unless("forward_bench", &["ip"]) {
        return Ok(());
    }
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let gen = Netns::new("fb-gen")?;
    let fw = Netns::new("fb-fw")?;
    let sink = Netns::new("fb-sink")?;
    veth(&gen, "eth0", &fw, "a0")?;
    veth(&fw, "b0", &sink, "eth0")?;
    sink.addr("eth0", &format!("{RS}/24"))?;
    gen.addr("eth0", &format!("{CLIENT}/24"))?;
    let mac = |ns: &Netns, ifname: &str| -> Result<Mac> {
        ns.exec(&["cat", &format!("/sys/class/net/{ifname}/address")])?
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let (gen_mac, a0_mac, sink_mac) = (mac(&gen, "eth0")?, mac(&fw, "a0")?, mac(&sink, "eth0")?);

    // 1. Kernel: bridge a0 and b0; frames addressed to the sink.
    lab::netns::bridge(&fw, "br0", &["a0", "b0"])?;
    let frames: Vec<Vec<u8>> = (0..256)
        .map(|i| frame(sink_mac, gen_mac, 10000 + i))
        .collect();
    let kernel = measure(&gen, &sink, frames, secs, "kernel bridge")?;
    fw.exec(&["ip", "link", "del", "br0"])?;

    // 2. vipwire DR: frames addressed to the director (a0), rewritten to the sink.
    let stop = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let f = forwarder(fw.path(), sink_mac, Arc::clone(&stop), Arc::clone(&n));
    std::thread::sleep(Duration::from_millis(300));
    let frames: Vec<Vec<u8>> = (0..256)
        .map(|i| frame(a0_mac, gen_mac, 10000 + i))
        .collect();
    let user = measure(&gen, &sink, frames, secs, "vipwire DR (TPACKET_V3)");
    stop.store(true, Ordering::Relaxed);
    f.join()
        .map_err(|_| anyhow::anyhow!("forwarder panicked"))?
        .context("forwarder")?;
    let user = user?;

    println!("DR forwarding over veth, 60-byte UDP frames, {secs} s per phase, same run:");
    for p in [&kernel, &user] {
        let share = p.delivered / p.offered.max(1.0);
        println!(
            "  {:<26} offered {:>10.0} pps  delivered {:>10.0} pps ({:.0}%){}",
            p.name,
            p.offered,
            p.delivered,
            100.0 * share,
            if share > 0.98 {
                "  [all delivered: bound by the generator, a lower bound]"
            } else {
                ""
            }
        );
    }
    println!(
        "  ratio vipwire/kernel delivered: {:.2}",
        user.delivered / kernel.delivered.max(1.0)
    );
    println!(
        "  (forwarder counted {} packets)",
        n.load(Ordering::Relaxed)
    );
    Ok(())
}
