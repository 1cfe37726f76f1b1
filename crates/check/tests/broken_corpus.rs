//! The corpus of broken variants: every folder of `examples/broken/` is a case with a
//! `scenario.yaml` and an `expect.yaml` (format: `examples/broken/README.md`). A folder
//! is picked up on its own; one without `expect.yaml` fails the test.
//!
//! The check runs through the library (`Scenario::load`, `check::run`,
//! `fix::find_fix`, `report::render_check` / `render_fix`) with the CLI's exit-code
//! rules: 2 when the inputs do not load or the rules do not build, 0 when the report
//! passes (with `--fix`: when the re-check passes), else 1. When the release or debug
//! `vipwire` binary next to this test is newer than every `crates/*/src` file, the
//! cases also run through it and its exit codes must agree, and
//! `vipwire check -v | head -1` must end quietly; a missing or stale binary skips those
//! parts visibly (`cargo build --release -p vipwire` first, as `scripts/test` does).
//!
//! Cases with `known_bug:` fail today because of a bug in the check; they are listed
//! but not asserted by `corpus`, and asserted by the ignored test `known_bugs`.

use check::diagnose::DropKind;
use check::fix::{find_fix, FixReport};
use check::report::{render_check, render_fix};
use check::simulate::{CheckReport, Outcome};
use check::Scenario;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// SIGPIPE's number on Linux, the platform this project targets.
const SIGPIPE: i32 = 13;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[allow(dead_code)]
    why: String,
    exit: i32,
    known_bug: Option<String>,
    #[serde(default)]
    drops: Vec<DropExpect>,
    drop_ports: Option<Vec<String>>,
    #[serde(default)]
    no_drops: bool,
    #[serde(default)]
    pass: Vec<String>,
    #[serde(default)]
    never_pass: Vec<String>,
    #[serde(default)]
    has_flows: Vec<String>,
    #[serde(default)]
    absent_flows: Vec<String>,
    #[serde(default)]
    findings: Vec<String>,
    #[serde(default)]
    not_exercised: Vec<String>,
    health_checks: Option<BTreeMap<String, usize>>,
    #[serde(default)]
    own_hosts: bool,
    #[serde(default)]
    output: Vec<String>,
    /// Fragments the report must not contain (a claim that would be wrong).
    #[serde(default)]
    not_output: Vec<String>,
    fix: Option<FixExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropExpect {
    flow: Option<String>,
    packet: Option<String>,
    kind: Option<DropKind>,
    chain_prefix: Option<String>,
    port: Option<String>,
    sent_before: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixExpect {
    exit: i32,
    #[serde(default)]
    output: Vec<String>,
    #[serde(default)]
    commands: Vec<CommandCount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandCount {
    contains: String,
    count: usize,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken")
}

/// Every case folder, sorted.
fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("examples/broken exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no case in {}", corpus_dir().display());
    v
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn load_expect(dir: &Path) -> Result<Expect, String> {
    let path = dir.join("expect.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (every case needs one)", path.display()))?;
    serde_saphyr::from_str_with_options(&text, serde_saphyr::options! { strict_booleans: true })
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What the CLI would do: the loaded scenario and report, or exit 2.
struct Checked {
    sc: Scenario,
    report: CheckReport,
}

fn check_scenario(path: &Path) -> Result<Checked, String> {
    let sc = Scenario::load(path).map_err(|e| format!("bad input: {e}"))?;
    let report = check::run(&sc).map_err(|e| format!("check failed: {e}"))?;
    Ok(Checked { sc, report })
}

fn exit_of(r: &CheckReport) -> i32 {
    if r.passed() {
        0
    } else {
        1
    }
}

fn starts(name: &str, prefix: &str) -> bool {
    name.starts_with(prefix)
}

/// Every way `report` differs from `e` (empty: as expected).
fn compare(c: &Checked, fix: Option<&FixReport>, e: &Expect) -> Vec<String> {
    let r = &c.report;
    let mut errs = Vec::new();
    let got = exit_of(r);
    if got != e.exit {
        errs.push(format!("exit {got}, expected {}", e.exit));
    }
    // A flow stops at its first drop.
    for f in &r.flows {
        if let Some(i) = f.packets.iter().position(|p| p.outcome == Outcome::Drop) {
            if f.packets[i + 1..]
                .iter()
                .any(|p| p.outcome != Outcome::Skipped)
            {
                errs.push(format!("flow {}: packets sent after its drop", f.name));
            }
            if f.outcome != Outcome::Drop {
                errs.push(format!("flow {}: a packet dropped, the flow not", f.name));
            }
        } else if f.packets.iter().any(|p| p.outcome != Outcome::Pass) {
            errs.push(format!("flow {}: skipped packets without a drop", f.name));
        }
    }
    let drops: Vec<_> = r.drops().collect();
    for d in &e.drops {
        let hit = drops.iter().any(|(f, p, x)| {
            d.flow.as_deref().is_none_or(|s| starts(&f.name, s))
                && d.packet.as_deref().is_none_or(|s| starts(&p.what, s))
                && d.kind.is_none_or(|k| k == x.kind)
                && d.chain_prefix
                    .as_deref()
                    .is_none_or(|s| starts(&x.chain, s))
                && d.port.as_deref().is_none_or(|s| x.port == s)
                && d.sent_before.is_none_or(|n| {
                    f.packets
                        .iter()
                        .take_while(|q| q.outcome == Outcome::Pass)
                        .count()
                        == n
                })
        });
        if !hit {
            errs.push(format!(
                "no drop matches {d:?}; drops: {:?}",
                drops
                    .iter()
                    .map(|(f, p, x)| format!(
                        "{} / {} at {} {} ({:?})",
                        f.name, p.what, x.port, x.chain, x.kind
                    ))
                    .collect::<Vec<_>>()
            ));
        }
    }
    if let Some(ports) = &e.drop_ports {
        let want: BTreeSet<&str> = ports.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = drops.iter().map(|(_, _, x)| x.port.as_str()).collect();
        if want != got {
            errs.push(format!("drops at ports {got:?}, expected {want:?}"));
        }
    }
    if e.no_drops && !drops.is_empty() {
        let (f, p, x) = drops[0];
        errs.push(format!(
            "expected no drop, got {} / {}: {}",
            f.name, p.what, x.reason
        ));
    }
    let flows_with = |prefix: &str| {
        r.flows
            .iter()
            .filter(|f| starts(&f.name, prefix))
            .collect::<Vec<_>>()
    };
    for p in &e.pass {
        let fs = flows_with(p);
        if fs.is_empty() {
            errs.push(format!("no flow named {p}…"));
        }
        for f in fs.iter().filter(|f| f.outcome != Outcome::Pass) {
            errs.push(format!("flow {} does not pass", f.name));
        }
    }
    for p in &e.never_pass {
        let fs = flows_with(p);
        if fs.is_empty() {
            errs.push(format!("no flow named {p}…"));
        }
        for f in fs.iter().filter(|f| f.outcome == Outcome::Pass) {
            errs.push(format!("flow {} passes", f.name));
        }
    }
    for p in &e.has_flows {
        if flows_with(p).is_empty() {
            errs.push(format!("no flow named {p}…"));
        }
    }
    for p in &e.absent_flows {
        for f in flows_with(p) {
            errs.push(format!("unexpected flow {}", f.name));
        }
    }
    let findings: Vec<String> = r
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.subject, f.message))
        .collect();
    for frag in &e.findings {
        if !findings.iter().any(|f| f.contains(frag.as_str())) {
            errs.push(format!(
                "no finding contains {frag:?}; findings: {findings:?}"
            ));
        }
    }
    for frag in &e.not_exercised {
        if !r
            .coverage
            .not_exercised
            .iter()
            .any(|n| n.contains(frag.as_str()))
        {
            errs.push(format!(
                "\"Not exercised\" lacks {frag:?}: {:?}",
                r.coverage.not_exercised
            ));
        }
    }
    if let Some(hc) = &e.health_checks {
        if &r.coverage.health_checks != hc {
            errs.push(format!(
                "health checks {:?}, expected {hc:?}",
                r.coverage.health_checks
            ));
        }
    }
    if e.own_hosts {
        let vm_ports: Vec<_> =
            c.sc.cloud
                .ports
                .iter()
                .filter(|p| !p.device_owner.starts_with("network:"))
                .collect();
        for p in &vm_ports {
            let sharing = vm_ports.iter().filter(|q| q.host_id == p.host_id).count();
            if p.host_id.is_empty() || sharing != 1 {
                errs.push(format!(
                    "port {} is on host {:?} with {} port(s)",
                    p.name, p.host_id, sharing
                ));
            }
        }
    }
    let text = render_check(r, false);
    for frag in &e.output {
        if !text.contains(frag.as_str()) {
            errs.push(format!("output lacks {frag:?}:\n{text}"));
        }
    }
    for frag in &e.not_output {
        if text.contains(frag.as_str()) {
            errs.push(format!(
                "output has {frag:?}, which must not be claimed:\n{text}"
            ));
        }
    }
    match (&e.fix, fix) {
        (Some(fe), Some(fx)) => {
            let got = exit_of(&fx.recheck);
            if got != fe.exit {
                errs.push(format!(
                    "--fix exits {got}, expected {}:\n{}",
                    fe.exit,
                    render_fix(fx)
                ));
            }
            let text = render_fix(fx);
            for frag in &fe.output {
                if !text.contains(frag.as_str()) {
                    errs.push(format!("--fix output lacks {frag:?}:\n{text}"));
                }
            }
            for cc in &fe.commands {
                let n = fx
                    .changes
                    .iter()
                    .filter(|c| c.command.contains(cc.contains.as_str()))
                    .count();
                if n != cc.count {
                    errs.push(format!(
                        "{n} proposed commands contain {:?}, expected {}:\n{text}",
                        cc.contains, cc.count
                    ));
                }
            }
        }
        (Some(_), None) => errs.push("--fix did not run".into()),
        _ => {}
    }
    errs
}

/// Runs one case through the library; every mismatch, or none.
fn run_case(dir: &Path, cli: Option<&Path>) -> Vec<String> {
    let e = match load_expect(dir) {
        Ok(e) => e,
        Err(msg) => return vec![msg],
    };
    let mut errs = Vec::new();
    if e.exit == 1 && e.fix.is_none() && !dir.join("fixed").is_dir() {
        errs.push("a failing case needs `fix:` in expect.yaml or a fixed/ twin".into());
    }
    let scenario = dir.join("scenario.yaml");
    match check_scenario(&scenario) {
        Err(msg) => {
            if e.exit != 2 {
                errs.push(format!("exit 2 ({msg}), expected {}", e.exit));
            }
        }
        Ok(c) => {
            let fix = match &e.fix {
                Some(_) => match find_fix(&c.sc, &c.report) {
                    Ok(f) => Some(f),
                    Err(err) => {
                        errs.push(format!("--fix failed: {err}"));
                        None
                    }
                },
                None => None,
            };
            errs.extend(compare(&c, fix.as_ref(), &e));
        }
    }
    let fixed = dir.join("fixed/scenario.yaml");
    if fixed.exists() {
        match check_scenario(&fixed) {
            Err(msg) => errs.push(format!("fixed twin: {msg}")),
            Ok(c) if !c.report.passed() => errs.push(format!(
                "fixed twin does not pass:\n{}",
                render_check(&c.report, false)
            )),
            Ok(_) => {}
        }
    }
    if let Some(bin) = cli {
        let code = |args: &[&str], path: &Path| {
            Command::new(bin)
                .args(args)
                .arg(path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run vipwire")
                .code()
        };
        let got = code(&["check"], &scenario);
        if got != Some(e.exit) {
            errs.push(format!("vipwire check exits {got:?}, expected {}", e.exit));
        }
        if let Some(fe) = &e.fix {
            let got = code(&["check", "--fix"], &scenario);
            if got != Some(fe.exit) {
                errs.push(format!(
                    "vipwire check --fix exits {got:?}, expected {}",
                    fe.exit
                ));
            }
        }
        if fixed.exists() {
            let got = code(&["check"], &fixed);
            if got != Some(0) {
                errs.push(format!("vipwire check fixed/ exits {got:?}, expected 0"));
            }
        }
    }
    errs
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source(&p, newest);
        } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
            if m > *newest {
                *newest = m;
            }
        }
    }
}

/// The `vipwire` binary of this test's profile, if it is newer than every source
/// file of the workspace's crates (else it might not be what the sources say).
fn fresh_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/broken_corpus-HASH -> target/<profile>/vipwire
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("vipwire"))
        .ok_or("no profile directory")?;
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} is not built", bin.display()))?;
    let mut newest = SystemTime::UNIX_EPOCH;
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for c in std::fs::read_dir(&crates)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        newest_source(&c.path().join("src"), &mut newest);
    }
    if built < newest {
        return Err(format!("{} is older than the sources", bin.display()));
    }
    Ok(bin)
}

fn cli_or_skip(what: &str) -> Option<PathBuf> {
    match fresh_binary() {
        Ok(b) => Some(b),
        Err(why) => {
            eprintln!(
                "SKIPPED {what}: {why}; run `cargo build --release -p vipwire` (or without \
                 --release for debug tests) first"
            );
            None
        }
    }
}

#[test]
fn corpus() {
    let cli = cli_or_skip("the CLI exit codes of the corpus");
    let mut failures = Vec::new();
    let mut bugs = Vec::new();
    for dir in cases() {
        if let Ok(Expect {
            known_bug: Some(why),
            ..
        }) = load_expect(&dir)
        {
            bugs.push(format!("{}: {why}", name(&dir)));
            continue;
        }
        let errs = run_case(&dir, cli.as_deref());
        if !errs.is_empty() {
            failures.push(format!("{}:\n  - {}", name(&dir), errs.join("\n  - ")));
        }
    }
    for b in &bugs {
        eprintln!("known bug, not asserted here (see `known_bugs`): {b}");
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ from expect.yaml:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "cases with known_bug: in expect.yaml fail until the check is fixed"]
fn known_bugs() {
    let cli = cli_or_skip("the CLI exit codes of the known-bug cases");
    let mut failures = Vec::new();
    for dir in cases() {
        if !matches!(
            load_expect(&dir),
            Ok(Expect {
                known_bug: Some(_),
                ..
            })
        ) {
            continue;
        }
        let errs = run_case(&dir, cli.as_deref());
        if !errs.is_empty() {
            failures.push(format!("{}:\n  - {}", name(&dir), errs.join("\n  - ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `vipwire check -v | head -1`: the reader goes away after one line; vipwire must
/// end without a panic message (SIGPIPE ends it like any Unix filter).
#[test]
fn quiet_on_a_closed_pipe() {
    let Some(bin) = cli_or_skip("vipwire check -v | head -1") else {
        return;
    };
    let tenant = corpus_dir().join("tenant-view-host-null/scenario.yaml");
    for args in [
        vec!["check".to_string(), "-v".into()],
        vec![
            "check".into(),
            "-v".into(),
            "--fix".into(),
            tenant.display().to_string(),
        ],
    ] {
        let mut child = Command::new(&bin)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run vipwire");
        let mut first = String::new();
        {
            let mut out = BufReader::new(child.stdout.take().unwrap());
            out.read_line(&mut first).unwrap();
        } // the read end closes here, like `head -1` exiting
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(first.starts_with("scenario: "), "{args:?}: {first}");
        assert!(stderr.is_empty(), "{args:?}: stderr: {stderr}");
        let by_sigpipe = done.status.signal() == Some(SIGPIPE);
        let exited = matches!(done.status.code(), Some(0 | 1));
        assert!(by_sigpipe || exited, "{args:?}: {:?}", done.status);
    }
}
