//! Virtual servers: `virtual_server IP [PORT]`, `virtual_server fwmark N` and
//! `virtual_server group NAME` with its `virtual_server_group`, their real and
//! sorry servers, with keepalived 2.2.7's checks and corrections
//! (check/check_parser.c, check_data.c alloc_vsg_entry and
//! validate_check_config, ipwrapper.c link_vsg_to_vs).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checker::{check_default, checker, CheckDefaults};
use super::ctx::{lookup3, parse_uint, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::track_file::TrackFile;
use super::tree::Stmt;
use super::*;

/// keepalived IPVS_SVC_PERSISTENT_TIMEOUT: 6 minutes.
const DEFAULT_PERSISTENCE: u32 = 360;

/// Addresses of one `virtual_server_group` range modelled at most (keepalived
/// installs a service per address; a /8 would be 16 million).
const MAX_RANGE: u128 = 4096;

/// The services read so far.
#[derive(Debug, Default)]
pub(super) struct Services {
    pub(super) servers: Vec<VirtualServer>,
    pub(super) fwmarks: Vec<FwmarkService>,
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone)]
pub(super) struct VsGroup {
    name: String,
    entries: Vec<GroupEntry>,
}

#[derive(Debug, Clone)]
enum GroupEntry {
    /// `IP [PORT]`, `IP-LAST [PORT]`, `IP-IP [PORT]`, `IP/LEN [PORT]`; port 0 = none.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        line: usize,
    },
    Fwmark(u32),
}

/// Every `virtual_server_group` of the file (Check mode), in order; entries
/// keepalived rejects are configuration errors and left out.
pub(super) fn groups(cx: &mut Ctx, stmts: &[Stmt]) -> Result<Vec<VsGroup>, ConfigError> {
    const C: &str = "virtual_server_group";
    let mut out = Vec::new();
    for s in stmts.iter().filter(|s| s.keyword == C) {
        let name = match s.args.as_slice() {
            [n] => n.clone(),
            _ => return Err(cx.invalid(s, C, "expected a group name")),
        };
        let mut entries = Vec::new();
        let (mut v4, mut v6, mut fw_no_family) = (false, false, false);
        for k in cx.block(s, C)? {
            cx.no_block(k, C)?;
            if k.keyword == "fwmark" {
                let Some(Ok(fw)) = k.args.first().map(|v| parse_uint(v, 0, u32::MAX as u64)) else {
                    cx.config_error(
                        k,
                        format!(
                            "({name}): fwmark '{}' must be in [0, {}] - ignoring",
                            k.args.first().map(String::as_str).unwrap_or(""),
                            u32::MAX
                        ),
                    );
                    continue;
                };
                match k.args.get(1).map(String::as_str) {
                    None => fw_no_family = true,
                    Some("inet") => v4 = true,
                    Some("inet6") => v6 = true,
                    Some(f) => {
                        cx.config_error(
                            k,
                            format!("({name}): fwmark '{fw}' family {f} unknown - ignoring"),
                        );
                        continue;
                    }
                }
                entries.push(GroupEntry::Fwmark(fw as u32));
                continue;
            }
            match group_range(k) {
                Ok(e) => {
                    if let GroupEntry::Range { first, .. } = &e {
                        if first.is_ipv4() {
                            v4 = true;
                        } else {
                            v6 = true;
                        }
                    }
                    entries.push(e);
                }
                Err(m) => cx.config_error(k, m),
            }
        }
        if entries.is_empty() {
            cx.config_error(
                s,
                format!("virtual server group {name} has no entries - removing"),
            );
            continue;
        }
        if v4 && v6 && fw_no_family {
            cx.config_error(
                s,
                format!("virtual server group {name} cannot have IPv4, IPv6 and fwmark without family - removing"),
            );
            continue;
        }
        out.push(VsGroup { name, entries });
    }
    Ok(out)
}

/// One address entry of a group (check_data.c, alloc_vsg_entry; utils.c
/// inet_stor): `A`, `A/LEN` (the whole block, host bits must be 0), `A-B`
/// (B a full address) or `A-N` (N the last IPv4 octet in decimal, or the last
/// IPv6 group in hex).
fn group_range(k: &Stmt) -> Result<GroupEntry, String> {
    let text = k.keyword.as_str();
    let port = match k.args.first() {
        None => 0,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b == b'0') => 0,
        Some(p) => match parse_uint(p, 1, 65535) {
            Ok(p) => p as u16,
            Err(_) => {
                return Err(format!(
                    "Invalid virtual server group IP address {text}/port/{p} - skipping"
                ))
            }
        },
    };
    let bad = || format!("Invalid virtual server group IP address {text} - skipping");
    let base = text.split(['-', '/']).next().unwrap_or("");
    let first: IpAddr = base.parse().map_err(|_| bad())?;
    let bits: u32 = if first.is_ipv4() { 32 } else { 128 };
    let last = if let Some((_, len)) = text.split_once('/') {
        let len = parse_uint(len, 1, bits as u64)
            .map_err(|_| format!("Invalid netmask - {text} - skipping"))? as u32;
        let host = if len == bits {
            0
        } else {
            u128::MAX >> (128 - bits + len)
        };
        let a = ip_to_u128(first);
        if a & host != 0 {
            return Err(format!("Address mask bits not empty - {text} - skipping"));
        }
        u128_to_ip(a | host, first.is_ipv4())
    } else if let Some((_, end)) = text.split_once('-') {
        let full = if first.is_ipv4() {
            end.contains('.')
        } else {
            end.contains(':')
        };
        if full {
            let last: IpAddr = end
                .parse()
                .map_err(|_| format!("Invalid range end {text} - skipping"))?;
            if last.is_ipv4() != first.is_ipv4() {
                return Err(format!(
                    "Range address families do not match {text} - skipping"
                ));
            }
            if ip_to_u128(last) < ip_to_u128(first) {
                return Err(format!(
                    "Address range end is less than address range start - {text} - skipping"
                ));
            }
            last
        } else {
            let (radix, max) = if first.is_ipv4() {
                (10, 255)
            } else {
                (16, 0xffff)
            };
            let n = u128::from_str_radix(end, radix)
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    format!("Virtual server group range '{text}' end '{end}' too large")
                })?;
            let (a, mask) = (ip_to_u128(first), max);
            if a & mask >= n {
                return Err(format!(
                    "Address range end is not greater than address range start - {text} - skipping"
                ));
            }
            u128_to_ip((a & !mask) | n, first.is_ipv4())
        }
    } else {
        first
    };
    Ok(GroupEntry::Range {
        first,
        last,
        port,
        line: k.line,
    })
}

fn ip_to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn u128_to_ip(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// What a `virtual_server` names.
enum Head {
    Addr(IpAddr, u16),
    Fwmark(u32),
    Group(String),
}

/// The settings of a `virtual_server` block.
struct Body<'s> {
    protocol: Option<L4Proto>,
    sctp: bool,
    lb_algo: Option<Scheduler>,
    lb_kind: Option<LbKind>,
    delay_loop: f64,
    persistence: Option<u32>,
    ha_suspend: bool,
    /// The last `lb_kind` statement.
    lb_kind_stmt: Option<&'s Stmt>,
    /// (real server, its port as written: 0 = none).
    real_servers: Vec<(RealServer, u16)>,
    /// The `lb_kind` in force where each real server was declared.
    rs_kinds: Vec<Option<LbKind>>,
    sorry: Option<(IpAddr, u16, &'s Stmt)>,
    sorry_inhibit: bool,
    /// `sorry_server_lvs_method`, else the `lb_kind` in force at `sorry_server`.
    sorry_kind: Option<LbKind>,
    /// `quorum` (default 1) and `hysteresis` (default 0).
    quorum: u64,
    hysteresis: u64,
}

/// `lb_kind` / `lvs_method` / `sorry_server_lvs_method`:
/// `NAT | DR | TUN [type ipip|gue port N [..]|gre [..]]`.
fn lb_kind(cx: &mut Ctx, k: &Stmt, ctx: &str) -> Result<LbKind, ConfigError> {
    cx.no_block(k, ctx)?;
    Ok(match k.args.as_slice() {
        [m] if m == "NAT" => LbKind::Nat,
        [m] if m == "DR" => LbKind::Dr,
        [m] if m == "TUN" => LbKind::Tun,
        [m, t, ty] if m == "TUN" && t == "type" && ty == "ipip" => LbKind::Tun,
        [m, t, ..] if m == "TUN" && t == "type" => {
            cx.refuse(
                k,
                ctx,
                "only IPIP tunnels are modelled: a GUE or GRE encapsulation is read as IPIP",
                Note::Unmodelled,
            )?;
            LbKind::Tun
        }
        _ => return Err(cx.invalid(k, ctx, "expected NAT, DR or TUN")),
    })
}

/// Read a `virtual_server` block and add what keepalived would install.
pub(super) fn virtual_server(
    cx: &mut Ctx,
    s: &Stmt,
    groups: &[VsGroup],
    track_files: &[TrackFile],
    out: &mut Services,
) -> Result<(), ConfigError> {
    const C: &str = "virtual_server";
    let head = match s.args.as_slice() {
        [k, v] if k == "fwmark" || k == "group" => {
            if !cx.check_mode() {
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
            if k == "fwmark" {
                Head::Fwmark(
                    parse_uint(v, 0, u32::MAX as u64).map_err(|m| cx.invalid(s, C, m))? as u32,
                )
            } else {
                Head::Group(v.clone())
            }
        }
        [a] => Head::Addr(cx.ip(s, C, a)?, 0),
        [a, p] => Head::Addr(cx.ip(s, C, a)?, cx.port(s, C, p)?),
        _ => return Err(cx.invalid(s, C, "expected IP [PORT]")),
    };
    let b = body(cx, s, track_files)?;
    match head {
        Head::Addr(addr, port) => by_address(cx, s, b, addr, port, out),
        Head::Fwmark(fw) => by_fwmark(cx, s, b, fw, out),
        Head::Group(name) => by_group(cx, s, b, &name, groups, out),
    }
}

fn body<'s>(cx: &mut Ctx, s: &'s Stmt, track_files: &[TrackFile]) -> Result<Body<'s>, ConfigError> {
    const C: &str = "virtual_server";
    let mut b = Body {
        protocol: None,
        sctp: false,
        lb_algo: None,
        lb_kind: None,
        delay_loop: 60.0,
        persistence: None,
        ha_suspend: false,
        lb_kind_stmt: None,
        real_servers: Vec::new(),
        rs_kinds: Vec::new(),
        sorry: None,
        sorry_inhibit: false,
        sorry_kind: None,
        quorum: 1,
        hysteresis: 0,
    };
    let mut vs_weight = 1u32;
    let mut defaults = CheckDefaults::default();
    let mut rs_stmts = Vec::new();
    for k in cx.block(s, C)? {
        if check_default(cx, k, C, &mut defaults)? {
            continue;
        }
        match k.keyword.as_str() {
            "delay_loop" => b.delay_loop = cx.float(k, C, 0.000001, 1.8e13)?,
            // Default weight of this server's real servers (check_data.c).
            "weight" => vs_weight = cx.uint(k, C, 1, i32::MAX as u64)? as u32,
            "lb_algo" | "lvs_sched" => {
                cx.no_block(k, C)?;
                let v = cx.one(k, C)?;
                let sched = Scheduler::from_name(v)
                    .ok_or_else(|| cx.invalid(k, C, format!("\"{v}\" is not an IPVS scheduler")))?;
                b.lb_algo = Some(sched);
            }
            "lb_kind" | "lvs_method" => {
                b.lb_kind = Some(lb_kind(cx, k, C)?);
                b.lb_kind_stmt = Some(k);
            }
            "persistence_timeout" => {
                cx.no_block(k, C)?;
                b.persistence = Some(match k.args.as_slice() {
                    [] => DEFAULT_PERSISTENCE,
                    [v] => parse_uint(v, 1, 2_678_400).map_err(|m| cx.invalid(k, C, m))? as u32,
                    _ => return Err(cx.invalid(k, C, "expected at most one value")),
                });
            }
            "protocol" => {
                cx.no_block(k, C)?;
                b.protocol = Some(match cx.one(k, C)? {
                    "TCP" => L4Proto::Tcp,
                    "UDP" => L4Proto::Udp,
                    "SCTP" => {
                        cx.refuse(
                            k,
                            C,
                            "SCTP services are not modelled (left out of the model)",
                            Note::Unmodelled,
                        )?;
                        b.sctp = true;
                        continue;
                    }
                    other => {
                        return Err(cx.invalid(
                            k,
                            C,
                            format!("\"{other}\" is not TCP, UDP or SCTP"),
                        ))
                    }
                });
            }
            // check_data.c alloc_rs: a real server takes the forwarding
            // method in force when it is read.
            "real_server" => rs_stmts.push((k, b.lb_kind)),
            "sorry_server" if cx.check_mode() => {
                cx.no_block(k, C)?;
                let (a, p) = match k.args.as_slice() {
                    [a] => (cx.ip(k, C, a)?, 0),
                    [a, p] => (cx.ip(k, C, a)?, cx.port(k, C, p)?),
                    _ => return Err(cx.invalid(k, C, "expected IP [PORT]")),
                };
                b.sorry = Some((a, p, k));
                b.sorry_kind = b.lb_kind;
            }
            "sorry_server_inhibit" if cx.check_mode() => {
                if b.sorry.is_some() {
                    b.sorry_inhibit = true;
                } else {
                    cx.config_error(
                        k,
                        "Ignoring sorry_server inhibit used before or without sorry_server",
                    );
                }
            }
            "sorry_server_lvs_method" if cx.check_mode() => {
                let kind = lb_kind(cx, k, C)?;
                if b.sorry.is_some() {
                    b.sorry_kind = Some(kind);
                } else {
                    cx.config_error(k, "sorry_server forwarding used without sorry_server");
                }
            }
            "ha_suspend" => {
                b.ha_suspend = true;
                cx.ignored(k, C)?
            }
            "quorum" | "hysteresis" => {
                cx.no_block(k, C)?;
                let min = u64::from(k.keyword == "quorum");
                match k.args.first().map(|v| parse_uint(v, min, u32::MAX as u64)) {
                    Some(Ok(n)) if k.keyword == "quorum" => b.quorum = n,
                    Some(Ok(n)) => b.hysteresis = n,
                    _ if k.keyword == "quorum" => {
                        cx.config_error(k, "Quorum must be in [1, 4294967295]. Setting to 1.");
                        b.quorum = 1;
                    }
                    _ => cx.config_error(k, "Hysteresis must be in [0, 4294967295] - ignoring"),
                }
                cx.ignored(k, C)?
            }
            kw if VS_IGNORED.contains(&kw) => {
                if kw == "quorum_up" || kw == "quorum_down" {
                    cx.notify_script(k, ScriptScope::Checker);
                }
                cx.ignored(k, C)?
            }
            kw => match lookup3(VS_UNSUPPORTED, kw) {
                Some((r, note)) => cx.refuse(k, C, r, note)?,
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    for (k, kind) in rs_stmts {
        let rs = real_server(cx, k, b.delay_loop, vs_weight, defaults, track_files)?;
        b.real_servers.push(rs);
        b.rs_kinds.push(kind);
    }
    Ok(b)
}

fn real_server(
    cx: &mut Ctx,
    s: &Stmt,
    delay_loop: f64,
    vs_weight: u32,
    vs_defaults: CheckDefaults,
    track_files: &[TrackFile],
) -> Result<(RealServer, u16), ConfigError> {
    const C: &str = "real_server";
    let (addr, written) = match s.args.as_slice() {
        [a] => (cx.ip(s, C, a)?, 0),
        [a, p] => (cx.ip(s, C, a)?, cx.port(s, C, p)?),
        _ => return Err(cx.invalid(s, C, "expected IP [PORT]")),
    };
    let mut weight = vs_weight;
    let mut d = vs_defaults;
    let mut stmts: Vec<&Stmt> = Vec::new();
    for k in s.block.as_deref().unwrap_or(&[]) {
        if check_default(cx, k, C, &mut d)? {
            continue;
        }
        match k.keyword.as_str() {
            "weight" => weight = cx.uint(k, C, 0, i32::MAX as u64)? as u32,
            "TCP_CHECK" | "HTTP_GET" | "MISC_CHECK" => stmts.push(k),
            "BFD_CHECK" if cx.check_mode() => {
                cx.note(k, "BFD_CHECK", "BFD health checks are not modelled")
            }
            kw if CHECKERS_UNSUPPORTED.contains(&kw) => {
                if !cx.check_mode() {
                    return Err(cx.unsupported(
                        k,
                        C,
                        "only TCP_CHECK, HTTP_GET and MISC_CHECK are modelled",
                    ));
                }
                stmts.push(k);
            }
            kw if RS_IGNORED.contains(&kw) => {
                if kw == "notify_up" || kw == "notify_down" {
                    cx.notify_script(k, ScriptScope::Checker);
                }
                cx.ignored(k, C)?
            }
            kw => match lookup3(RS_UNSUPPORTED, kw) {
                Some((r, note)) => cx.refuse(k, C, r, note)?,
                None => return Err(cx.unknown(k, C)),
            },
        }
    }
    let mut checks = Vec::new();
    for (i, k) in stmts.iter().enumerate() {
        if i > 0 && !cx.check_mode() {
            return Err(cx.unsupported(
                k,
                C,
                "more than one health checker per real server is not modelled \
                 (the director runs one)",
            ));
        }
        checks.extend(checker(cx, k, delay_loop, d, track_files)?);
    }
    let rs = RealServer {
        addr,
        port: written,
        weight,
        checks,
        line: s.line,
    };
    Ok((rs, written))
}

/// Checkers copy the real server's port as written when they are read
/// (check_api.c queue_checker; check_smtp.c likewise): where the modelled
/// port differs from it, the checker keeps the written one.
fn pin_check_ports(cx: &mut Ctx, source: &str, rs: &mut RealServer, written: u16) {
    if written == rs.port {
        return;
    }
    for c in &mut rs.checks {
        let kind = c.kind_name();
        let Some(cp) = c.connect_port_mut() else {
            continue;
        };
        if cp.is_none() {
            *cp = Some(written);
            if written == 0 {
                let w = format!(
                    "{source}:{}: {kind} of real server {} connects to port 0: the real server \
                     has no port and the checker no connect_port (keepalived 2.2.7 copies the \
                     real server's port before it fills it in)",
                    rs.line, rs.addr
                );
                if !cx.warnings.contains(&w) {
                    cx.warnings.push(w);
                }
            }
        }
    }
}

fn lb_algo_or_default(cx: &mut Ctx, s: &Stmt, b: &Body, what: &str) -> Scheduler {
    b.lb_algo.unwrap_or_else(|| {
        cx.config_error(
            s,
            format!("Virtual server {what}: no scheduler set, setting default 'wlc'"),
        );
        Scheduler::Wlc
    })
}

/// The forwarding method of the real servers: each has the `lb_kind` in force
/// where it was declared, else the last one, else NAT (a config error). One
/// virtual server has one method in the model, so differing ones are refused
/// (Director) or noted (Check: the first real server's is used). Also drops
/// duplicate real servers and checks the quorum (validate_check_config).
fn resolve_kind(
    cx: &mut Ctx,
    s: &Stmt,
    b: &mut Body,
    what: &str,
) -> Result<(LbKind, Vec<(RealServer, u16)>), ConfigError> {
    let rss: Vec<_> = b
        .real_servers
        .iter()
        .cloned()
        .zip(b.rs_kinds.iter().copied())
        .collect();
    // "real server is duplicated - removing second rs".
    let mut kept: Vec<((RealServer, u16), Option<LbKind>)> = Vec::new();
    for ((rs, w), kind) in rss {
        if kept
            .iter()
            .any(|((r, _), _)| r.addr == rs.addr && r.port == rs.port)
        {
            cx.config_errors.push(format!(
                "{}:{}: virtual_server {what}: real server {} {} is duplicated - removing second rs",
                cx.source(s),
                rs.line,
                rs.addr,
                rs.port
            ));
            continue;
        }
        kept.push(((rs, w), kind));
    }
    let needs_default =
        kept.iter().any(|(_, k)| k.is_none()) || (b.sorry.is_some() && b.sorry_kind.is_none());
    let last = match b.lb_kind {
        Some(k) => k,
        None => {
            if needs_default {
                cx.config_error(
                    s,
                    format!("Virtual server {what}: no forwarding method set, setting default NAT"),
                );
            }
            LbKind::Nat
        }
    };
    let kinds: Vec<LbKind> = kept.iter().map(|(_, k)| k.unwrap_or(last)).collect();
    let kind = kinds.first().copied().unwrap_or(last);
    if kinds.iter().any(|k| *k != kind) {
        let at = b.lb_kind_stmt.unwrap_or(s);
        cx.refuse(
            at,
            "virtual_server",
            "real servers declared before and after this lb_kind forward differently \
             (per-real-server forwarding methods are not modelled; the first real server's is used)",
            Note::Unmodelled,
        )?;
    }
    if b.sorry_kind.is_none() {
        b.sorry_kind = Some(last);
    }
    let kept: Vec<(RealServer, u16)> = kept.into_iter().map(|(r, _)| r).collect();
    // The quorum cannot exceed the real servers' total weight.
    let sum: u64 = kept.iter().map(|(r, _)| u64::from(r.weight)).sum();
    let mut quorum = b.quorum;
    if quorum > sum {
        cx.config_error(
            s,
            format!("Warning - quorum {quorum} for {what} exceeds total weight of real servers {sum}, reducing quorum to {sum}"),
        );
        quorum = sum;
    }
    if b.hysteresis >= quorum {
        cx.config_error(
            s,
            format!(
                "Virtual server {what}: hysteresis {} >= quorum {quorum}",
                b.hysteresis
            ),
        );
    }
    Ok((kind, kept))
}

/// The sorry server with its forwarding method, before port handling.
fn sorry_base(
    cx: &mut Ctx,
    b: &Body,
    lb_kind: LbKind,
    family_v6: Option<bool>,
) -> Option<SorryServer> {
    let (addr, port, k) = b.sorry?;
    let kind = b.sorry_kind.unwrap_or(lb_kind);
    // check_parser.c vs_end_handler: a tunnelled sorry server may differ.
    if kind != LbKind::Tun && family_v6.is_some_and(|v6| v6 != addr.is_ipv6()) {
        cx.config_error(
            k,
            format!("Address family of virtual server and sorry server {addr} don't match - skipping sorry server."),
        );
        return None;
    }
    Some(SorryServer {
        addr,
        port,
        inhibit: b.sorry_inhibit,
        lb_kind: kind,
        line: k.line,
    })
}

fn by_address(
    cx: &mut Ctx,
    s: &Stmt,
    mut b: Body,
    addr: IpAddr,
    port: u16,
    out: &mut Services,
) -> Result<(), ConfigError> {
    let what = format!("{addr} {port}");
    // keepalived's validate_check_config, in its order.
    if b.real_servers.is_empty() {
        cx.config_error(
            s,
            format!("Virtual server {what} has no real servers - ignoring"),
        );
        return Ok(());
    }
    let protocol = b.protocol.unwrap_or_else(|| {
        if !b.sctp {
            cx.config_error(
                s,
                format!("Virtual server {what}: no protocol set - defaulting to UDP"),
            );
        }
        L4Proto::Udp
    });
    let mut persistence = b.persistence;
    if port == 0 && persistence.is_none() {
        cx.config_error(
            s,
            format!(
                "Virtual server {what}: zero port only valid for persistent services - setting"
            ),
        );
        persistence = Some(DEFAULT_PERSISTENCE);
    }
    let lb_algo = lb_algo_or_default(cx, s, &b, &what);
    // No port: the virtual server's.
    for (rs, _) in &mut b.real_servers {
        if rs.port == 0 {
            rs.port = port;
        }
    }
    let (lb_kind, mut kept) = resolve_kind(cx, s, &mut b, &what)?;
    // DR and TUN cannot change the port: keepalived resets a different one.
    if lb_kind != LbKind::Nat {
        for (rs, _) in &mut kept {
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
    let mut sorry = sorry_base(cx, &b, lb_kind, Some(addr.is_ipv6()));
    if let Some(ss) = &mut sorry {
        if ss.port == 0 {
            // DR/TUN: keepalived sets it; NAT: IPVS uses the service port.
            ss.port = port;
        } else if ss.lb_kind != LbKind::Nat && ss.port != port {
            cx.config_errors.push(format!(
                "{}:{}: WARNING - virtual server {what} and sorry server ports don't match - resetting",
                cx.source(s),
                ss.line
            ));
            ss.port = port;
        }
    }
    let source = cx.source(s);
    let real_servers = kept
        .into_iter()
        .map(|(mut rs, w)| {
            pin_check_ports(cx, &source, &mut rs, w);
            rs
        })
        .collect();
    if b.sctp {
        return Ok(());
    }
    out.servers.push(VirtualServer {
        addr,
        port,
        protocol,
        lb_algo,
        lb_kind,
        delay_loop: b.delay_loop,
        persistence_timeout: persistence,
        real_servers,
        sorry_server: sorry,
        group: None,
        line: s.line,
        source,
    });
    Ok(())
}

fn by_fwmark(
    cx: &mut Ctx,
    s: &Stmt,
    mut b: Body,
    fw: u32,
    out: &mut Services,
) -> Result<(), ConfigError> {
    let what = format!("FWM {fw}");
    if fw == 0 {
        // A zero mark is no mark: keepalived then takes it for an address
        // service without an address and `keepalived -t` fails.
        cx.config_error(
            s,
            "virtual server fwmark 0 is not a firewall mark - ignoring",
        );
        return Ok(());
    }
    if b.real_servers.is_empty() {
        cx.config_error(
            s,
            format!("Virtual server {what} has no real servers - ignoring"),
        );
        return Ok(());
    }
    if b.ha_suspend {
        cx.config_error(
            s,
            format!(
                "Virtual server {what}: cannot use ha_suspend with fwmarks - clearing ha_suspend"
            ),
        );
    }
    if b.protocol.is_some() || b.sctp {
        cx.config_error(
            s,
            format!("Warning: Virtual server {what}: protocol specified for fwmark - protocol will be ignored"),
        );
    }
    let lb_algo = lb_algo_or_default(cx, s, &b, &what);
    let (lb_kind, kept) = resolve_kind(cx, s, &mut b, &what)?;
    let source = cx.source(s);
    // The ports fwmark_service clears.
    report_fwmark_ports(cx, &source, &what, lb_kind, &kept, "clearing");
    let sorry = sorry_base(cx, &b, lb_kind, None);
    if let Some(ss) = sorry
        .as_ref()
        .filter(|ss| ss.lb_kind != LbKind::Nat && ss.port != 0)
    {
        cx.config_errors.push(format!(
            "{source}:{}: WARNING - virtual server {what}, sorry server has port specified - clearing",
            ss.line
        ));
    }
    let service = fwmark_service(cx, s, &b, fw, (lb_algo, lb_kind), kept, sorry);
    out.fwmarks.push(service);
    Ok(())
}

/// keepalived's config error for each DR/TUN real server of fwmark service
/// `what` written with a port; `outcome` ends it (what keepalived does).
fn report_fwmark_ports(
    cx: &mut Ctx,
    source: &str,
    what: &str,
    lb_kind: LbKind,
    kept: &[(RealServer, u16)],
    outcome: &str,
) {
    if lb_kind == LbKind::Nat {
        return;
    }
    for (rs, _) in kept.iter().filter(|(r, _)| r.port != 0) {
        cx.config_errors.push(format!(
            "{source}:{}: WARNING - fwmark virtual server {what}, real server {} {} has port specified - {outcome}",
            rs.line, rs.addr, rs.port
        ));
    }
}

/// The service of firewall mark `fw` (not in a group; by_group sets its own
/// persistence and group): DR and TUN forward by mark alone, so keepalived
/// clears the real and sorry servers' ports (NAT keeps them); the checkers
/// keep the ports as written.
fn fwmark_service(
    cx: &mut Ctx,
    s: &Stmt,
    b: &Body,
    fw: u32,
    (lb_algo, lb_kind): (Scheduler, LbKind),
    kept: Vec<(RealServer, u16)>,
    sorry: Option<SorryServer>,
) -> FwmarkService {
    let source = cx.source(s);
    let real_servers = kept
        .into_iter()
        .map(|(mut rs, w)| {
            if lb_kind != LbKind::Nat {
                rs.port = 0;
            }
            pin_check_ports(cx, &source, &mut rs, w);
            rs
        })
        .collect();
    let sorry_server = sorry.map(|mut ss| {
        if ss.lb_kind != LbKind::Nat {
            ss.port = 0;
        }
        ss
    });
    FwmarkService {
        fwmark: fw,
        protocol: b.protocol,
        lb_algo,
        lb_kind,
        delay_loop: b.delay_loop,
        persistence_timeout: b.persistence,
        real_servers,
        sorry_server,
        group: None,
        line: s.line,
        source,
    }
}

fn by_group(
    cx: &mut Ctx,
    s: &Stmt,
    mut b: Body,
    name: &str,
    groups: &[VsGroup],
    out: &mut Services,
) -> Result<(), ConfigError> {
    let what = format!("group {name}");
    let Some(g) = groups.iter().find(|g| g.name == name) else {
        // ipwrapper.c link_vsg_to_vs: logged, not a configuration error.
        cx.warn(
            s,
            format!("Virtual server group {name} specified but not configured - ignoring virtual server"),
        );
        return Ok(());
    };
    if b.real_servers.is_empty() {
        cx.config_error(
            s,
            format!("Virtual server {what} has no real servers - ignoring"),
        );
        return Ok(());
    }
    let has_addr = g
        .entries
        .iter()
        .any(|e| matches!(e, GroupEntry::Range { .. }));
    let has_fw = g.entries.iter().any(|e| matches!(e, GroupEntry::Fwmark(_)));
    if b.ha_suspend && has_fw {
        cx.config_error(
            s,
            format!(
                "Virtual server {what}: cannot use ha_suspend with fwmarks - clearing ha_suspend"
            ),
        );
    }
    let mut protocol = b.protocol;
    if has_addr && protocol.is_none() && !b.sctp {
        cx.config_error(
            s,
            format!("Virtual server {what}: no protocol set - defaulting to UDP"),
        );
        protocol = Some(L4Proto::Udp);
    }
    let mut persistence = b.persistence;
    if persistence.is_none()
        && g.entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Range { port: 0, .. }))
    {
        cx.config_error(
            s,
            format!(
                "Virtual server {what}: zero port only valid for persistent services - setting"
            ),
        );
        persistence = Some(DEFAULT_PERSISTENCE);
    }
    if (protocol.is_some() || b.sctp) && !has_addr && has_fw {
        cx.config_error(
            s,
            format!("Warning: Virtual server {what}: protocol specified for fwmark - protocol will be ignored"),
        );
    }
    let lb_algo = lb_algo_or_default(cx, s, &b, &what);
    let (lb_kind, kept) = resolve_kind(cx, s, &mut b, &what)?;
    let sorry = sorry_base(cx, &b, lb_kind, None);
    let source = cx.source(s);
    // Port checks without corrections (check_data.c: for groups only reported).
    if has_fw {
        report_fwmark_ports(cx, &source, &what, lb_kind, &kept, "port will be ignored");
    }
    for e in &g.entries {
        if let GroupEntry::Range { port, first, .. } = e {
            for (rs, _) in kept
                .iter()
                .filter(|(r, _)| lb_kind != LbKind::Nat && r.port != 0 && r.port != *port)
            {
                cx.config_errors.push(format!(
                    "{source}:{}: virtual server {what}:[{first} {port}] and real server {} {} ports don't match",
                    rs.line, rs.addr, rs.port
                ));
            }
        }
    }
    for e in &g.entries {
        match *e {
            GroupEntry::Range {
                first,
                last,
                port,
                line,
            } => {
                if b.sctp {
                    continue;
                }
                let (lo, hi) = (ip_to_u128(first), ip_to_u128(last));
                if hi - lo >= MAX_RANGE {
                    cx.unmodelled.push(Unmodelled {
                        source: source.clone(),
                        line,
                        keyword: "virtual_server_group".into(),
                        what: format!(
                            "group {name}: only the first {MAX_RANGE} addresses of {first}-{last} are modelled"
                        ),
                    });
                }
                let hi = hi.min(lo + MAX_RANGE - 1);
                for n in lo..=hi {
                    let addr = u128_to_ip(n, first.is_ipv4());
                    // DR/TUN: the member's port reaches the real server; NAT:
                    // the real server's port, none = the member's.
                    let member_port = |p: u16| {
                        if lb_kind == LbKind::Nat && p != 0 {
                            p
                        } else {
                            port
                        }
                    };
                    let real_servers = kept
                        .iter()
                        .map(|(rs, w)| {
                            let mut rs = rs.clone();
                            rs.port = member_port(rs.port);
                            pin_check_ports(cx, &source, &mut rs, *w);
                            rs
                        })
                        .collect();
                    let sorry = sorry.clone().map(|mut ss| {
                        ss.port = if ss.lb_kind == LbKind::Nat && ss.port != 0 {
                            ss.port
                        } else {
                            port
                        };
                        ss
                    });
                    out.servers.push(VirtualServer {
                        addr,
                        port,
                        protocol: protocol.unwrap_or(L4Proto::Udp),
                        lb_algo,
                        lb_kind,
                        delay_loop: b.delay_loop,
                        persistence_timeout: persistence,
                        real_servers,
                        sorry_server: sorry,
                        group: Some(name.to_string()),
                        line: s.line,
                        source: source.clone(),
                    });
                }
            }
            GroupEntry::Fwmark(fw) => {
                let kind = (lb_algo, lb_kind);
                out.fwmarks.push(FwmarkService {
                    persistence_timeout: persistence,
                    group: Some(name.to_string()),
                    ..fwmark_service(cx, s, &b, fw, kind, kept.clone(), sorry.clone())
                });
            }
        }
    }
    Ok(())
}

/// Virtual servers (outside groups) written twice: configuration errors.
pub(super) fn report_duplicates(cx: &mut Ctx, services: &Services) {
    let mut seen = HashSet::new();
    for v in services.servers.iter().filter(|v| v.group.is_none()) {
        if !seen.insert((v.addr, v.port, v.protocol)) {
            cx.config_errors.push(format!(
                "{}:{}: virtual server {} {} defined twice",
                v.source, v.line, v.addr, v.port
            ));
        }
    }
}
