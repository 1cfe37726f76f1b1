//! What the check exercised and what it did not, so a PASS says "all of this
//! passed", never "the one sample passed".

use crate::lifecycle::{check_target, checker_view, checks_of, l4_name};
use crate::scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    /// Real servers on some path (each through every holder, from every client class).
    pub real_servers: Vec<String>,
    /// Directors that took a turn as the VIP holder.
    pub directors: Vec<String>,
    /// Client classes: client ports and outside ranges.
    pub client_classes: Vec<String>,
    /// Services as `proto/port` (each with both directions of its protocol).
    pub services: Vec<String>,
    /// Health checks on the wire, by keepalived checker keyword.
    pub health_checks: BTreeMap<String, usize>,
    pub vrrp_instances: Vec<String>,
    /// What was not exercised, and why.
    pub not_exercised: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// What [`crate::lifecycle::flows`] covers for this scenario.
pub fn coverage(sc: &Scenario) -> Coverage {
    let mut c = Coverage::default();
    let holders = sc.holders();
    for h in &holders {
        push_unique(&mut c.directors, sc.port_label(&h.port_id));
        for inst in &h.config.vrrp_instances {
            push_unique(&mut c.vrrp_instances, inst.name.clone());
        }
        let vips = sc.vips_of(h);
        for vs in sc.services(h).iter().filter(|vs| vips.contains(&vs.addr)) {
            push_unique(
                &mut c.services,
                format!("{}/{}", l4_name(vs.protocol), vs.port),
            );
            for rs in sc.paths_of(vs) {
                push_unique(&mut c.real_servers, sc.port_label(&rs.port_id));
            }
            if let Some(sorry) = sc.sorry_path_of(vs) {
                push_unique(
                    &mut c.real_servers,
                    format!("{} (sorry server)", sc.port_label(&sorry.port_id)),
                );
            }
        }
    }
    for client in &sc.clients {
        let port = sc.port_label(&client.port_id);
        push_unique(
            &mut c.client_classes,
            if client.external {
                format!("{} via {port}", client.ip)
            } else {
                port
            },
        );
    }
    if sc.clients_inferred {
        c.not_exercised.push(
            "clients were not declared: every port that is neither director nor real server \
             stands for a client; declare `clients:` (ports, or outside ranges behind a router \
             port) to check who really uses the service"
                .into(),
        );
    }
    // Sources the service must serve that no client class stands for.
    for range in &sc.client_sources {
        let covered: Vec<String> = sc
            .clients
            .iter()
            .filter(|c| range.contains(&c.ip))
            .map(|c| c.ip.to_string())
            .collect();
        let only_hosts = range.prefix_len() < range.max_prefix_len() && covered.len() <= 1;
        if covered.is_empty() || (only_hosts && !sc.clients.iter().any(|c| c.external)) {
            c.not_exercised.push(format!(
                "client_sources {range}: exercised only from {}; sources elsewhere in it may \
                 meet other rules (outside clients are in no remote group): declare them as \
                 `clients: [{{cidr: ..., router_port: ...}}]`",
                if covered.is_empty() {
                    "no client class".to_string()
                } else {
                    covered.join(", ")
                }
            ));
        }
    }
    for d in &sc.directors {
        let label = sc.port_label(&d.port_id);
        for u in &d.config.unmodelled {
            push_unique(&mut c.not_exercised, format!("{label}: {u}"));
        }
        for fw in &d.config.fwmark_services {
            push_unique(
                &mut c.not_exercised,
                format!(
                    "{label}: virtual_server fwmark {} ({}:{}): which packets carry the mark is \
                     decided by firewall rules inside the director, so its {} real server \
                     path(s) are not exercised",
                    fw.fwmark,
                    fw.source,
                    fw.line,
                    fw.real_servers.len()
                ),
            );
        }
        for vs in sc.services(d) {
            if let Some(sorry) = &vs.sorry_server {
                if sorry.lb_kind != lvs::keepalived::LbKind::Dr {
                    push_unique(
                        &mut c.not_exercised,
                        format!(
                            "{label}: sorry_server {} of {}:{} is reached by {:?}, which the \
                             check does not model yet",
                            sorry.addr, vs.addr, vs.port, sorry.lb_kind
                        ),
                    );
                }
            }
        }
        if !holders.iter().any(|h| h.port_id == d.port_id) {
            c.not_exercised.push(format!(
                "{label} as VIP holder: it runs no VRRP instance with a VIP"
            ));
        }
        for vs in sc.checked_services(d) {
            for rs in &vs.real_servers {
                let rs_label = sc
                    .real_server_by_ip(rs.addr)
                    .map(|r| sc.port_label(&r.port_id))
                    .unwrap_or_else(|| rs.addr.to_string());
                if rs.weight == 0 {
                    push_unique(
                        &mut c.not_exercised,
                        format!(
                            "{rs_label} in {}:{} ({}:{}): weight 0, quiesced: the scheduler \
                             sends it no new connections",
                            vs.addr, vs.port, vs.source, rs.line
                        ),
                    );
                }
                let Some(known) = sc.real_server_by_ip(rs.addr) else {
                    continue;
                };
                for check in checks_of(rs) {
                    let view = checker_view(check);
                    match check_target(sc, d, &view, known, rs.port) {
                        Ok(_) => {
                            *c.health_checks.entry(view.kind.to_string()).or_default() += 1;
                        }
                        Err(why) => push_unique(
                            &mut c.not_exercised,
                            format!("{} of {rs_label} on {label}: {why}", view.kind),
                        ),
                    }
                }
            }
        }
    }
    c
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Coverage {
    /// One line: "4 real servers × 2 directors × 1 client class × tcp/80; ...".
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{} × {} × {} × {}",
            count(self.real_servers.len(), "real server", "real servers"),
            count(self.directors.len(), "director", "directors"),
            count(self.client_classes.len(), "client class", "client classes"),
            if self.services.is_empty() {
                "no service".to_string()
            } else {
                self.services.join(", ")
            }
        )];
        if !self.health_checks.is_empty() {
            let total: usize = self.health_checks.values().sum();
            parts.push(format!(
                "{} ({})",
                count(total, "health check", "health checks"),
                self.health_checks
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.vrrp_instances.is_empty() {
            parts.push(format!(
                "VRRP {} from every member",
                self.vrrp_instances.join(", ")
            ));
        }
        parts.join("; ")
    }
}
