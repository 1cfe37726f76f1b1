//! Statement tree -> typed model, with keepalived's defaults and validations.
//!
//! Defaults and corrections follow keepalived 2.2.7 (`keepalived -t` on this test
//! bed) and keepalived.conf(5); sources: keepalived/check/check_data.c
//! (validate_check_config), check_misc.c, vrrp_parser.c.

use std::collections::HashSet;
use std::net::IpAddr;

use super::error::ConfigError;
use super::keywords::*;
use super::tree::Stmt;
use super::*;

/// keepalived IPVS_SVC_PERSISTENT_TIMEOUT: 6 minutes.
const DEFAULT_PERSISTENCE: u32 = 360;
const DEFAULT_CONNECT_TIMEOUT: f64 = 5.0;

struct Ctx<'a> {
    sources: &'a [String],
    warnings: Vec<String>,
    config_errors: Vec<String>,
}

/// Where a statement is, for messages.
struct At<'s> {
    file: &'s str,
    line: usize,
}

impl Ctx<'_> {
    fn at<'s>(&'s self, s: &Stmt) -> At<'s> {
        At {
            file: self.sources.get(s.file).map(String::as_str).unwrap_or("?"),
            line: s.line,
        }
    }

    fn unknown(&self, s: &Stmt, context: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::UnknownKeyword {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
        }
    }

    fn unsupported(&self, s: &Stmt, context: &str, reason: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Unsupported {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            reason: reason.into(),
        }
    }

    fn invalid(&self, s: &Stmt, context: &str, message: impl Into<String>) -> ConfigError {
        let at = self.at(s);
        ConfigError::InvalidValue {
            file: at.file.into(),
            line: at.line,
            keyword: s.keyword.clone(),
            context: context.into(),
            message: message.into(),
        }
    }

    fn missing(&self, s: &Stmt, context: &str, keyword: &str) -> ConfigError {
        let at = self.at(s);
        ConfigError::Missing {
            file: at.file.into(),
            line: at.line,
            keyword: keyword.into(),
            context: context.into(),
        }
    }

    fn warn(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.warnings.push(w);
    }

    /// A known keyword vipwire does not model: a warning. Blocks of such
    /// keywords are keepalived value blocks (one value per line), so a nested
    /// `{` there is an error, as it is for keepalived.
    fn ignored(&mut self, s: &Stmt, context: &str) -> Result<(), ConfigError> {
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

    fn config_error(&mut self, s: &Stmt, msg: impl AsRef<str>) {
        let at = self.at(s);
        let w = format!("{}:{}: {}", at.file, at.line, msg.as_ref());
        self.config_errors.push(w);
    }

    /// Exactly `n` arguments.
    fn args<'s>(&self, s: &'s Stmt, ctx: &str, n: usize) -> Result<&'s [String], ConfigError> {
        if s.args.len() != n {
            return Err(self.invalid(
                s,
                ctx,
                format!("expected {n} value(s), found {}", s.args.len()),
            ));
        }
        Ok(&s.args)
    }

    fn one<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s str, ConfigError> {
        Ok(&self.args(s, ctx, 1)?[0])
    }

    fn no_block(&self, s: &Stmt, ctx: &str) -> Result<(), ConfigError> {
        if s.block.is_some() {
            return Err(self.invalid(s, ctx, "takes no { } block"));
        }
        Ok(())
    }

    fn block<'s>(&self, s: &'s Stmt, ctx: &str) -> Result<&'s [Stmt], ConfigError> {
        s.block
            .as_deref()
            .ok_or_else(|| self.invalid(s, ctx, "needs a { } block"))
    }

    fn uint(&self, s: &Stmt, ctx: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_uint(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    fn int(&self, s: &Stmt, ctx: &str, v: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
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

    fn float(&self, s: &Stmt, ctx: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
        self.no_block(s, ctx)?;
        let v = self.one(s, ctx)?;
        parse_float(v, min, max).map_err(|m| self.invalid(s, ctx, m))
    }

    fn ip(&self, s: &Stmt, ctx: &str, v: &str) -> Result<IpAddr, ConfigError> {
        v.parse::<IpAddr>()
            .map_err(|_| self.invalid(s, ctx, format!("\"{v}\" is not an IP address")))
    }

    fn port(&self, s: &Stmt, ctx: &str, v: &str) -> Result<u16, ConfigError> {
        parse_uint(v, 0, 65535)
            .map(|p| p as u16)
            .map_err(|m| self.invalid(s, ctx, m))
    }

    fn source(&self, s: &Stmt) -> String {
        self.sources.get(s.file).cloned().unwrap_or_default()
    }
}

/// Unsigned decimal integer (keepalived rejects signs and trailing junk).
fn parse_uint(v: &str, min: u64, max: u64) -> Result<u64, String> {
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

fn lookup<'a>(table: &'a [(&str, &str)], k: &str) -> Option<&'a str> {
    table.iter().find(|(n, _)| *n == k).map(|(_, r)| *r)
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
    sources: &[String],
    warnings: Vec<String>,
) -> Result<KeepalivedConfig, ConfigError> {
    let mut cx = Ctx {
        sources,
        warnings,
        config_errors: Vec::new(),
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
    let mut scripts = Vec::new();
    let mut instances = Vec::new();
    let mut servers = Vec::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => {}
            "vrrp_script" => scripts.push(vrrp_script(&mut cx, s)?),
            "vrrp_instance" => instances.push(vrrp_instance(&mut cx, s, &g)?),
            "virtual_server" => {
                if let Some(vs) = virtual_server(&mut cx, s)? {
                    servers.push(vs);
                }
            }
            k => {
                if let Some(r) = lookup(TOP_UNSUPPORTED, k) {
                    return Err(cx.unsupported(s, "configuration", r));
                }
                if k.starts_with('@') || k.starts_with('$') {
                    return Err(cx.unsupported(
                        s,
                        "configuration",
                        "conditional configuration and parameter substitution are not supported",
                    ));
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
    let mut seen = HashSet::new();
    for v in &servers {
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
        virtual_servers: servers,
        warnings: cx.warnings,
        config_errors: cx.config_errors,
    })
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
            kw if GLOBAL_IGNORED.contains(&kw) => cx.ignored(k, C)?,
            kw => match lookup(GLOBAL_UNSUPPORTED, kw) {
                Some(r) => return Err(cx.unsupported(k, C, r)),
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
    let mut auth_pass = None;
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
            "authentication" => auth_pass = authentication(cx, k)?,
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
                                return Err(cx.unsupported(
                                    t,
                                    T,
                                    "reverse weights are not modelled",
                                ));
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
                cx.ignored(k, C)?
            }
            kw => match lookup(INSTANCE_UNSUPPORTED, kw) {
                Some(r) => return Err(cx.unsupported(k, C, r)),
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
    if version == 3 && auth_pass.is_some() {
        cx.config_error(
            s,
            format!("({name}) VRRP version 3 does not support authentication. Ignoring."),
        );
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
    // No priority: an initial MASTER becomes the address owner (255), anything
    // else 100 (keepalived vrrp.c, vrrp_complete_instance: base_priority default).
    let priority = priority.unwrap_or(if state == VrrpStateCfg::Master {
        255
    } else {
        100
    });
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
        auth_pass,
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

fn authentication(cx: &mut Ctx, s: &Stmt) -> Result<Option<String>, ConfigError> {
    const C: &str = "authentication";
    let mut pass = None;
    let mut typed = false;
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "auth_type" => match cx.one(k, C)? {
                "PASS" => typed = true,
                "AH" => {
                    return Err(cx.unsupported(k, C, "IPsec AH authentication is not modelled"))
                }
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
    // keepalived authenticates only with auth_type PASS and a password.
    match (typed, pass.is_some()) {
        (true, false) => {
            cx.config_error(
                s,
                "Authentication specified but no password given. Ignoring",
            );
        }
        (false, true) => {
            cx.warn(
                s,
                "auth_pass without auth_type PASS: keepalived sends no authentication",
            );
            pass = None;
        }
        _ => {}
    }
    Ok(pass)
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

/// Timing settings a virtual or real server hands down to its checkers.
#[derive(Clone, Copy, Default)]
struct CheckDefaults {
    connect_timeout: Option<f64>,
    retry: Option<u32>,
    delay_before_retry: Option<f64>,
}

fn check_default(
    cx: &mut Ctx,
    k: &Stmt,
    ctx: &str,
    d: &mut CheckDefaults,
) -> Result<bool, ConfigError> {
    match k.keyword.as_str() {
        "connect_timeout" => d.connect_timeout = Some(cx.float(k, ctx, 0.000001, 4294.967295)?),
        "retry" => d.retry = Some(cx.uint(k, ctx, 1, u32::MAX as u64)? as u32),
        "nb_get_retry" => {
            // Removed in keepalived 2.x: 2.2.7 says "Unknown keyword" and ignores it.
            d.retry = Some(cx.uint(k, ctx, 1, u32::MAX as u64)? as u32);
            cx.config_error(
                k,
                "keepalived 2.2.7 no longer knows \"nb_get_retry\" (use \"retry\"); applied as retry",
            );
        }
        "delay_before_retry" => d.delay_before_retry = Some(cx.float(k, ctx, 0.0, 1e6)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn virtual_server(cx: &mut Ctx, s: &Stmt) -> Result<Option<VirtualServer>, ConfigError> {
    const C: &str = "virtual_server";
    let (addr, port) = match s.args.as_slice() {
        [k, _] if k == "fwmark" || k == "group" => {
            let mut named = s.clone();
            named.keyword = format!("{} {k}", s.keyword);
            named.block = None;
            let why = if k == "fwmark" {
                "fwmark virtual servers are not modelled"
            } else {
                "virtual server groups are not modelled"
            };
            return Err(cx.unsupported(&named, C, why));
        }
        [a] => (cx.ip(s, C, a)?, 0),
        [a, p] => (cx.ip(s, C, a)?, cx.port(s, C, p)?),
        _ => return Err(cx.invalid(s, C, "expected IP [PORT]")),
    };
    let ctx = format!("virtual_server {addr} {port}");
    let mut protocol = None;
    let mut lb_algo = None;
    let mut lb_kind = None;
    let mut delay_loop = 60.0;
    let mut vs_weight = 1u32;
    let mut persistence = None;
    let mut defaults = CheckDefaults::default();
    let mut rs_stmts = Vec::new();
    for k in cx.block(s, C)? {
        if check_default(cx, k, C, &mut defaults)? {
            continue;
        }
        match k.keyword.as_str() {
            "delay_loop" => delay_loop = cx.float(k, C, 0.000001, 1.8e13)?,
            // Default weight of this server's real servers (check_data.c).
            "weight" => vs_weight = cx.uint(k, C, 1, i32::MAX as u64)? as u32,
            "lb_algo" | "lvs_sched" => {
                cx.no_block(k, C)?;
                let v = cx.one(k, C)?;
                let sched = Scheduler::from_name(v)
                    .ok_or_else(|| cx.invalid(k, C, format!("\"{v}\" is not an IPVS scheduler")))?;
                lb_algo = Some(sched);
            }
            "lb_kind" | "lvs_method" => {
                cx.no_block(k, C)?;
                lb_kind = Some(match k.args.as_slice() {
                    [m] if m == "NAT" => LbKind::Nat,
                    [m] if m == "DR" => LbKind::Dr,
                    [m] if m == "TUN" => LbKind::Tun,
                    [m, t, ty] if m == "TUN" && t == "type" && ty == "ipip" => LbKind::Tun,
                    [m, ..] if m == "TUN" => {
                        return Err(cx.unsupported(k, C, "only IPIP tunnels are modelled"))
                    }
                    _ => return Err(cx.invalid(k, C, "expected NAT, DR or TUN")),
                });
            }
            "persistence_timeout" => {
                cx.no_block(k, C)?;
                persistence = Some(match k.args.as_slice() {
                    [] => DEFAULT_PERSISTENCE,
                    [v] => parse_uint(v, 1, 2_678_400).map_err(|m| cx.invalid(k, C, m))? as u32,
                    _ => return Err(cx.invalid(k, C, "expected at most one value")),
                });
            }
            "protocol" => {
                cx.no_block(k, C)?;
                protocol = Some(match cx.one(k, C)? {
                    "TCP" => L4Proto::Tcp,
                    "UDP" => L4Proto::Udp,
                    "SCTP" => return Err(cx.unsupported(k, C, "SCTP services are not modelled")),
                    other => {
                        return Err(cx.invalid(
                            k,
                            C,
                            format!("\"{other}\" is not TCP, UDP or SCTP"),
                        ))
                    }
                });
            }
            "real_server" => rs_stmts.push(k),
            kw if VS_IGNORED.contains(&kw) => cx.ignored(k, C)?,
            kw => match lookup(VS_UNSUPPORTED, kw) {
                Some(r) => return Err(cx.unsupported(k, C, r)),
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    let mut real_servers: Vec<RealServer> = Vec::new();
    for k in rs_stmts {
        real_servers.push(real_server(cx, k, port, delay_loop, vs_weight, defaults)?);
    }
    // keepalived's validate_check_config, in its order.
    if real_servers.is_empty() {
        cx.config_error(
            s,
            format!("Virtual server {addr} {port} has no real servers - ignoring"),
        );
        return Ok(None);
    }
    let protocol = protocol.unwrap_or_else(|| {
        cx.config_error(
            s,
            format!("Virtual server {addr} {port}: no protocol set - defaulting to UDP"),
        );
        L4Proto::Udp
    });
    if port == 0 && persistence.is_none() {
        cx.config_error(s, format!("Virtual server {addr} {port}: zero port only valid for persistent services - setting"));
        persistence = Some(DEFAULT_PERSISTENCE);
    }
    let lb_algo = lb_algo.unwrap_or_else(|| {
        cx.config_error(
            s,
            format!("Virtual server {addr} {port}: no scheduler set, setting default 'wlc'"),
        );
        Scheduler::Wlc
    });
    let mut kept: Vec<RealServer> = Vec::new();
    for rs in real_servers {
        if kept.iter().any(|r| r.addr == rs.addr && r.port == rs.port) {
            cx.config_errors.push(format!(
                "{}:{}: {ctx}: real server {} {} is duplicated - removing second rs",
                cx.source(s),
                rs.line,
                rs.addr,
                rs.port
            ));
            continue;
        }
        kept.push(rs);
    }
    let lb_kind = lb_kind.unwrap_or_else(|| {
        cx.config_error(
            s,
            format!("Virtual server {addr} {port}: no forwarding method set, setting default NAT"),
        );
        LbKind::Nat
    });
    // DR and TUN cannot change the port: keepalived resets a different one.
    if lb_kind != LbKind::Nat {
        for rs in &mut kept {
            if rs.port != port {
                cx.config_errors.push(format!(
                    "{}:{}: virtual server {addr} {port} and real server {} {} ports don't match - resetting",
                    cx.source(s),
                    rs.line,
                    rs.addr,
                    rs.port
                ));
                rs.port = port;
            }
        }
    }
    Ok(Some(VirtualServer {
        addr,
        port,
        protocol,
        lb_algo,
        lb_kind,
        delay_loop,
        persistence_timeout: persistence,
        real_servers: kept,
        line: s.line,
        source: cx.source(s),
    }))
}

fn real_server(
    cx: &mut Ctx,
    s: &Stmt,
    vs_port: u16,
    delay_loop: f64,
    vs_weight: u32,
    vs_defaults: CheckDefaults,
) -> Result<RealServer, ConfigError> {
    const C: &str = "real_server";
    let (addr, port) = match s.args.as_slice() {
        [a] => (cx.ip(s, C, a)?, vs_port),
        [a, p] => {
            let p = cx.port(s, C, p)?;
            (cx.ip(s, C, a)?, if p == 0 { vs_port } else { p })
        }
        _ => return Err(cx.invalid(s, C, "expected IP [PORT]")),
    };
    let mut weight = vs_weight;
    let mut d = vs_defaults;
    let mut checks: Vec<&Stmt> = Vec::new();
    for k in s.block.as_deref().unwrap_or(&[]) {
        if check_default(cx, k, C, &mut d)? {
            continue;
        }
        match k.keyword.as_str() {
            "weight" => weight = cx.uint(k, C, 0, i32::MAX as u64)? as u32,
            "TCP_CHECK" | "HTTP_GET" | "MISC_CHECK" => checks.push(k),
            kw if CHECKERS_UNSUPPORTED.contains(&kw) => {
                return Err(cx.unsupported(
                    k,
                    C,
                    "only TCP_CHECK, HTTP_GET and MISC_CHECK are modelled",
                ))
            }
            kw if RS_IGNORED.contains(&kw) => cx.ignored(k, C)?,
            kw => match lookup(RS_UNSUPPORTED, kw) {
                Some(r) => return Err(cx.unsupported(k, C, r)),
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    let mut check = None;
    for (i, k) in checks.iter().enumerate() {
        if i > 0 {
            return Err(cx.unsupported(
                k,
                C,
                "more than one health checker per real server is not modelled",
            ));
        }
        check = checker(cx, k, delay_loop, d)?;
    }
    Ok(RealServer {
        addr,
        port,
        weight,
        check,
        line: s.line,
    })
}

fn checker(
    cx: &mut Ctx,
    s: &Stmt,
    delay_loop: f64,
    rs: CheckDefaults,
) -> Result<Option<HealthCheck>, ConfigError> {
    let kind = s.keyword.as_str();
    let ctx = kind;
    let mut own = CheckDefaults::default();
    let mut connect_port = None;
    let mut urls = Vec::new();
    let mut misc_path = None;
    let mut misc_timeout = None;
    for k in cx.block(s, ctx)? {
        // keepalived 2.2.7 gives MISC_CHECK no connection options.
        let misc_connect = kind == "MISC_CHECK" && k.keyword == "connect_timeout";
        if !misc_connect && check_default(cx, k, ctx, &mut own)? {
            continue;
        }
        match (kind, k.keyword.as_str()) {
            ("TCP_CHECK" | "HTTP_GET", "connect_port") => {
                cx.no_block(k, ctx)?;
                let v = cx.one(k, ctx)?;
                let p = parse_uint(v, 1, 65535).map_err(|m| cx.invalid(k, ctx, m))?;
                connect_port = Some(p as u16);
            }
            ("TCP_CHECK" | "HTTP_GET", "connect_ip") => {
                return Err(cx.unsupported(
                    k,
                    ctx,
                    "checks against another address are not modelled",
                ))
            }
            ("HTTP_GET", "url") => urls.extend(url(cx, k)?),
            ("HTTP_GET", kw) if HTTP_IGNORED.contains(&kw) => cx.ignored(k, ctx)?,
            ("MISC_CHECK", "misc_path") => {
                cx.no_block(k, ctx)?;
                if k.args.is_empty() {
                    return Err(cx.invalid(k, ctx, "no command given"));
                }
                misc_path = Some(k.args.join(" "));
            }
            ("MISC_CHECK", "misc_timeout") => misc_timeout = Some(cx.uint(k, ctx, 0, 4294)? as f64),
            ("MISC_CHECK", "misc_dynamic") => {
                return Err(cx.unsupported(
                    k,
                    ctx,
                    "weights set by the check script are not modelled",
                ))
            }
            ("MISC_CHECK", "user") => cx.ignored(k, ctx)?,
            ("MISC_CHECK", kw) if MISC_IGNORED.contains(&kw) => cx.ignored(k, ctx)?,
            ("TCP_CHECK" | "HTTP_GET", kw) if CHECKER_IGNORED.contains(&kw) => {
                cx.ignored(k, ctx)?
            }
            _ => return Err(cx.unknown(k, ctx)),
        }
    }
    // Precedence (check_data.c): checker, then real/virtual server, then the
    // checker type's default; delay_before_retry falls back to delay_loop.
    let connect_timeout = own
        .connect_timeout
        .or(rs.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let (default_retry, default_dbr) = match kind {
        "HTTP_GET" => (1, Some(3.0)),
        "TCP_CHECK" => (1, Some(1.0)),
        _ => (0, Some(1.0)),
    };
    let retry = own.retry.or(rs.retry).unwrap_or(default_retry);
    let delay_before_retry = own
        .delay_before_retry
        .or(rs.delay_before_retry)
        .or(default_dbr)
        .unwrap_or(delay_loop);
    Ok(Some(match kind {
        "TCP_CHECK" => HealthCheck::Tcp {
            connect_port,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "HTTP_GET" if urls.is_empty() => {
            // keepalived 2.2.7 reports this (and then crashes in `-t`).
            cx.config_error(s, "HTTP/SSL_GET checker has no urls specified - ignoring");
            return Ok(None);
        }
        "HTTP_GET" => HealthCheck::HttpGet {
            urls,
            connect_port,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        _ => match misc_path {
            Some(path) => HealthCheck::Misc {
                path,
                // check_misc.c: 0 / unset -> the virtual server's delay_loop.
                timeout: misc_timeout.filter(|t| *t > 0.0).unwrap_or(delay_loop),
            },
            None => {
                // keepalived reports it and drops the checker.
                cx.config_error(
                    s,
                    "No script path has been specified for MISC_CHECKER - skipping",
                );
                return Ok(None);
            }
        },
    }))
}

fn url(cx: &mut Ctx, s: &Stmt) -> Result<Option<(String, Option<u16>)>, ConfigError> {
    const C: &str = "url";
    let mut path = None;
    let mut status = None;
    for k in cx.block(s, C)? {
        match k.keyword.as_str() {
            "path" => {
                cx.no_block(k, C)?;
                path = Some(cx.one(k, C)?.to_string());
            }
            "status_code" => {
                cx.no_block(k, C)?;
                status = match k.args.as_slice() {
                    [v] if v == "200-299" => None,
                    [v] if !v.contains('-') => {
                        Some(parse_uint(v, 100, 599).map_err(|m| cx.invalid(k, C, m))? as u16)
                    }
                    [] => return Err(cx.invalid(k, C, "no status code given")),
                    _ => {
                        return Err(cx.unsupported(
                            k,
                            C,
                            "status code ranges and lists are not modelled",
                        ))
                    }
                };
            }
            kw if URL_IGNORED.contains(&kw) => cx.ignored(k, C)?,
            kw if URL_UNSUPPORTED.contains(&kw) => {
                return Err(cx.unsupported(k, C, "matching the response body is not modelled"))
            }
            _ => return Err(cx.unknown(k, C)),
        }
    }
    match path {
        Some(p) => Ok(Some((p, status))),
        None => {
            cx.config_error(s, "HTTP/SSL_GET checker url has no path - ignoring");
            Ok(None)
        }
    }
}
