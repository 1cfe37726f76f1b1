//! `vwk-tracer RULES IPSETS|- PACKETS`: `vipwire trace --format json` without the CLI crate.

use std::process::ExitCode;

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 4 {
        eprintln!("usage: vwk-tracer RULES IPSETS|- PACKETS");
        return ExitCode::from(2);
    }
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let run = || -> Result<(), String> {
        let rules = read(&a[1])?;
        let sets = if a[2] == "-" { None } else { Some(read(&a[2])?) };
        let pkts = read(&a[3])?;
        let traced = netfilter::trace_packets(&rules, sets.as_deref(), &pkts)
            .map_err(|e| e.to_string())?;
        for (i, (pkt, t)) in traced.iter().enumerate() {
            let v = serde_json::json!({
                "packet": i + 1,
                "input": pkt.to_kv(),
                "verdict": t.verdict,
                "ctstate": t.ctstate,
                "zone": t.zone,
                "path": t.path,
                "unknown": t.unknown,
            });
            println!("{v}");
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vwk-tracer: {e}");
            ExitCode::from(2)
        }
    }
}
