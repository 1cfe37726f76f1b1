//! keepalived.conf: parser for the subset vipwire models, with keepalived's defaults.
//!
//! Pipeline: [`lexer`] (comments, quotes, `include`; in [`Strictness::Check`]
//! also [`preproc`]: `@ID` lines, `$NAME` parameters, `~SEQ`/`~LST`) -> [`tree`]
//! (statements and blocks) -> [`build`] (typed model, defaults, checks, one
//! module per section as keepalived splits its parsers: [`global_defs`],
//! [`vrrp`] scripts and instances, [`sync_group`], [`track_file`], virtual
//! servers in [`vs`], health checkers in [`checker`]; shared reading context
//! in [`ctx`]).
//!
//! Two strictnesses ([`ParseOptions`]):
//! - [`Strictness::Director`] (the default): the vipwire director runs the
//!   result. Keywords keepalived knows but that do not change what vipwire
//!   models land in `warnings`; keywords that would change the behaviour
//!   vipwire models are errors ([`ConfigError::Unsupported`], naming the
//!   keyword and file:line), as are unknown ones.
//! - [`Strictness::Check`]: `vipwire check` reads production configurations.
//!   Everything keepalived 2.2.7 accepts is accepted; what vipwire models
//!   (sync groups, virtual server groups, fwmark services, sorry servers, all
//!   health checkers, AH authentication, `use_vmac`) is in the model, and what
//!   changes network behaviour but is not modelled is listed in
//!   [`KeepalivedConfig::unmodelled`]. Unknown keywords stay errors.
//!
//! keepalived itself accepts some mistakes and carries on with a corrected value
//! (no protocol -> UDP, no scheduler -> wlc, ...) while `keepalived -t` exits
//! non-zero. Those corrections are in [`KeepalivedConfig::config_errors`]; the
//! corrected value is in the model, as keepalived would run it.

mod build;
mod checker;
mod ctx;
mod error;
mod global_defs;
mod keywords;
mod lexer;
mod preproc;
mod sync_group;
mod track_file;
mod tree;
mod vrrp;
mod vs;

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

pub use error::ConfigError;

/// How strictly a configuration is read; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Strictness {
    /// For the vipwire director: refuse what it cannot run. Today's behaviour.
    #[default]
    Director,
    /// For `vipwire check`: accept what keepalived 2.2.7 accepts and list what
    /// is not modelled in [`KeepalivedConfig::unmodelled`].
    Check,
}

/// Options of [`parse_str_with`] / [`parse_file_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    pub strictness: Strictness,
    /// keepalived's config id (its `-i` option), used in [`Strictness::Check`]
    /// for conditional lines: `@ID ...` is used only when the id equals ID,
    /// `@^ID ...` only when it differs; also the value of `${_INSTANCE}`.
    ///
    /// keepalived defaults the id to the first part of its host name. vipwire
    /// check runs elsewhere, so its own host name would pick lines at random:
    /// None means "no config id given" and is read as keepalived reads an id
    /// that no line names (every `@ID` line left out, every `@^ID` line used);
    /// each left-out ID is listed once in `unmodelled`. Give the director's id
    /// to read the file as that director does.
    pub config_id: Option<String>,
}

impl ParseOptions {
    /// Check mode with an optional config id.
    pub fn check(config_id: Option<&str>) -> ParseOptions {
        ParseOptions {
            strictness: Strictness::Check,
            config_id: config_id.map(str::to_string),
        }
    }
}

/// Parse a keepalived.conf file for the director ([`Strictness::Director`]);
/// includes are resolved relative to its directory.
pub fn parse_file(path: &Path) -> Result<KeepalivedConfig, ConfigError> {
    parse_file_with(path, &ParseOptions::default())
}

/// Parse keepalived.conf text for the director ([`Strictness::Director`]).
/// `source` names it in messages; `base_dir` is where relative `include`
/// patterns are looked up (none: relative to the process cwd).
pub fn parse_str(
    text: &str,
    source: &str,
    base_dir: Option<&Path>,
) -> Result<KeepalivedConfig, ConfigError> {
    parse_str_with(text, source, base_dir, &ParseOptions::default())
}

/// [`parse_file`] with options.
pub fn parse_file_with(path: &Path, opts: &ParseOptions) -> Result<KeepalivedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    let base = base.unwrap_or(Path::new("."));
    parse_str_with(&text, &path.display().to_string(), Some(base), opts)
}

/// [`parse_str`] with options.
pub fn parse_str_with(
    text: &str,
    source: &str,
    base_dir: Option<&Path>,
    opts: &ParseOptions,
) -> Result<KeepalivedConfig, ConfigError> {
    let toks = lexer::Tokens::lex(text, source, base_dir, opts)?;
    let stmts = tree::build(&toks)?;
    build::build(&stmts, &toks, opts.strictness)
}

/// Something in the configuration that changes network behaviour but that
/// vipwire does not model ([`Strictness::Check`] only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmodelled {
    pub source: String,
    pub line: usize,
    pub keyword: String,
    /// Plain words: what vipwire check does not model.
    pub what: String,
}

impl std::fmt::Display for Unmodelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.source, self.line, self.keyword, self.what
        )
    }
}

/// The modelled content of a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeepalivedConfig {
    /// `global_defs { router_id }`.
    pub router_id: Option<String>,
    /// `global_defs { vrrp_version }`, default 2.
    pub vrrp_version: u8,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `vrrp_sync_group`s with at least one existing member (Check mode).
    pub sync_groups: Vec<SyncGroup>,
    /// Virtual servers keepalived would install (ones without real servers
    /// dropped), one per address and port: a `virtual_server group` gives one
    /// per member address of its group (with `group` set).
    pub virtual_servers: Vec<VirtualServer>,
    /// `virtual_server fwmark N` and the fwmark members of groups (Check mode).
    pub fwmark_services: Vec<FwmarkService>,
    /// Known keepalived keywords that vipwire does not model, and other notes.
    pub warnings: Vec<String>,
    /// What changes network behaviour but is not modelled (Check mode).
    pub unmodelled: Vec<Unmodelled>,
    /// `global_defs { lvs_sync_daemon ... }`: the IPVS connection sync.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// What keepalived reports as a configuration error but corrects and runs
    /// with (see module doc). Non-empty means `keepalived -t` exits non-zero.
    pub config_errors: Vec<String>,
    /// The scripts keepalived would run and its script-security settings:
    /// what `keepalived -t` checks against the host (`vipwire director -t`).
    pub script_security: ScriptSecurity,
}

/// `global_defs { lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N] [maxlen M]
/// [port P] [ttl T] [group G] }`: the director that is MASTER of the
/// instance sends its connections on INTERFACE, the others receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state decides master (send) or backup (receive).
    pub instance: Option<String>,
    /// `id`; default: the instance's virtual_router_id.
    pub syncid: Option<u8>,
    /// `maxlen`: UDP payload bytes per message; default from the interface MTU.
    pub maxlen: Option<u16>,
    /// `port`, default 8848.
    pub port: u16,
    /// `ttl`, default 1.
    pub ttl: u8,
    /// `group`; default 224.0.0.81.
    pub group: Option<IpAddr>,
    pub line: usize,
}

impl KeepalivedConfig {
    /// The sync id in use: `id`, else the instance's virtual_router_id.
    pub fn lvs_sync_id(&self) -> Option<u8> {
        let d = self.lvs_sync_daemon.as_ref()?;
        d.syncid.or_else(|| {
            let name = d.instance.as_deref()?;
            self.vrrp_instances
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.virtual_router_id)
        })
    }
}

/// `global_defs { enable_script_security; script_user USER [GROUP] }` and
/// every script of the file, for the host checks of `keepalived -t`
/// (keepalived lib/notify.c, check_script_secure; vrrp.c,
/// check_vrrp_script_security).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScriptSecurity {
    pub enabled: bool,
    /// How many scripts the file had before `enable_script_security`: the
    /// ones before it took their default user without it.
    pub enabled_after_scripts: usize,
    /// Each `script_user`: keepalived resolves every one as it reads it, and
    /// one failure makes the default user fail for the scripts read after it.
    pub script_users: Vec<ScriptUser>,
    pub scripts: Vec<ExternalScript>,
}

/// `script_user USER [GROUP]`, and how many scripts the file had before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
    pub line: usize,
    pub after_scripts: usize,
}

/// Which of keepalived's processes checks a script: the VRRP side only when
/// there is a vrrp_instance (and every interface exists), the checker side
/// only when there is a virtual_server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScriptScope {
    Vrrp,
    Checker,
    /// `notify_fifo_script`: both sides.
    Both,
    /// `startup_script` / `shutdown_script`: the parent process.
    Always,
}

/// Which kind of script: keepalived reports a missing or insecure tracked
/// script or checker, and silently drops a notify script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScriptKind {
    /// `vrrp_script NAME { script ... }`.
    Track(String),
    /// `MISC_CHECK { misc_path ... }`.
    Check,
    /// `notify*` of instances, sync groups and real servers; the global
    /// fifo, startup and shutdown scripts.
    Notify,
}

/// One script as written, with its own `user USER [GROUP]` if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalScript {
    pub kind: ScriptKind,
    pub scope: ScriptScope,
    /// Read in `global_defs` (keepalived reads those before the rest).
    pub global: bool,
    pub command: String,
    pub user: Option<(String, Option<String>)>,
    pub source: String,
    pub line: usize,
}

impl KeepalivedConfig {
    /// True when `keepalived -t` would accept this file (ignoring checks on
    /// the host: interface existence, script security).
    pub fn passes_keepalived_check(&self) -> bool {
        self.config_errors.is_empty()
    }
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    pub name: String,
    pub script: String,
    /// Seconds between runs, default 1.
    pub interval: f64,
    pub timeout: Option<f64>,
    /// Priority change, default 0 (0 means: failure puts the instance in FAULT).
    pub weight: i32,
    /// `weight N reverse`.
    pub weight_reverse: bool,
    /// Consecutive failures before KO, default 1.
    pub fall: u32,
    /// Consecutive successes before OK, default 1.
    pub rise: u32,
    pub line: usize,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VrrpStateCfg {
    Master,
    Backup,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state, default BACKUP.
    pub state: VrrpStateCfg,
    pub interface: String,
    pub virtual_router_id: u8,
    /// 1..=255, default 100.
    pub priority: u8,
    /// Seconds, default 1 (VRRPv2 rounds to whole seconds).
    pub advert_int: f64,
    /// `authentication { auth_type }` as keepalived runs it: None when unset,
    /// or cleared by keepalived (no password, VRRPv3). AH is Check mode only.
    pub auth_type: Option<AuthType>,
    /// `auth_pass` (first 8 characters), set exactly when `auth_type` is. With
    /// AH it is the HMAC-MD5-96 key (keepalived vrrp.c: the 8-byte auth_data
    /// keys the AH digest) and adverts are IP protocol 51, not 112.
    pub auth_pass: Option<String>,
    /// `use_vmac [NAME]`: adverts and gratuitous ARPs come from the virtual
    /// MAC 00:00:5e:00:01:VRID (Check mode; the director refuses it).
    pub use_vmac: bool,
    /// Bare address = host prefix (/32, /128); prefix kept as written.
    pub virtual_ipaddresses: Vec<ipnet::IpNet>,
    /// `virtual_ipaddress_excluded`: added and removed with the VIPs but not
    /// carried in adverts; any family (how an IPv4 instance gets IPv6 VIPs).
    pub virtual_ipaddresses_excluded: Vec<ipnet::IpNet>,
    /// IPv6 VIPs (and excluded VIPs) keepalived adds with a finite preferred
    /// lifetime, in seconds: `preferred_lft N`, or 0 by default for a /128
    /// (deprecated: the kernel never picks it as a source address). The
    /// others are preferred forever.
    pub vip_preferred_lft: Vec<(IpAddr, u32)>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub nopreempt: bool,
    /// Seconds, default 0.
    pub preempt_delay: f64,
    /// (script name, weight override).
    pub track_scripts: Vec<(String, Option<i32>)>,
    /// `track_interface { IFNAME [weight N [reverse]] }`.
    pub track_interfaces: Vec<TrackInterface>,
    /// Seconds before the second burst of gratuitous ARPs, default 5.
    pub garp_master_delay: f64,
    /// Gratuitous ARPs per burst, default 5.
    pub garp_master_repeat: u32,
    /// VRRP version: instance `version`, else 3 for IPv6, else global `vrrp_version`.
    pub version: u8,
    pub line: usize,
    pub source: String,
}

/// One `track_interface` line (keepalived vrrp_track.c, alloc_track_if):
/// weight 0 puts the instance in FAULT while the interface is down (with
/// `reverse`: while it is up); otherwise the priority moves by |weight|.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInterface {
    pub name: String,
    /// -253..=253, default 0.
    pub weight: i32,
    pub reverse: bool,
    pub line: usize,
}

/// `authentication { auth_type PASS|AH }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AuthType {
    /// Simple password in the VRRPv2 header.
    Pass,
    /// IPsec AH (RFC 2402 style) around the advert, keyed by `auth_pass`.
    Ah,
}

/// `vrrp_sync_group NAME { group { VI_1 VI_2 } }`: instances that change state
/// together (one in FAULT or MASTER takes the others with it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncGroup {
    pub name: String,
    /// Member instance names that exist, in `group` order.
    pub instances: Vec<String>,
    pub line: usize,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum L4Proto {
    Tcp,
    Udp,
}

/// IPVS scheduler names accepted by `lb_algo` / `lvs_sched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel / ipvsadm name (`wlc`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    pub fn from_name(name: &str) -> Option<Scheduler> {
        Scheduler::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// IPVS forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LbKind {
    Nat,
    Dr,
    Tun,
}

/// `virtual_server IP PORT { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    pub addr: IpAddr,
    pub port: u16,
    /// keepalived 2.2.7: no `protocol` -> UDP (and a config error).
    pub protocol: L4Proto,
    /// No `lb_algo` -> wlc (and a config error).
    pub lb_algo: Scheduler,
    /// No `lb_kind` -> NAT (and a config error).
    pub lb_kind: LbKind,
    /// Seconds between checks, default 60.
    pub delay_loop: f64,
    /// `persistence_timeout` alone means 360 s.
    pub persistence_timeout: Option<u32>,
    pub real_servers: Vec<RealServer>,
    /// `sorry_server` (Check mode): installed when no real server is up.
    pub sorry_server: Option<SorryServer>,
    /// The `virtual_server_group` this service comes from (`virtual_server
    /// group NAME`). keepalived runs one set of checkers per real server for
    /// the whole group, so the members' `checks` are the same checkers.
    pub group: Option<String>,
    pub line: usize,
    pub source: String,
}

/// `sorry_server IP [PORT]` with `sorry_server_inhibit` and
/// `sorry_server_lvs_method`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    /// No port -> the virtual server's (keepalived sets it for DR/TUN; for NAT
    /// IPVS uses the service port for a destination port 0).
    pub port: u16,
    /// `sorry_server_inhibit`: weight 0 instead of removal.
    pub inhibit: bool,
    /// `sorry_server_lvs_method`, default the virtual server's.
    pub lb_kind: LbKind,
    pub line: usize,
}

/// `virtual_server fwmark N { ... }`, or a `fwmark N` member of a
/// `virtual_server_group`: IPVS matches packets by firewall mark (set by
/// iptables/nftables rules vipwire does not see), any address, any protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FwmarkService {
    pub fwmark: u32,
    /// `protocol` as written; keepalived ignores it for fwmark services
    /// (reported as a config error): the mark alone selects packets.
    pub protocol: Option<L4Proto>,
    pub lb_algo: Scheduler,
    pub lb_kind: LbKind,
    pub delay_loop: f64,
    pub persistence_timeout: Option<u32>,
    /// Ports: DR/TUN 0 (keepalived clears them), NAT as written (0 = the
    /// packet's destination port).
    pub real_servers: Vec<RealServer>,
    pub sorry_server: Option<SorryServer>,
    pub group: Option<String>,
    pub line: usize,
    pub source: String,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    pub addr: IpAddr,
    /// No port -> the virtual server's; DR/TUN force the virtual server's port.
    pub port: u16,
    /// Default: the virtual server's `weight`, else 1; 0 = quiesced.
    pub weight: u32,
    /// The health checkers, in configuration order; keepalived keeps the real
    /// server up only while all of them pass. The director runs at most one.
    pub checks: Vec<HealthCheck>,
    pub line: usize,
}

/// A health checker with keepalived's defaults applied.
///
/// `connect_ip` None = the real server's address; `connect_port` None = the
/// real server's port. keepalived 2.2.7 copies the real server's address and
/// port as written when it reads the checker (check_api.c, queue_checker), before
/// it fills in a missing real server port or resets a DR/TUN one, so a checker
/// without `connect_port` on a real server written without a port (or with a
/// port that keepalived resets) has `connect_port: Some(port as written)`,
/// possibly 0. `connect_ip` keeps that port (inet_stosockaddr without a port).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HealthCheck {
    /// A TCP connect. Defaults: connect_timeout 5 s, retry 1, delay_before_retry 1 s.
    Tcp {
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// (path, status_code) per `url`; None = keepalived's default 200-299.
    /// Defaults: connect_timeout 5 s, retry 1, delay_before_retry 3 s.
    HttpGet {
        urls: Vec<(String, Option<u16>)>,
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// HTTP_GET over TLS; same fields and defaults.
    SslGet {
        urls: Vec<(String, Option<u16>)>,
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// SMTP greeting, HELO and QUIT over TCP. No `connect_port` = the real
    /// server's port (keepalived 2.2.7 check_smtp.c; not 25). Each `host { }`
    /// sub-block is its own checker. Defaults as TCP_CHECK.
    Smtp {
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// One DNS query over UDP. No `connect_port` = the real server's port
    /// (keepalived 2.2.7 check_dns.c sets no 53). `query_type` default "SOA",
    /// `name` default "" (the root). Defaults: retry 3, delay_before_retry =
    /// delay_loop, connect_timeout 5 s.
    Dns {
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        query_type: String,
        name: String,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// A UDP datagram (`payload`); without `require_reply` success is the
    /// absence of an ICMP port unreachable. Defaults as TCP_CHECK.
    Udp {
        connect_ip: Option<IpAddr>,
        connect_port: Option<u16>,
        require_reply: bool,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// ICMP (v6) echo. Defaults as TCP_CHECK.
    Ping {
        connect_ip: Option<IpAddr>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// `misc_path` command line; timeout defaults to the virtual server's delay_loop.
    Misc { path: String, timeout: f64 },
    /// `FILE_CHECK { track_file NAME }`: the weight read from a local file
    /// (`track_file NAME { file PATH }`); nothing on the wire.
    File { path: String },
}

impl HealthCheck {
    /// The keepalived keyword of this checker (`TCP_CHECK`, `HTTP_GET`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            HealthCheck::Tcp { .. } => "TCP_CHECK",
            HealthCheck::HttpGet { .. } => "HTTP_GET",
            HealthCheck::SslGet { .. } => "SSL_GET",
            HealthCheck::Smtp { .. } => "SMTP_CHECK",
            HealthCheck::Dns { .. } => "DNS_CHECK",
            HealthCheck::Udp { .. } => "UDP_CHECK",
            HealthCheck::Ping { .. } => "PING_CHECK",
            HealthCheck::Misc { .. } => "MISC_CHECK",
            HealthCheck::File { .. } => "FILE_CHECK",
        }
    }

    /// Where the director sends this check for real server `rs`: address and
    /// port (None for PING_CHECK, which has no port). None for MISC_CHECK and
    /// FILE_CHECK: they run on the director and send nothing vipwire can know.
    pub fn target(&self, rs: &RealServer) -> Option<(IpAddr, Option<u16>)> {
        let at = |ip: &Option<IpAddr>, port: &Option<u16>| {
            Some((ip.unwrap_or(rs.addr), Some(port.unwrap_or(rs.port))))
        };
        match self {
            HealthCheck::Tcp {
                connect_ip,
                connect_port,
                ..
            }
            | HealthCheck::HttpGet {
                connect_ip,
                connect_port,
                ..
            }
            | HealthCheck::SslGet {
                connect_ip,
                connect_port,
                ..
            }
            | HealthCheck::Smtp {
                connect_ip,
                connect_port,
                ..
            }
            | HealthCheck::Dns {
                connect_ip,
                connect_port,
                ..
            }
            | HealthCheck::Udp {
                connect_ip,
                connect_port,
                ..
            } => at(connect_ip, connect_port),
            HealthCheck::Ping { connect_ip, .. } => Some((connect_ip.unwrap_or(rs.addr), None)),
            HealthCheck::Misc { .. } | HealthCheck::File { .. } => None,
        }
    }

    /// (retry, delay_before_retry, connect_timeout) of checkers that connect;
    /// None for MISC_CHECK and FILE_CHECK.
    pub fn retry_timing(&self) -> Option<(u32, f64, f64)> {
        match self {
            HealthCheck::Tcp {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::HttpGet {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::SslGet {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::Smtp {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::Dns {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::Udp {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            }
            | HealthCheck::Ping {
                retry,
                delay_before_retry,
                connect_timeout,
                ..
            } => Some((*retry, *delay_before_retry, *connect_timeout)),
            HealthCheck::Misc { .. } | HealthCheck::File { .. } => None,
        }
    }

    /// The port the checker connects to when it is not the real server's
    /// (`connect_port`); None for checkers without a port.
    pub(crate) fn connect_port_mut(&mut self) -> Option<&mut Option<u16>> {
        match self {
            HealthCheck::Tcp { connect_port, .. }
            | HealthCheck::HttpGet { connect_port, .. }
            | HealthCheck::SslGet { connect_port, .. }
            | HealthCheck::Smtp { connect_port, .. }
            | HealthCheck::Dns { connect_port, .. }
            | HealthCheck::Udp { connect_port, .. } => Some(connect_port),
            HealthCheck::Ping { .. } | HealthCheck::Misc { .. } | HealthCheck::File { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod check_tests;
