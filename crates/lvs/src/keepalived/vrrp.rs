//! VRRP: `vrrp_script NAME { }` and `vrrp_instance NAME { }` (state, VRID,
//! priority, advertisement, authentication, VIPs, unicast peers, preemption,
//! tracked scripts), with keepalived 2.2.7's defaults and corrections
//! (vrrp/vrrp_parser.c; vrrp/vrrp.c vrrp_complete_instance). Sync groups are
//! in [`super::sync_group`].

use std::collections::HashSet;
use std::net::IpAddr;

use super::ctx::{lookup3, parse_uint, Ctx};
use super::error::ConfigError;
use super::global_defs::Globals;
use super::keywords::*;
use super::tree::Stmt;
use super::*;

pub(super) fn vrrp_script(cx: &mut Ctx, s: &Stmt) -> Result<VrrpScript, ConfigError> {
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
    let mut user: Vec<String> = Vec::new();
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
            "user" => {
                user = k.args.clone();
                cx.ignored(k, C)?
            }
            "init_fail" => cx.ignored(k, C)?,
            _ => return Err(cx.unknown(k, C)),
        }
    }
    if v.script.is_empty() {
        return Err(cx.missing(s, &format!("vrrp_script {}", v.name), "script"));
    }
    cx.script(
        s,
        ScriptKind::Track(v.name.clone()),
        ScriptScope::Vrrp,
        v.script.clone(),
        &user,
    );
    Ok(v)
}

pub(super) fn vrrp_instance(
    cx: &mut Ctx,
    s: &Stmt,
    g: &Globals,
) -> Result<VrrpInstance, ConfigError> {
    const C: &str = "vrrp_instance";
    let name = cx.one(s, C)?.to_string();
    let mut state = VrrpStateCfg::Backup;
    let mut interface = None;
    let mut vrid = None;
    let mut priority: Option<u8> = None;
    let mut advert_int = 1.0;
    let mut auth: (Option<AuthType>, Option<String>) = (None, None);
    let mut use_vmac = false;
    // With the line and text of each, for keepalived's family errors.
    let mut vips: Vec<(ipnet::IpNet, &Stmt)> = Vec::new();
    let mut excluded: Vec<ipnet::IpNet> = Vec::new();
    let mut preferred_lfts: Vec<(IpAddr, u32)> = Vec::new();
    let mut unicast_src_ip = None;
    let mut unicast_peers: Vec<(IpAddr, &Stmt)> = Vec::new();
    let mut nopreempt = false;
    let mut preempt_delay = 0.0;
    let mut track_scripts = Vec::new();
    let mut track_interfaces: Vec<TrackInterface> = Vec::new();
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
                    let (net, lft) = vip(cx, a, interface.as_deref())?;
                    if let Some(l) = lft {
                        preferred_lfts.push((net.addr(), l));
                    }
                    vips.push((net, a));
                }
            }
            // Added and removed with the VIPs, never advertised: the way to
            // give an instance addresses of the other family (keepalived
            // vrrp_data.c, alloc_vrrp_evip, takes any family).
            "virtual_ipaddress_excluded" => {
                for a in cx.block(k, "virtual_ipaddress_excluded")? {
                    let (net, lft) = vip(cx, a, interface.as_deref())?;
                    if let Some(l) = lft {
                        preferred_lfts.push((net.addr(), l));
                    }
                    excluded.push(net);
                }
                if cx.check_mode() {
                    cx.note(
                        k,
                        "virtual_ipaddress_excluded",
                        "excluded VIPs (added by the master, not advertised) are not modelled",
                    );
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
                    unicast_peers.push((ip, p));
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
            "track_interface" => {
                track_interface(cx, k, &name, &mut track_interfaces)?;
                if cx.check_mode() {
                    cx.ignored_or_unmodelled(k, C, INSTANCE_IGNORED_UNMODELLED)?;
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
                } else if kw.starts_with("notify") && kw != "notify_priority_changes" {
                    cx.notify_script(k, ScriptScope::Vrrp);
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
    // The first VIP or unicast peer in the file fixes the family; keepalived
    // drops VIPs and peers of the other one, each with a configuration error
    // (vrrp_data.c, alloc_vrrp_vip and alloc_unicast_peer).
    let first_vip = vips.first().map(|(n, st)| (st.line, n.addr().is_ipv6()));
    let first_peer = unicast_peers.first().map(|(a, st)| (st.line, a.is_ipv6()));
    let v6 = match (first_vip, first_peer) {
        (Some(v), Some(p)) => v.min(p).1,
        (Some((_, v6)), None) | (None, Some((_, v6))) => v6,
        (None, None) => matches!(unicast_src_ip, Some(IpAddr::V6(_))),
    };
    if vips.is_empty() {
        cx.config_error(
            s,
            format!("({name}) No VIP specified; at least one is sensible"),
        );
    }
    // Reported in file order, as keepalived meets them.
    let mut wrong_family: Vec<(&Stmt, String)> = vips
        .iter()
        .filter(|(n, _)| n.addr().is_ipv6() != v6)
        .map(|(_, st)| {
            let msg = format!(
                "({name}): address family must match VRRP instance [{}] - ignoring",
                st.keyword
            );
            (*st, msg)
        })
        .chain(unicast_peers.iter().filter(|(a, _)| a.is_ipv6() != v6).map(|(_, st)| {
            let msg = format!(
                "Configuration error: VRRP instance[{name}] and unicast peer address[{}] MUST be of the same family !!! Skipping...",
                st.keyword
            );
            (*st, msg)
        }))
        .collect();
    wrong_family.sort_by_key(|(st, _)| st.line);
    for (st, msg) in wrong_family {
        cx.config_error(st, msg);
    }
    let vips: Vec<ipnet::IpNet> = vips
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.addr().is_ipv6() == v6)
        .collect();
    let unicast_peers: Vec<IpAddr> = unicast_peers
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| a.is_ipv6() == v6)
        .collect();
    // IPv6 means VRRPv3 unless the instance says `version 2`, which
    // keepalived keeps outside strict mode (vrrp.c, vrrp_complete_instance;
    // the director refuses VRRPv2 over IPv6).
    let version = match version {
        Some(v) => v,
        None if v6 => 3,
        None => g.vrrp_version,
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
    if priority == 255 && nopreempt {
        cx.config_error(
            s,
            format!("({name}) nopreempt is incompatible with priority 255. resetting nopreempt"),
        );
        nopreempt = false;
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
    // keepalived vrrp.c (vrrp_complete_instance): tracking the instance's own
    // interface is dropped, and an address owner (priority 255) ignores
    // weighted tracked interfaces.
    {
        let own = &interface;
        track_interfaces.retain(|t| {
            let keep = t.name != *own;
            if !keep {
                cx.config_errors.push(format!(
                    "{}:{}: ({name}) Ignoring track_interface {own} since own interface",
                    cx.source(s),
                    s.line
                ));
            }
            keep
        });
    }
    if priority == 255 {
        track_interfaces.retain(|t| {
            if t.weight != 0 {
                cx.config_errors.push(format!(
                    "{}:{}: ({name}) ignoring {} tracked interface due to address owner",
                    cx.source(s),
                    s.line,
                    t.name
                ));
            }
            t.weight == 0
        });
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
        virtual_ipaddresses_excluded: excluded,
        vip_preferred_lft: preferred_lfts,
        unicast_src_ip,
        unicast_peers,
        nopreempt,
        preempt_delay,
        track_scripts,
        track_interfaces,
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
/// Parse one VIP line; with the preferred lifetime keepalived gives an IPv6
/// VIP (`Some(0)`: deprecated, never a source address), `None` for forever
/// and for IPv4.
fn vip(
    cx: &mut Ctx,
    s: &Stmt,
    interface: Option<&str>,
) -> Result<(ipnet::IpNet, Option<u32>), ConfigError> {
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
    let mut preferred_lft: Option<Option<u32>> = None;
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
                if opt == "preferred_lft" {
                    preferred_lft = Some(v.parse::<u32>().ok());
                }
            }
            "no_track" | "home" | "-nodad" | "nodad" | "noprefixroute" | "autojoin" => {}
            other => return Err(cx.invalid(s, C, format!("unknown address option \"{other}\""))),
        }
    }
    // keepalived vrrp_ipaddress.c (parse_ipaddress / alloc_ipaddress): an
    // IPv6 VIP without preferred_lft is deprecated (0) when it is a /128,
    // so health checks never pick it as their source, else kept forever.
    let lft = match net {
        ipnet::IpNet::V6(n) => preferred_lft.unwrap_or((n.prefix_len() == 128).then_some(0)),
        ipnet::IpNet::V4(_) => None,
    };
    Ok((net, lft))
}

/// track_script names resolve against every vrrp_script in the file.
pub(super) fn resolve_track_scripts(
    cx: &mut Ctx,
    scripts: &[VrrpScript],
    instances: &mut [VrrpInstance],
) {
    let names: HashSet<&str> = scripts
        .iter()
        .map(|s: &VrrpScript| s.name.as_str())
        .collect();
    for inst in instances.iter_mut() {
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
}

/// vrrp.c vrrp_complete_instance: members of a sync group (without
/// sync_group_tracking_weight) and address owners ignore weighted scripts.
/// `track_interface { IFNAME [weight N [reverse]] }`, with the corrections
/// and messages of keepalived 2.2.7 (vrrp_track.c, alloc_track_if). Whether
/// the interface exists is a question for the host (`director -t`).
fn track_interface(
    cx: &mut Ctx,
    k: &Stmt,
    name: &str,
    out: &mut Vec<TrackInterface>,
) -> Result<(), ConfigError> {
    const T: &str = "track_interface";
    for t in cx.block(k, T)? {
        cx.no_block(t, T)?;
        let ifname = t.keyword.clone();
        if out.iter().any(|x| x.name == ifname) {
            cx.config_error(
                t,
                format!("({name}) duplicate track_interface {ifname} - ignoring"),
            );
            continue;
        }
        let (mut weight, mut reverse) = (0, false);
        match t.args.as_slice() {
            [] => {}
            [o, ..] if o != "weight" => {
                cx.config_error(
                    t,
                    format!("({name}) unknown track_interface {ifname} option {o} - ignoring"),
                );
                continue;
            }
            [_] => {
                cx.config_error(
                    t,
                    format!("({name}) weight without value specified for track_interface {ifname} - ignoring"),
                );
                continue;
            }
            [_, w, rest @ ..] => {
                match cx.int(t, T, w, -254, 254).ok() {
                    None => cx.config_error(
                        t,
                        format!("({name}) weight {w} for {ifname} must be between [-253..253] inclusive. Ignoring..."),
                    ),
                    Some(v) if v.abs() == 254 => {
                        cx.config_error(
                            t,
                            format!("({name}) weight for {ifname} cannot be +/-254. Setting to +/-253"),
                        );
                        weight = v.signum() as i32 * 253;
                    }
                    Some(v) => weight = v as i32,
                }
                match rest.first() {
                    Some(r) if r == "reverse" => reverse = true,
                    Some(r) => cx.config_error(
                        t,
                        format!(
                            "({name}) unknown track_interace {ifname} weight option {r} - ignoring"
                        ),
                    ),
                    None => {}
                }
            }
        }
        out.push(TrackInterface {
            name: ifname,
            weight,
            reverse,
            line: t.line,
        });
    }
    Ok(())
}

pub(super) fn drop_weighted_scripts(
    cx: &mut Ctx,
    scripts: &[VrrpScript],
    instances: &mut [VrrpInstance],
    fixed_weight: &[String],
) {
    for inst in instances.iter_mut() {
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
        if synced {
            for t in inst.track_interfaces.iter_mut().filter(|t| t.weight != 0) {
                cx.config_errors.push(format!(
                    "{}:{}: ({}) ignoring {} tracked interface weight due to SYNC group",
                    inst.source, inst.line, inst.name, t.name
                ));
                t.weight = 0;
            }
        }
    }
}
