//! `vipwire check --os-cloud NAME --vip IP`: read the load balancer around a VIP
//! from a running cloud (crates/openstack), say what was inferred and how sure,
//! and hand the normal check the same scenario an offline `vipwire check
//! scenario.yaml` would build.
//!
//! The API responses are written as list documents the Neutron loader reads,
//! with a scenario.yaml built from [`ScenarioOut`] (the scenario file's fields,
//! serialized, never templated), and the scenario is loaded through
//! `Scenario::load` like any other: so `--save DIR` gives exactly the files of
//! the answer, and `vipwire check DIR/scenario.yaml` replays it offline.
//! Without `--save` they go to a temporary folder removed afterwards.
//!
//! `--fix --apply` turns the fix into a [`plan::Plan`] of API writes, shows it,
//! asks, applies it revision-safe ([`apply`]), then reads the cloud again and
//! re-runs the check on what it now says; `--undo FILE` takes an apply back.
//! `--fix-format` renders the fix for the CLI, the API, Terraform or Ansible.

mod apply;
mod infer;
pub mod plan;

use anyhow::{bail, Context, Result};
use check::Scenario;
use openstack::discover::{self, BackendGuess, Confidence, Discovery, Hold};
use openstack::neutron::NeutronClient;
use openstack::progress::Progress;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The cloud options of `vipwire check`.
#[derive(clap::Args, Debug, Default)]
pub struct CloudArgs {
    /// Read the load balancer from this cloud of clouds.yaml (default: OS_CLOUD, else the
    /// OS_* variables of an openrc file). Needs --vip.
    #[arg(long = "os-cloud", value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// The VIP whose load balancer to read from the cloud (--os-cloud, OS_CLOUD or OS_*).
    #[arg(long, value_name = "IP")]
    pub vip: Option<IpAddr>,
    /// Instead of --vip: a port (name or ID) that holds the VIP as its one
    /// single-address allowed address pair, e.g. a director's.
    #[arg(long, value_name = "NAME|ID", conflicts_with = "vip")]
    pub port: Option<String>,
    /// A director's keepalived.conf (repeat per director), matched to its port by IP.
    #[arg(long, value_name = "FILE")]
    pub keepalived: Vec<PathBuf>,
    /// Without --keepalived: the directors' ports (names, IDs or fixed IPs, comma-separated);
    /// default: the VIP's holders named like directors (director, lvs, lb, ...).
    #[arg(
        long,
        value_name = "PORTS",
        value_delimiter = ',',
        conflicts_with = "keepalived"
    )]
    pub directors: Vec<String>,
    /// Without --keepalived: the real servers' ports (names, IDs or fixed IPs);
    /// default: ports on the VIP's network named like real servers (rs, web, app, ...)
    /// and the VIP's other holders.
    #[arg(
        long = "real-servers",
        value_name = "PORTS",
        value_delimiter = ',',
        conflicts_with = "keepalived"
    )]
    pub real_servers: Vec<String>,
    /// Without --keepalived: a service of the VIP, tcp/PORT or udp/PORT (repeatable);
    /// default: the real servers' single-port ingress rules, else tcp/80.
    #[arg(long, value_name = "PROTO/PORT", conflicts_with = "keepalived")]
    pub service: Vec<infer::Service>,
    /// Also write the API responses and a scenario.yaml here, for offline replay.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Objects per API page (limit=).
    #[arg(long = "page-size", value_name = "N", default_value_t = 500)]
    pub page_size: usize,
    /// With --fix on a cloud: show the plan, ask, apply it through the API
    /// (revision-safe), then re-read the cloud and check it again.
    #[arg(long)]
    pub apply: bool,
    /// Apply without asking (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Where --apply writes what it changed, for --undo (default:
    /// ./vipwire-undo-<cloud>-<unix time>.json).
    #[arg(long = "undo-file", value_name = "FILE")]
    pub undo_file: Option<PathBuf>,
    /// Take back what an --apply wrote (its undo file), revision-safe.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["apply", "fix"])]
    pub undo: Option<PathBuf>,
    /// With --fix: print only the fix, as openstack CLI commands, the API
    /// calls (json), Terraform or Ansible; the check's report goes to stderr.
    #[arg(long = "fix-format", value_enum, value_name = "FORMAT")]
    pub fix_format: Option<plan::FixFormat>,
    /// `director --cloud`: the MACs of this host's VRRP interfaces, which name
    /// the director's own port (lower case).
    #[arg(skip)]
    pub own_macs: Vec<String>,
}

impl CloudArgs {
    /// The user asked to read a cloud.
    pub fn wanted(&self) -> bool {
        self.vip.is_some() || self.port.is_some() || self.os_cloud.is_some()
    }
}

/// scenario.yaml as written for a cloud read (the fields of the scenario file).
#[derive(Debug, Serialize)]
pub struct ScenarioOut {
    pub neutron: Vec<String>,
    pub firewall_driver: String,
    pub directors: Vec<DirectorOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientOut>,
}

#[derive(Debug, Serialize)]
pub struct DirectorOut {
    pub port: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalived: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClientOut {
    pub port: String,
}

/// A director found: its port and the keepalived.conf that goes with it.
#[derive(Debug)]
struct DirectorRole {
    port_id: String,
    label: String,
    keepalived: Option<PathBuf>,
    /// The keepalived.conf vipwire wrote for it when none was given.
    inferred_conf: Option<String>,
    confidence: Confidence,
    how: String,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn label(port: &Value) -> String {
    let name = s(port, "name");
    if name.is_empty() {
        s(port, "id").chars().take(8).collect()
    } else {
        name.to_string()
    }
}

fn port_ipv4s(port: &Value) -> Vec<IpAddr> {
    port.get("fixed_ips")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|f| s(f, "ip_address").parse::<IpAddr>().ok())
                .filter(IpAddr::is_ipv4)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the cloud, prints what was inferred, and returns the scenario.
/// `text`: print the discovery on stdout (else stderr, to keep JSON clean).
/// `driver`: the `--driver` override, which replaces the inferred backend.
pub fn scenario(
    args: &CloudArgs,
    scenario_file_given: bool,
    driver: Option<&str>,
    text: bool,
) -> Result<Scenario> {
    read_scenario(args, scenario_file_given, driver, Some(text))
}

/// [`scenario`]; `print` None prints no discovery block (a re-read).
fn read_scenario(
    args: &CloudArgs,
    scenario_file_given: bool,
    driver: Option<&str>,
    print: Option<bool>,
) -> Result<Scenario> {
    if scenario_file_given {
        bail!("give either a scenario file or --os-cloud/--vip, not both");
    }
    if args.vip.is_none() && args.port.is_none() {
        bail!(
            "--os-cloud needs --vip IP (or --port NAME|ID): the load balancer is read around \
             its VIP"
        );
    }
    let keepalived = read_keepalived(&args.keepalived)?;
    let env = openstack::config::process_env();
    let files = openstack::config::find_files(&env)?;
    let cfg = openstack::config::resolve(args.os_cloud.as_deref(), &files, &env)?;
    let progress = Progress::new(&cfg.name, Progress::stderr_is_terminal());
    let mut client = NeutronClient::connect(&cfg, progress, args.page_size)?;
    let vip = match args.vip {
        Some(vip) => vip,
        None => {
            let port = args.port.as_deref().unwrap_or_default();
            let vip = discover::vip_of_port(&mut client, port);
            client.progress().clear();
            let vip = vip?;
            eprintln!("vipwire: --port {port} holds VIP {vip}");
            vip
        }
    };
    let found = discover::discover(&mut client, vip);
    client.progress().clear();
    let found = found?;
    let summary = client.progress().summary();
    eprintln!("vipwire: {summary}");

    let backend = match driver {
        Some(d) => BackendGuess {
            driver: d.to_string(),
            confidence: Confidence::High,
            how: "given by --driver".into(),
        },
        None => discover::infer_backend(&found),
    };
    let mut real_server_ips: Vec<IpAddr> = Vec::new();
    for vs in keepalived
        .iter()
        .flat_map(|(_, c)| c.virtual_servers.iter())
    {
        for r in &vs.real_servers {
            if !real_server_ips.contains(&r.addr) {
                real_server_ips.push(r.addr);
            }
        }
    }
    let mut inferred_lines = Vec::new();
    let directors = if keepalived.is_empty() {
        let hints = infer::RoleHints {
            directors: args.directors.clone(),
            real_servers: args.real_servers.clone(),
            services: args.service.clone(),
        };
        let lb = infer::infer(&found, &hints).map_err(|e| anyhow::anyhow!("{vip}: {e}"))?;
        real_server_ips = lb.real_servers.iter().map(|m| m.ip).collect();
        inferred_lines = lb.describe();
        lb.directors
            .iter()
            .enumerate()
            .map(|(i, m)| DirectorRole {
                port_id: m.port_id.clone(),
                label: m.label.clone(),
                keepalived: None,
                inferred_conf: Some(lb.keepalived_conf(i, vip, &cfg.name)),
                confidence: Confidence::Low,
                how: m.how.clone(),
            })
            .collect()
    } else {
        match_directors(&found, &keepalived, &real_server_ips, &args.own_macs)
    };
    if directors.is_empty() {
        bail!(
            "no director found for {vip}: no port holding it is left once the keepalived \
             real servers are taken out; check --keepalived"
        );
    }
    let ports = discover::ports_by_id(&found);
    let vip_nets: Vec<&str> = found.network_ids.iter().map(String::as_str).collect();
    let clients: Vec<&Value> = found
        .ports
        .iter()
        .filter(|p| vip_nets.contains(&s(p, "network_id")))
        .filter(|p| !s(p, "device_owner").starts_with("network:"))
        .filter(|p| directors.iter().all(|d| d.port_id != s(p, "id")))
        .filter(|p| port_ipv4s(p).iter().all(|ip| !real_server_ips.contains(ip)))
        .filter(|p| !port_ipv4s(p).is_empty())
        .filter(|p| found.holders.iter().all(|h| h.port_id != s(p, "id")))
        .collect();

    // Write the files the scenario is loaded from.
    let (dir, temporary) = match &args.save {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (
                std::env::temp_dir().join(format!("vipwire-cloud-{}-{nanos}", std::process::id())),
                true,
            )
        }
    };
    let written = write_inputs(
        &dir,
        &client,
        &found,
        &backend,
        &directors,
        &clients,
        args.save.is_some(),
        &summary,
        &cfg,
    );
    let loaded = written.and_then(|path| Scenario::load(&path).map_err(|e| anyhow::anyhow!("{e}")));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut sc = loaded?;
    if !inferred_lines.is_empty() {
        sc.assumptions.push(
            "no keepalived.conf was given: the directors, real servers and services were \
             inferred from the cloud (listed above) and checked as LVS-DR; pass --keepalived \
             to check what the directors really run"
                .into(),
        );
    }
    if temporary {
        // The files are gone: name the cloud read instead.
        sc.source = format!(
            "cloud \"{}\" around {vip} (not saved: --save DIR)",
            cfg.name
        );
    }

    let report = render_discovery(
        &cfg,
        &client,
        &found,
        vip,
        &backend,
        &directors,
        &real_server_ips,
        &ports,
        &clients,
        &inferred_lines,
        args.save.as_deref(),
    );
    match print {
        Some(true) => print!("{report}"),
        Some(false) => eprint!("{report}"),
        None => {}
    }
    Ok(sc)
}

fn connect(args: &CloudArgs) -> Result<(openstack::CloudConfig, NeutronClient)> {
    let env = openstack::config::process_env();
    let files = openstack::config::find_files(&env)?;
    let cfg = openstack::config::resolve(args.os_cloud.as_deref(), &files, &env)?;
    let progress = Progress::new(&cfg.name, Progress::stderr_is_terminal());
    let client = NeutronClient::connect(&cfg, progress, args.page_size)?;
    Ok((cfg, client))
}

/// `--fix --fix-format F`: the fix alone on stdout.
pub fn print_fix_format(
    sc: &Scenario,
    fix: &check::fix::FixReport,
    format: plan::FixFormat,
    cloud: Option<&str>,
) {
    let changes: Vec<check::fix::Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
    print!("{}", plan::render_fix_as(sc, &changes, format, cloud));
}

/// `check --os-cloud ... --fix --apply`: plan, confirm, apply, re-read, re-check.
/// Exit 0 only when the cloud, read again, passes.
pub fn apply_fix(
    args: &CloudArgs,
    driver: Option<&str>,
    sc: &Scenario,
    report: &check::CheckReport,
    fix: &check::fix::FixReport,
    json: bool,
    verbose: bool,
) -> Result<std::process::ExitCode> {
    use std::io::IsTerminal;
    use std::process::ExitCode;
    let mut text = String::new();
    if !json {
        text += &check::report::render_check(report, verbose);
        text += &check::report::render_fix(fix);
        text.push('\n');
    }
    let changes: Vec<check::fix::Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
    let the_plan = plan::plan(sc, &changes);
    let cloud_name = args
        .os_cloud
        .clone()
        .or_else(|| std::env::var("OS_CLOUD").ok())
        .unwrap_or_else(|| "envvars".into());
    text += &plan::render_plan(sc, &the_plan, &cloud_name);
    let say = |t: &str| {
        if json {
            eprint!("{t}");
        } else {
            print!("{t}");
        }
    };
    say(&text);
    if the_plan.steps.is_empty() {
        say("Nothing to apply.\n");
        if json {
            let v = serde_json::json!({"passed": report.passed(), "check": report, "fix": fix,
                                       "apply": {"applied": [], "not_applied": []}});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        return Ok(if report.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "--apply changes the cloud and asks first, but stdin is not a terminal; \
                 review the plan above and pass --yes to apply it"
            );
        }
        eprint!(
            "Apply these {} step(s) to cloud \"{cloud_name}\"? [y/N] ",
            the_plan.steps.len()
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            eprintln!("vipwire: not applied (answer was not yes)");
            return Ok(ExitCode::from(1));
        }
    }
    let (cfg, mut client) = connect(args)?;
    let undo_path = args.undo_file.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("vipwire-undo-{}-{secs}.json", cfg.name))
    });
    let mut record = apply::UndoRecord {
        cloud: cfg.name.clone(),
        network_api: client.root().to_string(),
        ..apply::UndoRecord::default()
    };
    // Written before the first change: an unwritable path stops here.
    record
        .save(&undo_path)
        .context("the undo file (--undo-file), written before any change")?;
    let outcome = apply::apply(&mut client, &the_plan, &mut record, &undo_path);
    let mut o = String::from("\nApplying:\n");
    for l in &outcome.log {
        let _ = writeln!(o, "  {l}");
    }
    let undo_hint = format!(
        "Undo: vipwire check --os-cloud {} --undo {}\n",
        cfg.name,
        undo_path.display()
    );
    if let Some(err) = &outcome.error {
        let _ = writeln!(o, "\nFAILED: {err}");
        let _ = writeln!(o, "Applied ({}):", outcome.applied.len());
        for a in &outcome.applied {
            let _ = writeln!(o, "  {a}");
        }
        if outcome.applied.is_empty() {
            let _ = writeln!(o, "  (nothing)");
        }
        let _ = writeln!(o, "Not applied ({}):", outcome.not_applied.len());
        for a in &outcome.not_applied {
            let _ = writeln!(o, "  {a}");
        }
        o += &undo_hint;
        say(&o);
        if json {
            let v = serde_json::json!({"passed": false, "check": report, "fix": fix,
                                       "apply": outcome, "undo_file": undo_path});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        return Ok(ExitCode::from(1));
    }
    let _ = writeln!(
        o,
        "Applied {} step(s); undo record: {}",
        outcome.applied.len(),
        undo_path.display()
    );
    o += &undo_hint;
    say(&o);
    // Read everything again and check what the cloud now says.
    let again = CloudArgs {
        os_cloud: args.os_cloud.clone(),
        vip: args.vip,
        port: args.port.clone(),
        keepalived: args.keepalived.clone(),
        directors: args.directors.clone(),
        real_servers: args.real_servers.clone(),
        service: args.service.clone(),
        own_macs: args.own_macs.clone(),
        page_size: args.page_size,
        ..CloudArgs::default()
    };
    let after = read_scenario(&again, false, driver, None)?;
    let recheck = check::run(&after)?;
    let mut o = String::from("\nRe-check on the cloud as read back from the API:\n");
    o += &check::report::render_check(&recheck, verbose);
    let (passing, total) = recheck.tally();
    let _ = writeln!(
        o,
        "\nAfter applying: {} ({passing} of {total} flows pass, read back from the API)",
        if recheck.passed() { "PASS" } else { "FAIL" }
    );
    say(&o);
    if json {
        let v = serde_json::json!({"passed": recheck.passed(), "check": report, "fix": fix,
                                   "apply": outcome, "undo_file": undo_path,
                                   "recheck": recheck});
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(if recheck.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `check --os-cloud NAME --undo FILE`.
pub fn undo_cmd(args: &CloudArgs, path: &Path) -> Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let record: apply::UndoRecord = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a vipwire undo file", path.display()))?;
    let (cfg, mut client) = connect(args)?;
    if client.root() != record.network_api {
        eprintln!(
            "vipwire: warning: {} was written for {} (cloud \"{}\"); undoing through {} \
             (cloud \"{}\")",
            path.display(),
            record.network_api,
            record.cloud,
            client.root(),
            cfg.name
        );
    }
    let (done, failed) = apply::undo(&mut client, &record);
    println!("Undo of {} on cloud \"{}\":", path.display(), cfg.name);
    for d in &done {
        println!("  {d}");
    }
    for f in &failed {
        println!("  FAILED: {f}");
    }
    Ok(if failed.is_empty() {
        println!("Restored.");
        std::process::ExitCode::SUCCESS
    } else {
        println!("{} step(s) could not be undone (above).", failed.len());
        std::process::ExitCode::from(1)
    })
}

fn read_keepalived(paths: &[PathBuf]) -> Result<Vec<(PathBuf, lvs::keepalived::KeepalivedConfig)>> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let cfg = lvs::keepalived::parse_str_with(
            &text,
            &p.display().to_string(),
            abs.parent(),
            &lvs::keepalived::ParseOptions::check(None),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        out.push((abs, cfg));
    }
    Ok(out)
}

/// Directors: each keepalived.conf matched to a port holding the VIP, by
/// `unicast_src_ip` (high), by the port's name in the file name (medium), as the
/// one port left (medium), else in order (low). (Without keepalived.conf, see
/// [`infer`].)
fn match_directors(
    d: &Discovery,
    keepalived: &[(PathBuf, lvs::keepalived::KeepalivedConfig)],
    real_server_ips: &[IpAddr],
    own_macs: &[String],
) -> Vec<DirectorRole> {
    let ports = discover::ports_by_id(d);
    // A port that has the VIP as its fixed IP next to ports holding it as a
    // pair is the VIP's reservation (the usual way to keep Neutron from giving
    // the address away), not a director.
    let any_pair = d.holders.iter().any(|h| h.hold != Hold::FixedIp);
    let mut candidates: Vec<&Value> = d
        .holders
        .iter()
        .filter(|h| !(any_pair && h.hold == Hold::FixedIp))
        .filter(|h| h.fixed_ips.iter().all(|ip| !real_server_ips.contains(ip)))
        .filter_map(|h| ports.get(&h.port_id).copied())
        .collect();
    candidates.sort_by_key(|p| label(p));
    let mut out: Vec<DirectorRole> = Vec::new();
    let mut unmatched: Vec<&PathBuf> = Vec::new();
    for (path, cfg) in keepalived {
        let src: Vec<IpAddr> = cfg
            .vrrp_instances
            .iter()
            .filter_map(|i| i.unicast_src_ip)
            .collect();
        let stem = path
            .file_stem()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let free =
            |p: &&Value, out: &Vec<DirectorRole>| out.iter().all(|d| d.port_id != s(p, "id"));
        let by_ip = candidates
            .iter()
            .find(|p| free(p, &out) && port_ipv4s(p).iter().any(|ip| src.contains(ip)));
        let by_name = candidates
            .iter()
            .find(|p| free(p, &out) && !s(p, "name").is_empty() && stem.contains(s(p, "name")));
        // `director --cloud` on the director itself: its interface's MAC.
        let by_mac = candidates.iter().find(|p| {
            free(p, &out) && own_macs.contains(&s(p, "mac_address").to_ascii_lowercase())
        });
        let (port, confidence, how) = match (by_mac.or(by_ip), by_name) {
            (Some(p), _) if by_mac.is_some() => (
                p,
                Confidence::High,
                format!(
                    "its MAC {} is this host's VRRP interface's",
                    s(p, "mac_address")
                ),
            ),
            (Some(p), _) => (
                p,
                Confidence::High,
                "unicast_src_ip is its fixed IP".to_string(),
            ),
            (None, Some(p)) => (
                p,
                Confidence::Medium,
                format!("the file name \"{stem}\" names the port"),
            ),
            (None, None) => {
                unmatched.push(path);
                continue;
            }
        };
        out.push(DirectorRole {
            port_id: s(port, "id").into(),
            label: label(port),
            keepalived: Some(path.clone()),
            inferred_conf: None,
            confidence,
            how,
        });
    }
    let left: Vec<&Value> = candidates
        .iter()
        .filter(|p| out.iter().all(|d| d.port_id != s(p, "id")))
        .copied()
        .collect();
    let only_one = unmatched.len() == 1 && left.len() == 1;
    for (path, port) in unmatched.into_iter().zip(left) {
        out.push(DirectorRole {
            port_id: s(port, "id").into(),
            label: label(port),
            keepalived: Some(path.clone()),
            inferred_conf: None,
            confidence: if only_one {
                Confidence::Medium
            } else {
                Confidence::Low
            },
            how: if only_one {
                "the one port holding the VIP that is neither a real server nor matched".into()
            } else {
                "paired in order (no unicast_src_ip, no port name in the file name)".into()
            },
        });
    }
    out
}

/// A port label as a file name part (letters, digits, '-', '_', '.').
fn file_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn write_inputs(
    dir: &Path,
    client: &NeutronClient,
    found: &Discovery,
    backend: &BackendGuess,
    directors: &[DirectorRole],
    clients: &[&Value],
    copy_keepalived: bool,
    summary: &str,
    cfg: &openstack::CloudConfig,
) -> Result<PathBuf> {
    let api = dir.join("api");
    std::fs::create_dir_all(&api).with_context(|| format!("{}", api.display()))?;
    // An earlier --save into the same folder: its numbered answers go, so the
    // folder holds one reading only (nothing else is touched).
    for entry in std::fs::read_dir(&api)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let numbered = name.len() > 3
            && name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
            && name.as_bytes()[2] == b'-'
            && name.ends_with(".json");
        if numbered {
            std::fs::remove_file(entry.path())?;
        }
    }
    let mut neutron = Vec::new();
    let mut saved = Vec::new();
    for (i, r) in client.responses.iter().enumerate() {
        let name = format!("api/{:02}-{}.json", i + 1, r.resource);
        let text = serde_json::to_string_pretty(&r.body)? + "\n";
        std::fs::write(dir.join(&name), text).with_context(|| name.clone())?;
        if discover::loader_key(&r.resource).is_some() {
            neutron.push(name.clone());
        }
        saved.push(serde_json::json!({"file": name, "resource": r.resource, "query": r.query}));
    }
    let mut out_directors = Vec::new();
    for d in directors {
        let keepalived = match &d.keepalived {
            None => match &d.inferred_conf {
                Some(text) => {
                    let kdir = dir.join("keepalived");
                    std::fs::create_dir_all(&kdir)?;
                    let name = format!("keepalived/inferred-{}.conf", file_safe(&d.label));
                    std::fs::write(dir.join(&name), text).with_context(|| name.clone())?;
                    Some(name)
                }
                None => None,
            },
            Some(p) if copy_keepalived => {
                let kdir = dir.join("keepalived");
                std::fs::create_dir_all(&kdir)?;
                let base = p
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_else(|| "keepalived.conf".into());
                let mut name = format!("keepalived/{base}");
                if out_directors
                    .iter()
                    .any(|o: &DirectorOut| o.keepalived.as_deref() == Some(name.as_str()))
                {
                    name = format!("keepalived/{}-{base}", d.label);
                }
                std::fs::copy(p, dir.join(&name)).with_context(|| format!("{}", p.display()))?;
                Some(name)
            }
            Some(p) => Some(p.display().to_string()),
        };
        out_directors.push(DirectorOut {
            port: d.port_id.clone(),
            keepalived,
        });
    }
    let scenario = ScenarioOut {
        neutron,
        firewall_driver: backend.driver.clone(),
        directors: out_directors,
        clients: clients
            .iter()
            .map(|p| ClientOut {
                port: s(p, "id").to_string(),
            })
            .collect(),
    };
    let yaml = serde_saphyr::to_string(&scenario)?;
    let head = format!(
        "# Written by `vipwire check --os-cloud {} --vip ...` from the API responses in api/.\n\
         # Replay offline: vipwire check {}\n",
        cfg.name,
        dir.join("scenario.yaml").display()
    );
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, head + &yaml).with_context(|| format!("{}", path.display()))?;
    let discovery = serde_json::json!({
        "cloud": cfg.name,
        "config_source": cfg.source,
        "network_api": client.root(),
        "endpoint_from": client.endpoint_source,
        "summary": summary,
        "holders": found.holders,
        "firewall_driver": backend,
        "directors": directors.iter().map(|d| serde_json::json!({
            "port": d.port_id, "label": d.label,
            "keepalived": d.keepalived.as_ref().map(|p| p.display().to_string()),
            "keepalived_inferred": d.inferred_conf.is_some(),
            "confidence": d.confidence, "how": d.how})).collect::<Vec<_>>(),
        "notes": found.notes,
        "responses": saved,
        "calls": client.calls(),
    });
    std::fs::write(
        dir.join("discovery.json"),
        serde_json::to_string_pretty(&openstack::neutron::strip_secrets(discovery))? + "\n",
    )?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn render_discovery(
    cfg: &openstack::CloudConfig,
    client: &NeutronClient,
    found: &Discovery,
    vip: IpAddr,
    backend: &BackendGuess,
    directors: &[DirectorRole],
    real_server_ips: &[IpAddr],
    ports: &std::collections::BTreeMap<String, &Value>,
    clients: &[&Value],
    inferred: &[String],
    saved: Option<&Path>,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Cloud \"{}\" ({}): Neutron at {} (from the {})",
        cfg.name,
        cfg.source,
        client.root(),
        client.endpoint_source
    );
    let nets: Vec<String> = found
        .network_ids
        .iter()
        .map(|id| {
            let name = found
                .networks
                .iter()
                .find(|n| s(n, "id") == id)
                .map(|n| s(n, "name"))
                .unwrap_or("");
            let short: String = id.chars().take(8).collect();
            if name.is_empty() {
                short
            } else {
                format!("{name} ({short})")
            }
        })
        .collect();
    let holders: Vec<String> = found
        .holders
        .iter()
        .map(|h| {
            let how = match &h.hold {
                Hold::FixedIp => "fixed IP".to_string(),
                Hold::Pair => "pair".to_string(),
                Hold::PairCidr(c) => format!("pair {c}"),
            };
            let name = ports.get(&h.port_id).map(|p| label(p)).unwrap_or_default();
            format!("{name} ({how})")
        })
        .collect();
    let _ = writeln!(
        o,
        "VIP {vip} on network {}: held by {} port(s): {}",
        nets.join(", "),
        found.holders.len(),
        holders.join(", ")
    );
    let _ = writeln!(
        o,
        "Firewall backend: {} ({} confidence: {})",
        backend.driver,
        backend.confidence.word(),
        backend.how
    );
    let _ = writeln!(o, "Directors:");
    for d in directors {
        let conf = match (&d.keepalived, &d.inferred_conf) {
            (Some(p), _) => format!(" <- {}", p.display()),
            (None, Some(_)) => " <- keepalived.conf inferred (below)".to_string(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            o,
            "  {}{conf} ({} confidence: {})",
            d.label,
            d.confidence.word(),
            d.how
        );
    }
    if !real_server_ips.is_empty() {
        let rs: Vec<String> = real_server_ips
            .iter()
            .map(|ip| {
                let port = found
                    .ports
                    .iter()
                    .find(|p| port_ipv4s(p).contains(ip))
                    .map(label)
                    .unwrap_or_else(|| "no port".into());
                format!("{port} {ip}")
            })
            .collect();
        let _ = writeln!(
            o,
            "Real servers ({}): {}",
            if inferred.is_empty() {
                "keepalived real_server"
            } else {
                "inferred"
            },
            rs.join(", ")
        );
    }
    for line in inferred {
        let _ = writeln!(o, "{line}");
    }
    let cl: Vec<String> = clients.iter().map(|p| label(p)).collect();
    let _ = writeln!(
        o,
        "Clients: {}",
        if cl.is_empty() {
            "none found on the VIP's network (the check infers them)".to_string()
        } else {
            format!("{} (the other ports on the VIP's network)", cl.join(", "))
        }
    );
    let routers: Vec<String> = found
        .routers
        .iter()
        .map(|r| {
            let n = s(r, "name");
            if n.is_empty() {
                s(r, "id").chars().take(8).collect()
            } else {
                n.to_string()
            }
        })
        .collect();
    let fips: Vec<String> = found
        .floating_ips
        .iter()
        .map(|f| {
            format!(
                "{} -> {}",
                s(f, "floating_ip_address"),
                s(f, "fixed_ip_address")
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Routers: {}; floating IPs on the VIP's ports: {}",
        if routers.is_empty() {
            "none".into()
        } else {
            routers.join(", ")
        },
        if fips.is_empty() {
            "none".into()
        } else {
            fips.join(", ")
        }
    );
    for n in &found.notes {
        let _ = writeln!(o, "Note: {n}");
    }
    if let Some(dir) = saved {
        let _ = writeln!(
            o,
            "Saved: {} (replay offline: vipwire check {})",
            dir.display(),
            dir.join("scenario.yaml").display()
        );
    }
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use openstack::discover::Holder;
    use serde_json::json;

    fn port(id: &str, name: &str, ip: &str) -> Value {
        json!({"id": id, "name": name, "fixed_ips": [{"ip_address": ip}]})
    }

    fn found() -> Discovery {
        let ports = vec![
            port("a", "lb-west", "203.0.113.5"),
            port("b", "lb-east", "203.0.113.7"),
            port("c", "web-1", "203.0.113.8"),
        ];
        let holders = ports
            .iter()
            .map(|p| Holder {
                port_id: s(p, "id").into(),
                name: s(p, "name").into(),
                hold: Hold::Pair,
                fixed_ips: port_ipv4s(p),
            })
            .collect();
        Discovery {
            ports,
            holders,
            ..Discovery::default()
        }
    }

    fn conf(name: &str, unicast_src: Option<&str>) -> (PathBuf, lvs::keepalived::KeepalivedConfig) {
        let src = unicast_src
            .map(|ip| {
                format!(
                    "    unicast_src_ip {ip}\n    unicast_peer {{\n        203.0.113.9\n    }}\n"
                )
            })
            .unwrap_or_default();
        let text = format!(
            "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority 100\n{src}    virtual_ipaddress {{\n        203.0.113.241\n    }}\n}}\n\
             virtual_server 203.0.113.241 80 {{\n    lb_kind DR\n    protocol TCP\n    \
             real_server 203.0.113.8 80 {{\n        weight 1\n    }}\n}}\n"
        );
        let cfg = lvs::keepalived::parse_str(&text, name, None).unwrap();
        (PathBuf::from(name), cfg)
    }

    fn rs() -> Vec<IpAddr> {
        vec!["203.0.113.8".parse().unwrap()]
    }

    #[test]
    fn by_unicast_src_ip_then_the_one_left() {
        let d = found();
        let k = [conf("a.conf", Some("203.0.113.7")), conf("b.conf", None)];
        let m = match_directors(&d, &k, &rs(), &[]);
        let got: Vec<(&str, Confidence)> =
            m.iter().map(|d| (d.label.as_str(), d.confidence)).collect();
        // The real server is never a director.
        assert_eq!(
            got,
            [
                ("lb-east", Confidence::High),
                ("lb-west", Confidence::Medium)
            ]
        );
        assert_eq!(m[0].keepalived, Some(PathBuf::from("a.conf")));
    }

    #[test]
    fn by_name_in_the_file_name_else_in_order() {
        let d = found();
        let k = [conf("keepalived-lb-west.conf", None), conf("x.conf", None)];
        let m = match_directors(&d, &k, &rs(), &[]);
        assert_eq!(m[0].label, "lb-west");
        assert_eq!(m[0].confidence, Confidence::Medium);
        assert_eq!(m[1].label, "lb-east");
        let k = [conf("x.conf", None), conf("y.conf", None)];
        let m = match_directors(&d, &k, &rs(), &[]);
        assert!(m.iter().all(|d| d.confidence == Confidence::Low));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn on_the_director_its_interface_mac_names_its_port() {
        let mut d = found();
        for (p, mac) in d
            .ports
            .iter_mut()
            .zip(["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"])
        {
            p["mac_address"] = json!(mac);
        }
        let k = [conf("keepalived.conf", None)];
        let m = match_directors(&d, &k, &rs(), &["fa:16:3e:00:00:02".into()]);
        assert_eq!(m[0].label, "lb-east");
        assert_eq!(m[0].confidence, Confidence::High);
        assert!(m[0].how.contains("fa:16:3e:00:00:02"), "{}", m[0].how);
        // Without it, the file is paired in order (low).
        let m = match_directors(&d, &k, &rs(), &[]);
        assert_eq!(m[0].confidence, Confidence::Low);
    }

    #[test]
    fn scenario_out_is_the_scenario_file_shape() {
        let out = ScenarioOut {
            neutron: vec!["api/01-ports.json".into()],
            firewall_driver: "iptables_hybrid".into(),
            directors: vec![DirectorOut {
                port: "a".into(),
                keepalived: Some("keepalived/a.conf".into()),
            }],
            clients: vec![],
        };
        let y = serde_saphyr::to_string(&out).unwrap();
        assert!(y.contains("neutron:\n- api/01-ports.json\n"), "{y}");
        assert!(
            y.contains("directors:\n- port: a\n  keepalived: keepalived/a.conf\n"),
            "{y}"
        );
        assert!(!y.contains("clients"), "{y}");
    }
}
