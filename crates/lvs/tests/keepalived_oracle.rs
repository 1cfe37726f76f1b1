//! `keepalived -t -f FILE` as an oracle for the parser's accept/reject.
//!
//! Fixtures in tests/fixtures: `good_*` both accept; `bad_*` both reject (we
//! reject when parsing fails or keepalived would report a config error);
//! `unsupported_*` keepalived accepts, vipwire refuses with an "unsupported"
//! error that names the keyword. keepalived checks that the interface exists,
//! so it runs in a throw-away network namespace that has an `eth0`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lvs::keepalived::{parse_file, ConfigError};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

/// A network namespace with a veth called eth0; removed on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!("vwlvs-oracle-{}", std::process::id());
        let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
        if !ok(Command::new("ip").args(["netns", "add", &name])) {
            return None;
        }
        let ns = Netns(name);
        let link = [
            "-n", &ns.0, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ];
        if !ok(Command::new("ip").args(link)) {
            return None;
        }
        Some(ns)
    }

    /// Exit code of `keepalived -t -f file` inside the namespace.
    fn keepalived_check(&self, file: &Path) -> i32 {
        let dir = std::env::temp_dir().join(&self.0);
        let _ = std::fs::create_dir_all(&dir);
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "keepalived", "-t", "-f"])
            .arg(file)
            .arg("-p")
            .arg(dir.join("k.pid"))
            .arg("-r")
            .arg(dir.join("v.pid"))
            .arg("-c")
            .arg(dir.join("c.pid"))
            .output()
            .expect("run keepalived");
        out.status.code().unwrap_or(-1)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.0));
    }
}

fn keepalived_available() -> bool {
    Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn fixtures_match_expectations_and_keepalived() {
    let oracle = if !keepalived_available() {
        eprintln!("SKIPPED keepalived oracle: keepalived not installed (checking our side only)");
        None
    } else if !is_root() {
        eprintln!(
            "SKIPPED keepalived oracle: not root, cannot make a namespace (checking our side only)"
        );
        None
    } else {
        Netns::new()
    };
    let mut failures = Vec::new();
    let (mut agree, mut total) = (0, 0);
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let kind = name.split('_').next().unwrap_or("").to_string();
        let ours = parse_file(&f);
        let ours_accepts = matches!(&ours, Ok(c) if c.passes_keepalived_check());
        let ours_desc = match &ours {
            Ok(c) if c.passes_keepalived_check() => "accept".to_string(),
            Ok(c) => format!("config error: {}", c.config_errors.join("; ")),
            Err(e) => format!("error: {e}"),
        };
        match kind.as_str() {
            "good" if !ours_accepts => {
                failures.push(format!("{name}: expected accept, got {ours_desc}"))
            }
            "bad" if ours_accepts => failures.push(format!("{name}: expected reject, we accept")),
            "unsupported" => match &ours {
                Err(e @ ConfigError::Unsupported { .. }) if e.keyword().is_some() => {}
                _ => failures.push(format!(
                    "{name}: expected an unsupported-keyword error, got {ours_desc}"
                )),
            },
            "good" | "bad" => {}
            _ => failures.push(format!(
                "{name}: fixture name must start good_, bad_ or unsupported_"
            )),
        }
        let Some(ns) = &oracle else {
            eprintln!("{name:40} ours: {ours_desc}");
            continue;
        };
        total += 1;
        let rc = ns.keepalived_check(&f);
        let ka_accepts = rc == 0;
        let want_ka = kind != "bad";
        eprintln!("{name:40} keepalived -t rc={rc}  ours: {ours_desc}");
        if ka_accepts != want_ka {
            failures.push(format!(
                "{name}: keepalived -t rc={rc}, fixture says {kind}"
            ));
        }
        if kind == "unsupported" || ka_accepts == ours_accepts {
            agree += 1;
        }
    }
    if oracle.is_some() {
        eprintln!("keepalived oracle: {agree}/{total} fixtures agree (unsupported_* count as agreeing by design)");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
