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

mod common;
use common::{sample_files, SAMPLES};

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
        // Tests run in parallel in one process: number the namespaces.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("vwlvs-oracle-{}-{n}", std::process::id());
        let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
        if !ok(Command::new("ip").args(["netns", "add", &name])) {
            return None;
        }
        let ns = Netns(name);
        // eth0..eth3: the interfaces the fixtures and Debian samples name.
        for (a, b) in [("eth0", "eth1"), ("eth2", "eth3")] {
            let link = [
                "-n", &ns.0, "link", "add", a, "type", "veth", "peer", "name", b,
            ];
            if !ok(Command::new("ip").args(link)) {
                return None;
            }
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

impl Netns {
    /// keepalived's messages for `-t` on `file`.
    fn keepalived_log(&self, file: &Path) -> String {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                "keepalived",
                "-t",
                "-l",
                "-D",
                "-f",
            ])
            .arg(file)
            .output()
            .expect("run keepalived");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
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
        let ns = Netns::new();
        if ns.is_none() {
            eprintln!("SKIPPED keepalived oracle: cannot create a network namespace");
        }
        ns
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

/// Small deterministic PRNG (splitmix64) for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NUMBERS: &[&str] = &[
    "0", "1", "2", "3", "255", "256", "-1", "1.5", "0.5", "65536", "abc", "100", "7", "40.96",
];
const SNIPPETS: &[&str] = &[
    "nopreempt",
    "preempt_delay 3",
    "advert_int 2",
    "priority 200",
    "state MASTER",
    "state BACKUP",
    "garp_master_delay 1",
    "garp_master_repeat 2",
    "version 3",
    "lb_algo sh",
    "lb_kind TUN",
    "protocol UDP",
    "persistence_timeout",
    "delay_loop 3",
    "weight 3",
    "retry 2",
    "connect_timeout 1",
    "delay_before_retry 2",
    "connect_port 81",
    "unicast_src_ip 203.0.113.5",
    "authentication {\nauth_type PASS\nauth_pass abc\n}",
    "track_script {\nchk_haproxy\n}",
    "virtual_ipaddress {\n192.0.2.99\n}",
    "TCP_CHECK {\n}",
    "real_server 203.0.113.99 80 {\n}",
];

/// One random edit of a configuration: drop, duplicate or insert a line,
/// change a number, misspell a keyword, or drop a brace.
fn mutate(text: &str, rng: &mut Rng) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let i = rng.below(lines.len());
    match rng.below(6) {
        0 => {
            lines.remove(i);
        }
        1 => lines.insert(i, lines[i].clone()),
        2 => {
            let mut toks: Vec<String> = lines[i].split_whitespace().map(String::from).collect();
            let idx: Vec<usize> = (0..toks.len())
                .filter(|&j| {
                    !toks[j].is_empty() && toks[j].chars().all(|c| c.is_ascii_digit() || c == '.')
                })
                .collect();
            let j = *idx.get(rng.below(idx.len()))?;
            toks[j] = NUMBERS[rng.below(NUMBERS.len())].to_string();
            lines[i] = format!("    {}", toks.join(" "));
        }
        3 => {
            let mut toks: Vec<String> = lines[i].split_whitespace().map(String::from).collect();
            let w = toks.first()?.clone();
            if w.len() < 3 || w.starts_with(['{', '}', '#', '!']) {
                return None;
            }
            let p = rng.below(w.len());
            toks[0] = format!("{}{}", &w[..p], &w[p + 1..]);
            lines[i] = toks.join(" ");
        }
        4 => lines.insert(i, SNIPPETS[rng.below(SNIPPETS.len())].to_string()),
        _ => {
            let l = &lines[i];
            let b = if l.contains('}') {
                '}'
            } else if l.contains('{') {
                '{'
            } else {
                return None;
            };
            lines[i] = l.replacen(b, "", 1);
        }
    }
    Some(lines.join("\n") + "\n")
}

/// Random edits of the good fixtures: our accept/reject must match
/// `keepalived -t`, except where vipwire refuses on purpose (unsupported) and
/// where keepalived's verdict depends on the host (script users, security).
#[test]
fn mutated_fixtures_match_keepalived() {
    if !keepalived_available() || !is_root() {
        eprintln!("SKIPPED differential test: needs keepalived and root");
        return;
    }
    let Some(ns) = Netns::new() else {
        eprintln!("SKIPPED differential test: cannot create a network namespace");
        return;
    };
    let bases: Vec<String> = fixtures()
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("good_") && !n.contains("include")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("vwlvs-mut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x5eed);
    let (mut compared, mut skipped, mut made) = (0, 0, 0);
    let mut mismatches = Vec::new();
    while made < 200 {
        let base = &bases[rng.below(bases.len())];
        let Some(text) = mutate(base, &mut rng) else {
            continue;
        };
        let path = dir.join(format!("m{made:03}.conf"));
        made += 1;
        std::fs::write(&path, &text).unwrap();
        let ours = parse_file(&path);
        if matches!(ours, Err(ConfigError::Unsupported { .. })) {
            skipped += 1;
            continue;
        }
        let rc = ns.keepalived_check(&path);
        if rc == 6
            || (rc != 0
                && ns
                    .keepalived_log(&path)
                    .contains("Unable to set default user"))
        {
            skipped += 1;
            continue;
        }
        compared += 1;
        let ours_accepts = matches!(&ours, Ok(c) if c.passes_keepalived_check());
        if ours_accepts != (rc == 0) {
            let ours_desc = match &ours {
                Ok(c) => format!("{:?}", c.config_errors),
                Err(e) => e.to_string(),
            };
            mismatches.push(format!(
                "{}: keepalived rc={rc}, ours: {ours_desc}\n{text}",
                path.display()
            ));
        }
    }
    eprintln!(
        "differential: {made} mutants, {compared} compared, {skipped} skipped, {} mismatches",
        mismatches.len()
    );
    if mismatches.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n----\n"));
}

/// The Debian samples vipwire accepts must also pass `keepalived -t`.
#[test]
fn accepted_debian_samples_pass_keepalived() {
    let dir = Path::new(SAMPLES);
    if !keepalived_available() || !is_root() || !dir.is_dir() {
        eprintln!("SKIPPED samples oracle: needs keepalived, its samples and root");
        return;
    }
    let Some(ns) = Netns::new() else {
        eprintln!("SKIPPED samples oracle: cannot create a network namespace");
        return;
    };
    let files = sample_files(dir).expect("samples directory readable");
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in &files {
        let Ok(c) = parse_file(f) else { continue };
        checked += 1;
        let rc = ns.keepalived_check(f);
        if rc == 6 {
            // Script security (which users exist, enable_script_security): not modelled.
            eprintln!(
                "{}: keepalived script security error (rc 6), not compared",
                f.display()
            );
            continue;
        }
        if c.passes_keepalived_check() != (rc == 0) {
            failures.push(format!(
                "{}: keepalived rc={rc}, ours {:?}",
                f.display(),
                c.config_errors
            ));
        }
    }
    eprintln!(
        "samples oracle: {checked} accepted samples checked, {} disagree",
        failures.len()
    );
    assert!(checked > 0, "no sample accepted");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
