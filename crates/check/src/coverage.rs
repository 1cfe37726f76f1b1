//! What the check exercised and what it did not, so a PASS says "all of this
//! passed", never "the one sample passed".

use crate::lifecycle::{check_target, checker_view, checks_of, l4_name, reachable_backends};
use crate::scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    /// The pattern checked: `lvs-dr`, `lvs-nat`, `lvs-tun`, `vip-failover` or
    /// `routed-prefixes`.
    pub pattern: String,
    /// vip-failover: the VIPs the members serve themselves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<String>,
    /// vip-failover: backends, each reached from every member as `port (proto/port)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// routed-prefixes: each router port with its prefixes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<String>,
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
    /// The IPv6 flows exercised (empty when no VIP is IPv6).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipv6: Vec<String>,
}

/// What an IPv6 VIP adds: the packets that replace ARP and VRRPv2, and
/// what is left out of them.
fn ipv6_coverage(sc: &Scenario, c: &mut Coverage) {
    let v6: Vec<std::net::IpAddr> = sc.vips().into_iter().filter(|v| v.is_ipv6()).collect();
    if v6.is_empty() {
        return;
    }
    let list = v6
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    c.ipv6.push(format!(
        "VRRPv3 adverts of the IPv6 instances to ff02::12 (hop limit 255) from each member's \
         link-local address, through ip6tables or the IPv6 ACLs; unsolicited neighbour \
         advertisements for {list} from the VIP to ff02::1 at every takeover; each client \
         class's neighbour solicitation for the VIP and the holder's solicited advertisement"
    ));
    let mut classes = Vec::new();
    let mut missing = Vec::new();
    for client in &sc.clients {
        let label = sc.port_label(&client.port_id);
        let label = if client.external {
            format!("{} via {label}", client.ip)
        } else {
            label
        };
        match sc.client_in_family(client, v6[0]) {
            Some(x) if !client.external => classes.push(format!("{label} ({})", x.ip)),
            Some(_) => classes.push(label),
            None => missing.push(label),
        }
    }
    if !classes.is_empty() {
        c.ipv6.push(format!(
            "clients over IPv6: {} (every service, both directions)",
            classes.join(", ")
        ));
    }
    if !missing.is_empty() {
        c.not_exercised.push(format!(
            "{} against the IPv6 VIP: no IPv6 address (declare an IPv6 `cidr:` behind the \
             router to check outside IPv6 clients)",
            missing.join(", ")
        ));
    }
    c.not_exercised.push(
        "IPv6 housekeeping around the VIP: duplicate address detection (keepalived adds IPv6 \
         VIPs with IFA_F_NODAD, vrrp_ipaddress.c), MLD reports for the solicited-node and VRRP \
         groups, router advertisements and DHCPv6: the agent's rules pass them before any \
         group rule (ICMPv6 130/135/136 in, DAD from :: out), OVN skips its ACLs for them"
            .into(),
    );
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// What [`crate::lifecycle::flows`] covers for this scenario.
pub fn coverage(sc: &Scenario) -> Coverage {
    let mut c = Coverage {
        pattern: sc.pattern.name().to_string(),
        ..Coverage::default()
    };
    if let Some(rp) = sc.pattern.routed() {
        routed_coverage(sc, rp, &mut c);
        return c;
    }
    let holders = sc.holders();
    if let Some(vf) = sc.pattern.vip_failover() {
        c.vips = sc.vips().iter().map(|v| v.to_string()).collect();
        for s in &vf.services {
            push_unique(&mut c.services, s.to_string());
        }
        for b in &vf.backends {
            let label = sc.port_label(&b.port_id);
            let unreachable: Vec<String> = holders
                .iter()
                .filter(|h| {
                    !reachable_backends(sc, vf, &h.port_id)
                        .iter()
                        .any(|r| r.port_id == b.port_id)
                })
                .map(|h| sc.port_label(&h.port_id))
                .collect();
            if unreachable.is_empty() {
                for s in &vf.backend_services {
                    push_unique(&mut c.backends, format!("{label} ({s})"));
                }
            } else {
                push_unique(
                    &mut c.not_exercised,
                    format!(
                        "backend {label} from {}: it is that member itself or on another network \
                         (routed through a router, which is not modelled)",
                        unreachable.join(", ")
                    ),
                );
            }
        }
        if vf.backends.is_empty() {
            c.not_exercised.push(
                "the members' own connections to their backends: no `backends:` declared \
                 (they leave from each member's fixed IP, not the VIP, and meet the backends' \
                 groups: list them to check that trap)"
                    .into(),
            );
        }
        c.not_exercised.push(
            "the service processes themselves (HAProxy/nginx bound to the VIP, their health \
             checks of the backends): inside the members, not Neutron"
                .into(),
        );
        if vf.synthesised {
            let vips = sc.vips();
            let instances = match (
                vips.iter().any(|v| v.is_ipv4()),
                vips.iter().any(|v| v.is_ipv6()),
            ) {
                (true, true) => {
                    "one instance per family (VI_1, VRID 51, for the IPv4 VIP; VI_6, VRID 52, \
                     VRRPv3, for the IPv6 VIP)"
                }
                (false, true) => "one instance (VI_6, VRID 52, VRRPv3)",
                _ => "one instance, VRID 51",
            };
            c.not_exercised.push(format!(
                "VRRP as the scenario implies it (no keepalived.conf): {instances}, no \
                 authentication, the first member MASTER; authentication, use_vmac and several \
                 instances need the members' keepalived.conf"
            ));
        }
    }
    match sc.pattern {
        crate::scenario::Pattern::LvsNat => c.not_exercised.push(
            "inside the directors: IPVS's connection table and the forwarding the SNAT of the \
             replies needs (net.ipv4.ip_forward=1); the check assumes both"
                .into(),
        ),
        crate::scenario::Pattern::LvsTun => c.not_exercised.push(
            "the inner packet of IPIP (firewalls on the way see the outer header only) and its \
             20 extra bytes: a full-size client packet needs fragmenting or a smaller MSS, \
             which the check does not model"
                .into(),
        ),
        _ => {}
    }
    for h in &holders {
        push_unique(&mut c.directors, sc.port_label(&h.port_id));
        for inst in &h.config.vrrp_instances {
            push_unique(&mut c.vrrp_instances, inst.name.clone());
        }
        let vips = sc.vips_of(h);
        for vs in sc.services(h).iter().filter(|vs| vips.contains(&vs.addr)) {
            // Persistence only pins a client to one real server; every real
            // server is tried, so whichever one it sticks to is covered.
            let persistence = vs
                .persistence_timeout
                .map(|t| format!(" (persistence {t} s: any real server)"))
                .unwrap_or_default();
            push_unique(
                &mut c.services,
                format!("{}/{}{persistence}", l4_name(vs.protocol), vs.port),
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
            .filter_map(|c| sc.client_in_family(c, range.addr()))
            .filter(|c| range.contains(&c.ip))
            .map(|c| c.ip.to_string())
            .collect();
        let only_hosts = range.prefix_len() < range.max_prefix_len() && covered.len() <= 1;
        let external = sc
            .clients
            .iter()
            .any(|c| c.external && c.ip.is_ipv6() == range.addr().is_ipv6());
        if covered.is_empty() || (only_hosts && !external) {
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
    ipv6_coverage(sc, &mut c);
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
                if sorry.lb_kind != vs.lb_kind {
                    push_unique(
                        &mut c.not_exercised,
                        format!(
                            "{label}: sorry_server {} of {}:{} is reached by {:?}, another \
                             method than its virtual server's, which the check does not model yet",
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

/// What `pattern: routed-prefixes` exercised and did not.
fn routed_coverage(sc: &Scenario, rp: &crate::scenario::RoutedPrefixes, c: &mut Coverage) {
    for r in &rp.routers {
        let label = sc.port_label(&r.port_id);
        c.routers.push(format!(
            "{label} ({})",
            r.prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for peer in &sc.clients {
            if !sc.same_network(&peer.port_id, &r.port_id) {
                push_unique(
                    &mut c.not_exercised,
                    format!(
                        "peer {} with {label}: on another network (routed through a Neutron \
                         router, which is not modelled)",
                        sc.port_label(&peer.port_id)
                    ),
                );
            }
        }
    }
    for peer in &sc.clients {
        push_unique(&mut c.client_classes, sc.port_label(&peer.port_id));
    }
    for s in &rp.services {
        push_unique(&mut c.services, s.to_string());
    }
    if sc.clients_inferred {
        c.not_exercised.push(
            "peers were not declared: every other VM port on the routers' networks stands for a \
             peer; declare `peers:` to check who really talks to the prefixes"
                .into(),
        );
    }
    if rp.services_default {
        c.not_exercised.push(
            "services were not declared: one TCP connection to port 443 stands for them; list \
             `services:` to check each protocol and port the peers' groups must admit"
                .into(),
        );
    }
    c.not_exercised.push(
        "one address per prefix (its first host) stands for the prefix: Neutron's rules and \
         pairs are CIDRs, so every address of it meets the same ones unless a narrower pair or \
         rule splits it"
            .into(),
    );
    c.not_exercised.push(
        "the routing itself: the peers' routes to the prefixes via the router ports' fixed IPs \
         (BGP, static routes, Calico/kube-router), IP forwarding and rp_filter inside the \
         routers; the check assumes them"
            .into(),
    );
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Coverage {
    /// One line: "4 real servers × 2 directors × 1 client class × tcp/80; ...".
    pub fn summary(&self) -> String {
        if self.pattern == "vip-failover" {
            return self.failover_summary();
        }
        if self.pattern == "routed-prefixes" {
            let services = if self.services.is_empty() {
                "no service".to_string()
            } else {
                self.services.join(", ")
            };
            let mut parts = vec![format!(
                "pattern routed-prefixes (ports send from and receive for the prefixes behind \
                 them): {} × {} × {services}, both directions (from the prefix to the peer, \
                 from the peer to the prefix via the router port)",
                self.routers.join(", "),
                count(self.client_classes.len(), "peer", "peers"),
            )];
            if self.routers.len() > 1 {
                parts.push(format!(
                    "router to router, prefix to prefix, both ways × {services}"
                ));
            }
            return parts.join("; ");
        }
        let method = match self.pattern.as_str() {
            "lvs-nat" => {
                "pattern lvs-nat (DNAT to the real servers, their replies back through \
                          the director and SNATed to the VIP): "
            }
            "lvs-tun" => {
                "pattern lvs-tun (IPIP from the director to the real servers, replies \
                          from the VIP straight to the client): "
            }
            _ => "",
        };
        let mut parts = vec![format!(
            "{method}{} × {} × {} × {}",
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

    /// "pattern vip-failover: VIP ... served by the member holding it: 2 members × ...".
    fn failover_summary(&self) -> String {
        let mut parts = vec![format!(
            "pattern vip-failover (VIP {} served by the member holding it): {} × {} × {}",
            if self.vips.is_empty() {
                "none".to_string()
            } else {
                self.vips.join(", ")
            },
            count(self.directors.len(), "member", "members"),
            count(self.client_classes.len(), "client class", "client classes"),
            if self.services.is_empty() {
                "no service".to_string()
            } else {
                self.services.join(", ")
            }
        )];
        parts.push(if self.backends.is_empty() {
            "no backend".to_string()
        } else {
            format!("backends {} from every member", self.backends.join(", "))
        });
        if !self.vrrp_instances.is_empty() {
            let v4 = self.vips.iter().any(|v| !v.contains(':'));
            let v6 = self.vips.iter().any(|v| v.contains(':'));
            parts.push(format!(
                "VRRP {} from every member; {} for the VIP at every takeover",
                self.vrrp_instances.join(", "),
                match (v4, v6) {
                    (_, false) => "GARP and clients' ARP",
                    (false, true) => "unsolicited NA and clients' neighbour solicitations",
                    (true, true) => {
                        "GARP, unsolicited NA, clients' ARP and neighbour solicitations"
                    }
                }
            ));
        }
        parts.join("; ")
    }
}
