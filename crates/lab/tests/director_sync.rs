//! Connection sync in namespaces: N concurrent rate-limited downloads of a
//! large file through the VIP in DR mode, `kill -9` of the master director
//! mid-transfer, then count the transfers that still complete byte-exact
//! through the backup. With `lvs_sync_daemon` the backup has the master's
//! connections (IPVS sync v1 on 224.0.0.81:8848) and every transfer must
//! complete; without it the backup drops the mid-connection packets (IPVS
//! schedules only on SYN) and the test must see transfers lost, which shows
//! that it can fail.
//!
//! One L2 segment: client 198.51.100.100 (curl), two DR real
//! servers .8 and .10 (VIP on lo, arp_ignore/announce) serving the same
//! pseudo-random file from a thread per connection at a fixed pace, directors .5 (prio 150)
//! and .7 (prio 100) running vipwire's VRRP and data plane. Namespaces are
//! `vw-syn-*` / `vw-nos-*` and go when the test ends; only processes started
//! here are killed, by PID. Needs root, curl and iptables; skips visibly
//! otherwise.
//!
//! Env: `VW_SYNC_N` transfers (default 8), `VW_SYNC_MB` file size in MB
//! (default 3), `VW_SYNC_KBPS` the servers' pace per transfer (default 300).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[path = "common/ipip.rs"]
mod ipip;

use anyhow::{Context, Result};
use lab::netns::{skip_unless, Netns, Proc};
use lab::topo::{self, Lan};

const VIP: &str = "198.51.100.241";
const RS: [(&str, &str); 2] = [("rs1", "198.51.100.8"), ("rs2", "198.51.100.10")];

fn env_or(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// The file every real server serves: deterministic pseudo-random bytes.
fn content(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// HTTP/1.0 server in a namespace: every request gets `data`, one thread
/// per connection (the transfers run concurrently), paced to `rate` bytes/s.
/// The server paces, not curl: a reader-side limit lets the whole file sit
/// in the client's receive buffer within a second, and the failover would
/// then find nothing left to carry.
struct FileServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    fn start(ns: &Netns, name: &str, data: Arc<Vec<u8>>, rate: usize) -> Result<FileServer> {
        let name = name.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let setup = || -> Result<TcpListener> {
            let l = TcpListener::bind(("0.0.0.0", 80))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let thread = topo::spawn_in(ns.path(), "file server", setup, move |l| {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let data = Arc::clone(&data);
                let st = Arc::clone(&st);
                let name = name.clone();
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let _ = s.set_write_timeout(Some(Duration::from_secs(60)));
                    let mut buf = [0u8; 2048];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    if got.starts_with(b"GET /name") {
                        let r = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                            name.len()
                        );
                        let _ = s.write_all(r.as_bytes());
                        return;
                    }
                    let head = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                        data.len()
                    );
                    if s.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    let t0 = Instant::now();
                    let mut sent = 0usize;
                    for chunk in data.chunks(8 * 1024) {
                        if st.load(Ordering::Relaxed) || s.write_all(chunk).is_err() {
                            return;
                        }
                        sent += chunk.len();
                        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                        if let Some(wait) = due.checked_sub(t0.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                });
            }
        })?;
        Ok(FileServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Forwarding method under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Dr,
    /// Client in 192.0.2.0/24 behind the gateway VIP 192.0.2.1; real servers
    /// route their replies through the inner VIP 198.51.100.254. All three
    /// VIPs move together in VI_1.
    Nat,
    /// IPIP to the real servers, decapsulated there in user space (no ipip
    /// module here); replies go straight to the client as in DR.
    Tun,
}

/// One run: method, sync on or off, VRRP by vipwire or by keepalived --vrrp.
#[derive(Clone, Copy, Debug)]
struct Variant {
    mode: Mode,
    sync: bool,
    keepalived: bool,
    /// `persistence_timeout 300`: a new connection of the client after the
    /// failover must go to the real server its template names.
    persistence: bool,
}

fn vrrp_block(prio: u8, mode: Mode) -> String {
    let extra = match mode {
        Mode::Dr | Mode::Tun => String::new(),
        Mode::Nat => "    192.0.2.1/32\n    198.51.100.254/32\n".to_string(),
    };
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {prio}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/32\n{extra}  }}\n}}\n"
    )
}

fn director_conf(prio: u8, v: Variant) -> String {
    let mut s = String::new();
    if v.sync {
        s.push_str("global_defs {\n  lvs_sync_daemon eth0 VI_1\n}\n");
    }
    s.push_str(&vrrp_block(prio, v.mode));
    let kind = match v.mode {
        Mode::Dr => "DR",
        Mode::Nat => "NAT",
        Mode::Tun => "TUN",
    };
    s.push_str(&format!(
        "virtual_server {VIP} 80 {{\n  lb_algo rr\n  lb_kind {kind}\n  protocol TCP\n"
    ));
    if v.persistence {
        s.push_str("  persistence_timeout 300\n");
    }
    for (_, ip) in RS {
        s.push_str(&format!("  real_server {ip} 80 {{\n    weight 1\n  }}\n"));
    }
    s.push_str("}\n");
    s
}

fn start_keepalived(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Result<Proc> {
    let path = dir.join(format!("{name}-keepalived.conf"));
    std::fs::write(&path, conf)?;
    let mut c = ns.command("keepalived");
    c.args(["--vrrp", "--dont-fork", "--log-console", "-f"])
        .arg(&path)
        .arg("-p")
        .arg(dir.join(format!("{name}-k.pid")))
        .arg("-r")
        .arg(dir.join(format!("{name}-v.pid")))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(
            dir.join(format!("{name}-keepalived.log")),
        )?)
        .stderr(std::process::Stdio::null());
    Proc::spawn(c)
}

fn status(bin: &Path, sock: &Path) -> Option<serde_json::Value> {
    let s = topo::director_status(bin, sock).ok()?;
    serde_json::from_str(&s).ok()
}

fn counter(st: &serde_json::Value, k: &str) -> u64 {
    st["counters"][k].as_u64().unwrap_or(0)
}

/// Outcome of one run.
struct Outcome {
    lost: usize,
    total: usize,
    secs: f64,
}

fn failover(dir: &Path, prefix: &str, v: Variant) -> Result<Outcome> {
    let sync = v.sync;
    let t0 = Instant::now();
    let n = env_or("VW_SYNC_N", 8);
    let size = env_or("VW_SYNC_MB", 3) * 1_000_000;
    let rate = env_or("VW_SYNC_KBPS", 300) * 1000;
    let data = Arc::new(content(size));
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new(prefix)?;
    let client = match v.mode {
        // .101: a second client address, to move rr on before .100 comes.
        Mode::Dr | Mode::Tun => lan.host("cl", &["198.51.100.100/24", "198.51.100.101/24"])?,
        Mode::Nat => {
            let c = lan.host("cl", &["192.0.2.100/24"])?;
            c.exec(&["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1"])?;
            c
        }
    };
    let mut rs_ns = Vec::new();
    let mut servers = Vec::new();
    let decap_stop = Arc::new(AtomicBool::new(false));
    let mut decaps = Vec::new();
    for (name, ip) in RS {
        let ns = lan.host(name, &[&format!("{ip}/24")])?;
        match v.mode {
            Mode::Dr => topo::dr_real_server(&ns, VIP)?,
            Mode::Tun => {
                topo::dr_real_server(&ns, VIP)?;
                let ip: std::net::Ipv4Addr = ip.parse()?;
                decaps.push(ipip::decapsulator(
                    &ns,
                    ip,
                    Arc::clone(&decap_stop),
                    Arc::new(std::sync::atomic::AtomicU64::new(0)),
                )?);
            }
            Mode::Nat => {
                ns.exec(&["ip", "route", "add", "default", "via", "198.51.100.254"])?;
            }
        }
        servers.push(FileServer::start(&ns, name, Arc::clone(&data), rate)?);
        rs_ns.push(ns);
    }
    let mut dirs: Vec<(Netns, Proc, std::path::PathBuf)> = Vec::new();
    let mut keepalived: Vec<Proc> = Vec::new();
    for (name, ip, ip2, prio) in [
        ("d1", "198.51.100.5/24", "192.0.2.5/24", 150),
        ("d2", "198.51.100.7/24", "192.0.2.7/24", 100),
    ] {
        let ns = match v.mode {
            Mode::Dr | Mode::Tun => lan.host(name, &[ip])?,
            Mode::Nat => lan.host(name, &[ip, ip2])?,
        };
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, director_conf(prio, v))?;
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        // TUN runs on TPACKET_V3, as the director_tun test does.
        let extra: &[&str] = if v.keepalived {
            keepalived.push(start_keepalived(&ns, dir, name, &vrrp_block(prio, v.mode))?);
            &["--external-vrrp", "--io", "packet"]
        } else if v.mode == Mode::Tun {
            &["--io", "packet"]
        } else {
            &[]
        };
        let p = topo::start_director(&bin, &ns, &conf, &sock, &log, extra)?;
        dirs.push((ns, p, sock));
    }
    dirs[0]
        .0
        .wait_addr("eth0", VIP, true, Duration::from_secs(15))
        .context("d1 never became VRRP master")?;
    for (_, _, sock) in &dirs {
        topo::wait_for(Duration::from_secs(10), || {
            status(&bin, sock).filter(|s| s["data_plane"].as_str().is_some_and(|d| d != "starting"))
        })
        .context("director data plane not up")?;
    }
    // The transfers.
    let url = format!("http://{VIP}/big.bin");
    let name_url = format!("http://{VIP}/name");
    let mut sticky = None;
    if v.persistence {
        // .101 takes rs1 (rr's first pick), so .100's template names rs2:
        // a backup scheduling afresh would give .100 rs1.
        let other = client.exec(&[
            "curl",
            "-s",
            "--max-time",
            "3",
            "--interface",
            "198.51.100.101",
            &name_url,
        ])?;
        let first = topo::curl(&client, &name_url, 3)?;
        eprintln!("{prefix}: persistence: .101 -> {other}, .100 -> {first}");
        sticky = Some(first);
    }
    if v.mode == Mode::Nat {
        // The route through the gateway VIP must work before the transfers:
        // a response header within a second (the body is the long file).
        topo::wait_for(Duration::from_secs(10), || {
            let o = client
                .exec_output(&[
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "1",
                    &url,
                ])
                .ok()?;
            (String::from_utf8_lossy(&o.stdout).trim() == "200").then_some(())
        })
        .context("no NAT answer before the transfers")?;
    }
    let mut curls = Vec::new();
    for i in 0..n {
        let out = dir.join(format!("out{i}"));
        let mut c = client.command("curl");
        c.args(["-s", "-o"])
            .arg(&out)
            .args(["-Y", "1", "-y", "15", "--max-time", "90"])
            .arg(&url)
            .stdin(std::process::Stdio::null());
        curls.push((Proc::spawn(c)?, out));
    }
    std::thread::sleep(Duration::from_secs(3));
    let before = status(&bin, &dirs[0].2).context("master status")?;
    let in_table = before["services"][0]["connections"].as_u64().unwrap_or(0);
    eprintln!(
        "{prefix}: before kill: master table {in_table} connection(s), sync_sent {}",
        counter(&before, "sync_sent")
    );
    // kill -9 the master mid-transfer. keepalived's VRRP child would send a
    // priority-0 advert when its parent dies: stop the parent, kill the
    // child (its PID from our -r file), then the parent.
    let killed = Instant::now();
    dirs[0].1.signal(libc::SIGKILL)?;
    if v.keepalived {
        keepalived[0].signal(libc::SIGSTOP)?;
        let child = std::fs::read_to_string(dir.join("d1-v.pid"))?;
        lab::netns::run(&["kill", "-KILL", child.trim()])?;
        keepalived[0].kill();
    }
    dirs[1]
        .0
        .wait_addr("eth0", VIP, true, Duration::from_secs(10))
        .context("d2 never took the VIP")?;
    eprintln!(
        "{prefix}: backup has the VIP {:.2} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    let mut lost = 0;
    for (i, (p, out)) in curls.iter_mut().enumerate() {
        let st = p.wait_timeout(Duration::from_secs(120));
        let got = std::fs::read(out.as_path()).unwrap_or_default();
        let ok = st.is_some_and(|s| s.success()) && got.as_slice() == data.as_slice();
        if !ok {
            lost += 1;
            eprintln!(
                "{prefix}: transfer {i} lost: curl {:?}, {} of {} bytes{}",
                st.and_then(|s| s.code()),
                got.len(),
                data.len(),
                if got.len() == data.len() {
                    " (content differs)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(after) = status(&bin, &dirs[1].2) {
        eprintln!(
            "{prefix}: backup counters: sync_received {} sync_applied {} dropped_not_syn {} forwarded {}",
            counter(&after, "sync_received"),
            counter(&after, "sync_applied"),
            counter(&after, "dropped_not_syn"),
            counter(&after, "forwarded")
        );
    }
    if let Some(want) = &sticky {
        let after = topo::curl(&client, &name_url, 5).unwrap_or_else(|e| format!("({e})"));
        eprintln!("{prefix}: persistence: .100 after the failover -> {after} (before: {want})");
        if v.sync {
            anyhow::ensure!(
                &after == want,
                "template lost: {want} before, {after} after"
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "RESULT {:?}{} {} lost/total = {lost}/{n} ({} MB at {} kB/s each, {secs:.1} s)",
        v.mode,
        if v.keepalived {
            " (VRRP by keepalived)"
        } else {
            ""
        },
        if sync {
            "vipwire with sync"
        } else {
            "vipwire without sync"
        },
        size / 1_000_000,
        rate / 1000
    );
    drop(curls);
    drop(servers);
    drop(keepalived);
    decap_stop.store(true, Ordering::Relaxed);
    for d in decaps {
        let _ = d.join();
    }
    Ok(Outcome {
        lost,
        total: n,
        secs,
    })
}

fn case(name: &str, prefix: &str, v: Variant, keepalived: bool) -> Result<()> {
    let mut progs = vec!["ip", "curl", "iptables"];
    if keepalived {
        progs.push("keepalived");
    }
    if skip_unless(name, &progs) {
        return Ok(());
    }
    topo::in_scratch_dir(prefix, topo::log_files, |dir| {
        let o = failover(dir, prefix, v)?;
        // Errors, not panics: the scratch directory goes either way.
        if v.sync {
            anyhow::ensure!(
                o.lost == 0,
                "with lvs_sync_daemon every transfer must survive: lost {}/{} ({:.1} s)",
                o.lost,
                o.total,
                o.secs
            );
        } else {
            anyhow::ensure!(
                o.lost > 0,
                "without sync the backup cannot know the connections, yet none was lost"
            );
        }
        Ok(())
    })
}

#[test]
fn sync_keeps_every_transfer_through_failover() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: true,
        keepalived: false,
        persistence: false,
    };
    case(
        "sync_keeps_every_transfer_through_failover",
        "syn-",
        v,
        false,
    )
}

#[test]
fn without_sync_transfers_are_lost() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: false,
        keepalived: false,
        persistence: false,
    };
    case("without_sync_transfers_are_lost", "nos-", v, false)
}

/// The longer variants (not in the quick suite): `--ignored`.
#[test]
#[ignore]
fn nat_sync_keeps_every_transfer() -> Result<()> {
    let v = Variant {
        mode: Mode::Nat,
        sync: true,
        keepalived: false,
        persistence: false,
    };
    case("nat_sync_keeps_every_transfer", "synn-", v, false)
}

#[test]
#[ignore]
fn nat_without_sync_transfers_are_lost() -> Result<()> {
    let v = Variant {
        mode: Mode::Nat,
        sync: false,
        keepalived: false,
        persistence: false,
    };
    case("nat_without_sync_transfers_are_lost", "nosn-", v, false)
}

#[test]
#[ignore]
fn persistence_sync_keeps_transfers_and_template() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: true,
        keepalived: false,
        persistence: true,
    };
    case(
        "persistence_sync_keeps_transfers_and_template",
        "synp-",
        v,
        false,
    )
}

#[test]
#[ignore]
fn persistence_without_sync_transfers_are_lost() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: false,
        keepalived: false,
        persistence: true,
    };
    case(
        "persistence_without_sync_transfers_are_lost",
        "nosp-",
        v,
        false,
    )
}

#[test]
#[ignore]
fn tun_sync_keeps_every_transfer() -> Result<()> {
    let v = Variant {
        mode: Mode::Tun,
        sync: true,
        keepalived: false,
        persistence: false,
    };
    case("tun_sync_keeps_every_transfer", "synt-", v, false)
}

#[test]
#[ignore]
fn tun_without_sync_transfers_are_lost() -> Result<()> {
    let v = Variant {
        mode: Mode::Tun,
        sync: false,
        keepalived: false,
        persistence: false,
    };
    case("tun_without_sync_transfers_are_lost", "nost-", v, false)
}

#[test]
#[ignore]
fn keepalived_vrrp_sync_keeps_every_transfer() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: true,
        keepalived: true,
        persistence: false,
    };
    case(
        "keepalived_vrrp_sync_keeps_every_transfer",
        "synk-",
        v,
        true,
    )
}

#[test]
#[ignore]
fn keepalived_vrrp_without_sync_transfers_are_lost() -> Result<()> {
    let v = Variant {
        mode: Mode::Dr,
        sync: false,
        keepalived: true,
        persistence: false,
    };
    case(
        "keepalived_vrrp_without_sync_transfers_are_lost",
        "nosk-",
        v,
        true,
    )
}
