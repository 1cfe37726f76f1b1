//! The LVS-NAT pattern (examples/lvs-nat) on the real kernel with
//! `iptables_hybrid`: every flow `vipwire check` predicts is replayed with real
//! traffic, before and after the fix it proposes, and the test fails on any
//! disagreement.
//!
//! The cloud (`lab::cloud`): compute-1 holds director-1 and rs-1, compute-2
//! holds director-2 and rs-2, network-1 holds router-1; each host's rules as
//! vipwire renders them in real iptables and ipset, the OVS agent's ARP
//! protection as ebtables. The external client 198.51.100.1 sits behind
//! router-1 (its other leg 198.51.100.254).
//!
//! The directors run vipwire's own director (`vipwire director -f`, the
//! example's keepalived.conf: VRRP for the VIP 203.0.113.241 and the real
//! servers' gateway 203.0.113.254, the user-space NAT data plane on TPACKET,
//! TCP_CHECK health checks), their default route via the router. The real
//! servers answer HTTP on 8080 with their names, their default route via
//! 203.0.113.254 as the scenario says.
//!
//! Each phase (the cloud as given, then with `check --fix`'s changes applied
//! and the rules rendered and loaded again): captures on each director (VRRP)
//! and on router-1 (ARP) throughout; both directors start, director-1 becomes
//! master. Stage 1: the client pings each VIP address and curls the VIP
//! (rr: each real server must answer). Stage 2: director-1 gets kill -9 (by
//! PID; its VIP addresses removed, as its dead VM would lose them), director-2
//! takes over, the client again. Health checks: the directors' own TCP_CHECK
//! results (`vipwire director status`).
//!
//! Per flow: check's verdict, and for a predicted drop the rule it names; the
//! real verdict, and for a predicted drop whether the named rule's packet
//! counter rose in the kernel.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use check::diagnose::Drop as CheckDrop;
use check::fix::{find_fix, with_changes, Change};
use check::scenario::{Pattern, Scenario};
use check::simulate::{CheckReport, FlowResult};
use lab::capture::Capture;
use lab::cloud::HybridCloud;
use lab::netns::{skip_unless, veth, Netns, Proc};
use lab::replay::{first_drop, Row};
use lab::topo::{self, HttpServer};
use neutron::firewall::FirewallDriver;

const EXAMPLE: &str = "examples/lvs-nat/scenario.yaml";
/// Where gratuitous ARPs are captured.
const OBSERVER: &str = "router-1";
/// The router's leg towards the external client.
const EXT_GW: &str = "198.51.100.254";

#[test]
fn lvs_nat_predicted_and_fixed_on_the_real_kernel() -> Result<()> {
    if skip_unless(
        "lvs_nat_predicted_and_fixed_on_the_real_kernel",
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
    topo::in_scratch_dir("ln-", topo::log_files, |dir| run(dir, "ln-"))
}

/// One director: its port name, fixed IP, MAC and keepalived.conf path.
struct Member {
    name: String,
    ip: IpAddr,
    mac: String,
    conf: PathBuf,
}

struct Lab {
    cloud: HybridCloud,
    /// External clients' namespaces, by client IP.
    ext: Vec<(IpAddr, Netns)>,
    members: Vec<Member>,
    /// Every virtual_ipaddress (the VIP and the real servers' gateway).
    vips: Vec<IpAddr>,
    bin: PathBuf,
}

impl Lab {
    /// The namespace a flow's client sends from: a VM, or `IP via ROUTER`.
    fn client_ns(&self, who: &str) -> Result<&Netns> {
        if let Some((ip, _)) = who.split_once(" via ") {
            let ip: IpAddr = ip.parse()?;
            return self
                .ext
                .iter()
                .find(|(i, _)| *i == ip)
                .map(|(_, ns)| ns)
                .with_context(|| format!("no external client {ip}"));
        }
        self.cloud.vm(who)
    }

    fn member(&self, name: &str) -> Result<&Member> {
        self.members
            .iter()
            .find(|m| m.name == name)
            .with_context(|| format!("{name} is not a director"))
    }

    /// The directors holding `vip` on eth0.
    fn holders(&self, vip: IpAddr) -> Vec<String> {
        let vip = vip.to_string();
        self.members
            .iter()
            .filter(|m| {
                self.cloud
                    .vm(&m.name)
                    .map(|ns| ns.has_addr("eth0", &vip))
                    .unwrap_or(false)
            })
            .map(|m| m.name.clone())
            .collect()
    }

    /// Remove every VIP address from `member`'s eth0.
    fn drop_vips(&self, member: &str) -> Result<()> {
        let ns = self.cloud.vm(member)?;
        let out = ns.exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])?;
        for vip in &self.vips {
            let want = format!("{vip}/");
            for cidr in out.split_whitespace().filter(|w| w.starts_with(&want)) {
                ns.exec(&["ip", "addr", "del", cidr, "dev", "eth0"])?;
            }
        }
        Ok(())
    }

    fn flush_neighbours(&self) -> Result<()> {
        for h in self.cloud.hosts.values() {
            for v in &h.vms {
                v.ns.exec(&["ip", "neigh", "flush", "all"])?;
            }
        }
        for (_, ns) in &self.ext {
            ns.exec(&["ip", "neigh", "flush", "all"])?;
        }
        Ok(())
    }

    /// The packet counter of the rule `d` names, read from the kernel.
    fn counter(&self, d: &CheckDrop) -> Result<u64> {
        self.cloud.rule_counter(d)
    }
}

/// What one flow is, read from check's flow name.
#[derive(Debug)]
enum Probe {
    /// `VRRP a (as master) -> b`: b's capture holds a's adverts.
    Vrrp { from: String, to: String },
    /// `m takes VIP v (...)`: the observer's capture holds m's ARP for v.
    Garp { member: String, vip: IpAddr },
    /// `ping C via R -> VIP v at m`: an echo reply.
    Ping {
        client: String,
        vip: Ipv4Addr,
        member: String,
    },
    /// `TCP C via R -> v:p via m NAT to rs:p2`: the answer names rs.
    Nat {
        client: String,
        to: SocketAddr,
        member: String,
        rs: String,
    },
    /// `TCP_CHECK m -> rs (tcp/ip:port)`: m's own health check of rs.
    Check { member: String, to: SocketAddr },
}

impl Probe {
    /// The director whose mastership the flow needs.
    fn member(&self) -> &str {
        match self {
            Probe::Vrrp { from, .. } => from,
            Probe::Garp { member, .. }
            | Probe::Ping { member, .. }
            | Probe::Nat { member, .. }
            | Probe::Check { member, .. } => member,
        }
    }
}

fn probe_of(name: &str) -> Result<Probe> {
    let bad = || format!("flow {name:?}: not understood by this lab");
    if let Some(rest) = name.strip_prefix("VRRP ") {
        let (from, to) = rest.split_once(" (as master) -> ").with_context(bad)?;
        return Ok(Probe::Vrrp {
            from: from.into(),
            to: to.into(),
        });
    }
    if let Some(rest) = name.strip_prefix("TCP_CHECK ") {
        let (member, rest) = rest.split_once(" -> ").with_context(bad)?;
        let to = rest
            .split_once("(tcp/")
            .and_then(|(_, t)| t.strip_suffix(')'))
            .with_context(bad)?;
        return Ok(Probe::Check {
            member: member.into(),
            to: to.parse()?,
        });
    }
    if let Some(rest) = name.strip_prefix("ping ") {
        let (client, rest) = rest.split_once(" -> VIP ").with_context(bad)?;
        let (vip, member) = rest.split_once(" at ").with_context(bad)?;
        return Ok(Probe::Ping {
            client: client.into(),
            vip: vip.parse()?,
            member: member.into(),
        });
    }
    if let Some(rest) = name.strip_prefix("TCP ") {
        let (client, rest) = rest.split_once(" -> ").with_context(bad)?;
        let (to, rest) = rest.split_once(" via ").with_context(bad)?;
        let (member, rs) = rest.split_once(" NAT to ").with_context(bad)?;
        let (rs, _) = rs.split_once(':').with_context(bad)?;
        return Ok(Probe::Nat {
            client: client.into(),
            to: to.parse()?,
            member: member.into(),
            rs: rs.into(),
        });
    }
    if let Some((member, rest)) = name.split_once(" takes VIP ") {
        let vip = rest.split_whitespace().next().with_context(bad)?;
        return Ok(Probe::Garp {
            member: member.into(),
            vip: vip.parse()?,
        });
    }
    bail!(bad())
}

/// A running `vipwire director` and its control socket.
struct Director {
    proc: Proc,
    sock: PathBuf,
}

impl Director {
    fn start(lab: &Lab, m: &Member, dir: &Path, label: &str) -> Result<Director> {
        let ns = lab.cloud.vm(&m.name)?;
        let name = format!("{label}-{}", m.name);
        let sock = dir.join(format!("{name}.sock"));
        let proc = topo::start_director(
            &lab.bin,
            ns,
            &m.conf,
            &sock,
            &dir.join(format!("{name}.log")),
            &["--interface", "eth0", "--io", "packet"],
        )?;
        topo::wait_for(Duration::from_secs(5), || {
            topo::director_status(&lab.bin, &sock).ok()
        })
        .with_context(|| format!("{name}: no status"))?;
        Ok(Director { proc, sock })
    }

    fn status(&self, bin: &Path) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&topo::director_status(
            bin, &self.sock,
        )?)?)
    }

    /// The director's own TCP_CHECK of `to`: (up with checks and no failure, evidence).
    fn health(&self, bin: &Path, to: SocketAddr) -> Result<(bool, String)> {
        let s = self.status(bin)?;
        let rs = s["services"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| v["real_servers"].as_array().into_iter().flatten())
            .find(|r| {
                r["addr"].as_str() == Some(&to.ip().to_string())
                    && r["port"].as_u64() == Some(u64::from(to.port()))
            })
            .cloned()
            .with_context(|| format!("no real server {to} in the status: {s}"))?;
        let checks = rs["check"]["checks"].as_u64().unwrap_or(0);
        let failures = rs["check"]["failures"].as_u64().unwrap_or(0);
        let up = rs["health"] == "up";
        Ok((
            up && checks > 0 && failures == 0,
            format!(
                "director status: {to} health {}, {checks} check(s), {failures} failure(s)",
                rs["health"]
            ),
        ))
    }
}

fn run(dir: &Path, prefix: &str) -> Result<()> {
    let t0 = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = root.join(EXAMPLE);
    let sc = Scenario::load(&example)?;
    ensure!(
        sc.driver == FirewallDriver::IptablesHybrid,
        "{EXAMPLE}: not iptables_hybrid"
    );
    ensure!(
        matches!(sc.pattern, Pattern::LvsNat),
        "{EXAMPLE}: not pattern lvs-nat"
    );

    // check's prediction and fix.
    let before = check::run(&sc)?;
    let fix = find_fix(&sc, &before)?;
    for c in &fix.changes {
        eprintln!("vipwire check --fix: {}", c.command);
    }
    let changes: Vec<Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
    let fixed = with_changes(&sc, &changes);
    let after = check::run(&fixed)?;
    ensure!(after.passed(), "check does not pass the fixed cloud");
    eprintln!("check and --fix: {:?}", t0.elapsed());

    let port_name = |id: &str| -> Result<String> {
        Ok(sc
            .cloud
            .port(id)
            .with_context(|| format!("port {id}"))?
            .name
            .clone())
    };
    let v4 = |id: &str| -> Result<IpAddr> {
        sc.cloud
            .port(id)
            .with_context(|| format!("port {id}"))?
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(IpAddr::is_ipv4)
            .with_context(|| format!("port {id}: no IPv4"))
    };
    let example_dir = example.parent().context("example dir")?;
    let mut members = Vec::new();
    for d in &sc.directors {
        ensure!(
            !d.without_config,
            "every director needs its keepalived.conf"
        );
        let port = sc.cloud.port(&d.port_id).context("director port")?;
        let conf = PathBuf::from(&d.config_source);
        let conf = if conf.exists() {
            conf
        } else {
            example_dir.join(conf.file_name().context("config_source")?)
        };
        members.push(Member {
            name: port.name.clone(),
            ip: v4(&d.port_id)?,
            mac: port.mac_address.to_lowercase(),
            conf,
        });
    }
    ensure!(members.len() == 2, "this lab replays two directors");
    let vips: Vec<IpAddr> = sc.directors[0]
        .config
        .vrrp_instances
        .iter()
        .flat_map(|i| i.virtual_ipaddresses.iter().map(|n| n.addr()))
        .collect();
    let mut ports: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let mut rs_ports = Vec::new();
    for r in &sc.real_servers {
        let name = port_name(&r.port_id)?;
        let gw = r
            .settings
            .gateway
            .context("this lab replays real servers routed via a VIP (gateway:)")?;
        rs_ports.push((name.clone(), gw));
        ports.push(name);
    }
    let mut routers = Vec::new();
    for c in &sc.clients {
        ensure!(c.external, "this lab replays external clients only");
        let router = port_name(&c.port_id)?;
        routers.push((c.ip, router.clone(), v4(&c.port_id)?));
        ports.push(router);
    }
    ports.sort();
    ports.dedup();
    let [(_, _, router_ip)] = routers[..] else {
        bail!("this lab replays one router");
    };

    // The cloud as given.
    let names: Vec<&str> = ports.iter().map(String::as_str).collect();
    let cloud = HybridCloud::new(prefix, &sc.cloud, &names)?;
    cloud.load(&sc.cloud)?;
    let mut ext = Vec::new();
    for (i, (ip, router, _)) in routers.iter().enumerate() {
        ensure!(
            ip.to_string().starts_with("198.51.100.") && ip.to_string() != EXT_GW,
            "external client {ip} not in 198.51.100.0/24"
        );
        let r = cloud.vm(router)?;
        let ns = Netns::new(&format!("{prefix}ext{i}"))?;
        veth(r, &format!("ext{i}"), &ns, "eth0")?;
        r.addr(&format!("ext{i}"), &format!("{EXT_GW}/24"))?;
        r.sysctl("net.ipv4.ip_forward", "1")?;
        ns.addr("eth0", &format!("{ip}/24"))?;
        ns.exec(&["ip", "route", "add", "default", "via", EXT_GW])?;
        ext.push((*ip, ns));
    }
    let lab = Lab {
        cloud,
        ext,
        members,
        vips,
        bin: topo::vipwire_bin()?,
    };
    for m in &lab.members {
        let ns = lab.cloud.vm(&m.name)?;
        ns.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &router_ip.to_string(),
        ])?;
    }
    let mut http = Vec::new();
    for (name, gw) in &rs_ports {
        let ns = lab.cloud.vm(name)?;
        ns.exec(&["ip", "route", "add", "default", "via", &gw.to_string()])?;
        http.push(HttpServer::start(ns, 8080, name)?);
    }

    eprintln!("the cloud is up at {:?}", t0.elapsed());
    let mut rows = phase(&lab, dir, "before", &before)?;
    eprintln!("before the fix: done at {:?}", t0.elapsed());
    lab.cloud.load(&fixed.cloud)?;
    rows.extend(phase(&lab, dir, "after", &after)?);

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
    drop(http);
    Ok(())
}

/// One phase against `report`: both directors, stage 1 with the first as
/// master, stage 2 after its kill -9.
fn phase(lab: &Lab, dir: &Path, label: &'static str, report: &CheckReport) -> Result<Vec<Row>> {
    let [m1, m2] = &lab.members[..] else {
        bail!("two directors");
    };
    for m in &lab.members {
        lab.drop_vips(&m.name)?;
    }
    lab.flush_neighbours()?;
    let flows: Vec<(&FlowResult, Probe)> = report
        .flows
        .iter()
        .map(|f| Ok((f, probe_of(&f.name)?)))
        .collect::<Result<_>>()?;
    for (_, p) in &flows {
        ensure!(
            p.member() == m1.name || p.member() == m2.name,
            "flow of an unknown director: {p:?}"
        );
    }
    // Passive flows (VRRP, ARP, health checks): the named rule's counter
    // summed over the stage windows they belong to.
    let passive: Vec<(&FlowResult, &Probe)> = flows
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Vrrp { .. } | Probe::Garp { .. }))
        .map(|(f, p)| (*f, p))
        .collect();
    let passive_counts = |acc: &mut Vec<i64>, sign: i64| -> Result<()> {
        for (i, (f, _)) in passive.iter().enumerate() {
            if let Some(d) = first_drop(f) {
                acc[i] += sign * lab.counter(&d)? as i64;
            }
        }
        Ok(())
    };
    let mut passive_delta = vec![0i64; passive.len()];
    let checks: Vec<&FlowResult> = flows
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Check { .. }))
        .map(|(f, _)| *f)
        .collect();
    let check_c0: Vec<Option<u64>> = checks
        .iter()
        .map(|f| first_drop(f).map(|d| lab.counter(&d)).transpose())
        .collect::<Result<_>>()?;

    let mut vrrp_caps = Vec::new();
    for m in &lab.members {
        let ns = lab.cloud.vm(&m.name)?;
        vrrp_caps.push((
            m.name.clone(),
            Capture::start(ns, dir, &format!("{label}-vrrp-{}", m.name), "ip proto 112")?,
        ));
    }
    let arp_cap = Capture::start(lab.cloud.vm(OBSERVER)?, dir, &format!("{label}-arp"), "arp")?;

    // Stage 1: both directors; the first becomes master.
    passive_counts(&mut passive_delta, -1)?;
    let start = Instant::now();
    let d1 = Director::start(lab, m1, dir, label)?;
    let d2 = Director::start(lab, m2, dir, label)?;
    let vip = *lab.vips.first().context("no VIP")?;
    lab.cloud
        .vm(&m1.name)?
        .wait_addr("eth0", &vip.to_string(), true, Duration::from_secs(8))
        .with_context(|| format!("{label}: {} never took the VIP", m1.name))?;
    // Past the backup's Master_Down_Interval and a few adverts.
    let settle = Duration::from_millis(4500);
    std::thread::sleep(settle.saturating_sub(start.elapsed()));
    let holders1: Vec<_> = lab.vips.iter().map(|v| (*v, lab.holders(*v))).collect();
    eprintln!(
        "[{label}] stage 1: holders {holders1:?} ({:?} after the directors' start)",
        start.elapsed()
    );
    passive_counts(&mut passive_delta, 1)?;

    let mut rows = Vec::new();
    let mut health = Vec::new();
    let mut active = |stage: &str, d: &Director| -> Result<()> {
        for (f, p) in &flows {
            if p.member() != stage {
                continue;
            }
            match p {
                Probe::Ping { .. } | Probe::Nat { .. } => {
                    rows.push(active_probe(lab, label, f, p)?);
                }
                Probe::Check { to, .. } => health.push((f.name.clone(), d.health(&lab.bin, *to)?)),
                _ => {}
            }
        }
        Ok(())
    };
    active(&m1.name, &d1)?;

    // Stage 2: the master dies; the other director takes over.
    passive_counts(&mut passive_delta, -1)?;
    let killed = Instant::now();
    let Director { mut proc, .. } = d1;
    proc.kill(); // SIGKILL by PID: no priority-0 advert
    lab.drop_vips(&m1.name)?;
    let took =
        lab.cloud
            .vm(&m2.name)?
            .wait_addr("eth0", &vip.to_string(), true, Duration::from_secs(8));
    let took_after = killed.elapsed();
    std::thread::sleep(Duration::from_millis(1000));
    passive_counts(&mut passive_delta, 1)?;
    eprintln!(
        "[{label}] stage 2: {} killed (kill -9); {} took the VIP: {} ; holders now {:?}",
        m1.name,
        m2.name,
        match took {
            Some(_) => format!("{took_after:?} after the kill"),
            None => "NEVER".into(),
        },
        lab.vips
            .iter()
            .map(|v| (*v, lab.holders(*v)))
            .collect::<Vec<_>>()
    );
    active(&m2.name, &d2)?;
    drop(d2);

    // Health checks: the directors' own verdicts, the named rule over the phase.
    for (i, f) in checks.iter().enumerate() {
        let predicted = first_drop(f);
        let c1 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
        let (real_pass, evidence) = health
            .iter()
            .find(|(n, _)| *n == f.name)
            .map(|(_, h)| h.clone())
            .with_context(|| format!("{}: not run", f.name))?;
        rows.push(Row {
            phase: label.to_string(),
            flow: f.name.clone(),
            predicted,
            real_pass,
            evidence,
            counter_rose: check_c0[i].zip(c1).map(|(a, b)| b > a),
        });
    }

    // The passive flows, from the captures.
    let arp = arp_cap.finish()?;
    let mut vrrp_seen = Vec::new();
    for (name, cap) in vrrp_caps {
        vrrp_seen.push((name, cap.finish()?));
    }
    for (i, (f, probe)) in passive.iter().enumerate() {
        let predicted = first_drop(f);
        let counter_rose = predicted.as_ref().map(|_| passive_delta[i] > 0);
        let (real_pass, evidence) = match probe {
            Probe::Vrrp { from, to } => {
                let src = lab.member(from)?.ip;
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
            Probe::Garp { member, vip } => {
                let mac = &lab.member(member)?.mac;
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
            _ => unreachable!("passive flows are VRRP and ARP"),
        };
        rows.push(Row {
            phase: label.to_string(),
            flow: f.name.clone(),
            predicted,
            real_pass,
            evidence,
            counter_rose,
        });
    }
    if label == "after" {
        for (v, h) in &holders1 {
            ensure!(
                *h == [m1.name.clone()],
                "after the fix {v} should be on {} alone, it was on {h:?}",
                m1.name
            );
        }
        ensure!(took.is_some(), "after the fix {} never took over", m2.name);
    }
    Ok(rows)
}

/// A ping or NAT flow, run now: the answer and the named rule's counter.
fn active_probe(lab: &Lab, label: &'static str, f: &FlowResult, p: &Probe) -> Result<Row> {
    let predicted = first_drop(f);
    let c0 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
    // A pass is retried for a while (ARP, rr to the named real server); a
    // predicted drop is given one short attempt.
    let patience = if predicted.is_none() {
        Duration::from_secs(6)
    } else {
        Duration::ZERO
    };
    let (real_pass, evidence) = match p {
        Probe::Ping { client, vip, .. } => {
            let ns = lab.client_ns(client)?;
            let ok = topo::wait_for(patience, || {
                lab::field::ping(ns, *vip, Duration::from_millis(1000))
                    .ok()
                    .filter(|ok| *ok)
            })
            .is_some();
            (
                ok,
                format!("{}echo reply from {vip}", if ok { "" } else { "no " }),
            )
        }
        Probe::Nat { client, to, rs, .. } => {
            let ns = lab.client_ns(client)?;
            let url = format!("http://{to}/");
            let mut seen = Vec::new();
            let got = topo::wait_for(patience, || {
                let a = topo::curl(ns, &url, if patience.is_zero() { 1 } else { 2 }).ok();
                seen.push(a.clone().unwrap_or_else(|| "-".into()));
                a.filter(|a| a == rs)
            });
            (
                got.is_some(),
                format!("curl {url}: answers {seen:?} (rr; \"-\" = none)"),
            )
        }
        _ => bail!("not an active flow"),
    };
    let c1 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
    Ok(Row {
        phase: label.to_string(),
        flow: f.name.clone(),
        predicted,
        real_pass,
        evidence,
        counter_rose: c0.zip(c1).map(|(a, b)| b > a),
    })
}
