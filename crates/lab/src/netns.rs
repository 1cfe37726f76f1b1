//! Network-namespace helpers for lab tests: named namespaces (always `vw-` prefixed)
//! deleted on drop, veth pairs, bridges, commands run inside, and child processes
//! killed by their own PID on drop.
//!
//! Everything shells out to `ip` (iproute2); namespaces are the named kind under
//! /run/netns, so `ip netns exec` and `nsenter --net=/run/netns/NAME` both work.

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Prefix every lab namespace carries, so a leftover is easy to spot and remove.
pub const PREFIX: &str = "vw-";

/// True when the process runs as root (needed for namespaces).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when `prog` is found on PATH (or is an existing path).
pub fn have(prog: &str) -> bool {
    if prog.contains('/') {
        return std::path::Path::new(prog).exists();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(prog).is_file())
}

/// For tests: returns `true` (and prints a visible SKIP line) when the test cannot
/// run here because it is not root or one of `progs` is missing.
pub fn skip_unless(test: &str, progs: &[&str]) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: needs root (network namespaces)");
        return true;
    }
    for p in progs {
        if !have(p) {
            eprintln!("SKIP {test}: `{p}` not installed");
            return true;
        }
    }
    false
}

/// Run a command on the host; error (with stderr) on non-zero exit. Returns stdout.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Result<String> {
    let out = output(args)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            show(args),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn output<S: AsRef<OsStr>>(args: &[S]) -> Result<Output> {
    let (prog, rest) = args.split_first().context("empty command")?;
    Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawning `{}`", show(args)))
}

fn show<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A named network namespace, deleted (with every process still in it that this
/// guard spawned) when dropped, also while a test panics.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create namespace `name` (prefixed with `vw-` unless it already is), with `lo` up.
    /// A stale namespace of the same name (from a crashed run) is deleted first.
    pub fn new(name: &str) -> Result<Netns> {
        let name = if name.starts_with(PREFIX) {
            name.to_string()
        } else {
            format!("{PREFIX}{name}")
        };
        if name.len() > 64 || name.contains('/') {
            bail!("bad namespace name {name:?}");
        }
        let _ = output(&["ip", "netns", "del", &name]);
        run(&["ip", "netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `setns` or `nsenter --net=`.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// A `Command` that runs `prog` inside the namespace (via `ip netns exec`, which
    /// execs in place: the child's PID is the program's PID).
    pub fn command<S: AsRef<OsStr>>(&self, prog: S) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// Run `args` inside the namespace; error (with stderr) on non-zero exit.
    /// Returns stdout.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        let out = self.exec_output(args)?;
        if !out.status.success() {
            bail!(
                "[{}] `{}` failed ({}): {}",
                self.name,
                show(args),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run `args` inside the namespace and return its full output, whatever the status.
    pub fn exec_output<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output> {
        let (prog, rest) = args.split_first().context("empty command")?;
        self.command(prog)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("[{}] spawning `{}`", self.name, show(args)))
    }

    /// Run a shell snippet inside the namespace (`sh -c`), error on non-zero exit.
    pub fn sh(&self, script: &str) -> Result<String> {
        self.exec(&["sh", "-c", script])
    }

    /// Start `args` inside the namespace in the background. The returned guard kills
    /// the process (SIGKILL, by its PID) and reaps it when dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Proc> {
        let (prog, rest) = args.split_first().context("empty command")?;
        let mut c = self.command(prog);
        c.args(rest).stdin(Stdio::null());
        Proc::spawn(c).with_context(|| format!("[{}] `{}`", self.name, show(args)))
    }

    /// Set an interface's address (`ADDR/LEN`) and bring it up.
    pub fn addr(&self, ifname: &str, cidr: &str) -> Result<()> {
        self.exec(&["ip", "addr", "add", cidr, "dev", ifname])?;
        self.exec(&["ip", "link", "set", ifname, "up"])?;
        Ok(())
    }

    /// Write a sysctl inside the namespace (`net.ipv4.conf.all.arp_ignore`, "1").
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")])?;
        Ok(())
    }

    /// IPv4 addresses (without prefix length) currently on `ifname`.
    pub fn ipv4_addrs(&self, ifname: &str) -> Result<Vec<String>> {
        let out = self.exec(&["ip", "-o", "-4", "addr", "show", "dev", ifname])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.find(|w| *w == "inet")?;
                it.next()
                    .map(|a| a.split('/').next().unwrap_or(a).to_string())
            })
            .collect())
    }

    /// IPv6 addresses (without prefix length) currently on `ifname`.
    pub fn ipv6_addrs(&self, ifname: &str) -> Result<Vec<String>> {
        let out = self.exec(&["ip", "-o", "-6", "addr", "show", "dev", ifname])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.find(|w| *w == "inet6")?;
                it.next()
                    .map(|a| a.split('/').next().unwrap_or(a).to_string())
            })
            .collect())
    }

    /// True when `ip` (no prefix; IPv4, or IPv6 as `ip` prints it) is on `ifname`.
    pub fn has_addr(&self, ifname: &str, ip: &str) -> bool {
        let addrs = if ip.contains(':') {
            self.ipv6_addrs(ifname)
        } else {
            self.ipv4_addrs(ifname)
        };
        addrs.map(|v| v.iter().any(|a| a == ip)).unwrap_or(false)
    }

    /// Poll `has_addr(ifname, ip) == present` every 5 ms; returns the time it took,
    /// or `None` on timeout.
    pub fn wait_addr(
        &self,
        ifname: &str,
        ip: &str,
        present: bool,
        timeout: Duration,
    ) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.has_addr(ifname, ip) == present {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes we spawned are killed by their own guards (dropped first when
        // declared after the namespace); deleting the name is all that is left.
        let _ = output(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth pair: `a_if` in namespace `a`, `b_if` in namespace `b`, both up.
/// The pair is removed with either namespace.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    // Create with temporary host-side names then move: avoids clashes on the host.
    let tmp_a = tmp_ifname();
    let tmp_b = tmp_ifname();
    run(&[
        "ip", "link", "add", &tmp_a, "type", "veth", "peer", "name", &tmp_b,
    ])?;
    let moved = (|| -> Result<()> {
        run(&["ip", "link", "set", &tmp_a, "netns", a.name(), "name", a_if])?;
        run(&["ip", "link", "set", &tmp_b, "netns", b.name(), "name", b_if])?;
        a.exec(&["ip", "link", "set", a_if, "up"])?;
        b.exec(&["ip", "link", "set", b_if, "up"])?;
        Ok(())
    })();
    if moved.is_err() {
        let _ = output(&["ip", "link", "del", &tmp_a]);
    }
    moved
}

/// A Linux bridge `br` inside `ns`, up, with `ports` (interfaces already in `ns`)
/// enslaved and up. STP off, forward delay 0, so ports forward at once.
pub fn bridge(ns: &Netns, br: &str, ports: &[&str]) -> Result<()> {
    ns.exec(&[
        "ip",
        "link",
        "add",
        br,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ])?;
    // Multicast snooping would hide 224.0.0.18 from ports that never sent IGMP.
    ns.exec(&[
        "ip",
        "link",
        "set",
        br,
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ])?;
    ns.exec(&["ip", "link", "set", br, "up"])?;
    for p in ports {
        ns.exec(&["ip", "link", "set", p, "master", br])?;
        ns.exec(&["ip", "link", "set", p, "up"])?;
    }
    Ok(())
}

fn tmp_ifname() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // IFNAMSIZ is 16 including NUL.
    format!("vwt{}x{}", std::process::id() % 100_000, n % 10_000)
}

/// A child process started by the lab; SIGKILLed (by its PID only) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// Spawn `cmd` and guard it.
    pub fn spawn(mut cmd: Command) -> Result<Proc> {
        let child = cmd.spawn().context("spawn")?;
        Ok(Proc { child: Some(child) })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Send `sig` (e.g. `libc::SIGTERM`, `libc::SIGKILL`) to this process.
    pub fn signal(&self, sig: i32) -> Result<()> {
        let pid = self.pid();
        if pid == 0 {
            bail!("process already reaped");
        }
        // SAFETY: kill(2) on a PID we spawned and have not reaped yet (still ours).
        if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Wait up to `timeout` for exit; returns the exit status if it exited.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        let c = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if t0.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL and reap now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// Access the std child (stdout/stderr pipes, if you set them).
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP to a closed port: "refused" (curl exit 7) proves the host answered.
    fn reachable(ns: &Netns, ip: &str) -> Result<bool> {
        let url = format!("http://{ip}:9/");
        let out = ns.exec_output(&["curl", "-s", "--max-time", "1", &url])?;
        Ok(out.status.code() == Some(7))
    }

    #[test]
    fn veth_between_namespaces_connects() -> Result<()> {
        if skip_unless("veth_between_namespaces_connects", &["ip", "curl"]) {
            return Ok(());
        }
        let a = Netns::new(&format!("nt-a{}", std::process::id()))?;
        let b = Netns::new(&format!("nt-b{}", std::process::id()))?;
        veth(&a, "eth0", &b, "eth0")?;
        a.addr("eth0", "203.0.113.1/24")?;
        b.addr("eth0", "203.0.113.2/24")?;
        assert!(reachable(&a, "203.0.113.2")?);
        assert_eq!(b.ipv4_addrs("eth0")?, vec!["203.0.113.2".to_string()]);
        assert!(!reachable(&a, "203.0.113.9")?);
        let name = a.name().to_string();
        drop(a);
        assert!(!run(&["ip", "netns", "list"])?.contains(&name));
        Ok(())
    }

    #[test]
    fn bridge_joins_three_namespaces() -> Result<()> {
        if skip_unless("bridge_joins_three_namespaces", &["ip", "curl"]) {
            return Ok(());
        }
        let id = std::process::id();
        let sw = Netns::new(&format!("nt-sw{id}"))?;
        let a = Netns::new(&format!("nt-x{id}"))?;
        let b = Netns::new(&format!("nt-y{id}"))?;
        veth(&a, "eth0", &sw, "pa")?;
        veth(&b, "eth0", &sw, "pb")?;
        bridge(&sw, "br0", &["pa", "pb"])?;
        a.addr("eth0", "198.51.100.1/24")?;
        b.addr("eth0", "198.51.100.2/24")?;
        assert!(reachable(&a, "198.51.100.2")?);
        let mut p = b.spawn(&["sleep", "30"])?;
        assert!(p.running());
        p.signal(libc::SIGKILL)?;
        assert!(p.wait_timeout(Duration::from_secs(2)).is_some());
        Ok(())
    }
}
