//! Helpers shared by the pattern tests: load an example by its path from the
//! repository root, and the fix's pairs and rules as sorted one-line texts.

#![allow(dead_code)]

use check::fix::{Change, FixReport};
use check::Scenario;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn load(path: &str) -> Scenario {
    Scenario::load(&root().join(path)).unwrap()
}

/// "PORT IP" of every pair the fix adds, sorted.
pub fn pairs(fix: &FixReport) -> Vec<String> {
    pairs_where(fix, |_| true)
}

/// As [`pairs`], asserting that every pair takes the port's own MAC.
pub fn own_mac_pairs(fix: &FixReport) -> Vec<String> {
    pairs_where(fix, |mac| {
        assert!(mac.is_none(), "the pair takes the port's own MAC");
        true
    })
}

fn pairs_where(fix: &FixReport, keep: impl Fn(&Option<String>) -> bool) -> Vec<String> {
    let mut v: Vec<String> = fix
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::AddAllowedAddressPair {
                port,
                ip_address,
                mac_address,
                ..
            } if keep(mac_address) => Some(format!("{port} {ip_address}")),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// "GROUP PROTOCOL PORT REMOTE" of every rule the fix adds, sorted; with
/// `ethertype`, "GROUP ETHERTYPE PROTOCOL PORT REMOTE". Every rule must be an
/// ingress rule.
pub fn rules(fix: &FixReport, ethertype: bool) -> Vec<String> {
    let mut v: Vec<String> = fix
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::AddSecurityGroupRule {
                group,
                ingress,
                ethertype: family,
                protocol,
                port,
                remote_ip_prefix,
                ..
            } => {
                assert!(ingress, "the fix opens ingress only");
                let family = if ethertype {
                    format!("{family} ")
                } else {
                    String::new()
                };
                Some(format!(
                    "{group} {family}{} {} {}",
                    protocol.clone().unwrap_or_default(),
                    port.map(|p| p.to_string()).unwrap_or_default(),
                    remote_ip_prefix.map(|r| r.to_string()).unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Root and every one of `tools`: what the real-kernel tests need.
pub fn root_with(tools: &[&str]) -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && tools.iter().all(|t| have(t))
}

/// Runs `cmd` by sh; panics with its stderr when it fails; its stdout.
pub fn sh(cmd: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The lines `tcpdump -nn -vv -r FILE` prints for a capture.
pub fn tcpdump_lines(file: &Path) -> Vec<String> {
    let out = std::process::Command::new("tcpdump")
        .args(["-nn", "-vv", "-r"])
        .arg(file)
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A keepalived.conf holding `inst` as MASTER on eth0 with `vip`: the
/// instance check synthesises for the vip-failover pattern, for real keepalived.
pub fn master_conf(inst: &lvs::keepalived::VrrpInstance, vip: &str) -> String {
    format!(
        "vrrp_instance {} {{\n state MASTER\n interface eth0\n virtual_router_id {}\n \
         priority {}\n advert_int 1\n virtual_ipaddress {{\n  {vip}\n }}\n}}\n",
        inst.name, inst.virtual_router_id, inst.priority
    )
}
