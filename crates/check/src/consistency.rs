//! The load balancer's own configuration, checked across its members before any
//! packet moves: the VRRP instances that share a VIP must agree on what keepalived
//! compares in every advert (VRID, authentication, advert interval, version), or
//! each member discards the other's adverts and both become MASTER.

use crate::scenario::{Director, Finding, Scenario};
use lvs::keepalived::VrrpInstance;
use std::net::IpAddr;

/// Every finding about the scenario's configuration, the input-level ones first.
pub fn findings(sc: &Scenario) -> Vec<Finding> {
    let mut out = sc.findings.clone();
    for d in &sc.directors {
        let label = sc.port_label(&d.port_id);
        if d.without_config {
            out.push(Finding {
                subject: label.clone(),
                message: format!(
                    "director {label} has no keepalived.conf in the scenario: it runs no VRRP, \
                     never holds a VIP and forwards nothing"
                ),
                location: Some(sc.source.clone()),
            });
        } else if d.config.vrrp_instances.is_empty() {
            out.push(Finding {
                subject: label.clone(),
                message: format!(
                    "director {label}'s keepalived.conf has no vrrp_instance: it never holds a \
                     VIP, so it never takes over"
                ),
                location: Some(d.config_source.clone()),
            });
        }
        for e in &d.config.config_errors {
            out.push(Finding {
                subject: label.clone(),
                message: format!(
                    "keepalived reports a configuration error and runs with a corrected value \
                     (`keepalived -t` fails): {e}"
                ),
                location: Some(d.config_source.clone()),
            });
        }
        // Refused, not skipped: a PASS must not hide real servers never tried.
        for fw in &d.config.fwmark_services {
            out.push(Finding {
                subject: label.clone(),
                message: format!(
                    "virtual_server fwmark {} on {label} is not modelled: which packets carry \
                     mark {} is set by firewall rules inside the director (iptables -t mangle \
                     ... -j MARK), so the check cannot try its {} real server(s); check the \
                     addresses and ports the mark selects as plain `virtual_server IP PORT` \
                     blocks in a copy of the keepalived.conf",
                    fw.fwmark,
                    fw.fwmark,
                    fw.real_servers.len()
                ),
                location: Some(format!("{}:{}", fw.source, fw.line)),
            });
        }
        for vs in &d.config.virtual_servers {
            if sc.paths_of(vs).is_empty() {
                out.push(Finding {
                    subject: label.clone(),
                    message: format!(
                        "virtual_server {}:{} on {label} has no real server the scheduler can \
                         use (every one has weight 0 or is no port of the cloud): the service \
                         answers nothing",
                        vs.addr, vs.port
                    ),
                    location: Some(format!("{}:{}", vs.source, vs.line)),
                });
            }
            if !sc.vips_of(d).contains(&vs.addr) {
                out.push(Finding {
                    subject: label.clone(),
                    message: format!(
                        "virtual_server {}:{} on {label}: no vrrp_instance of {label} holds \
                         {}, so clients never reach this service through it",
                        vs.addr, vs.port, vs.addr
                    ),
                    location: Some(format!("{}:{}", vs.source, vs.line)),
                });
            }
        }
    }
    if matches!(sc.pattern, crate::scenario::Pattern::LvsDr)
        && sc
            .directors
            .iter()
            .all(|d| d.config.virtual_servers.is_empty())
    {
        out.push(Finding {
            subject: "load balancer".into(),
            message: "no director has a virtual_server: there is no service to check (when the \
                      members serve the VIP themselves, e.g. HAProxy or nginx beside keepalived, \
                      say `pattern: vip-failover` and `services: [tcp/443]`)"
                .into(),
            location: Some(sc.source.clone()),
        });
    }
    let members: Vec<&Director> = sc
        .directors
        .iter()
        .filter(|d| !d.config.vrrp_instances.is_empty())
        .collect();
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            compare_members(sc, a, b, &mut out);
            compare_members(sc, b, a, &mut out);
        }
    }
    dedup(out)
}

fn dedup(v: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for f in v {
        if !out.iter().any(|o| o.message == f.message) {
            out.push(f);
        }
    }
    out
}

fn vips(inst: &VrrpInstance) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = inst.virtual_ipaddresses.iter().map(|n| n.addr()).collect();
    v.sort();
    v
}

/// `b`'s instance that answers `a`'s: the one sharing a VIP, else the same name.
fn counterpart<'d>(a: &VrrpInstance, b: &'d Director) -> Option<&'d VrrpInstance> {
    let mine = vips(a);
    b.config
        .vrrp_instances
        .iter()
        .find(|x| vips(x).iter().any(|v| mine.contains(v)))
        .or_else(|| b.config.vrrp_instances.iter().find(|x| x.name == a.name))
}

fn at(inst: &VrrpInstance) -> String {
    format!("{}:{}", inst.source, inst.line)
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Findings for `a`'s instances against `b` (called both ways; messages that
/// are symmetric are written only for the first ordering).
fn compare_members(sc: &Scenario, a: &Director, b: &Director, out: &mut Vec<Finding>) {
    let (la, lb) = (sc.port_label(&a.port_id), sc.port_label(&b.port_id));
    let first = a.port_id < b.port_id;
    for ia in &a.config.vrrp_instances {
        let subject = format!("vrrp_instance {} ({la}, {lb})", ia.name);
        let Some(ib) = counterpart(ia, b) else {
            out.push(Finding {
                subject,
                message: format!(
                    "{la}'s vrrp_instance {} holds {} but {lb} has no instance for it: {lb} \
                     never takes {} over",
                    ia.name,
                    list(&vips(ia)),
                    list(&vips(ia))
                ),
                location: Some(at(ia)),
            });
            continue;
        };
        let both = format!("{} and {}", at(ia), at(ib));
        let split = format!(
            "each discards the other's adverts, both become MASTER and both answer ARP for {} \
             (split brain)",
            list(&vips(ia))
        );
        let mut say = |message: String| {
            out.push(Finding {
                subject: subject.clone(),
                message,
                location: Some(both.clone()),
            })
        };
        if first && ia.virtual_router_id != ib.virtual_router_id {
            say(format!(
                "{la} uses virtual_router_id {} and {lb} uses {}: two separate virtual routers \
                 that never hear each other; {split}",
                ia.virtual_router_id, ib.virtual_router_id
            ));
        }
        if first && ia.version != ib.version {
            say(format!(
                "{la} speaks VRRP v{} and {lb} v{}: keepalived drops adverts of the other \
                 version; {split}",
                ia.version, ib.version
            ));
        }
        if first && ia.version == ib.version && ia.advert_int != ib.advert_int {
            say(if ia.version == 2 {
                format!(
                    "advert_int differs ({la} {} s, {lb} {} s): VRRPv2 requires equal \
                     intervals and keepalived drops the other's adverts ('advertisement \
                     interval mismatch'); {split}",
                    ia.advert_int, ib.advert_int
                )
            } else {
                format!(
                    "advert_int differs ({la} {} s, {lb} {} s): keepalived accepts it in \
                     VRRPv3 (a backup adopts the master's interval), but the takeover time \
                     then depends on who is master; make them equal",
                    ia.advert_int, ib.advert_int
                )
            });
        }
        if first && ia.version == 2 && ib.version == 2 && !same_auth(ia, ib) {
            say(format!(
                "authentication differs ({la}: {}, {lb}: {}): keepalived drops adverts whose \
                 authentication does not match its own; {split}",
                auth_text(ia),
                auth_text(ib)
            ));
        }
        if first && vips(ia) != vips(ib) {
            say(format!(
                "the VIP sets differ ({la}: {}; {lb}: {}): after a failover the new master \
                 holds different addresses",
                list(&vips(ia)),
                list(&vips(ib))
            ));
        }
        // Unicast: a member only hears peers that list its address.
        let b_ip = primary_ip(sc, b);
        if !ia.unicast_peers.is_empty() && b_ip.is_some_and(|ip| !ia.unicast_peers.contains(&ip)) {
            say(format!(
                "{la}'s unicast_peer list ({}) does not include {lb}'s address {}: {lb} never \
                 hears {la}'s adverts and becomes MASTER too (split brain)",
                list(&ia.unicast_peers),
                b_ip.map(|i| i.to_string()).unwrap_or_default()
            ));
        }
        if first && ia.unicast_peers.is_empty() != ib.unicast_peers.is_empty() {
            say(format!(
                "{} uses unicast_peer and {} multicast: they do not exchange adverts; {split}",
                if ia.unicast_peers.is_empty() {
                    &lb
                } else {
                    &la
                },
                if ia.unicast_peers.is_empty() {
                    &la
                } else {
                    &lb
                },
            ));
        }
    }
}

fn primary_ip(sc: &Scenario, d: &Director) -> Option<IpAddr> {
    sc.port(&d.port_id)
        .fixed_ips
        .iter()
        .map(|f| f.ip_address)
        .find(|ip| ip.is_ipv4())
}

fn same_auth(a: &VrrpInstance, b: &VrrpInstance) -> bool {
    auth_text(a) == auth_text(b)
}

fn auth_text(i: &VrrpInstance) -> String {
    match &i.auth_pass {
        Some(p) => format!("PASS \"{p}\""),
        None => "none".into(),
    }
}
