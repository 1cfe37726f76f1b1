//! Shared token and value handling (tokenizer, quoting, protocol, address,
//! port, mark and flag parsers); iptables' `libxtables`.

use super::*;

// ---------------------------------------------------------------- tokenizer

/// A token: its unquoted value and its text as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tok {
    pub(super) value: String,
    pub(super) text: String,
}

impl Tok {
    /// `value` parsed from this token, keeping the token's text for printing.
    pub(super) fn val<T>(&self, value: T) -> Val<T> {
        Val {
            value,
            text: self.text.clone(),
        }
    }
}

pub(super) fn tokenize(line: &str, ln: usize) -> Result<Vec<Tok>, ParseError> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut value = String::new();
        let mut end = start;
        let mut in_quote = false;
        while let Some(&(i, c)) = chars.peek() {
            if !in_quote && c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            match c {
                '"' => in_quote = !in_quote,
                '\\' if in_quote => {
                    if let Some((j, n)) = chars.next() {
                        end = j + n.len_utf8();
                        value.push(n);
                    } else {
                        return perr(ln, "backslash at end of line");
                    }
                }
                _ => value.push(c),
            }
        }
        if in_quote {
            return perr(ln, "unterminated quoted string");
        }
        out.push(Tok {
            value,
            text: line[start..end].to_string(),
        });
    }
    Ok(out)
}

/// Quote a string the way iptables-save does (always quoted, `"` and `\` escaped).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A name as one token: quoted only if it would not survive tokenizing bare.
pub fn word(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        std::borrow::Cow::Owned(quote(s))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

// ---------------------------------------------------------------- value parsers

/// Protocol number of a name (or a decimal number); `all` is None.
pub fn proto_number(s: &str) -> Option<Option<u8>> {
    if s.eq_ignore_ascii_case("all") {
        return Some(None);
    }
    match packet::protocols::number(s)? {
        0 => Some(None),
        n => Some(Some(n)),
    }
}

pub(super) fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    // Dotted netmask form: 10.0.0.0/255.255.255.0.
    let (a, m) = s.split_once('/')?;
    let ip: IpAddr = a.parse().ok()?;
    let mask: IpAddr = m.parse().ok()?;
    IpNet::with_netmask(ip, mask).ok()
}

pub(super) fn parse_port(s: &str) -> Option<u16> {
    s.parse().ok().or(match s {
        "ssh" => Some(22),
        "http" => Some(80),
        "https" => Some(443),
        "domain" => Some(53),
        "bootps" => Some(67),
        "bootpc" => Some(68),
        _ => None,
    })
}

/// `N`, `a:b`, `a:` or `:b`.
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        None => parse_port(s).map(|p| (p, p)),
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { parse_port(a)? };
            let hi = if b.is_empty() { 65535 } else { parse_port(b)? };
            Some((lo, hi))
        }
    }
}

pub(super) fn parse_tcp_flag_list(s: &str) -> Option<u8> {
    use packet::tcp_flags as f;
    let mut bits = 0u8;
    for name in s.split(',') {
        bits |= match name.to_ascii_uppercase().as_str() {
            "FIN" => f::FIN,
            "SYN" => f::SYN,
            "RST" => f::RST,
            "PSH" => f::PSH,
            "ACK" => f::ACK,
            "URG" => f::URG,
            "ECE" => f::ECE,
            "CWR" => f::CWR,
            "ALL" => 0xff,
            "NONE" => 0,
            _ => return None,
        };
    }
    Some(bits)
}

pub(super) fn parse_u32(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

pub(super) fn parse_mark(s: &str, default_mask: u32) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse_u32(v)?, parse_u32(m)?)),
        None => Some((parse_u32(s)?, default_mask)),
    }
}

pub(super) fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    let (a, b) = s.split_once('-')?;
    let a: IpAddr = a.parse().ok()?;
    let b: IpAddr = b.parse().ok()?;
    (a.is_ipv4() == b.is_ipv4()).then_some((a, b))
}

pub(super) fn parse_addrtypes(s: &str) -> Option<Vec<AddrType>> {
    s.split(',')
        .map(|t| match t {
            "LOCAL" => Some(AddrType::Local),
            "UNICAST" => Some(AddrType::Unicast),
            "BROADCAST" => Some(AddrType::Broadcast),
            "MULTICAST" => Some(AddrType::Multicast),
            _ => None,
        })
        .collect()
}
