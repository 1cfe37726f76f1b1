//! The director's status, as `vipwire director status` shows it: VRRP state,
//! services, and per real server weight, health and connection counts.
//! JSON on the control socket; text like `ipvsadm -Ln` for people.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::health::HealthState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub interface: String,
    /// "AF_PACKET TPACKET_V3" or "off (--vrrp-only)".
    pub data_plane: String,
    /// Forwarding now (VRRP master, or no VRRP instance configured).
    pub forwarding: bool,
    pub vrrp: Vec<VrrpStatus>,
    pub services: Vec<ServiceStatus>,
    pub counters: BTreeMap<String, u64>,
    /// The last cloud check of each VIP (`director --cloud`), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cloud_checks: Vec<String>,
}

/// The last cloud checks, set by the `--cloud` guard, read by [`Status`] snapshots.
static CLOUD_CHECKS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records the last cloud checks (one line per VIP) for `director status`.
pub fn set_cloud_checks(lines: Vec<String>) {
    *CLOUD_CHECKS.lock().unwrap_or_else(|e| e.into_inner()) = lines;
}

/// The last cloud checks recorded by [`set_cloud_checks`].
pub fn cloud_checks() -> Vec<String> {
    CLOUD_CHECKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpStatus {
    pub instance: String,
    pub interface: String,
    pub virtual_router_id: u8,
    /// MASTER / BACKUP / FAULT / INIT.
    pub state: String,
    pub priority: u8,
    pub vips: Vec<String>,
    /// Where the state comes from ("vrrp" or "vip-on-interface").
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub vip: String,
    pub port: u16,
    pub protocol: String,
    pub lb_kind: String,
    pub lb_algo: String,
    pub persistence_timeout: Option<u32>,
    pub connections: usize,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    pub addr: String,
    pub port: u16,
    pub weight: u32,
    pub config_weight: u32,
    /// "up", "down" or "no check".
    pub health: String,
    pub active: u32,
    pub inactive: u32,
    pub check: Option<HealthState>,
}

impl Status {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "vipwire director pid {} on {} - data plane: {}, forwarding: {}",
            self.pid,
            self.interface,
            self.data_plane,
            if self.forwarding { "yes" } else { "no" }
        );
        for v in &self.vrrp {
            let _ = writeln!(
                s,
                "VRRP {} (vrid {}, {}): {} prio {} VIPs {} [{}]",
                v.instance,
                v.virtual_router_id,
                v.interface,
                v.state,
                v.priority,
                v.vips.join(","),
                v.source
            );
        }
        let _ = writeln!(
            s,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port  Forward Weight ActiveConn InActConn Health"
        );
        for svc in &self.services {
            let pers = svc
                .persistence_timeout
                .map(|t| format!(" persistent {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{} {}:{} {}{}",
                svc.protocol, svc.vip, svc.port, svc.lb_algo, pers
            );
            for rs in &svc.real_servers {
                let fwd = match svc.lb_kind.as_str() {
                    "DR" => "Route",
                    "TUN" => "Tunnel",
                    _ => "Masq",
                };
                let _ = writeln!(
                    s,
                    "  -> {}:{}  {} {} {} {} {}",
                    rs.addr, rs.port, fwd, rs.weight, rs.active, rs.inactive, rs.health
                );
            }
        }
        let c: Vec<String> = self
            .counters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "counters: {}", c.join(" "));
        for line in &self.cloud_checks {
            let _ = writeln!(s, "cloud check: {line}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_round_trip() {
        let st = Status {
            cloud_checks: vec![
                "unix time 1796644800: VIP 203.0.113.241 on cloud \"prod\": pass".into(),
            ],
            pid: 7,
            interface: "eth0".into(),
            data_plane: "AF_PACKET TPACKET_V3".into(),
            forwarding: true,
            vrrp: vec![VrrpStatus {
                instance: "VI_1".into(),
                interface: "eth0".into(),
                virtual_router_id: 51,
                state: "MASTER".into(),
                priority: 150,
                vips: vec!["198.51.100.241".into()],
                source: "vrrp".into(),
            }],
            services: vec![ServiceStatus {
                vip: "198.51.100.241".into(),
                port: 80,
                protocol: "TCP".into(),
                lb_kind: "DR".into(),
                lb_algo: "rr".into(),
                persistence_timeout: None,
                connections: 1,
                real_servers: vec![RealServerStatus {
                    addr: "198.51.100.8".into(),
                    port: 80,
                    weight: 0,
                    config_weight: 1,
                    health: "down".into(),
                    active: 0,
                    inactive: 1,
                    check: None,
                }],
            }],
            counters: [("forwarded".to_string(), 3)].into_iter().collect(),
        };
        let t = st.to_text();
        assert!(t.contains("VRRP VI_1 (vrid 51, eth0): MASTER prio 150"));
        assert!(t.contains("TCP 198.51.100.241:80 rr"));
        assert!(t.contains("  -> 198.51.100.8:80  Route 0 0 1 down"));
        assert!(t.contains(
            "cloud check: unix time 1796644800: VIP 203.0.113.241 on cloud \"prod\": pass"
        ));
        let j = serde_json::to_string(&st).unwrap();
        let back: Status = serde_json::from_str(&j).unwrap();
        assert_eq!(back, st);
    }
}
