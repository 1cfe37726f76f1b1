//! `keepalived -t` (2.2.7) as the oracle for `vipwire director -t`
//! (`lvs::keepalived::parse_file` plus `director::config_test`), with the
//! host in the picture: scripts and script security, and interfaces.
//!
//! Both run inside a throw-away network namespace that has eth0..eth3 and
//! eth0.1 (the interfaces the fixtures and Debian's samples name): keepalived
//! directly, vipwire through this test binary re-executed there (the
//! `child_config_test` entry). Exit codes compared by class: 0 = accept,
//! 6 = SECURITY VIOLATION, anything else = configuration error (vipwire: 1).
//!
//! Fixtures in tests/fixtures: `ok_*` accept, `config_*` are configuration
//! errors, `security_*` are refused for script security; `@DIR@` is a
//! directory the test fills with a root-owned 0755 `ok.sh` and a 0777
//! `open.sh`. Needs root and keepalived; skips visibly otherwise.
//!
//! One keepalived quirk is left out: when a script runs as a user other than
//! keepalived's own (`script_user nobody`), keepalived 2.2.7's `-t` kills
//! itself with SIGTERM while checking it (its parent-death check after
//! seteuid, lib/notify.c, finds no parent process in `-t` mode), so it gives
//! no verdict to compare; mutants where that happens are counted apart.

use std::path::{Path, PathBuf};
use std::process::Command;

use lvs::keepalived::{parse_file, ConfigError};

/// Not a test: vipwire's `-t` on the file in env `VW_T_CHILD`, run in the
/// namespace; prints `RC=<code>` and the messages.
#[test]
fn child_config_test() {
    let Some(f) = std::env::var_os("VW_T_CHILD") else {
        return;
    };
    let (rc, msgs) = match parse_file(Path::new(&f)) {
        Ok(cfg) => {
            let v = director::config_test::config_test(&cfg);
            let mut m = v.errors.clone();
            m.extend(v.security.clone());
            (v.exit_code(), m)
        }
        Err(ConfigError::Unsupported { .. }) => (99, vec!["unsupported".to_string()]),
        // vipwire stops at the first error of a file it cannot parse (exit
        // 1); 98 tells the comparison so.
        Err(e) => (98, vec![e.to_string()]),
    };
    println!("RC={rc}");
    for m in msgs {
        println!("MSG {m}");
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn keepalived_available() -> bool {
    Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A namespace with eth0..eth3 and eth0.1, and a scratch directory; both
/// removed on drop.
struct Lab {
    ns: String,
    dir: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Option<Lab> {
        if !is_root() || !keepalived_available() {
            eprintln!("SKIPPED {tag}: needs root and keepalived");
            return None;
        }
        let ns = format!("vwdt-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &ns]) {
            eprintln!("SKIPPED {tag}: cannot create a network namespace");
            return None;
        }
        let dir = std::env::temp_dir().join(&ns);
        let lab = Lab { ns, dir };
        for (a, b) in [("eth0", "eth1"), ("eth2", "eth3")] {
            let link = [
                "-n", &lab.ns, "link", "add", a, "type", "veth", "peer", "name", b,
            ];
            assert!(ok(&link), "veth {a}/{b}");
        }
        // A VLAN interface as in the samples; without 8021q it is missing on
        // both sides alike.
        let _ = Command::new("ip")
            .args([
                "-n", &lab.ns, "link", "add", "link", "eth0", "name", "eth0.1",
            ])
            .args(["type", "vlan", "id", "1"])
            .status();
        std::fs::create_dir_all(&lab.dir).expect("scratch dir");
        set_mode(&lab.dir, 0o755);
        for (name, mode) in [("ok.sh", 0o755), ("open.sh", 0o777)] {
            let p = lab.dir.join(name);
            std::fs::write(&p, "#!/bin/sh\nexit 0\n").expect("script");
            set_mode(&p, mode);
        }
        Some(lab)
    }

    /// A fixture with `@DIR@` filled in, written to the scratch directory.
    fn materialise(&self, f: &Path) -> PathBuf {
        let text = std::fs::read_to_string(f).expect("fixture");
        let out = self.dir.join(f.file_name().unwrap());
        std::fs::write(&out, text.replace("@DIR@", &self.dir.to_string_lossy())).expect("write");
        out
    }

    /// keepalived -t's exit code and messages.
    fn keepalived(&self, f: &Path) -> (i32, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "keepalived", "-t", "-l", "-f"])
            .arg(f)
            .arg("-p")
            .arg(self.dir.join("k.pid"))
            .arg("-r")
            .arg(self.dir.join("v.pid"))
            .arg("-c")
            .arg(self.dir.join("c.pid"))
            .output()
            .expect("run keepalived");
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), log)
    }

    /// vipwire's `-t` exit code (99: refused as unsupported) and messages.
    fn vipwire(&self, f: &Path) -> (i32, String) {
        let exe = std::env::current_exe().expect("test binary");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(exe)
            .args(["--exact", "child_config_test", "--nocapture"])
            .env("VW_T_CHILD", f)
            .output()
            .expect("run child");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rc = text
            .lines()
            .find_map(|l| l.strip_prefix("RC="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1);
        (rc, text)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// 0 accept, 6 security, 1 any other error.
fn class(rc: i32) -> i32 {
    match rc {
        0 | 6 => rc,
        _ => 1,
    }
}

/// vipwire's verdict against keepalived's exit code: the same class, or a
/// file vipwire cannot parse (98, exit 1) that keepalived refuses too,
/// possibly for script security (6) as well, which vipwire does not reach.
fn agrees(ka: i32, vw: i32) -> bool {
    if vw == 98 {
        class(ka) != 0
    } else {
        class(ka) == vw
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

#[test]
fn fixtures_agree_with_keepalived() {
    // Our side alone, where it does not depend on the host.
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            ["ok_", "config_", "security_"]
                .iter()
                .any(|p| name.starts_with(p)),
            "{name}: fixture names start ok_, config_ or security_"
        );
    }
    let Some(lab) = Lab::new("fix") else { return };
    let mut failures = Vec::new();
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let want = match name.split('_').next() {
            Some("ok") => 0,
            Some("security") => 6,
            _ => 1,
        };
        let path = lab.materialise(&f);
        let (ka, ka_log) = lab.keepalived(&path);
        let (vw, vw_log) = lab.vipwire(&path);
        eprintln!("{name:40} keepalived -t rc={ka}  vipwire -t rc={vw}");
        if class(ka) != want {
            failures.push(format!(
                "{name}: keepalived rc={ka}, fixture says {want}\n{ka_log}"
            ));
        }
        if !agrees(ka, vw) {
            failures.push(format!(
                "{name}: keepalived rc={ka}, vipwire rc={vw}\n{ka_log}\n{vw_log}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

/// The Debian samples vipwire's director mode reads (the rest it refuses as
/// unsupported, by design), and the lvs crate's good_ and bad_ fixtures.
#[test]
fn samples_and_parser_fixtures_agree_with_keepalived() {
    let Some(lab) = Lab::new("smp") else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/usr/share/doc/keepalived/samples") {
        files.extend(
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().contains("keepalived.conf")),
        );
    } else {
        eprintln!("SKIPPED the Debian samples: not installed");
    }
    let lvs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvs/tests/fixtures");
    files.extend(
        std::fs::read_dir(&lvs)
            .expect("lvs fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                (n.starts_with("good_") || n.starts_with("bad_")) && n.ends_with(".conf")
            }),
    );
    files.sort();
    let (mut compared, mut refused, mut failures) = (0, 0, Vec::new());
    for f in &files {
        let (vw, vw_log) = lab.vipwire(f);
        if vw == 99 {
            refused += 1;
            continue;
        }
        let (ka, ka_log) = lab.keepalived(f);
        compared += 1;
        eprintln!(
            "{:60} keepalived -t rc={ka}  vipwire -t rc={vw}",
            f.display()
        );
        if !agrees(ka, vw) {
            failures.push(format!(
                "{}: keepalived rc={ka}, vipwire rc={vw}\n{ka_log}\n{vw_log}",
                f.display()
            ));
        }
    }
    eprintln!(
        "samples and parser fixtures: {compared} compared, {refused} refused as unsupported, {} disagree",
        failures.len()
    );
    assert!(compared >= 30, "only {compared} files compared");
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}

/// Small deterministic PRNG (splitmix64).
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

/// Lines that change what `-t` says about scripts and interfaces, inserted
/// at random places (inside the right block or not: both must agree either way).
const GLOBAL_LINES: &[&str] = &[
    "enable_script_security",
    "script_user root",
    "script_user nobody",
    "script_user vw-no-such-user",
    "script_user root vw-no-such-group",
    "notify_fifo_script /bin/true",
];
const INSTANCE_LINES: &[&str] = &[
    "notify_master /bin/true",
    "notify_backup \"/nonexistent/n.sh\"",
    "notify \"@DIR@/ok.sh\" root",
    "notify_fault \"@DIR@/open.sh\" vw-no-such-user",
    "track_interface {\n eth1\n}",
    "track_interface {\n eth9 weight -10\n}",
    "track_interface {\n eth2 weight 254\n eth2\n}",
    "track_interface {\n eth0\n}",
    "track_interface {\n eth3 weight 5 reverse\n eth1 nonsense\n}",
    "track_script {\n chk_vw\n}",
];
const SCRIPTS: &[&str] = &[
    "/bin/true",
    "true",
    "@DIR@/ok.sh",
    "@DIR@/open.sh",
    "/nonexistent/x",
    "</etc/hostname",
    "/bin/sh -c 'exit 0'",
    "vw-no-such-command",
];
const INTERFACES: &[&str] = &["eth0", "eth1", "eth3", "eth0.1", "eth7", "lo"];

/// One random edit aimed at scripts and interfaces.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let pick = |rng: &mut Rng, v: &[&str]| v[rng.below(v.len())].to_string();
    match rng.below(5) {
        0 => {
            let g = pick(rng, GLOBAL_LINES);
            // Inside the block, also when it is written on one line.
            match lines
                .iter()
                .position(|l| l.trim_start().starts_with("global_defs") && l.contains('{'))
            {
                Some(i) => lines[i] = lines[i].replacen('{', &format!("{{\n{g}\n"), 1),
                None => lines.insert(0, format!("global_defs {{\n{g}\n}}")),
            }
        }
        1 => {
            let l = pick(rng, INSTANCE_LINES);
            if let Some(i) = lines
                .iter()
                .position(|l| l.trim_start().starts_with("vrrp_instance"))
            {
                // Inside the instance's block (its `{` may be on the next line).
                let open = (i..lines.len())
                    .find(|&j| lines[j].contains('{'))
                    .unwrap_or(i);
                let at = (open + 1 + rng.below(4)).min(lines.len());
                lines.insert(at, l);
            }
        }
        2 => {
            let mut s = format!(
                "vrrp_script chk_vw {{\n script \"{}\"\n",
                pick(rng, SCRIPTS)
            );
            if rng.below(4) == 0 {
                s += "user vw-no-such-user\n";
            }
            s += "}";
            lines.insert(0, s);
        }
        3 => {
            if let Some(l) = lines
                .iter_mut()
                .find(|l| l.trim_start().starts_with("interface "))
            {
                *l = format!("    interface {}", pick(rng, INTERFACES));
            }
        }
        _ => {
            // Replace a script's command.
            let script = pick(rng, SCRIPTS);
            if let Some(l) = lines
                .iter_mut()
                .find(|l| l.trim_start().starts_with("script ") || l.contains("misc_path"))
            {
                let kw = l.split_whitespace().next().unwrap_or("script").to_string();
                *l = format!("    {kw} \"{script}\"");
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Random edits of the ok_ fixtures and the lvs good_ fixtures; vipwire's
/// verdict class must be keepalived's, except where director mode refuses
/// a keyword as unsupported.
#[test]
fn mutations_of_scripts_and_interfaces_agree_with_keepalived() {
    let Some(lab) = Lab::new("mut") else { return };
    let lvs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvs/tests/fixtures");
    let mut bases: Vec<String> = fixtures()
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ok_"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for e in std::fs::read_dir(&lvs).expect("lvs fixtures").flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("good_") && n.ends_with(".conf") && !n.contains("include") {
            bases.push(std::fs::read_to_string(e.path()).unwrap());
        }
    }
    let count: usize = std::env::var("VW_T_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x7e57_5c1a);
    let (mut compared, mut refused, mut killed, mut mismatches) = (0, 0, 0, Vec::new());
    let mut unparsed_security = 0;
    for i in 0..count {
        let base = &bases[rng.below(bases.len())];
        let mut text = base.clone();
        for _ in 0..1 + rng.below(3) {
            text = mutate(&text, &mut rng);
        }
        let text = text.replace("@DIR@", &lab.dir.to_string_lossy());
        let path = lab.dir.join(format!("m{i:03}.conf"));
        std::fs::write(&path, &text).unwrap();
        let (vw, vw_log) = lab.vipwire(&path);
        if vw == 99 {
            refused += 1;
            continue;
        }
        let (ka, ka_log) = lab.keepalived(&path);
        if ka == -1 {
            killed += 1;
            continue;
        }
        compared += 1;
        if vw == 98 && ka == 6 {
            unparsed_security += 1;
        }
        if !agrees(ka, vw) {
            mismatches.push(format!(
                "keepalived rc={ka}, vipwire rc={vw}\n{text}\n{ka_log}\n{vw_log}"
            ));
        }
    }
    eprintln!(
        "mutations: {count} made, {compared} compared, {refused} refused as unsupported, \
         {killed} where keepalived -t killed itself, {} disagree \
         ({unparsed_security} unparseable files keepalived also refuses for script security: \
         vipwire exits 1 there, keepalived 6)",
        mismatches.len()
    );
    assert!(compared >= count / 2, "only {compared} of {count} compared");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n----\n"));
}
