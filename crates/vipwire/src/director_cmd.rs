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
    /// Packet I/O: auto = AF_XDP where the interface allows, else TPACKET_V3.
    #[arg(long, value_enum, default_value = "auto")]
    pub io: IoArg,
    /// Interface for the data plane (default: the first vrrp_instance's).
    #[arg(long)]
    pub interface: Option<String>,
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
        return Ok(ExitCode::from(v.exit_code()));
    }
    for e in &cfg.config_errors {
        eprintln!("config error (running with keepalived's correction): {e}");
    }
    let opts = director::RunOptions {
        socket: args.socket,
        interface: args.interface,
        vrrp_only: args.vrrp_only,
        external_vrrp: args.external_vrrp,
        io: match args.io {
            IoArg::Auto => director::IoMode::Auto,
            IoArg::Xdp => director::IoMode::Xdp,
            IoArg::Packet => director::IoMode::Packet,
        },
    };
    director::run(cfg, opts).map_err(|e| anyhow::anyhow!("director: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
