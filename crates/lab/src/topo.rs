//! Load-balancer topologies for the director tests and the forwarding bench:
//! one L2 segment (a bridge in its own namespace) with hosts attached, real
//! servers set up for DR, a tiny HTTP server that answers its host's name
//! (run inside a namespace by a thread that `setns`es into it), and the
//! `vipwire` binary.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::netns::{bridge, veth, Netns};

/// Path of a freshly built `vipwire` binary (`cargo build -p vipwire`, in the
/// profile the tests themselves were built with).
pub fn vipwire_bin() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let release = !cfg!(debug_assertions);
    let mut args = vec!["build", "-q", "-p", "vipwire", "--bin", "vipwire"];
    if release {
        args.push("--release");
    }
    let st = Command::new(&cargo)
        .args(&args)
        .current_dir(&root)
        .status()
        .context("cargo build -p vipwire")?;
    if !st.success() {
        bail!("cargo build -p vipwire failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join("vipwire");
    if !bin.exists() {
        bail!("{} not found after build", bin.display());
    }
    Ok(bin)
}

/// Enter `ns`'s network namespace on the calling thread.
pub fn enter(ns_path: &str) -> Result<()> {
    let f = std::fs::File::open(ns_path).with_context(|| format!("open {ns_path}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a namespace fd affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {ns_path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// A thread that enters the namespace at `ns_path`, runs `setup` there and then
/// `body` with what it made. Returns once `setup` has succeeded, or with its
/// error (`what` names the thread in a timeout).
pub fn spawn_in<S, B>(
    ns_path: String,
    what: &'static str,
    setup: impl FnOnce() -> Result<S> + Send + 'static,
    body: B,
) -> Result<JoinHandle<()>>
where
    B: FnOnce(S) + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || match enter(&ns_path).and_then(|()| setup()) {
        Ok(made) => {
            let _ = tx.send(Ok(()));
            body(made)
        }
        Err(e) => {
            let _ = tx.send(Err(e));
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .with_context(|| format!("{what} start"))??;
    Ok(thread)
}

/// A minimal HTTP/1.0 server inside a namespace that answers every request
/// with `body` (`GET /big`: 200 000 bytes of `x`, then `body`); stopped
/// (listener closed) on drop or [`HttpServer::stop`].
pub struct HttpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(ns: &Netns, port: u16, body: &str) -> Result<HttpServer> {
        let path = ns.path();
        let body = body.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let setup = move || -> Result<TcpListener> {
            // [::] takes IPv4 too (v6only is off by default); 0.0.0.0 where
            // IPv6 is disabled.
            let l = TcpListener::bind(("::", port))
                .or_else(|_| TcpListener::bind(("0.0.0.0", port)))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let thread = spawn_in(path, "http server", setup, move |l| {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        // `/big`: 200 000 bytes then the name (segments larger
                        // than the MSS for TSO/GSO paths).
                        let text = if got.starts_with(b"GET /big") {
                            format!("{}{}", "x".repeat(200_000), body)
                        } else {
                            body.clone()
                        };
                        let resp = format!(
                            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{}",
                            text.len() + 1,
                            text
                        );
                        let _ = s.write_all(resp.as_bytes());
                        let _ = s.write_all(b"\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })?;
        Ok(HttpServer {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One Ethernet segment: a bridge `br0` in namespace `<prefix>sw`, hosts
/// attached with their `eth0`.
pub struct Lan {
    pub sw: Netns,
    prefix: String,
    ports: usize,
}

impl Lan {
    pub fn new(prefix: &str) -> Result<Lan> {
        let sw = Netns::new(&format!("{prefix}sw"))?;
        bridge(&sw, "br0", &[])?;
        Ok(Lan {
            sw,
            prefix: prefix.to_string(),
            ports: 0,
        })
    }

    /// A new host namespace `<prefix><name>` with `eth0` on the segment and
    /// the given addresses (`ADDR/LEN`, IPv4 or IPv6). IPv6 duplicate address
    /// detection is off in the namespace (set before `eth0` arrives), so
    /// IPv6 addresses are usable at once rather than tentative for a second.
    pub fn host(&mut self, name: &str, addrs: &[&str]) -> Result<Netns> {
        let ns = Netns::new(&format!("{}{name}", self.prefix))?;
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        self.ports += 1;
        let port = format!("p{}", self.ports);
        veth(&ns, "eth0", &self.sw, &port)?;
        self.sw
            .exec(&["ip", "link", "set", &port, "master", "br0"])?;
        for a in addrs {
            ns.addr("eth0", a)?;
        }
        Ok(ns)
    }
}

/// DR real server settings: VIP/32 on lo, arp_ignore=1, arp_announce=2.
pub fn dr_real_server(ns: &Netns, vip: &str) -> Result<()> {
    for k in ["all", "eth0"] {
        ns.sysctl(&format!("net.ipv4.conf.{k}.arp_ignore"), "1")?;
        ns.sysctl(&format!("net.ipv4.conf.{k}.arp_announce"), "2")?;
    }
    ns.exec(&["ip", "addr", "add", &format!("{vip}/32"), "dev", "lo"])?;
    Ok(())
}

/// DR real server settings for an IPv6 VIP: VIP/128 on lo. IPv6 needs no
/// arp_ignore: Linux answers neighbour solicitations only for addresses on
/// the interface they arrive on (ndisc_recv_ns), not for lo's.
pub fn dr_real_server6(ns: &Netns, vip: &str) -> Result<()> {
    ns.exec(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{vip}/128"),
        "dev",
        "lo",
    ])?;
    Ok(())
}

/// `curl -s` from `ns`; Ok(body) on success.
pub fn curl(ns: &Netns, url: &str, max_time: u32) -> Result<String> {
    let out = ns.exec_output(&["curl", "-s", "--max-time", &max_time.to_string(), url])?;
    if !out.status.success() {
        bail!(
            "curl {url} from {}: exit {:?}",
            ns.name(),
            out.status.code()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Retry `f` every 100 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t0.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start `vipwire director -f conf --socket sock [extra]` in `ns`, stderr to `log`.
pub fn start_director(
    bin: &std::path::Path,
    ns: &Netns,
    conf: &std::path::Path,
    sock: &std::path::Path,
    log: &std::path::Path,
    extra: &[&str],
) -> Result<crate::netns::Proc> {
    let mut c = ns.command(bin);
    c.arg("director")
        .arg("-f")
        .arg(conf)
        .arg("--socket")
        .arg(sock)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?);
    crate::netns::Proc::spawn(c)
}

/// Write `conf_text` to `dir/{name}.conf` and start the director on it in
/// `ns` (socket `dir/{name}.sock`, log `dir/{name}.log`, `extra` arguments);
/// returned with its socket once its status says it is forwarding, or an
/// error ("director not up") after `timeout`.
pub fn start_forwarding_director(
    bin: &std::path::Path,
    ns: &Netns,
    dir: &std::path::Path,
    name: &str,
    conf_text: &str,
    extra: &[&str],
    timeout: Duration,
) -> Result<(crate::netns::Proc, PathBuf)> {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, conf_text)?;
    let sock = dir.join(format!("{name}.sock"));
    let log = dir.join(format!("{name}.log"));
    let d = start_director(bin, ns, &conf, &sock, &log, extra)?;
    wait_for(timeout, || {
        let s = director_status(bin, &sock).ok()?;
        let s: serde_json::Value = serde_json::from_str(&s).ok()?;
        (s["forwarding"] == true).then_some(())
    })
    .context("director not up")?;
    Ok((d, sock))
}

/// `vipwire director status --format json` of the director at `sock`.
pub fn director_status(bin: &std::path::Path, sock: &std::path::Path) -> Result<String> {
    let out = Command::new(bin)
        .args(["director", "status", "--format", "json", "--socket"])
        .arg(sock)
        .output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every `*.log` file in `dir`, each under a `--- path` header (for failure dumps).
pub fn log_files(dir: &std::path::Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                out.push_str(&format!(
                    "--- {}\n{}\n",
                    e.path().display(),
                    std::fs::read_to_string(e.path()).unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// Run `f` in a fresh scratch directory `$TMPDIR/vw-{name}{pid}`; on failure
/// print `logs(dir)` first. The directory is removed either way.
pub fn in_scratch_dir(
    name: &str,
    logs: impl FnOnce(&std::path::Path) -> String,
    f: impl FnOnce(&std::path::Path) -> Result<()>,
) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("vw-{name}{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let r = f(&dir);
    if r.is_err() {
        eprintln!("{}", logs(&dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
    r
}
