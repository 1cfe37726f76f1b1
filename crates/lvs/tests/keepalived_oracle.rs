//! `keepalived -t -f FILE` as an oracle for the parser's accept/reject.
//!
//! Fixtures in tests/fixtures: `good_*` both accept; `bad_*` both reject (we
//! reject when parsing fails or keepalived would report a config error);
//! `unsupported_*` keepalived accepts, the director mode refuses with an
//! "unsupported" error that names the keyword, and Check mode
//! (`vipwire check`) accepts. Check mode must agree with keepalived on every
//! fixture. keepalived checks that the interface exists, so it runs in a
//! throw-away network namespace that has an `eth0`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lvs::keepalived::{
    parse_file, parse_file_with, ConfigError, HealthCheck, KeepalivedConfig, LbKind, ParseOptions,
};

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
        self.keepalived_check_id(file, None)
    }

    /// Exit code of `keepalived -t -f file [-i config_id]`.
    fn keepalived_check_id(&self, file: &Path, config_id: Option<&str>) -> i32 {
        let dir = std::env::temp_dir().join(&self.0);
        let _ = std::fs::create_dir_all(&dir);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, "keepalived", "-t", "-f"])
            .arg(file)
            .arg("-p")
            .arg(dir.join("k.pid"))
            .arg("-r")
            .arg(dir.join("v.pid"))
            .arg("-c")
            .arg(dir.join("c.pid"));
        if let Some(id) = config_id {
            cmd.args(["-i", id]);
        }
        let out = cmd.output().expect("run keepalived");
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

/// Check mode's verdict: accept (Ok and no keepalived config error), and a description.
fn check_verdict(f: &Path, config_id: Option<&str>) -> (bool, String) {
    match parse_file_with(f, &ParseOptions::check(config_id)) {
        Ok(c) if c.passes_keepalived_check() => (true, "accept".into()),
        Ok(c) => (
            false,
            format!("config error: {}", c.config_errors.join("; ")),
        ),
        Err(e) => (false, format!("error: {e}")),
    }
}

/// keepalived -t does not look inside these blocks' values the way vipwire
/// does: Check mode reads them as unmodelled without validating them.
fn unvalidated_contents(c: &KeepalivedConfig) -> bool {
    c.unmodelled.iter().any(|u| {
        [
            "static_ipaddress",
            "static_routes",
            "static_rules",
            "virtual_routes",
            "virtual_rules",
        ]
        .contains(&u.keyword.as_str())
    })
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
        let (check_accepts, check_desc) = check_verdict(&f, None);
        match kind.as_str() {
            "good" | "unsupported" if !check_accepts => failures.push(format!(
                "{name}: Check mode should accept, got {check_desc}"
            )),
            "bad" if check_accepts => {
                failures.push(format!("{name}: expected reject in Check mode, it accepts"))
            }
            _ => {}
        }
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
            eprintln!("{name:40} ours: {ours_desc}; check mode: {check_desc}");
            continue;
        };
        total += 1;
        let rc = ns.keepalived_check(&f);
        let ka_accepts = rc == 0;
        let want_ka = kind != "bad";
        eprintln!("{name:40} keepalived -t rc={rc}  ours: {ours_desc}; check mode: {check_desc}");
        if ka_accepts != want_ka {
            failures.push(format!(
                "{name}: keepalived -t rc={rc}, fixture says {kind}"
            ));
        }
        if ka_accepts != check_accepts {
            failures.push(format!(
                "{name}: keepalived -t rc={rc}, Check mode: {check_desc}"
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
    differential(false, &["good_"], 0x5eed, 200);
}

/// The same in Check mode, also from the `unsupported_*` fixtures (sync
/// groups, virtual server groups, every checker, `@ID` lines, parameters).
#[test]
fn mutated_fixtures_match_keepalived_in_check_mode() {
    differential(true, &["good_", "unsupported_"], 0xc4ec, 300);
}

fn differential(check_mode: bool, prefixes: &[&str], seed: u64, count: usize) {
    let mode = if check_mode {
        "check mode"
    } else {
        "director mode"
    };
    if !keepalived_available() || !is_root() {
        eprintln!("SKIPPED differential test ({mode}): needs keepalived and root");
        return;
    }
    let Some(ns) = Netns::new() else {
        eprintln!("SKIPPED differential test ({mode}): cannot create a network namespace");
        return;
    };
    let bases: Vec<String> = fixtures()
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            prefixes.iter().any(|pre| n.starts_with(pre)) && !n.contains("include")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "vwlvs-mut-{}-{}",
        std::process::id(),
        u8::from(check_mode)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(seed);
    let (mut compared, mut skipped, mut made) = (0, 0, 0);
    let mut mismatches = Vec::new();
    while made < count {
        let base = &bases[rng.below(bases.len())];
        let Some(text) = mutate(base, &mut rng) else {
            continue;
        };
        let path = dir.join(format!("m{made:03}.conf"));
        made += 1;
        std::fs::write(&path, &text).unwrap();
        let opts = if check_mode {
            ParseOptions::check(None)
        } else {
            ParseOptions::default()
        };
        let ours = parse_file_with(&path, &opts);
        if matches!(ours, Err(ConfigError::Unsupported { .. })) {
            skipped += 1;
            continue;
        }
        if matches!(&ours, Ok(c) if unvalidated_contents(c)) {
            skipped += 1;
            continue;
        }
        let rc = ns.keepalived_check(&path);
        let host_dependent = |log: String| {
            log.contains("Unable to set default user")
                || log.contains("Non-existent interface specified")
        };
        if rc == 6 || (rc != 0 && host_dependent(ns.keepalived_log(&path))) {
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
        "differential ({mode}): {made} mutants, {compared} compared, {skipped} skipped, {} mismatches",
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

/// The production-like fixture read for each director (`-i lb1`, `-i lb2`)
/// and without a config id: the model, and keepalived's verdict for the same id.
#[test]
fn production_fixture_per_config_id() {
    let f =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unsupported_production_lb.conf");
    let oracle = if keepalived_available() && is_root() {
        Netns::new()
    } else {
        eprintln!("SKIPPED keepalived side of the production fixture: needs keepalived and root");
        None
    };
    for id in [Some("lb1"), Some("lb2"), None] {
        let c = parse_file_with(&f, &ParseOptions::check(id)).expect("check mode accepts");
        assert!(c.passes_keepalived_check(), "{id:?}: {:?}", c.config_errors);
        if let Some(ns) = &oracle {
            assert_eq!(ns.keepalived_check_id(&f, id), 0, "keepalived -t -i {id:?}");
        }
        let (prio, src, peers) = match id {
            Some("lb1") => (150, Some("203.0.113.11"), vec!["203.0.113.12"]),
            Some(_) => (100, Some("203.0.113.12"), vec!["203.0.113.11"]),
            None => (100, None, vec!["203.0.113.11", "203.0.113.12"]),
        };
        assert_eq!(c.router_id.as_deref(), id);
        let ext = &c.vrrp_instances[0];
        assert_eq!((ext.name.as_str(), ext.priority), ("VI_EXT", prio));
        assert_eq!(ext.unicast_src_ip.map(|a| a.to_string()).as_deref(), src);
        let got: Vec<String> = ext.unicast_peers.iter().map(|a| a.to_string()).collect();
        assert_eq!(got, peers);
        assert_eq!(ext.virtual_ipaddresses[0].to_string(), "203.0.113.241/24");
        assert_eq!(
            ext.track_scripts.len(),
            1,
            "sync_group_tracking_weight keeps it"
        );
        let int = &c.vrrp_instances[1];
        assert!(int.use_vmac && !ext.use_vmac);
        assert_eq!(c.sync_groups[0].instances, ["VI_EXT", "VI_INT"]);
        // virtual_server group WEB: 2 + 3 members, DR, two real servers from ~SEQ.
        let web: Vec<String> = c
            .virtual_servers
            .iter()
            .filter(|v| v.group.as_deref() == Some("WEB"))
            .map(|v| format!("{}:{}", v.addr, v.port))
            .collect();
        assert_eq!(
            web,
            [
                "203.0.113.241:80",
                "203.0.113.241:443",
                "203.0.113.250:80",
                "203.0.113.251:80",
                "203.0.113.252:80"
            ]
        );
        let https = &c.virtual_servers[1];
        assert_eq!(https.lb_kind, LbKind::Dr);
        let rs: Vec<String> = https
            .real_servers
            .iter()
            .map(|r| format!("{}:{}", r.addr, r.port))
            .collect();
        assert_eq!(rs, ["10.0.1.21:443", "10.0.1.22:443"]);
        let kinds: Vec<(&str, Option<u16>)> = https.real_servers[0]
            .checks
            .iter()
            .map(|k| {
                (
                    k.kind_name(),
                    k.target(&https.real_servers[0]).and_then(|t| t.1),
                )
            })
            .collect();
        assert_eq!(kinds, [("HTTP_GET", Some(80)), ("SSL_GET", Some(443))]);
        let sorry = https.sorry_server.as_ref().expect("sorry server");
        assert_eq!(
            (sorry.addr.to_string(), sorry.port, sorry.inhibit),
            ("10.0.1.99".into(), 443, true)
        );
        let fw = &c.fwmark_services[0];
        assert_eq!((fw.fwmark, fw.real_servers.len()), (10, 2));
        // The NAT services on the internal VIP: DNS (two checkers on one
        // server), SMTP with two host blocks, syslog over UDP.
        let int_vs: Vec<(u16, Vec<&str>)> = c
            .virtual_servers
            .iter()
            .filter(|v| v.group.is_none())
            .map(|v| {
                let kinds = v
                    .real_servers
                    .iter()
                    .flat_map(|r| r.checks.iter().map(HealthCheck::kind_name))
                    .collect();
                (v.port, kinds)
            })
            .collect();
        assert_eq!(
            int_vs,
            [
                (53, vec!["DNS_CHECK", "DNS_CHECK", "PING_CHECK"]),
                (25, vec!["SMTP_CHECK", "SMTP_CHECK"]),
                (514, vec!["UDP_CHECK"])
            ]
        );
        let mut unmodelled: Vec<&str> = c.unmodelled.iter().map(|u| u.keyword.as_str()).collect();
        unmodelled.sort();
        let mut want = vec![
            "static_ipaddress",
            "static_routes",
            "static_rules",
            "virtual_routes",
        ];
        if id.is_none() {
            want.extend(["@lb1", "@lb2"]);
            want.sort();
        }
        assert_eq!(unmodelled, want, "{id:?}");
    }
    // The director refuses the file at its first conditional line.
    let e = parse_file(&f).unwrap_err();
    assert_eq!((e.keyword(), e.line()), (Some("@lb1"), Some(7)), "{e}");
}

/// Every Debian sample in Check mode: no error where keepalived accepts, and
/// the same verdict where vipwire validates the contents (it does not look
/// inside static/virtual routes and rules) and the host does not decide
/// (script security, missing interfaces).
#[test]
fn debian_samples_in_check_mode_agree_with_keepalived() {
    let dir = Path::new(SAMPLES);
    if !keepalived_available() || !is_root() || !dir.is_dir() {
        eprintln!("SKIPPED samples check-mode oracle: needs keepalived, its samples and root");
        return;
    }
    let Some(ns) = Netns::new() else {
        eprintln!("SKIPPED samples check-mode oracle: cannot create a network namespace");
        return;
    };
    let files = sample_files(dir).expect("samples directory readable");
    let (mut compared, mut failures) = (0, Vec::new());
    for f in &files {
        let rc = ns.keepalived_check(f);
        let log = ns.keepalived_log(f);
        if rc == 6 || log.contains("doesn't exist") || log.contains("Non-existent interface") {
            eprintln!(
                "{}: keepalived's verdict depends on the host, not compared",
                f.display()
            );
            continue;
        }
        let ours = parse_file_with(f, &ParseOptions::check(None));
        if matches!(&ours, Ok(c) if unvalidated_contents(c)) && rc != 0 {
            eprintln!(
                "{}: keepalived refuses route/rule contents vipwire does not read",
                f.display()
            );
            continue;
        }
        compared += 1;
        let ours_accepts = matches!(&ours, Ok(c) if c.passes_keepalived_check());
        if ours_accepts != (rc == 0) {
            let desc = match &ours {
                Ok(c) => format!("{:?}", c.config_errors),
                Err(e) => e.to_string(),
            };
            failures.push(format!(
                "{}: keepalived rc={rc}, check mode {desc}",
                f.display()
            ));
        }
    }
    eprintln!(
        "samples check-mode oracle: {compared} compared, {} disagree",
        failures.len()
    );
    assert!(compared >= 15, "only {compared} samples compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
