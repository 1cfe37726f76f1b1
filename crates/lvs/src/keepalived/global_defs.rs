//! `global_defs { }`: the global settings vipwire models (router id, VRRP
//! version, gratuitous ARP defaults for instances), with keepalived 2.2.7's
//! defaults and checks (core/global_parser.c; defaults as
//! core/global_data.c set_vrrp_defaults sets them).

use super::ctx::{lookup3, parse_uint, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::tree::Stmt;
use super::{LvsSyncDaemon, ScriptScope, ScriptUser};

/// Global settings that feed instance defaults.
pub(super) struct Globals {
    pub(super) router_id: Option<String>,
    pub(super) vrrp_version: u8,
    pub(super) garp_master_delay: f64,
    pub(super) garp_master_repeat: u32,
    pub(super) script_security: bool,
    pub(super) script_security_after: usize,
    pub(super) script_users: Vec<ScriptUser>,
    pub(super) lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// The `*_fifo_script` keywords seen.
    pub(super) fifo_scripts: std::collections::HashSet<String>,
}

impl Default for Globals {
    fn default() -> Globals {
        Globals {
            router_id: None,
            vrrp_version: 2,
            garp_master_delay: 5.0,
            garp_master_repeat: 5,
            script_security: false,
            script_security_after: 0,
            script_users: Vec::new(),
            lvs_sync_daemon: None,
            fifo_scripts: Default::default(),
        }
    }
}

pub(super) fn global_defs(cx: &mut Ctx, s: &Stmt, g: &mut Globals) -> Result<(), ConfigError> {
    const C: &str = "global_defs";
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "router_id" => {
                cx.no_block(k, C)?;
                g.router_id = Some(cx.one(k, C)?.to_string());
            }
            "vrrp_version" => g.vrrp_version = cx.uint(k, C, 2, 3)? as u8,
            "vrrp_garp_master_delay" => g.garp_master_delay = cx.uint(k, C, 0, 4294)? as f64,
            "vrrp_garp_master_repeat" => {
                g.garp_master_repeat = cx.uint(k, C, 0, u32::MAX as u64)? as u32;
                if g.garp_master_repeat == 0 {
                    cx.config_error(
                        k,
                        "vrrp_garp_master_repeat must be greater than 0, setting to 1",
                    );
                    g.garp_master_repeat = 1;
                }
            }
            "notification_email" if k.block.as_ref().is_some_and(|b| b.is_empty()) => {
                cx.config_error(k, "Warning - empty notification_email block")
            }
            "smtp_connect_timeout" => {
                // Not modelled, but keepalived checks its range.
                cx.uint(k, C, 0, 4294)?;
                cx.ignored(k, C)?
            }
            "enable_script_security" => {
                if !g.script_security {
                    g.script_security_after = cx.scripts.len();
                }
                g.script_security = true;
                cx.ignored(k, C)?
            }
            "script_user" => {
                if let Some((u, rest)) = k.args.split_first() {
                    g.script_users.push(ScriptUser {
                        user: u.clone(),
                        group: rest.first().cloned(),
                        line: k.line,
                        after_scripts: cx.scripts.len(),
                    });
                }
                cx.ignored(k, C)?
            }
            "lvs_sync_daemon" => {
                lvs_sync_daemon(cx, k, g);
                if cx.check_mode() {
                    cx.note(
                        k,
                        "lvs_sync_daemon",
                        "the IPVS sync traffic between directors (UDP to 224.0.0.81:8848) is not checked against the firewall",
                    );
                }
            }
            kw if GLOBAL_IGNORED.contains(&kw) => {
                let scope = match kw {
                    "notify_fifo_script" => Some(ScriptScope::Both),
                    "vrrp_notify_fifo_script" => Some(ScriptScope::Vrrp),
                    "lvs_notify_fifo_script" => Some(ScriptScope::Checker),
                    "startup_script" | "shutdown_script" => Some(ScriptScope::Always),
                    _ => None,
                };
                let fifo = kw.ends_with("fifo_script");
                if fifo && !g.fifo_scripts.insert(kw.to_string()) {
                    // global_parser.c, fifo_script: only the first counts.
                    cx.config_error(
                        k,
                        format!(
                            "{kw} already specified - ignoring {}",
                            k.args.first().map(String::as_str).unwrap_or("")
                        ),
                    );
                } else if let Some(scope) = scope {
                    cx.notify_script(k, scope);
                    if let Some(s) = cx.scripts.last_mut() {
                        s.global = true;
                    }
                }
                cx.ignored_or_unmodelled(k, C, GLOBAL_IGNORED_UNMODELLED)?
            }
            kw => match lookup3(GLOBAL_UNSUPPORTED, kw) {
                Some((r, note)) => cx.refuse(k, C, r, note)?,
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    Ok(())
}

/// keepalived's interface-name limit for the sync daemon (`IP_VS_IFNAME_MAXLEN`).
const IFNAME_MAXLEN: usize = 16;

/// `lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [id N] [maxlen M] [port P]
/// [ttl T] [group G] [inst VRRP_INSTANCE]`, read word by word as keepalived
/// 2.2.7 does (core/global_parser.c, lvs_syncd_handler): each keyword takes
/// the next word; otherwise the third word is the instance and the fourth a
/// bare sync id (accepted, but reported). Every complaint is a configuration
/// error that keepalived corrects by ignoring the value; the instance itself
/// is looked up only when the VRRP process starts, so a missing one passes
/// `keepalived -t`.
fn lvs_sync_daemon(cx: &mut Ctx, k: &Stmt, g: &mut Globals) {
    if let Some(d) = &g.lvs_sync_daemon {
        let msg = format!(
            "lvs_sync_daemon has already been specified as {} {} - ignoring",
            d.interface,
            d.instance.as_deref().unwrap_or("")
        );
        cx.config_error(k, msg);
        return;
    }
    let a = &k.args;
    let Some(ifname) = a.first() else {
        cx.config_error(k, "lvs_sync_daemon requires interface");
        return;
    };
    if ifname.len() >= IFNAME_MAXLEN {
        let msg = format!("lvs_sync_daemon interface name '{ifname}' too long - ignoring");
        cx.config_error(k, msg);
        return;
    }
    let mut d = LvsSyncDaemon {
        interface: ifname.clone(),
        instance: None,
        syncid: None,
        maxlen: None,
        port: wire_defaults::PORT,
        ttl: 1,
        group: None,
        line: k.line,
    };
    // Word positions as keepalived counts them: 1 is the interface.
    let word = |i: usize| a.get(i - 1).map(String::as_str);
    let n = a.len() + 1;
    let mut i = 2;
    while i < n {
        let w = word(i).unwrap_or("");
        let value = word(i + 1);
        let num = |what: &str, min: u64, max: u64, cx: &mut Ctx| -> Option<u64> {
            match value {
                None => {
                    cx.config_error(k, format!("No value specified for lvs_sync_daemon {what}"));
                    None
                }
                Some(v) => match parse_uint(v, min, max) {
                    Ok(x) => Some(x),
                    Err(_) => {
                        let msg = if what == "id" {
                            format!("Invalid syncid ({v}) - defaulting to vrid")
                        } else {
                            format!("Invalid lvs_sync_daemon {what} ({v}) - ignoring")
                        };
                        cx.config_error(k, msg);
                        None
                    }
                },
            }
        };
        match w {
            "inst" => {
                if let Some(name) = &d.instance {
                    let msg = format!(
                        "lvs_sync_daemon vrrp instance has already been specified as {name} - ignoring"
                    );
                    cx.config_error(k, msg);
                } else {
                    d.instance = value.map(str::to_string);
                }
                i += 2;
                continue;
            }
            "id" | "maxlen" | "port" | "ttl" if value.is_none() => {
                let tail = if w == "id" {
                    ", defaulting to vrid"
                } else {
                    " - ignoring"
                };
                cx.config_error(
                    k,
                    format!("No value specified for lvs_sync_daemon {w}{tail}"),
                );
                i += 1;
                continue;
            }
            "id" => {
                if let Some(v) = num("id", 0, 255, cx) {
                    d.syncid = Some(v as u8);
                }
            }
            "maxlen" => {
                if let Some(v) = num("maxlen", 1, 65535 - 20 - 8, cx) {
                    d.maxlen = Some(v as u16);
                }
            }
            "port" => {
                if let Some(v) = num("port", 1, 65535, cx) {
                    d.port = v as u16;
                }
            }
            "ttl" => {
                if let Some(v) = num("ttl", 1, 255, cx) {
                    d.ttl = v as u8;
                }
            }
            "group" => {
                let Some(v) = value else {
                    cx.config_error(k, "No value specified for lvs_sync_daemon group - ignoring");
                    i += 1;
                    continue;
                };
                match v.parse::<std::net::IpAddr>() {
                    Err(_) => {
                        let msg = format!("Invalid lvs_sync_daemon group ({v}) - ignoring");
                        cx.config_error(k, msg);
                    }
                    Ok(ip) if !ip.is_multicast() => {
                        let msg = format!(
                            "lvs_sync_daemon group address {v} is not multicast - ignoring"
                        );
                        cx.config_error(k, msg);
                    }
                    Ok(ip) => d.group = Some(ip),
                }
            }
            _ if i == 2 => {
                d.instance = Some(w.to_string());
                i += 1;
                continue;
            }
            _ if i == 3 => {
                match parse_uint(w, 0, 255) {
                    Ok(v) => {
                        cx.config_error(
                            k,
                            "Please use keyword \"id\" before lvs_sync_daemon SYNCID",
                        );
                        d.syncid = Some(v as u8);
                    }
                    Err(_) => {
                        cx.config_error(k, format!("Invalid syncid ({w}) - defaulting to vrid"))
                    }
                }
                i += 1;
                continue;
            }
            _ => {
                let msg = format!("Unknown option {w} specified for lvs_sync_daemon");
                cx.config_error(k, msg);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    g.lvs_sync_daemon = Some(d);
}

/// The sync protocol's defaults (kernel ip_vs_sync.c).
mod wire_defaults {
    pub(super) const PORT: u16 = 8848;
}
