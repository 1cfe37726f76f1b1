//! A UDP service inside a namespace that answers every datagram with its
//! host's name (from the address the query was sent to, as a DNS server bound
//! to the VIP does), and the one-shot query a client sends it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::Netns;
use crate::topo::{enter, spawn_in};

/// A UDP server bound to `addr` in a namespace; stopped on drop.
pub struct UdpNameServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpNameServer {
    /// Bind `addr` in `ns` (set `net.ipv4.ip_nonlocal_bind=1` there first to
    /// bind a VIP the host does not hold yet, as HAProxy setups do) and answer
    /// every datagram with `name`.
    pub fn start(ns: &Netns, addr: SocketAddr, name: &str) -> Result<UdpNameServer> {
        let name = name.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let setup = move || -> Result<UdpSocket> {
            let s = UdpSocket::bind(addr).with_context(|| format!("bind udp {addr}"))?;
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok(s)
        };
        let thread = spawn_in(ns.path(), "udp server", setup, move |s| {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                if let Ok((_, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(name.as_bytes(), from);
                }
            }
        })?;
        Ok(UdpNameServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for UdpNameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One query from inside `ns` to `to`: the answer, if one comes from `to`
/// within `timeout`.
pub fn query(ns: &Netns, to: SocketAddr, timeout: Duration) -> Result<Option<String>> {
    let path = ns.path();
    std::thread::spawn(move || -> Result<Option<String>> {
        enter(&path)?;
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(timeout))?;
        s.send_to(b"who", to)?;
        let mut buf = [0u8; 1500];
        let t0 = std::time::Instant::now();
        while t0.elapsed() < timeout {
            match s.recv_from(&mut buf) {
                Ok((n, from)) if from == to => {
                    return Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()))
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        Ok(None)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("udp query thread panicked"))?
}
