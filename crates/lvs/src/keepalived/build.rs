//! Statement tree -> typed model, with keepalived's defaults and validations:
//! global settings, VRRP scripts, instances and sync groups. Virtual servers are
//! in [`super::vs`], health checkers in [`super::checker`].
//!
//! Defaults and corrections follow keepalived 2.2.7 (`keepalived -t` on this test
//! bed) and keepalived.conf(5); sources: keepalived/check/check_data.c
//! (validate_check_config), check_misc.c, vrrp_parser.c, vrrp.c
//! (vrrp_complete_instance), vrrp_sync.c.

use std::collections::HashSet;
use std::net::IpAddr;

use super::error::ConfigError;
use super::keywords::*;
use super::lexer::Tokens;
use super::tree::Stmt;
use super::vs::{self, TrackFile};
use super::*;

pub(super) struct Ctx<'a> {
    sources: &'a [String],
    pub(super) warnings: Vec<String>,
    pub(super) config_errors: Vec<String>,
    pub(super) unmodelled: Vec<Unmodelled>,
    strict: Strictness,
}

/// Where a statement is, for messages.
pub(super) struct At<'s> {
    pub(super) file: &'s str,
    pub(super) line: usize,
}

impl Ctx<'_> {
    /// Reading for `vipwire check` ([`Strictness::Check`]).
    pub(super) fn check_mode(&self) -> bool {
        self.strict == Strictness::Check
    }

    pub(super) fn at<'s>(&'s self, s: &Stmt) -> At<'s> {
        At {
            file: self.sources.get(s.file).map(String::as_str).unwrap_or("?"),
            line: s.line,
        }
    }

    pub(super) fn unknown(&self, s: &Stmt, context: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::UnknownKeyword {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
        }
    }

    pub(super) fn unsupported(&self, s: &Stmt, context: &str, reason: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Unsupported {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            reason: reason.into(),
        }
    }

    pub(super) fn invalid(
        &self,
        s: &Stmt,
        context: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let at = self.at(s);
        ConfigError::InvalidValue {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            message: message.into(),
        }
    }

    pub(super) fn missing(&self, s: &Stmt, context: &str, keyword: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Missing {
            file: at.file.into(),
            line: at.line,
            keyword: keyword.into(),
            context: context.into(),
        }
    }

    pub(super) fn warn(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.warnings.push(w);
    }

    /// A known keyword vipwire does not model: a warning. Blocks of such
    /// keywords are keepalived value blocks (one value per line), so a nested
    /// `{` there is an error, as it is for keepalived.
    pub(super) fn ignored(&mut self, s: &Stmt, context: &str) -> Result<(), ConfigError> {
        if let Some(inner) = s
            .block
            .as_deref()
            .and_then(|b| b.iter().find(|i| i.block.is_some()))
        {
            return Err(self.invalid(inner, &s.keyword, "unexpected '{' in a list of values"));
        }
        let msg = format!(
            "keyword \"{}\" in {context} is accepted but not modelled",
            s.keyword
        );
        self.warn(s, msg);
        Ok(())
    }

    /// A keyword the director cannot run: [`ConfigError::Unsupported`] in
    /// Director mode; in Check mode `reason` goes to `unmodelled` (or to
    /// `warnings` for [`Note::Warning`]) and parsing goes on.
    pub(super) fn refuse(
        &mut self,
        s: &Stmt,
        context: &str,
        reason: &str,
        note: Note,
    ) -> Result<(), ConfigError> {
        if !self.check_mode() {
            return Err(self.unsupported(s, context, reason));
        }
        match note {
            Note::Unmodelled => self.note(s, &s.keyword, reason),
            Note::Warning => {
                let msg = format!(
                    "keyword \"{}\" in {context} is accepted but not modelled: {reason}",
                    s.keyword
                );
                self.warn(s, msg);
            }
        }
        Ok(())
    }

    /// Record what vipwire check does not model.
    pub(super) fn note(&mut self, s: &Stmt, keyword: &str, what: impl Into<String>) {
        let at = self.at(s);
        let u = Unmodelled {
            source: at.file.to_string(),
            line: at.line,
            keyword: keyword.to_string(),
            what: what.into(),
        };
        self.unmodelled.push(u);
    }

    /// A known keyword: a warning, or in Check mode `unmodelled` when it is in
    /// `table` (keywords that change network behaviour).
    pub(super) fn ignored_or_unmodelled(
        &mut self,
        s: &Stmt,
        context: &str,
        table: &[(&str, &str)],
    ) -> Result<(), ConfigError> {
        match lookup(table, &s.keyword) {
            Some(what) if self.check_mode() => {
                self.note(s, &s.keyword, what);
                Ok(())
            }
            _ => self.ignored(s, context),
        }
    }

    /// A known keyword whose contents vipwire does not read (a whole block
    /// such as `SSL { }`): a warning, nested blocks allowed.
    pub(super) fn ignored_block(&mut self, s: &Stmt, context: &str) {
        let msg = format!(
            "keyword \"{}\" in {context} is accepted but not modelled",
            s.keyword
        );
        self.warn(s, msg);
    }

    pub(super) fn config_error(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.config_errors.push(w);
    }

    /// Exactly `n` arguments.
    pub(super) fn args<'s>(
        &self,
        s: &'s Stmt,
        ctx: &str,
        n: usize,
    ) -> Result<&'s [String], ConfigError> {
        if s.args.len() != n {
            return Err(self.invalid(
                s,
                ctx,
                format!("expected {n} value(s), found {}", s.args.len()),
            ));
        }
        Ok(&s.args)
    }

    pub(super) fn one<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s str, ConfigError> {
        Ok(&self.args(s, ctx, 1)?[0])
    }

    pub(super) fn no_block(&self, s: &Stmt, ctx: &str) -> Result<(), ConfigError> {
        if s.block.is_some() {
            return Err(self.invalid(s, ctx, "takes no { } block"));
        }
        Ok(())
    }

    pub(super) fn block<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s [Stmt], ConfigError> {
        s.block
            .as_deref()
            .ok_or_else(|| self.invalid(s, ctx, "needs a { } block"))
    }

    pub(super) fn uint(&self, s: &Stmt, ctx: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_uint(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn int(
        &self,
        s: &Stmt,
        ctx: &str,
        v: &str,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let (neg, digits) = match v.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, v.strip_prefix('+').unwrap_or(v)),
        };
        let mag = parse_uint(digits, 0, i64::MAX as u64).map_err(|m| self.invalid(s, ctx, m))?;
        let n = if neg { -(mag as i64) } else { mag as i64 };
        if n < min || n > max {
            return Err(self.invalid(s, ctx, format!("{v} is outside {min}..={max}")));
        }
        Ok(n)
    }

    pub(super) fn float(
        &self,
        s: &Stmt,
        ctx: &str,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_float(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn ip(&self, s: &Stmt, ctx: &str, v: &str) -> Result<IpAddr, ConfigError> {
        v.parse::<IpAddr>()
            .map_err(|_| self.invalid(s, ctx, format!("\"{v}\" is not an IP address")))
    }

    pub(super) fn port(&self, s: &Stmt, ctx: &str, v: &str) -> Result<u16, ConfigError> {
        parse_uint(v, 0, 65535)
            .map(|p| p as u16)
            .map_err(|m| self.invalid(s, ctx, m))
    }

    pub(super) fn source(&self, s: &Stmt) -> String {
        self.sources.get(s.file).cloned().unwrap_or_default()
    }
}

/// Unsigned decimal integer (keepalived rejects signs and trailing junk).
pub(super) fn parse_uint(v: &str, min: u64, max: u64) -> Result<u64, String> {
    // keepalived reads numbers with strtoul: a leading '+' is fine.
    let v = v.strip_prefix('+').unwrap_or(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number \"{v}\""));
    }
    let n: u64 = v
        .parse()
        .map_err(|_| format!("number \"{v}\" is too large"))?;
    if n < min || n > max {
        return Err(format!("{v} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Decimal number of seconds, like keepalived's timer values ("0.92").
fn parse_float(v: &str, min: f64, max: f64) -> Result<f64, String> {
    let ok = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|&b| b == b'.').count() <= 1
        && v.bytes().any(|b| b.is_ascii_digit());
    let n: f64 = if ok {
        v.parse().map_err(|_| format!("invalid number \"{v}\""))?
    } else {
        return Err(format!("invalid number \"{v}\""));
    };
    if !(min..=max).contains(&n) {
        return Err(format!("{v} is outside {min}..={max}"));
    }
    Ok(n)
}

pub(super) fn lookup<'a>(table: &'a [(&str, &str)], k: &str) -> Option<&'a str> {
    table.iter().find(|(n, _)| *n == k).map(|(_, r)| *r)
}

/// A `*_UNSUPPORTED` table entry: reason and Check-mode note.
pub(super) fn lookup3(
    table: &'static [(&'static str, &'static str, Note)],
    k: &str,
) -> Option<(&'static str, Note)> {
    table
        .iter()
        .find(|(n, _, _)| *n == k)
        .map(|(_, r, n)| (*r, *n))
}

/// Global settings that feed instance defaults.
struct Globals {
    router_id: Option<String>,
    vrrp_version: u8,
    garp_master_delay: f64,
    garp_master_repeat: u32,
}

pub(crate) fn build(
    stmts: &[Stmt],
    toks: &Tokens,
    strict: Strictness,
) -> Result<KeepalivedConfig, ConfigError> {
    let mut cx = Ctx {
        sources: &toks.sources,
        warnings: toks.warnings.clone(),
        config_errors: toks.config_errors.clone(),
        unmodelled: toks.unmodelled.clone(),
        strict,
    };
    let mut g = Globals {
        router_id: None,
        vrrp_version: 2,
        garp_master_delay: 5.0,
        garp_master_repeat: 5,
    };
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
    // track_script names resolve against every vrrp_script in the file.
    let names: HashSet<&str> = scripts
        .iter()
        .map(|s: &VrrpScript| s.name.as_str())
        .collect();
    for inst in &mut instances {
        let mut kept = Vec::new();
        for (name, w) in std::mem::take(&mut inst.track_scripts) {
            if names.contains(name.as_str()) {
                kept.push((name, w));
            } else {
                cx.config_errors.push(format!(
                    "{}:{}: ({}) track script {name} not found, ignoring",
                    inst.source, inst.line, inst.name
                ));
            }
        }
        inst.track_scripts = kept;
    }
    let (sync_groups, fixed_weight) = sync_groups(&mut cx, &sync_stmts, &instances)?;
    // vrrp.c vrrp_complete_instance: members of a sync group (without
    // sync_group_tracking_weight) and address owners ignore weighted scripts.
    for inst in &mut instances {
        let synced = fixed_weight.contains(&inst.name);
        if !synced && inst.priority != 255 {
            continue;
        }
        let why = if synced {
            "SYNC group"
        } else {
            "address_owner"
        };
        let mut kept = Vec::new();
        for (name, w) in std::mem::take(&mut inst.track_scripts) {
            let weight = w.or_else(|| scripts.iter().find(|s| s.name == name).map(|s| s.weight));
            if weight.unwrap_or(0) != 0 {
                cx.config_errors.push(format!(
                    "{}:{}: ({}) ignoring tracked script {name} with weights due to {why}",
                    inst.source, inst.line, inst.name
                ));
                continue;
            }
            kept.push((name, w));
        }
        inst.track_scripts = kept;
    }
    let mut seen = HashSet::new();
    for v in services.servers.iter().filter(|v| v.group.is_none()) {
        if !seen.insert((v.addr, v.port, v.protocol)) {
            cx.config_errors.push(format!(
                "{}:{}: virtual server {} {} defined twice",
                v.source, v.line, v.addr, v.port
            ));
        }
    }
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
        config_errors: cx.config_errors,
    })
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [V] [overwrite] }`
/// (Check mode), checked as trackers/track_file.c does: the file a FILE_CHECK
/// reads. Priority changes of instances tracking it are noted where tracked.
fn track_file(cx: &mut Ctx, s: &Stmt) -> Result<Option<TrackFile>, ConfigError> {
    const C: &str = "track_file";
    cx.ignored_block(s, "configuration");
    let name = cx.one(s, C)?.to_string();
    let mut file: Option<String> = None;
    // keepalived's "weight already set" test is `weight != 1`.
    let mut weight = 1i64;
    for k in cx.block(s, C)? {
        cx.no_block(k, C)?;
        match k.keyword.as_str() {
            "file" => match (k.args.first(), &file) {
                (None, _) => cx.config_error(k, "track file file name missing"),
                (Some(f), Some(_)) => cx.config_error(
                    k,
                    format!("File already set for track file {name} - ignoring {f}"),
                ),
                (Some(f), None) => file = Some(f.clone()),
            },
            "weight" => {
                let Some(w) = k.args.first() else {
                    cx.config_error(
                        k,
                        format!("No weight specified for track file {name} - ignoring"),
                    );
                    continue;
                };
                if weight != 1 {
                    cx.config_error(
                        k,
                        format!("Weight already set for track file {name} - ignoring {w}"),
                    );
                    continue;
                }
                weight = match cx.int(k, C, w, -254, 254) {
                    Ok(v) => v,
                    Err(_) => {
                        cx.config_error(k, format!("Weight ({w}) for track_file {name} must be between [-254..254] inclusive. Ignoring..."));
                        1
                    }
                };
                if let Some(opt) = k.args.get(1).filter(|o| *o != "reverse") {
                    cx.config_error(k, format!("track_file {name} unknown weight option {opt}"));
                }
            }
            "init_file" => {
                for w in &k.args {
                    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                        match cx.int(k, C, w, i32::MIN as i64, i32::MAX as i64) {
                            Ok(v) if (-254..=254).contains(&v) => {}
                            _ => cx.config_error(
                                k,
                                format!("Track file {name} init value {w} is invalid or outside [-254, 254]"),
                            ),
                        }
                    } else if w != "overwrite" {
                        cx.config_error(k, format!("Unknown track file init option {w}"));
                    }
                }
            }
            _ => return Err(cx.unknown(k, C)),
        }
    }
    Ok(match file {
        Some(path) => Some(TrackFile { name, path }),
        None => {
            cx.config_error(s, format!("No file set for track_file {name} - ignoring"));
            None
        }
    })
}

/// `vrrp_sync_group NAME { group { ... } ... }`, resolved against the
/// instances as keepalived does after reading the file (vrrp_sync.c,
/// vrrp_sync_set_group): unknown members and members of an earlier group are
/// configuration errors and left out; a group left without members is dropped.
/// Also the members whose scripts may not change priority (groups without
/// `sync_group_tracking_weight`).
fn sync_groups(
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
                kw if SYNC_GROUP_IGNORED.contains(&kw) => cx.ignored(k, C)?,
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

fn global_defs(cx: &mut Ctx, s: &Stmt, g: &mut Globals) -> Result<(), ConfigError> {
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

fn vrrp_script(cx: &mut Ctx, s: &Stmt) -> Result<VrrpScript, ConfigError> {
    const C: &str = "vrrp_script";
    let name = cx.one(s, C)?.to_string();
    let mut v = VrrpScript {
        name,
        script: String::new(),
        interval: 1.0,
        timeout: None,
        weight: 0,
        weight_reverse: false,
        fall: 1,
        rise: 1,
        line: s.line,
        source: cx.source(s),
    };
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "script" => {
                cx.no_block(k, C)?;
                if k.args.is_empty() {
                    return Err(cx.invalid(k, C, "no command given"));
                }
                v.script = k.args.join(" ");
            }
            "interval" => {
                let i = cx.uint(k, C, 0, 4294)?;
                v.interval = if i == 0 {
                    cx.config_error(
                        k,
                        format!(
                            "({}): vrrp script interval must be greater than 0, setting to 1",
                            v.name
                        ),
                    );
                    1.0
                } else {
                    i as f64
                };
            }
            "timeout" => v.timeout = Some(cx.uint(k, C, 1, 4294)? as f64),
            "weight" => {
                cx.no_block(k, C)?;
                match k.args.as_slice() {
                    [w] => v.weight = cx.int(k, C, w, -253, 253)? as i32,
                    [w, r] if r == "reverse" || r == "noreverse" => {
                        v.weight = cx.int(k, C, w, -253, 253)? as i32;
                        v.weight_reverse = r == "reverse";
                    }
                    _ => return Err(cx.invalid(k, C, "expected WEIGHT [reverse]")),
                }
            }
            "fall" => v.fall = cx.uint(k, C, 1, i32::MAX as u64)? as u32,
            "rise" => v.rise = cx.uint(k, C, 1, i32::MAX as u64)? as u32,
            "user" | "init_fail" => cx.ignored(k, C)?,
            _ => return Err(cx.unknown(k, C)),
        }
    }
    if v.script.is_empty() {
        return Err(cx.missing(s, &format!("vrrp_script {}", v.name), "script"));
    }
    Ok(v)
}

fn vrrp_instance(cx: &mut Ctx, s: &Stmt, g: &Globals) -> Result<VrrpInstance, ConfigError> {
    const C: &str = "vrrp_instance";
    let name = cx.one(s, C)?.to_string();
    let mut state = VrrpStateCfg::Backup;
    let mut interface = None;
    let mut vrid = None;
    let mut priority: Option<u8> = None;
    let mut advert_int = 1.0;
    let mut auth: (Option<AuthType>, Option<String>) = (None, None);
    let mut use_vmac = false;
    let mut vips: Vec<ipnet::IpNet> = Vec::new();
    let mut unicast_src_ip = None;
    let mut unicast_peers = Vec::new();
    let mut nopreempt = false;
    let mut preempt_delay = 0.0;
    let mut track_scripts = Vec::new();
    let mut garp_master_delay = g.garp_master_delay;
    let mut garp_master_repeat = g.garp_master_repeat;
    let mut version = None;
    let mut nopreempt_stmt = None;
    let mut unicast_keyword = false;
    let mut notifies = HashSet::new();
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "state" => {
                cx.no_block(k, C)?;
                let new = match cx.one(k, C)? {
                    "MASTER" => VrrpStateCfg::Master,
                    "BACKUP" => VrrpStateCfg::Backup,
                    other => {
                        return Err(cx.invalid(
                            k,
                            C,
                            format!("\"{other}\" is not MASTER or BACKUP"),
                        ))
                    }
                };
                // keepalived keeps MASTER once set and reports a later BACKUP.
                if state == VrrpStateCfg::Master && new == VrrpStateCfg::Backup {
                    cx.config_error(
                        k,
                        format!("({name}) state previously set as MASTER - ignoring BACKUP"),
                    );
                } else {
                    state = new;
                }
            }
            "interface" => {
                cx.no_block(k, C)?;
                interface = Some(cx.one(k, C)?.to_string());
            }
            "virtual_router_id" => vrid = Some(cx.uint(k, C, 1, 255)? as u8),
            "priority" => priority = Some(cx.uint(k, C, 1, 255)? as u8),
            // keepalived accepts 0.01..255 here, then checks per version below.
            "advert_int" => advert_int = cx.float(k, C, 0.01, 255.0)?,
            "authentication" => auth = authentication(cx, k)?,
            "use_vmac" if cx.check_mode() => {
                // `use_vmac [IFNAME]`: the interface name is vipwire's concern only
                // through the MAC, which is 00:00:5e:00:01:VRID either way.
                cx.no_block(k, C)?;
                if k.args.len() > 1 {
                    return Err(cx.invalid(k, C, "expected at most an interface name"));
                }
                use_vmac = true;
            }
            "virtual_ipaddress" => {
                for a in cx.block(k, "virtual_ipaddress")? {
                    vips.push(vip(cx, a, interface.as_deref())?);
                }
            }
            "unicast_src_ip" => {
                cx.no_block(k, C)?;
                unicast_keyword = true;
                unicast_src_ip = Some(cx.ip(k, C, cx.one(k, C)?)?);
            }
            "unicast_peer" => {
                const P: &str = "unicast_peer";
                unicast_keyword = true;
                for p in cx.block(k, P)? {
                    cx.no_block(p, P)?;
                    let ip = p.keyword.parse::<IpAddr>().map_err(|_| {
                        cx.invalid(p, P, format!("\"{}\" is not an IP address", p.keyword))
                    })?;
                    let mut rest = p.args.iter();
                    while let Some(opt) = rest.next() {
                        match (opt.as_str(), rest.next()) {
                            ("min_ttl" | "max_ttl", Some(v)) => {
                                parse_uint(v, 0, 255).map_err(|m| cx.invalid(p, P, m))?;
                            }
                            _ => {
                                return Err(cx.invalid(
                                    p,
                                    P,
                                    format!("unknown peer option \"{opt}\""),
                                ))
                            }
                        }
                    }
                    unicast_peers.push(ip);
                }
            }
            "nopreempt" => {
                cx.no_block(k, C)?;
                cx.args(k, C, 0)?;
                nopreempt = true;
                nopreempt_stmt = Some(k);
            }
            "preempt" => {
                cx.args(k, C, 0)?;
                nopreempt = false;
                nopreempt_stmt = None;
            }
            "preempt_delay" => preempt_delay = cx.float(k, C, 0.0, 1000.0)?,
            "track_script" => {
                const T: &str = "track_script";
                for t in cx.block(k, T)? {
                    cx.no_block(t, T)?;
                    let w = match t.args.as_slice() {
                        [] => None,
                        [w, n] if w == "weight" => Some(cx.int(t, T, n, -253, 253)? as i32),
                        [w, n, r] if w == "weight" && (r == "reverse" || r == "noreverse") => {
                            if r == "reverse" {
                                cx.refuse(
                                    t,
                                    T,
                                    "reverse weights (priority changes while the script succeeds) are not modelled",
                                    Note::Unmodelled,
                                )?;
                            }
                            Some(cx.int(t, T, n, -253, 253)? as i32)
                        }
                        _ => return Err(cx.invalid(t, T, "expected NAME [weight N]")),
                    };
                    if track_scripts.iter().any(|(n, _)| *n == t.keyword) {
                        let msg =
                            format!("({name}) duplicate track_script {} - ignoring", t.keyword);
                        cx.config_error(t, msg);
                        continue;
                    }
                    track_scripts.push((t.keyword.clone(), w));
                }
            }
            "garp_master_delay" => garp_master_delay = cx.uint(k, C, 0, 4294)? as f64,
            "garp_master_repeat" => {
                let r = cx.uint(k, C, 0, 1_000_000)? as u32;
                garp_master_repeat = if r == 0 {
                    cx.config_error(
                        k,
                        format!(
                            "({name}): garp_master_repeat must be greater than 0, setting to 1"
                        ),
                    );
                    1
                } else {
                    r
                };
            }
            "version" => version = Some(cx.uint(k, C, 2, 3)? as u8),
            kw if INSTANCE_IGNORED.contains(&kw) => {
                if kw.starts_with("notify") && !notifies.insert(kw) {
                    cx.config_error(
                        k,
                        format!("({name}) {kw} script already specified - ignoring"),
                    );
                }
                cx.ignored_or_unmodelled(k, C, INSTANCE_IGNORED_UNMODELLED)?
            }
            kw => match lookup3(INSTANCE_UNSUPPORTED, kw) {
                Some((r, note)) => cx.refuse(k, C, r, note)?,
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    let ctx = format!("vrrp_instance {name}");
    let interface = interface.ok_or_else(|| cx.missing(s, &ctx, "interface"))?;
    let virtual_router_id = vrid.ok_or_else(|| cx.missing(s, &ctx, "virtual_router_id"))?;
    // The first VIP fixes the family; keepalived drops VIPs of the other one.
    let v6 = match vips.first() {
        Some(ipnet::IpNet::V6(_)) => true,
        Some(ipnet::IpNet::V4(_)) => false,
        None => {
            cx.config_error(
                s,
                format!("({name}) No VIP specified; at least one is sensible"),
            );
            matches!(unicast_src_ip, Some(IpAddr::V6(_)))
        }
    };
    let before = vips.len();
    vips.retain(|n| matches!(n, ipnet::IpNet::V6(_)) == v6);
    if vips.len() != before {
        cx.config_error(
            s,
            format!("({name}): address family must match VRRP instance - ignoring"),
        );
    }
    let version = if v6 {
        3
    } else {
        version.unwrap_or(g.vrrp_version)
    };
    // No priority: an initial MASTER becomes the address owner (255), anything
    // else 100 (keepalived vrrp.c, vrrp_complete_instance: base_priority default).
    let priority = priority.unwrap_or(if state == VrrpStateCfg::Master {
        255
    } else {
        100
    });
    // Authentication checks, in vrrp_complete_instance's order (one else-if chain).
    let (mut auth_type, mut auth_pass) = auth;
    if auth_type.is_some() {
        if version == 3 {
            cx.config_error(
                s,
                format!("({name}) VRRP version 3 does not support authentication. Ignoring."),
            );
            auth_type = None;
        } else if auth_pass.is_none() {
            cx.config_error(
                s,
                format!("({name}) Authentication specified but no password given. Ignoring"),
            );
            auth_type = None;
        } else if auth_type == Some(AuthType::Ah)
            && state == VrrpStateCfg::Master
            && priority != 255
        {
            // AH needs a received sequence number before taking over.
            cx.config_error(
                s,
                format!(
                    "({name}) Initial state master is incompatible with AH authentication - clearing"
                ),
            );
            state = VrrpStateCfg::Backup;
        }
    }
    if auth_type.is_none() {
        auth_pass = None;
    }
    if version == 2 && advert_int.fract() != 0.0 {
        cx.config_error(
            s,
            format!(
                "({name}) VRRPv2 advertisement interval {advert_int}s must be an integer, rounding"
            ),
        );
        advert_int = advert_int.round().max(1.0);
    }
    if version == 3 && advert_int > 40.95 {
        // RFC 5798: a 12-bit centisecond field.
        cx.config_error(
            s,
            format!("({name}) VRRPv3 advertisement interval {advert_int}s exceeds 40.95"),
        );
        advert_int = 40.95;
    }
    if unicast_keyword && unicast_peers.is_empty() {
        cx.config_error(s, format!("({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast"));
    }
    if state == VrrpStateCfg::Master && preempt_delay > 0.0 && !nopreempt {
        cx.config_error(s, format!("({name}) Warning - preempt delay will not work with initial state MASTER - clearing"));
        preempt_delay = 0.0;
    }
    if nopreempt && preempt_delay > 0.0 {
        cx.config_error(
            s,
            format!("({name}) preempt_delay is incompatible with nopreempt mode - resetting"),
        );
        preempt_delay = 0.0;
    }
    if nopreempt && state == VrrpStateCfg::Master {
        if let Some(k) = nopreempt_stmt {
            cx.config_error(
                k,
                format!("({name}) nopreempt will not work with initial state MASTER - clearing"),
            );
        }
        nopreempt = false;
    }
    Ok(VrrpInstance {
        name,
        state,
        interface,
        virtual_router_id,
        priority,
        advert_int,
        auth_type,
        auth_pass,
        use_vmac,
        virtual_ipaddresses: vips,
        unicast_src_ip,
        unicast_peers,
        nopreempt,
        preempt_delay,
        track_scripts,
        garp_master_delay,
        garp_master_repeat,
        version,
        line: s.line,
        source: cx.source(s),
    })
}

fn authentication(
    cx: &mut Ctx,
    s: &Stmt,
) -> Result<(Option<AuthType>, Option<String>), ConfigError> {
    const C: &str = "authentication";
    let mut pass = None;
    let mut ty = None;
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "auth_type" => match cx.one(k, C)? {
                "PASS" => ty = Some(AuthType::Pass),
                "AH" if !cx.check_mode() => {
                    return Err(cx.unsupported(k, C, "IPsec AH authentication is not modelled"))
                }
                "AH" => ty = Some(AuthType::Ah),
                other => return Err(cx.invalid(k, C, format!("\"{other}\" is not PASS or AH"))),
            },
            "auth_pass" => {
                cx.no_block(k, C)?;
                let p = cx.one(k, C)?;
                // keepalived uses only the first 8 characters (VRRPv2 auth field).
                if p.len() > 8 {
                    cx.config_error(k, "Truncating auth_pass to 8 characters");
                }
                let cut: String = p.chars().take(8).collect();
                pass = Some(cut);
            }
            _ => return Err(cx.unknown(k, C)),
        }
    }
    // keepalived authenticates only with an auth_type and a password; the
    // missing password is reported with the instance checks.
    if ty.is_none() && pass.is_some() {
        cx.warn(
            s,
            "auth_pass without auth_type: keepalived sends no authentication",
        );
        pass = None;
    }
    Ok((ty, pass))
}

/// One `virtual_ipaddress` line: `ADDR[/LEN] [brd X] [dev X] [scope X] [label X] ...`.
fn vip(cx: &mut Ctx, s: &Stmt, interface: Option<&str>) -> Result<ipnet::IpNet, ConfigError> {
    const C: &str = "virtual_ipaddress";
    cx.no_block(s, C)?;
    let text = s.keyword.as_str();
    // std's strict address parser (no leading zeros, like inet_pton).
    let (a, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr = a.parse::<IpAddr>().ok();
    let net = addr.and_then(|addr| {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => parse_uint(l, 0, max).ok()? as u8,
            None => max as u8,
        };
        ipnet::IpNet::new(addr, len).ok()
    });
    let Some(net) = net else {
        return Err(cx.invalid(s, C, format!("\"{text}\" is not an address or ADDR/LEN")));
    };
    let mut it = s.args.iter();
    while let Some(opt) = it.next() {
        match opt.as_str() {
            "dev" => {
                let dev = it
                    .next()
                    .ok_or_else(|| cx.invalid(s, C, "dev needs a name"))?;
                if interface.is_some_and(|i| i != dev) {
                    cx.warn(
                        s,
                        format!("VIP {text} on device {dev}, not the instance interface"),
                    );
                }
            }
            "brd" | "broadcast" | "scope" | "label" | "peer" | "preferred_lft" => {
                let Some(v) = it.next() else {
                    return Err(cx.invalid(s, C, format!("{opt} needs a value")));
                };
                // The values `ip address add` (and so keepalived) accepts.
                let ok = match opt.as_str() {
                    "brd" | "broadcast" => v == "+" || v == "-" || v.parse::<IpAddr>().is_ok(),
                    "peer" => v.parse::<IpAddr>().is_ok(),
                    "scope" => {
                        ["site", "link", "host", "nowhere", "global"].contains(&v.as_str())
                            || parse_uint(v, 0, 255).is_ok()
                    }
                    "preferred_lft" => v == "forever" || parse_uint(v, 0, u32::MAX as u64).is_ok(),
                    _ => true,
                };
                if !ok {
                    return Err(cx.invalid(s, C, format!("invalid {opt} \"{v}\"")));
                }
            }
            "no_track" | "home" | "-nodad" | "nodad" | "noprefixroute" | "autojoin" => {}
            other => return Err(cx.invalid(s, C, format!("unknown address option \"{other}\""))),
        }
    }
    Ok(net)
}
