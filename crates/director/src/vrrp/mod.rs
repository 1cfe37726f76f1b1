//! VRRP for the running director: the pure `lvs::vrrp` machine wired to a raw
//! socket on protocol 112 (IPv4, or IPv6 from the link-local address to
//! ff02::12), AF_PACKET gratuitous ARPs or unsolicited neighbour
//! advertisements, and rtnetlink VIPs.
//!
//! One thread per `vrrp_instance`. The orchestrator calls [`spawn`] (or
//! [`spawn_all`]), reads [`StateEvent`]s or polls [`VrrpHandle::is_master`] to
//! forward only as master, and calls [`VrrpHandle::shutdown`] (priority-0 advert,
//! VIPs removed). [`run_foreground`] is `vipwire director --vrrp-only`.

mod netlink;
mod script;
mod sys;

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use lvs::keepalived::{KeepalivedConfig, VrrpInstance, VrrpScript};
use lvs::vrrp::{Action, RxAdvert, Vrrp, VrrpConfig};
use wire::vrrp::{Family, Timing, VrrpRepr};

use crate::netif;

pub use lvs::vrrp::{State, VrrpConfigError};
pub use script::split_words;

/// Why an instance could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    #[error(transparent)]
    Config(#[from] VrrpConfigError),
    #[error("vrrp_instance {instance}: {what}: {source}")]
    Io {
        instance: String,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "vrrp_instance {instance}: interface {ifname} has no {what} and no unicast_src_ip is set"
    )]
    NoAddress {
        instance: String,
        ifname: String,
        what: &'static str,
    },
    #[error("vrrp_instance {instance}: the VRRP thread panicked")]
    Panicked { instance: String },
    #[error("no vrrp_instance in the configuration")]
    NoInstance,
}

/// Runner options.
#[derive(Debug, Clone)]
pub struct Options {
    /// keepalived-style log lines on stderr (`--log-console`).
    pub log: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { log: true }
    }
}

/// A state change of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEvent {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub at: SystemTime,
}

/// A running instance. Dropping it shuts it down like [`VrrpHandle::shutdown`].
pub struct VrrpHandle {
    name: String,
    state: Arc<AtomicU8>,
    events: Receiver<StateEvent>,
    stop: Arc<AtomicBool>,
    waker: Arc<sys::Waker>,
    thread: Option<JoinHandle<Result<(), VrrpError>>>,
}

fn state_code(s: State) -> u8 {
    match s {
        State::Init => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

fn state_of(c: u8) -> State {
    match c {
        1 => State::Backup,
        2 => State::Master,
        3 => State::Fault,
        _ => State::Init,
    }
}

impl VrrpHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> State {
        state_of(self.state.load(Ordering::Acquire))
    }

    /// True while this instance is master (its VIPs are on the interface).
    pub fn is_master(&self) -> bool {
        self.state() == State::Master
    }

    /// State changes in order; `recv`/`try_recv` on it.
    pub fn events(&self) -> &Receiver<StateEvent> {
        &self.events
    }

    /// True when the runner thread has ended (shut down, or failed).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stop: a master sends a priority-0 advert and removes its VIPs; waits for
    /// the thread and returns its error, if any.
    pub fn shutdown(mut self) -> Result<(), VrrpError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), VrrpError> {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(VrrpError::Panicked {
                    instance: self.name.clone(),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for VrrpHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Start every `vrrp_instance` of `cfg`.
pub fn spawn_all(cfg: &KeepalivedConfig, opts: &Options) -> Result<Vec<VrrpHandle>, VrrpError> {
    cfg.vrrp_instances
        .iter()
        .map(|i| spawn(i, &cfg.vrrp_scripts, opts))
        .collect()
}

/// Start one instance in the calling thread's network namespace. Sockets are
/// opened before this returns, so setup errors come back here.
pub fn spawn(
    inst: &VrrpInstance,
    scripts: &[VrrpScript],
    opts: &Options,
) -> Result<VrrpHandle, VrrpError> {
    let name = inst.name.clone();
    let io_err = |what: &str| {
        let instance = name.clone();
        let what = what.to_string();
        move |source| VrrpError::Io {
            instance,
            what,
            source,
        }
    };
    let ifindex = sys::ifindex(&inst.interface).map_err(io_err("interface"))?;
    let mac = netif::mac_ioctl(&inst.interface).map_err(io_err("interface MAC"))?;
    // The parser kept only VIPs of the instance's family (its first VIP's).
    let vips: Vec<(IpAddr, u8)> = inst
        .virtual_ipaddresses
        .iter()
        .map(|v| (v.addr(), v.prefix_len()))
        .collect();
    let v6 = match vips.first() {
        Some((a, _)) => a.is_ipv6(),
        None => matches!(inst.unicast_src_ip, Some(IpAddr::V6(_))),
    };
    // Excluded VIPs (any family) come and go with the VIPs and get their
    // gratuitous ARPs / neighbour adverts too (keepalived vrrp.c,
    // vrrp_send_link_update), but are not advertised.
    let all_vips: Vec<(IpAddr, u8)> = vips
        .iter()
        .copied()
        .chain(
            inst.virtual_ipaddresses_excluded
                .iter()
                .map(|v| (v.addr(), v.prefix_len())),
        )
        .collect();
    let no_address = |what| VrrpError::NoAddress {
        instance: name.clone(),
        ifname: inst.interface.clone(),
        what,
    };
    let local: IpAddr = match inst.unicast_src_ip {
        Some(a) if a.is_ipv6() == v6 => a,
        _ if v6 => link_local_source(&inst.interface)
            .map_err(io_err("interface addresses"))?
            .ok_or_else(|| no_address("usable IPv6 link-local address"))?
            .into(),
        _ => netif::ipv4_addrs(&inst.interface)
            .map_err(io_err("interface addresses"))?
            .into_iter()
            .map(|(a, _)| IpAddr::V4(a))
            .find(|a| !vips.iter().any(|(v, _)| v == a))
            .ok_or_else(|| no_address("IPv4 address"))?,
    };
    let mut cfg = VrrpConfig::from_keepalived(inst, scripts, local)?;
    // keepalived drops a track_interface whose interface does not exist
    // (vrrp_track.c, alloc_track_if); `director -t` reports it.
    let mut tracked = Vec::new();
    let mut missing = Vec::new();
    cfg.track_interfaces
        .retain(|t| match sys::ifindex(&t.name) {
            Ok(i) => {
                tracked.push((i, t.name.clone()));
                true
            }
            Err(_) => {
                missing.push(t.name.clone());
                false
            }
        });
    let sock = match local {
        IpAddr::V4(_) => Sock::V4(
            sys::VrrpSocket::open(&inst.interface, ifindex, !cfg.unicast())
                .map_err(io_err("raw socket (IP protocol 112)"))?,
        ),
        IpAddr::V6(src) => Sock::V6(
            sys::Vrrp6Socket::open(&inst.interface, ifindex, src, !cfg.unicast())
                .map_err(io_err("raw IPv6 socket (next header 112)"))?,
        ),
    };
    let garp = sys::PacketSender::open(ifindex).map_err(io_err("AF_PACKET socket"))?;
    let rtnl = netlink::Rtnl::open().map_err(io_err("netlink socket"))?;
    let links = netlink::LinkWatch::open().map_err(io_err("netlink link watch"))?;
    let waker = Arc::new(sys::Waker::new().map_err(io_err("pipe"))?);
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(AtomicU8::new(0));
    let (ev_tx, ev_rx) = mpsc::channel();
    let (sc_tx, sc_rx) = mpsc::channel();

    let mut checkers = Vec::new();
    for (i, t) in cfg.track_scripts.iter().enumerate() {
        let Some(s) = scripts.iter().find(|s| s.name == t.name) else {
            continue;
        };
        let interval = Duration::from_secs_f64(s.interval.max(0.001));
        let timeout = Duration::from_secs_f64(s.timeout.unwrap_or(s.interval).max(0.001));
        let w = waker.clone();
        let h = script::spawn_checker(
            i,
            split_words(&s.script),
            interval,
            timeout,
            stop.clone(),
            sc_tx.clone(),
            move || w.wake(),
        )
        .map_err(io_err("script thread"))?;
        checkers.push(h);
    }

    let runner = Runner {
        m: Vrrp::new(cfg),
        sock,
        garp,
        rtnl,
        links,
        link_up: true,
        tracked,
        missing,
        ifname: inst.interface.clone(),
        ifindex,
        mac,
        vips: all_vips,
        preferred_lft: inst.vip_preferred_lft.clone(),
        ident: 0,
        origin: Instant::now(),
        state: state.clone(),
        events: ev_tx,
        scripts: sc_rx,
        stop: stop.clone(),
        waker: waker.clone(),
        log: opts.log,
        checkers,
    };
    let thread = std::thread::Builder::new()
        .name(format!("vrrp-{name}"))
        .spawn(move || runner.run())
        .map_err(io_err("thread"))?;
    Ok(VrrpHandle {
        name,
        state,
        events: ev_rx,
        stop,
        waker,
        thread: Some(thread),
    })
}

/// How long [`link_local_source`] waits for duplicate address detection.
const DAD_WAIT: Duration = Duration::from_secs(3);

/// The advert source of an IPv6 instance: the interface's first link-local
/// address, as keepalived takes it (vrrp.c, the interface's sin6_addr).
/// A link-local address still tentative (DAD running, about a second after
/// the link comes up) cannot be a source yet: wait up to [`DAD_WAIT`].
fn link_local_source(ifname: &str) -> io::Result<Option<Ipv6Addr>> {
    let t0 = Instant::now();
    loop {
        let lls: Vec<_> = netif::ipv6_addrs(ifname)?
            .into_iter()
            .filter(|a| wire::ipv6::is_link_local(a.addr))
            .collect();
        if let Some(a) = lls.iter().find(|a| !a.tentative) {
            return Ok(Some(a.addr));
        }
        if lls.is_empty() || t0.elapsed() > DAD_WAIT {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The raw socket of an instance, by its family.
enum Sock {
    V4(sys::VrrpSocket),
    V6(sys::Vrrp6Socket),
}

impl Sock {
    fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Sock::V4(s) => s.fd(),
            Sock::V6(s) => s.fd(),
        }
    }
}

struct Runner {
    m: Vrrp,
    sock: Sock,
    garp: sys::PacketSender,
    rtnl: netlink::Rtnl,
    links: netlink::LinkWatch,
    link_up: bool,
    /// (ifindex, name) of each `track_interface`, in the machine's order.
    tracked: Vec<(u32, String)>,
    /// Tracked interfaces that do not exist (ignored, as keepalived does).
    missing: Vec<String>,
    ifname: String,
    ifindex: u32,
    mac: wire::ethernet::MacAddr,
    /// The VIPs and the excluded VIPs, each with its prefix length.
    vips: Vec<(IpAddr, u8)>,
    /// IPv6 VIPs added with a finite preferred lifetime (0: deprecated).
    preferred_lft: Vec<(IpAddr, u32)>,
    ident: u16,
    origin: Instant,
    state: Arc<AtomicU8>,
    events: Sender<StateEvent>,
    scripts: Receiver<(usize, bool)>,
    stop: Arc<AtomicBool>,
    waker: Arc<sys::Waker>,
    log: bool,
    checkers: Vec<JoinHandle<()>>,
}

impl Runner {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn run(mut self) -> Result<(), VrrpError> {
        let r = self.event_loop();
        // Whatever happened, leave the interface clean (priority 0 + VIPs gone).
        let acts = self.m.shutdown(self.now());
        self.exec(acts);
        self.stop.store(true, Ordering::Release);
        for h in self.checkers.drain(..) {
            let _ = h.join();
        }
        r
    }

    fn event_loop(&mut self) -> Result<(), VrrpError> {
        for name in std::mem::take(&mut self.missing) {
            self.say(&format!(
                "({}) tracked interface {name} doesn't exist - ignoring",
                self.m.config().name
            ));
        }
        for (i, (_, name)) in self.tracked.clone().iter().enumerate() {
            let up = netif::link_up(name).unwrap_or(true);
            self.m.set_tracked_interface(i, up);
        }
        let acts = self.m.start(self.now());
        self.exec(acts);
        // keepalived starts an instance on a down interface in FAULT.
        if !netif::link_up(&self.ifname).unwrap_or(true) {
            self.set_link(false);
        }
        let mut buf = vec![0u8; 65536];
        let timer = sys::Timer::new().map_err(|e| self.io("timerfd", e))?;
        let fds = [self.sock.fd(), self.waker.fd(), timer.fd(), self.links.fd()];
        while !self.stop.load(Ordering::Acquire) {
            let timeout = self.m.next_deadline().map(|d| d.saturating_sub(self.now()));
            timer.set(timeout).map_err(|e| self.io("timerfd", e))?;
            let ready = sys::poll_in(&fds, None).map_err(|e| self.io("poll", e))?;
            if ready[1] {
                self.waker.drain();
            }
            if ready[2] {
                timer.clear();
            }
            if ready[3] {
                for e in self.links.drain_events() {
                    if e.ifindex == self.ifindex && !e.deleted {
                        self.set_link(e.up);
                    }
                    if let Some(i) = self.tracked.iter().position(|t| t.0 == e.ifindex) {
                        self.set_tracked(i, e.up);
                    }
                }
            }
            while let Ok((i, ok)) = self.scripts.try_recv() {
                let acts = self.m.script_result(self.now(), i, ok);
                self.exec(acts);
            }
            if ready[0] {
                self.drain_socket(&mut buf)?;
            }
            if self.m.next_deadline().is_some_and(|d| d <= self.now()) {
                let acts = self.m.handle_timeout(self.now());
                self.exec(acts);
            }
        }
        Ok(())
    }

    fn set_link(&mut self, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            self.say(&format!(
                "Netlink reports {} {}",
                self.ifname,
                if up { "up" } else { "down" }
            ));
            let acts = self.m.link_change(self.now(), up);
            self.exec(acts);
        }
    }

    /// A tracked interface changed (keepalived logs "Netlink reports" for
    /// every interface an instance tracks).
    fn set_tracked(&mut self, index: usize, up: bool) {
        if self.m.tracked_interface_up(index) == Some(up) {
            return;
        }
        self.say(&format!(
            "Netlink reports {} {}",
            self.tracked[index].1,
            if up { "up" } else { "down" }
        ));
        let acts = self.m.tracked_interface_change(self.now(), index, up);
        self.exec(acts);
    }

    fn io(&self, what: &str, source: io::Error) -> VrrpError {
        VrrpError::Io {
            instance: self.m.config().name.clone(),
            what: what.to_string(),
            source,
        }
    }

    fn drain_socket(&mut self, buf: &mut [u8]) -> Result<(), VrrpError> {
        loop {
            match &self.sock {
                Sock::V4(s) => match s.recv(buf).map_err(|e| self.io("recv", e))? {
                    Some(pkt) => {
                        let pkt = pkt.to_vec();
                        self.received_v4(&pkt);
                    }
                    None => return Ok(()),
                },
                Sock::V6(s) => match s.recv(buf).map_err(|e| self.io("recv", e))? {
                    Some(r) => {
                        let msg = buf[..r.len.min(buf.len())].to_vec();
                        let (src, dst) = (IpAddr::V6(r.src), IpAddr::V6(r.dst));
                        self.received(src, dst, r.hop_limit, &msg, !r.truncated);
                    }
                    None => return Ok(()),
                },
            }
        }
    }

    fn received_v4(&mut self, pkt: &[u8]) {
        let Ok((meta, msg)) = wire::vrrp::split_ipv4(pkt) else {
            return;
        };
        if meta.protocol != wire::vrrp::PROTOCOL {
            return;
        }
        let (src, dst) = (IpAddr::V4(meta.src), IpAddr::V4(meta.dst));
        self.received(src, dst, meta.ttl, msg, meta.total_len_matches);
    }

    /// One VRRP message `msg` from `src` to `dst` with TTL / hop limit `ttl`;
    /// `whole` is false when the IP layer says bytes are missing.
    fn received(&mut self, src: IpAddr, dst: IpAddr, ttl: u8, msg: &[u8], whole: bool) {
        let now = self.now();
        let repr = match VrrpRepr::parse_unchecked(msg, Family::of(src)) {
            Ok(r) => r,
            Err(e) => {
                self.say(&format!(
                    "({}) bad VRRP packet from {src}: {e}",
                    self.m.config().name
                ));
                return;
            }
        };
        let (auth_type, auth_data) = match repr.timing {
            Timing::V2 {
                auth_type,
                auth_data,
                ..
            } => (auth_type, auth_data),
            Timing::V3 { .. } => (0, [0; 8]),
        };
        let rx = RxAdvert {
            src,
            dst,
            ttl,
            version: repr.version(),
            kind: repr.kind,
            vrid: repr.vrid,
            priority: repr.priority,
            adver_int_cs: repr.adver_int_cs(),
            auth_type,
            auth_data,
            addrs: repr.addrs.clone(),
            checksum_ok: whole && wire::vrrp::checksum_ok(msg, src, dst),
        };
        let acts = self.m.handle_advert(now, &rx);
        self.exec(acts);
    }

    fn advert(&self, priority: u8) -> VrrpRepr {
        let c = self.m.config();
        let timing = if c.version == 3 {
            Timing::V3 {
                max_adver_int_cs: (c.advert_int.as_millis() / 10).min(0x0fff) as u16,
            }
        } else {
            Timing::V2 {
                auth_type: if c.auth_pass.is_some() {
                    wire::vrrp::AUTH_PASS
                } else {
                    wire::vrrp::AUTH_NONE
                },
                adver_int_s: c.advert_int.as_secs().min(255) as u8,
                auth_data: c.auth_pass.unwrap_or([0; 8]),
            }
        };
        VrrpRepr {
            kind: wire::vrrp::TYPE_ADVERT,
            vrid: c.vrid,
            priority,
            addrs: c.vips.clone(),
            timing,
        }
    }

    fn exec(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips => {
                    for (vip, len) in self.vips.clone() {
                        let lft = self
                            .preferred_lft
                            .iter()
                            .find(|(a, _)| *a == vip)
                            .map(|(_, l)| *l);
                        if let Err(e) = self.rtnl.add_addr(self.ifindex, vip, len, lft) {
                            self.say(&format!("cannot add VIP {vip}/{len}: {e}"));
                        }
                    }
                }
                Action::RemoveVips => {
                    for (vip, len) in self.vips.clone() {
                        if let Err(e) = self.rtnl.del_addr(self.ifindex, vip, len) {
                            self.say(&format!("cannot remove VIP {vip}/{len}: {e}"));
                        }
                    }
                }
                Action::SendGarps { rounds } => self.send_link_updates(rounds),
                Action::StateChange { from, to } => {
                    self.state.store(state_code(to), Ordering::Release);
                    let _ = self.events.send(StateEvent {
                        instance: self.m.config().name.clone(),
                        from,
                        to,
                        at: SystemTime::now(),
                    });
                }
                Action::Log(line) => self.say(&line),
            }
        }
    }

    /// `rounds` rounds of one gratuitous ARP (IPv4 VIP) or unsolicited
    /// neighbour advertisement (IPv6 VIP) per VIP, keepalived's
    /// vrrp_send_link_update.
    fn send_link_updates(&mut self, rounds: u32) {
        let router = netif::ipv6_forwarding(&self.ifname);
        for _ in 0..rounds {
            for (vip, _) in &self.vips {
                let sent = match vip {
                    IpAddr::V4(a) => {
                        let f = wire::arp::gratuitous_frame(self.mac, *a);
                        self.garp.send(&f, wire::ethernet::ETHERTYPE_ARP)
                    }
                    IpAddr::V6(a) => {
                        let f = wire::icmpv6::unsolicited_na_frame(self.mac, *a, router);
                        self.garp.send(&f, wire::ipv6::ETHERTYPE_IPV6)
                    }
                };
                if let Err(e) = sent {
                    let what = if vip.is_ipv6() {
                        "unsolicited neighbour advert"
                    } else {
                        "gratuitous ARP"
                    };
                    self.say(&format!("{what} for {vip}: {e}"));
                }
            }
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let repr = self.advert(priority);
        let src = self.m.config().local_addr;
        let dsts = if self.m.config().unicast() {
            self.m.config().unicast_peers.clone()
        } else if src.is_ipv6() {
            vec![IpAddr::V6(wire::vrrp::MCAST_GROUP_V6)]
        } else {
            vec![IpAddr::V4(wire::vrrp::MCAST_GROUP)]
        };
        // keepalived numbers IP idents from 1 and skips 0 (the kernel would fill it).
        self.ident = self.ident.wrapping_add(1).max(1);
        for dst in dsts {
            let sent = match (&self.sock, src, dst) {
                (Sock::V4(s), IpAddr::V4(s4), IpAddr::V4(d4)) => {
                    s.send(&wire::vrrp::ipv4_packet(&repr, s4, d4, self.ident), d4)
                }
                (Sock::V6(s), IpAddr::V6(_), IpAddr::V6(d6)) => {
                    s.send(&repr.to_bytes(src, dst), d6)
                }
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "address family differs from the instance's",
                )),
            };
            if let Err(e) = sent {
                self.say(&format!(
                    "({}) send advert to {dst} error: {e}",
                    self.m.config().name
                ));
            }
        }
    }

    fn say(&self, line: &str) {
        if self.log {
            eprintln!("{} vipwire: {line}", clock());
        }
    }
}

/// `HH:MM:SS.mmm` UTC, for log lines.
fn clock() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// Install SIGTERM/SIGINT handlers that set a flag; returns the flag.
pub fn install_signal_flag() -> io::Result<&'static AtomicBool> {
    crate::sys::event::stop_on_signals()
}

/// `vipwire director -f FILE --vrrp-only`: run every VRRP instance until
/// SIGTERM or SIGINT, then shut down cleanly (priority-0 adverts, VIPs removed).
pub fn run_foreground(cfg: &KeepalivedConfig) -> Result<(), VrrpError> {
    if cfg.vrrp_instances.is_empty() {
        return Err(VrrpError::NoInstance);
    }
    let flag = install_signal_flag().map_err(|source| VrrpError::Io {
        instance: String::new(),
        what: "sigaction".into(),
        source,
    })?;
    let opts = Options::default();
    let handles = spawn_all(cfg, &opts)?;
    let mut failed = false;
    while !flag.load(Ordering::SeqCst) && !failed {
        std::thread::sleep(Duration::from_millis(2));
        failed = handles.iter().any(|h| h.finished());
    }
    if opts.log {
        eprintln!("{} vipwire: Stopping", clock());
    }
    let mut first_err = None;
    for h in handles {
        if let Err(e) = h.shutdown() {
            first_err.get_or_insert(e);
        }
    }
    if opts.log {
        eprintln!("{} vipwire: Stopped", clock());
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_codes_round_trip() {
        for s in [State::Init, State::Backup, State::Master, State::Fault] {
            assert_eq!(state_of(state_code(s)), s);
        }
    }

    #[test]
    fn empty_config_is_an_error() {
        let cfg = lvs::keepalived::parse_str("global_defs { router_id x }", "t", None).unwrap();
        assert!(matches!(run_foreground(&cfg), Err(VrrpError::NoInstance)));
    }

    #[test]
    fn missing_interface_is_reported() {
        let text = "vrrp_instance V { interface vw-nonexistent0\n virtual_router_id 9\n virtual_ipaddress { 203.0.113.9 } }";
        let cfg = lvs::keepalived::parse_str(text, "t", None).unwrap();
        let e = spawn(&cfg.vrrp_instances[0], &[], &Options { log: false })
            .err()
            .expect("no such interface");
        assert!(e.to_string().contains("vw-nonexistent0"), "{e}");
    }
}
