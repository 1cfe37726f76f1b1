//! Keeps the director's own kernel out of the way of the user-space data plane.
//!
//! AF_PACKET taps frames in the device layer, before netfilter, so a DROP rule
//! in the director's namespace leaves the data plane's copy intact while the
//! kernel neither answers VIP:port itself (a RST from the master that owns the
//! VIP) nor routes the packets a second time:
//! - `INPUT -d VIP -p P --dport PORT -j DROP` (every service);
//! - `FORWARD -d VIP -p P --dport PORT -j DROP` (a backup with ip_forward=1
//!   would otherwise route client packets on to the VIP owner);
//! - NAT: `FORWARD -s RS -p P --sport RPORT -j DROP` (the real server's replies
//!   are addressed to the client; only the data plane may send them, rewritten).
//!
//! Rules carry the comment `vipwire-director` and are removed on shutdown.
//! Services on IPv6 addresses get the same rules through `ip6tables`.

use std::process::Command;

use lvs::keepalived::{KeepalivedConfig, L4Proto, LbKind};

pub const COMMENT: &str = "vipwire-director";

/// The iptables rule specs (without `-I`/`-D CHAIN`) for a configuration.
pub fn rules(cfg: &KeepalivedConfig) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        let proto = match vs.protocol {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
        };
        let spec = |dir: &str, addr: String, port: u16, pflag: &str| -> Vec<String> {
            vec![
                dir.into(),
                addr,
                "-p".into(),
                proto.into(),
                pflag.into(),
                port.to_string(),
                "-m".into(),
                "comment".into(),
                "--comment".into(),
                COMMENT.into(),
                "-j".into(),
                "DROP".into(),
            ]
        };
        for chain in ["INPUT", "FORWARD"] {
            out.push((
                chain.to_string(),
                spec("-d", vs.addr.to_string(), vs.port, "--dport"),
            ));
        }
        if vs.lb_kind == LbKind::Nat {
            for rs in &vs.real_servers {
                out.push((
                    "FORWARD".into(),
                    spec("-s", rs.addr.to_string(), rs.port, "--sport"),
                ));
            }
        }
    }
    out
}

/// Installed rules, removed on drop.
#[derive(Debug)]
pub struct KernelGuard {
    installed: Vec<(String, Vec<String>)>,
}

/// `iptables`, or `ip6tables` for a rule whose address (after `-d`/`-s`) is IPv6.
pub fn program_for(spec: &[String]) -> &'static str {
    if spec.get(1).is_some_and(|a| a.contains(':')) {
        "ip6tables"
    } else {
        "iptables"
    }
}

fn iptables(op: &str, chain: &str, spec: &[String]) -> Result<(), String> {
    let prog = program_for(spec);
    let out = Command::new(prog)
        .args(["-w", op, chain])
        .args(spec)
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{prog} {op} {chain} {}: {}",
            spec.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl KernelGuard {
    /// Insert the rules; the error names the first one that failed (rules
    /// already inserted are removed again).
    pub fn install(cfg: &KeepalivedConfig) -> Result<KernelGuard, String> {
        let mut g = KernelGuard {
            installed: Vec::new(),
        };
        for (chain, spec) in rules(cfg) {
            iptables("-I", &chain, &spec)?;
            g.installed.push((chain, spec));
        }
        Ok(g)
    }
}

impl Drop for KernelGuard {
    fn drop(&mut self) {
        for (chain, spec) in self.installed.drain(..).rev() {
            let _ = iptables("-D", &chain, &spec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_for_dr_and_nat() {
        let text = "virtual_server 198.51.100.241 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 198.51.100.8 8080 {\n weight 1\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).unwrap();
        let r = rules(&cfg);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].0, "INPUT");
        assert_eq!(r[0].1[..6].join(" "), "-d 198.51.100.241 -p tcp --dport 80");
        assert_eq!(r[2].0, "FORWARD");
        assert_eq!(r[2].1[..6].join(" "), "-s 198.51.100.8 -p tcp --sport 8080");
        assert_eq!(program_for(&r[0].1), "iptables");
    }

    #[test]
    fn ipv6_services_go_to_ip6tables() {
        let text = "virtual_server 2001:db8::100 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 2001:db8:1::11 8080 {\n weight 1\n }\n}\n";
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).unwrap();
        let r = rules(&cfg);
        assert_eq!(r[0].1[..6].join(" "), "-d 2001:db8::100 -p tcp --dport 80");
        assert_eq!(
            r[2].1[..6].join(" "),
            "-s 2001:db8:1::11 -p tcp --sport 8080"
        );
        assert!(r.iter().all(|(_, spec)| program_for(spec) == "ip6tables"));
    }
}
