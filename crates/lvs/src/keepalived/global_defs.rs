//! `global_defs { }`: the global settings vipwire models (router id, VRRP
//! version, gratuitous ARP defaults for instances), with keepalived 2.2.7's
//! defaults and checks (core/global_parser.c; defaults as
//! core/global_data.c set_vrrp_defaults sets them).

use super::ctx::{lookup3, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::tree::Stmt;

/// Global settings that feed instance defaults.
pub(super) struct Globals {
    pub(super) router_id: Option<String>,
    pub(super) vrrp_version: u8,
    pub(super) garp_master_delay: f64,
    pub(super) garp_master_repeat: u32,
}

impl Default for Globals {
    fn default() -> Globals {
        Globals {
            router_id: None,
            vrrp_version: 2,
            garp_master_delay: 5.0,
            garp_master_repeat: 5,
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
            kw if GLOBAL_IGNORED.contains(&kw) => {
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
