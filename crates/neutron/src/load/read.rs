//! Field readers shared by the API / `show` objects and the CLI list rows: each
//! takes the object's JSON map and the key(s) to try, and names the file, the
//! object and the field when a value is malformed.

use std::net::IpAddr;

use ipnet::IpNet;
use packet::MacAddr;
use serde_json::{Map, Value};

use super::LoadError;

/// Which object a field belongs to, for error messages.
pub(crate) struct Ctx<'a> {
    pub source: &'a str,
    pub object: String,
}

impl Ctx<'_> {
    pub fn err(&self, field: &str, message: impl Into<String>) -> LoadError {
        LoadError::Field {
            source_name: self.source.to_string(),
            object: self.object.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The first of `keys` present with a non-null value.
pub(crate) fn first<'m>(
    obj: &'m Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'m Value)> {
    keys.iter().find_map(|k| match obj.get(*k) {
        None | Some(Value::Null) => None,
        Some(v) => Some((*k, v)),
    })
}

/// Whether one of `keys` is present with a non-null value.
pub(crate) fn has(obj: &Map<String, Value>, keys: &[&'static str]) -> bool {
    first(obj, keys).is_some()
}

pub(crate) fn string(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<String, LoadError> {
    match first(obj, keys) {
        None => Ok(String::new()),
        Some((_, Value::String(s))) => Ok(s.clone()),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a string", short(other)))),
    }
}

/// A string that is absent, null, empty or the text "None" reads as `None`.
pub(crate) fn opt_string(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<Option<String>, LoadError> {
    let s = string(cx, obj, keys)?;
    Ok(if s.is_empty() || s == "None" {
        None
    } else {
        Some(s)
    })
}

pub(crate) fn required_id(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<String, LoadError> {
    let id = string(cx, obj, &[key])?;
    if id.is_empty() {
        return Err(cx.err(key, "missing or empty"));
    }
    Ok(id)
}

pub(crate) fn boolean(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
    default: bool,
) -> Result<bool, LoadError> {
    match first(obj, keys) {
        None => Ok(default),
        Some((_, Value::Bool(b))) => Ok(*b),
        Some((k, Value::String(s))) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(cx.err(k, format!("\"{s}\" is not a boolean"))),
        },
        Some((k, other)) => Err(cx.err(k, format!("{} is not a boolean", short(other)))),
    }
}

pub(crate) fn integer(
    cx: &Ctx,
    obj: &Map<String, Value>,
    key: &'static str,
    max: u64,
) -> Result<Option<u64>, LoadError> {
    let n = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if s.is_empty() || s == "None" => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => return Err(cx.err(key, format!("{} is not a number", short(other)))),
    };
    match n {
        Some(n) if n <= max => Ok(Some(n)),
        _ => Err(cx.err(
            key,
            format!("{} is not an integer from 0 to {max}", short(&obj[key])),
        )),
    }
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

pub(crate) fn parse_ip(cx: &Ctx, field: &str, text: &str) -> Result<IpAddr, LoadError> {
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| cx.err(field, format!("\"{text}\" is not an IP address")))
}

/// A CIDR or bare address (bare becomes /32 or /128); host bits are kept.
pub(crate) fn parse_net(cx: &Ctx, field: &str, text: &str) -> Result<IpNet, LoadError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(cx.err(field, format!("\"{text}\" is not an IP address or CIDR")))
}

/// Checks `aa:bb:cc:dd:ee:ff` (also `-` separated); returns it lowercased with colons.
pub(crate) fn parse_mac(cx: &Ctx, field: &str, text: &str) -> Result<String, LoadError> {
    MacAddr::parse_strict(text.trim())
        .map(|m| m.to_string())
        .ok_or_else(|| cx.err(field, format!("\"{text}\" is not a MAC address")))
}

/// A list of dicts: a JSON list, or the CLI's `format_list_of_dicts` text.
pub(crate) fn dict_list(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<Vec<Map<String, Value>>, LoadError> {
    match first(obj, keys) {
        None => Ok(Vec::new()),
        Some((k, Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::Object(m) => Ok(m.clone()),
                Value::String(s) => {
                    let mut v = parse_cli_dicts(s).map_err(|e| cx.err(&format!("{k}[{i}]"), e))?;
                    match (v.len(), v.pop()) {
                        (1, Some(m)) => Ok(m),
                        _ => Err(cx.err(
                            &format!("{k}[{i}]"),
                            format!("{} is not one key='value' dict", short(it)),
                        )),
                    }
                }
                other => Err(cx.err(
                    &format!("{k}[{i}]"),
                    format!("{} is not an object", short(other)),
                )),
            })
            .collect(),
        Some((k, Value::String(s))) => parse_cli_dicts(s).map_err(|e| cx.err(k, e)),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a list", short(other)))),
    }
}

/// Parses osc-lib's `format_list_of_dicts` text: `a='1', b='2'` per dict (keys
/// sorted), dicts on separate lines. A value osc-lib printed for None (`key=`
/// without quotes, or `'None'` from older versions) becomes JSON null.
pub(crate) fn parse_cli_dicts(text: &str) -> Result<Vec<Map<String, Value>>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_cli_dict(line)?);
    }
    Ok(out)
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
}

fn parse_cli_dict(line: &str) -> Result<Map<String, Value>, String> {
    let bad = || format!("\"{line}\" is not key='value' text");
    let mut map = Map::new();
    let mut rest = line;
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(bad)?;
        let key = rest[..eq].trim();
        if !is_key(key) {
            return Err(bad());
        }
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(quoted) = after.strip_prefix('\'') {
            // The value ends at the quote that is followed by `, key=` or the line end.
            let end = quoted
                .match_indices('\'')
                .map(|(i, _)| i)
                .find(|&i| {
                    let tail = &quoted[i + 1..];
                    tail.trim().is_empty() || next_is_key(tail)
                })
                .ok_or_else(|| format!("unterminated quote in \"{line}\""))?;
            let raw = &quoted[..end];
            let v = if raw == "None" {
                Value::Null
            } else {
                Value::String(raw.to_string())
            };
            (v, &quoted[end + 1..])
        } else if after.trim().is_empty() || next_is_key(after) {
            // osc-lib's format_dict prints a None value as `key=`.
            (Value::Null, after)
        } else {
            return Err(bad());
        };
        map.insert(key.to_string(), value);
        let tail = tail.trim_start();
        rest = tail.strip_prefix(',').unwrap_or(tail).trim_start();
    }
    Ok(map)
}

/// Whether `tail` starts with `, key=`.
fn next_is_key(tail: &str) -> bool {
    let Some(t) = tail.strip_prefix(", ") else {
        return false;
    };
    match t.find('=') {
        Some(eq) => is_key(&t[..eq]),
        None => false,
    }
}

/// A list of strings: a JSON list, or the CLI's `format_list` text (`a, b`,
/// which osc-lib sorts). The flag is true for the text form: the order is lost.
pub(crate) fn string_list(
    cx: &Ctx,
    obj: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<(Vec<String>, bool), LoadError> {
    match first(obj, keys) {
        None => Ok((Vec::new(), false)),
        Some((k, Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::String(s) => Ok(s.clone()),
                Value::Object(m) => match m.get("id").or_else(|| m.get("name")) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(cx.err(&format!("{k}[{i}]"), "object without an id")),
                },
                other => Err(cx.err(
                    &format!("{k}[{i}]"),
                    format!("{} is not a string", short(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| (v, false)),
        Some((_, Value::String(s))) => Ok((
            s.split([',', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect(),
            true,
        )),
        Some((k, other)) => Err(cx.err(k, format!("{} is not a list", short(other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_dict_text_parses() {
        let v = parse_cli_dicts("ip_address='203.0.113.241', mac_address='fa:16:3e:00:00:01'\nip_address='192.0.2.1', mac_address='None'")
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["ip_address"], "203.0.113.241");
        assert_eq!(v[0]["mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(v[1]["mac_address"], Value::Null);
    }

    #[test]
    fn cli_dict_none_without_quotes() {
        // osc-lib format_dict: `key=` for None, also between other keys.
        let v = parse_cli_dicts("ip_address='192.0.2.9', mac_address=").unwrap();
        assert_eq!(v[0]["mac_address"], Value::Null);
        let v = parse_cli_dicts("a=, b='x'").unwrap();
        assert_eq!(v[0]["a"], Value::Null);
        assert_eq!(v[0]["b"], "x");
    }

    #[test]
    fn cli_dict_value_with_comma() {
        let v = parse_cli_dicts("description='a, b', id='x'").unwrap();
        assert_eq!(v[0]["description"], "a, b");
        assert_eq!(v[0]["id"], "x");
    }

    #[test]
    fn bad_cli_text_is_error() {
        assert!(parse_cli_dicts("ip_address='1.2.3.4").is_err());
        assert!(parse_cli_dicts("nonsense").is_err());
        assert!(parse_cli_dicts("a=b").is_err());
    }

    #[test]
    fn mac_forms_normalise_and_bad_ones_are_named() {
        let cx = Ctx {
            source: "t.json",
            object: "port p".into(),
        };
        assert_eq!(
            parse_mac(&cx, "mac_address", " FA-16-3E-0a-00-05 ").unwrap(),
            "fa:16:3e:0a:00:05"
        );
        for bad in [
            "fa:16:3e:0a:00",
            "fa:16:3e:0a:00:5",
            "fa:16:3e:0a:00:+5",
            "fa:16:3e:0a:00:05:06",
        ] {
            let e = parse_mac(&cx, "mac_address", bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a MAC address") && e.contains("mac_address"),
                "{e}"
            );
        }
    }
}
