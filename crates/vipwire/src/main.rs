//! vipwire command line: the edge where files come in and reports go out.
//!
//! Exit codes (stable, for CI pipelines): 0 = every flow passes / success,
//! 1 = some flow is dropped (check) or some packet dropped (trace --fail-on-drop),
//! 2 = bad input or usage.

use anyhow::{Context, Result};
use check::fix::find_fix;
use check::report::{render_check, render_fix};
use check::{CheckError, Scenario};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

mod cloud_cmd;
mod director_cmd;

#[derive(Parser)]
#[command(
    name = "vipwire",
    version,
    about = "Make VIP load balancing (LVS DR + keepalived VRRP) work on OpenStack, and prove it",
    long_about = "vipwire models Neutron's port security (iptables_hybrid) and the kernel's \
                  netfilter and conntrack, moves every packet of a load balancer's life through \
                  them, names the rule that drops each one and finds the smallest persistent \
                  Neutron change that fixes it.\n\nExit codes: 0 all pass, 1 something is \
                  dropped, 2 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// `check --format`: the tables and JSON, or the drawn report (crates/report).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Json,
    /// The topology picture alone, drops in red with rule and reason.
    Svg,
    /// Graphviz text of the same picture (`| dot -Tpng`).
    Dot,
    /// One self-contained page: picture, drops with rule and reason, every
    /// flow's path, the fix before and after (with --fix).
    Html,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FamilyArg {
    #[value(name = "4")]
    V4,
    #[value(name = "6")]
    V6,
}

#[derive(Subcommand)]
enum Command {
    /// Check a load balancer scenario (default: the built-in field-report scenario).
    Check {
        /// scenario.yaml; omit for the built-in example (examples/lvs-dr).
        scenario: Option<PathBuf>,
        /// text, json, or a drawn report: html (one self-contained page: picture,
        /// drops, paths, fix before/after), svg (the topology picture alone) or dot
        /// (Graphviz text). docs/report.md.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
        /// Propose the smallest persistent Neutron change and re-check with it applied.
        #[arg(long)]
        fix: bool,
        /// Print every packet's path through the rules.
        #[arg(long, short)]
        verbose: bool,
        /// Also write every packet the check sent, in order, to FILE as pcapng
        /// (opens in tcpdump and Wireshark); each dropped packet carries a comment
        /// starting "DROPPED" with the rule and the reason
        /// (Wireshark: frame.comment contains "DROPPED").
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// The cloud's firewall backend, overriding the scenario's
        /// `firewall_driver` (iptables_hybrid, ovn).
        #[arg(long)]
        driver: Option<String>,
        /// Read the scenario from a running cloud (--os-cloud, --vip, ...; docs/cloud.md).
        #[command(flatten)]
        cloud: cloud_cmd::CloudArgs,
    },
    /// Print what Neutron programs: iptables_hybrid's rules on a host, or
    /// ML2/OVN's Northbound rows (`--driver ovn`) and logical flows (`--lflows`).
    Rules {
        /// Neutron JSON (API responses or openstack CLI output; repeat to merge several
        /// files, docs/inputs.md). Omit for the built-in example.
        #[arg(long)]
        neutron: Vec<PathBuf>,
        /// Compute host (binding:host_id); iptables_hybrid only.
        #[arg(long, required_unless_present = "driver")]
        host: Option<String>,
        /// The firewall backend: iptables_hybrid (default) or ovn.
        #[arg(long)]
        driver: Option<String>,
        /// ovn: print the logical flows northd derives (for the stages vipwire
        /// models), like `ovn-sbctl lflow-list`.
        #[arg(long)]
        lflows: bool,
        /// ovn: text (default) or json (the normalised NB document).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// 4: iptables-save (default); 6: ip6tables-save.
        #[arg(long, value_enum, default_value = "4")]
        family: FamilyArg,
        /// Print `ipset save` output instead of iptables rules.
        #[arg(long)]
        ipsets: bool,
        /// Write iptables.txt, ip6tables.txt and ipset.txt into this folder instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Trace packets through an iptables-save ruleset (`--rules`), or through a whole
    /// cloud's firewall backend (`--neutron`: frames sent by ports, delivered by MAC).
    Trace {
        /// iptables-save or ip6tables-save text (both may be concatenated).
        #[arg(long, required_unless_present = "neutron", conflicts_with = "neutron")]
        rules: Option<PathBuf>,
        /// Neutron JSON of the cloud (repeat to merge files); frames name their
        /// sending port with `from=` (docs/trace-packets.md, "Cloud-level trace").
        #[arg(long)]
        neutron: Vec<PathBuf>,
        /// The cloud's firewall driver.
        #[arg(long, default_value = "iptables_hybrid")]
        driver: String,
        /// `ipset save` text.
        #[arg(long)]
        ipsets: Option<PathBuf>,
        /// One packet per line as key=value fields (docs/trace-packets.md).
        #[arg(long)]
        packets: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 1 when any packet is dropped.
        #[arg(long)]
        fail_on_drop: bool,
    },
    /// Run the director (VRRP + DR/NAT/TUN forwarding) from a keepalived.conf.
    Director(director_cmd::DirectorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Like other Unix filters: a closed pipe (`vipwire check -v | head -1`) ends
    // the report commands quietly by SIGPIPE instead of a panic in println!.
    // Not the director: its health checks write to sockets a peer may close.
    if !matches!(cli.command, Command::Director(_)) {
        // SAFETY: restores a signal's default disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vipwire: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))
}

/// One cloud check as `check --os-cloud NAME --vip IP --keepalived FILE --fix
/// [--apply --yes]` runs it (`director --cloud`): the report and, when it fails,
/// the fix as commands, or applied when `cloud.apply`. Exit 0 when it passes.
pub(crate) fn cloud_check_fix(cloud: &cloud_cmd::CloudArgs) -> Result<ExitCode> {
    let sc = cloud_cmd::scenario(cloud, false, None, true)?;
    let report = check::run(&sc)?;
    if report.passed() {
        print!("{}", render_check(&report, false));
        return Ok(ExitCode::SUCCESS);
    }
    let fixed = find_fix(&sc, &report)?;
    if cloud.apply {
        return cloud_cmd::apply_fix(cloud, None, &sc, &report, &fixed, false, false);
    }
    print!("{}{}", render_check(&report, false), render_fix(&fixed));
    Ok(ExitCode::from(1))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Check {
            scenario,
            format,
            fix,
            verbose,
            pcap,
            driver,
            cloud,
        } => {
            if let Some(undo) = &cloud.undo {
                return cloud_cmd::undo_cmd(&cloud, undo);
            }
            if (cloud.apply || cloud.fix_format.is_some()) && !fix {
                anyhow::bail!("--apply and --fix-format go with --fix");
            }
            if cloud.apply && !cloud.wanted() {
                anyhow::bail!("--apply changes a running cloud: give --os-cloud NAME and --vip IP");
            }
            let mut sc = if cloud.wanted() {
                // --fix-format keeps stdout for the fix alone.
                let text = format == CheckFormat::Text && cloud.fix_format.is_none();
                cloud_cmd::scenario(&cloud, scenario.is_some(), driver.as_deref(), text)?
            } else {
                match &scenario {
                    Some(p) => Scenario::load(p),
                    None => Scenario::builtin(),
                }
                .map_err(input_error)?
            };
            if let Some(d) = &driver {
                sc.driver = parse_driver(d)?;
            }
            let report = check::run(&sc)?;
            let fixed = if fix {
                Some(find_fix(&sc, &report)?)
            } else {
                None
            };
            if let Some(path) = &pcap {
                std::fs::write(path, report::pcapng::write(&sc, &report))
                    .with_context(|| format!("--pcap {}", path.display()))?;
            }
            if let Some(f) = fixed.as_ref().filter(|_| cloud.apply) {
                let json = format == CheckFormat::Json;
                return cloud_cmd::apply_fix(
                    &cloud,
                    driver.as_deref(),
                    &sc,
                    &report,
                    f,
                    json,
                    verbose,
                );
            }
            if let (Some(ff), Some(f)) = (cloud.fix_format, &fixed) {
                // stdout holds the fix alone; the report goes to stderr.
                eprint!("{}{}", render_check(&report, verbose), render_fix(f));
                cloud_cmd::print_fix_format(&sc, f, ff, cloud.os_cloud.as_deref());
                return Ok(if f.recheck.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                });
            }
            match format {
                CheckFormat::Svg | CheckFormat::Dot | CheckFormat::Html => {
                    let kind = match format {
                        CheckFormat::Svg => report::Kind::Svg,
                        CheckFormat::Dot => report::Kind::Dot,
                        _ => report::Kind::Html,
                    };
                    let input = report::Input {
                        scenario: &sc,
                        check: &report,
                        fix: fixed.as_ref(),
                    };
                    print!("{}", report::render(kind, input));
                }
                CheckFormat::Json => {
                    let v = serde_json::json!({
                        "passed": report.passed(),
                        "check": report,
                        "fix": fixed,
                    });
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                CheckFormat::Text => {
                    print!("{}", render_check(&report, verbose));
                    if let Some(f) = &fixed {
                        print!("{}", render_fix(f));
                    }
                }
            }
            let ok = match &fixed {
                Some(f) => f.recheck.passed(),
                None => report.passed(),
            };
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Rules {
            neutron,
            host,
            driver,
            lflows,
            format,
            family,
            ipsets,
            out,
        } => {
            let cloud = if neutron.is_empty() {
                neutron::load::load_json(
                    check::scenario::builtin::NEUTRON,
                    "examples/lvs-dr/neutron.json",
                )?
            } else {
                let mut inputs = Vec::new();
                for p in &neutron {
                    inputs.push((read(p)?, p.display().to_string()));
                }
                neutron::load::load_files(&inputs)?
            };
            let driver = driver
                .as_deref()
                .map(parse_driver)
                .transpose()?
                .unwrap_or_default();
            if driver == neutron::firewall::FirewallDriver::Ovn {
                return ovn_rules(&cloud, lflows, format == Format::Json);
            }
            let host = host.unwrap_or_default();
            if !cloud.ports.iter().any(|p| p.host_id == host) {
                // Like the agent on such a host: nothing is programmed.
                eprintln!(
                    "vipwire: warning: no port is bound to host \"{host}\" (hosts: {}); \
                     Neutron programs no rules there",
                    cloud.hosts().join(", ")
                );
            }
            let rules = neutron::firewall::iptables_hybrid::render_host(&cloud, &host)?;
            if let Some(dir) = out {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("iptables.txt"), &rules.iptables_save)?;
                std::fs::write(dir.join("ip6tables.txt"), &rules.ip6tables_save)?;
                std::fs::write(dir.join("ipset.txt"), &rules.ipset_save)?;
            } else if ipsets {
                print!("{}", rules.ipset_save);
            } else if family == FamilyArg::V6 {
                print!("{}", rules.ip6tables_save);
            } else {
                print!("{}", rules.iptables_save);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace {
            rules,
            neutron,
            driver,
            ipsets,
            packets,
            format,
            fail_on_drop,
        } => {
            let Some(rules) = rules else {
                return cloud_trace(&neutron, &driver, &packets, format, fail_on_drop);
            };
            let rules_text = read(&rules)?;
            let ipsets_text = ipsets.as_ref().map(read).transpose()?;
            let packets_text = read(&packets)?;
            let traced =
                netfilter::trace_packets(&rules_text, ipsets_text.as_deref(), &packets_text)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut dropped = false;
            for (i, (pkt, trace)) in traced.iter().enumerate() {
                dropped |= trace.verdict == packet::Verdict::Drop;
                match format {
                    Format::Json => {
                        let v = serde_json::json!({
                            "packet": i + 1,
                            "input": pkt.to_kv(),
                            "verdict": trace.verdict,
                            "ctstate": trace.ctstate,
                            "zone": trace.zone,
                            "path": trace.path,
                            "unknown": trace.unknown,
                        });
                        println!("{}", serde_json::to_string(&v)?);
                    }
                    Format::Text => {
                        println!("packet {}: {}", i + 1, pkt.to_kv());
                        print!("{}", netfilter::format_trace(trace));
                    }
                }
            }
            Ok(if dropped && fail_on_drop {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Director(args) => director_cmd::run(args),
    }
}

fn parse_driver(name: &str) -> Result<neutron::firewall::FirewallDriver> {
    neutron::firewall::FirewallDriver::parse(name).ok_or_else(|| {
        anyhow::anyhow!(
            "--driver {name}: not supported yet (supported: iptables_hybrid, ovn; openvswitch \
             is planned)"
        )
    })
}

/// `vipwire rules --driver ovn`: the Northbound rows, or the logical flows.
fn ovn_rules(cloud: &neutron::model::Cloud, lflows: bool, json: bool) -> Result<ExitCode> {
    let nb = neutron::firewall::ovn::Northbound::of(cloud);
    if lflows {
        print!("{}", fabric::ovn::lflows::render(cloud, &nb));
    } else if json {
        let doc = neutron::firewall::ovn::northbound_json(&nb);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", neutron::firewall::ovn::northbound_text(&nb));
    }
    Ok(ExitCode::SUCCESS)
}

/// `vipwire trace --neutron`: frames sent by ports through the cloud's backend.
fn cloud_trace(
    neutron: &[PathBuf],
    driver: &str,
    packets: &PathBuf,
    format: Format,
    fail_on_drop: bool,
) -> Result<ExitCode> {
    let driver = parse_driver(driver)?;
    let mut inputs = Vec::new();
    for p in neutron {
        inputs.push((read(p)?, p.display().to_string()));
    }
    let cloud = neutron::load::load_files(&inputs)?;
    let sends = fabric::deliver::parse_sends(&cloud, &read(packets)?)
        .map_err(|e| anyhow::anyhow!("{}:{e}", packets.display()))?;
    let mut backend = fabric::build(&cloud, driver)?;
    let deliveries = fabric::deliver::deliver_all(&cloud, backend.as_mut(), &sends);
    let mut dropped = false;
    for (i, (send, d)) in sends.iter().zip(&deliveries).enumerate() {
        dropped |= d.drop.is_some();
        match format {
            Format::Json => {
                let mut v = serde_json::to_value(d)?;
                v["packet"] = (i + 1).into();
                v["line"] = send.line.into();
                println!("{}", serde_json::to_string(&v)?);
            }
            Format::Text => {
                let verdict = match (&d.drop, d.to.is_empty()) {
                    (None, _) if d.answered_for.is_some() => format!(
                        "ANSWERED by OVN's responder for {} (no port receives the request)",
                        d.answered_for.as_deref().unwrap_or_default()
                    ),
                    (None, _) => format!("DELIVERED to {}", d.to.join(", ")),
                    (Some(x), true) => format!("DROPPED: {}", x.why),
                    (Some(x), false) => format!(
                        "DELIVERED to {}; DROPPED at {}: {}",
                        d.to.join(", "),
                        x.port,
                        x.why
                    ),
                };
                println!(
                    "packet {} (line {}) from {}: {verdict}",
                    i + 1,
                    send.line,
                    d.from
                );
                if let Some(x) = &d.drop {
                    if !x.rule.is_empty() {
                        println!("  at {} {:?} on {}: {}", x.port, x.side, x.host, x.place);
                        println!("  rule: {}", x.rule);
                    }
                }
                for hop in &d.path {
                    println!("  {:?} of {} on {}:", hop.side, hop.port_id, hop.host);
                    for line in netfilter::format_trace(&hop.trace).lines() {
                        println!("    {line}");
                    }
                }
            }
        }
    }
    Ok(if dropped && fail_on_drop {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn input_error(e: CheckError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
