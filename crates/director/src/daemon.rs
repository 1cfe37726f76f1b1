//! `vipwire director -f FILE`: the foreground daemon. Builds the services
//! from keepalived.conf, installs the kernel guard rules, starts health
//! checkers, the control socket and the AF_PACKET data plane, and stops all
//! of it cleanly on SIGTERM/SIGINT.
//!
//! VRRP: every `vrrp_instance` runs in this process ([`crate::vrrp`]);
//! forwarding is gated on `Shared::master` = some instance is MASTER. With
//! `external_vrrp` (VRRP run by keepalived --vrrp next to us), the gate follows
//! "a VIP of the instance is on the interface", which is what a master does.
//! Shutdown order: data plane and checkers stop, guard rules go, then VRRP
//! sends its priority-0 adverts and removes the VIPs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lvs::conn::Service;
use lvs::keepalived::{KeepalivedConfig, L4Proto, LbKind, VrrpInstance};
use lvs::sched::{scheduler_for, Dest};

use crate::afpacket::{PacketRing, RingConfig};
use crate::dataplane::{split_oversized, Action, Forwarder};
use crate::health::{self, lock, HealthState};
use crate::netif::{self, Neighbours};
use crate::status::{RealServerStatus, ServiceStatus, Status, VrrpStatus};
use crate::{guard, DirectorError};

/// State shared by the data plane, checkers and the control socket.
pub struct Shared {
    pub config: KeepalivedConfig,
    pub services: Mutex<Vec<Service>>,
    pub health: Mutex<BTreeMap<(usize, usize), HealthState>>,
    pub counters: crate::dataplane::Counters,
    /// Forward only while true (VRRP master).
    pub master: AtomicBool,
    pub vrrp: Mutex<Vec<VrrpStatus>>,
    pub interface: String,
    pub data_plane: Mutex<String>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub socket: PathBuf,
    /// Interface for the data plane; default: the first vrrp_instance's.
    pub interface: Option<String>,
    pub vrrp_only: bool,
    /// VRRP is run by another program (keepalived --vrrp): do not start ours,
    /// forward while a VIP is on the interface.
    pub external_vrrp: bool,
    pub io: IoMode,
}

/// Packet I/O of the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// AF_XDP when the interface takes an XDP program (one RX queue), else TPACKET_V3.
    Auto,
    /// AF_XDP (copy mode) with the classifier program; fail if unavailable.
    Xdp,
    /// As `Xdp`, with the DR fast path in the XDP program: established DR
    /// connections are forwarded by XDP_TX from a connection map that the
    /// slow path fills ([`crate::fastpath`]); fail if unavailable.
    XdpFast,
    /// AF_PACKET TPACKET_V3 rings only.
    Packet,
}

/// Build IPVS services from the configuration: IPv4, and IPv6 in DR and NAT
/// (TUN over IPv6 would need ip6ip6, which this kernel lacks: refused).
pub fn build_services(cfg: &KeepalivedConfig) -> Result<Vec<Service>, DirectorError> {
    cfg.virtual_servers
        .iter()
        .map(|vs| {
            let sched = scheduler_for(vs.lb_algo.name()).map_err(|e| DirectorError::Config {
                file: vs.source.clone(),
                line: vs.line,
                msg: e.to_string(),
            })?;
            let v6_rs = vs.real_servers.iter().find(|rs| rs.addr.is_ipv6());
            if vs.lb_kind == LbKind::Tun && (vs.addr.is_ipv6() || v6_rs.is_some()) {
                let what = match v6_rs {
                    Some(rs) if vs.addr.is_ipv4() => format!("real_server {}", rs.addr),
                    _ => format!("virtual_server {}", vs.addr),
                };
                return Err(DirectorError::Config {
                    file: vs.source.clone(),
                    line: vs.line,
                    msg: format!(
                        "{what}: lb_kind TUN over IPv6 (ip6ip6) is not supported; use DR or NAT"
                    ),
                });
            }
            let dests = vs
                .real_servers
                .iter()
                .map(|rs| Dest::new(rs.addr, rs.port, rs.weight))
                .collect();
            Ok(Service::new(
                vs.addr,
                vs.port,
                vs.protocol,
                vs.lb_kind,
                vs.persistence_timeout
                    .map(|t| Duration::from_secs(t.into())),
                dests,
                sched,
            ))
        })
        .collect()
}

static STOP: OnceLock<&'static AtomicBool> = OnceLock::new();

/// Install SIGTERM/SIGINT handlers that set the stop flag.
pub fn install_signal_handlers() {
    match crate::sys::event::stop_on_signals() {
        Ok(flag) => {
            let _ = STOP.set(flag);
        }
        Err(e) => eprintln!("vipwire: cannot install signal handlers: {e}"),
    }
}

/// True once SIGTERM/SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// The VRRP view when vipwire's own VRRP is not running: MASTER when one of
/// the instance's VIPs is on its interface.
pub fn observed_vrrp(cfg: &KeepalivedConfig) -> Vec<VrrpStatus> {
    cfg.vrrp_instances
        .iter()
        .map(|vi| {
            let have: Vec<IpAddr> = netif::ipv4_addrs(&vi.interface)
                .unwrap_or_default()
                .into_iter()
                .map(|(a, _)| IpAddr::V4(a))
                .chain(
                    netif::ipv6_addrs(&vi.interface)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| IpAddr::V6(a.addr)),
                )
                .collect();
            let owns = vi
                .virtual_ipaddresses
                .iter()
                .any(|n| have.contains(&n.addr()));
            let state = if owns { "MASTER" } else { "BACKUP" };
            vrrp_status(vi, state.into(), "vip-on-interface")
        })
        .collect()
}

/// The status row of one configured VRRP instance in `state`, as `source` saw it.
fn vrrp_status(vi: &VrrpInstance, state: String, source: &str) -> VrrpStatus {
    VrrpStatus {
        instance: vi.name.clone(),
        interface: vi.interface.clone(),
        virtual_router_id: vi.virtual_router_id,
        state,
        priority: vi.priority,
        vips: vi
            .virtual_ipaddresses
            .iter()
            .map(|n| n.to_string())
            .collect(),
        source: source.into(),
    }
}

/// The VRRP view from vipwire's own runners.
fn vrrp_from_handles(
    cfg: &KeepalivedConfig,
    handles: &[crate::vrrp::VrrpHandle],
) -> Vec<VrrpStatus> {
    cfg.vrrp_instances
        .iter()
        .map(|vi| {
            let state = handles
                .iter()
                .find(|h| h.name() == vi.name)
                .map(|h| {
                    if h.finished() {
                        "STOPPED".to_string()
                    } else {
                        format!("{:?}", h.state()).to_uppercase()
                    }
                })
                .unwrap_or_else(|| "INIT".into());
            vrrp_status(vi, state, "vrrp")
        })
        .collect()
}

/// The status snapshot the control socket serves.
pub fn snapshot(sh: &Shared) -> Status {
    let health = lock(&sh.health).clone();
    let services = lock(&sh.services);
    let svcs = services
        .iter()
        .enumerate()
        .map(|(si, s)| ServiceStatus {
            vip: s.vaddr.to_string(),
            port: s.vport,
            protocol: match s.proto {
                L4Proto::Tcp => "TCP",
                L4Proto::Udp => "UDP",
            }
            .into(),
            lb_kind: match s.kind {
                LbKind::Dr => "DR",
                LbKind::Nat => "NAT",
                LbKind::Tun => "TUN",
            }
            .into(),
            lb_algo: s.scheduler_name().into(),
            persistence_timeout: s.persistence.map(|d| d.as_secs() as u32),
            connections: s.conns().count(),
            real_servers: s
                .dests
                .iter()
                .enumerate()
                .map(|(di, d)| {
                    let h = health.get(&(si, di)).cloned();
                    RealServerStatus {
                        addr: d.addr.to_string(),
                        port: d.port,
                        weight: d.weight,
                        config_weight: s.config_weights.get(di).copied().unwrap_or(0),
                        health: match &h {
                            None => "no check".into(),
                            Some(h) if h.up => "up".into(),
                            Some(_) => "down".into(),
                        },
                        active: d.active,
                        inactive: d.inactive,
                        check: h,
                    }
                })
                .collect(),
        })
        .collect();
    Status {
        pid: std::process::id(),
        interface: sh.interface.clone(),
        data_plane: lock(&sh.data_plane).clone(),
        forwarding: sh.master.load(Ordering::Relaxed),
        vrrp: lock(&sh.vrrp).clone(),
        services: svcs,
        counters: sh
            .counters
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        cloud_checks: crate::status::cloud_checks(),
    }
}

/// The interface's own address: first IPv4 address that is not a VIP.
fn own_ipv4(ifname: &str, cfg: &KeepalivedConfig) -> Result<Ipv4Addr, DirectorError> {
    let vips: Vec<IpAddr> = cfg
        .vrrp_instances
        .iter()
        .flat_map(|v| {
            v.virtual_ipaddresses
                .iter()
                .chain(&v.virtual_ipaddresses_excluded)
                .map(|n| n.addr())
        })
        .chain(cfg.virtual_servers.iter().map(|v| v.addr))
        .collect();
    netif::ipv4_addrs(ifname)
        .map_err(|e| DirectorError::Io(format!("{ifname}: {e}")))?
        .into_iter()
        .map(|(a, _)| a)
        .find(|a| !vips.contains(&IpAddr::V4(*a)))
        .ok_or_else(|| DirectorError::Io(format!("{ifname}: no IPv4 address of its own")))
}

/// The interface's own IPv6 address for neighbour solicitations: the first
/// usable global one that is not a VIP, else its link-local address.
fn own_ipv6(ifname: &str, cfg: &KeepalivedConfig) -> Option<std::net::Ipv6Addr> {
    let vips: Vec<IpAddr> = cfg
        .vrrp_instances
        .iter()
        .flat_map(|v| {
            v.virtual_ipaddresses
                .iter()
                .chain(&v.virtual_ipaddresses_excluded)
                .map(|n| n.addr())
        })
        .chain(cfg.virtual_servers.iter().map(|v| v.addr))
        .collect();
    let mine: Vec<_> = netif::ipv6_addrs(ifname)
        .ok()?
        .into_iter()
        .filter(|a| !a.tentative && !vips.contains(&IpAddr::V6(a.addr)))
        .map(|a| a.addr)
        .collect();
    mine.iter()
        .find(|a| !wire::ipv6::is_link_local(**a))
        .or_else(|| mine.first())
        .copied()
}

/// Run the director until SIGTERM/SIGINT (or `stop`).
pub fn run(cfg: KeepalivedConfig, opts: RunOptions) -> Result<(), DirectorError> {
    install_signal_handlers();
    let ifname = opts
        .interface
        .clone()
        .or_else(|| cfg.vrrp_instances.first().map(|v| v.interface.clone()))
        .ok_or_else(|| {
            DirectorError::Io("no interface: give --interface or a vrrp_instance".into())
        })?;
    let services = build_services(&cfg)?;
    let has_vrrp = !cfg.vrrp_instances.is_empty();
    if opts.vrrp_only && !has_vrrp {
        return Err(DirectorError::Io(
            "--vrrp-only: no vrrp_instance in the configuration".into(),
        ));
    }
    let data_plane = if opts.vrrp_only {
        "off (--vrrp-only)".to_string()
    } else {
        "starting".to_string()
    };
    let shared = Arc::new(Shared {
        vrrp: Mutex::new(observed_vrrp(&cfg)),
        config: cfg,
        services: Mutex::new(services),
        health: Mutex::new(BTreeMap::new()),
        counters: Default::default(),
        master: AtomicBool::new(!has_vrrp),
        interface: ifname.clone(),
        data_plane: Mutex::new(data_plane),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sh2 = Arc::clone(&shared);
    let control = crate::control::serve(opts.socket.clone(), Arc::clone(&stop), move || {
        snapshot(&sh2)
    })
    .map_err(|e| DirectorError::Io(format!("control socket {}: {e}", opts.socket.display())))?;
    eprintln!(
        "vipwire director: {} service(s), control socket {}",
        lock(&shared.services).len(),
        opts.socket.display()
    );
    let mut threads = vec![control];
    let vrrp = if has_vrrp && !opts.external_vrrp {
        let opts = crate::vrrp::Options { log: true };
        match crate::vrrp::spawn_all(&shared.config, &opts) {
            Ok(h) => Some(h),
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                for t in threads {
                    let _ = t.join();
                }
                return Err(DirectorError::Io(format!("VRRP: {e}")));
            }
        }
    } else {
        None
    };
    let view = VrrpView {
        enabled: has_vrrp,
        handles: vrrp.as_deref(),
    };
    let result = if opts.vrrp_only {
        // VRRP alone: nothing to forward, nothing to check.
        while !stop_requested() && !view.failed() {
            update_vrrp_view(&shared, &view);
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    } else {
        let guard = guard::KernelGuard::install(&shared.config).map_err(DirectorError::Io);
        match guard {
            Err(e) => Err(e),
            Ok(guard) => {
                threads.extend(health::spawn_checkers(&shared, &stop));
                let xdp = match opts.io {
                    IoMode::Packet => Ok(None),
                    IoMode::Xdp => open_xdp(&ifname, &shared.config, false).map(Some),
                    IoMode::XdpFast => open_xdp(&ifname, &shared.config, true).map(Some),
                    IoMode::Auto => Ok(open_xdp(&ifname, &shared.config, false)
                        .map_err(|e| {
                            eprintln!(
                                "vipwire director: AF_XDP unavailable ({e}); using TPACKET_V3"
                            )
                        })
                        .ok()),
                };
                let r = match xdp {
                    Err(e) => Err(DirectorError::Io(e)),
                    Ok(xdp) => {
                        let dp = match &xdp {
                            Some(x) if x.fast.is_some() => format!(
                                "XDP DR fast path (XDP_TX, {} XDP) + AF_XDP copy mode + TPACKET_V3 slow path on {ifname}",
                                x.mode
                            ),
                            Some(x) => format!(
                                "AF_XDP ({} XDP, copy mode) + TPACKET_V3 slow path on {ifname}",
                                x.mode
                            ),
                            None => format!("AF_PACKET TPACKET_V3 on {ifname}"),
                        };
                        eprintln!("vipwire director: data plane {dp}");
                        *lock(&shared.data_plane) = dp;
                        data_plane_loop(&shared, &ifname, &view, xdp)
                    }
                };
                drop(guard);
                r
            }
        }
    };
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let mut result = result;
    for h in vrrp.unwrap_or_default() {
        if let Err(e) = h.shutdown() {
            eprintln!("vipwire director: VRRP shutdown: {e}");
            if result.is_ok() {
                result = Err(DirectorError::Io(format!("VRRP: {e}")));
            }
        }
    }
    eprintln!("vipwire director: stopped");
    result
}

/// Where the VRRP state comes from.
struct VrrpView<'a> {
    enabled: bool,
    handles: Option<&'a [crate::vrrp::VrrpHandle]>,
}

impl VrrpView<'_> {
    fn failed(&self) -> bool {
        self.handles.is_some_and(|h| h.iter().any(|h| h.finished()))
    }
}

fn update_vrrp_view(sh: &Shared, view: &VrrpView<'_>) {
    if !view.enabled {
        return;
    }
    let v = match view.handles {
        Some(h) => vrrp_from_handles(&sh.config, h),
        None => observed_vrrp(&sh.config),
    };
    let master = v.iter().any(|s| s.state == "MASTER");
    if sh.master.swap(master, Ordering::Relaxed) != master {
        eprintln!(
            "vipwire director: {} forwarding (VRRP {})",
            if master { "start" } else { "stop" },
            if master { "MASTER" } else { "not MASTER" }
        );
    }
    *lock(&sh.vrrp) = v;
}

/// A received frame whose IPv4 source is a real server of a NAT service:
/// once forwarded, it was a reply rewritten back to the VIP. The IPv4 header
/// is found through the Ethernet header and its VLAN tags, not at offset 14.
fn from_nat_real_server(svcs: &[Service], frame: &[u8]) -> bool {
    if !svcs.iter().any(|s| s.kind == LbKind::Nat) {
        return false;
    }
    let Some(src) = crate::dataplane::ip_source(frame) else {
        return false;
    };
    svcs.iter().any(|s| s.dests.iter().any(|d| d.addr == src))
}

/// XDP hands over no checksum state: a frame whose L4 checksum does not
/// verify is taken as CHECKSUM_PARTIAL and completed before it leaves.
fn xdp_csum_partial(frame: &[u8]) -> bool {
    crate::dataplane::ipv4_packet(frame).is_some_and(|ip| !wire::ipv4::l4_checksum_ok(ip))
}

/// Count a frame's fate; NAT replies separately.
fn account(sh: &Shared, svcs: &[Service], data: &[u8], action: Action, arp: &mut Vec<IpAddr>) {
    if let Action::Send(_) = action {
        if from_nat_real_server(svcs, data) {
            sh.counters.nat_replies.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    if let Action::NeedArp(ip) = action {
        arp.push(ip);
    }
    sh.counters.count(&action);
}

/// The XDP classifier keys for the configuration: every virtual server, and
/// the real servers of NAT services (their replies come back through us).
pub fn xdp_keys(cfg: &KeepalivedConfig) -> Vec<[u8; 8]> {
    let mut keys = Vec::new();
    for vs in &cfg.virtual_servers {
        let proto = match vs.protocol {
            L4Proto::Tcp => wire::ipv4::PROTO_TCP,
            L4Proto::Udp => wire::ipv4::PROTO_UDP,
        };
        if let IpAddr::V4(a) = vs.addr {
            keys.push(crate::afxdp::classifier_key(a, vs.port, proto, false));
        }
        if vs.lb_kind == LbKind::Nat {
            for rs in &vs.real_servers {
                if let IpAddr::V4(a) = rs.addr {
                    keys.push(crate::afxdp::classifier_key(a, rs.port, proto, true));
                }
            }
        }
    }
    keys
}

/// The AF_XDP path: classifier program + XSK on queue 0, and with
/// `--io xdp-fast` the DR fast path's maps in front of the classifier.
struct XdpPath {
    _prog: crate::afxdp::XdpClassifier,
    xsk: crate::afxdp::Xsk,
    mode: &'static str,
    fast: Option<crate::fastpath::FastPath>,
}

fn rx_queues(ifname: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(1)
}

/// A virtual interface linked to another one (iflink != ifindex, no device):
/// a veth, most likely.
fn looks_like_veth(ifname: &str) -> bool {
    let read = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{ifname}/{f}"));
    let (Ok(idx), Ok(link)) = (read("ifindex"), read("iflink")) else {
        return false;
    };
    idx.trim() != link.trim()
        && !std::path::Path::new(&format!("/sys/class/net/{ifname}/device")).exists()
}

fn open_xdp(ifname: &str, cfg: &KeepalivedConfig, fast: bool) -> Result<XdpPath, String> {
    use crate::afxdp::{XdpClassifier, Xsk, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
    if rx_queues(ifname) > 1 {
        return Err(format!(
            "{ifname} has several RX queues (one XSK per queue is not done)"
        ));
    }
    let idx = crate::afpacket::ifindex(ifname).map_err(|e| e.to_string())?;
    let mut keys = xdp_keys(cfg);
    // The director's own addresses (not the VIPs): their traffic is the kernel's.
    let vips: Vec<IpAddr> = cfg.virtual_servers.iter().map(|v| v.addr).collect();
    for (a, _) in netif::ipv4_addrs(ifname).map_err(|e| e.to_string())? {
        if !vips.contains(&IpAddr::V4(a)) {
            keys.push(crate::afxdp::local_key(a));
        }
    }
    let fast = if fast {
        if looks_like_veth(ifname) {
            eprintln!(
                "vipwire director: {ifname} looks like a veth: XDP_TX frames reach its peer \
                 only while the peer has an XDP program (docs/director.md, the XDP DR fast path)"
            );
        }
        let mac = netif::mac_ioctl(ifname).map_err(|e| e.to_string())?;
        let f = crate::fastpath::FastPath::new(crate::fastpath::DEFAULT_MAX_ENTRIES, mac)
            .map_err(|e| format!("fast path maps: {e}"))?;
        Some(f)
    } else {
        None
    };
    let fds = fast.as_ref().map(|f| f.fds());
    let (prog, mode) = match XdpClassifier::attach_with(idx, XDP_FLAGS_DRV_MODE, &keys, fds) {
        Ok(p) => (p, "native"),
        Err(e1) => match XdpClassifier::attach_with(idx, XDP_FLAGS_SKB_MODE, &keys, fds) {
            Ok(p) => (p, "generic"),
            Err(e2) => return Err(format!("XDP attach: native: {e1}; generic: {e2}")),
        },
    };
    let xsk = Xsk::open(idx).map_err(|e| format!("AF_XDP socket: {e}"))?;
    prog.register(0, xsk.fd())
        .map_err(|e| format!("XSKMAP: {e}"))?;
    Ok(XdpPath {
        _prog: prog,
        xsk,
        mode,
        fast,
    })
}

/// The sync daemon of `lvs_sync_daemon`, if configured, on its interface's
/// own address.
fn open_sync(sh: &Shared, mtu: usize) -> Result<Option<crate::sync::SyncDaemon>, DirectorError> {
    let Some(d) = &sh.config.lvs_sync_daemon else {
        return Ok(None);
    };
    let Some(syncid) = sh.config.lvs_sync_id() else {
        eprintln!(
            "vipwire director: lvs_sync_daemon: no VRRP instance {} - not syncing",
            d.instance.as_deref().unwrap_or("(none given)")
        );
        return Ok(None);
    };
    let local = own_ipv4(&d.interface, &sh.config)?;
    let mtu = netif::mtu(&d.interface).unwrap_or(mtu);
    let sd = crate::sync::SyncDaemon::open(d, syncid, local, mtu)
        .map_err(|e| DirectorError::Io(format!("lvs_sync_daemon on {}: {e}", d.interface)))?;
    eprintln!(
        "vipwire director: lvs_sync_daemon on {} ({local}): {}",
        d.interface,
        sd.describe()
    );
    Ok(Some(sd))
}

/// Master of the sync: the named instance is MASTER (else the forwarding gate).
fn sync_role(sh: &Shared, instance: Option<&str>) -> bool {
    let v = lock(&sh.vrrp);
    match instance.and_then(|n| v.iter().find(|s| s.instance == n)) {
        Some(s) => s.state == "MASTER",
        None => sh.master.load(Ordering::Relaxed),
    }
}

fn data_plane_loop(
    sh: &Shared,
    ifname: &str,
    view: &VrrpView<'_>,
    mut xdp: Option<XdpPath>,
) -> Result<(), DirectorError> {
    // The TPACKET_V3 ring is the fast path without XDP, and the slow path
    // (ARP, odd packets the classifier passes) with it.
    let mut ring = PacketRing::open(ifname, RingConfig::default())
        .map_err(|e| DirectorError::Io(format!("AF_PACKET on {ifname}: {e}")))?;
    let my_mac = netif::mac_ioctl(ifname).map_err(|e| DirectorError::Io(e.to_string()))?;
    // An IPv6-only director has no IPv4 address to ARP from; only IPv4
    // services need one.
    let needs_ipv4 = sh.config.virtual_servers.iter().any(|v| v.addr.is_ipv4());
    let my_ip = match own_ipv4(ifname, &sh.config) {
        Err(e) if needs_ipv4 => return Err(e),
        r => r.unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let mut neigh = Neighbours::new(ifname, my_mac, my_ip);
    neigh.my_ip6 = own_ipv6(ifname, &sh.config);
    let mut fwd = Forwarder::new(neigh, my_ip);
    let mtu = netif::mtu(ifname).unwrap_or(1500);
    let epoch = Instant::now();
    let mut last_tick = Instant::now() - Duration::from_secs(10);
    let mut last_vrrp = Instant::now() - Duration::from_secs(10);
    let mut arp_wanted: Vec<IpAddr> = Vec::new();
    let mut sync = open_sync(sh, mtu)?;
    while !stop_requested() {
        if last_vrrp.elapsed() >= Duration::from_millis(10) {
            update_vrrp_view(sh, view);
            last_vrrp = Instant::now();
            if view.failed() {
                return Err(DirectorError::Io(
                    "a VRRP instance stopped with an error".into(),
                ));
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            let now = epoch.elapsed();
            fwd.neigh.refresh_kernel();
            let mut svcs = lock(&sh.services);
            if let Some(f) = xdp.as_mut().and_then(|x| x.fast.as_mut()) {
                // Before expiry: the program's packets re-arm their connections.
                let r = f.refresh(now, &mut svcs, |ip| fwd.neigh.lookup(ip));
                let c = &sh.counters;
                c.xdp_fast_packets.fetch_add(r.packets, Ordering::Relaxed);
                c.xdp_fast_removed.fetch_add(r.removed, Ordering::Relaxed);
                c.xdp_fast_entries.store(f.len() as u64, Ordering::Relaxed);
            }
            for s in svcs.iter_mut() {
                s.expire(now);
                for d in &s.dests {
                    if fwd.neigh.lookup(d.addr).is_none() {
                        arp_wanted.push(d.addr);
                    }
                }
            }
        }
        for ip in arp_wanted.drain(..) {
            if let Some(f) = fwd
                .neigh
                .want_resolve(ip)
                .and_then(|hop| fwd.neigh.resolve_frame(hop))
            {
                let _ = ring.send_now(&f);
            }
        }
        let mut fds = vec![ring.fd()];
        if let Some(x) = &xdp {
            fds.push(x.xsk.fd());
        }
        if let Some(sd) = &sync {
            fds.push(sd.rx_fd());
        }
        let ready = ring.rx_ready() || xdp.as_ref().is_some_and(|x| x.xsk.wait_rx(0));
        if !ready {
            let r = crate::sys::event::poll_ms(&fds, libc::POLLIN, 10);
            if !r.is_ok_and(|r| r.contains(&true)) {
                continue;
            }
        }
        let master = sh.master.load(Ordering::Relaxed);
        let now = epoch.elapsed();
        let mut svcs = lock(&sh.services);
        let sync_master = sync
            .as_ref()
            .is_some_and(|sd| sync_role(sh, sd.instance.as_deref()));
        if sync.is_some() {
            crate::sync::SyncDaemon::set_role(sync_master, &mut svcs);
        }
        if let Some(x) = xdp.as_mut() {
            if let Some(f) = x.fast.as_mut() {
                f.set_forwarding(master)
                    .map_err(|e| DirectorError::Io(format!("fast path gate: {e}")))?;
            }
            let fast = &mut x.fast;
            x.xsk.forward_batch(|data, buf| {
                sh.counters.rx.fetch_add(1, Ordering::Relaxed);
                let partial = xdp_csum_partial(data);
                let action = fwd.process(now, data, partial, master, &mut svcs, buf);
                account(sh, &svcs, data, action, &mut arp_wanted);
                match action {
                    Action::Send(n) => {
                        // An established DR connection: from now on the
                        // program forwards it (XDP_TX on this interface).
                        if let Some(f) = fast.as_mut() {
                            if f.learn(data, &buf[..n], &svcs, 0) {
                                let c = &sh.counters;
                                c.xdp_fast_learned.fetch_add(1, Ordering::Relaxed);
                                c.xdp_fast_entries.store(f.len() as u64, Ordering::Relaxed);
                            }
                        }
                        Some(n)
                    }
                    _ => None,
                }
            });
            x.xsk
                .flush()
                .map_err(|e| DirectorError::Io(format!("AF_XDP send on {ifname}: {e}")))?;
        }
        ring.rx_block(|ring, fr| {
            sh.counters.rx.fetch_add(1, Ordering::Relaxed);
            if fr.pkttype == libc::PACKET_OUTGOING {
                return;
            }
            let partial = fr.csum_not_ready();
            let mut each = |data: &[u8], partial: bool| {
                let mut action = Action::Ignore;
                let ok = ring.send_with(|buf| {
                    action = fwd.process(now, data, partial, master, &mut svcs, buf);
                    match action {
                        Action::Send(n) => Some(n),
                        _ => None,
                    }
                });
                if !ok {
                    sh.counters.tx_ring_full.fetch_add(1, Ordering::Relaxed);
                }
                account(sh, &svcs, data, action, &mut arp_wanted);
            };
            // GRO/GSO super-packets do not fit the wire: segment them here.
            match split_oversized(fr.data, mtu) {
                Some(parts) => {
                    sh.counters.gso_segmented.fetch_add(1, Ordering::Relaxed);
                    for f in &parts {
                        each(f, false);
                    }
                }
                None => each(fr.data, partial),
            }
        });
        if let Some(sd) = sync.as_mut() {
            sd.step(now, sync_master, &mut svcs, &sh.counters);
        }
        drop(svcs);
        ring.flush()
            .map_err(|e| DirectorError::Io(format!("send on {ifname}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_xdp_keys_from_config() {
        let text =
            "virtual_server 198.51.100.241 80 {\n lb_algo wrr\n lb_kind NAT\n protocol TCP\n \
                    persistence_timeout 50\n real_server 198.51.100.8 8080 {\n weight 3\n }\n}\n\
                    virtual_server 198.51.100.242 53 {\n lb_algo rr\n lb_kind DR\n protocol UDP\n \
                    real_server 198.51.100.10 53 {\n weight 1\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).unwrap();
        let svcs = build_services(&cfg).unwrap();
        assert_eq!(svcs.len(), 2);
        assert_eq!(svcs[0].scheduler_name(), "wrr");
        assert_eq!(svcs[0].persistence, Some(Duration::from_secs(50)));
        assert_eq!(svcs[0].dests[0].weight, 3);
        assert_eq!((svcs[1].proto, svcs[1].kind), (L4Proto::Udp, LbKind::Dr));
        // VIP:80/tcp and VIP2:53/udp as destinations; the NAT RS 8080/tcp as source.
        assert_eq!(
            xdp_keys(&cfg),
            vec![
                [198, 51, 100, 241, 0, 80, 6, 0],
                [198, 51, 100, 8, 0x1f, 0x90, 6, 1],
                [198, 51, 100, 242, 0, 53, 17, 0],
            ]
        );
        let st = snapshot(&Shared {
            config: cfg.clone(),
            services: Mutex::new(svcs),
            health: Mutex::new(BTreeMap::new()),
            counters: Default::default(),
            master: AtomicBool::new(true),
            vrrp: Mutex::new(vec![]),
            interface: "eth0".into(),
            data_plane: Mutex::new("test".into()),
        });
        assert_eq!(st.services[0].lb_kind, "NAT");
        assert_eq!(st.services[0].real_servers[0].health, "no check");
        assert_eq!(st.services[1].protocol, "UDP");
    }

    #[test]
    fn ipv6_services_dr_nat_built_tun_refused_with_file_and_line() {
        let text = "virtual_server 2001:db8::100 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n \
                    real_server 2001:db8:1::11 8080 {\n weight 1\n }\n}\n\
                    virtual_server 2001:db8::101 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n \
                    real_server 2001:db8::12 80 {\n weight 1\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).unwrap();
        let svcs = build_services(&cfg).unwrap();
        assert_eq!(svcs.len(), 2);
        assert!(svcs.iter().all(|s| s.vaddr.is_ipv6()));
        // IPv6 services stay out of the IPv4 XDP classifier (they take the
        // TPACKET_V3 path).
        assert!(xdp_keys(&cfg).is_empty());
        let tun =
            "\nvirtual_server 2001:db8::100 80 {\n lb_algo rr\n lb_kind TUN\n protocol TCP\n \
                   real_server 2001:db8::11 80 {\n weight 1\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(tun, "tun6.conf", None).unwrap();
        let Err(e) = build_services(&cfg) else {
            panic!("TUN over IPv6 accepted");
        };
        assert_eq!(
            e.to_string(),
            "tun6.conf:2: virtual_server 2001:db8::100: lb_kind TUN over IPv6 (ip6ip6) is not supported; use DR or NAT"
        );
    }

    use wire::ethernet::{EthernetRepr, MacAddr, VlanTag, ETHERTYPE_IPV4, ETHERTYPE_QINQ};
    use wire::ipv4::{Ipv4Repr, PROTO_TCP};
    use wire::tcp::{TcpRepr, ACK};

    /// An IPv4 TCP frame `src:sport -> dst:dport` behind `outer`/`tci` VLAN
    /// tags; its TCP checksum is broken when `bad_csum`.
    fn tcp_frame(
        tags: (Option<VlanTag>, Option<u16>),
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        bad_csum: bool,
    ) -> Vec<u8> {
        let eth = EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 5]),
            src: MacAddr([2, 0, 0, 0, 0, 8]),
            outer_vlan: tags.0,
            vlan_tci: tags.1,
            ethertype: ETHERTYPE_IPV4,
        };
        let l3 = eth.header_len();
        let mut f = vec![0u8; l3 + 20 + 20 + 4];
        eth.emit(&mut f).unwrap();
        Ipv4Repr {
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            ttl: 64,
            protocol: PROTO_TCP,
            src,
            dst,
            options: vec![],
            payload_len: 24,
        }
        .emit(&mut f[l3..])
        .unwrap();
        TcpRepr {
            src_port: sport,
            dst_port: 40000,
            seq: 1,
            ack: 1,
            flags: ACK,
            window: 100,
            urgent: 0,
            options: vec![],
        }
        .emit(src, dst, b"data", &mut f[l3 + 20..])
        .unwrap();
        if bad_csum {
            f[l3 + 20 + wire::tcp::CHECKSUM_OFFSET] ^= 0xff;
        }
        f
    }

    /// Untagged, 802.1Q (PCP 4), QinQ 802.1ad + 802.1Q, stacked 802.1Q.
    fn taggings() -> [(Option<VlanTag>, Option<u16>); 4] {
        let s_tag = |tpid: u16, vid: u16| {
            Some(VlanTag {
                tpid,
                tci: 0x6000 | vid,
            })
        };
        [
            (None, None),
            (None, Some(0x8064)),
            (s_tag(ETHERTYPE_QINQ, 1000), Some(100)),
            (s_tag(wire::ethernet::ETHERTYPE_VLAN, 7), Some(9)),
        ]
    }

    #[test]
    fn nat_replies_are_counted_behind_vlan_tags() {
        let text = "virtual_server 198.51.100.241 80 {\n lb_kind NAT\n protocol TCP\n \
                    real_server 198.51.100.8 8080 {\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).unwrap();
        let svcs = build_services(&cfg).unwrap();
        let rs = Ipv4Addr::new(198, 51, 100, 8);
        let client = Ipv4Addr::new(192, 0, 2, 100);
        for tags in taggings() {
            let reply = tcp_frame(tags, rs, 8080, client, false);
            assert!(from_nat_real_server(&svcs, &reply), "{tags:?}");
            let request = tcp_frame(tags, client, 40000, rs, false);
            assert!(!from_nat_real_server(&svcs, &request), "{tags:?}");
        }
        // Without a NAT service nothing is a NAT reply.
        let dr = "virtual_server 198.51.100.241 80 {\n lb_kind DR\n protocol TCP\n \
                  real_server 198.51.100.8 80 {\n }\n}\n";
        let dr = build_services(&lvs::keepalived::parse_str(dr, "t.conf", None).unwrap()).unwrap();
        assert!(!from_nat_real_server(
            &dr,
            &tcp_frame((None, None), rs, 80, client, false)
        ));
        // Not IPv4, or cut short: no reply.
        let arp = wire::arp::gratuitous_frame(MacAddr([2, 0, 0, 0, 0, 8]), rs);
        assert!(!from_nat_real_server(&svcs, &arp));
        let short = tcp_frame((None, Some(100)), rs, 8080, client, false);
        assert!(!from_nat_real_server(&svcs, &short[..18 + 19]));
    }

    #[test]
    fn xdp_checksum_state_is_read_behind_vlan_tags() {
        let a = Ipv4Addr::new(192, 0, 2, 100);
        let b = Ipv4Addr::new(198, 51, 100, 241);
        for tags in taggings() {
            assert!(
                xdp_csum_partial(&tcp_frame(tags, a, 40000, b, true)),
                "{tags:?}"
            );
            assert!(
                !xdp_csum_partial(&tcp_frame(tags, a, 40000, b, false)),
                "{tags:?}"
            );
        }
        assert!(!xdp_csum_partial(&[0u8; 10]));
    }
}
