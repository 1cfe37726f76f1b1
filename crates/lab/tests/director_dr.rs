//! The director in DR mode, in namespaces: two directors, four real servers
//! (VIP on lo, arp_ignore=1, arp_announce=2, an HTTP server answering its own
//! name) and a curl client on one segment. Shows: answers rotate as rr says; a
//! stopped HTTP server is taken out by HTTP_GET/TCP_CHECK and comes back;
//! after the master is killed (SIGKILL) the backup takes over and forwards;
//! SIGTERM stops a director cleanly (VIP removed, control socket gone).
//!
//! Two variants: both directors run vipwire's own VRRP; or VRRP by
//! `keepalived --vrrp` beside `vipwire director --external-vrrp`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lab::netns::{skip_unless, Netns, Proc};
use lab::topo::{self, HttpServer, Lan};

const VIP: &str = "198.51.100.241";
const RS: [(&str, &str); 4] = [
    ("rs1", "198.51.100.8"),
    ("rs2", "198.51.100.10"),
    ("rs3", "198.51.100.11"),
    ("rs4", "198.51.100.13"),
];

fn vrrp_block(prio: u8, state: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  \
         priority {prio}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
    )
}

fn director_conf(prio: u8, state: &str) -> String {
    let mut s = vrrp_block(prio, state);
    s.push_str(&format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 2\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n"
    ));
    for (i, (_, ip)) in RS.iter().enumerate() {
        // Alternate the two checkers so both are exercised.
        let check = if i % 2 == 0 {
            "HTTP_GET {\n      url {\n        path /\n        status_code 200\n      }\n      \
             connect_timeout 1\n      retry 1\n      delay_before_retry 1\n    }"
        } else {
            "TCP_CHECK {\n      connect_timeout 1\n      retry 1\n      delay_before_retry 1\n    }"
        };
        s.push_str(&format!(
            "  real_server {ip} 80 {{\n    weight 1\n    {check}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

struct Director {
    ns: Netns,
    sock: PathBuf,
    log: PathBuf,
    vipwire: Option<Proc>,
    keepalived: Option<Proc>,
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

fn status(bin: &Path, d: &Director) -> Result<serde_json::Value> {
    let s = topo::director_status(bin, &d.sock)?;
    Ok(serde_json::from_str(&s)?)
}

fn fetch_names(client: &Netns, n: usize) -> Result<Vec<String>> {
    (0..n)
        .map(|_| topo::curl(client, &format!("http://{VIP}/"), 3))
        .collect()
}

#[test]
fn director_dr_rr_health_failover() -> Result<()> {
    if skip_unless(
        "director_dr_rr_health_failover",
        &["ip", "curl", "iptables"],
    ) {
        return Ok(());
    }
    both("dr-", false)
}

#[test]
fn director_dr_with_keepalived_vrrp() -> Result<()> {
    if skip_unless(
        "director_dr_with_keepalived_vrrp",
        &["ip", "curl", "keepalived", "iptables"],
    ) {
        return Ok(());
    }
    both("drk-", true)
}

fn both(prefix: &str, keepalived: bool) -> Result<()> {
    topo::in_scratch_dir(prefix, topo::log_files, |dir| run(dir, prefix, keepalived))
}

fn run(dir: &Path, prefix: &str, use_keepalived: bool) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new(prefix)?;
    let client = lan.host("cl", &["198.51.100.100/24"])?;
    let mut servers = Vec::new();
    let mut rs_ns = Vec::new();
    for (name, ip) in RS {
        let ns = lan.host(name, &[&format!("{ip}/24")])?;
        topo::dr_real_server(&ns, VIP)?;
        servers.push(Some(HttpServer::start(&ns, 80, name)?));
        rs_ns.push(ns);
    }
    let mut dirs = Vec::new();
    for (name, ip, prio, state) in [
        ("d1", "198.51.100.5", 150, "MASTER"),
        ("d2", "198.51.100.7", 100, "BACKUP"),
    ] {
        let ns = lan.host(name, &[&format!("{ip}/24")])?;
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, director_conf(prio, state))?;
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}-vipwire.log"));
        // vipwire VRRP variant: default I/O (AF_XDP where possible); keepalived
        // variant: the TPACKET_V3 data plane.
        let (keepalived, extra): (_, &[&str]) = if use_keepalived {
            (
                Some(start_keepalived(&ns, dir, name, &vrrp_block(prio, state))?),
                &["--external-vrrp", "--io", "packet"],
            )
        } else {
            (None, &[])
        };
        let vipwire = Some(topo::start_director(&bin, &ns, &conf, &sock, &log, extra)?);
        dirs.push(Director {
            ns,
            sock,
            log,
            vipwire,
            keepalived,
        });
    }
    // The master takes the VIP and its data plane starts forwarding.
    dirs[0]
        .ns
        .wait_addr("eth0", VIP, true, Duration::from_secs(10))
        .context("d1 never became VRRP master")?;
    topo::wait_for(Duration::from_secs(10), || {
        status(&bin, &dirs[0])
            .ok()
            .filter(|s| s["forwarding"] == true)
    })
    .context("d1 not forwarding")?;
    assert!(
        !dirs[1].ns.has_addr("eth0", VIP),
        "backup holds the VIP too"
    );
    let dp = status(&bin, &dirs[0])?["data_plane"].clone();
    eprintln!("data plane: {dp}");
    if use_keepalived {
        assert!(dp.as_str().unwrap_or("").contains("TPACKET_V3"), "{dp}");
    }

    // 1. DR works and answers rotate as rr says (config order).
    let names = fetch_names(&client, 8)?;
    eprintln!("DR answers: {names:?}");
    assert_eq!(
        names,
        ["rs1", "rs2", "rs3", "rs4", "rs1", "rs2", "rs3", "rs4"],
        "rr rotation through the four real servers"
    );
    let st = status(&bin, &dirs[0])?;
    let rss = st["services"][0]["real_servers"]
        .as_array()
        .context("status")?
        .clone();
    let conns: u64 = rss
        .iter()
        .map(|r| r["active"].as_u64().unwrap_or(0) + r["inactive"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        conns, 8,
        "IPVS-style counters: 8 connections in the table: {st}"
    );
    assert_eq!(st["vrrp"][0]["state"], "MASTER");

    // 2. Stop rs2's HTTP server: TCP_CHECK takes it out (retry 1: ~1 s + 1 s + delay_loop).
    if let Some(mut s) = servers[1].take() {
        s.stop();
    }
    let t0 = Instant::now();
    topo::wait_for(Duration::from_secs(15), || {
        let s = status(&bin, &dirs[0]).ok()?;
        let r = &s["services"][0]["real_servers"][1];
        (r["health"] == "down" && r["weight"] == 0).then_some(())
    })
    .context("health check did not take rs2 out")?;
    eprintln!("rs2 taken out after {:?}", t0.elapsed());
    let names = fetch_names(&client, 6)?;
    eprintln!("answers with rs2 down: {names:?}");
    assert!(!names.iter().any(|n| n == "rs2"), "{names:?}");
    for want in ["rs1", "rs3", "rs4"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing in {names:?}"
        );
    }
    // And back: the first successful check restores the weight.
    servers[1] = Some(HttpServer::start(&rs_ns[1], 80, "rs2")?);
    topo::wait_for(Duration::from_secs(10), || {
        let s = status(&bin, &dirs[0]).ok()?;
        (s["services"][0]["real_servers"][1]["weight"] == 1).then_some(())
    })
    .context("rs2 did not come back")?;

    // 3. Kill the master (keepalived and vipwire, SIGKILL): the backup takes over.
    // keepalived's VRRP runs in a child that sends a priority-0 advert when its
    // parent dies; stop the parent, SIGKILL that child (its PID from our -r
    // file), then the parent, so no advert says goodbye.
    let t_kill = Instant::now();
    if let Some(mut p) = dirs[0].vipwire.take() {
        p.kill();
    }
    if let Some(mut k) = dirs[0].keepalived.take() {
        k.signal(libc::SIGSTOP)?;
        let child: i32 = std::fs::read_to_string(dir.join("d1-v.pid"))?
            .trim()
            .parse()?;
        // SAFETY: kill(2) on keepalived's VRRP child, started by our keepalived.
        unsafe { libc::kill(child, libc::SIGKILL) };
        k.kill();
    }
    dirs[1]
        .ns
        .wait_addr("eth0", VIP, true, Duration::from_secs(10))
        .context("backup never took the VIP")?;
    let took = t_kill.elapsed();
    let first_ok = topo::wait_for(Duration::from_secs(15), || {
        topo::curl(&client, &format!("http://{VIP}/"), 1).ok()
    })
    .context("no answer through the backup")?;
    eprintln!(
        "backup has the VIP {took:?} after the kill; first answer {first_ok} after {:?}",
        t_kill.elapsed()
    );
    let names = fetch_names(&client, 4)?;
    assert_eq!(names.len(), 4);
    let st = status(&bin, &dirs[1])?;
    assert_eq!(st["forwarding"], true);
    assert!(
        st["counters"]["forwarded"].as_u64().unwrap_or(0) >= 4,
        "backup forwarded: {st}"
    );
    // Clean shutdown of the backup's director: SIGTERM, socket removed.
    if let Some(p) = dirs[1].vipwire.as_mut() {
        p.signal(libc::SIGTERM)?;
        if p.wait_timeout(Duration::from_secs(5)).is_none() {
            bail!("vipwire director ignored SIGTERM");
        }
    }
    assert!(!dirs[1].sock.exists(), "control socket left behind");
    if !use_keepalived {
        // vipwire's VRRP removed the VIP on the way out (priority-0 advert sent).
        assert!(
            !dirs[1].ns.has_addr("eth0", VIP),
            "VIP left on the stopped director"
        );
    }
    let log = std::fs::read_to_string(&dirs[1].log)?;
    assert!(log.contains("stopped"), "{log}");
    Ok(())
}
