//! VRRP (RFC 3768 v2, RFC 5798/9568 v3, over IPv4 or IPv6) as a pure state machine that
//! follows keepalived 2.2.7: adverts, timer expiry, track-script results and
//! shutdown go in, [`Action`]s come out. No sockets, no clock: time is a
//! `Duration` since any fixed origin the caller chooses.
//!
//! Where keepalived differs from the RFCs, this follows keepalived (vrrp.c,
//! vrrp_scheduler.c, vrrp_track.c of 2.2.7):
//! - a backup never preempts on equal priority; only a master compares
//!   addresses (the higher source address stays master);
//! - `state MASTER` below priority 255 starts as BACKUP with the full
//!   Master_Down_Interval; priority 255 with `state MASTER` takes over at once;
//! - v2 Skew_Time is (256 - priority)/256 s whatever the interval (RFC 3768);
//!   v3 uses the learned Master_Adver_Interval (RFC 5798);
//! - a master answers a lower-priority advert with an advert and a burst of
//!   gratuitous ARPs (and another burst after garp_master_delay);
//! - every advert for our VRID that a master processes, valid or not,
//!   restarts its advert timer;
//! - a v2 advert with another interval is dropped; TTL is not checked in
//!   unicast mode.

mod config;
mod track;

pub use config::{pass_data, TrackInterface, TrackScript, VrrpConfig, VrrpConfigError};
pub use track::ScriptDebounce;

use std::cmp::Ordering;
use std::net::IpAddr;
use std::time::Duration;

/// keepalived's timer unit: microseconds.
const HZ: u64 = 1_000_000;
pub const PRIO_OWNER: u8 = 255;
pub const PRIO_STOP: u8 = 0;
pub const TTL: u8 = 255;
const AUTH_NONE: u8 = 0;
const AUTH_PASS: u8 = 1;
const AUTH_AH: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// A received advert with the IP-level facts the checks need. The I/O layer
/// fills it from the raw packet (wire::vrrp); the checksum result is passed
/// in so the machine can treat a bad one as keepalived does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxAdvert {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub version: u8,
    /// VRRP type (1 = advertisement).
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Interval in centiseconds (v2: the seconds field * 100).
    pub adver_int_cs: u32,
    /// v2 only; 0 for v3.
    pub auth_type: u8,
    pub auth_data: [u8; 8],
    pub addrs: Vec<IpAddr>,
    pub checksum_ok: bool,
}

/// What the I/O layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority (multicast, or to each unicast peer).
    SendAdvert { priority: u8 },
    /// Add every VIP to the interface.
    AddVips,
    /// Remove every VIP from the interface.
    RemoveVips,
    /// `rounds` rounds of one gratuitous ARP per VIP.
    SendGarps { rounds: u32 },
    /// A state change (notify the data plane: forward only as master).
    StateChange { from: State, to: State },
    /// A keepalived-style log line.
    Log(String),
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Vrrp {
    cfg: VrrpConfig,
    state: State,
    effective_priority: u8,
    base_priority: u8,
    total_priority: i64,
    adver_int: u64,
    master_adver_int: u64,
    ms_down_timer: u64,
    /// Next advert (master) or Master_Down expiry (backup), absolute µs.
    sands: Option<u64>,
    preempt_time: Option<u64>,
    vip_set: bool,
    garp_timer: Option<u64>,
    lower_garp_timer: Option<u64>,
    scripts: Vec<ScriptState>,
    /// Whether each `track_interface` is up (IFF_UP and IFF_RUNNING), in
    /// `config().track_interfaces` order.
    ifaces_up: Vec<bool>,
    /// Weight-0 scripts (and the link) currently failed.
    num_fault: u32,
    /// Weight-0 scripts that have not reported yet.
    num_init: u32,
    master_priority: u8,
    master_addr: Option<IpAddr>,
    out: Vec<Action>,
}

#[derive(Debug, Clone)]
struct ScriptState {
    weight: i32,
    debounce: ScriptDebounce,
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

impl Vrrp {
    pub fn new(cfg: VrrpConfig) -> Vrrp {
        let adver_int = us(cfg.advert_int).max(1);
        let scripts = cfg
            .track_scripts
            .iter()
            .map(|t| ScriptState {
                weight: t.weight,
                debounce: ScriptDebounce::new(t.rise, t.fall),
            })
            .collect();
        let mut v = Vrrp {
            state: State::Init,
            effective_priority: cfg.priority,
            base_priority: cfg.priority,
            total_priority: i64::from(cfg.priority),
            adver_int,
            master_adver_int: adver_int,
            ms_down_timer: 0,
            sands: None,
            preempt_time: None,
            vip_set: false,
            garp_timer: None,
            lower_garp_timer: None,
            scripts,
            ifaces_up: vec![true; cfg.track_interfaces.len()],
            num_fault: 0,
            num_init: 0,
            master_priority: 0,
            master_addr: None,
            out: Vec::new(),
            cfg,
        };
        v.ms_down_timer = v.ms_down();
        v
    }

    pub fn config(&self) -> &VrrpConfig {
        &self.cfg
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    /// True while the VIPs are (or should be) on the interface.
    pub fn vips_set(&self) -> bool {
        self.vip_set
    }
    /// The priority and address of the last advert we accepted as backup.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master_addr.map(|a| (a, self.master_priority))
    }

    /// Skew_Time for our effective priority (v2: (256-p)/256 s; v3: (256-p) *
    /// Master_Adver_Interval / 256), in keepalived's integer arithmetic.
    pub fn skew(&self) -> Duration {
        Duration::from_micros(self.skew_us(256 - u64::from(self.effective_priority)))
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        Duration::from_micros(self.ms_down())
    }

    /// The advertisement interval we send with.
    pub fn advert_interval(&self) -> Duration {
        Duration::from_micros(self.adver_int)
    }

    // keepalived vrrp.h VRRP_TIMER_SKEW_CALC.
    fn skew_us(&self, pri: u64) -> u64 {
        if self.cfg.version == 3 {
            pri * (self.master_adver_int / (HZ / 100)) * 625 / 16
        } else {
            pri * HZ / 256
        }
    }

    fn ms_down(&self) -> u64 {
        u64::from(self.cfg.down_timer_adverts) * self.master_adver_int
            + self.skew_us(256 - u64::from(self.effective_priority))
    }

    /// When `handle_timeout` must next be called.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.sands, self.garp_timer, self.lower_garp_timer]
            .into_iter()
            .flatten()
            .min()
            .map(Duration::from_micros)
    }

    fn emit(&mut self, a: Action) {
        self.out.push(a);
    }
    fn log(&mut self, msg: String) {
        let name = self.cfg.name.clone();
        self.out.push(Action::Log(format!("({name}) {msg}")));
    }
    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }
    fn set_state(&mut self, to: State) {
        let from = self.state;
        self.state = to;
        if from != to {
            self.emit(Action::StateChange { from, to });
        }
    }

    /// Start the instance (keepalived vrrp_init_state + vrrp_init_instance_sands).
    pub fn start(&mut self, now: Duration) -> Vec<Action> {
        let now = us(now);
        if self.state != State::Init {
            return self.take();
        }
        self.effective_priority = self.base_priority;
        self.total_priority = i64::from(self.base_priority);
        self.num_init = self.scripts.iter().filter(|s| s.weight == 0).count() as u32;
        self.init_interface_tracking();
        self.master_adver_int = self.adver_int;
        if self.num_init > 0 || self.num_fault > 0 {
            // keepalived: instances wait in FAULT for their weight-0 scripts.
            self.log("Entering FAULT STATE (init)".into());
            self.set_state(State::Fault);
            self.sands = None;
            return self.take();
        }
        if self.cfg.initial_master && self.base_priority == PRIO_OWNER {
            // "The simplest way to become master is to timeout from the backup
            // state very quickly" (vrrp_scheduler.c).
            self.ms_down_timer = 1;
        } else {
            self.ms_down_timer = self.ms_down();
        }
        self.log("Entering BACKUP STATE (init)".into());
        self.set_state(State::Backup);
        self.sands = Some(now + self.ms_down_timer);
        self.take()
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) -> Vec<Action> {
        let now = us(now);
        loop {
            let due = [
                (self.garp_timer, 0u8),
                (self.lower_garp_timer, 1),
                (self.sands, 2),
            ]
            .into_iter()
            .filter_map(|(t, k)| t.filter(|t| *t <= now).map(|t| (t, k)))
            .min();
            let Some((at, kind)) = due else { break };
            match kind {
                0 => {
                    self.garp_timer = None;
                    self.link_update(self.cfg.garp_master_repeat);
                }
                1 => {
                    self.lower_garp_timer = None;
                    self.link_update(self.cfg.garp_lower_prio_repeat);
                }
                _ => match self.state {
                    State::Backup => {
                        self.log("Receive advertisement timeout".into());
                        self.goto_master(at.max(now));
                    }
                    State::Master => {
                        self.master_tx(now);
                        self.sands = Some(now + self.adver_int);
                    }
                    _ => self.sands = None,
                },
            }
        }
        self.take()
    }

    fn link_update(&mut self, rounds: u32) {
        if self.vip_set && rounds > 0 && !self.cfg.vips.is_empty() {
            self.emit(Action::SendGarps { rounds });
        }
    }

    // vrrp_state_goto_master + vrrp_state_master_tx + vrrp_state_become_master:
    // the advert goes first, so the old master drops the VIPs before our
    // gratuitous ARPs.
    fn goto_master(&mut self, now: u64) {
        let from = self.state;
        self.state = State::Master;
        self.sands = Some(now + self.adver_int);
        self.master_tx(now);
        if !self.vip_set {
            self.log("Entering MASTER STATE".into());
            self.emit(Action::AddVips);
            self.vip_set = true;
            self.link_update(self.cfg.garp_master_repeat);
            self.emit(Action::StateChange {
                from,
                to: State::Master,
            });
            let d = us(self.cfg.garp_master_delay);
            if d > 0 {
                self.garp_timer = Some(now + d);
            }
        }
    }

    fn master_tx(&mut self, _now: u64) {
        self.emit(Action::SendAdvert {
            priority: self.effective_priority,
        });
    }

    /// Check a received advert (keepalived vrrp_check_packet).
    fn check(&self, rx: &RxAdvert) -> Result<(), String> {
        let unicast = self.cfg.unicast();
        if !unicast && rx.ttl != TTL {
            return Err(format!(
                "invalid TTL/HL. Received {} and expect {TTL}",
                rx.ttl
            ));
        }
        if rx.version != self.cfg.version {
            return Err(format!(
                "wrong version. Received {} and expect {}",
                rx.version, self.cfg.version
            ));
        }
        if self.cfg.version == 2 {
            if ![AUTH_NONE, AUTH_PASS, AUTH_AH].contains(&rx.auth_type) {
                return Err(format!("Invalid auth type: {}", rx.auth_type));
            }
            let ours = if self.cfg.auth_pass.is_some() {
                AUTH_PASS
            } else {
                AUTH_NONE
            };
            if rx.auth_type != ours {
                return Err(format!(
                    "received a {} auth, expecting {ours}!",
                    rx.auth_type
                ));
            }
            if let Some(p) = self.cfg.auth_pass {
                if rx.auth_data != p {
                    return Err("received an invalid passwd!".into());
                }
            }
            if u64::from(rx.adver_int_cs) * (HZ / 100) != self.adver_int {
                return Err(format!(
                    "advertisement interval mismatch mine={} sec rcv'd={} sec",
                    self.adver_int / HZ,
                    rx.adver_int_cs / 100
                ));
            }
        }
        if rx.kind != 1 {
            return Err(format!("Invalid packet type. {} and expect 1", rx.kind));
        }
        if rx.addrs.len() != self.cfg.vips.len() {
            return Err(format!(
                "received an unexpected ip number count {}, expected {}!",
                rx.addrs.len(),
                self.cfg.vips.len()
            ));
        }
        if !rx.checksum_ok {
            return Err(format!("Invalid VRRPv{} checksum", self.cfg.version));
        }
        if rx.dst.is_multicast() == unicast {
            return Err(format!(
                "Expected {}icast packet but received {}icast packet",
                if unicast { "un" } else { "mult" },
                if unicast { "mult" } else { "un" }
            ));
        }
        if let Some(v) = self.cfg.vips.iter().find(|v| !rx.addrs.contains(v)) {
            return Err(format!(
                "ip address associated with VRID {} not present in MASTER advert: {v}",
                self.cfg.vrid
            ));
        }
        Ok(())
    }

    /// Handle an advert received at `now`. Adverts for another VRID are ignored.
    pub fn handle_advert(&mut self, now: Duration, rx: &RxAdvert) -> Vec<Action> {
        let now = us(now);
        if rx.vrid != self.cfg.vrid {
            return self.take();
        }
        match self.state {
            State::Backup => self.backup_rx(now, rx),
            State::Master => {
                self.master_rx(now, rx);
                // The dispatcher restarts the timer after any packet it handled
                // while master (unless lower_prio_no_advert) or as the new backup.
                if self.state == State::Master {
                    if !self.cfg.lower_prio_no_advert {
                        self.sands = Some(now + self.adver_int);
                    }
                } else if self.state == State::Backup {
                    self.sands = Some(now + self.ms_down_timer);
                }
            }
            // Ignored in FAULT and before start (keepalived dispatcher).
            State::Init | State::Fault => {}
        }
        self.take()
    }

    fn learn_adver_int(&mut self, rx: &RxAdvert) {
        if self.cfg.version == 3 {
            // RFC 5798 6.4.2: Master_Adver_Interval from the advert.
            self.master_adver_int = u64::from(rx.adver_int_cs) * (HZ / 100);
        }
    }

    // vrrp_state_backup.
    fn backup_rx(&mut self, now: u64, rx: &RxAdvert) {
        if let Err(why) = self.check(rx) {
            self.log(why);
            return; // the running Master_Down timer is kept
        }
        if rx.priority == PRIO_STOP {
            self.log("Backup received priority 0 advertisement".into());
            self.ms_down_timer = self.skew_us(256 - u64::from(self.effective_priority));
            self.sands = Some(now + self.ms_down_timer);
            return;
        }
        let preempt_wait =
            !self.cfg.preempt_delay.is_zero() && self.preempt_time.is_none_or(|t| t > now);
        if self.cfg.nopreempt || rx.priority >= self.effective_priority || preempt_wait {
            self.learn_adver_int(rx);
            self.ms_down_timer = self.ms_down();
            self.master_addr = Some(rx.src);
            self.master_priority = rx.priority;
            if !self.cfg.preempt_delay.is_zero() {
                if rx.priority >= self.effective_priority {
                    if self.preempt_time.take().is_some() {
                        self.log("stop preempt delay".into());
                    }
                } else if self.preempt_time.is_none() {
                    self.log("start preempt delay".into());
                    self.preempt_time = Some(now + us(self.cfg.preempt_delay));
                }
            }
            self.sands = Some(now + self.ms_down_timer);
        } else {
            self.log(format!(
                "received lower priority ({}) advert from {} - discarding",
                rx.priority, rx.src
            ));
            self.master_addr = Some(rx.src);
        }
    }

    // vrrp_state_master_rx.
    fn master_rx(&mut self, now: u64, rx: &RxAdvert) {
        if let Err(why) = self.check(rx) {
            self.log(why);
            return;
        }
        // keepalived compares the addresses as big-endian numbers
        // (inet_sockaddrcmp), IPv6 as IPv4; `IpAddr`'s order is that within a family.
        let addr_cmp = rx.src.cmp(&self.cfg.local_addr);
        let eff = self.effective_priority;
        let higher = rx.priority > eff || (rx.priority == eff && addr_cmp == Ordering::Greater);
        if rx.priority == PRIO_STOP || (self.cfg.higher_prio_send_advert && higher) {
            self.emit(Action::SendAdvert { priority: eff });
            if rx.priority == PRIO_STOP {
                self.log("Master received priority 0 message".into());
                return;
            }
        }
        if rx.priority == eff {
            if addr_cmp == Ordering::Equal {
                self.log(
                    "WARNING - equal priority advert received from remote host with our IP address."
                        .into(),
                );
            } else if eff == PRIO_OWNER {
                self.log("CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority".into());
                self.effective_priority = PRIO_OWNER - 1;
                self.base_priority = PRIO_OWNER - 1;
            }
        }
        let eff = self.effective_priority;
        if rx.priority < eff || (rx.priority == eff && addr_cmp == Ordering::Less) {
            self.log(format!(
                "Received advert from {} with lower priority {}, ours {eff}{}",
                rx.src,
                rx.priority,
                if self.cfg.lower_prio_no_advert {
                    ""
                } else {
                    ", forcing new election"
                }
            ));
            if !self.cfg.lower_prio_no_advert {
                self.emit(Action::SendAdvert { priority: eff });
            }
            if self.cfg.garp_lower_prio_repeat > 0 {
                self.link_update(self.cfg.garp_lower_prio_repeat);
                let d = us(self.cfg.garp_lower_prio_delay);
                if d > 0 {
                    self.lower_garp_timer = Some(now + d);
                }
            }
            return;
        }
        if rx.priority > eff || (rx.priority == eff && addr_cmp == Ordering::Greater) {
            if rx.priority > eff {
                self.log(format!(
                    "Master received advert from {} with higher priority {}, ours {eff}",
                    rx.src, rx.priority
                ));
            } else {
                self.log(format!(
                    "Master received advert from {} with same priority {} but higher IP address than ours",
                    rx.src, rx.priority
                ));
            }
            self.learn_adver_int(rx);
            self.master_priority = rx.priority;
            self.master_addr = Some(rx.src);
            self.leave_master(now, State::Backup, false);
        }
    }

    // vrrp_state_leave_master.
    fn leave_master(&mut self, now: u64, to: State, prio0: bool) {
        match to {
            State::Backup => {
                self.log("Entering BACKUP STATE".into());
                self.preempt_time = None;
            }
            _ => {
                self.log("Entering FAULT STATE".into());
                self.emit(Action::SendAdvert {
                    priority: PRIO_STOP,
                });
            }
        }
        self.restore_interface(prio0);
        self.set_state(to);
        self.ms_down_timer = self.ms_down();
        self.sands = match to {
            State::Backup => Some(now + self.ms_down_timer),
            _ => None,
        };
    }

    // vrrp_restore_interface.
    fn restore_interface(&mut self, prio0: bool) {
        if prio0 {
            self.emit(Action::SendAdvert {
                priority: PRIO_STOP,
            });
        }
        self.garp_timer = None;
        self.lower_garp_timer = None;
        if self.vip_set {
            self.emit(Action::RemoveVips);
            self.vip_set = false;
        }
    }

    /// Stop the instance: a master sends a priority-0 advert and removes its VIPs
    /// (keepalived restore_vrrp_interfaces). The machine is back in INIT.
    pub fn shutdown(&mut self, _now: Duration) -> Vec<Action> {
        if self.state == State::Master {
            self.restore_interface(true);
        }
        self.sands = None;
        self.garp_timer = None;
        self.lower_garp_timer = None;
        self.set_state(State::Init);
        self.take()
    }

    /// One run of tracked script `index` (in `config().track_scripts` order)
    /// finished: `success` = exit status 0. Applies rise/fall, then keepalived's
    /// weight rules: weight 0 -> FAULT while failed; otherwise the effective
    /// priority moves by |weight| (clamped to 1..=254; not for priority 255).
    pub fn script_result(&mut self, now: Duration, index: usize, success: bool) -> Vec<Action> {
        let now_us = us(now);
        let Some(s) = self.scripts.get_mut(index) else {
            return self.take();
        };
        let was_init = s.debounce.in_init();
        let weight = s.weight;
        if let Some(ok) = s.debounce.record(success) {
            let name = self.cfg.track_scripts[index].name.clone();
            self.out.push(Action::Log(format!(
                "VRRP_Script({name}) {}",
                if ok { "succeeded" } else { "failed" }
            )));
            self.script_changed(now_us, weight, ok, was_init);
        }
        self.take()
    }

    // process_script_update_priority.
    fn script_changed(&mut self, now: u64, weight: i32, ok: bool, was_init: bool) {
        if weight == 0 {
            let mut left_init = false;
            if was_init {
                self.num_init = self.num_init.saturating_sub(1);
                left_init = self.num_init == 0;
            }
            if !ok {
                self.down_instance(now);
            } else if self.num_init == 0 {
                self.try_up_instance(now, left_init);
            }
            return;
        }
        let w = i64::from(weight);
        if was_init {
            if ok && w > 0 || !ok && w < 0 {
                self.total_priority += w;
            }
        } else if ok {
            self.total_priority += w.abs();
        } else {
            self.total_priority -= w.abs();
        }
        self.set_effective_priority();
    }

    /// The interface went down (`false`) or came back (`true`): FAULT as keepalived.
    pub fn link_change(&mut self, now: Duration, up: bool) -> Vec<Action> {
        let now = us(now);
        if up {
            self.try_up_instance(now, false);
        } else {
            self.down_instance(now);
        }
        self.take()
    }

    /// The state of tracked interface `index` before [`Vrrp::start`] (default
    /// up); afterwards use [`Vrrp::tracked_interface_change`].
    pub fn set_tracked_interface(&mut self, index: usize, up: bool) {
        if let Some(u) = self.ifaces_up.get_mut(index) {
            *u = up;
        }
    }

    /// Whether tracked interface `index` is up, as last reported.
    pub fn tracked_interface_up(&self, index: usize) -> Option<bool> {
        self.ifaces_up.get(index).copied()
    }

    /// Tracked interface `index` went down or came back (keepalived
    /// keepalived_netlink.c, process_if_status_change): weight 0 -> FAULT
    /// while down (with `reverse`: while up); otherwise the priority moves
    /// by |weight| (up: +, down: -; reversed with `reverse`).
    pub fn tracked_interface_change(
        &mut self,
        now: Duration,
        index: usize,
        up: bool,
    ) -> Vec<Action> {
        let now = us(now);
        let Some(t) = self.cfg.track_interfaces.get(index) else {
            return self.take();
        };
        if self.ifaces_up[index] == up {
            return self.take();
        }
        self.ifaces_up[index] = up;
        let (weight, mult) = (i64::from(t.weight), if t.reverse { -1 } else { 1 });
        if weight != 0 {
            let delta = weight.abs() * mult;
            self.total_priority += if up { delta } else { -delta };
            self.set_effective_priority();
        } else if self.state != State::Init {
            if up == (mult == 1) {
                self.try_up_instance(now, false);
            } else {
                self.down_instance(now);
            }
        }
        self.take()
    }

    // vrrp_track.c, initialise_interface_tracking_priorities, then
    // vrrp_set_effective_priority.
    fn init_interface_tracking(&mut self) {
        for (i, t) in self.cfg.track_interfaces.iter().enumerate() {
            let up = self.ifaces_up[i];
            let (w, mult) = (i64::from(t.weight), if t.reverse { -1 } else { 1 });
            if w == 0 {
                if up != (mult == 1) {
                    let msg = format!("entering FAULT state (interface {} down)", t.name);
                    self.out
                        .push(Action::Log(format!("({}): {msg}", self.cfg.name)));
                    self.num_fault += 1;
                }
            } else if up && w > 0 || !up && w < 0 {
                self.total_priority += w * mult;
            }
        }
        self.set_effective_priority();
    }

    // vrrp_set_effective_priority.
    fn set_effective_priority(&mut self) {
        if self.base_priority == PRIO_OWNER {
            return;
        }
        let new = self.total_priority.clamp(1, i64::from(PRIO_OWNER) - 1) as u8;
        if new == self.effective_priority {
            return;
        }
        self.log(format!(
            "Changing effective priority from {} to {new}",
            self.effective_priority
        ));
        self.effective_priority = new;
        let old = self.ms_down_timer;
        self.ms_down_timer = self.ms_down();
        if self.state == State::Backup {
            // keepalived moves the running timer by the difference; it may
            // land in the past and then fires at once.
            if let Some(s) = self.sands {
                self.sands = Some((s + self.ms_down_timer).saturating_sub(old));
            }
        }
    }

    // down_instance.
    fn down_instance(&mut self, now: u64) {
        let first = self.num_fault == 0;
        self.num_fault += 1;
        if first || self.state == State::Init {
            match self.state {
                // keepalived sends priority 0 twice here (leave_master + restore).
                State::Master => self.leave_master(now, State::Fault, true),
                _ => {
                    if self.state != State::Fault {
                        self.log("Entering FAULT STATE".into());
                    }
                    self.set_state(State::Fault);
                    self.master_adver_int = self.adver_int;
                    self.ms_down_timer = self.ms_down();
                    self.sands = None;
                }
            }
        }
    }

    // try_up_instance.
    fn try_up_instance(&mut self, now: u64, leaving_init: bool) {
        if leaving_init {
            if self.num_fault > 0 {
                return;
            }
        } else {
            self.num_fault = self.num_fault.saturating_sub(1);
            if self.num_fault > 0 || self.num_init > 0 {
                return;
            }
        }
        if self.state != State::Fault {
            return;
        }
        self.master_adver_int = self.adver_int;
        if self.cfg.initial_master && self.base_priority == PRIO_OWNER {
            self.goto_master(now);
            return;
        }
        self.log("Entering BACKUP STATE".into());
        self.preempt_time = None;
        self.set_state(State::Backup);
        self.ms_down_timer = self.ms_down();
        self.sands = Some(now + self.ms_down_timer);
    }
}

#[cfg(test)]
mod tests;
