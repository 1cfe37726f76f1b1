//! `tcpdump -r` reads the pcapng of the built-in check: one line per packet
//! the check sent, in order, with the dropped DR SYN among them. Skips
//! visibly when tcpdump is not installed (scripts/report-browser-test
//! installs it with apt-get when it can).

use check::simulate::Outcome;
use check::Scenario;
use std::process::Command;

#[test]
fn tcpdump_reads_the_pcap() {
    let sc = Scenario::builtin().unwrap();
    let r = check::run(&sc).unwrap();
    let file = report::pcapng::write(&sc, &r);
    let path = std::env::temp_dir().join(format!("vipwire-report-{}.pcapng", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let out = match Command::new("tcpdump")
        .arg("-nn")
        .arg("-r")
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED tcpdump_reads_the_pcap: tcpdump not runnable ({e}); apt-get install tcpdump");
            let _ = std::fs::remove_file(&path);
            return;
        }
    };
    // -vv verifies the IP, TCP, UDP and VRRP checksums.
    let verbose = Command::new("tcpdump")
        .args(["-vv", "-nn", "-r"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let checked = String::from_utf8_lossy(&verbose.stdout);
    assert!(checked.contains("(correct)"), "{checked}");
    assert!(!checked.contains("incorrect"), "{checked}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpdump failed: {stderr}");
    assert!(stderr.contains("EN10MB"), "{stderr}");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let sent = r
        .flows
        .iter()
        .flat_map(|f| &f.packets)
        .filter(|p| p.outcome != Outcome::Skipped)
        .count();
    assert_eq!(lines.len(), sent);
    assert!(
        lines[0].contains("VRRPv2, Advertisement, vrid 51, prio 150"),
        "{}",
        lines[0]
    );
    // The first dropped packet: the director's DR copy of the client's SYN.
    let first_drop = r
        .flows
        .iter()
        .flat_map(|f| &f.packets)
        .filter(|p| p.outcome != Outcome::Skipped)
        .position(|p| p.outcome == Outcome::Drop)
        .unwrap();
    assert!(
        lines[first_drop].contains("IP 203.0.113.50.40001 > 203.0.113.241.80: Flags [S]"),
        "{}",
        lines[first_drop]
    );
    assert!(lines
        .iter()
        .all(|l| !l.contains("bad cksum") && !l.contains("truncated")));
}
