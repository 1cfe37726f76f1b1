//! Progress on stderr while the cloud is read.
//!
//! On a terminal, once reading has taken more than a second, one line is kept
//! up to date in place (`reading cloud "prod": 12 calls, 2040 objects, 1.8 s:
//! GET .../ports`) and erased when done. Not on a terminal (CI logs, pipes),
//! nothing is drawn. Either way the caller prints one summary line at the end
//! ([`Progress::summary`]); retries are always noted on their own line.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The progress of reading one cloud.
#[derive(Debug)]
pub struct Progress {
    cloud: String,
    started: Instant,
    live: bool,
    drawn: bool,
    pub calls: u32,
    pub objects: usize,
}

impl Progress {
    /// Draws a live line only when `live` (pass [`Progress::stderr_is_terminal`]).
    pub fn new(cloud: &str, live: bool) -> Progress {
        Progress {
            cloud: cloud.to_string(),
            started: Instant::now(),
            live,
            drawn: false,
            calls: 0,
            objects: 0,
        }
    }

    pub fn stderr_is_terminal() -> bool {
        std::io::stderr().is_terminal()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A request is about to be sent.
    pub fn calling(&mut self, url: &str) {
        self.calls += 1;
        if self.live && self.started.elapsed() > Duration::from_secs(1) {
            let short: String = url
                .split('?')
                .next()
                .unwrap_or(url)
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/");
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2Kreading cloud \"{}\": {} calls, {} objects, {:.1} s: .../{short}",
                self.cloud,
                self.calls,
                self.objects,
                self.started.elapsed().as_secs_f64()
            );
            let _ = err.flush();
            self.drawn = true;
        }
    }

    /// Objects received.
    pub fn received(&mut self, n: usize) {
        self.objects += n;
    }

    /// A line of its own (a retry), above the live line.
    pub fn note(&mut self, line: &str) {
        self.clear();
        eprintln!("vipwire: {line}");
    }

    /// Erases the live line.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    /// `read cloud "prod": 14 API calls, 23 objects in 0.4 s`.
    pub fn summary(&self) -> String {
        format!(
            "read cloud \"{}\": {} API calls, {} objects in {:.2} s",
            self.cloud,
            self.calls,
            self.objects,
            self.started.elapsed().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let mut p = Progress::new("c", false);
        p.calling("http://n/v2.0/ports?limit=2");
        p.received(2);
        p.calling("http://n/v2.0/ports?marker=x");
        p.received(1);
        assert!(p
            .summary()
            .starts_with("read cloud \"c\": 2 API calls, 3 objects in "));
    }
}
