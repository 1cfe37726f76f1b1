//! The load balancer's roles when no keepalived.conf is given: which ports are
//! directors and real servers, and which services the VIP serves, from what the
//! Networking API shows (`--directors`, `--real-servers`, `--service` override
//! each part). The answer becomes a keepalived.conf per director, written next
//! to the saved API responses and marked as inferred, so the check and its
//! offline replay read it like any other.
//!
//! Neutron does not know roles, so this is a guess and says so: the holders of
//! the VIP split by their names (`director`, `lvs`, `lb` ... vs `rs`, `web`,
//! `app` ...), services from the single-port TCP/UDP ingress rules of the real
//! servers' security groups, else tcp/80.

use super::{label, s};
use openstack::discover::{Discovery, Hold};
use serde_json::Value;
use std::fmt;
use std::net::IpAddr;

/// Name tokens that mark a director (an LVS director or a VRRP member in front).
const DIRECTOR_WORDS: &[&str] = &[
    "director",
    "dir",
    "lvs",
    "ipvs",
    "lb",
    "loadbalancer",
    "balancer",
    "keepalived",
    "vrrp",
    "haproxy",
];

/// Name tokens that mark a real server behind the VIP.
const REAL_SERVER_WORDS: &[&str] = &[
    "rs",
    "real",
    "realserver",
    "web",
    "www",
    "app",
    "backend",
    "be",
    "srv",
    "server",
    "worker",
    "node",
    "nginx",
    "apache",
    "http",
];

/// A service of the VIP: protocol and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Service {
    pub udp: bool,
    pub port: u16,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", if self.udp { "udp" } else { "tcp" }, self.port)
    }
}

impl std::str::FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, port) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\": a service is PROTOCOL/PORT, e.g. tcp/443"))?;
        let udp = match proto.to_ascii_lowercase().as_str() {
            "tcp" => false,
            "udp" => true,
            other => return Err(format!("\"{s}\": protocol \"{other}\" is not tcp or udp")),
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("\"{s}\": port \"{port}\" is not 1-65535"))?;
        Ok(Service { udp, port })
    }
}

/// What the user said about roles (each part optional).
#[derive(Debug, Default, Clone)]
pub struct RoleHints {
    /// Port names, IDs or fixed IPs.
    pub directors: Vec<String>,
    pub real_servers: Vec<String>,
    pub services: Vec<Service>,
}

/// One port in a role, with how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub port_id: String,
    pub label: String,
    pub ip: IpAddr,
    pub how: String,
}

/// The load balancer as inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct InferredLb {
    pub directors: Vec<Member>,
    pub real_servers: Vec<Member>,
    pub services: Vec<Service>,
    pub services_how: String,
}

fn first_ipv4(port: &Value) -> Option<IpAddr> {
    super::port_ipv4s(port).into_iter().next()
}

/// The lower-case words of a port name, trailing digits dropped ("rs1" -> "rs").
fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| {
            w.trim_end_matches(|c: char| c.is_ascii_digit())
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn named_as(port: &Value, words: &[&str]) -> Option<String> {
    name_words(s(port, "name"))
        .into_iter()
        .find(|w| words.contains(&w.as_str()))
}

/// The port a user's `--directors`/`--real-servers` entry names.
fn find_port<'a>(ports: &'a [Value], key: &str) -> Option<&'a Value> {
    ports
        .iter()
        .find(|p| s(p, "id") == key)
        .or_else(|| ports.iter().find(|p| s(p, "name") == key))
        .or_else(|| {
            let ip: IpAddr = key.parse().ok()?;
            ports.iter().find(|p| {
                p.get("fixed_ips")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|f| s(f, "ip_address").parse() == Ok(ip)))
            })
        })
}

fn member(p: &Value, how: impl Into<String>) -> Option<Member> {
    Some(Member {
        port_id: s(p, "id").to_string(),
        label: label(p),
        ip: first_ipv4(p)?,
        how: how.into(),
    })
}

fn given(ports: &[Value], keys: &[String], flag: &str) -> Result<Vec<Member>, String> {
    keys.iter()
        .map(|k| {
            let p = find_port(ports, k).ok_or_else(|| {
                format!("{flag} {k}: no port of the VIP's network has this name, ID or fixed IP")
            })?;
            member(p, format!("given by {flag}"))
                .ok_or_else(|| format!("{flag} {k}: the port has no IPv4 fixed IP"))
        })
        .collect()
}

/// Infers directors, real servers and services around a VIP.
pub fn infer(d: &Discovery, hints: &RoleHints) -> Result<InferredLb, String> {
    let any_pair = d.holders.iter().any(|h| h.hold != Hold::FixedIp);
    // Ports holding the VIP, minus a reservation port next to pair holders.
    let holders: Vec<&Value> = d
        .holders
        .iter()
        .filter(|h| !(any_pair && h.hold == Hold::FixedIp))
        .filter_map(|h| d.ports.iter().find(|p| s(p, "id") == h.port_id))
        .collect();
    let on_vip_net: Vec<&Value> = d
        .ports
        .iter()
        .filter(|p| d.network_ids.iter().any(|n| n == s(p, "network_id")))
        .filter(|p| !s(p, "device_owner").starts_with("network:"))
        .collect();

    let mut directors = given(&d.ports, &hints.directors, "--directors")?;
    let mut real_servers = given(&d.ports, &hints.real_servers, "--real-servers")?;
    let taken = |m: &[Member], p: &Value| m.iter().any(|x| x.port_id == s(p, "id"));
    if directors.is_empty() {
        for p in &holders {
            if taken(&real_servers, p) {
                continue;
            }
            if let Some(w) = named_as(p, DIRECTOR_WORDS) {
                directors.extend(member(p, format!("holds the VIP; \"{w}\" in its name")));
            }
        }
        if directors.is_empty() {
            // No name says "director": every holder that is not a given real
            // server is a VRRP member in front.
            for p in &holders {
                if !taken(&real_servers, p) {
                    directors.extend(member(
                        p,
                        "holds the VIP (no name marks a director or a real server)",
                    ));
                }
            }
        }
    }
    if directors.is_empty() {
        return Err("no director: no port holds the VIP as a pair or fixed IP; \
                    name them with --directors or give --keepalived"
            .into());
    }
    if hints.real_servers.is_empty() {
        for p in &on_vip_net {
            if taken(&directors, p) {
                continue;
            }
            let holds = holders.iter().any(|h| s(h, "id") == s(p, "id"));
            if let Some(w) = named_as(p, REAL_SERVER_WORDS) {
                let how = if holds {
                    format!("holds the VIP; \"{w}\" in its name")
                } else {
                    format!("\"{w}\" in its name")
                };
                real_servers.extend(member(p, how));
            } else if holds {
                real_servers.extend(member(p, "holds the VIP but is not a director"));
            }
        }
    }

    let (services, services_how) = if !hints.services.is_empty() {
        (hints.services.clone(), "given by --service".to_string())
    } else {
        let from_rules = services_from_rules(d, &real_servers);
        if from_rules.is_empty() {
            (
                vec![Service {
                    udp: false,
                    port: 80,
                }],
                "assumed: no single-port TCP/UDP ingress rule of the real servers' groups \
                 names one; give --service"
                    .to_string(),
            )
        } else {
            (
                from_rules,
                "from the single-port TCP/UDP ingress rules of the real servers' security \
                 groups, SSH's 22 left out"
                    .to_string(),
            )
        }
    };
    // Given lists keep their order (the first director is MASTER).
    if hints.directors.is_empty() {
        directors.sort_by_key(|m| natural(&m.label));
    }
    if hints.real_servers.is_empty() {
        real_servers.sort_by_key(|m| natural(&m.label));
    }
    Ok(InferredLb {
        directors,
        real_servers,
        services,
        services_how,
    })
}

/// A sort key that puts "rs-2" before "rs-10".
fn natural(label: &str) -> (String, u64, String) {
    let head = label.trim_end_matches(|c: char| c.is_ascii_digit());
    let num = label[head.len()..].parse().unwrap_or(0);
    (head.to_string(), num, label.to_string())
}

/// Single-port TCP/UDP ingress rules of the groups the real servers are in.
fn services_from_rules(d: &Discovery, real_servers: &[Member]) -> Vec<Service> {
    let mut groups: Vec<&str> = Vec::new();
    for m in real_servers {
        if let Some(p) = d.ports.iter().find(|p| s(p, "id") == m.port_id) {
            for g in p
                .get("security_groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
    let mut out: Vec<Service> = Vec::new();
    for g in d
        .security_groups
        .iter()
        .filter(|g| groups.contains(&s(g, "id")))
    {
        for r in g
            .get("security_group_rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let udp = match s(r, "protocol") {
                "tcp" | "6" => false,
                "udp" | "17" => true,
                _ => continue,
            };
            let lo = r.get("port_range_min").and_then(Value::as_u64);
            let hi = r.get("port_range_max").and_then(Value::as_u64);
            let ethertype_v4 = matches!(s(r, "ethertype"), "IPv4" | "");
            if s(r, "direction") != "ingress" || !ethertype_v4 {
                continue;
            }
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo == hi && lo != 22 && lo > 0 && lo <= 65535 {
                    let svc = Service {
                        udp,
                        port: lo as u16,
                    };
                    if !out.contains(&svc) {
                        out.push(svc);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

impl InferredLb {
    /// keepalived.conf for director `index` (the first is MASTER), in the form
    /// the field report's directors use: one VRRP instance holding the VIP and
    /// a DR virtual server per service with a TCP check on TCP services.
    pub fn keepalived_conf(&self, index: usize, vip: IpAddr, cloud: &str) -> String {
        let d = &self.directors[index];
        let (state, priority) = if index == 0 {
            ("MASTER", 150)
        } else {
            ("BACKUP", 100usize.saturating_sub(index - 1).max(1))
        };
        let mut o = format!(
            "! Inferred by vipwire from cloud \"{cloud}\" (no keepalived.conf was given):\n\
             ! the director {} ({}), real servers and services as listed below.\n\
             ! Give the real file with --keepalived to check what the directors run.\n\
             vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    \
             virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    \
             virtual_ipaddress {{\n        {vip}\n    }}\n}}\n",
            d.label, d.ip
        );
        for svc in &self.services {
            o += &format!(
                "\nvirtual_server {vip} {} {{\n    lb_algo rr\n    lb_kind DR\n    protocol {}\n",
                svc.port,
                if svc.udp { "UDP" } else { "TCP" }
            );
            for r in &self.real_servers {
                o += &format!(
                    "    real_server {} {} {{\n        weight 1\n",
                    r.ip, svc.port
                );
                if !svc.udp {
                    o += &format!(
                        "        TCP_CHECK {{\n            connect_timeout 3\n            \
                         connect_port {}\n        }}\n",
                        svc.port
                    );
                }
                o += "    }\n";
            }
            o += "}\n";
        }
        o
    }

    /// The plain-words lines of what was inferred beyond the role lists.
    pub fn describe(&self) -> Vec<String> {
        let svcs: Vec<String> = self.services.iter().map(Service::to_string).collect();
        vec![
            "No keepalived.conf given: roles inferred from the API, low confidence \
             (--keepalived, or --directors, --real-servers and --service, make them sure)"
                .to_string(),
            format!(
                "Services: {}, as LVS-DR ({})",
                svcs.join(", "),
                self.services_how
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openstack::discover::Holder;
    use serde_json::json;

    fn port(id: &str, name: &str, ip: &str, sg: &str) -> Value {
        json!({"id": id, "name": name, "network_id": "n", "device_owner": "compute:nova",
               "fixed_ips": [{"ip_address": ip}], "security_groups": [sg]})
    }

    fn cloud(names: &[(&str, &str, bool)], rules: Value) -> Discovery {
        let ports: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, (n, ip, _))| port(&format!("p{i}"), n, ip, "g"))
            .collect();
        let holders = names
            .iter()
            .enumerate()
            .filter(|(_, (_, _, holds))| *holds)
            .map(|(i, (n, ip, _))| Holder {
                port_id: format!("p{i}"),
                name: n.to_string(),
                hold: Hold::Pair,
                fixed_ips: vec![ip.parse().unwrap()],
            })
            .collect();
        Discovery {
            network_ids: vec!["n".into()],
            ports,
            holders,
            security_groups: vec![json!({"id": "g", "security_group_rules": rules})],
            ..Discovery::default()
        }
    }

    fn field_report() -> Discovery {
        cloud(
            &[
                ("director-1", "203.0.113.5", true),
                ("director-2", "203.0.113.7", true),
                ("rs-1", "203.0.113.8", true),
                ("rs-2", "203.0.113.10", true),
                ("client-1", "203.0.113.50", false),
            ],
            json!([{"direction": "ingress", "protocol": "icmp", "ethertype": "IPv4"}]),
        )
    }

    fn labels(m: &[Member]) -> Vec<&str> {
        m.iter().map(|x| x.label.as_str()).collect()
    }

    #[test]
    fn the_field_reports_names_split_directors_from_real_servers() {
        let lb = infer(&field_report(), &RoleHints::default()).unwrap();
        assert_eq!(labels(&lb.directors), ["director-1", "director-2"]);
        assert_eq!(labels(&lb.real_servers), ["rs-1", "rs-2"]);
        // No single-port rule: tcp/80 assumed, and said so.
        assert_eq!(lb.services, ["tcp/80".parse().unwrap()]);
        assert!(lb.services_how.starts_with("assumed"));
    }

    #[test]
    fn a_reserved_vip_port_is_neither_director_nor_real_server() {
        let mut d = field_report();
        d.ports.push(port("v", "vip-lb-port", "203.0.113.241", "g"));
        d.holders.push(Holder {
            port_id: "v".into(),
            name: "vip-lb-port".into(),
            hold: Hold::FixedIp,
            fixed_ips: vec!["203.0.113.241".parse().unwrap()],
        });
        let lb = infer(&d, &RoleHints::default()).unwrap();
        assert_eq!(labels(&lb.directors), ["director-1", "director-2"]);
        assert_eq!(labels(&lb.real_servers), ["rs-1", "rs-2"]);
    }

    #[test]
    fn hints_override_names_and_services_come_from_rules() {
        let rules = json!([
            {"direction": "ingress", "protocol": "tcp", "ethertype": "IPv4",
             "port_range_min": 443, "port_range_max": 443},
            {"direction": "ingress", "protocol": "tcp", "ethertype": "IPv4",
             "port_range_min": 22, "port_range_max": 22},
            {"direction": "ingress", "protocol": "udp", "ethertype": "IPv4",
             "port_range_min": 53, "port_range_max": 53},
            {"direction": "ingress", "protocol": "tcp", "ethertype": "IPv4",
             "port_range_min": 1000, "port_range_max": 2000},
            {"direction": "egress", "protocol": "tcp", "ethertype": "IPv4",
             "port_range_min": 8080, "port_range_max": 8080}
        ]);
        let d = cloud(
            &[
                ("alpha", "203.0.113.5", true),
                ("beta", "203.0.113.7", true),
                ("gamma", "203.0.113.8", false),
            ],
            rules,
        );
        // No name says anything: both holders are directors, no real server.
        let lb = infer(&d, &RoleHints::default()).unwrap();
        assert_eq!(labels(&lb.directors), ["alpha", "beta"]);
        assert!(lb.real_servers.is_empty());
        let hints = RoleHints {
            directors: vec!["203.0.113.5".into()],
            real_servers: vec!["beta".into(), "p2".into()],
            services: vec![],
        };
        let lb = infer(&d, &hints).unwrap();
        assert_eq!(labels(&lb.directors), ["alpha"]);
        assert_eq!(labels(&lb.real_servers), ["beta", "gamma"]);
        assert_eq!(
            lb.services,
            ["tcp/443".parse().unwrap(), "udp/53".parse().unwrap()]
        );
        let bad = RoleHints {
            directors: vec!["nope".into()],
            ..RoleHints::default()
        };
        assert!(infer(&d, &bad).unwrap_err().contains("--directors nope"));
    }

    #[test]
    fn the_conf_parses_and_names_every_real_server_and_service() {
        let mut lb = infer(&field_report(), &RoleHints::default()).unwrap();
        lb.services.push("udp/53".parse().unwrap());
        let vip: IpAddr = "203.0.113.241".parse().unwrap();
        let text = lb.keepalived_conf(1, vip, "demo");
        let cfg = lvs::keepalived::parse_str(&text, "inferred.conf", None).unwrap();
        assert_eq!(cfg.vrrp_instances.len(), 1);
        assert_eq!(cfg.vrrp_instances[0].priority, 100);
        assert_eq!(cfg.virtual_servers.len(), 2);
        let rs: Vec<String> = cfg.virtual_servers[0]
            .real_servers
            .iter()
            .map(|r| r.addr.to_string())
            .collect();
        assert_eq!(rs, ["203.0.113.8", "203.0.113.10"]);
        assert!(lb.keepalived_conf(0, vip, "demo").contains("state MASTER"));
    }

    #[test]
    fn services_parse_and_refuse_with_the_reason() {
        assert_eq!("UDP/53".parse::<Service>().unwrap().to_string(), "udp/53");
        assert!("sctp/9"
            .parse::<Service>()
            .unwrap_err()
            .contains("not tcp or udp"));
        assert!("tcp/0".parse::<Service>().unwrap_err().contains("1-65535"));
        assert!("443"
            .parse::<Service>()
            .unwrap_err()
            .contains("PROTOCOL/PORT"));
    }
}
