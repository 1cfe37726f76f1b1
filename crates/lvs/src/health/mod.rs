//! Health-check scheduling per real server, pure (keepalived's checker loop):
//! a check every `delay_loop`; a failure is retried `retry` times spaced by
//! `delay_before_retry`; then the server goes down (weight 0 in IPVS). The
//! first success brings it back up. Servers start up (keepalived without
//! `alpha`). Facts: keepalived check/check_tcp.c, check_http.c (retry_it).

use std::time::Duration;

use serde::Serialize;

use crate::keepalived::HealthCheck;

/// Timing of one checker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckTiming {
    pub delay_loop: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    pub connect_timeout: Duration,
}

impl CheckTiming {
    /// From a real server's checker and its virtual server's delay_loop.
    /// MISC_CHECK has no retry loop in vipwire; it gets retry 0. FILE_CHECK
    /// has no timing (keepalived reads the file when it changes).
    pub fn from_config(check: &HealthCheck, delay_loop: f64) -> CheckTiming {
        let secs = |f: f64| Duration::from_secs_f64(f.max(0.0));
        let (retry, dbr, ct) = match (check.retry_timing(), check) {
            (Some(t), _) => t,
            (None, HealthCheck::Misc { timeout, .. }) => (0, 0.0, *timeout),
            (None, _) => (0, 0.0, 0.0),
        };
        CheckTiming {
            delay_loop: secs(delay_loop),
            retry,
            delay_before_retry: secs(dbr),
            connect_timeout: secs(ct),
        }
    }
}

/// A state change to apply to the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Transition {
    Up,
    Down,
}

/// One real server's checker state.
#[derive(Debug, Clone, PartialEq)]
pub struct Checker {
    pub timing: CheckTiming,
    up: bool,
    retry_it: u32,
    next_due: Duration,
    running: bool,
    /// Checks done (for status output).
    pub checks: u64,
    pub failures: u64,
}

impl Checker {
    /// A checker whose first check is due at `now`.
    pub fn new(timing: CheckTiming, now: Duration) -> Checker {
        Checker {
            timing,
            up: true,
            retry_it: 0,
            next_due: now,
            running: false,
            checks: 0,
            failures: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// When the next check should start (meaningless while one runs).
    pub fn next_due(&self) -> Duration {
        self.next_due
    }

    /// Start a check if one is due; true means: run it now and report with
    /// [`Checker::finish`].
    pub fn poll(&mut self, now: Duration) -> bool {
        if self.running || now < self.next_due {
            return false;
        }
        self.running = true;
        true
    }

    /// The result of the check started by `poll`.
    pub fn finish(&mut self, now: Duration, ok: bool) -> Option<Transition> {
        self.running = false;
        self.checks += 1;
        if ok {
            self.retry_it = 0;
            self.next_due = now + self.timing.delay_loop;
            if !self.up {
                self.up = true;
                return Some(Transition::Up);
            }
            return None;
        }
        self.failures += 1;
        if self.up && self.retry_it < self.timing.retry {
            self.retry_it += 1;
            self.next_due = now + self.timing.delay_before_retry;
            return None;
        }
        self.retry_it = 0;
        self.next_due = now + self.timing.delay_loop;
        if self.up {
            self.up = false;
            return Some(Transition::Down);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn timing(retry: u32) -> CheckTiming {
        CheckTiming {
            delay_loop: s(6),
            retry,
            delay_before_retry: s(2),
            connect_timeout: s(3),
        }
    }

    #[test]
    fn schedule_every_delay_loop() {
        let mut c = Checker::new(timing(1), s(0));
        assert!(c.poll(s(0)));
        assert!(!c.poll(s(0)), "one check at a time");
        assert_eq!(c.finish(s(1), true), None);
        assert!(!c.poll(s(6)));
        assert!(c.poll(s(7)));
        assert_eq!(c.next_due(), s(7));
    }

    #[test]
    fn retries_then_down_then_first_success_up() {
        let mut c = Checker::new(timing(2), s(0));
        c.poll(s(0));
        assert_eq!(c.finish(s(0), false), None);
        assert_eq!(c.next_due(), s(2));
        c.poll(s(2));
        assert_eq!(c.finish(s(2), false), None);
        assert_eq!(c.next_due(), s(4));
        c.poll(s(4));
        assert_eq!(c.finish(s(4), false), Some(Transition::Down));
        assert!(!c.is_up());
        assert_eq!(c.next_due(), s(10));
        // While down: no retries, one check per delay_loop, no repeated event.
        c.poll(s(10));
        assert_eq!(c.finish(s(10), false), None);
        assert_eq!(c.next_due(), s(16));
        c.poll(s(16));
        assert_eq!(c.finish(s(16), true), Some(Transition::Up));
        assert!(c.is_up());
        assert_eq!((c.checks, c.failures), (5, 4));
    }

    #[test]
    fn a_success_resets_the_retry_count() {
        let mut c = Checker::new(timing(1), s(0));
        c.poll(s(0));
        c.finish(s(0), false);
        c.poll(s(2));
        c.finish(s(2), true);
        c.poll(s(8));
        assert_eq!(c.finish(s(8), false), None, "retry budget is fresh");
        c.poll(s(10));
        assert_eq!(c.finish(s(10), false), Some(Transition::Down));
    }

    #[test]
    fn retry_zero_goes_down_at_once() {
        let mut c = Checker::new(timing(0), s(0));
        c.poll(s(0));
        assert_eq!(c.finish(s(0), false), Some(Transition::Down));
    }

    #[test]
    fn timing_from_keepalived_defaults() {
        let t = CheckTiming::from_config(
            &HealthCheck::Tcp {
                connect_ip: None,
                connect_port: None,
                connect_timeout: 5.0,
                retry: 1,
                delay_before_retry: 1.0,
            },
            60.0,
        );
        assert_eq!(t.delay_loop, s(60));
        assert_eq!(
            (t.retry, t.delay_before_retry, t.connect_timeout),
            (1, s(1), s(5))
        );
    }
}
