//! `vipwire director`: run, validate or inspect the director (keepalived-compatible).
//!
//! - `vipwire director -f FILE [--vrrp-only]`: foreground, like
//!   `keepalived --dont-fork --log-console`; SIGTERM/SIGINT stop it cleanly.
//! - `vipwire director -t -f FILE`: validate, like `keepalived -t`.
//! - `vipwire director status [--socket PATH] [--format json]`.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DirectorArgs {
    #[command(subcommand)]
    pub command: Option<DirectorCommand>,
    /// keepalived.conf to run.
    #[arg(short = 'f', long = "use-file")]
    pub file: Option<PathBuf>,
    /// Validate the configuration and exit, like `keepalived -t`.
    #[arg(short = 't', long = "config-test")]
    pub test: bool,
    /// Run VRRP only: no data plane, no health checks (like `keepalived --vrrp`).
    #[arg(long)]
    pub vrrp_only: bool,
    /// VRRP is run by another program (e.g. `keepalived --vrrp`): do not run
    /// ours; forward while a VIP of the vrrp_instance is on the interface.
    #[arg(long, conflicts_with = "vrrp_only")]
    pub external_vrrp: bool,
    /// Control socket for `vipwire director status`.
    #[arg(long, default_value = director::control::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Packet I/O: auto = AF_XDP where the interface allows, else TPACKET_V3;
    /// xdp-fast = AF_XDP plus the XDP DR fast path (established DR
    /// connections forwarded by XDP_TX from a connection map).
    #[arg(long, value_enum, default_value = "auto")]
    pub io: IoArg,
    /// Interface for the data plane (default: the first vrrp_instance's).
    #[arg(long)]
    pub interface: Option<String>,
    /// Check this director's Neutron prerequisites on this cloud of clouds.yaml
    /// at start: for each VIP of the vrrp_instances, what `vipwire check
    /// --os-cloud NAME --vip VIP --keepalived FILE --fix` says (docs/cloud.md).
    #[arg(long, value_name = "NAME")]
    pub cloud: Option<String>,
    /// With --cloud: apply the fix through the API (revision-safe, as
    /// `check --fix --apply --yes`), then re-read and re-check.
    #[arg(long, requires = "cloud")]
    pub apply_cloud: bool,
    /// With --cloud: check again every S seconds while the director runs (it
    /// also checks again on every VRRP state change).
    #[arg(long, value_name = "S", requires = "cloud")]
    pub cloud_interval: Option<u64>,
}

#[derive(Subcommand)]
pub enum DirectorCommand {
    /// Show a running director's VRRP state, services and real servers.
    Status {
        #[arg(long, default_value = director::control::DEFAULT_SOCKET)]
        socket: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum IoArg {
    Auto,
    Xdp,
    XdpFast,
    Packet,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
}

pub fn run(args: DirectorArgs) -> anyhow::Result<ExitCode> {
    if let Some(DirectorCommand::Status { socket, format }) = args.command {
        let st = director::control::query(&socket).map_err(|e| anyhow::anyhow!("{e}"))?;
        match format {
            StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&st)?),
            StatusFormat::Text => print!("{}", st.to_text()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(file) = args.file else {
        anyhow::bail!("director: give a keepalived.conf with -f");
    };
    let cfg = lvs::keepalived::parse_file(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    if args.test {
        // The file's errors plus keepalived -t's host checks (interfaces,
        // script users and script security: exit 6 like keepalived).
        let v = director::config_test::config_test(&cfg);
        for e in &v.errors {
            eprintln!("config error: {e}");
        }
        if let Some(s) = &v.security {
            eprintln!("{s}");
        }
        let code = v.exit_code();
        // With --cloud, -t also runs the cloud checks once (exit 1 when one
        // fails and the file is fine).
        if let Some(cloud) = &args.cloud {
            let checks = guard_args(&cfg, &file, cloud, args.apply_cloud);
            if !cloud_guard(&checks) && code == 0 {
                return Ok(ExitCode::from(1));
            }
        }
        return Ok(ExitCode::from(code));
    }
    for e in &cfg.config_errors {
        eprintln!("config error (running with keepalived's correction): {e}");
    }
    if let Some(cloud) = &args.cloud {
        let checks = guard_args(&cfg, &file, cloud, args.apply_cloud);
        if checks.is_empty() {
            eprintln!(
                "director: --cloud {cloud}: no virtual_ipaddress in {}: nothing to check",
                file.display()
            );
        }
        cloud_guard(&checks);
        // Again on every VRRP state change (read from our own control socket
        // once a second) and every --cloud-interval seconds.
        let every = args
            .cloud_interval
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs);
        let socket = args.socket.clone();
        std::thread::spawn(move || {
            let mut seen: Option<Vec<String>> = None;
            let mut last = std::time::Instant::now();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = director::control::query(&socket)
                    .ok()
                    .map(|st| vrrp_states(&st));
                if let Some(why) =
                    recheck_due(seen.as_deref(), now.as_deref(), last.elapsed(), every)
                {
                    eprintln!("director: cloud check again: {why}");
                    cloud_guard(&checks);
                    last = std::time::Instant::now();
                }
                if now.is_some() {
                    seen = now;
                }
            }
        });
    }
    let opts = director::RunOptions {
        socket: args.socket,
        interface: args.interface,
        vrrp_only: args.vrrp_only,
        external_vrrp: args.external_vrrp,
        io: match args.io {
            IoArg::Auto => director::IoMode::Auto,
            IoArg::Xdp => director::IoMode::Xdp,
            IoArg::XdpFast => director::IoMode::XdpFast,
            IoArg::Packet => director::IoMode::Packet,
        },
    };
    director::run(cfg, opts).map_err(|e| anyhow::anyhow!("director: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The cloud checks `director --cloud` runs: one per distinct VIP address of
/// the vrrp_instances, each `check --os-cloud CLOUD --vip VIP --keepalived FILE
/// --fix [--apply --yes]`.
fn guard_args(
    cfg: &lvs::keepalived::KeepalivedConfig,
    file: &std::path::Path,
    cloud: &str,
    apply: bool,
) -> Vec<crate::cloud_cmd::CloudArgs> {
    let mut vips: Vec<std::net::IpAddr> = Vec::new();
    for inst in &cfg.vrrp_instances {
        for net in &inst.virtual_ipaddresses {
            if !vips.contains(&net.addr()) {
                vips.push(net.addr());
            }
        }
    }
    // The director's own port is the one with its VRRP interface's MAC.
    let mut own_macs: Vec<String> = Vec::new();
    for inst in &cfg.vrrp_instances {
        let path = format!("/sys/class/net/{}/address", inst.interface);
        if let Ok(mac) = std::fs::read_to_string(path) {
            let mac = mac.trim().to_ascii_lowercase();
            if !mac.is_empty() && !own_macs.contains(&mac) {
                own_macs.push(mac);
            }
        }
    }
    vips.into_iter()
        .map(|vip| crate::cloud_cmd::CloudArgs {
            own_macs: own_macs.clone(),
            os_cloud: Some(cloud.to_string()),
            vip: Some(vip),
            keepalived: vec![file.to_path_buf()],
            page_size: 500,
            apply,
            yes: apply,
            ..Default::default()
        })
        .collect()
}

/// Runs each check and logs its verdict; a failing or unreadable cloud is
/// logged, never fatal to the director. True when every check passed.
fn cloud_guard(checks: &[crate::cloud_cmd::CloudArgs]) -> bool {
    let mut all = true;
    let mut lines = Vec::new();
    for c in checks {
        let (cloud, vip) = (
            c.os_cloud.as_deref().unwrap_or(""),
            c.vip.map(|v| v.to_string()).unwrap_or_default(),
        );
        let verdict = match crate::cloud_check_fix(c) {
            Ok(code) if code == ExitCode::SUCCESS => "pass".to_string(),
            Ok(_) if c.apply => "FAIL (see the apply report above)".to_string(),
            Ok(_) => "FAIL: the fix above is missing (--apply-cloud applies it)".to_string(),
            Err(e) => format!("not checked: {e:#}"),
        };
        all &= verdict == "pass";
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        lines.push(format!(
            "unix time {at}: VIP {vip} on cloud \"{cloud}\": {verdict}"
        ));
        eprintln!("director: cloud check of VIP {vip} on cloud \"{cloud}\": {verdict}");
    }
    director::status::set_cloud_checks(lines);
    all
}

/// Each VRRP instance's name and state, as the status shows them.
fn vrrp_states(st: &director::status::Status) -> Vec<String> {
    st.vrrp
        .iter()
        .map(|v| format!("{} {}", v.instance, v.state))
        .collect()
}

/// Why the cloud checks are due again, if they are: a VRRP state changed
/// since the last reading (`seen`, None before the first), or `every` passed.
fn recheck_due(
    seen: Option<&[String]>,
    now: Option<&[String]>,
    since_last: std::time::Duration,
    every: Option<std::time::Duration>,
) -> Option<String> {
    if let (Some(a), Some(b)) = (seen, now) {
        if a != b {
            return Some(format!("VRRP {} -> {}", a.join(", "), b.join(", ")));
        }
    }
    match every {
        Some(e) if since_last >= e => Some(format!("every {} s", e.as_secs())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn recheck_due_on_vrrp_change_or_interval() {
        let backup = vec!["VI_1 BACKUP".to_string()];
        let master = vec!["VI_1 MASTER".to_string()];
        let s = Duration::from_secs;
        // First reading: nothing to compare with.
        assert_eq!(recheck_due(None, Some(&backup), s(1), None), None);
        assert_eq!(recheck_due(Some(&backup), Some(&backup), s(5), None), None);
        assert_eq!(
            recheck_due(Some(&backup), Some(&master), s(1), None).as_deref(),
            Some("VRRP VI_1 BACKUP -> VI_1 MASTER")
        );
        // The socket not answering is no change.
        assert_eq!(recheck_due(Some(&backup), None, s(1), None), None);
        assert_eq!(
            recheck_due(Some(&backup), Some(&backup), s(29), Some(s(30))),
            None
        );
        assert_eq!(
            recheck_due(Some(&backup), Some(&backup), s(30), Some(s(30))).as_deref(),
            Some("every 30 s")
        );
    }

    #[test]
    fn guard_args_one_check_per_distinct_vip_with_the_file() {
        let conf = "vrrp_instance A {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    virtual_ipaddress {\n        203.0.113.241\n        203.0.113.242/32\n    }\n}\nvrrp_instance B {\n    interface eth0\n    virtual_router_id 52\n    priority 100\n    virtual_ipaddress {\n        203.0.113.241\n    }\n}\n";
        let cfg = lvs::keepalived::parse_str(conf, "test.conf", None).expect("parses");
        let file = std::path::Path::new("/etc/keepalived/keepalived.conf");
        let a = guard_args(&cfg, file, "prod", true);
        let vips: Vec<String> = a.iter().map(|c| c.vip.unwrap().to_string()).collect();
        assert_eq!(vips, ["203.0.113.241", "203.0.113.242"]);
        for c in &a {
            assert_eq!(c.os_cloud.as_deref(), Some("prod"));
            assert_eq!(c.keepalived, [file.to_path_buf()]);
            assert!(c.apply && c.yes && c.page_size == 500);
            assert!(c.undo.is_none() && c.save.is_none() && c.fix_format.is_none());
        }
        let b = guard_args(&cfg, file, "prod", false);
        assert!(b.iter().all(|c| !c.apply && !c.yes));
    }
}
