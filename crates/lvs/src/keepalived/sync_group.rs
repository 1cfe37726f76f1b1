//! `vrrp_sync_group NAME { }`: VRRP instances that fail over together,
//! resolved against the instances as keepalived 2.2.7 does (vrrp/vrrp_parser.c,
//! vrrp/vrrp_sync.c).

use super::ctx::{lookup, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::tree::Stmt;
use super::*;

/// `vrrp_sync_group NAME { group { ... } ... }`, resolved against the
/// instances as keepalived does after reading the file (vrrp_sync.c,
/// vrrp_sync_set_group): unknown members and members of an earlier group are
/// configuration errors and left out; a group left without members is dropped.
/// Also the members whose scripts may not change priority (groups without
/// `sync_group_tracking_weight`).
pub(super) fn sync_groups(
    cx: &mut Ctx,
    stmts: &[&Stmt],
    instances: &[VrrpInstance],
) -> Result<(Vec<SyncGroup>, Vec<String>), ConfigError> {
    const C: &str = "vrrp_sync_group";
    let mut out: Vec<SyncGroup> = Vec::new();
    let mut fixed_weight: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut member_of: Vec<String> = Vec::new();
    for s in stmts {
        let [name] = s.args.as_slice() else {
            cx.config_error(s, "vrrp_sync_group must have a name - skipping");
            continue;
        };
        if names.contains(name) {
            cx.config_error(s, format!("vrrp sync group {name} already defined"));
            continue;
        }
        names.push(name.clone());
        let mut members: Option<Vec<String>> = None;
        let mut tracking_weight = false;
        for k in cx.block(s, C)? {
            match k.keyword.as_str() {
                "group" => {
                    if members.is_some() {
                        cx.config_error(
                            k,
                            format!("Group list already specified for sync group {name}"),
                        );
                        continue;
                    }
                    let mut m = Vec::new();
                    for v in cx.block(k, "group")? {
                        cx.no_block(v, "group")?;
                        m.push(v.keyword.clone());
                        m.extend(v.args.iter().cloned());
                    }
                    if m.is_empty() {
                        cx.config_error(
                            k,
                            format!("Warning - sync group {name} has empty group block"),
                        );
                    }
                    members = Some(m);
                }
                "global_tracking" => {
                    cx.config_error(k, format!("({name}) global_tracking is deprecated. Use track_interface/script/file on the sync group"));
                    tracking_weight = true;
                }
                "sync_group_tracking_weight" => {
                    cx.ignored(k, C)?;
                    tracking_weight = true;
                }
                kw if SYNC_GROUP_IGNORED.contains(&kw) => {
                    if kw.starts_with("notify") && kw != "notify_priority_changes" {
                        cx.notify_script(k, ScriptScope::Vrrp);
                    }
                    cx.ignored(k, C)?
                }
                _ => {
                    if lookup(SYNC_GROUP_UNMODELLED, &k.keyword).is_some() {
                        cx.ignored_or_unmodelled(k, C, SYNC_GROUP_UNMODELLED)?;
                    } else {
                        return Err(cx.unknown(k, C));
                    }
                }
            }
        }
        let Some(members) = members.filter(|m| !m.is_empty()) else {
            cx.config_error(
                s,
                format!("Sync group {name} has no virtual router(s). removing"),
            );
            continue;
        };
        let mut kept = Vec::new();
        for m in members {
            if !instances.iter().any(|i| i.name == m) {
                cx.config_error(
                    s,
                    format!("Virtual router {m} specified in sync group {name} doesn't exist - ignoring"),
                );
            } else if member_of.contains(&m) || kept.contains(&m) {
                cx.config_error(
                    s,
                    format!("Virtual router {m} cannot exist in more than one sync group; ignoring {name}"),
                );
            } else {
                kept.push(m);
            }
        }
        match kept.len() {
            0 => {
                cx.config_error(
                    s,
                    format!("Sync group {name}, no matching virtual router found in group declaration - removing"),
                );
                continue;
            }
            1 => cx.config_error(
                s,
                format!("Sync group {name} has only 1 virtual router(s) - this probably isn't what you want"),
            ),
            _ => {}
        }
        member_of.extend(kept.iter().cloned());
        if !tracking_weight {
            fixed_weight.extend(kept.iter().cloned());
        }
        out.push(SyncGroup {
            name: name.clone(),
            instances: kept,
            line: s.line,
            source: cx.source(s),
        });
    }
    Ok((out, fixed_weight))
}
