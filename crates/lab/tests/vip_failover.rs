//! The plain VIP pattern (examples/vip-failover) on the real kernel: every
//! flow `vipwire check` predicts is replayed with real traffic, before and
//! after the fix it proposes, and the test fails on any disagreement.
//!
//! The cloud: one compute-host namespace per Neutron host of the example
//! (compute-1: lb-1, app-1; compute-2: lb-2, app-2, client-1; network-1:
//! router-1), the hybrid plumbing per port, the hosts' `br-int`s linked, each
//! host's iptables and ipsets loaded from the rules vipwire renders, and the
//! OVS agent's ARP spoofing protection stood in for by ebtables
//! (`lab::cloud`). The external client 198.51.100.1 sits behind router-1.
//!
//! The members run real keepalived (`keepalived --vrrp`, the vrrp_instance
//! check modelled, written out as keepalived.conf), an HTTP server answering
//! its name on every tcp service and a UDP server bound to the VIP answering
//! its name on every udp service; the backends answer their names on the
//! backend services.
//!
//! Each phase (the cloud as given, then with `check --fix`'s changes applied
//! and the rules rendered and loaded again, as the agent's resync would):
//! keepalived starts on both members; captures on each member (VRRP) and on
//! client-1 (ARP) run throughout. Stage 1: the first member is master; the
//! clients' requests to each service on the VIP and each member's own
//! connections to each backend. Stage 2: the master's keepalived is killed
//! (SIGKILL, its VIP removed as its dead VM would lose it); the second member
//! takes over; the clients' requests again.
//!
//! Per flow: check's verdict, and for a predicted drop the rule it names; the
//! real verdict (the answer came back with the expected name, the advert or
//! gratuitous ARP was captured at the receiver), and for a predicted drop
//! whether the named rule's packet counter rose in the kernel (iptables rule
//! on the named host, or the port's ARP-protection DROP).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use check::diagnose::Drop as CheckDrop;
use check::fix::{find_fix, with_changes, Change};
use check::scenario::Scenario;
use check::simulate::{CheckReport, FlowResult};
use lab::capture::Capture;
use lab::cloud::HybridCloud;
use lab::netns::{skip_unless, veth, Netns, Proc};
use lab::replay::{first_drop, Row};
use lab::topo::{self, HttpServer};
use lab::udp::{self, UdpNameServer};
use lvs::keepalived::{AuthType, L4Proto, VrrpInstance, VrrpStateCfg};
use neutron::firewall::FirewallDriver;

/// Where gratuitous ARPs are captured.
const OBSERVER: &str = "client-1";
/// A request that must fail waits this long.
const PROBE: Duration = Duration::from_millis(1500);

#[test]
fn vip_failover_predicted_and_fixed_on_the_real_kernel() -> Result<()> {
    if skip_unless(
        "vip_failover_predicted_and_fixed_on_the_real_kernel",
        &[
            "ip",
            "curl",
            "iptables-restore",
            "ip6tables-restore",
            "iptables-save",
            "ipset",
            "ebtables",
            "keepalived",
            "tcpdump",
        ],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("vf-", topo::log_files, |dir| {
        run(dir, "examples/vip-failover/scenario.yaml", "vf-")
    })
}

/// The same from the members' own keepalived.conf files (unicast adverts).
/// Before the fix check predicts the first advert of each direction dropped
/// and says the split brain heals through conntrack: the backup becomes
/// MASTER once, its own advert leaves a generic conntrack entry in its zone,
/// so the master's next advert is a reply (ESTABLISHED, RETURN in the `i`
/// chain before any group rule), it falls back to BACKUP within one advert
/// and every later advert passes both ways. The kernel must show exactly that:
/// adverts arriving both ways, one holder of the VIP, and the first adverts'
/// drops counted.
#[test]
fn vip_failover_unicast_keepalived_files_on_the_real_kernel() -> Result<()> {
    if skip_unless(
        "vip_failover_unicast_keepalived_files_on_the_real_kernel",
        &[
            "ip",
            "curl",
            "iptables-restore",
            "ip6tables-restore",
            "iptables-save",
            "ipset",
            "ebtables",
            "keepalived",
            "tcpdump",
        ],
    ) {
        return Ok(());
    }
    topo::in_scratch_dir("vk-", topo::log_files, |dir| {
        run(dir, "examples/vip-failover/scenario-keepalived.yaml", "vk-")
    })
}

/// One member: its port name, fixed IP, MAC and the keepalived.conf it runs.
struct Member {
    name: String,
    ip: IpAddr,
    mac: String,
    conf: String,
}

/// An external client behind a router port.
struct External {
    router: String,
    ip: IpAddr,
}

struct Lab {
    cloud: HybridCloud,
    /// External clients' namespaces, by client IP.
    ext: Vec<(IpAddr, Netns)>,
    members: Vec<Member>,
    vip: IpAddr,
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
            .with_context(|| format!("{name} is not a member"))
    }

    fn holders(&self) -> Vec<String> {
        let vip = self.vip.to_string();
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

    /// Remove the VIP from `member`'s eth0 (whatever its prefix length).
    fn drop_vip(&self, member: &str) -> Result<()> {
        let ns = self.cloud.vm(member)?;
        let out = ns.exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])?;
        let want = format!("{}/", self.vip);
        for cidr in out.split_whitespace().filter(|w| w.starts_with(&want)) {
            ns.exec(&["ip", "addr", "del", cidr, "dev", "eth0"])?;
        }
        Ok(())
    }

    /// Forget every neighbour (clients, routers, members), so that each phase
    /// starts with fresh ARP.
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
    /// `m takes VIP v (...)`: the observer's capture holds m's gratuitous ARP.
    Garp { member: String },
    /// `TCP|UDP client -> vip:port served by m`: the answer names m.
    Service {
        udp: bool,
        client: String,
        port: u16,
        member: String,
    },
    /// `TCP m -> backend b ip:port (...)`: the answer names b.
    Backend {
        udp: bool,
        member: String,
        backend: String,
        to: SocketAddr,
    },
}

fn probe_of(name: &str) -> Result<Probe> {
    if let Some(rest) = name.strip_prefix("VRRP ") {
        let (from, to) = rest
            .split_once(" (as master) -> ")
            .with_context(|| format!("VRRP flow {name:?}"))?;
        return Ok(Probe::Vrrp {
            from: from.into(),
            to: to.into(),
        });
    }
    if let Some((member, _)) = name.split_once(" takes VIP ") {
        return Ok(Probe::Garp {
            member: member.into(),
        });
    }
    let (proto, rest) = name
        .split_once(' ')
        .with_context(|| format!("flow {name:?}"))?;
    let udp = match proto {
        "TCP" => false,
        "UDP" => true,
        _ => bail!("flow {name:?}: unknown kind"),
    };
    if let Some((member, rest)) = rest.split_once(" -> backend ") {
        let mut w = rest.split_whitespace();
        let backend = w.next().context("backend name")?.to_string();
        let to: SocketAddr = w.next().context("backend address")?.parse()?;
        return Ok(Probe::Backend {
            udp,
            member: member.into(),
            backend,
            to,
        });
    }
    let (client, rest) = rest
        .split_once(" -> ")
        .with_context(|| format!("flow {name:?}"))?;
    let (to, member) = rest
        .split_once(" served by ")
        .with_context(|| format!("flow {name:?}"))?;
    let to: SocketAddr = to.parse()?;
    Ok(Probe::Service {
        udp,
        client: client.into(),
        port: to.port(),
        member: member.into(),
    })
}

/// keepalived.conf text for one vrrp_instance as check modelled it.
fn keepalived_conf(name: &str, version: u8, insts: &[VrrpInstance]) -> Result<String> {
    let mut o = format!("global_defs {{\n    router_id {name}\n    vrrp_version {version}\n}}\n");
    for i in insts {
        ensure!(
            !i.use_vmac && i.track_scripts.is_empty() && i.auth_type != Some(AuthType::Ah),
            "{name}: use_vmac, track_script or AH are not replayed in this lab"
        );
        o += &format!(
            "vrrp_instance {} {{\n    state {}\n    interface {}\n    virtual_router_id {}\n    \
             priority {}\n    advert_int {}\n",
            i.name,
            match i.state {
                VrrpStateCfg::Master => "MASTER",
                VrrpStateCfg::Backup => "BACKUP",
            },
            i.interface,
            i.virtual_router_id,
            i.priority,
            i.advert_int
        );
        if i.nopreempt {
            o += "    nopreempt\n";
        }
        if let (Some(AuthType::Pass), Some(p)) = (&i.auth_type, &i.auth_pass) {
            o += &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
            );
        }
        if let Some(src) = i.unicast_src_ip {
            o += &format!("    unicast_src_ip {src}\n");
        }
        if !i.unicast_peers.is_empty() {
            o += "    unicast_peer {\n";
            for p in &i.unicast_peers {
                o += &format!("        {p}\n");
            }
            o += "    }\n";
        }
        o += "    virtual_ipaddress {\n";
        for v in &i.virtual_ipaddresses {
            o += &format!("        {v} dev {}\n", i.interface);
        }
        o += "    }\n}\n";
    }
    Ok(o)
}

/// keepalived with its VRRP child; killed like a dying host.
struct Keepalived {
    proc: Proc,
    vrrp_pid: PathBuf,
}

impl Keepalived {
    fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Result<Keepalived> {
        let path = dir.join(format!("{name}-keepalived.conf"));
        std::fs::write(&path, conf)?;
        let vrrp_pid = dir.join(format!("{name}-vrrp.pid"));
        let log = std::fs::File::create(dir.join(format!("{name}-keepalived.log")))?;
        let mut c = ns.command("keepalived");
        c.args(["--vrrp", "--dont-fork", "--log-console", "-f"])
            .arg(&path)
            .arg("-p")
            .arg(dir.join(format!("{name}-keepalived.pid")))
            .arg("-r")
            .arg(&vrrp_pid)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(Keepalived {
            proc: Proc::spawn(c)?,
            vrrp_pid,
        })
    }

    /// kill -9 of the whole keepalived: no priority-0 advert. Its parent would
    /// respawn the VRRP child, and the parent's death would SIGTERM the child,
    /// so stop the parent, SIGKILL the child (its PID from our -r file), then
    /// SIGKILL the parent: only PIDs we started.
    fn kill9(mut self) -> Result<()> {
        let child: i32 = std::fs::read_to_string(&self.vrrp_pid)
            .with_context(|| self.vrrp_pid.display().to_string())?
            .trim()
            .parse()?;
        self.proc.signal(libc::SIGSTOP)?;
        // SAFETY: kill(2) on the VRRP child of the keepalived this test started.
        if unsafe { libc::kill(child, libc::SIGKILL) } != 0 {
            bail!("kill {child}: {}", std::io::Error::last_os_error());
        }
        self.proc.kill();
        Ok(())
    }
}

fn run(dir: &Path, example: &str, prefix: &str) -> Result<()> {
    let t0 = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sc = Scenario::load(&root.join(example))?;
    ensure!(
        sc.driver == FirewallDriver::IptablesHybrid,
        "{example}: not iptables_hybrid"
    );
    let vf = sc
        .pattern
        .vip_failover()
        .with_context(|| format!("{example}: not pattern vip-failover"))?;

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

    // The members, the VIP, the clients, the backends.
    let port_name = |id: &str| -> Result<String> {
        Ok(sc
            .cloud
            .port(id)
            .with_context(|| format!("port {id}"))?
            .name
            .clone())
    };
    let mut members = Vec::new();
    for d in &sc.directors {
        let port = sc.cloud.port(&d.port_id).context("member port")?;
        let ip = port
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(IpAddr::is_ipv4)
            .context("member without IPv4")?;
        members.push(Member {
            name: port.name.clone(),
            ip,
            mac: port.mac_address.to_lowercase(),
            conf: keepalived_conf(&port.name, d.config.vrrp_version, &d.config.vrrp_instances)?,
        });
    }
    ensure!(members.len() == 2, "this lab replays two members");
    let vips: Vec<IpAddr> = sc.directors[0]
        .config
        .vrrp_instances
        .iter()
        .flat_map(|i| i.virtual_ipaddresses.iter().map(|n| n.addr()))
        .collect();
    let [vip] = vips[..] else {
        bail!("this lab replays one VIP, not {vips:?}");
    };
    let mut ports: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    for b in &vf.backends {
        ports.push(port_name(&b.port_id)?);
    }
    let mut externals = Vec::new();
    for c in &sc.clients {
        let name = port_name(&c.port_id)?;
        if c.external {
            externals.push(External {
                router: name.clone(),
                ip: c.ip,
            });
        }
        ports.push(name);
    }
    ports.sort();
    ports.dedup();

    // The cloud as given.
    let names: Vec<&str> = ports.iter().map(String::as_str).collect();
    let cloud = HybridCloud::new(prefix, &sc.cloud, &names)?;
    cloud.load(&sc.cloud)?;
    let mut ext = Vec::new();
    for (i, e) in externals.iter().enumerate() {
        let router = cloud.vm(&e.router)?;
        let gw = "198.51.100.254";
        ensure!(
            e.ip.to_string().starts_with("198.51.100.") && e.ip.to_string() != gw,
            "external client {} not in 198.51.100.0/24",
            e.ip
        );
        let ns = Netns::new(&format!("{prefix}ext{i}"))?;
        veth(router, &format!("ext{i}"), &ns, "eth0")?;
        router.addr(&format!("ext{i}"), &format!("{gw}/24"))?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        ns.addr("eth0", &format!("{}/24", e.ip))?;
        ns.exec(&["ip", "route", "add", "default", "via", gw])?;
        ext.push((e.ip, ns));
    }
    let gateway = externals
        .first()
        .map(|e| -> Result<IpAddr> {
            let p = sc.cloud.port(&e.router).context("router port")?;
            p.fixed_ips
                .iter()
                .map(|f| f.ip_address)
                .find(IpAddr::is_ipv4)
                .context("router without IPv4")
        })
        .transpose()?;
    let lab = Lab {
        cloud,
        ext,
        members,
        vip,
    };

    // The services: on the members (answering from the VIP), on the backends.
    let mut http = Vec::new();
    let mut udps = Vec::new();
    for m in &lab.members {
        let ns = lab.cloud.vm(&m.name)?;
        ns.sysctl("net.ipv4.ip_nonlocal_bind", "1")?;
        if let Some(gw) = gateway {
            ns.exec(&["ip", "route", "add", "default", "via", &gw.to_string()])?;
        }
        for s in &vf.services {
            match s.protocol {
                L4Proto::Tcp => http.push(HttpServer::start(ns, s.port, &m.name)?),
                L4Proto::Udp => udps.push(UdpNameServer::start(
                    ns,
                    SocketAddr::new(vip, s.port),
                    &m.name,
                )?),
            }
        }
    }
    for b in &vf.backends {
        let name = port_name(&b.port_id)?;
        let ns = lab.cloud.vm(&name)?;
        for s in &vf.backend_services {
            match s.protocol {
                L4Proto::Tcp => http.push(HttpServer::start(ns, s.port, &name)?),
                L4Proto::Udp => udps.push(UdpNameServer::start(
                    ns,
                    SocketAddr::new(b.ip, s.port),
                    &name,
                )?),
            }
        }
    }

    let mut rows = phase(&lab, dir, "before", &before)?;
    eprintln!("before the fix: done at {:?}", t0.elapsed());
    lab.cloud.load(&fixed.cloud)?;
    rows.extend(phase(&lab, dir, "after", &after)?);

    eprintln!("\n{example} on the real kernel, per flow:");
    for r in &rows {
        eprintln!("{}", r.show());
    }
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.agrees()).collect();
    let agree = rows.len() - bad.len();
    eprintln!(
        "\n{agree} of {} flow replays agree with vipwire check ({:?})",
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
    drop(udps);
    Ok(())
}

/// One phase against `report`: keepalived on both members, stage 1 with the
/// first member as master, stage 2 after its kill -9.
fn phase(lab: &Lab, dir: &Path, label: &'static str, report: &CheckReport) -> Result<Vec<Row>> {
    for m in &lab.members {
        lab.drop_vip(&m.name)?;
    }
    lab.flush_neighbours()?;
    let [m1, m2] = &lab.members[..] else {
        bail!("two members");
    };
    let flows: Vec<(&FlowResult, Probe)> = report
        .flows
        .iter()
        .map(|f| Ok((f, probe_of(&f.name)?)))
        .collect::<Result<_>>()?;
    let passive: Vec<&FlowResult> = flows
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Vrrp { .. } | Probe::Garp { .. }))
        .map(|(f, _)| *f)
        .collect();
    let passive_counts = |acc: &mut Vec<i64>, sign: i64| -> Result<()> {
        for (i, f) in passive.iter().enumerate() {
            if let Some(d) = first_drop(f) {
                acc[i] += sign * lab.counter(&d)? as i64;
            }
        }
        Ok(())
    };
    let mut passive_delta = vec![0i64; passive.len()];

    let mut vrrp_caps = Vec::new();
    for m in &lab.members {
        let ns = lab.cloud.vm(&m.name)?;
        vrrp_caps.push((
            m.name.clone(),
            Capture::start(ns, dir, &format!("{label}-vrrp-{}", m.name), "ip proto 112")?,
        ));
    }
    let arp_cap = Capture::start(lab.cloud.vm(OBSERVER)?, dir, &format!("{label}-arp"), "arp")?;

    // Stage 1: both keepalived up; the first member becomes master.
    passive_counts(&mut passive_delta, -1)?;
    let start = Instant::now();
    let k1 = Keepalived::start(
        lab.cloud.vm(&m1.name)?,
        dir,
        &format!("{label}-{}", m1.name),
        &m1.conf,
    )?;
    let k2 = Keepalived::start(
        lab.cloud.vm(&m2.name)?,
        dir,
        &format!("{label}-{}", m2.name),
        &m2.conf,
    )?;
    let vip = lab.vip.to_string();
    lab.cloud
        .vm(&m1.name)?
        .wait_addr("eth0", &vip, true, Duration::from_secs(8))
        .with_context(|| format!("{label}: {} never took the VIP", m1.name))?;
    // Past the backup's Master_Down_Interval (3 x 1 s + skew) and a few adverts.
    let settle = Duration::from_millis(5500);
    std::thread::sleep(settle.saturating_sub(start.elapsed()));
    let holders1 = lab.holders();
    eprintln!(
        "[{label}] stage 1: VIP held by {holders1:?} ({:?} after keepalived start)",
        start.elapsed()
    );
    passive_counts(&mut passive_delta, 1)?;

    let mut rows = Vec::new();
    let mut active = |stage_member: &str| -> Result<()> {
        for (f, p) in &flows {
            let run_now = match p {
                Probe::Service { member, .. } => member == stage_member,
                Probe::Backend { .. } => stage_member == m1.name,
                _ => false,
            };
            if run_now {
                rows.push(active_probe(lab, label, f, p)?);
            }
        }
        Ok(())
    };
    active(&m1.name)?;

    // Stage 2: the master dies; the other member takes over.
    passive_counts(&mut passive_delta, -1)?;
    let killed = Instant::now();
    k1.kill9()?;
    lab.drop_vip(&m1.name)?;
    let took = lab
        .cloud
        .vm(&m2.name)?
        .wait_addr("eth0", &vip, true, Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(1000));
    passive_counts(&mut passive_delta, 1)?;
    eprintln!(
        "[{label}] stage 2: {} killed (kill -9); {} holds the VIP {} ; holders now {:?}",
        m1.name,
        m2.name,
        match took {
            Some(t) if holders1.contains(&m2.name) => format!("(already, split brain; {t:?})"),
            Some(_) => format!(
                "{:?} after the kill",
                killed.elapsed().saturating_sub(Duration::from_millis(1000))
            ),
            None => "NEVER".to_string(),
        },
        lab.holders()
    );
    active(&m2.name)?;
    k2.kill9()?;

    // The passive flows, from the captures.
    let arp = arp_cap.finish()?;
    let mut vrrp_seen = Vec::new();
    for (name, cap) in vrrp_caps {
        vrrp_seen.push((name, cap.finish()?));
    }
    for (i, f) in passive.iter().enumerate() {
        let probe = probe_of(&f.name)?;
        let predicted = first_drop(f);
        let counter_rose = predicted.as_ref().map(|_| passive_delta[i] > 0);
        let (real_pass, evidence) = match probe {
            Probe::Vrrp { from, to } => {
                let src = lab.member(&from)?.ip;
                let text = &vrrp_seen
                    .iter()
                    .find(|(n, _)| *n == to)
                    .with_context(|| format!("no capture at {to}"))?
                    .1;
                let n = text
                    .lines()
                    .filter(|l| l.contains(&format!(" {src} > ")) && l.contains("VRRP"))
                    .count();
                let state = if from == m1.name {
                    format!(
                        "; after the settle the VIP was on {holders1:?}{}",
                        if holders1.len() > 1 {
                            " (both MASTER: split brain)"
                        } else {
                            ""
                        }
                    )
                } else {
                    String::new()
                };
                (
                    n > 0,
                    format!("{to}'s eth0 captured {n} advert(s) from {src}{state}"),
                )
            }
            Probe::Garp { member } => {
                let mac = &lab.member(&member)?.mac;
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
            counter_rose,
        });
    }
    let healing: Vec<&Row> = rows.iter().filter(|r| r.heals()).collect();
    if !healing.is_empty() {
        // check's healed split brain: the first adverts really were dropped
        // (by the rule named), and in the end one member holds the VIP.
        ensure!(
            healing.iter().any(|r| r.counter_rose == Some(true)),
            "[{label}] check says unicast VRRP heals after dropped first adverts, but no \
             named rule's counter rose"
        );
        ensure!(
            holders1.len() == 1,
            "[{label}] check says the unicast VRRP split brain heals, but the VIP was on \
             {holders1:?} after the settle"
        );
    }
    if label == "after" {
        // One master: the backup stayed backup until the master died.
        ensure!(
            holders1 == [m1.name.clone()],
            "after the fix the VIP should be on {} alone, it was on {holders1:?}",
            m1.name
        );
        ensure!(took.is_some(), "after the fix {} never took over", m2.name);
    }
    Ok(rows)
}

/// A service or backend flow, run now: the answer and the named rule's counter.
fn active_probe(lab: &Lab, label: &'static str, f: &FlowResult, p: &Probe) -> Result<Row> {
    let predicted = first_drop(f);
    let c0 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
    let (ns, target, expect, udp) = match p {
        Probe::Service {
            udp,
            client,
            port,
            member,
        } => (
            lab.client_ns(client)?,
            SocketAddr::new(lab.vip, *port),
            member.clone(),
            *udp,
        ),
        Probe::Backend {
            udp,
            member,
            backend,
            to,
        } => (lab.cloud.vm(member)?, *to, backend.clone(), *udp),
        _ => bail!("not an active flow"),
    };
    // A pass is retried for a while (ARP, the GARP's arrival); a predicted
    // drop is given one attempt of PROBE.
    let attempt = || -> Option<String> {
        if udp {
            udp::query(ns, target, PROBE).ok().flatten()
        } else {
            topo::curl(ns, &format!("http://{target}/"), 2).ok()
        }
    };
    let got = if predicted.is_none() {
        topo::wait_for(Duration::from_secs(6), || {
            attempt().filter(|a| *a == expect)
        })
        .or_else(attempt)
    } else if udp {
        attempt()
    } else {
        topo::curl(ns, &format!("http://{target}/"), 1).ok()
    };
    let c1 = predicted.as_ref().map(|d| lab.counter(d)).transpose()?;
    let real_pass = got.as_deref() == Some(expect.as_str());
    let evidence = match &got {
        Some(a) => format!("answer {a:?} from {target}"),
        None => format!("no answer from {target}"),
    };
    Ok(Row {
        phase: label.to_string(),
        flow: f.name.clone(),
        predicted,
        real_pass,
        evidence,
        counter_rose: c0.zip(c1).map(|(a, b)| b > a),
    })
}
