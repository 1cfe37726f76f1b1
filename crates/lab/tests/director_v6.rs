//! The director forwarding IPv6, in namespaces on one L2 segment, with real
//! `curl -6`: the director owns the VIP 2001:db8::100 through its own VRRPv3
//! over IPv6, checks its real servers with TCP_CHECK over IPv6, and resolves
//! their MACs with neighbour solicitations.
//!
//! - DR: two real servers with the VIP/128 on lo answer the client directly;
//!   the answers rotate (rr); a stopped server is taken out by its check and
//!   put back when it returns.
//! - NAT: real servers in 2001:db8:1::/64 on port 8080 route replies through
//!   the director, which rewrites VIP:80 <-> RS:8080 (incremental checksums);
//!   a 200 kB answer (TSO super-packets from the real server, segmented in
//!   software) arrives whole; the kernel forwards nothing.
//!
//! Needs root, curl and ip6tables; skips visibly otherwise.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use lab::netns::skip_unless;
use lab::topo::{self, HttpServer, Lan};

const VIP: &str = "2001:db8::100";

fn url(path: &str) -> String {
    format!("http://[{VIP}]{path}")
}

/// `curl -6 -g` (brackets in the URL are not a glob).
fn curl6(ns: &lab::netns::Netns, path: &str, max_time: u32) -> Result<String> {
    let out = ns.exec_output(&[
        "curl",
        "-6",
        "-g",
        "-s",
        "--max-time",
        &max_time.to_string(),
        &url(path),
    ])?;
    ensure!(
        out.status.success(),
        "curl {} from {}: exit {:?}",
        url(path),
        ns.name(),
        out.status.code()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The director's keepalived.conf: VRRPv3 over IPv6 owning `VIP/vip_len`,
/// one virtual server on VIP:80 with TCP_CHECKs every second.
fn conf(kind: &str, vip_len: u8, servers: &[(&str, u16)]) -> String {
    let mut s = format!(
        "vrrp_instance V6 {{\n  interface eth0\n  virtual_router_id 61\n  priority 150\n  advert_int 0.5\n  \
         virtual_ipaddress {{\n    {VIP}/{vip_len}\n  }}\n}}\n\
         virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind {kind}\n  protocol TCP\n"
    );
    for (ip, port) in servers {
        s += &format!(
            "  real_server {ip} {port} {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n"
        );
    }
    s + "}\n"
}

fn d1_log(dir: &Path) -> String {
    topo::log_files(dir)
}

fn health(bin: &Path, sock: &Path) -> Result<Vec<String>> {
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(bin, sock)?)?;
    Ok(s["services"][0]["real_servers"]
        .as_array()
        .context("status")?
        .iter()
        .map(|r| r["health"].as_str().unwrap_or("").to_string())
        .collect())
}

#[test]
fn director_v6_dr_rr_and_health() -> Result<()> {
    if skip_unless("director_v6_dr_rr_and_health", &["ip", "curl", "ip6tables"]) {
        return Ok(());
    }
    topo::in_scratch_dir("d6-", d1_log, dr)
}

fn dr(dir: &Path) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new("d6-")?;
    let client = lan.host("cl", &["2001:db8::64/64"])?;
    let d1 = lan.host("d1", &["2001:db8::5/64"])?;
    let rs = [("rs1", "2001:db8::11"), ("rs2", "2001:db8::12")];
    let mut servers = Vec::new();
    let mut rs_ns = Vec::new();
    for (name, ip) in rs {
        let ns = lan.host(name, &[&format!("{ip}/64")])?;
        topo::dr_real_server6(&ns, VIP)?;
        servers.push(HttpServer::start(&ns, 80, name)?);
        rs_ns.push(ns);
    }
    let (_d, sock) = topo::start_forwarding_director(
        &bin,
        &d1,
        dir,
        "d1",
        // A /128 VIP is deprecated (keepalived's default), so the health
        // checks leave from 2001:db8::5, not from the VIP the real servers
        // also hold (their answers would stay on their own lo).
        &conf("DR", 128, &[(rs[0].1, 80), (rs[1].1, 80)]),
        &["--interface", "eth0"],
        Duration::from_secs(10),
    )?;
    ensure!(d1.has_addr("eth0", VIP), "the master does not hold the VIP");
    let names: Vec<String> = (0..4)
        .map(|_| curl6(&client, "/", 3))
        .collect::<Result<_>>()?;
    eprintln!("IPv6 DR answers: {names:?}");
    ensure!(names == ["rs1", "rs2", "rs1", "rs2"], "{names:?}");
    // TCP_CHECK over IPv6: rs2 down, then back.
    servers[1].stop();
    let down = topo::wait_for(Duration::from_secs(8), || {
        let h = health(&bin, &sock).ok()?;
        (h == ["up", "down"]).then_some(())
    });
    ensure!(
        down.is_some(),
        "rs2 not taken out: {:?}",
        health(&bin, &sock)
    );
    let names: Vec<String> = (0..3)
        .map(|_| curl6(&client, "/", 3))
        .collect::<Result<_>>()?;
    ensure!(names.iter().all(|n| n == "rs1"), "{names:?}");
    servers[1] = HttpServer::start(&rs_ns[1], 80, "rs2")?;
    let up = topo::wait_for(Duration::from_secs(8), || {
        let h = health(&bin, &sock).ok()?;
        (h == ["up", "up"]).then_some(())
    });
    ensure!(up.is_some(), "rs2 not back: {:?}", health(&bin, &sock));
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(&bin, &sock)?)?;
    eprintln!(
        "IPv6 DR: data plane {}, counters {}",
        s["data_plane"], s["counters"]
    );
    ensure!(s["vrrp"][0]["state"] == "MASTER", "{s}");
    Ok(())
}

#[test]
fn director_v6_nat_round_trip() -> Result<()> {
    if skip_unless("director_v6_nat_round_trip", &["ip", "curl", "ip6tables"]) {
        return Ok(());
    }
    topo::in_scratch_dir("n6-", d1_log, nat)
}

fn nat(dir: &Path) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new("n6-")?;
    let client = lan.host("cl", &["2001:db8::64/64"])?;
    client.exec(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:1::/64",
        "via",
        "2001:db8::5",
    ])?;
    let d1 = lan.host("d1", &["2001:db8::5/64", "2001:db8:1::5/64"])?;
    let rs = [("rs1", "2001:db8:1::11"), ("rs2", "2001:db8:1::12")];
    let mut servers = Vec::new();
    let mut rs_ns = Vec::new();
    for (name, ip) in rs {
        let ns = lan.host(name, &[&format!("{ip}/64")])?;
        ns.exec(&[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:1::5",
        ])?;
        servers.push(HttpServer::start(&ns, 8080, name)?);
        rs_ns.push(ns);
    }
    let (_d, sock) = topo::start_forwarding_director(
        &bin,
        &d1,
        dir,
        "d1",
        &conf("NAT", 64, &[(rs[0].1, 8080), (rs[1].1, 8080)]),
        &["--interface", "eth0", "--io", "packet"],
        Duration::from_secs(10),
    )?;
    let names: Vec<String> = (0..4)
        .map(|_| curl6(&client, "/", 3))
        .collect::<Result<_>>()?;
    eprintln!("IPv6 NAT answers: {names:?}");
    ensure!(names == ["rs1", "rs2", "rs1", "rs2"], "{names:?}");
    let big = curl6(&client, "/big", 10)?;
    ensure!(
        big.len() == 200_003,
        "200 000 x + rsN, got {} bytes",
        big.len()
    );
    ensure!(big.ends_with("rs1"), "{}", &big[big.len() - 10..]);
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(&bin, &sock)?)?;
    eprintln!("IPv6 NAT counters: {}", s["counters"]);
    let replies = s["counters"]["nat_replies"].as_u64().unwrap_or(0);
    ensure!(replies >= 10, "replies rewritten by the director: {s}");
    ensure!(s["counters"]["dropped_other"] == 0, "{s}");
    ensure!(
        health(&bin, &sock)? == ["up", "up"],
        "{:?}",
        health(&bin, &sock)
    );
    let fwd = d1.exec(&["sysctl", "-n", "net.ipv6.conf.all.forwarding"])?;
    ensure!(fwd.trim() == "0", "the director's kernel forwards IPv6");
    drop(servers);
    Ok(())
}
