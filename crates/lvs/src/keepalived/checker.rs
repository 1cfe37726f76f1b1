//! Health checkers inside `real_server { }`, with keepalived 2.2.7's defaults:
//! check/check_api.c (common keywords, queue_checker), check_tcp.c,
//! check_http.c (HTTP_GET and SSL_GET), check_smtp.c, check_dns.c, check_udp.c,
//! check_ping.c, check_misc.c, check_file.c; defaults applied in
//! check_data.c (validate_check_config).

use std::net::IpAddr;

use super::ctx::{parse_uint, Ctx};
use super::error::ConfigError;
use super::keywords::*;
use super::track_file::TrackFile;
use super::tree::Stmt;
use super::HealthCheck;

const DEFAULT_CONNECT_TIMEOUT: f64 = 5.0;

/// DNS_CHECK `type` values (check_dns.c, DNS_TYPE), default SOA.
const DNS_TYPES: &[&str] = &[
    "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY",
];

/// Timing settings a virtual or real server hands down to its checkers.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CheckDefaults {
    pub(super) connect_timeout: Option<f64>,
    pub(super) retry: Option<u32>,
    pub(super) delay_before_retry: Option<f64>,
}

pub(super) fn check_default(
    cx: &mut Ctx,
    k: &Stmt,
    ctx: &str,
    d: &mut CheckDefaults,
) -> Result<bool, ConfigError> {
    match k.keyword.as_str() {
        "connect_timeout" => d.connect_timeout = Some(cx.float(k, ctx, 0.000001, 4294.967295)?),
        "retry" => d.retry = Some(cx.uint(k, ctx, 1, u32::MAX as u64)? as u32),
        "nb_get_retry" => {
            // Removed in keepalived 2.x except in HTTP_GET/SSL_GET, where 2.2.7
            // reports it as deprecated; elsewhere it says "Unknown keyword".
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

/// Where a connecting checker goes: `connect_ip`, `connect_port`.
#[derive(Debug, Clone, Copy, Default)]
struct Conn {
    ip: Option<IpAddr>,
    port: Option<u16>,
    timeout: Option<f64>,
    /// Any connection keyword given (SMTP_CHECK with `host` blocks, check_smtp.c).
    set: bool,
}

/// A connection keyword of every checker but MISC_CHECK and FILE_CHECK
/// (check_api.c, install_checker_common_keywords). False if `k` is not one.
fn conn_keyword(cx: &mut Ctx, k: &Stmt, ctx: &str, c: &mut Conn) -> Result<bool, ConfigError> {
    match k.keyword.as_str() {
        "connect_port" => {
            cx.no_block(k, ctx)?;
            let v = cx.one(k, ctx)?;
            let p = parse_uint(v, 1, 65535).map_err(|m| cx.invalid(k, ctx, m))?;
            c.port = Some(p as u16);
        }
        "connect_ip" if !cx.check_mode() => {
            return Err(cx.unsupported(k, ctx, "checks against another address are not modelled"))
        }
        "connect_ip" => {
            cx.no_block(k, ctx)?;
            let v = cx.one(k, ctx)?;
            c.ip = Some(cx.ip(k, ctx, v)?);
        }
        "connect_timeout" => {
            c.timeout = Some(cx.float(k, ctx, 0.000001, 4294.967295)?);
        }
        "bindto" | "bind_if" if cx.check_mode() => {
            cx.note(
                k,
                &k.keyword,
                "a health check source address or interface other than the director's default is not modelled",
            );
        }
        kw if CHECKER_IGNORED.contains(&kw) => cx.ignored(k, ctx)?,
        _ => return Ok(false),
    }
    if [
        "connect_ip",
        "connect_port",
        "connect_timeout",
        "bindto",
        "bind_port",
        "bind_if",
        "fwmark",
    ]
    .contains(&k.keyword.as_str())
    {
        c.set = true;
    }
    Ok(true)
}

/// Read one checker block; SMTP_CHECK with `host` blocks gives several. Empty
/// when keepalived drops the checker (reported in `config_errors`).
pub(super) fn checker(
    cx: &mut Ctx,
    s: &Stmt,
    delay_loop: f64,
    rs: CheckDefaults,
    track_files: &[TrackFile],
) -> Result<Vec<HealthCheck>, ConfigError> {
    let kind = s.keyword.as_str();
    let ctx = kind;
    let misc = kind == "MISC_CHECK";
    if kind == "FILE_CHECK" {
        return file_check(cx, s, track_files);
    }
    let mut own = CheckDefaults::default();
    let mut conn = Conn::default();
    let mut hosts: Vec<Conn> = Vec::new();
    let mut urls = Vec::new();
    let mut misc_path = None;
    let mut misc_script: Option<usize> = None;
    let mut misc_user: Vec<String> = Vec::new();
    let mut misc_timeout = None;
    let mut dns_type = "SOA".to_string();
    let mut dns_name: Option<String> = None;
    let mut require_reply = false;
    let mut reply_len = (0u64, 255u64);
    for k in cx.block(s, ctx)? {
        // keepalived 2.2.7 gives MISC_CHECK no connection options.
        if !misc && conn_keyword(cx, k, ctx, &mut conn)? {
            continue;
        }
        if !(misc && k.keyword == "connect_timeout") && check_default(cx, k, ctx, &mut own)? {
            continue;
        }
        match (kind, k.keyword.as_str()) {
            ("HTTP_GET" | "SSL_GET", "url") => urls.extend(url(cx, k)?),
            ("HTTP_GET" | "SSL_GET", kw) if HTTP_IGNORED.contains(&kw) => cx.ignored(k, ctx)?,
            ("SMTP_CHECK", "helo_name") => cx.ignored(k, ctx)?,
            ("SMTP_CHECK", "host") => {
                // Deprecated in 2.x but read: each host is one more checker
                // (retry and delay_before_retry in it apply to the SMTP_CHECK).
                let mut h = Conn::default();
                for hk in cx.block(k, "host")? {
                    if conn_keyword(cx, hk, "host", &mut h)? {
                        continue;
                    }
                    if check_default(cx, hk, "host", &mut own)? {
                        continue;
                    }
                    return Err(cx.unknown(hk, "host"));
                }
                hosts.push(h);
            }
            ("DNS_CHECK", "type") => {
                cx.no_block(k, ctx)?;
                let v = cx.one(k, ctx)?;
                match DNS_TYPES.iter().find(|t| t.eq_ignore_ascii_case(v)) {
                    Some(t) => dns_type = t.to_string(),
                    None => cx.config_error(k, format!("Unknown DNS check type {v} - ignoring")),
                }
            }
            ("DNS_CHECK", "name") => {
                cx.no_block(k, ctx)?;
                let v = cx.one(k, ctx)?;
                let empty_label = (v.starts_with('.') && v != ".") || v.contains("..");
                if dns_name.is_some() {
                    cx.config_error(k, "DNS_CHECK name already specified - ignoring");
                } else if empty_label {
                    cx.config_error(
                        k,
                        format!("DNS_CHECK name '{v}' has empty label - ignoring"),
                    );
                } else {
                    dns_name = Some(v.to_string());
                }
            }
            ("UDP_CHECK", "payload") => {
                cx.no_block(k, ctx)?;
                if k.args.is_empty() {
                    cx.config_error(k, "UDP_CHECK payload requires a payload");
                } else if !is_hex(&k.args.join(" "), false) {
                    cx.config_error(k, "Invalid hex string for UDP_CHECK payload");
                }
            }
            ("UDP_CHECK", "require_reply") => {
                cx.no_block(k, ctx)?;
                require_reply = true;
                if !k.args.is_empty() && !is_hex(&k.args.join(" "), true) {
                    cx.config_error(k, "Invalid hex string for UDP_CHECK reply");
                }
            }
            ("UDP_CHECK", "min_reply_length" | "max_reply_length") => {
                cx.no_block(k, ctx)?;
                let v = cx.one(k, ctx)?;
                match parse_uint(v, 0, 65535) {
                    Ok(n) if k.keyword == "min_reply_length" => reply_len.0 = n,
                    Ok(n) => reply_len.1 = n,
                    Err(_) => cx.config_error(
                        k,
                        format!(
                            "UDP_CHECK {} {v} not valid - must be between 0 & 65535",
                            k.keyword
                        ),
                    ),
                }
            }
            ("MISC_CHECK", "misc_path") => {
                cx.no_block(k, ctx)?;
                if k.args.is_empty() {
                    return Err(cx.invalid(k, ctx, "no command given"));
                }
                misc_path = Some(k.args.join(" "));
                misc_script = Some(cx.scripts.len());
                cx.script(
                    k,
                    super::ScriptKind::Check,
                    super::ScriptScope::Checker,
                    k.args.join(" "),
                    &misc_user,
                );
            }
            ("MISC_CHECK", "misc_timeout") => misc_timeout = Some(cx.uint(k, ctx, 0, 4294)? as f64),
            ("MISC_CHECK", "misc_dynamic") => cx.refuse(
                k,
                ctx,
                "weights set by the check script are not modelled",
                Note::Unmodelled,
            )?,
            ("MISC_CHECK", "user") => {
                misc_user = k.args.clone();
                if let Some(i) = misc_script {
                    cx.scripts[i].user = misc_user
                        .first()
                        .map(|u| (u.clone(), misc_user.get(1).cloned()));
                }
                cx.ignored(k, ctx)?
            }
            ("MISC_CHECK", kw) if MISC_IGNORED.contains(&kw) => cx.ignored(k, ctx)?,
            _ => return Err(cx.unknown(k, ctx)),
        }
    }
    if kind == "UDP_CHECK" && reply_len.0 > reply_len.1 {
        cx.config_error(
            s,
            format!(
                "UDP_CHECK min_reply length {} > max_reply_length {} - will always fail",
                reply_len.0, reply_len.1
            ),
        );
    }
    // Precedence (check_data.c): checker, then real/virtual server, then the
    // checker type's default; delay_before_retry falls back to delay_loop.
    let (default_retry, default_dbr) = match kind {
        "HTTP_GET" | "SSL_GET" => (1, Some(3.0)),
        "MISC_CHECK" => (0, Some(1.0)),
        // check_dns.c: retry 3, delay_before_retry 0 = delay_loop.
        "DNS_CHECK" => (3, None),
        _ => (1, Some(1.0)),
    };
    let retry = own.retry.or(rs.retry).unwrap_or(default_retry);
    let delay_before_retry = own
        .delay_before_retry
        .or(rs.delay_before_retry)
        .or(default_dbr)
        .unwrap_or(delay_loop);
    let timeout = |c: &Conn| {
        c.timeout
            .or(own.connect_timeout)
            .or(rs.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    };
    let connect_timeout = timeout(&conn);
    Ok(vec![match kind {
        "TCP_CHECK" => HealthCheck::Tcp {
            connect_ip: conn.ip,
            connect_port: conn.port,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "HTTP_GET" | "SSL_GET" if urls.is_empty() => {
            // keepalived 2.2.7 reports this (and then crashes in `-t`).
            cx.config_error(s, "HTTP/SSL_GET checker has no urls specified - ignoring");
            return Ok(Vec::new());
        }
        "HTTP_GET" => HealthCheck::HttpGet {
            urls,
            connect_ip: conn.ip,
            connect_port: conn.port,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "SSL_GET" => HealthCheck::SslGet {
            urls,
            connect_ip: conn.ip,
            connect_port: conn.port,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "SMTP_CHECK" => {
            // check_smtp.c, smtp_check_end_handler: with host blocks and no
            // connection keyword of its own, the checker is the first host.
            let mut conns = Vec::new();
            if conn.set || hosts.is_empty() {
                conns.push(conn);
            }
            conns.extend(hosts);
            return Ok(conns
                .iter()
                .map(|c| HealthCheck::Smtp {
                    connect_ip: c.ip,
                    connect_port: c.port,
                    connect_timeout: timeout(c),
                    retry,
                    delay_before_retry,
                })
                .collect());
        }
        "DNS_CHECK" => HealthCheck::Dns {
            connect_ip: conn.ip,
            connect_port: conn.port,
            query_type: dns_type,
            name: dns_name.unwrap_or_default(),
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "UDP_CHECK" => HealthCheck::Udp {
            connect_ip: conn.ip,
            connect_port: conn.port,
            require_reply,
            connect_timeout,
            retry,
            delay_before_retry,
        },
        "PING_CHECK" => HealthCheck::Ping {
            connect_ip: conn.ip,
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
                return Ok(Vec::new());
            }
        },
    }])
}

/// `FILE_CHECK { track_file NAME; weight N [reverse] }` (check_file.c): the
/// track file must be defined before (it is looked up when read).
fn file_check(
    cx: &mut Ctx,
    s: &Stmt,
    track_files: &[TrackFile],
) -> Result<Vec<HealthCheck>, ConfigError> {
    const C: &str = "FILE_CHECK";
    let mut path = None;
    for k in cx.block(s, C)? {
        cx.no_block(k, C)?;
        match k.keyword.as_str() {
            "track_file" => {
                let name = cx.one(k, C)?;
                match track_files.iter().rev().find(|t| t.name == name) {
                    Some(t) => path = Some(t.path.clone()),
                    None => cx.config_error(k, format!("track_file {name} not found")),
                }
            }
            "weight" => match k.args.as_slice() {
                [w] | [w, _] => {
                    cx.int(k, C, w, -254, 254)?;
                    if let [_, r] = k.args.as_slice() {
                        if r != "reverse" && r != "noreverse" {
                            cx.config_error(
                                k,
                                format!("unknown track file weight option {r} - ignoring"),
                            );
                        }
                    }
                }
                _ => cx.config_error(k, "track file weight missing"),
            },
            _ => return Err(cx.unknown(k, C)),
        }
    }
    match path {
        Some(path) => Ok(vec![HealthCheck::File { path }]),
        None => {
            cx.config_error(s, "FILE_CHECK has no track_file specified - ignoring");
            Ok(Vec::new())
        }
    }
}

/// Whether keepalived's read_hex_str (lib/parser.c) accepts `s`: octets of one
/// or two hex digits separated by blanks, `x` nibbles as wildcards in a reply.
/// It marks errors with an octet value 0xff, so a string whose last octet is
/// ff is refused too (keepalived 2.2.7 behaviour).
fn is_hex(s: &str, wildcard: bool) -> bool {
    let nibble = |c: u8| match c {
        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => Some(c),
        b'x' | b'X' if wildcard => Some(b'0'),
        _ => None,
    };
    let b = s.as_bytes();
    let (mut i, mut last) = (0, None);
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let Some(hi) = nibble(b[i]) else {
            return false;
        };
        i += 1;
        let mut digits = vec![hi];
        if i < b.len() && b[i] != b' ' {
            let Some(lo) = nibble(b[i]) else {
                return false;
            };
            digits.push(lo);
            i += 1;
        }
        last = u8::from_str_radix(std::str::from_utf8(&digits).unwrap_or("0"), 16).ok();
    }
    last.is_some_and(|v| v != 0xff)
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
                if k.args.is_empty() {
                    return Err(cx.invalid(k, C, "no status code given"));
                }
                // check_http.c status_code_handler: codes and ranges, each in
                // 100..=599; invalid ones are reported and skipped.
                let mut codes: Vec<(u64, u64)> = Vec::new();
                for v in &k.args {
                    let (lo, hi) = v.split_once('-').unwrap_or((v, v));
                    match (parse_uint(lo, 100, 599), parse_uint(hi, 100, 599)) {
                        (Ok(a), Ok(b)) if a <= b => codes.push((a, b)),
                        _ => cx.config_error(k, format!("Invalid HTTP_GET status code '{v}'")),
                    }
                }
                status = match codes.as_slice() {
                    [] => None,
                    [(200, 299)] => None,
                    [(a, b)] if a == b => Some(*a as u16),
                    _ => {
                        cx.refuse(
                            k,
                            C,
                            "status code ranges and lists are not modelled (the url keeps the default 200-299)",
                            Note::Unmodelled,
                        )?;
                        None
                    }
                };
            }
            kw if URL_IGNORED.contains(&kw) => cx.ignored(k, C)?,
            kw if URL_UNSUPPORTED.contains(&kw) => cx.refuse(
                k,
                C,
                "matching the response body is not modelled",
                Note::Unmodelled,
            )?,
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
