//! The XDP DR fast path (`vipwire director --io xdp-fast`) on the real kernel,
//! in namespaces: a client, the director (VIP on eth0, no VRRP) and one DR
//! real server (VIP on lo, arp_ignore/arp_announce) on one bridged segment.
//! A TCP connection through the VIP sends its segments one by one. Shows:
//!
//! - the handshake goes through user space (`forwarded` rises), which then
//!   puts the connection into the program's map (`xdp_fast_learned`);
//! - the connection's later segments are forwarded by XDP_TX alone: the
//!   map's packet counter (`xdp_fast_packets`) rises by at least the number
//!   of segments while user space's `forwarded` stays exactly flat;
//! - they reach the real server with the director's MAC as source and the
//!   real server's MAC as destination (tcpdump -e there), and every byte
//!   arrives;
//! - a second connection again starts in user space and then gets its entry.
//!
//! XDP_TX on a veth puts the frame into the peer's NAPI ring (which exists
//! while the peer has GRO on or an XDP program: drivers/net/veth.c,
//! veth_xdp_xmit) but kicks the peer's NAPI only when the peer has an XDP
//! program (veth_xdp_flush); with GRO alone the frames wait for the next
//! frame that arrives the ordinary way (measured here: the program's XDP_TX
//! count rose while the bridge port received nothing). So the segment's
//! bridge port gets an XDP_PASS program. A NIC (or virtio-net) needs nothing
//! of the kind. The client's transmit checksum offload is off (see `run`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use director::afxdp::{XdpProgram, XDP_FLAGS_DRV_MODE};
use director::ebpf::{Asm, XDP_PASS};
use lab::capture::Capture;
use lab::netns::{skip_unless, Netns};
use lab::topo::{self, Lan};

const VIP: &str = "198.51.100.241";
const DIR_IP: &str = "198.51.100.5";
const RS_IP: &str = "198.51.100.8";
const PORT: u16 = 9000;

fn conf() -> String {
    format!(
        "virtual_server {VIP} {PORT} {{\n  delay_loop 2\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  \
         real_server {RS_IP} {PORT} {{\n    weight 1\n  }}\n}}\n"
    )
}

/// A TCP server in `ns` that, per connection, reads to EOF and answers with
/// the number of bytes it read.
fn byte_counter(ns: &Netns) -> Result<()> {
    topo::spawn_in(
        ns.path(),
        "byte counter",
        || Ok(TcpListener::bind(("0.0.0.0", PORT))?),
        |l| {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut n = 0usize;
                    let mut buf = [0u8; 4096];
                    while let Ok(k) = s.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        n += k;
                    }
                    let _ = s.write_all(n.to_string().as_bytes());
                });
            }
        },
    )?;
    Ok(())
}

/// A client connection opened from `ns` (the socket lives on; the thread
/// that entered the namespace ends).
fn connect(ns: &Netns) -> Result<TcpStream> {
    let path = ns.path();
    std::thread::spawn(move || -> Result<TcpStream> {
        topo::enter(&path)?;
        let s =
            TcpStream::connect_timeout(&format!("{VIP}:{PORT}").parse()?, Duration::from_secs(3))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("connect thread panicked"))?
}

/// `n` writes of 100 bytes, 4 ms apart: one segment each (TCP_NODELAY).
fn send_segments(s: &mut TcpStream, n: usize) -> Result<()> {
    for _ in 0..n {
        s.write_all(&[0x5a; 100])?;
        std::thread::sleep(Duration::from_millis(4));
    }
    Ok(())
}

fn counters(bin: &Path, sock: &Path) -> Result<serde_json::Value> {
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(bin, sock)?)?;
    Ok(s["counters"].clone())
}

fn c(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

/// An XDP_PASS program attached (native) to `ifname` in `ns`; detached on drop.
fn xdp_pass(ns: &Netns, ifname: &str) -> Result<XdpProgram> {
    let idx: i32 = ns
        .exec(&["cat", &format!("/sys/class/net/{ifname}/ifindex")])?
        .trim()
        .parse()?;
    let mut a = Asm::new();
    a.ret(XDP_PASS);
    let code = a.finish().map_err(anyhow::Error::msg)?;
    let path = ns.path();
    std::thread::spawn(move || -> Result<XdpProgram> {
        topo::enter(&path)?;
        Ok(XdpProgram::load(&code, Some((idx, XDP_FLAGS_DRV_MODE)))?)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("xdp attach thread panicked"))?
}

fn mac(ns: &Netns) -> Result<String> {
    Ok(ns
        .exec(&["cat", "/sys/class/net/eth0/address"])?
        .trim()
        .to_string())
}

#[test]
fn director_xdp_fast_path_forwards_established_flows_in_the_kernel() -> Result<()> {
    if skip_unless(
        "director_xdp_fast_path_forwards_established_flows_in_the_kernel",
        &["ip", "iptables", "ethtool", "tcpdump"],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("xf-", topo::log_files, run)
}

fn run(dir: &Path) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new("xf-")?;
    let client = lan.host("cl", &["198.51.100.100/24"])?;
    let director = lan.host("d1", &[&format!("{DIR_IP}/24")])?;
    let rs = lan.host("rs1", &[&format!("{RS_IP}/24")])?;
    // The director's bridge port (p2) must take XDP_TX frames promptly:
    // an XDP_PASS program there (see the module doc).
    let _pass = xdp_pass(&lan.sw, "p2")?;
    // The client computes its TCP checksums: a local sender over veth leaves
    // them partial (CHECKSUM_PARTIAL), and XDP hands over no checksum state,
    // so frames forwarded by the program alone would reach the real server
    // with a bad checksum (measured: the real server dropped every one).
    // The slow path completes them; the fast path, like Katran, never
    // touches L4. Frames from a NIC carry full checksums.
    client.exec(&["ethtool", "-K", "eth0", "tx", "off"])?;
    director.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "eth0"])?;
    topo::dr_real_server(&rs, VIP)?;
    byte_counter(&rs)?;
    let (dmac, rmac) = (mac(&director)?, mac(&rs)?);

    let (_d, sock) = topo::start_forwarding_director(
        &bin,
        &director,
        dir,
        "d1",
        &conf(),
        &["--io", "xdp-fast", "--interface", "eth0"],
        Duration::from_secs(10),
    )?;
    let st: serde_json::Value = serde_json::from_str(&topo::director_status(&bin, &sock)?)?;
    let dp = st["data_plane"].as_str().unwrap_or("").to_string();
    eprintln!("data plane: {dp}");
    if !dp.contains("fast path") {
        bail!("not the fast path: {dp}");
    }
    let cap = Capture::start(&rs, dir, "rs1", &format!("tcp and dst port {PORT}"))?;

    // 1. A new connection: the handshake and first segment go through user
    //    space, which then puts the connection into the map.
    let mut s1 = connect(&client)?;
    send_segments(&mut s1, 5)?;
    let a = topo::wait_for(Duration::from_secs(3), || {
        let v = counters(&bin, &sock).ok()?;
        (c(&v, "xdp_fast_learned") == 1 && c(&v, "xdp_fast_entries") == 1).then_some(v)
    })
    .context("the connection never got a map entry")?;
    eprintln!("after the handshake: {a}");
    assert!(c(&a, "forwarded") >= 2, "handshake through user space: {a}");
    // Let a refresh (once a second) read the counter, then take a baseline.
    std::thread::sleep(Duration::from_millis(1200));
    let b = counters(&bin, &sock)?;

    // 2. 200 more segments of the established connection.
    const N: u64 = 200;
    send_segments(&mut s1, N as usize)?;
    // The program's counter is read once a second: wait for it (a loaded
    // machine may delay the read), but no longer than 5 s.
    let fast_of = |v: &serde_json::Value| c(v, "xdp_fast_packets") - c(&b, "xdp_fast_packets");
    let after = topo::wait_for(Duration::from_secs(5), || {
        let v = counters(&bin, &sock).ok()?;
        (fast_of(&v) >= N).then_some(v)
    });
    let after = match after {
        Some(v) => v,
        None => counters(&bin, &sock)?,
    };
    eprintln!("before: {b}\nafter {N} segments: {after}");
    let fast = fast_of(&after);
    if fast < N {
        for (ns, cmd) in [
            (&lan.sw, "ethtool -S p2; ethtool -S p3; ip link show p2"),
            (&director, "ethtool -S eth0"),
            (&rs, "ip -s link show eth0"),
        ] {
            eprintln!("{}", ns.sh(cmd).unwrap_or_default());
        }
        eprintln!("{}", cap.finish()?);
        bail!("the program forwarded {fast} < {N} packets");
    }
    assert_eq!(
        c(&after, "forwarded"),
        c(&b, "forwarded"),
        "user space forwarded none of them"
    );
    assert_eq!(c(&after, "xdp_fast_entries"), 1);

    // Every byte arrived, through the real server's answer (which goes to
    // the client directly, as DR replies do).
    s1.shutdown(Shutdown::Write)?;
    let mut answer = String::new();
    s1.read_to_string(&mut answer)?;
    assert_eq!(
        answer,
        ((5 + N) * 100).to_string(),
        "bytes at the real server"
    );

    // 3. A second connection starts in user space again and gets its entry.
    let f0 = c(&counters(&bin, &sock)?, "forwarded");
    let mut s2 = connect(&client)?;
    send_segments(&mut s2, 3)?;
    let v = topo::wait_for(Duration::from_secs(3), || {
        let v = counters(&bin, &sock).ok()?;
        (c(&v, "xdp_fast_learned") == 2).then_some(v)
    })
    .context("the second connection never got a map entry")?;
    assert!(
        c(&v, "forwarded") >= f0 + 2,
        "second handshake through user space: {v}"
    );
    drop(s2);

    // The segments on the real server's link: director's MAC -> its MAC.
    let lines = cap.finish()?;
    let from_dir = format!("{dmac} > {rmac}");
    let data: Vec<&str> = lines.lines().filter(|l| l.contains("length 100")).collect();
    assert!(
        data.len() as u64 >= N,
        "{} data segments captured",
        data.len()
    );
    for l in &data {
        assert!(l.starts_with(&from_dir) || l.contains(&from_dir), "{l}");
    }
    eprintln!(
        "RESULT xdp-fast: {} segments captured at rs1 as {from_dir}; program packets +{fast}, user-space forwarded +0",
        data.len()
    );
    Ok(())
}
