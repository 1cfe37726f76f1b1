//! Failover benchmark: keepalived 2.2.7 as master (priority 150) and, as the
//! backup (priority 100, same settings), (a) keepalived and (b) vipwire, in
//! the same run, interleaved. The master dies by kill -9 (and, separately, stops
//! with SIGTERM); the takeover time is read from tcpdump's kernel timestamps on
//! the backup's interface: from the master's last advert (kill -9) or its
//! priority-0 advert (SIGTERM) to the backup's first advert as master.
//!
//! `sudo cargo run --release -p lab --example failover_bench -- [--rounds N] [--v3]`
//! (`--v3`: VRRPv3 with advert_int 0.5 s instead of v2 with 1 s and PASS auth).

#[path = "../tests/vrrp_lab.rs"]
mod vrrp_lab;

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use lab::netns::skip_unless;
use vrrp_lab::*;

#[derive(Clone, Copy, PartialEq)]
enum Backup {
    Keepalived,
    Vipwire,
}

impl Backup {
    fn name(self) -> &'static str {
        match self {
            Backup::Keepalived => "keepalived",
            Backup::Vipwire => "vipwire",
        }
    }
}

fn one(kind: Backup, sigterm: bool, spec_master: &Spec, spec_backup: &Spec) -> Result<Takeover> {
    let p = Pair::new(if sigterm { "fbt" } else { "fbk" })?;
    let cap = Capture::start(&p.b, IFACE)?;
    let mut master = Node::keepalived(&p.a, &p.dir, "master", spec_master)?;
    let me: Vec<OsString> = vec![std::env::current_exe()?.into()];
    let backup = match kind {
        Backup::Keepalived => Node::keepalived(&p.b, &p.dir, "backup", spec_backup)?,
        Backup::Vipwire => Node::vipwire(&p.b, &p.dir, "backup", spec_backup, &me)?,
    };
    ensure!(
        vip_becomes(&p.a, true, spec_master.master_down() * 3),
        "master never came up: {}",
        master.log_text()
    );
    // Let the backup see a few adverts.
    std::thread::sleep(Duration::from_secs_f64(spec_master.advert_int * 2.5));
    ensure!(
        !p.b.has_addr(IFACE, VIP),
        "backup holds the VIP: {}",
        backup.log_text()
    );
    let t = measure_takeover(&cap, &mut master, A_IP, B_IP, sigterm)?;
    ensure!(
        vip_becomes(&p.b, true, Duration::from_secs(2)),
        "no VIP on the backup"
    );
    Ok(t)
}

fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len().max(1) as f64;
    let mean = s.iter().sum::<f64>() / n;
    let med = if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (
        med,
        mean,
        s.first().copied().unwrap_or(f64::NAN),
        s.last().copied().unwrap_or(f64::NAN),
    )
}

fn main() -> Result<()> {
    // Re-executed as the vipwire backup node.
    if let Some(conf) = std::env::var_os("VW_VRRP_CHILD") {
        let cfg = lvs::keepalived::parse_file(std::path::Path::new(&conf))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        director::vrrp::run_foreground(&cfg)?;
        return Ok(());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()
        .context("--rounds N")?
        .unwrap_or(3);
    let v3 = args.iter().any(|a| a == "--v3");
    if skip_unless("failover_bench", &["ip", "keepalived", "tcpdump"]) {
        return Ok(());
    }
    let (sm, sb) = if v3 {
        (Spec::v3(150, 0.5), Spec::v3(100, 0.5))
    } else {
        (Spec::v2(150), Spec::v2(100))
    };
    println!(
        "failover: keepalived master (prio 150) -> backup (prio 100), VRRPv{} advert_int {} s, {rounds} rounds",
        sb.version, sb.advert_int
    );
    println!(
        "backup Master_Down_Interval {:.6} s, Skew_Time {:.6} s",
        sb.master_down().as_secs_f64(),
        sb.skew().as_secs_f64()
    );
    let mut rows = Vec::new();
    for sigterm in [false, true] {
        let mut by = [
            (Backup::Keepalived, Vec::new()),
            (Backup::Vipwire, Vec::new()),
        ];
        for r in 0..rounds {
            for (kind, v) in by.iter_mut() {
                let t = one(*kind, sigterm, &sm, &sb)
                    .with_context(|| format!("round {r}, {} backup", kind.name()))?;
                let x = if sigterm {
                    t.since_prio0.unwrap_or(f64::NAN)
                } else {
                    t.since_last_advert
                };
                eprintln!(
                    "  {} {}: {:.4} s (from the signal: {:.4} s)",
                    if sigterm { "SIGTERM" } else { "kill -9" },
                    kind.name(),
                    x,
                    t.since_kill
                );
                v.push(x);
            }
        }
        rows.push((sigterm, by));
    }
    println!();
    println!("| master stop | measured from | backup | median s | mean s | min s | max s |");
    println!("|---|---|---|---|---|---|---|");
    for (sigterm, by) in &rows {
        for (kind, v) in by {
            let (med, mean, lo, hi) = stats(v);
            println!(
                "| {} | {} | {} | {med:.4} | {mean:.4} | {lo:.4} | {hi:.4} |",
                if *sigterm { "SIGTERM" } else { "kill -9" },
                if *sigterm {
                    "priority-0 advert"
                } else {
                    "last advert"
                },
                kind.name()
            );
        }
        let k = stats(&by[0].1).0;
        let w = stats(&by[1].1).0;
        println!(
            "| {} | ratio vipwire/keepalived (median) | | {:.4} | | | |",
            if *sigterm { "SIGTERM" } else { "kill -9" },
            w / k
        );
    }
    Ok(())
}
