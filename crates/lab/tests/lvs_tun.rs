//! The LVS-TUN pattern (examples/lvs-tun) on the real kernel with
//! iptables_hybrid: every flow `vipwire check` predicts is replayed with real
//! traffic, before the fix, at the intermediate steps of the fix that bring a
//! new drop to light, and after the whole fix; the test fails on any
//! disagreement.
//!
//! The cloud: one compute-host namespace per Neutron host (compute-1:
//! director-1, rs-1; compute-2: director-2, rs-2; compute-3: client-1), the
//! hybrid plumbing per port, the hosts' `br-int`s linked, each host's iptables
//! and ipsets loaded from the rules vipwire renders, the OVS agent's ARP
//! protection stood in for by ebtables (`lab::cloud`).
//!
//! The directors run `vipwire director -f keepalived-director-N.conf` (the
//! example's files as they are: vipwire's own VRRP, TUN data plane on a
//! TPACKET_V3 ring, `--io packet`). It builds the IPIP packets in user space;
//! they leave the director's eth0 as real protocol-4 frames from its fixed IP
//! and cross the hosts' real iptables (the director's `o` chain, `br-int`, the
//! real server's `i` chain with its generic conntrack), so the real server's
//! group verdict on protocol 4 is the kernel's.
//!
//! This kernel has no ipip module, so there is no `tunl0`. What stands in for
//! it on each real server (tests/common/ipip.rs): an AF_PACKET reader on the
//! real server's eth0 that takes protocol-4 frames addressed to the real
//! server (only those the host's firewall let through reach eth0), strips the
//! outer header and re-injects the inner packet through a veth pair
//! `dec0` -> `dec1` (rp_filter 0 everywhere, accept_local 1 on dec1, as the
//! recipe's rp_filter 0 on tunl0), plus `iptables -I INPUT -p 4 -j DROP` in
//! the real server VM so its kernel does not answer "protocol unreachable".
//! The rest of the recipe is the kernel's: the VIP on lo, arp_ignore 1,
//! arp_announce 2, an HTTP server answering the real server's name; its
//! answer leaves eth0 from the VIP, so the anti-spoofing verdict on it is the
//! host's real `s` chain.
//!
//! Each phase: the rules of that Neutron state loaded (a full resync,
//! conntrack flushed); captures on both directors (VRRP) and client-1 (ARP);
//! both directors started; stage 1 with director-1 master (ping, the client's
//! curls through director-1, every TCP_CHECK as a curl from the director);
//! director-1 killed (SIGKILL by PID, its VIP removed as its dead VM would
//! lose it); stage 2 with director-2 master (ping, curls through director-2).
//! Per flow: check's verdict and the rule it names; the real verdict; for a
//! predicted drop, whether that rule's packet counter rose in the kernel.

#[path = "common/ipip.rs"]
mod ipip;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use check::diagnose::Drop as CheckDrop;
use check::fix::{find_fix, with_changes, Change};
use check::scenario::{Pattern, Scenario};
use check::simulate::{CheckReport, FlowResult};
use lab::capture::Capture;
use lab::cloud::HybridCloud;
use lab::netns::{skip_unless, Proc};
use lab::replay::{first_drop, Row};
use lab::topo::{self, HttpServer};
use neutron::firewall::FirewallDriver;

const EXAMPLE: &str = "examples/lvs-tun/scenario.yaml";
/// Where gratuitous ARPs are captured.
const OBSERVER: &str = "client-1";

#[test]
fn lvs_tun_predicted_and_fixed_on_the_real_kernel() -> Result<()> {
    if skip_unless(
        "lvs_tun_predicted_and_fixed_on_the_real_kernel",
        &[
            "ip",
            "curl",
            "iptables",
            "iptables-restore",
            "ip6tables-restore",
            "iptables-save",
            "ipset",
            "ebtables",
            "tcpdump",
        ],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("lt-", topo::log_files, run)
}

/// A director: port name, fixed IP, MAC, its keepalived.conf.
struct Director {
    name: String,
    ip: IpAddr,
    mac: String,
    conf: PathBuf,
}

/// A real server: port name, IP, what its decapsulator let in.
struct RealServer {
    name: String,
    decapsulated: Arc<AtomicU64>,
}

struct Lab {
    cloud: HybridCloud,
    directors: Vec<Director>,
    rs: Vec<RealServer>,
    vip: Ipv4Addr,
    bin: PathBuf,
}

impl Lab {
    fn director(&self, name: &str) -> Result<&Director> {
        self.directors
            .iter()
            .find(|d| d.name == name)
            .with_context(|| format!("{name} is not a director"))
    }

    fn drop_vip(&self, name: &str) -> Result<()> {
        let ns = self.cloud.vm(name)?;
        let out = ns.exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])?;
        let want = format!("{}/", self.vip);
        for cidr in out.split_whitespace().filter(|w| w.starts_with(&want)) {
            ns.exec(&["ip", "addr", "del", cidr, "dev", "eth0"])?;
        }
        Ok(())
    }

    fn flush_neighbours(&self) -> Result<()> {
        for h in self.cloud.hosts.values() {
            for v in &h.vms {
                v.ns.exec(&["ip", "neigh", "flush", "all"])?;
            }
        }
        Ok(())
    }

    /// The packet counter of the rule `d` names, read from the kernel.
    fn counter(&self, d: &CheckDrop) -> Result<u64> {
        self.cloud.rule_counter(d)
    }

    fn decapsulated(&self) -> Vec<(String, u64)> {
        self.rs
            .iter()
            .map(|r| (r.name.clone(), r.decapsulated.load(Ordering::Relaxed)))
            .collect()
    }
}

/// What one flow is, read from check's flow name.
#[derive(Debug, Clone)]
enum Probe {
    /// `VRRP a (as master) -> b`
    Vrrp { from: String, to: String },
    /// `d takes VIP v (...)`
    Garp { director: String },
    /// `ping c -> VIP v at d`
    Ping { client: String, director: String },
    /// `TCP c -> v:port via d IPIP to r`
    Service {
        client: String,
        port: u16,
        director: String,
        rs: String,
    },
    /// `TCP_CHECK d -> r (tcp/ip:port)`
    HealthCheck {
        director: String,
        rs: String,
        to: SocketAddr,
    },
}

fn probe_of(name: &str) -> Result<Probe> {
    let bad = || format!("flow {name:?}: not a flow this lab replays");
    if let Some(rest) = name.strip_prefix("VRRP ") {
        let (from, to) = rest.split_once(" (as master) -> ").with_context(bad)?;
        return Ok(Probe::Vrrp {
            from: from.into(),
            to: to.into(),
        });
    }
    if let Some(rest) = name.strip_prefix("ping ") {
        let (client, rest) = rest.split_once(" -> VIP ").with_context(bad)?;
        let (_, director) = rest.split_once(" at ").with_context(bad)?;
        return Ok(Probe::Ping {
            client: client.into(),
            director: director.into(),
        });
    }
    if let Some(rest) = name.strip_prefix("TCP_CHECK ") {
        let (director, rest) = rest.split_once(" -> ").with_context(bad)?;
        let (rs, rest) = rest.split_once(" (tcp/").with_context(bad)?;
        let to: SocketAddr = rest.trim_end_matches(')').parse().with_context(bad)?;
        return Ok(Probe::HealthCheck {
            director: director.into(),
            rs: rs.into(),
            to,
        });
    }
    if let Some(rest) = name.strip_prefix("TCP ") {
        let (client, rest) = rest.split_once(" -> ").with_context(bad)?;
        let (target, rest) = rest.split_once(" via ").with_context(bad)?;
        let (director, rs) = rest.split_once(" IPIP to ").with_context(bad)?;
        let target: SocketAddr = target.parse().with_context(bad)?;
        return Ok(Probe::Service {
            client: client.into(),
            port: target.port(),
            director: director.into(),
            rs: rs.into(),
        });
    }
    if let Some((director, _)) = name.split_once(" takes VIP ") {
        return Ok(Probe::Garp {
            director: director.into(),
        });
    }
    bail!(bad())
}

fn drop_key(d: &CheckDrop) -> String {
    format!(
        "{} {} {} {} {}",
        d.host, d.table, d.chain, d.rule_num, d.port_id
    )
}

fn run(dir: &Path) -> Result<()> {
    let t0 = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sc = Scenario::load(&root.join(EXAMPLE))?;
    ensure!(
        sc.driver == FirewallDriver::IptablesHybrid,
        "{EXAMPLE}: not iptables_hybrid"
    );
    ensure!(
        matches!(sc.pattern, Pattern::LvsTun),
        "{EXAMPLE}: not pattern lvs-tun"
    );

    // check's prediction and fix; the Neutron states replayed: as given, each
    // prefix of the fix that brings a drop at a rule not seen yet, the whole fix.
    let before = check::run(&sc)?;
    let fix = find_fix(&sc, &before)?;
    for c in &fix.changes {
        eprintln!("vipwire check --fix: {}", c.command);
    }
    let changes: Vec<Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
    let mut seen = BTreeSet::new();
    let mut states: Vec<(String, Scenario, CheckReport)> = Vec::new();
    for k in 0..=changes.len() {
        let s = with_changes(&sc, &changes[..k]);
        let r = if k == 0 {
            before.clone()
        } else {
            check::run(&s)?
        };
        let keys: Vec<String> = r
            .flows
            .iter()
            .filter_map(first_drop)
            .map(|d| drop_key(&d))
            .collect();
        let new = keys.iter().any(|k| !seen.contains(k));
        seen.extend(keys);
        if k == changes.len() {
            ensure!(r.passed(), "check does not pass the fixed cloud");
        }
        if new || k == 0 || k == changes.len() {
            let label = match k {
                0 => "before".to_string(),
                k if k == changes.len() => "after".to_string(),
                k => format!("fix 1..{k}"),
            };
            states.push((label, s, r));
        }
    }

    // The directors, the real servers, the client.
    let port_name = |id: &str| -> Result<String> {
        Ok(sc
            .cloud
            .port(id)
            .with_context(|| format!("port {id}"))?
            .name
            .clone())
    };
    let mut directors = Vec::new();
    for d in &sc.directors {
        let port = sc.cloud.port(&d.port_id).context("director port")?;
        let ip = port
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(IpAddr::is_ipv4)
            .context("director without IPv4")?;
        ensure!(!d.without_config, "{}: no keepalived.conf", port.name);
        directors.push(Director {
            name: port.name.clone(),
            ip,
            mac: port.mac_address.to_lowercase(),
            conf: PathBuf::from(&d.config_source),
        });
    }
    ensure!(directors.len() == 2, "this lab replays two directors");
    let vips: Vec<IpAddr> = sc.directors[0]
        .config
        .vrrp_instances
        .iter()
        .flat_map(|i| i.virtual_ipaddresses.iter().map(|n| n.addr()))
        .collect();
    let [IpAddr::V4(vip)] = vips[..] else {
        bail!("this lab replays one IPv4 VIP, not {vips:?}");
    };
    let mut ports: Vec<String> = directors.iter().map(|d| d.name.clone()).collect();
    for r in &sc.real_servers {
        ports.push(port_name(&r.port_id)?);
    }
    for c in &sc.clients {
        ensure!(
            !c.external,
            "an external client (behind a router) is not replayed by this lab"
        );
        ports.push(port_name(&c.port_id)?);
    }
    ports.sort();
    ports.dedup();
    let names: Vec<&str> = ports.iter().map(String::as_str).collect();
    let cloud = HybridCloud::new("lt-", &sc.cloud, &names)?;

    // The real servers: the TUN recipe, with the user-space decapsulator
    // standing in for tunl0, and an HTTP server answering its name.
    let stop = Arc::new(AtomicBool::new(false));
    let mut decaps = Vec::new();
    let mut http = Vec::new();
    let mut rs = Vec::new();
    for r in &sc.real_servers {
        let name = port_name(&r.port_id)?;
        let IpAddr::V4(ip) = r.ip else {
            bail!("{name}: not IPv4");
        };
        let ns = cloud.vm(&name)?;
        topo::dr_real_server(ns, &vip.to_string())?;
        let count = Arc::new(AtomicU64::new(0));
        decaps.push(ipip::decapsulator(
            ns,
            ip,
            Arc::clone(&stop),
            Arc::clone(&count),
        )?);
        http.push(HttpServer::start(ns, 80, &name)?);
        rs.push(RealServer {
            name,
            decapsulated: count,
        });
    }
    let lab = Lab {
        cloud,
        directors,
        rs,
        vip,
        bin: topo::vipwire_bin()?,
    };

    let mut rows = Vec::new();
    let result = (|| -> Result<()> {
        for (label, s, report) in &states {
            lab.cloud.load(&s.cloud)?;
            rows.extend(phase(&lab, dir, label, report)?);
            eprintln!("[{label}] done at {:?}", t0.elapsed());
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    for d in decaps {
        let _ = d.join();
    }
    drop(http);
    result?;

    eprintln!("\n{EXAMPLE} on the real kernel, per flow:");
    for r in &rows {
        eprintln!("{}", r.show());
    }
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.agrees()).collect();
    eprintln!(
        "\n{} of {} flow replays agree with vipwire check ({:?})",
        rows.len() - bad.len(),
        rows.len(),
        t0.elapsed()
    );
    ensure!(
        bad.is_empty(),
        "{} flow(s) disagree with vipwire check:\n{}",
        bad.len(),
        bad.iter().map(|r| r.show()).collect::<Vec<_>>().join("\n")
    );
    Ok(())
}

/// A running `vipwire director`, killed (SIGKILL, by PID) on drop.
struct RunningDirector {
    proc: Proc,
    sock: PathBuf,
}

fn start_director(lab: &Lab, dir: &Path, label: &str, d: &Director) -> Result<RunningDirector> {
    let tag = format!("{}-{}", label.replace([' ', '.'], "_"), d.name);
    let sock = dir.join(format!("{tag}.sock"));
    let log = dir.join(format!("{tag}-director.log"));
    let proc = topo::start_director(
        &lab.bin,
        lab.cloud.vm(&d.name)?,
        &d.conf,
        &sock,
        &log,
        &["--interface", "eth0", "--io", "packet"],
    )?;
    Ok(RunningDirector { proc, sock })
}

fn wait_master(lab: &Lab, d: &Director, rd: &RunningDirector, timeout: Duration) -> Result<()> {
    let vip = lab.vip.to_string();
    lab.cloud
        .vm(&d.name)?
        .wait_addr("eth0", &vip, true, timeout)
        .with_context(|| format!("{} never took the VIP", d.name))?;
    topo::wait_for(timeout, || {
        let s = topo::director_status(&lab.bin, &rd.sock).ok()?;
        let s: serde_json::Value = serde_json::from_str(&s).ok()?;
        (s["forwarding"] == true).then_some(())
    })
    .with_context(|| format!("{} not forwarding", d.name))
}

fn phase(lab: &Lab, dir: &Path, label: &str, report: &CheckReport) -> Result<Vec<Row>> {
    for d in &lab.directors {
        lab.drop_vip(&d.name)?;
    }
    lab.flush_neighbours()?;
    let [d1, d2] = &lab.directors[..] else {
        bail!("two directors");
    };
    let flows: Vec<(&FlowResult, Probe)> = report
        .flows
        .iter()
        .map(|f| Ok((f, probe_of(&f.name)?)))
        .collect::<Result<_>>()?;
    let tag = label.replace([' ', '.'], "_");
    // Passive flows (VRRP, GARP): captures and counters over the whole phase.
    let passive: Vec<(&FlowResult, &Probe)> = flows
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Vrrp { .. } | Probe::Garp { .. }))
        .map(|(f, p)| (*f, p))
        .collect();
    let passive_c0: Vec<Option<u64>> = passive
        .iter()
        .map(|(f, _)| first_drop(f).map(|d| lab.counter(&d)).transpose())
        .collect::<Result<_>>()?;
    let mut vrrp_caps = Vec::new();
    for d in &lab.directors {
        vrrp_caps.push((
            d.name.clone(),
            Capture::start(
                lab.cloud.vm(&d.name)?,
                dir,
                &format!("{tag}-vrrp-{}", d.name),
                "ip proto 112",
            )?,
        ));
    }
    let arp_cap = Capture::start(lab.cloud.vm(OBSERVER)?, dir, &format!("{tag}-arp"), "arp")?;

    // Stage 1: both directors up; director-1 (MASTER, the higher priority) takes the VIP.
    let start = Instant::now();
    let mut r1 = start_director(lab, dir, label, d1)?;
    let mut r2 = start_director(lab, dir, label, d2)?;
    wait_master(lab, d1, &r1, Duration::from_secs(10))?;
    eprintln!(
        "[{label}] stage 1: {} master and forwarding {:?} after start",
        d1.name,
        start.elapsed()
    );
    ensure!(
        !lab.cloud
            .vm(&d2.name)?
            .has_addr("eth0", &lab.vip.to_string()),
        "[{label}] {} holds the VIP too",
        d2.name
    );
    let mut rows = Vec::new();
    stage(lab, label, &flows, &d1.name, true, &mut rows)?;

    // Stage 2: director-1 dies (kill -9 by PID); director-2 takes over.
    let killed = Instant::now();
    r1.proc.kill();
    lab.drop_vip(&d1.name)?;
    wait_master(lab, d2, &r2, Duration::from_secs(10))?;
    eprintln!(
        "[{label}] stage 2: {} killed (SIGKILL, pid); {} master and forwarding {:?} after the kill",
        d1.name,
        d2.name,
        killed.elapsed()
    );
    stage(lab, label, &flows, &d2.name, false, &mut rows)?;
    r2.proc.kill();
    lab.drop_vip(&d2.name)?;

    let arp = arp_cap.finish()?;
    let mut vrrp_seen = Vec::new();
    for (name, cap) in vrrp_caps {
        vrrp_seen.push((name, cap.finish()?));
    }
    for ((f, p), c0) in passive.iter().zip(passive_c0) {
        let predicted = first_drop(f);
        let c1 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
        let (real_pass, evidence) = match p {
            Probe::Vrrp { from, to } => {
                let src = lab.director(from)?.ip;
                let text = &vrrp_seen
                    .iter()
                    .find(|(n, _)| n == to)
                    .with_context(|| format!("no capture at {to}"))?
                    .1;
                let n = text
                    .lines()
                    .filter(|l| l.contains(&format!(" {src} > ")) && l.contains("VRRP"))
                    .count();
                (
                    n > 0,
                    format!("{to}'s eth0 captured {n} advert(s) from {src}"),
                )
            }
            Probe::Garp { director } => {
                let mac = &lab.director(director)?.mac;
                let vip = lab.vip;
                let n = arp
                    .lines()
                    .filter(|l| {
                        l.split_whitespace().nth(1) == Some(mac.as_str())
                            && (l.contains(&format!("tell {vip},"))
                                || l.contains(&format!("{vip} is-at")))
                    })
                    .count();
                (
                    n > 0,
                    format!("{OBSERVER} captured {n} ARP(s) for {vip} from {mac}"),
                )
            }
            _ => unreachable!("passive flows are VRRP and GARP"),
        };
        rows.push(Row {
            phase: label.to_string(),
            flow: f.name.clone(),
            predicted,
            real_pass,
            evidence,
            counter_rose: c0.zip(c1).map(|(a, b)| b > a),
        });
    }
    Ok(rows)
}

/// The active flows of one stage, `master` holding the VIP: its ping, the
/// client's curls through it, and (in stage 1) every health check.
fn stage(
    lab: &Lab,
    label: &str,
    flows: &[(&FlowResult, Probe)],
    master: &str,
    first: bool,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let row = |f: &FlowResult, real_pass, evidence, c0: Option<u64>| -> Result<Row> {
        let predicted = first_drop(f);
        let c1 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
        Ok(Row {
            phase: label.to_string(),
            flow: f.name.clone(),
            predicted,
            real_pass,
            evidence,
            counter_rose: c0.zip(c1).map(|(a, b)| b > a),
        })
    };
    let count0 = |f: &FlowResult| -> Result<Option<u64>> {
        first_drop(f).map(|d| lab.counter(&d)).transpose()
    };
    for (f, p) in flows {
        let Probe::Ping { client, director } = p else {
            continue;
        };
        if director != master {
            continue;
        }
        let c0 = count0(f)?;
        let ns = lab.cloud.vm(client)?;
        let tries = if first_drop(f).is_none() { 5 } else { 1 };
        let ok = (0..tries)
            .any(|_| lab::field::ping(ns, lab.vip, Duration::from_millis(1000)).unwrap_or(false));
        let ev = format!("echo reply from {}: {ok}", lab.vip);
        rows.push(row(f, ok, ev, c0)?);
    }

    // The client's requests through `master`: rr picks the real server, so
    // the flows of one client and port are run together; each real server's
    // flow passes when an answer carries its name, and the named rule's
    // counter is read around the whole group.
    let svc: Vec<(&FlowResult, &Probe)> = flows
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Service { director, .. } if director == master))
        .map(|(f, p)| (*f, p))
        .collect();
    let mut groups: Vec<(String, u16)> = svc
        .iter()
        .filter_map(|(_, p)| match p {
            Probe::Service { client, port, .. } => Some((client.clone(), *port)),
            _ => None,
        })
        .collect();
    groups.sort();
    groups.dedup();
    for (client, port) in groups {
        let members: Vec<(&FlowResult, String)> = svc
            .iter()
            .filter_map(|(f, p)| match p {
                Probe::Service {
                    client: c,
                    port: pt,
                    rs,
                    ..
                } if *c == client && *pt == port => Some((*f, rs.clone())),
                _ => None,
            })
            .collect();
        let c0: Vec<Option<u64>> = members
            .iter()
            .map(|(f, _)| count0(f))
            .collect::<Result<_>>()?;
        let dec0 = lab.decapsulated();
        let want: BTreeSet<String> = members
            .iter()
            .filter(|(f, _)| first_drop(f).is_none())
            .map(|(_, r)| r.clone())
            .collect();
        let ns = lab.cloud.vm(&client)?;
        let url = format!("http://{}:{port}/", lab.vip);
        let mut answers: Vec<String> = Vec::new();
        let t = Instant::now();
        let min = members.len();
        while answers.len() < min
            || (!want.iter().all(|w| answers.contains(w)) && t.elapsed() < Duration::from_secs(8))
        {
            answers.push(topo::curl(ns, &url, 1).unwrap_or_else(|_| "-".into()));
        }
        let dec1 = lab.decapsulated();
        let dec: Vec<String> = dec0
            .iter()
            .zip(&dec1)
            .map(|((n, a), (_, b))| format!("{n} +{}", b - a))
            .collect();
        for ((f, rsname), c0) in members.iter().zip(c0) {
            let n = answers.iter().filter(|a| *a == rsname).count();
            let ev = format!(
                "{n} of {} curls answered {rsname:?} (answers {answers:?}; IPIP packets \
                 decapsulated: {})",
                answers.len(),
                dec.join(", ")
            );
            rows.push(row(f, n > 0, ev, c0)?);
        }
    }

    if first {
        for (f, p) in flows {
            let Probe::HealthCheck { director, rs, to } = p else {
                continue;
            };
            let c0 = count0(f)?;
            let ns = lab.cloud.vm(director)?;
            let url = format!("http://{to}/");
            let got = if first_drop(f).is_none() {
                topo::wait_for(Duration::from_secs(5), || topo::curl(ns, &url, 1).ok())
            } else {
                topo::curl(ns, &url, 1).ok()
            };
            let ok = got.as_deref() == Some(rs.as_str());
            let ev = match got {
                Some(a) => format!("answer {a:?} from {to}"),
                None => format!("no answer from {to}"),
            };
            rows.push(row(f, ok, ev, c0)?);
        }
    }
    Ok(())
}
