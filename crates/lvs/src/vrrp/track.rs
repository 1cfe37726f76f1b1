//! `vrrp_script` rise/fall debouncing as keepalived 2.2.7 does it
//! (vrrp_scheduler.c, vrrp_script_child_thread): a script starts neither good
//! nor bad; the first failure reports "failed" at once, success needs `rise`
//! runs in a row; once good, `fall` failures in a row report "failed".

/// The result counter of one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptDebounce {
    rise: i64,
    fall: i64,
    result: i64,
    init: bool,
}

impl ScriptDebounce {
    pub fn new(rise: u32, fall: u32) -> ScriptDebounce {
        ScriptDebounce {
            rise: i64::from(rise.max(1)),
            fall: i64::from(fall.max(1)),
            result: 0,
            init: true,
        }
    }

    /// True until the first run finished.
    pub fn in_init(&self) -> bool {
        self.init
    }

    /// Currently good (result >= rise).
    pub fn good(&self) -> bool {
        self.result >= self.rise
    }

    /// Record one run; returns `Some(new status)` when the status flips (or is
    /// first decided by a failure).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let top = self.rise + self.fall - 1;
        let mut change = None;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else if self.result != top {
                if self.result < self.rise {
                    change = Some(true);
                }
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            if self.result == self.rise || self.init {
                change = Some(false);
            }
            self.result = 0;
        }
        self.init = false;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall() {
        let mut d = ScriptDebounce::new(2, 3);
        assert_eq!(d.record(true), None);
        assert_eq!(d.record(true), Some(true));
        assert!(d.good());
        assert_eq!(d.record(false), None);
        assert_eq!(d.record(false), None);
        assert_eq!(d.record(true), None); // back to the top, still good
        assert_eq!(d.record(false), None);
        assert_eq!(d.record(false), None);
        assert_eq!(d.record(false), Some(false));
        assert!(!d.good());
        assert_eq!(d.record(false), None);
    }

    #[test]
    fn first_failure_reports_at_once() {
        let mut d = ScriptDebounce::new(3, 1);
        assert!(d.in_init());
        assert_eq!(d.record(false), Some(false));
        assert!(!d.in_init());
        assert_eq!(d.record(false), None);
        assert_eq!(d.record(true), None);
        assert_eq!(d.record(true), None);
        assert_eq!(d.record(true), Some(true));
    }

    #[test]
    fn rise_one_fall_one_flips_every_change() {
        let mut d = ScriptDebounce::new(1, 1);
        assert_eq!(d.record(true), Some(true));
        assert_eq!(d.record(true), None);
        assert_eq!(d.record(false), Some(false));
        assert_eq!(d.record(true), Some(true));
    }
}
