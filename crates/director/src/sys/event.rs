//! Waiting: poll(2)/ppoll(2), a self-pipe other threads use to wake a poll
//! loop, a timerfd for sub-millisecond VRRP deadlines, and the SIGTERM /
//! SIGINT handler that stops the director.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::cvt;

/// poll(2) on one descriptor. Returns the number of ready descriptors (0 on
/// timeout); EINTR comes back as an error of kind `Interrupted`.
pub fn poll_one(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<usize> {
    poll_ms(
        &[fd],
        events,
        timeout.as_millis().min(i32::MAX as u128) as libc::c_int,
    )
    .map(|r| r.iter().filter(|&&x| x).count())
}

/// poll(2) on `fds` for `events`, `timeout_ms` as poll takes it (-1: no
/// timeout); which descriptors have events. EINTR is an error of kind
/// `Interrupted`.
pub fn poll_ms(fds: &[RawFd], events: libc::c_short, timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a live array of pollfd of the length we pass.
    cvt(unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) })?;
    Ok(p.iter().map(|x| x.revents != 0).collect())
}

/// ppoll(2) on `fds` for input (microsecond deadlines, not poll's
/// milliseconds); returns which are readable. EINTR reads as "none".
pub fn poll_in(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `p` is a live array of pollfd; `tsp` is null or points to `ts`;
    // no signal mask is passed.
    let r = unsafe {
        libc::ppoll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            tsp,
            std::ptr::null(),
        )
    };
    if let Err(e) = cvt(r) {
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents != 0).collect())
}

/// read(2) into `buf`; errors (EAGAIN on an empty non-blocking descriptor)
/// come back as such.
fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is writable for its length.
    super::cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// A self-pipe: other threads `wake()` a poll loop.
pub struct Waker {
    rd: OwnedFd,
    wr: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills the two-element array.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: both descriptors are fresh and ours.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Waker { rd, wr })
    }

    pub fn wake(&self) {
        // SAFETY: one byte from a live buffer; a full pipe already means "wake".
        unsafe { libc::write(self.wr.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }

    pub fn fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    pub fn drain(&self) {
        let mut b = [0u8; 64];
        while read(self.rd.as_raw_fd(), &mut b).is_ok_and(|n| n > 0) {}
    }
}

/// A timerfd on CLOCK_MONOTONIC. poll/ppoll timeouts get a slack of 0.1% of
/// the timeout (kernel fs/select.c, select_estimate_accuracy: 3.6 ms late on a
/// 3.6 s Master_Down); a timerfd hrtimer only has the task's 50 us timer slack,
/// as keepalived's timerfd-driven scheduler.
pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers.
        let fd = cvt(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })?;
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Arm to fire after `after` (None: disarm). A zero delay fires at once.
    pub fn set(&self, after: Option<Duration>) -> io::Result<()> {
        let d = after.map(|d| d.max(Duration::from_nanos(1)));
        let v = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.map_or(0, |d| d.as_secs().min(i32::MAX as u64) as libc::time_t),
                tv_nsec: d.map_or(0, |d| d.subsec_nanos() as libc::c_long),
            },
        };
        // SAFETY: a live itimerspec; no old value wanted.
        cvt(unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &v, std::ptr::null_mut()) })
            .map(drop)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Consume an expiry.
    pub fn clear(&self) {
        let mut b = [0u8; 8];
        let _ = read(self.fd.as_raw_fd(), &mut b);
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Install SIGTERM and SIGINT handlers that set one process-wide flag, with
/// SA_RESTART (as signal(3) gives); returns the flag.
pub fn stop_on_signals() -> io::Result<&'static AtomicBool> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: an all-zero sigaction is valid (empty mask, no flags).
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: sa_mask is a live sigset_t inside `sa`.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: a catchable signal; the handler only stores to an atomic,
        // which is async-signal-safe.
        cvt(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) })?;
    }
    Ok(&STOP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn waker_wakes_and_drains() {
        let w = Waker::new().unwrap();
        assert_eq!(poll_in(&[w.fd()], Some(Duration::ZERO)).unwrap(), [false]);
        w.wake();
        assert_eq!(poll_in(&[w.fd()], Some(Duration::ZERO)).unwrap(), [true]);
        w.drain();
        assert_eq!(poll_ms(&[w.fd()], libc::POLLIN, 0).unwrap(), [false]);
    }

    #[test]
    fn timer_fires_after_its_delay() {
        let t = Timer::new().unwrap();
        let start = Instant::now();
        t.set(Some(Duration::from_millis(20))).unwrap();
        assert_eq!(
            poll_in(&[t.fd()], Some(Duration::from_secs(2))).unwrap(),
            [true]
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        t.clear();
        t.set(None).unwrap();
        assert_eq!(
            poll_one(t.fd(), libc::POLLIN, Duration::from_millis(30)).unwrap(),
            0
        );
    }
}
