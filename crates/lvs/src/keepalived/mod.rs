//! keepalived.conf: parser for the subset vipwire models, with keepalived's defaults.
//!
//! Pipeline: [`lexer`] (comments, quotes, `include`) -> [`tree`] (statements and
//! blocks) -> [`build`] (typed model, defaults, checks). Keywords keepalived knows
//! but that do not change what vipwire models land in `warnings`; keywords that
//! would change the behaviour vipwire models are errors, as are unknown ones.
//!
//! keepalived itself accepts some mistakes and carries on with a corrected value
//! (no protocol -> UDP, no scheduler -> wlc, ...) while `keepalived -t` exits
//! non-zero. Those corrections are in [`KeepalivedConfig::config_errors`]; the
//! corrected value is in the model, as keepalived would run it.

mod build;
mod error;
mod keywords;
mod lexer;
mod tree;

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

pub use error::ConfigError;

/// Parse a keepalived.conf file; includes are resolved relative to its directory.
pub fn parse_file(path: &Path) -> Result<KeepalivedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    let base = base.unwrap_or(Path::new("."));
    parse_str(&text, &path.display().to_string(), Some(base))
}

/// Parse keepalived.conf text. `source` names it in messages; `base_dir` is where
/// relative `include` patterns are looked up (none: relative to the process cwd).
pub fn parse_str(
    text: &str,
    source: &str,
    base_dir: Option<&Path>,
) -> Result<KeepalivedConfig, ConfigError> {
    let toks = lexer::Tokens::lex(text, source, base_dir)?;
    let stmts = tree::build(&toks)?;
    build::build(&stmts, &toks.sources, toks.warnings.clone())
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
    /// Virtual servers keepalived would install (ones without real servers dropped).
    pub virtual_servers: Vec<VirtualServer>,
    /// Known keepalived keywords that vipwire does not model, and other notes.
    pub warnings: Vec<String>,
    /// What keepalived reports as a configuration error but corrects and runs
    /// with (see module doc). Non-empty means `keepalived -t` exits non-zero.
    pub config_errors: Vec<String>,
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
    /// `authentication { auth_type PASS; auth_pass X }` (first 8 characters).
    pub auth_pass: Option<String>,
    /// Bare address = host prefix (/32, /128); prefix kept as written.
    pub virtual_ipaddresses: Vec<ipnet::IpNet>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub nopreempt: bool,
    /// Seconds, default 0.
    pub preempt_delay: f64,
    /// (script name, weight override).
    pub track_scripts: Vec<(String, Option<i32>)>,
    /// Seconds before the second burst of gratuitous ARPs, default 5.
    pub garp_master_delay: f64,
    /// Gratuitous ARPs per burst, default 5.
    pub garp_master_repeat: u32,
    /// VRRP version: instance `version`, else global `vrrp_version`; IPv6 -> 3.
    pub version: u8,
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
    pub check: Option<HealthCheck>,
    pub line: usize,
}

/// The one health checker of a real server, with keepalived's defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HealthCheck {
    /// Defaults: connect_timeout 5 s, retry 1, delay_before_retry 1 s.
    Tcp {
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// (path, status_code) per `url`; None = keepalived's default 200-299.
    /// Defaults: connect_timeout 5 s, retry 1, delay_before_retry 3 s.
    HttpGet {
        urls: Vec<(String, Option<u16>)>,
        connect_port: Option<u16>,
        connect_timeout: f64,
        retry: u32,
        delay_before_retry: f64,
    },
    /// `misc_path` command line; timeout defaults to the virtual server's delay_loop.
    Misc { path: String, timeout: f64 },
}

#[cfg(test)]
mod tests;
