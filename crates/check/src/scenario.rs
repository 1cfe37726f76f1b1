//! Scenario: the YAML file that ties a cloud (Neutron JSON) to the load balancer
//! (keepalived.conf per director), plus what vipwire infers from them: roles,
//! VIPs, virtual services and which director is master.

use crate::error::CheckError;
use ipnet::IpNet;
use lvs::keepalived::{KeepalivedConfig, LbKind, VirtualServer};
use neutron::firewall::FirewallDriver;
use neutron::model::{Cloud, Port};
use serde::Deserialize;
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
    neutron: String,
    #[serde(default = "default_driver")]
    firewall_driver: String,
    directors: Vec<DirectorEntry>,
    #[serde(default)]
    real_server_defaults: HostSettings,
    #[serde(default)]
    real_servers: Vec<RealServerEntry>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    client_sources: Vec<IpNet>,
}

fn default_driver() -> String {
    "iptables_hybrid".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectorEntry {
    port: String,
    keepalived: String,
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

/// Kernel settings of a real server that decide whether DR works on it.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// The VIP is configured on `lo` (so the host accepts packets for it).
    #[serde(default = "yes")]
    pub vip_on_lo: bool,
    /// `net.ipv4.conf.all.arp_ignore`.
    #[serde(default = "one")]
    pub arp_ignore: u8,
    /// `net.ipv4.conf.all.arp_announce`.
    #[serde(default = "two")]
    pub arp_announce: u8,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            vip_on_lo: true,
            arp_ignore: 1,
            arp_announce: 2,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSettingsOverride {
    vip_on_lo: Option<bool>,
    arp_ignore: Option<u8>,
    arp_announce: Option<u8>,
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

/// The resolved scenario every later stage works on.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub source: String,
    pub cloud: Cloud,
    pub driver: FirewallDriver,
    pub directors: Vec<Director>,
    pub real_servers: Vec<RealServer>,
    pub clients: Vec<Client>,
    pub client_sources: Vec<IpNet>,
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
        let file: ScenarioFile = serde_yaml::from_str(&text).map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            CheckError::Scenario {
                source_name: display.to_string(),
                line,
                column: col,
                message: e.to_string(),
            }
        })?;
        let driver = match file.firewall_driver.as_str() {
            "iptables_hybrid" | "iptables-hybrid" | "hybrid" => FirewallDriver::IptablesHybrid,
            other => {
                return Err(CheckError::Unsupported(format!(
                    "{display}: firewall_driver \"{other}\" is not supported yet \
                     (supported: iptables_hybrid; openvswitch and ovn are planned)"
                )))
            }
        };
        let neutron_text = files.read(&file.neutron)?;
        let neutron_name = files.path(&file.neutron).display().to_string();
        let cloud = neutron::load::load_json(&neutron_text, &neutron_name)
            .map_err(|e| CheckError::Neutron(e.to_string()))?;

        let mut directors = Vec::new();
        for entry in &file.directors {
            let port = find_port(&cloud, &entry.port, display, "directors")?;
            let conf_path = files.path(&entry.keepalived);
            let conf_text = files.read(&entry.keepalived)?;
            let config = lvs::keepalived::parse_str(
                &conf_text,
                &conf_path.display().to_string(),
                conf_path.parent(),
            )
            .map_err(|e| CheckError::Keepalived(e.to_string()))?;
            directors.push(Director {
                port_id: port.id.clone(),
                config,
            });
        }
        if directors.is_empty() {
            return Err(CheckError::Invalid(format!(
                "{display}: no directors: list each director's port and keepalived.conf"
            )));
        }
        for d in &directors {
            for inst in &d.config.vrrp_instances {
                if let Some(v6) = inst.virtual_ipaddresses.iter().find(|v| v.addr().is_ipv6()) {
                    return Err(CheckError::Unsupported(format!(
                        "{}:{}: vrrp_instance {}: IPv6 VIP {v6}: vipwire check models IPv4 load \
                         balancers only so far",
                        inst.source, inst.line, inst.name
                    )));
                }
            }
            for vs in &d.config.virtual_servers {
                if vs.addr.is_ipv6() {
                    return Err(CheckError::Unsupported(format!(
                        "{}:{}: virtual_server {}: vipwire check models IPv4 services only so far",
                        vs.source, vs.line, vs.addr
                    )));
                }
                if vs.lb_kind != LbKind::Dr {
                    return Err(CheckError::Unsupported(format!(
                        "{}:{}: virtual_server {} {} uses lb_kind {:?}; vipwire check models DR \
                         only so far (NAT and TUN are planned)",
                        vs.source, vs.line, vs.addr, vs.port, vs.lb_kind
                    )));
                }
            }
        }

        // Real servers: every real_server IP of every director, matched to a port.
        let mut real_servers: Vec<RealServer> = Vec::new();
        for d in &directors {
            for vs in &d.config.virtual_servers {
                for rs in &vs.real_servers {
                    if real_servers.iter().any(|r| r.ip == rs.addr) {
                        continue;
                    }
                    let port = cloud
                        .ports
                        .iter()
                        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == rs.addr))
                        .ok_or_else(|| {
                            CheckError::Invalid(format!(
                                "{}:{}: real_server {} has no Neutron port with that fixed IP",
                                vs.source, rs.line, rs.addr
                            ))
                        })?;
                    let mut settings = file.real_server_defaults;
                    if let Some(o) = file.real_servers.iter().find(|o| {
                        o.port == port.id || o.port == port.name || o.port == rs.addr.to_string()
                    }) {
                        settings.vip_on_lo = o.settings.vip_on_lo.unwrap_or(settings.vip_on_lo);
                        settings.arp_ignore = o.settings.arp_ignore.unwrap_or(settings.arp_ignore);
                        settings.arp_announce =
                            o.settings.arp_announce.unwrap_or(settings.arp_announce);
                    }
                    real_servers.push(RealServer {
                        port_id: port.id.clone(),
                        ip: rs.addr,
                        settings,
                    });
                }
            }
        }
        for o in &file.real_servers {
            find_port(&cloud, &o.port, display, "real_servers")?;
        }

        let mut clients = Vec::new();
        for c in &file.clients {
            clients.push(match (&c.port, &c.cidr, &c.router_port) {
                (Some(port), None, None) => {
                    let p = find_port(&cloud, port, display, "clients")?;
                    Client {
                        port_id: p.id.clone(),
                        ip: first_ipv4(p).ok_or_else(|| {
                            CheckError::Invalid(format!(
                                "{display}: clients: port \"{port}\" has no IPv4 fixed IP"
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
        if clients.is_empty() {
            // Infer: every other port with an IP that is neither director nor real server.
            clients = cloud
                .ports
                .iter()
                .filter(|p| !p.device_owner.starts_with("network:"))
                .filter(|p| directors.iter().all(|d| d.port_id != p.id))
                .filter(|p| real_servers.iter().all(|r| r.port_id != p.id))
                .filter_map(|p| {
                    first_ipv4(p).map(|ip| Client {
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
            vec!["0.0.0.0/0".parse().expect("literal CIDR")]
        } else {
            file.client_sources
        };
        Ok(Scenario {
            source: display.to_string(),
            cloud,
            driver,
            directors,
            real_servers,
            clients,
            client_sources,
        })
    }

    pub fn port(&self, id: &str) -> &Port {
        self.cloud
            .port(id)
            .expect("scenario ports are resolved at load time")
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

    /// All VIPs of the directors' VRRP instances.
    pub fn vips(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = Vec::new();
        for d in &self.directors {
            for inst in &d.config.vrrp_instances {
                for ip in &inst.virtual_ipaddresses {
                    if !v.contains(&ip.addr()) {
                        v.push(ip.addr());
                    }
                }
            }
        }
        v
    }

    /// Virtual services of a director.
    pub fn services<'a>(&self, d: &'a Director) -> &'a [VirtualServer] {
        &d.config.virtual_servers
    }

    pub fn real_server_by_ip(&self, ip: IpAddr) -> Option<&RealServer> {
        self.real_servers.iter().find(|r| r.ip == ip)
    }
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
