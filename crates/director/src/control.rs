//! Control socket: a unix stream socket; each connection gets the status as
//! one JSON document and is closed. `vipwire director status` is the client.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::status::Status;

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/vipwire-director.sock";

/// Serve `status()` on `path` until `stop`; removes the socket file at the end.
pub fn serve<F>(
    path: PathBuf,
    stop: Arc<AtomicBool>,
    status: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: Fn() -> Status + Send + 'static,
{
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path)?;
    l.set_nonblocking(true)?;
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                    if let Ok(j) = serde_json::to_vec(&status()) {
                        let _ = s.write_all(&j);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

/// Read a running director's status from its control socket.
pub fn query(path: &Path) -> Result<Status, String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "control socket {}: {e} (is the director running?)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    serde_json::from_slice(&buf)
        .map_err(|e| format!("control socket {}: bad status: {e}", path.display()))
}
