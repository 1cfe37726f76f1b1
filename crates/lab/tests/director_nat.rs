//! The director in NAT mode, in namespaces: the client (192.0.2.0/24) reaches
//! the VIP through the director; three real servers (198.51.100.0/24, HTTP on
//! 8080) route replies back through it; the data plane rewrites VIP:80 ->
//! RS:8080 and the replies back (incremental checksums), so curl works.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use lab::netns::skip_unless;
use lab::topo::{self, HttpServer, Lan};

const VIP: &str = "198.51.100.241";
const RS: [(&str, &str); 3] = [
    ("rs1", "198.51.100.8"),
    ("rs2", "198.51.100.10"),
    ("rs3", "198.51.100.11"),
];

fn conf_text() -> String {
    let mut s = format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n"
    );
    for (_, ip) in RS {
        s.push_str(&format!(
            "  real_server {ip} 8080 {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

#[test]
fn director_nat_round_trip_af_xdp() -> Result<()> {
    if skip_unless(
        "director_nat_round_trip_af_xdp",
        &["ip", "curl", "iptables"],
    ) {
        return Ok(());
    }
    both("nat-", "xdp")
}

#[test]
fn director_nat_round_trip_tpacket() -> Result<()> {
    if skip_unless(
        "director_nat_round_trip_tpacket",
        &["ip", "curl", "iptables"],
    ) {
        return Ok(());
    }
    both("natp-", "packet")
}

fn both(prefix: &str, io: &str) -> Result<()> {
    topo::in_scratch_dir(prefix, d1_log, |dir| run(dir, prefix, io))
}

fn d1_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("d1.log")).unwrap_or_default()
}

fn run(dir: &Path, prefix: &str, io: &str) -> Result<()> {
    let bin = topo::vipwire_bin()?;
    let mut lan = Lan::new(prefix)?;
    let client = lan.host("cl", &["192.0.2.100/24"])?;
    client.exec(&["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1"])?;
    let d1 = lan.host("d1", &["198.51.100.5/24", "192.0.2.1/24"])?;
    let mut servers = Vec::new();
    let mut rs_ns = Vec::new();
    for (name, ip) in RS {
        let ns = lan.host(name, &[&format!("{ip}/24")])?;
        ns.exec(&["ip", "route", "add", "default", "via", "198.51.100.5"])?;
        servers.push(HttpServer::start(&ns, 8080, name)?);
        rs_ns.push(ns);
    }
    let (_d, sock) = topo::start_forwarding_director(
        &bin,
        &d1,
        dir,
        "d1",
        &conf_text(),
        &["--interface", "eth0", "--io", io],
        Duration::from_secs(10),
    )?;
    let names: Vec<String> = (0..6)
        .map(|_| topo::curl(&client, &format!("http://{VIP}/"), 3))
        .collect::<Result<_>>()?;
    eprintln!("NAT answers: {names:?}");
    assert_eq!(names, ["rs1", "rs2", "rs3", "rs1", "rs2", "rs3"]);
    // A response of 200 kB: the real servers' TCP sends segments far larger
    // than the MSS (TSO/GSO over veth); they must still come back rewritten.
    let big = topo::curl(&client, &format!("http://{VIP}/big"), 10)?;
    assert_eq!(big.len(), 200_003, "200 000 x + rsN");
    assert!(big.ends_with("rs1"), "{}", &big[big.len() - 10..]);
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(&bin, &sock)?)?;
    eprintln!("counters ({io}): {}", s["counters"]);
    let replies = s["counters"]["nat_replies"].as_u64().unwrap_or(0);
    // Each exchange: SYN-ACK, data, FIN at least come back through the director.
    assert!(replies >= 12, "replies rewritten by the director: {s}");
    // Nothing dropped for size: super-packets were segmented (TPACKET) or
    // never formed (XDP on the veth turns GSO off towards it).
    assert_eq!(s["counters"]["dropped_other"], 0, "{s}");
    assert_eq!(s["services"][0]["lb_kind"], "NAT");
    let dp = s["data_plane"].as_str().unwrap_or("");
    let want = if io == "xdp" {
        "AF_XDP"
    } else {
        "AF_PACKET TPACKET_V3"
    };
    assert!(dp.starts_with(want), "{dp}");
    // The health checks (TCP_CHECK to RS:8080, replies from the same RS:port
    // as NAT replies) must keep working: after several check rounds every
    // server is still up and has been checked.
    std::thread::sleep(Duration::from_secs(5));
    let s: serde_json::Value = serde_json::from_str(&topo::director_status(&bin, &sock)?)?;
    for rs in s["services"][0]["real_servers"]
        .as_array()
        .context("status")?
    {
        assert_eq!(rs["health"], "up", "{s}");
        assert!(rs["check"]["checks"].as_u64().unwrap_or(0) >= 2, "{s}");
        assert_eq!(rs["check"]["failures"], 0, "{s}");
    }
    // The kernel itself forwarded nothing (ip_forward off + guard rules).
    let fwd = d1.exec(&["sysctl", "-n", "net.ipv4.ip_forward"])?;
    assert_eq!(fwd.trim(), "0");
    drop(servers);
    Ok(())
}
