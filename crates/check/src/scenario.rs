//! Scenario: the YAML file that ties a cloud (Neutron JSON) to the load balancer
//! (keepalived.conf per director), plus what vipwire infers from them: roles,
//! VIPs, virtual services and which director is master. The scenario names its
//! VIP pattern: `lvs-dr` (the default), `lvs-nat` or `lvs-tun` (the LVS
//! forwarding method, read from keepalived's `lb_kind`), or `vip-failover`
//! (members that hold the VIP by VRRP and serve it themselves, with or without
//! keepalived.conf files).

use crate::error::CheckError;
use ipnet::IpNet;
use lvs::keepalived::{KeepalivedConfig, L4Proto, LbKind, ParseOptions, VirtualServer};
use neutron::firewall::FirewallDriver;
use neutron::model::{Cloud, Port};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The field report's scenario, compiled into the binary.
pub mod builtin {
    pub const SCENARIO: &str = include_str!("../../../examples/lvs-dr/scenario.yaml");
    pub const NEUTRON: &str = include_str!("../../../examples/lvs-dr/neutron.json");
    pub const KEEPALIVED_1: &str =
        include_str!("../../../examples/lvs-dr/keepalived-director-1.conf");
    pub const KEEPALIVED_2: &str =
        include_str!("../../../examples/lvs-dr/keepalived-director-2.conf");

    /// The files of the built-in scenario by the names scenario.yaml uses.
    pub fn file(name: &str) -> Option<&'static str> {
        match name {
            "scenario.yaml" => Some(SCENARIO),
            "neutron.json" => Some(NEUTRON),
            "keepalived-director-1.conf" => Some(KEEPALIVED_1),
            "keepalived-director-2.conf" => Some(KEEPALIVED_2),
            _ => None,
        }
    }
}

/// The scenario file as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    neutron: OneOrMany,
    #[serde(default = "default_driver")]
    firewall_driver: String,
    /// `lvs-dr`, `lvs-nat`, `lvs-tun` (default: from `lb_kind`) or `vip-failover`.
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    directors: Vec<DirectorEntry>,
    /// vip-failover: the VRRP members (port names, or `{port, keepalived}`).
    #[serde(default)]
    members: Vec<MemberEntry>,
    /// vip-failover without keepalived files: the VIP the members share, or
    /// one per family (`[203.0.113.241, 2001:db8::241]`, dual stack).
    vip: Option<VipList>,
    /// vip-failover: what the members serve on the VIP (`tcp/443`, `udp/53`).
    #[serde(default)]
    services: Vec<String>,
    /// vip-failover: the ports the members connect to themselves.
    #[serde(default)]
    backends: Vec<String>,
    /// vip-failover: the services of the backends (default: `services`).
    #[serde(default)]
    backend_services: Vec<String>,
    /// vip-failover without keepalived files: `multicast` (default) or `unicast`.
    vrrp: Option<String>,
    /// routed-prefixes: the ports that route prefixes and the prefixes behind each.
    #[serde(default)]
    routers: Vec<RouterEntry>,
    /// routed-prefixes: the ports that talk to the prefixes (default: every other port).
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    real_server_defaults: HostSettings,
    #[serde(default)]
    real_servers: Vec<RealServerEntry>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    client_sources: Vec<IpNet>,
    /// For ports without `binding:host_id` (a tenant's view): which share a host.
    #[serde(default)]
    hosts: BTreeMap<String, Vec<String>>,
}

/// routed-prefixes: a port and the prefixes it sends from and receives for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterEntry {
    port: String,
    prefixes: Vec<IpNet>,
}

/// `neutron: file.json` or `neutron: [ports.json, groups.json, ...]` (merged by id).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn files(&self) -> Vec<String> {
        match self {
            OneOrMany::One(f) => vec![f.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

fn default_driver() -> String {
    "iptables_hybrid".into()
}

/// `vip: ADDR` or `vip: [ADDR, ...]` (at most one per address family: each
/// family gets its own VRRP instance, as keepalived requires).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum VipList {
    One(IpAddr),
    Many(Vec<IpAddr>),
}

impl VipList {
    fn addrs(&self) -> Vec<IpAddr> {
        match self {
            VipList::One(a) => vec![*a],
            VipList::Many(v) => v.clone(),
        }
    }
}

/// A member: a port name alone, or a port with its keepalived.conf.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MemberEntry {
    Port(String),
    Entry(DirectorEntry),
}

impl MemberEntry {
    fn entry(&self) -> DirectorEntry {
        match self {
            MemberEntry::Port(p) => DirectorEntry {
                port: p.clone(),
                keepalived: None,
                config_id: None,
            },
            MemberEntry::Entry(e) => e.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectorEntry {
    port: String,
    keepalived: Option<String>,
    /// keepalived's `-i` config id for `@ID` lines (keepalived.conf(5)).
    config_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RealServerEntry {
    port: String,
    #[serde(flatten)]
    settings: HostSettingsOverride,
}

/// A client: a port on the tenant network, or an outside network (`cidr`)
/// reached through a router port.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    port: Option<String>,
    cidr: Option<IpNet>,
    router_port: Option<String>,
}

/// Kernel settings of a real server that decide whether its forwarding method
/// works on it (DR and TUN: the VIP held locally, ARP suppressed; TUN: tunl0 and
/// its reverse-path filter; NAT: the default route).
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// The VIP is configured on `lo` (TUN: on `lo` or `tunl0`), so the host
    /// accepts packets for it. Not used by NAT (the real server gets packets
    /// for its own address).
    #[serde(default = "yes")]
    pub vip_on_lo: bool,
    /// `net.ipv4.conf.all.arp_ignore`.
    #[serde(default = "one")]
    pub arp_ignore: u8,
    /// `net.ipv4.conf.all.arp_announce`.
    #[serde(default = "two")]
    pub arp_announce: u8,
    /// NAT: the real server's default gateway. The LVS-NAT recipe is an address
    /// the directors hold by VRRP (a `virtual_ipaddress`), so replies follow the
    /// master. None: what DHCP gives a Neutron VM, its subnet's `gateway_ip`.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// TUN: the `rp_filter` in force on `tunl0`, the larger of
    /// `net.ipv4.conf.all.rp_filter` and `net.ipv4.conf.tunl0.rp_filter`
    /// (0 off, 1 strict, 2 loose).
    #[serde(default)]
    pub rp_filter: u8,
    /// TUN: the `ipip` module is loaded and `tunl0` is up (it decapsulates IP
    /// protocol 4).
    #[serde(default = "yes")]
    pub tunl0: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            vip_on_lo: true,
            arp_ignore: 1,
            arp_announce: 2,
            gateway: None,
            rp_filter: 0,
            tunl0: true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSettingsOverride {
    vip_on_lo: Option<bool>,
    arp_ignore: Option<u8>,
    arp_announce: Option<u8>,
    gateway: Option<IpAddr>,
    rp_filter: Option<u8>,
    tunl0: Option<bool>,
}

fn yes() -> bool {
    true
}
fn one() -> u8 {
    1
}
fn two() -> u8 {
    2
}

/// A director: its port and keepalived configuration.
#[derive(Clone, Debug)]
pub struct Director {
    pub port_id: String,
    pub config: KeepalivedConfig,
    /// The scenario gave no keepalived.conf for it (`config` is then empty).
    pub without_config: bool,
    /// The keepalived.conf it was read from.
    pub config_source: String,
}

/// Something wrong with the load balancer's own configuration (not a Neutron
/// drop): it fails the check like a drop does.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What it is about: a director, an instance, a real server.
    pub subject: String,
    pub message: String,
    /// file:line where known.
    pub location: Option<String>,
}

/// A real server: its port and host settings.
#[derive(Clone, Debug)]
pub struct RealServer {
    pub port_id: String,
    pub ip: IpAddr,
    pub settings: HostSettings,
}

/// Where a client's packets enter the tenant network.
#[derive(Clone, Debug)]
pub struct Client {
    /// The port its frames come from: its own, or the router's.
    pub port_id: String,
    /// The client's address (an external client: the first host of its CIDR).
    pub ip: IpAddr,
    /// Behind a router: the port does not belong to the client itself.
    pub external: bool,
}

/// A service the members serve on the VIP themselves (or a backend's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    #[serde(serialize_with = "ser_l4")]
    pub protocol: L4Proto,
    pub port: u16,
}

fn ser_l4<S: serde::Serializer>(p: &L4Proto, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(crate::lifecycle::l4_name(*p))
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            crate::lifecycle::l4_name(self.protocol),
            self.port
        )
    }
}

impl Service {
    /// `tcp/443`, `udp/53`.
    fn parse(text: &str) -> Option<Service> {
        let (proto, port) = text.trim().split_once('/')?;
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => L4Proto::Tcp,
            "udp" => L4Proto::Udp,
            _ => return None,
        };
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        Some(Service { protocol, port })
    }
}

/// A port the members connect to on their own (HAProxy's backend servers).
#[derive(Clone, Debug)]
pub struct BackendHost {
    pub port_id: String,
    pub ip: IpAddr,
}

/// The VIP pattern the scenario describes (BRIEF §8).
#[derive(Clone, Debug)]
pub enum Pattern {
    /// LVS direct routing: directors forward to real servers (the field report).
    LvsDr,
    /// LVS NAT: the directors DNAT the clients' packets to the real servers and
    /// SNAT the replies, which come back through them (their default gateway).
    LvsNat,
    /// LVS TUN: the directors encapsulate the clients' packets in IPIP to the
    /// real servers, which answer from the VIP straight to the client.
    LvsTun,
    /// The members hold the VIP by VRRP/GARP and serve it themselves
    /// (keepalived + HAProxy/nginx, kube-vip, MetalLB L2, Pacemaker IPaddr2).
    VipFailover(VipFailover),
    /// Ports that route prefixes behind them (Calico/kube-router direct
    /// routing, MetalLB BGP next hops, a router VM): each sends from and
    /// receives for addresses that are none of its fixed IPs.
    RoutedPrefixes(RoutedPrefixes),
}

/// A port that routes prefixes.
#[derive(Clone, Debug)]
pub struct PrefixRouter {
    pub port_id: String,
    pub prefixes: Vec<IpNet>,
}

#[derive(Clone, Debug)]
pub struct RoutedPrefixes {
    pub routers: Vec<PrefixRouter>,
    pub services: Vec<Service>,
    /// The services were not declared (one TCP flow stands for them).
    pub services_default: bool,
}

impl RoutedPrefixes {
    /// The router port and prefix an address is behind, if any.
    pub fn behind(&self, ip: IpAddr) -> Option<(&PrefixRouter, IpNet)> {
        self.routers.iter().find_map(|r| {
            r.prefixes
                .iter()
                .find(|n| n.contains(&ip))
                .map(|n| (r, n.trunc()))
        })
    }

    /// The address a flow uses inside a prefix: its first host.
    pub fn inside(prefix: &IpNet) -> IpAddr {
        prefix.hosts().next().unwrap_or(prefix.addr())
    }
}

#[derive(Clone, Debug)]
pub struct VipFailover {
    pub services: Vec<Service>,
    pub backends: Vec<BackendHost>,
    pub backend_services: Vec<Service>,
    /// The members' VRRP came from the scenario (no keepalived.conf).
    pub synthesised: bool,
}

impl Pattern {
    pub fn name(&self) -> &'static str {
        match self {
            Pattern::LvsDr => "lvs-dr",
            Pattern::LvsNat => "lvs-nat",
            Pattern::LvsTun => "lvs-tun",
            Pattern::VipFailover(_) => "vip-failover",
            Pattern::RoutedPrefixes(_) => "routed-prefixes",
        }
    }

    pub fn routed(&self) -> Option<&RoutedPrefixes> {
        match self {
            Pattern::RoutedPrefixes(r) => Some(r),
            _ => None,
        }
    }

    pub fn vip_failover(&self) -> Option<&VipFailover> {
        match self {
            Pattern::VipFailover(v) => Some(v),
            _ => None,
        }
    }
}

/// The resolved scenario every later stage works on.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub source: String,
    pub cloud: Cloud,
    pub driver: FirewallDriver,
    /// Which VIP pattern is checked.
    pub pattern: Pattern,
    /// The VRRP members: LVS directors, or the vip-failover members.
    pub directors: Vec<Director>,
    pub real_servers: Vec<RealServer>,
    pub clients: Vec<Client>,
    /// The client classes were inferred (every other port), not declared.
    pub clients_inferred: bool,
    pub client_sources: Vec<IpNet>,
    /// Findings about the inputs themselves (see also `consistency`).
    pub findings: Vec<Finding>,
    /// What vipwire assumed where the inputs are silent, in plain words.
    pub assumptions: Vec<String>,
}

/// Reads the files a scenario names: from disk, or from the built-in set.
pub trait FileSource {
    fn read(&self, name: &str) -> Result<String, CheckError>;
    fn path(&self, name: &str) -> PathBuf;
}

struct DiskFiles {
    dir: PathBuf,
}

impl FileSource for DiskFiles {
    fn read(&self, name: &str) -> Result<String, CheckError> {
        let path = self.path(name);
        std::fs::read_to_string(&path).map_err(|e| CheckError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

struct BuiltinFiles;

impl FileSource for BuiltinFiles {
    fn read(&self, name: &str) -> Result<String, CheckError> {
        builtin::file(name)
            .map(str::to_string)
            .ok_or_else(|| CheckError::Io {
                path: format!("(built-in)/{name}"),
                message: "no such built-in file".into(),
            })
    }
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from("examples/lvs-dr").join(name)
    }
}

impl Scenario {
    /// The field report's scenario (examples/lvs-dr), as compiled in.
    pub fn builtin() -> Result<Scenario, CheckError> {
        Self::from_source(
            &BuiltinFiles,
            "scenario.yaml",
            "examples/lvs-dr/scenario.yaml",
        )
    }

    /// A scenario file on disk; other files are relative to its folder.
    pub fn load(path: &Path) -> Result<Scenario, CheckError> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        Self::from_source(&DiskFiles { dir }, &name, &path.display().to_string())
    }

    fn from_source(
        files: &dyn FileSource,
        name: &str,
        display: &str,
    ) -> Result<Scenario, CheckError> {
        let text = files.read(name)?;
        let file: ScenarioFile = serde_saphyr::from_str_with_options(
            &text,
            serde_saphyr::options! { with_snippet: false, strict_booleans: true },
        )
        .map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            CheckError::Scenario {
                source_name: display.to_string(),
                line,
                column: col,
                message: e.to_string(),
            }
        })?;
        let driver = FirewallDriver::parse(&file.firewall_driver).ok_or_else(|| {
            CheckError::Unsupported(format!(
                "{display}: firewall_driver \"{}\" is not supported yet \
                 (supported: iptables_hybrid, ovn; openvswitch is planned)",
                file.firewall_driver
            ))
        })?;
        let mut inputs = Vec::new();
        for name in file.neutron.files() {
            inputs.push((files.read(&name)?, files.path(&name).display().to_string()));
        }
        if inputs.is_empty() {
            return Err(CheckError::Invalid(format!(
                "{display}: neutron: name at least one Neutron JSON file"
            )));
        }
        let mut cloud =
            neutron::load::load_files(&inputs).map_err(|e| CheckError::Neutron(e.to_string()))?;

        if file.pattern.as_deref() == Some("routed-prefixes") {
            return routed_scenario(file, cloud, driver, display);
        }
        if let Some(key) = [
            ("routers", !file.routers.is_empty()),
            ("peers", !file.peers.is_empty()),
        ]
        .iter()
        .find_map(|(k, set)| set.then_some(k))
        {
            return Err(CheckError::Invalid(format!(
                "{display}: `{key}:` belongs to `pattern: routed-prefixes` (ports that route \
                 prefixes behind them); add that line"
            )));
        }
        // The LVS forwarding method the scenario names, if it names one.
        let (failover, declared_kind) = match file.pattern.as_deref() {
            None => (false, None),
            Some("lvs-dr") => (false, Some(LbKind::Dr)),
            Some("lvs-nat") => (false, Some(LbKind::Nat)),
            Some("lvs-tun") => (false, Some(LbKind::Tun)),
            Some("vip-failover") => (true, None),
            Some(other) => {
                return Err(CheckError::Unsupported(format!(
                    "{display}: pattern \"{other}\" is not supported yet (supported: lvs-dr, \
                     lvs-nat, lvs-tun, vip-failover, routed-prefixes)"
                )))
            }
        };
        let mut entries: Vec<(DirectorEntry, &str)> = file
            .directors
            .iter()
            .map(|e| (e.clone(), "directors"))
            .collect();
        if failover {
            entries.extend(file.members.iter().map(|m| (m.entry(), "members")));
        } else {
            let misplaced = [
                ("members", !file.members.is_empty()),
                ("vip", file.vip.is_some()),
                ("services", !file.services.is_empty()),
                ("backends", !file.backends.is_empty()),
                ("backend_services", !file.backend_services.is_empty()),
                ("vrrp", file.vrrp.is_some()),
            ];
            if let Some((key, _)) = misplaced.iter().find(|(_, set)| *set) {
                return Err(CheckError::Invalid(format!(
                    "{display}: `{key}:` belongs to `pattern: vip-failover` (members that hold \
                     the VIP and serve it themselves); add that line, or describe LVS directors \
                     under `directors:`"
                )));
            }
        }
        let unicast = match file.vrrp.as_deref() {
            None | Some("multicast") => false,
            Some("unicast") => true,
            Some(other) => {
                return Err(CheckError::Invalid(format!(
                    "{display}: vrrp: \"{other}\": say `multicast` or `unicast`"
                )))
            }
        };
        let file_vips: Vec<IpAddr> = file.vip.as_ref().map(VipList::addrs).unwrap_or_default();
        if file_vips.is_empty() && file.vip.is_some() {
            return Err(CheckError::Invalid(format!(
                "{display}: vip: give the VIP (or one IPv4 and one IPv6 VIP)"
            )));
        }
        if file_vips.iter().filter(|v| v.is_ipv4()).count() > 1
            || file_vips.iter().filter(|v| v.is_ipv6()).count() > 1
        {
            return Err(CheckError::Invalid(format!(
                "{display}: vip: at most one VIP per address family (one IPv4, one IPv6); \
                 for more, give the members' keepalived.conf files"
            )));
        }
        let member_ports: Vec<&Port> = entries
            .iter()
            .map(|(e, field)| find_port(&cloud, &e.port, display, field))
            .collect::<Result<Vec<_>, _>>()?;
        let mut synthesised = false;
        let mut directors = Vec::new();
        let mut findings = Vec::new();
        for (index, (entry, field)) in entries.iter().enumerate() {
            let port = find_port(&cloud, &entry.port, display, field)?;
            let synthetic = match (&entry.keepalived, failover, file_vips.is_empty()) {
                (None, true, false) => Some(member_vrrp(
                    &file_vips,
                    index,
                    port,
                    &member_ports,
                    unicast,
                    display,
                )?),
                (None, true, true) => {
                    return Err(CheckError::Invalid(format!(
                        "{display}: members: \"{}\" has no keepalived.conf: give the shared \
                         `vip:` (the check then runs VRRP for it as keepalived would), or \
                         `{{port: {}, keepalived: FILE}}`",
                        entry.port, entry.port
                    )))
                }
                _ => None,
            };
            let (config, without_config, config_source) = match (&entry.keepalived, synthetic) {
                (None, Some(text)) => {
                    synthesised = true;
                    let source = format!("{display} (members, vip)");
                    (
                        lvs::keepalived::parse_str(&text, &source, None)
                            .map_err(|e| CheckError::Keepalived(e.to_string()))?,
                        false,
                        display.to_string(),
                    )
                }
                (Some(name), _) => {
                    let conf_path = files.path(name);
                    let conf_text = files.read(name)?;
                    // Check strictness: everything keepalived accepts loads; what
                    // the check does not model is listed, never silently dropped.
                    let config = lvs::keepalived::parse_str_with(
                        &conf_text,
                        &conf_path.display().to_string(),
                        conf_path.parent(),
                        &ParseOptions::check(entry.config_id.as_deref()),
                    )
                    .map_err(|e| CheckError::Keepalived(e.to_string()))?;
                    (config, false, conf_path.display().to_string())
                }
                (None, None) => (
                    lvs::keepalived::parse_str("", "(none)", None)
                        .map_err(|e| CheckError::Keepalived(e.to_string()))?,
                    true,
                    display.to_string(),
                ),
            };
            directors.push(Director {
                port_id: port.id.clone(),
                config,
                without_config,
                config_source,
            });
        }
        if directors.is_empty() {
            return Err(CheckError::Invalid(if failover {
                format!(
                    "{display}: no members: list the ports that hold the VIP \
                     (`members: [lb-1, lb-2]`)"
                )
            } else {
                format!("{display}: no directors: list each director's port and keepalived.conf")
            }));
        }
        if failover {
            for d in &directors {
                if let Some(vs) = d.config.virtual_servers.first() {
                    return Err(CheckError::Invalid(format!(
                        "{}:{}: virtual_server {} {} in a vip-failover member: in this pattern \
                         the members serve the VIP themselves (HAProxy, nginx); drop `pattern: \
                         vip-failover` to check LVS directors",
                        vs.source, vs.line, vs.addr, vs.port
                    )));
                }
            }
        }
        let pattern = if failover {
            let parse_services = |list: &[String], key: &str| {
                list.iter()
                    .map(|t| {
                        Service::parse(t).ok_or_else(|| {
                            CheckError::Invalid(format!(
                                "{display}: {key}: \"{t}\": write a service as tcp/PORT or \
                                 udp/PORT"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let services = parse_services(&file.services, "services")?;
            if services.is_empty() {
                return Err(CheckError::Invalid(format!(
                    "{display}: pattern vip-failover: list what the members serve on the VIP, \
                     e.g. `services: [tcp/443]` (keepalived.conf does not say what HAProxy or \
                     nginx listens on)"
                )));
            }
            let mut backend_services = parse_services(&file.backend_services, "backend_services")?;
            if backend_services.is_empty() {
                backend_services = services.clone();
            }
            let mut backends = Vec::new();
            for name in &file.backends {
                let p = find_port(&cloud, name, display, "backends")?;
                let ip = first_ip(p).ok_or_else(|| {
                    CheckError::Invalid(format!(
                        "{display}: backends: port \"{name}\" has no fixed IP"
                    ))
                })?;
                backends.push(BackendHost {
                    port_id: p.id.clone(),
                    ip,
                });
            }
            for &vip in &file_vips {
                for d in &directors {
                    let holds = d
                        .config
                        .vrrp_instances
                        .iter()
                        .flat_map(|i| &i.virtual_ipaddresses)
                        .any(|v| v.addr() == vip);
                    if !holds {
                        findings.push(Finding {
                            subject: cloud
                                .port(&d.port_id)
                                .map(|p| p.name.clone())
                                .filter(|n| !n.is_empty())
                                .unwrap_or_else(|| d.port_id.clone()),
                            message: format!(
                                "no vrrp_instance of this member holds the scenario's vip {vip}"
                            ),
                            location: Some(d.config_source.clone()),
                        });
                    }
                }
            }
            Pattern::VipFailover(VipFailover {
                services,
                backends,
                backend_services,
                synthesised,
            })
        } else {
            lvs_pattern(&directors, declared_kind, display)?
        };
        // IPv6 services: DR forwards an IPv6 packet as it is (only the
        // destination MAC changes), so it is modelled; IPVS tunnels IPv6 in
        // ip6ip6 (ip_vs_xmit.c ip_vs_tunnel_xmit_v6) and NATs it with its own
        // v6 paths, neither of which the check models yet.
        for d in &directors {
            for vs in &d.config.virtual_servers {
                if vs.addr.is_ipv6() && vs.lb_kind != LbKind::Dr {
                    let (kind, how) = match vs.lb_kind {
                        LbKind::Tun => (
                            "TUN",
                            "IPVS tunnels IPv6 as ip6ip6 (IP protocol 41), which neither the \
                             check nor vipwire's director models",
                        ),
                        _ => ("NAT", "IPv6 NAT through the director is not modelled yet"),
                    };
                    return Err(CheckError::Unsupported(format!(
                        "{}:{}: virtual_server {} {} lb_kind {kind} over IPv6: {how}; IPv6 \
                         services are checked with lb_kind DR (or pattern vip-failover)",
                        vs.source, vs.line, vs.addr, vs.port
                    )));
                }
            }
        }

        // Real servers: every real_server IP of every director, matched to a port.
        let mut real_servers: Vec<RealServer> = Vec::new();
        for d in &directors {
            for vs in &d.config.virtual_servers {
                // Real servers, and the sorry server IPVS uses when none is up.
                let targets = vs
                    .real_servers
                    .iter()
                    .map(|r| (r.addr, r.line, "real_server"))
                    .chain(
                        vs.sorry_server
                            .iter()
                            .map(|s| (s.addr, s.line, "sorry_server")),
                    );
                for (addr, line, keyword) in targets {
                    if real_servers.iter().any(|r| r.ip == addr) {
                        continue;
                    }
                    let Some(port) = cloud
                        .ports
                        .iter()
                        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == addr))
                    else {
                        let location = format!("{}:{}", vs.source, line);
                        if !findings
                            .iter()
                            .any(|f: &Finding| f.subject == addr.to_string())
                        {
                            findings.push(Finding {
                                subject: addr.to_string(),
                                message: format!(
                                    "{keyword} {addr} of virtual_server {}:{} is not a port of \
                                     the cloud (no port has that fixed IP): its path cannot be \
                                     checked; add its port to the Neutron inputs",
                                    vs.addr, vs.port
                                ),
                                location: Some(location),
                            });
                        }
                        continue;
                    };
                    let mut settings = file.real_server_defaults;
                    if let Some(o) = file.real_servers.iter().find(|o| {
                        o.port == port.id || o.port == port.name || o.port == addr.to_string()
                    }) {
                        settings.vip_on_lo = o.settings.vip_on_lo.unwrap_or(settings.vip_on_lo);
                        settings.arp_ignore = o.settings.arp_ignore.unwrap_or(settings.arp_ignore);
                        settings.arp_announce =
                            o.settings.arp_announce.unwrap_or(settings.arp_announce);
                        settings.gateway = o.settings.gateway.or(settings.gateway);
                        settings.rp_filter = o.settings.rp_filter.unwrap_or(settings.rp_filter);
                        settings.tunl0 = o.settings.tunl0.unwrap_or(settings.tunl0);
                    }
                    real_servers.push(RealServer {
                        port_id: port.id.clone(),
                        ip: addr,
                        settings,
                    });
                }
            }
        }
        for o in &file.real_servers {
            // An override names a port (id or name) or a real_server address.
            if !real_servers.iter().any(|r| r.ip.to_string() == o.port) {
                find_port(&cloud, &o.port, display, "real_servers")?;
            }
        }

        let mut assumptions = Vec::new();
        report_unknowns(&cloud, &mut findings, &mut assumptions);
        for d in &directors {
            for g in &d.config.sync_groups {
                let note = format!(
                    "vrrp_sync_group {} ({}:{}): {} fail over together; the check moves every \
                     instance of a director at once, which is what a sync group enforces",
                    g.name,
                    g.source,
                    g.line,
                    g.instances.join(", ")
                );
                if !assumptions.contains(&note) {
                    assumptions.push(note);
                }
            }
        }
        let all_vips: Vec<IpAddr> = directors
            .iter()
            .flat_map(|d| &d.config.vrrp_instances)
            .flat_map(|i| &i.virtual_ipaddresses)
            .map(|ip| ip.addr())
            .collect();
        assign_unbound_hosts(
            &mut cloud,
            &file.hosts,
            &all_vips,
            display,
            &mut assumptions,
        )?;
        let mut clients = Vec::new();
        for c in &file.clients {
            clients.push(match (&c.port, &c.cidr, &c.router_port) {
                (Some(port), None, None) => {
                    let p = find_port(&cloud, port, display, "clients")?;
                    Client {
                        port_id: p.id.clone(),
                        ip: first_ip(p).ok_or_else(|| {
                            CheckError::Invalid(format!(
                                "{display}: clients: port \"{port}\" has no fixed IP"
                            ))
                        })?,
                        external: false,
                    }
                }
                (None, Some(cidr), Some(router)) => {
                    let p = find_port(&cloud, router, display, "clients.router_port")?;
                    Client {
                        port_id: p.id.clone(),
                        ip: cidr.hosts().next().unwrap_or(cidr.addr()),
                        external: true,
                    }
                }
                _ => {
                    return Err(CheckError::Invalid(format!(
                        "{display}: clients: give either `port: NAME` or both `cidr: CIDR` and \
                         `router_port: NAME`"
                    )))
                }
            });
        }
        let clients_inferred = clients.is_empty();
        if clients.is_empty() {
            // Infer: every other port with an IP that is neither director nor
            // real server, nor the VIP's own port (no VM sends from it).
            let vips: Vec<IpAddr> = directors
                .iter()
                .flat_map(|d| &d.config.vrrp_instances)
                .flat_map(|i| &i.virtual_ipaddresses)
                .map(|ip| ip.addr())
                .collect();
            clients = cloud
                .ports
                .iter()
                .filter(|p| !p.device_owner.starts_with("network:"))
                .filter(|p| !p.fixed_ips.iter().any(|f| vips.contains(&f.ip_address)))
                .filter(|p| directors.iter().all(|d| d.port_id != p.id))
                .filter(|p| real_servers.iter().all(|r| r.port_id != p.id))
                .filter(|p| {
                    pattern
                        .vip_failover()
                        .is_none_or(|v| v.backends.iter().all(|b| b.port_id != p.id))
                })
                .filter_map(|p| {
                    first_ip(p).map(|ip| Client {
                        port_id: p.id.clone(),
                        ip,
                        external: false,
                    })
                })
                .collect();
        }
        if clients.is_empty() {
            return Err(CheckError::Invalid(format!(
                "{display}: no client port: add `clients: [{{port: NAME}}]`"
            )));
        }
        let client_sources = if file.client_sources.is_empty() {
            // Every source of each family a VIP is served in.
            let mut all: Vec<IpNet> = vec!["0.0.0.0/0".parse().expect("literal CIDR")];
            if all_vips.iter().any(IpAddr::is_ipv6) {
                all.push("::/0".parse().expect("literal CIDR"));
            }
            all
        } else {
            file.client_sources
        };
        Ok(Scenario {
            source: display.to_string(),
            cloud,
            driver,
            pattern,
            directors,
            real_servers,
            clients,
            clients_inferred,
            client_sources,
            findings,
            assumptions,
        })
    }

    pub fn port(&self, id: &str) -> &Port {
        self.cloud
            .port(id)
            .expect("scenario ports are resolved at load time")
    }

    /// Both ports are on the same Neutron network (one L2 segment).
    pub fn same_network(&self, a: &str, b: &str) -> bool {
        self.port(a).network_id == self.port(b).network_id
    }

    /// A network's name, or its id's first 8 characters, for a port's network.
    pub fn network_label(&self, port: &str) -> String {
        let id = &self.port(port).network_id;
        match self.cloud.network(id) {
            Some(n) if !n.name.is_empty() => n.name.clone(),
            _ => id.chars().take(8).collect(),
        }
    }

    /// A short human name for a port: its name, or its id's first 8 characters.
    pub fn port_label(&self, id: &str) -> String {
        match self.cloud.port(id) {
            Some(p) if !p.name.is_empty() => p.name.clone(),
            _ => id.chars().take(8).collect(),
        }
    }

    /// Directors ordered by VRRP election: the first is master. keepalived elects
    /// by priority, then by the higher primary IP (RFC 3768 6.4.3).
    pub fn directors_by_election(&self) -> Vec<&Director> {
        let mut ds: Vec<&Director> = self.directors.iter().collect();
        ds.sort_by_key(|d| {
            let priority = d.config.vrrp_instances.first().map(|v| v.priority);
            let primary_ip = self
                .port(&d.port_id)
                .fixed_ips
                .first()
                .map(|f| f.ip_address);
            std::cmp::Reverse((priority.unwrap_or(0), primary_ip))
        });
        ds
    }

    /// The directors that can hold a VIP (they run a VRRP instance with one), in
    /// election order: each takes its turn as the holder.
    pub fn holders(&self) -> Vec<&Director> {
        self.directors_by_election()
            .into_iter()
            .filter(|d| !self.vips_of(d).is_empty())
            .collect()
    }

    /// All VIPs of the directors' VRRP instances.
    pub fn vips(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = Vec::new();
        for d in &self.directors {
            for ip in self.vips_of(d) {
                if !v.contains(&ip) {
                    v.push(ip);
                }
            }
        }
        v
    }

    /// The VIPs one director's VRRP instances hold when it is master.
    pub fn vips_of(&self, d: &Director) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = Vec::new();
        for inst in &d.config.vrrp_instances {
            for ip in &inst.virtual_ipaddresses {
                if !v.contains(&ip.addr()) {
                    v.push(ip.addr());
                }
            }
        }
        v
    }

    /// The real servers the scheduler may send a connection of `vs` to: every
    /// one with a port in the cloud and a weight above 0 (weight 0 is quiesced).
    pub fn paths_of(&self, vs: &VirtualServer) -> Vec<&RealServer> {
        vs.real_servers
            .iter()
            .filter(|r| r.weight > 0)
            .filter_map(|r| self.real_server_by_ip(r.addr))
            .collect()
    }

    /// The sorry server IPVS sends to when no real server is up, when it is a
    /// port and forwarded like the real servers (the virtual server's method).
    pub fn sorry_path_of(&self, vs: &VirtualServer) -> Option<&RealServer> {
        vs.sorry_server
            .as_ref()
            .filter(|s| s.lb_kind == vs.lb_kind)
            .and_then(|s| self.real_server_by_ip(s.addr))
    }

    /// Virtual services of a director.
    pub fn services<'a>(&self, d: &'a Director) -> &'a [VirtualServer] {
        &d.config.virtual_servers
    }

    /// The services whose real servers a director's checkers test: a
    /// `virtual_server group` runs one set of checkers for all its members.
    pub fn checked_services<'a>(&self, d: &'a Director) -> Vec<&'a VirtualServer> {
        let mut seen: Vec<&str> = Vec::new();
        d.config
            .virtual_servers
            .iter()
            .filter(|vs| match &vs.group {
                Some(g) if seen.contains(&g.as_str()) => false,
                Some(g) => {
                    seen.push(g);
                    true
                }
                None => true,
            })
            .collect()
    }

    /// The port a real server listens on for `vs` (NAT may map the service
    /// port to another; DR and TUN keep it).
    pub fn rs_port(&self, vs: &VirtualServer, rs: &RealServer) -> u16 {
        vs.real_servers
            .iter()
            .find(|r| r.addr == rs.ip)
            .map(|r| r.port)
            .or_else(|| {
                vs.sorry_server
                    .as_ref()
                    .filter(|s| s.addr == rs.ip)
                    .map(|s| s.port)
            })
            .filter(|p| *p != 0)
            .unwrap_or(vs.port)
    }

    /// The client as it talks to an address of `like`'s family: a client
    /// port uses its fixed IP of that family; an outside client has only its
    /// own (None: it cannot reach that family).
    pub fn client_in_family(&self, c: &Client, like: IpAddr) -> Option<Client> {
        if c.ip.is_ipv6() == like.is_ipv6() {
            return Some(c.clone());
        }
        if c.external {
            return None;
        }
        first_of_family(self.port(&c.port_id), like.is_ipv6()).map(|ip| Client {
            port_id: c.port_id.clone(),
            ip,
            external: false,
        })
    }

    pub fn real_server_by_ip(&self, ip: IpAddr) -> Option<&RealServer> {
        self.real_servers.iter().find(|r| r.ip == ip)
    }
}

/// Fields no input carried. Most can only make the model stricter than the
/// cloud (an unknown pair list is empty, so more is dropped): they are listed.
/// Three could make it looser, so a PASS would not mean pass: a rule whose ICMP
/// type or code the rule list did not print (read as "any"), and a group whose
/// `stateful` is unknown (read as stateful, whose conntrack admits replies a
/// stateless group would drop). Those are findings.
fn report_unknowns(cloud: &Cloud, findings: &mut Vec<Finding>, assumptions: &mut Vec<String>) {
    const LOOSER: [&str; 3] = ["port_range_min", "port_range_max", "stateful"];
    // One line per (kind, field, source): the objects it concerns, and one hint.
    let mut groups: Vec<(bool, String, Vec<String>, String)> = Vec::new();
    for u in &cloud.unknown {
        let looser = LOOSER.contains(&u.field);
        let head = format!(
            "{} unknown for {}s read from {}",
            u.what(),
            u.kind,
            u.read_from.join(", ")
        );
        let who = if u.name.is_empty() || u.name == u.id {
            u.id.chars().take(8).collect()
        } else {
            u.name.clone()
        };
        match groups.iter_mut().find(|g| g.1 == head) {
            Some(g) => g.2.push(who),
            None => groups.push((looser, head, vec![who], u.hint.clone())),
        }
    }
    for (looser, head, who, hint) in groups {
        let line = format!("{head}: {}; for example: {hint}", who.join(", "));
        if looser {
            findings.push(Finding {
                subject: "Neutron inputs".into(),
                message: format!(
                    "{line}. The check can only read it as wider than it may be, so it \
                     cannot pass"
                ),
                location: None,
            });
        } else {
            assumptions.push(format!(
                "{line} (read in the strictest way: it can only add drops, never a pass)"
            ));
        }
    }
}

/// A tenant does not see `binding:host_id`. For iptables_hybrid every port
/// without one is placed on a compute host of its own, unless the scenario's
/// `hosts:` says which ports share one; never "no host, so no rules".
/// Network-owned ports (router, DHCP) are not VM ports and get no host.
fn assign_unbound_hosts(
    cloud: &mut Cloud,
    hosts: &BTreeMap<String, Vec<String>>,
    vips: &[IpAddr],
    display: &str,
    assumptions: &mut Vec<String>,
) -> Result<(), CheckError> {
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    for (host, ports) in hosts {
        for key in ports {
            let port = find_port(cloud, key, display, "hosts")?;
            declared.insert(port.id.clone(), host.clone());
        }
    }
    let mut own = Vec::new();
    let mut shared = Vec::new();
    for p in cloud.ports.iter_mut() {
        if !p.host_id.is_empty() || p.device_owner.starts_with("network:") {
            continue;
        }
        // A port reserved for a VIP (no device, its fixed IP a VIP) is bound to
        // no VM: no host has its tap device or rules.
        if p.device_owner.is_empty() && p.fixed_ips.iter().any(|f| vips.contains(&f.ip_address)) {
            continue;
        }
        let label = if p.name.is_empty() {
            p.id.chars().take(8).collect()
        } else {
            p.name.clone()
        };
        match declared.get(&p.id) {
            Some(h) => {
                p.host_id = h.clone();
                shared.push(format!("{label} on {h}"));
            }
            None => {
                p.host_id = format!("own-host-{label}");
                own.push(label);
            }
        }
    }
    if !own.is_empty() {
        assumptions.push(format!(
            "{} port(s) have no binding:host_id (a tenant's view of the API): {} each \
             modelled on a compute host of its own with the full iptables_hybrid rules; \
             say `hosts: {{HOST: [port, ...]}}` in the scenario when ports share a host",
            own.len(),
            own.join(", ")
        ));
    }
    if !shared.is_empty() {
        assumptions.push(format!(
            "hosts from the scenario for ports without binding:host_id: {}",
            shared.join(", ")
        ));
    }
    Ok(())
}

/// A `pattern: routed-prefixes` scenario: no VRRP, no VIP; the routers,
/// their prefixes, the services and the peers.
fn routed_scenario(
    file: ScenarioFile,
    mut cloud: Cloud,
    driver: FirewallDriver,
    display: &str,
) -> Result<Scenario, CheckError> {
    let misplaced = [
        ("directors", !file.directors.is_empty()),
        ("members", !file.members.is_empty()),
        ("vip", file.vip.is_some()),
        ("backends", !file.backends.is_empty()),
        ("backend_services", !file.backend_services.is_empty()),
        ("vrrp", file.vrrp.is_some()),
        ("real_servers", !file.real_servers.is_empty()),
        ("clients", !file.clients.is_empty()),
        ("client_sources", !file.client_sources.is_empty()),
    ];
    if let Some((key, _)) = misplaced.iter().find(|(_, set)| *set) {
        return Err(CheckError::Invalid(format!(
            "{display}: `{key}:` has no place in `pattern: routed-prefixes`: list the ports \
             that route prefixes under `routers:` and the ports that talk to them under `peers:`"
        )));
    }
    if file.routers.is_empty() {
        return Err(CheckError::Invalid(format!(
            "{display}: pattern routed-prefixes: list the ports that route prefixes, e.g. \
             `routers: [{{port: node-1, prefixes: [192.0.2.0/26]}}]`"
        )));
    }
    let mut routers: Vec<PrefixRouter> = Vec::new();
    for r in &file.routers {
        let p = find_port(&cloud, &r.port, display, "routers")?;
        if first_ipv4(p).is_none() {
            return Err(CheckError::Invalid(format!(
                "{display}: routers: port \"{}\" has no IPv4 fixed IP (the next hop of its \
                 prefixes)",
                r.port
            )));
        }
        if r.prefixes.is_empty() {
            return Err(CheckError::Invalid(format!(
                "{display}: routers: \"{}\": list the prefixes behind it (`prefixes: [CIDR]`)",
                r.port
            )));
        }
        if let Some(v6) = r.prefixes.iter().find(|n| n.addr().is_ipv6()) {
            return Err(CheckError::Unsupported(format!(
                "{display}: routers: \"{}\": IPv6 prefix {v6}: vipwire check models IPv4 \
                 routed prefixes only so far",
                r.port
            )));
        }
        if routers.iter().any(|o| o.port_id == p.id) {
            return Err(CheckError::Invalid(format!(
                "{display}: routers: port \"{}\" is listed twice",
                r.port
            )));
        }
        for n in &r.prefixes {
            if let Some(o) = routers
                .iter()
                .find(|o| o.prefixes.iter().any(|m| m.contains(n) || n.contains(m)))
            {
                return Err(CheckError::Invalid(format!(
                    "{display}: routers: prefix {n} of \"{}\" overlaps a prefix of \"{}\": \
                     each address is behind one port",
                    r.port,
                    cloud
                        .port(&o.port_id)
                        .map(|p| p.name.clone())
                        .unwrap_or_default()
                )));
            }
        }
        routers.push(PrefixRouter {
            port_id: p.id.clone(),
            prefixes: r.prefixes.iter().map(IpNet::trunc).collect(),
        });
    }
    let mut services = Vec::new();
    for t in &file.services {
        services.push(Service::parse(t).ok_or_else(|| {
            CheckError::Invalid(format!(
                "{display}: services: \"{t}\": write a service as tcp/PORT or udp/PORT"
            ))
        })?);
    }
    let services_default = services.is_empty();
    if services_default {
        services.push(Service {
            protocol: L4Proto::Tcp,
            port: 443,
        });
    }
    let mut clients = Vec::new();
    for name in &file.peers {
        let p = find_port(&cloud, name, display, "peers")?;
        if routers.iter().any(|r| r.port_id == p.id) {
            return Err(CheckError::Invalid(format!(
                "{display}: peers: \"{name}\" is a router: router-to-router flows are \
                 checked anyway"
            )));
        }
        clients.push(Client {
            port_id: p.id.clone(),
            ip: first_ipv4(p).ok_or_else(|| {
                CheckError::Invalid(format!(
                    "{display}: peers: port \"{name}\" has no IPv4 fixed IP"
                ))
            })?,
            external: false,
        });
    }
    let clients_inferred = file.peers.is_empty();
    if clients_inferred {
        let nets: Vec<String> = routers
            .iter()
            .filter_map(|r| cloud.port(&r.port_id).map(|p| p.network_id.clone()))
            .collect();
        clients = cloud
            .ports
            .iter()
            .filter(|p| !p.device_owner.starts_with("network:"))
            .filter(|p| !p.device_owner.is_empty())
            .filter(|p| nets.contains(&p.network_id))
            .filter(|p| routers.iter().all(|r| r.port_id != p.id))
            .filter_map(|p| {
                first_ipv4(p).map(|ip| Client {
                    port_id: p.id.clone(),
                    ip,
                    external: false,
                })
            })
            .collect();
    }
    let mut findings = Vec::new();
    let mut assumptions = Vec::new();
    report_unknowns(&cloud, &mut findings, &mut assumptions);
    assign_unbound_hosts(&mut cloud, &file.hosts, &[], display, &mut assumptions)?;
    if services_default {
        assumptions.push(
            "no `services:` given: one TCP connection to port 443 stands for the traffic \
             between the prefixes and their peers"
                .into(),
        );
    }
    Ok(Scenario {
        source: display.to_string(),
        cloud,
        driver,
        pattern: Pattern::RoutedPrefixes(RoutedPrefixes {
            routers,
            services,
            services_default,
        }),
        directors: Vec::new(),
        real_servers: Vec::new(),
        clients,
        clients_inferred,
        client_sources: Vec::new(),
        findings,
        assumptions,
    })
}

/// The keepalived.conf a vip-failover member runs when the scenario gives
/// none: one instance per VIP, the first member MASTER with the highest
/// priority, advert 1 s, multicast or unicast to the other members. The IPv4
/// VIP's instance is VI_1 with VRID 51; an IPv6 VIP gets its own instance
/// (keepalived refuses VIPs of the other family in `virtual_ipaddress`,
/// vrrp_data.c "address family must match VRRP instance"), VI_6 with VRID 52,
/// which keepalived runs as VRRPv3 to ff02::12.
fn member_vrrp(
    vips: &[IpAddr],
    index: usize,
    own: &Port,
    members: &[&Port],
    unicast: bool,
    display: &str,
) -> Result<String, CheckError> {
    let mut text = String::new();
    for vip in vips {
        let v6 = vip.is_ipv6();
        let (name, vrid) = if v6 { ("VI_6", 52) } else { ("VI_1", 51) };
        let own_ip = first_of_family(own, v6);
        if own_ip.is_none() {
            return Err(CheckError::Invalid(format!(
                "{display}: members: port \"{}\" has no {} fixed IP, so it cannot run VRRP for \
                 the VIP {vip}",
                label_of(own),
                if v6 { "IPv6" } else { "IPv4" }
            )));
        }
        text += &format!(
            "vrrp_instance {name} {{\n    state {}\n    interface eth0\n    virtual_router_id \
             {vrid}\n    priority {}\n    advert_int 1\n    virtual_ipaddress {{\n        \
             {vip}\n    }}\n",
            if index == 0 { "MASTER" } else { "BACKUP" },
            200usize.saturating_sub(10 * index).max(1)
        );
        if unicast {
            if let Some(own_ip) = own_ip {
                text += &format!("    unicast_src_ip {own_ip}\n");
            }
            text += "    unicast_peer {\n";
            for m in members.iter().filter(|m| m.id != own.id) {
                if let Some(ip) = first_of_family(m, v6) {
                    text += &format!("        {ip}\n");
                }
            }
            text += "    }\n";
        }
        text += "}\n";
    }
    Ok(text)
}

fn label_of(p: &Port) -> String {
    if p.name.is_empty() {
        p.id.clone()
    } else {
        p.name.clone()
    }
}

/// A port's first fixed IP of one family.
pub fn first_of_family(p: &Port, v6: bool) -> Option<IpAddr> {
    p.fixed_ips
        .iter()
        .map(|f| f.ip_address)
        .find(|ip| ip.is_ipv6() == v6)
}

/// The LVS pattern of the directors' virtual servers: one forwarding method
/// for the whole scenario (from `lb_kind`, or `pattern:` when no service says).
fn lvs_pattern(
    directors: &[Director],
    declared: Option<LbKind>,
    display: &str,
) -> Result<Pattern, CheckError> {
    let name = |k: LbKind| match k {
        LbKind::Dr => "DR",
        LbKind::Nat => "NAT",
        LbKind::Tun => "TUN",
    };
    let mut found: Option<(LbKind, String)> = None;
    for vs in directors.iter().flat_map(|d| &d.config.virtual_servers) {
        let at = format!("{}:{}", vs.source, vs.line);
        if let Some(want) = declared {
            if vs.lb_kind != want {
                return Err(CheckError::Invalid(format!(
                    "{at}: virtual_server {} {} uses lb_kind {}, but {display} says `pattern: \
                     lvs-{}`: make them agree (or drop `pattern:`; it is read from lb_kind)",
                    vs.addr,
                    vs.port,
                    name(vs.lb_kind),
                    name(want).to_lowercase()
                )));
            }
        }
        match &found {
            Some((k, first)) if *k != vs.lb_kind => {
                return Err(CheckError::Unsupported(format!(
                    "{at}: virtual_server {} {} uses lb_kind {}, {first} uses {}: vipwire check \
                     models one LVS forwarding method per scenario; split it into one scenario \
                     per lb_kind",
                    vs.addr,
                    vs.port,
                    name(vs.lb_kind),
                    name(*k)
                )));
            }
            Some(_) => {}
            None => found = Some((vs.lb_kind, at)),
        }
    }
    Ok(
        match found.map(|(k, _)| k).or(declared).unwrap_or(LbKind::Dr) {
            LbKind::Dr => Pattern::LvsDr,
            LbKind::Nat => Pattern::LvsNat,
            LbKind::Tun => Pattern::LvsTun,
        },
    )
}

/// A port's first IPv4 fixed IP, else its first IPv6 one.
fn first_ip(p: &Port) -> Option<IpAddr> {
    first_ipv4(p).or_else(|| first_of_family(p, true))
}

fn first_ipv4(p: &Port) -> Option<IpAddr> {
    p.fixed_ips
        .iter()
        .map(|f| f.ip_address)
        .find(|ip| ip.is_ipv4())
}

fn find_port<'a>(
    cloud: &'a Cloud,
    key: &str,
    display: &str,
    field: &str,
) -> Result<&'a Port, CheckError> {
    let matches: Vec<&Port> = cloud
        .ports
        .iter()
        .filter(|p| p.id == key || p.name == key)
        .collect();
    match matches.as_slice() {
        [p] => Ok(p),
        [] => Err(CheckError::Invalid(format!(
            "{display}: {field}: no port with id or name \"{key}\" in the Neutron data"
        ))),
        _ => Err(CheckError::Invalid(format!(
            "{display}: {field}: several ports are named \"{key}\"; use the port id"
        ))),
    }
}
