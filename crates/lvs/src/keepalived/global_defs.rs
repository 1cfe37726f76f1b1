//! `global_defs { }`: the global settings vipwire models (router id, VRRP
//! version, gratuitous ARP defaults for instances), with keepalived 2.2.7's
//! defaults and checks (core/global_parser.c; defaults as
//! core/global_data.c set_vrrp_defaults sets them).

use super::ctx::{lookup3, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::tree::Stmt;
use super::{ScriptScope, ScriptUser};

/// Global settings that feed instance defaults.
pub(super) struct Globals {
    pub(super) router_id: Option<String>,
    pub(super) vrrp_version: u8,
    pub(super) garp_master_delay: f64,
    pub(super) garp_master_repeat: u32,
    pub(super) script_security: bool,
    pub(super) script_security_after: usize,
    pub(super) script_users: Vec<ScriptUser>,
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
