//! The director in TUN mode, in namespaces: client packets for the VIP leave
//! the director IPIP-encapsulated (outer director -> real server, protocol 4),
//! seen on the wire on the real server (AF_PACKET capture, and tcpdump when
//! installed). This kernel has no ipip
//! module, so the test decapsulates in user space on the real server (an
//! AF_PACKET reader that re-injects the inner packet through a veth pair)
//! and curl gets the full round trip.

#[path = "common/ipip.rs"]
mod ipip;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use director::afpacket::{PacketRing, RingConfig};
use lab::netns::skip_unless;
use lab::topo::{self, HttpServer, Lan};

const VIP: &str = "198.51.100.241";
const RS_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);

fn conf_text() -> String {
    format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 5\n  lb_algo rr\n  lb_kind TUN\n  protocol TCP\n  \
         real_server {RS_IP} 80 {{\n    weight 1\n  }}\n}}\n"
    )
}

#[test]
fn director_tun_ipip_on_the_wire_and_round_trip() -> Result<()> {
    if skip_unless(
        "director_tun_ipip_on_the_wire_and_round_trip",
        &["ip", "curl", "iptables"],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("tun-", d1_log, run)
}

fn d1_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("d1.log")).unwrap_or_default()
}

fn run(dir: &Path) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new("tun-")?;
    let client = lan.host("cl", &["198.51.100.100/24"])?;
    let d1 = lan.host("d1", &["198.51.100.5/24"])?;
    // No VRRP here: the VIP is put on the director by hand.
    d1.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "eth0"])?;
    let rs = lan.host("rs1", &[&format!("{RS_IP}/24")])?;
    topo::dr_real_server(&rs, VIP)?;
    let _http = HttpServer::start(&rs, 80, "rs1")?;
    let (_d, _sock) = topo::start_forwarding_director(
        &bin,
        &d1,
        dir,
        "d1",
        &conf_text(),
        &["--interface", "eth0", "--io", "packet"],
        Duration::from_secs(10),
    )?;

    // 1. On the wire: an AF_PACKET capture on the real server sees IPIP from
    // the director (and tcpdump, when installed, prints it).
    let (ctx, crx) = std::sync::mpsc::channel();
    let path = rs.path();
    let cap_thread = std::thread::spawn(move || -> Result<()> {
        topo::enter(&path)?;
        let mut ring = PacketRing::open("eth0", RingConfig::default())?;
        let t0 = std::time::Instant::now();
        let _ = ctx.send(None);
        while t0.elapsed() < Duration::from_secs(8) {
            if !ring.wait_rx(Duration::from_millis(50))? {
                continue;
            }
            let mut found = None;
            ring.rx_block(|_, fr| {
                let d = fr.data;
                if found.is_none() && d.len() > 34 && d[12..14] == [8, 0] && d[23] == 4 {
                    found = Some(d.to_vec());
                }
            });
            if let Some(f) = found {
                let _ = ctx.send(Some(f));
                return Ok(());
            }
        }
        Ok(())
    });
    crx.recv_timeout(Duration::from_secs(5))
        .context("capture start")?;
    let tcpdump = if lab::netns::have("tcpdump") {
        let cap = dir.join("cap.txt");
        let mut c = rs.command("tcpdump");
        c.args(["-i", "eth0", "-n", "-l", "-c", "1", "ip proto 4"])
            .stdout(std::fs::File::create(&cap)?)
            .stderr(std::process::Stdio::null());
        Some((lab::netns::Proc::spawn(c)?, cap))
    } else {
        None
    };
    std::thread::sleep(Duration::from_millis(700));
    let r = topo::curl(&client, &format!("http://{VIP}/"), 2);
    assert!(r.is_err(), "no decapsulation yet, yet an answer: {r:?}");
    let frame = crx
        .recv_timeout(Duration::from_secs(8))
        .ok()
        .flatten()
        .context("no IPIP frame captured on the real server")?;
    let _ = cap_thread.join();
    let (outer, info) = wire::ipv4::Ipv4Repr::parse(&frame[14..])?;
    assert_eq!(outer.src, Ipv4Addr::new(198, 51, 100, 5));
    assert_eq!(outer.dst, RS_IP);
    assert_eq!(outer.protocol, 4);
    assert!(info.checksum_ok);
    let inner = wire::ipv4::decapsulate_ipip(&frame[14..])?;
    assert_eq!(wire::ipv4::src(inner), Ipv4Addr::new(198, 51, 100, 100));
    assert_eq!(wire::ipv4::dst(inner), VIP.parse::<Ipv4Addr>()?);
    let (tcp, _) = wire::tcp::TcpRepr::parse(&inner[20..])?;
    assert_eq!(
        (tcp.dst_port, tcp.flags & wire::tcp::SYN),
        (80, wire::tcp::SYN)
    );
    assert!(wire::tcp::verify(
        wire::ipv4::src(inner),
        wire::ipv4::dst(inner),
        &inner[20..]
    ));
    if let Some((mut td, cap)) = tcpdump {
        if td.wait_timeout(Duration::from_secs(5)).is_some() {
            let text = std::fs::read_to_string(&cap)?;
            eprintln!("tcpdump: {text}");
            assert!(
                text.contains("198.51.100.5 > 198.51.100.8: IP 198.51.100.100."),
                "{text}"
            );
        }
    }

    // 2. Round trip with user-space decapsulation on the real server.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let dec = ipip::decapsulator(&rs, RS_IP, Arc::clone(&stop), Arc::clone(&count))?;
    let body = topo::wait_for(Duration::from_secs(10), || {
        topo::curl(&client, &format!("http://{VIP}/"), 2).ok()
    });
    stop.store(true, Ordering::Relaxed);
    let _ = dec.join();
    assert_eq!(
        body.as_deref(),
        Some("rs1"),
        "round trip through the tunnel"
    );
    assert!(count.load(Ordering::Relaxed) >= 3, "decapsulated packets");
    Ok(())
}
