//! Running `vrrp_script` checks: one thread per tracked script runs the command
//! every `interval` (killed, by its own PID, after `timeout`) and reports the
//! raw result; rise/fall and weights are applied by the pure machine.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Split a keepalived script line into words: whitespace separates, single and
/// double quotes group (keepalived parses `script` the same way).
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            None => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// Run `argv` once; true when it exits 0 within `timeout`.
pub fn run_once(argv: &[String], timeout: Duration, stop: &AtomicBool) -> bool {
    let Some((prog, args)) = argv.split_first() else {
        return false;
    };
    let Ok(mut child) = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.success(),
            Ok(None) if t0.elapsed() < timeout && !stop.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                // Timed out (keepalived counts this as a failure) or stopping.
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Start a checker thread: sends `(index, success)` after every run.
pub fn spawn_checker<F>(
    index: usize,
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    tx: Sender<(usize, bool)>,
    wake: F,
) -> std::io::Result<JoinHandle<()>>
where
    F: Fn() + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("vrrp-script-{index}"))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let ok = run_once(&argv, timeout, &stop);
                if stop.load(Ordering::Relaxed) || tx.send((index, ok)).is_err() {
                    return;
                }
                wake();
                while t0.elapsed() < interval && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10).min(interval));
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(split_words("/bin/true"), vec!["/bin/true"]);
        assert_eq!(
            split_words("  /bin/sh -c 'exit 1' \"a b\"c "),
            vec!["/bin/sh", "-c", "exit 1", "a bc"]
        );
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn exit_status_and_timeout() {
        let stop = AtomicBool::new(false);
        let sh = |s: &str| vec!["/bin/sh".to_string(), "-c".into(), s.into()];
        assert!(run_once(&sh("exit 0"), Duration::from_secs(5), &stop));
        assert!(!run_once(&sh("exit 3"), Duration::from_secs(5), &stop));
        let t0 = Instant::now();
        assert!(!run_once(&sh("sleep 5"), Duration::from_millis(100), &stop));
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(!run_once(
            &["/nonexistent/x".into()],
            Duration::from_secs(1),
            &stop
        ));
    }
}
