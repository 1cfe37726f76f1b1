//! Shared pieces of the VRRP interop tests and the failover benchmark: two
//! namespaces on a veth pair (IPv4, or IPv6 link-local only), keepalived and
//! vipwire nodes started from one instance description, and a tcpdump capture
//! of the adverts (IPv4 and IPv6) with kernel timestamps. Included by
//! `vrrp_interop.rs`, `vrrp6_interop.rs` and `examples/failover_bench.rs`.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use lab::netns::{veth, Netns, Proc};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const VIP: &str = "203.0.113.100";
/// The link-local addresses of A and B on an IPv6 pair.
pub const A_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
pub const B_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
pub const VIP6: &str = "2001:db8::100";
/// The MACs of A and B on an IPv6 pair (locally administered).
pub const A_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x0a];
pub const B_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x0b];
pub const IFACE: &str = "eth0";

/// Node A (203.0.113.1) and node B (203.0.113.2) on one link, and a scratch dir.
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub dir: PathBuf,
}

impl Pair {
    pub fn new(tag: &str) -> Result<Pair> {
        let id = std::process::id();
        let a = Netns::new(&format!("vr-{tag}-a{id}"))?;
        let b = Netns::new(&format!("vr-{tag}-b{id}"))?;
        veth(&a, IFACE, &b, IFACE)?;
        a.addr(IFACE, &format!("{A_IP}/24"))?;
        b.addr(IFACE, &format!("{B_IP}/24"))?;
        let dir = std::env::temp_dir().join(format!("vw-vrrp-{tag}-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Pair { a, b, dir })
    }
}

impl Pair {
    /// Node A (fe80::1, [`A_MAC`]) and node B (fe80::2, [`B_MAC`]) on one
    /// link with no IPv4 and no
    /// other IPv6 address. Duplicate address detection is off in both
    /// namespaces (set before the veth arrives, which inherits it), so the
    /// link-local addresses and the VIPs are usable at once, not tentative.
    pub fn new6(tag: &str) -> Result<Pair> {
        let id = std::process::id();
        let a = Netns::new(&format!("vr-{tag}-a{id}"))?;
        let b = Netns::new(&format!("vr-{tag}-b{id}"))?;
        for ns in [&a, &b] {
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        }
        veth(&a, IFACE, &b, IFACE)?;
        for (ns, ll, mac) in [(&a, A_LL, A_MAC), (&b, B_LL, B_MAC)] {
            let mac: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
            ns.exec(&["ip", "link", "set", IFACE, "address", &mac.join(":")])?;
            ns.exec(&["ip", "link", "set", IFACE, "addrgenmode", "none"])?;
            ns.exec(&["ip", "-6", "addr", "flush", "dev", IFACE])?;
            ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{ll}/64"),
                "dev",
                IFACE,
                "nodad",
            ])?;
        }
        let dir = std::env::temp_dir().join(format!("vw-vrrp-{tag}-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Pair { a, b, dir })
    }

    /// A veth pair `trk0`/`trk1` inside `ns`, both up: `trk0` is the
    /// interface an instance tracks.
    pub fn tracked_link(ns: &Netns) -> Result<()> {
        ns.exec(&[
            "ip", "link", "add", TRACKED, "type", "veth", "peer", "name", "trk1",
        ])?;
        ns.exec(&["ip", "link", "set", "trk1", "up"])?;
        ns.exec(&["ip", "link", "set", TRACKED, "up"])?;
        Ok(())
    }
}

/// The tracked interface of [`Pair::tracked_link`].
pub const TRACKED: &str = "trk0";

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One vrrp_instance, written the same for keepalived and vipwire.
#[derive(Debug, Clone)]
pub struct Spec {
    pub version: u8,
    pub priority: u8,
    pub advert_int: f64,
    pub state_master: bool,
    pub nopreempt: bool,
    pub preempt_delay: Option<u32>,
    /// v2 PASS authentication.
    pub auth: Option<&'static str>,
    /// (our address, peer address) for unicast mode.
    pub unicast: Option<(IpAddr, IpAddr)>,
    /// A tracked `vrrp_script` (interval 1 s) that succeeds while this file
    /// exists, with this weight.
    pub track_file: Option<(PathBuf, i32)>,
    /// A `track_interface` with this weight (0: FAULT while it is down).
    pub track_interface: Option<(&'static str, i32)>,
    /// IPv6: the VIP is [`VIP6`] (VRRPv3 to ff02::12).
    pub ipv6: bool,
    /// An IPv4 instance that also carries [`VIP6`] as a
    /// `virtual_ipaddress_excluded` (not advertised).
    pub excluded6: bool,
}

impl Spec {
    pub fn v2(priority: u8) -> Spec {
        Spec {
            version: 2,
            priority,
            advert_int: 1.0,
            state_master: false,
            nopreempt: false,
            preempt_delay: None,
            auth: Some("vw-pass1"),
            unicast: None,
            track_file: None,
            track_interface: None,
            ipv6: false,
            excluded6: false,
        }
    }

    pub fn v3(priority: u8, advert_int: f64) -> Spec {
        Spec {
            version: 3,
            advert_int,
            auth: None,
            ..Spec::v2(priority)
        }
    }

    /// An IPv6 instance: VRRPv3 with `advert_int` seconds, VIP [`VIP6`]/64.
    pub fn v6(priority: u8, advert_int: f64) -> Spec {
        Spec {
            ipv6: true,
            ..Spec::v3(priority, advert_int)
        }
    }

    /// The VIP this spec configures.
    pub fn vip(&self) -> &'static str {
        if self.ipv6 {
            VIP6
        } else {
            VIP
        }
    }

    pub fn conf(&self) -> String {
        let mut s = String::new();
        if let Some((f, w)) = &self.track_file {
            s += &format!(
                "vrrp_script chk_file {{\n    script \"/bin/sh -c 'test -e {}'\"\n    interval 1\n    weight {w}\n}}\n",
                f.display()
            );
        }
        s += &format!(
            "global_defs {{\n    vrrp_version {}\n}}\nvrrp_instance VI_1 {{\n    state {}\n    interface {IFACE}\n    virtual_router_id 51\n    priority {}\n    advert_int {}\n",
            self.version,
            if self.state_master { "MASTER" } else { "BACKUP" },
            self.priority,
            self.advert_int
        );
        if self.nopreempt {
            s += "    nopreempt\n";
        }
        if self.track_file.is_some() {
            s += "    track_script {\n        chk_file\n    }\n";
        }
        if let Some((ifname, w)) = self.track_interface {
            let weight = if w == 0 {
                String::new()
            } else {
                format!(" weight {w}")
            };
            s += &format!("    track_interface {{\n        {ifname}{weight}\n    }}\n");
        }
        if let Some(d) = self.preempt_delay {
            s += &format!("    preempt_delay {d}\n");
        }
        if let Some(p) = self.auth {
            s += &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
            );
        }
        if let Some((src, peer)) = self.unicast {
            s +=
                &format!("    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n");
        }
        let vip = if self.ipv6 {
            format!("{VIP6}/64")
        } else {
            format!("{VIP}/32")
        };
        s += &format!("    virtual_ipaddress {{\n        {vip}\n    }}\n");
        if self.excluded6 {
            s += &format!("    virtual_ipaddress_excluded {{\n        {VIP6}/64\n    }}\n");
        }
        s += "}\n";
        s
    }

    /// keepalived's Master_Down_Interval for this spec, from its own formulas.
    pub fn master_down(&self) -> Duration {
        let p = 256 - u64::from(self.priority);
        let adv_us = (self.advert_int * 1e6).round() as u64;
        let skew = if self.version == 3 {
            p * (adv_us / 10_000) * 625 / 16
        } else {
            p * 1_000_000 / 256
        };
        Duration::from_micros(3 * adv_us + skew)
    }

    pub fn skew(&self) -> Duration {
        self.master_down() - Duration::from_micros((3.0 * self.advert_int * 1e6).round() as u64)
    }
}

/// A started VRRP node: keepalived (parent + VRRP child) or vipwire.
pub struct Node {
    pub kind: &'static str,
    pub proc: Proc,
    vrrp_pidfile: Option<PathBuf>,
    pub log: PathBuf,
}

fn log_file(p: &Path) -> Result<(Stdio, Stdio)> {
    let f = std::fs::File::create(p).with_context(|| p.display().to_string())?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

impl Node {
    pub fn keepalived(ns: &Netns, dir: &Path, name: &str, spec: &Spec) -> Result<Node> {
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, spec.conf())?;
        let pid = dir.join(format!("{name}.pid"));
        let vpid = dir.join(format!("{name}.vrrp.pid"));
        let log = dir.join(format!("{name}.log"));
        let (o, e) = log_file(&log)?;
        let mut c = ns.command("keepalived");
        c.args(["--vrrp", "--dont-fork", "--log-console", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(&pid)
            .arg("-r")
            .arg(&vpid)
            .stdin(Stdio::null())
            .stdout(o)
            .stderr(e);
        Ok(Node {
            kind: "keepalived",
            proc: Proc::spawn(c)?,
            vrrp_pidfile: Some(vpid),
            log,
        })
    }

    /// vipwire's VRRP runner: `cmd` re-executes a binary that calls
    /// `director::vrrp::run_foreground` on the file in env `VW_VRRP_CHILD`.
    pub fn vipwire(
        ns: &Netns,
        dir: &Path,
        name: &str,
        spec: &Spec,
        cmd: &[OsString],
    ) -> Result<Node> {
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, spec.conf())?;
        let log = dir.join(format!("{name}.log"));
        let (o, e) = log_file(&log)?;
        let (prog, args) = cmd.split_first().context("empty command")?;
        let mut c = ns.command(prog);
        c.args(args)
            .env("VW_VRRP_CHILD", &conf)
            .stdin(Stdio::null())
            .stdout(o)
            .stderr(e);
        Ok(Node {
            kind: "vipwire",
            proc: Proc::spawn(c)?,
            vrrp_pidfile: None,
            log,
        })
    }

    /// The whole host dies: no priority-0 advert. keepalived's parent would
    /// respawn its VRRP child, and its death would SIGTERM the child (PDEATHSIG),
    /// so stop the parent, kill the child, then kill the parent (all PIDs we started).
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(vp) = &self.vrrp_pidfile {
            let child: i32 = std::fs::read_to_string(vp)
                .with_context(|| format!("{}", vp.display()))?
                .trim()
                .parse()?;
            self.proc.signal(libc::SIGSTOP)?;
            // SAFETY: kill(2) on the VRRP child of the keepalived we started.
            if unsafe { libc::kill(child, libc::SIGKILL) } != 0 {
                bail!("kill {child}: {}", std::io::Error::last_os_error());
            }
        }
        self.proc.signal(libc::SIGKILL)?;
        self.proc.wait_timeout(Duration::from_secs(5));
        Ok(())
    }

    /// Clean stop (SIGTERM): priority 0 advert, VIPs removed.
    pub fn term(&mut self) -> Result<()> {
        self.proc.signal(libc::SIGTERM)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One advert seen on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Kernel capture time, seconds since the epoch.
    pub t: f64,
    pub src: IpAddr,
    pub version: u8,
    pub prio: u8,
    /// As tcpdump prints it: `1s`, `50cs`.
    pub intvl: String,
}

/// Parse one `tcpdump -tt -n` VRRP line.
pub fn parse_line(l: &str) -> Option<Seen> {
    let mut w = l.split_whitespace();
    let t: f64 = w.next()?.parse().ok()?;
    if !matches!(w.next()?, "IP" | "IP6") {
        return None;
    }
    let src: IpAddr = w.next()?.parse().ok()?;
    let rest: Vec<&str> = w.collect();
    let version = if l.contains("VRRPv3") { 3 } else { 2 };
    let prio = rest
        .windows(2)
        .find(|p| p[0] == "prio")
        .and_then(|p| p[1].trim_end_matches(',').parse().ok())?;
    let intvl = rest
        .windows(2)
        .find(|p| p[0] == "intvl")
        .map(|p| p[1].trim_end_matches(',').to_string())
        .unwrap_or_default();
    Some(Seen {
        t,
        src,
        version,
        prio,
        intvl,
    })
}

/// tcpdump on an interface, collecting VRRP adverts as they arrive.
pub struct Capture {
    _proc: Proc,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Capture {
    pub fn start(ns: &Netns, ifname: &str) -> Result<Capture> {
        let mut c = ns.command("tcpdump");
        c.args([
            "-l",
            "-tt",
            "-n",
            "--immediate-mode",
            "-i",
            ifname,
            "ip proto 112 or ip6 proto 112",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut proc = Proc::spawn(c)?;
        let child = proc.child_mut().context("tcpdump")?;
        let out = child.stdout.take().context("stdout")?;
        let err = child.stderr.take().context("stderr")?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if let Some(s) = parse_line(&l) {
                    if let Ok(mut v) = s2.lock() {
                        v.push(s);
                    }
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for l in BufReader::new(err).lines().map_while(|l| l.ok()) {
                if l.contains("listening on") {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .context("tcpdump did not start")?;
        Ok(Capture { _proc: proc, seen })
    }

    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Wait for an advert after epoch time `after` that satisfies `pred`.
    pub fn wait_for<F: Fn(&Seen) -> bool>(
        &self,
        after: f64,
        timeout: Duration,
        pred: F,
    ) -> Option<Seen> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.all().into_iter().find(|s| s.t > after && pred(s)) {
                return Some(s);
            }
            if t0.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

pub fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A takeover as measured on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Takeover {
    /// From the kill (or SIGTERM) to the new master's first advert.
    pub since_kill: f64,
    /// From the old master's last advert (priority > 0) to the new master's first.
    pub since_last_advert: f64,
    /// From the old master's priority-0 advert (if any) to the new master's first.
    pub since_prio0: Option<f64>,
}

/// Wait until `master_ip` has just sent an advert, stop it (`kill9` or
/// `sigterm`), and time the first advert of `backup_ip` that follows.
pub fn measure_takeover(
    cap: &Capture,
    master: &mut Node,
    master_ip: impl Into<IpAddr>,
    backup_ip: impl Into<IpAddr>,
    sigterm: bool,
) -> Result<Takeover> {
    let (master_ip, backup_ip) = (master_ip.into(), backup_ip.into());
    let now = epoch();
    cap.wait_for(now, Duration::from_secs(10), |s| {
        s.src == master_ip && s.prio > 0
    })
    .context("no advert from the master before the kill")?;
    let t_kill = epoch();
    if sigterm {
        master.term()?;
    } else {
        master.kill9()?;
    }
    let take = cap
        .wait_for(t_kill, Duration::from_secs(15), |s| {
            s.src == backup_ip && s.prio > 0
        })
        .context("the backup never advertised as master")?;
    let all = cap.all();
    let last = all
        .iter()
        .filter(|s| s.src == master_ip && s.prio > 0 && s.t < take.t)
        .map(|s| s.t)
        .fold(f64::NAN, f64::max);
    let prio0 = all
        .iter()
        .filter(|s| s.src == master_ip && s.prio == 0 && s.t < take.t)
        .map(|s| s.t)
        .fold(f64::NAN, f64::max);
    Ok(Takeover {
        since_kill: take.t - t_kill,
        since_last_advert: take.t - last,
        since_prio0: (!prio0.is_nan()).then_some(take.t - prio0),
    })
}

/// Wait until the VIP is on `ns` (true) or gone (false).
pub fn vip_becomes(ns: &Netns, present: bool, timeout: Duration) -> bool {
    ns.wait_addr(IFACE, VIP, present, timeout).is_some()
}

/// Wait until the IPv6 VIP is on `ns` (true) or gone (false).
pub fn vip6_becomes(ns: &Netns, present: bool, timeout: Duration) -> bool {
    ns.wait_addr(IFACE, VIP6, present, timeout).is_some()
}
