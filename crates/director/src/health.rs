//! Health checks on the wire: TCP_CHECK (a connect within connect_timeout),
//! HTTP_GET (the status code of `GET path`, keepalived's default 200-299) and
//! MISC_CHECK (a command's exit status). One thread per real server runs the
//! pure [`lvs::health::Checker`] and sets the server's weight (0 when down).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lvs::health::{CheckTiming, Checker, Transition};
use lvs::keepalived::HealthCheck;
use serde::{Deserialize, Serialize};

use crate::Shared;

/// What the status shows about one real server's checker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    pub kind: String,
    pub up: bool,
    pub checks: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

/// Run one check now. Err carries why it failed.
pub fn check_once(
    check: &HealthCheck,
    rs: IpAddr,
    rs_port: u16,
    timeout: Duration,
) -> Result<(), String> {
    let timeout = timeout.max(Duration::from_millis(10));
    match check {
        HealthCheck::Tcp { connect_port, .. } => {
            let addr = SocketAddr::new(rs, connect_port.unwrap_or(rs_port));
            TcpStream::connect_timeout(&addr, timeout)
                .map(|_| ())
                .map_err(|e| format!("connect {addr}: {e}"))
        }
        HealthCheck::HttpGet {
            urls, connect_port, ..
        } => {
            let addr = SocketAddr::new(rs, connect_port.unwrap_or(rs_port));
            for (path, want) in urls {
                let code = http_status(addr, path, timeout)?;
                let ok = match want {
                    Some(w) => code == *w,
                    None => (200..300).contains(&code),
                };
                if !ok {
                    return Err(format!("GET {path} on {addr}: status {code}"));
                }
            }
            Ok(())
        }
        HealthCheck::Misc { path, .. } => {
            let mut child = Command::new("sh")
                .args(["-c", path])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("misc_path {path}: {e}"))?;
            let t0 = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(st)) if st.success() => return Ok(()),
                    Ok(Some(st)) => return Err(format!("misc_path {path}: {st}")),
                    Ok(None) if t0.elapsed() > timeout => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("misc_path {path}: timeout"));
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => return Err(format!("misc_path {path}: {e}")),
                }
            }
        }
        // Director-mode configurations carry only the three kinds above.
        other => Err(format!("{} is not run by the director", other.kind_name())),
    }
}

/// Status code of `GET path` (HTTP/1.0, as keepalived's checker sends it).
pub fn http_status(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    // SocketAddr prints `[v6]:port`, the Host form RFC 3986 wants for IPv6.
    let req =
        format!("GET {path} HTTP/1.0\r\nUser-Agent: vipwire-director\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read from {addr}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("bad HTTP status line from {addr}: {line:?}")),
    }
}

/// Start one checker thread per real server with a check. Logs transitions
/// to stderr like keepalived's `--log-console`.
pub fn spawn_checkers(
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    let cfgs: Vec<(usize, usize, HealthCheck, f64, IpAddr, u16)> = shared
        .config
        .virtual_servers
        .iter()
        .enumerate()
        .flat_map(|(si, vs)| {
            vs.real_servers
                .iter()
                .enumerate()
                .filter_map(move |(di, rs)| {
                    // Director mode allows one checker per real server.
                    rs.checks
                        .first()
                        .cloned()
                        .map(|c| (si, di, c, vs.delay_loop, rs.addr, rs.port))
                })
        })
        .collect();
    for (si, di, check, delay_loop, addr, port) in cfgs {
        let shared = Arc::clone(shared);
        let stop = Arc::clone(stop);
        {
            let mut h = lock(&shared.health);
            h.insert(
                (si, di),
                HealthState {
                    kind: check.kind_name().into(),
                    up: true,
                    ..Default::default()
                },
            );
        }
        handles.push(std::thread::spawn(move || {
            let timing = CheckTiming::from_config(&check, delay_loop);
            let epoch = Instant::now();
            let mut checker = Checker::new(timing, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                if checker.poll(epoch.elapsed()) {
                    let r = check_once(&check, addr, port, timing.connect_timeout);
                    let t = checker.finish(epoch.elapsed(), r.is_ok());
                    if let Some(t) = t {
                        let up = t == Transition::Up;
                        eprintln!(
                            "{} check on service [{addr}]:{port}: {} {}",
                            check.kind_name(),
                            if up {
                                "success, adding"
                            } else {
                                "failed, removing (weight 0)"
                            },
                            r.as_ref().err().cloned().unwrap_or_default()
                        );
                        if let Some(svc) = lock(&shared.services).get_mut(si) {
                            svc.set_up(di, up);
                        }
                    }
                    let mut h = lock(&shared.health);
                    if let Some(st) = h.get_mut(&(si, di)) {
                        st.up = checker.is_up();
                        st.checks = checker.checks;
                        st.failures = checker.failures;
                        st.last_error = r.err();
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    handles
}

/// Lock a mutex, recovering the data if a holder panicked.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    fn serve_once(status: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            s.write_all(format!("HTTP/1.0 {status}\r\n\r\nbody").as_bytes())
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, h)
    }

    fn http(want: Option<u16>) -> HealthCheck {
        HealthCheck::HttpGet {
            urls: vec![("/health".into(), want)],
            connect_ip: None,
            connect_port: None,
            connect_timeout: 1.0,
            retry: 1,
            delay_before_retry: 1.0,
        }
    }

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn http_get_over_ipv6_brackets_the_host() {
        let Ok(l) = TcpListener::bind("[::1]:0") else {
            eprintln!("SKIP http_get_over_ipv6_brackets_the_host: no IPv6 loopback");
            return;
        };
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let lo6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        assert_eq!(
            check_once(&http(None), lo6, port, Duration::from_secs(1)),
            Ok(())
        );
        let req = h.join().unwrap();
        assert!(req.contains(&format!("Host: [::1]:{port}\r\n")), "{req}");
    }

    #[test]
    fn http_get_status_codes() {
        let (port, h) = serve_once("200 OK");
        assert_eq!(
            check_once(&http(None), LO, port, Duration::from_secs(1)),
            Ok(())
        );
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /health HTTP/1.0\r\n"), "{req}");
        let (port, h) = serve_once("503 Unavailable");
        let r = check_once(&http(None), LO, port, Duration::from_secs(1));
        assert!(r.unwrap_err().contains("status 503"));
        h.join().unwrap();
        let (port, h) = serve_once("503 Unavailable");
        assert_eq!(
            check_once(&http(Some(503)), LO, port, Duration::from_secs(1)),
            Ok(())
        );
        h.join().unwrap();
    }

    #[test]
    fn tcp_check_connect_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let tcp = HealthCheck::Tcp {
            connect_ip: None,
            connect_port: None,
            connect_timeout: 1.0,
            retry: 1,
            delay_before_retry: 1.0,
        };
        assert_eq!(check_once(&tcp, LO, port, Duration::from_secs(1)), Ok(()));
        drop(l);
        // A freed port may be taken at once by a parallel test (or by our own
        // connect as its source port), so the refused case uses a port that is
        // bound but not listening: the kernel answers a SYN to it with RST.
        let (_held, closed_port) = bound_not_listening();
        let r = check_once(&tcp, LO, closed_port, Duration::from_secs(1));
        assert!(r.is_err(), "{r:?}");
    }

    /// A TCP socket bound to 127.0.0.1 with an ephemeral port, never listening.
    fn bound_not_listening() -> (std::os::fd::OwnedFd, u16) {
        use crate::sys::socket;
        use std::os::fd::AsRawFd;
        let fd = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        socket::bind(fd.as_raw_fd(), &socket::sockaddr_in(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let (_, port) = socket::local_addr_in(fd.as_raw_fd()).unwrap();
        (fd, port)
    }

    #[test]
    fn misc_check_exit_status() {
        let ok = HealthCheck::Misc {
            path: "true".into(),
            timeout: 2.0,
        };
        let bad = HealthCheck::Misc {
            path: "exit 3".into(),
            timeout: 2.0,
        };
        assert!(check_once(&ok, LO, 0, Duration::from_secs(2)).is_ok());
        assert!(check_once(&bad, LO, 0, Duration::from_secs(2)).is_err());
    }
}
