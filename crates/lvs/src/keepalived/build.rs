//! Statement tree -> typed model: the top-level sections in file order, each
//! read by the module for what it models, then what keepalived resolves once
//! the whole file is read. Sections: [`super::global_defs`],
//! [`super::vrrp`] (scripts and instances), [`super::sync_group`],
//! [`super::track_file`], [`super::vs`] (virtual servers and groups; health
//! checkers in [`super::checker`]); the reading context and value readers are
//! in [`super::ctx`].
//!
//! Defaults and corrections follow keepalived 2.2.7 (`keepalived -t` on this test
//! bed) and keepalived.conf(5).

use super::ctx::{lookup3, Ctx};
use super::error::ConfigError;
use super::global_defs::{global_defs, Globals};
use super::keywords::*;
use super::lexer::Tokens;
use super::sync_group::sync_groups;
use super::track_file::{track_file, TrackFile};
use super::tree::Stmt;
use super::vrrp::{drop_weighted_scripts, resolve_track_scripts, vrrp_instance, vrrp_script};
use super::vs;
use super::*;

pub(crate) fn build(
    stmts: &[Stmt],
    toks: &Tokens,
    strict: Strictness,
) -> Result<KeepalivedConfig, ConfigError> {
    let mut cx = Ctx::new(toks, strict);
    let mut g = Globals::default();
    // global_defs first: keepalived applies its defaults at the end of parsing.
    for s in stmts.iter().filter(|s| s.keyword == "global_defs") {
        global_defs(&mut cx, s, &mut g)?;
    }
    // Groups are linked to virtual servers after the whole file is read
    // (check/ipwrapper.c, link_vsg_to_vs), so a group may come later.
    let groups = if cx.check_mode() {
        vs::groups(&mut cx, stmts)?
    } else {
        Vec::new()
    };
    let mut scripts = Vec::new();
    let mut instances = Vec::new();
    let mut services = vs::Services::default();
    let mut sync_stmts = Vec::new();
    // Track files are looked up when FILE_CHECK is read: only earlier ones count.
    let mut track_files: Vec<TrackFile> = Vec::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => {}
            "vrrp_script" => scripts.push(vrrp_script(&mut cx, s)?),
            "vrrp_instance" => instances.push(vrrp_instance(&mut cx, s, &g)?),
            "virtual_server" => {
                vs::virtual_server(&mut cx, s, &groups, &track_files, &mut services)?
            }
            "vrrp_sync_group" if cx.check_mode() => sync_stmts.push(s),
            "virtual_server_group" if cx.check_mode() => {}
            "track_file" | "vrrp_track_file" if cx.check_mode() => {
                if let Some(t) = track_file(&mut cx, s)? {
                    track_files.push(t);
                }
            }
            k if TOP_IGNORED.contains(&k) => cx.ignored_block(s, "configuration"),
            k => {
                if let Some((r, note)) = lookup3(TOP_UNSUPPORTED, k) {
                    cx.refuse(s, "configuration", r, note)?;
                    continue;
                }
                return Err(cx.unknown(s, "configuration"));
            }
        }
    }
    resolve_track_scripts(&mut cx, &scripts, &mut instances);
    let (sync_groups, fixed_weight) = sync_groups(&mut cx, &sync_stmts, &instances)?;
    drop_weighted_scripts(&mut cx, &scripts, &mut instances, &fixed_weight);
    vs::report_duplicates(&mut cx, &services);
    Ok(KeepalivedConfig {
        router_id: g.router_id,
        vrrp_version: g.vrrp_version,
        vrrp_scripts: scripts,
        vrrp_instances: instances,
        sync_groups,
        virtual_servers: services.servers,
        fwmark_services: services.fwmarks,
        warnings: cx.warnings,
        unmodelled: cx.unmodelled,
        lvs_sync_daemon: g.lvs_sync_daemon,
        config_errors: cx.config_errors,
        script_security: ScriptSecurity {
            enabled: g.script_security,
            enabled_after_scripts: g.script_security_after,
            script_users: g.script_users,
            scripts: cx.scripts,
        },
    })
}
