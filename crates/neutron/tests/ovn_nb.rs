//! vipwire's Northbound rows against the real ones: for every case under
//! `conformance/ovn/expected/`, the document `northbound_json` builds from
//! the case's `neutron.json` must equal its `nb.json` (the real NB of the
//! same cloud built by neutron-server 29.0.0 with ML2/OVN, normalised by
//! `conformance/ovn/normalise_nb.py`) byte for byte: pretty JSON with sorted
//! keys, 2-space indent, ASCII escapes and a trailing newline, as Python's
//! `json.dumps(doc, indent=2, sort_keys=True) + "\n"` writes it.
//!
//! On a difference the test names the case and the first differing path.
//! Set `OVN_NB_DUMP=<dir>` to also write each built document to
//! `<dir>/<case>.json`, `OVN_NB_EXPECTED=<dir>` to read the cases elsewhere.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use neutron::firewall::ovn::{northbound_json, Northbound};
use serde_json::Value;

/// `conformance/ovn/expected`, or the directory `OVN_NB_EXPECTED` names.
fn expected_dir() -> PathBuf {
    match std::env::var_os("OVN_NB_EXPECTED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/ovn/expected"),
    }
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
fn py_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `json.dumps(v, indent=2, sort_keys=True)`.
fn py_dumps(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize| " ".repeat(n);
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => py_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent + 2));
                py_dumps(item, indent + 2, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent + 2));
                py_string(k, out);
                out.push_str(": ");
                py_dumps(&m[k.as_str()], indent + 2, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

fn normalised_text(doc: &Value) -> String {
    let mut out = String::new();
    py_dumps(doc, 0, &mut out);
    out.push('\n');
    out
}

/// How a list element is named in a path: its `key` (ACLs) or `name`.
fn label(v: &Value, i: usize) -> String {
    v.get("key")
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
        .map_or_else(|| i.to_string(), |s| format!("{s:?}"))
}

/// The first path where `want` and `got` differ, with both values there.
fn first_difference(want: &Value, got: &Value, path: &str) -> Option<String> {
    let show = |v: Option<&Value>| v.map_or_else(|| "(absent)".to_string(), |v| v.to_string());
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k.as_str()), b.get(k.as_str())) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = first_difference(x, y, &p) {
                            return Some(d);
                        }
                    }
                    (x, y) => return Some(format!("{p}: want {}, got {}", show(x), show(y))),
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => {
                        let p = format!("{path}[{}]", label(x, i));
                        if label(x, i) != label(y, i) {
                            return Some(format!(
                                "{p}: want element {}, got element {}",
                                label(x, i),
                                label(y, i)
                            ));
                        }
                        if let Some(d) = first_difference(x, y, &p) {
                            return Some(d);
                        }
                    }
                    (x, y) => {
                        return Some(format!("{path}[{i}]: want {}, got {}", show(x), show(y)))
                    }
                }
            }
            None
        }
        _ if want == got => None,
        _ => Some(format!("{path}: want {want}, got {got}")),
    }
}

#[test]
fn northbound_rows_equal_the_real_nb() {
    let dir = expected_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("neutron.json").is_file() && p.join("nb.json").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", dir.display());
    let dump = std::env::var_os("OVN_NB_DUMP").map(PathBuf::from);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let cloud = neutron::load_file(&case.join("neutron.json"))
            .unwrap_or_else(|e| panic!("{name}: neutron.json: {e}"));
        let doc = northbound_json(&Northbound::of(&cloud));
        let got = normalised_text(&doc);
        if let Some(d) = &dump {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join(format!("{name}.json")), &got).unwrap();
        }
        let want = std::fs::read_to_string(case.join("nb.json")).unwrap();
        if got == want {
            continue;
        }
        let want_doc: Value = serde_json::from_str(&want).unwrap();
        let why = first_difference(&want_doc, &doc, "")
            .unwrap_or_else(|| "same JSON, different text (formatting)".to_string());
        failures.push(format!("{name}: {why}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the real NB:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn python_style_dump() {
    let v: Value =
        serde_json::from_str(r#"{"b": [1, {"z": "é\u007f"}], "a": {}, "c": []}"#).unwrap();
    assert_eq!(
        normalised_text(&v),
        "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"z\": \"\\u00e9\\u007f\"\n    }\n  ],\n  \"c\": []\n}\n"
    );
}

/// The fields the NB rows are built from survive `Cloud::to_json` and back.
#[test]
fn cases_round_trip_through_to_json() {
    let dir = expected_dir();
    for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
        let path = entry.path().join("neutron.json");
        if !path.is_file() {
            continue;
        }
        let cloud = neutron::load_file(&path).unwrap();
        let text = serde_json::to_string(&cloud.to_json()).unwrap();
        let back = neutron::load_json(&text, "again.json").unwrap();
        assert_eq!(cloud, back, "{}", path.display());
        assert!(cloud.ports.iter().all(|p| p.revision_number.is_some()));
        assert!(cloud.networks.iter().all(|n| n.mtu.is_some()));
    }
}
