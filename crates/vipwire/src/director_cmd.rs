//! `vipwire director`: run, validate or inspect the director (keepalived-compatible).

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct DirectorArgs {
    /// keepalived.conf to run.
    #[arg(short = 'f', long = "use-file")]
    pub file: Option<PathBuf>,
    /// Validate the configuration and exit, like `keepalived -t`.
    #[arg(short = 't', long = "config-test")]
    pub test: bool,
}

pub fn run(args: DirectorArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file else {
        anyhow::bail!("director: give a keepalived.conf with -f");
    };
    let cfg = lvs::keepalived::parse_file(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    if args.test {
        for e in &cfg.config_errors {
            eprintln!("config error: {e}");
        }
        return Ok(if cfg.passes_keepalived_check() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    anyhow::bail!("director: running the director is not implemented yet (use -t to validate)")
}
