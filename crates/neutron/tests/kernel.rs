//! Real-kernel check of the golden renderings: each host's `ipset_save`,
//! `iptables_save` and `ip6tables_save` are restored into a throw-away network
//! namespace, then `ipset save -sorted` / `iptables-save` are read back and must
//! equal the rendered text (minus `#` lines, counters and ipset's random initval).
//! Done for iptables-nft and iptables-legacy. Like the agent, the test first runs
//! `iptables-save -t raw` and restores the tables in Neutron's order (filter,
//! nat, raw); with legacy iptables that decides how the kernel lists them.
//! Skips, with a message, when not root or the tools are missing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use neutron::firewall::iptables_hybrid::{
    normalize_ipset_save, normalize_iptables_save, render_host_with, RenderOptions,
};
use neutron::firewall::SaveFlavor;
use neutron::load_json;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!(
            "vwneu{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        Netns(name)
    }

    fn run(&self, cmd: &[&str], input: Option<&str>) -> Result<String, String> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(cmd);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.unwrap_or("").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_reason() -> Option<String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    for t in [
        "ip",
        "ipset",
        "iptables-nft-restore",
        "iptables-legacy-restore",
        "ip6tables-nft-restore",
    ] {
        if !have(t) {
            return Some(format!("{t} missing"));
        }
    }
    None
}

/// Splits iptables-save text into its tables, to restore them in a chosen order.
fn tables(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            out.push((name.to_string(), String::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    out
}

fn in_order(text: &str, order: &[&str]) -> String {
    let t = tables(text);
    order
        .iter()
        .filter_map(|n| t.iter().find(|(name, _)| name == n))
        .map(|(_, body)| body.as_str())
        .collect()
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

fn first_diff(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}: rendered `{w}` kernel `{g}`", i + 1);
        }
    }
    format!(
        "line counts differ: rendered {} kernel {}",
        want.lines().count(),
        got.lines().count()
    )
}

fn check_flavor(flavor: SaveFlavor) {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED kernel round-trip ({flavor:?}): {why}");
        println!("SKIPPED kernel round-trip ({flavor:?}): {why}");
        return;
    }
    let (v4, v6) = match flavor {
        SaveFlavor::Nft => ("iptables-nft", "ip6tables-nft"),
        SaveFlavor::Legacy => ("iptables-legacy", "ip6tables-legacy"),
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let cloud = load_json(
            &fs::read_to_string(&case).unwrap(),
            &case.display().to_string(),
        )
        .unwrap();
        for host in cloud.hosts() {
            let r = render_host_with(&cloud, &host, &RenderOptions { flavor }).unwrap();
            let ns = Netns::new();
            let label = format!(
                "{} {host} {flavor:?}",
                case.file_name().unwrap().to_string_lossy()
            );
            let restore = |tool: &str, text: &str| {
                // Neutron's apply order; decides the legacy kernel's table list.
                let input = in_order(text, &["filter", "nat", "raw"]);
                ns.run(&[&format!("{tool}-restore")], Some(&input))
            };
            // The agent's firewall reads the IPv4 raw table when it starts;
            // with legacy iptables that creates the table (and fixes the order).
            let steps = ns
                .run(&[&format!("{v4}-save"), "-t", "raw"], None)
                .and_then(|_| ns.run(&["ipset", "restore"], Some(&r.ipset_save)))
                .and_then(|_| restore(v4, &r.iptables_save))
                .and_then(|_| restore(v6, &r.ip6tables_save));
            if let Err(e) = steps {
                failures.push(format!("{label}: restore failed: {e}"));
                continue;
            }
            for (tool, want) in [(v4, &r.iptables_save), (v6, &r.ip6tables_save)] {
                match ns.run(&[&format!("{tool}-save")], None) {
                    Ok(got) => {
                        let got = normalize_iptables_save(&got);
                        if &got != want {
                            failures.push(format!("{label} {tool}: {}", first_diff(want, &got)));
                        }
                    }
                    Err(e) => failures.push(format!("{label}: {e}")),
                }
            }
            match ns.run(&["ipset", "save", "-sorted"], None) {
                Ok(got) => {
                    let got = normalize_ipset_save(&got);
                    if got != r.ipset_save {
                        failures.push(format!(
                            "{label} ipset: {}",
                            first_diff(&r.ipset_save, &got)
                        ));
                    }
                }
                Err(e) => failures.push(format!("{label}: {e}")),
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "too few hosts checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn goldens_round_trip_through_iptables_nft() {
    check_flavor(SaveFlavor::Nft);
}

#[test]
fn goldens_round_trip_through_iptables_legacy() {
    check_flavor(SaveFlavor::Legacy);
}
