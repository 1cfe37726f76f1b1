//! Property tests of the check on random variants of the field report's cloud
//! (examples/lvs-dr): allowed address pairs added or removed per port, port security
//! off, security group rules removed or added, the client in a group of its own,
//! ports bound to random hosts or to none (`binding:host_id` absent, null or ""),
//! clients inside, outside behind the router, or both, a TCP or UDP service on port 80
//! or 53, real servers removed or re-weighted (0 = quiesced), VRRP split brain, a
//! swapped master. The Neutron side goes through `Cloud::to_json` and
//! `Scenario::load` like a user's files; the keepalived side is edited in the loaded
//! `Scenario`'s model.
//!
//! Properties:
//! - (a) a passing report has, for every client class × every director holding a
//!   VIP × every virtual service of it × every real server with weight > 0, a passing
//!   flow of that client through that director to that real server; the tuples are
//!   computed here from the scenario's inputs, not by the check's own helpers;
//! - (b) each such flow starts with the client's ARP who-has for the VIP, all its
//!   packets PASS, it carries the service's protocol to (VIP, port), the director's
//!   DR copy (client's source IP, VIP, director's MAC to the real server's MAC), and
//!   the real server's reply from (VIP, port) to the client's port;
//! - (c) no variant panics and the rules always build; `find_fix` on a failing
//!   variant without configuration findings either passes its re-check or lists
//!   what it cannot fix, and its re-check equals a fresh run with its changes.
//!
//! (a) and (b) run on each passing variant and on each variant `find_fix` repairs.
//! Cases: 96 by default (a few seconds in release); more with `PROPTEST_CASES=1000
//! cargo test --release -p check --test props`.

use check::fix::{find_fix, with_changes, Change};
use check::lifecycle::{Payload, StepRole};
use check::report::{render_check, render_fix};
use check::scenario::builtin;
use check::simulate::{CheckReport, Outcome, PacketResult};
use check::Scenario;
use ipnet::IpNet;
use lvs::keepalived::L4Proto;
use neutron::model::{AddressPair, Cloud, RuleDirection, SecurityGroup, SecurityGroupRule};
use packet::{proto, MacAddr, Packet};
use proptest::prelude::*;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const VIP: &str = "203.0.113.241";
const CLIENT_IP: &str = "203.0.113.50";
const OUTSIDE: &str = "198.51.100.0/24";
/// The VM ports of the built-in cloud (router-1 is network-owned).
const VM_PORTS: [&str; 7] = [
    "client-1",
    "director-1",
    "director-2",
    "rs-1",
    "rs-2",
    "rs-3",
    "rs-4",
];
/// The built-in real servers, in keepalived.conf order (rs-1 .. rs-4).
const REAL_SERVERS: [&str; 4] = [
    "203.0.113.8",
    "203.0.113.10",
    "203.0.113.11",
    "203.0.113.13",
];

#[derive(Clone, Copy, Debug)]
enum HostForm {
    /// Bound to compute-N.
    Bound(u8),
    Absent,
    Null,
    Empty,
}

#[derive(Clone, Debug)]
struct PortPlan {
    vip_pair: bool,
    zero_pair: bool,
    client_pair: bool,
    security: bool,
    host: HostForm,
}

#[derive(Clone, Debug)]
struct GroupPlan {
    /// The default group's "ingress any from members of default" rule.
    remote_group_any: bool,
    icmp: bool,
    egress: bool,
    service_tcp: bool,
    service_udp: bool,
    /// The client leaves the default group for one that only allows egress.
    client_own_group: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Clients {
    Internal,
    External,
    Both,
}

#[derive(Clone, Debug)]
struct Variant {
    ports: Vec<PortPlan>,
    groups: GroupPlan,
    udp: bool,
    vport: u16,
    /// Per built-in real server: None = not in the virtual_server, else its weight.
    weights: Vec<Option<u32>>,
    clients: Clients,
    narrow_sources: bool,
    vrid_mismatch: bool,
    swap_priority: bool,
    /// A second virtual_server on the VIP (the other protocol's port 443 or 8080).
    extra_service: Option<(bool, u16)>,
    /// Per built-in real server: (VIP on lo, arp_announce).
    hosts: Vec<(bool, u8)>,
    /// director-2's virtual_server lacks the first real server.
    uneven: bool,
}

fn host_form() -> impl Strategy<Value = HostForm> {
    prop_oneof![
        6 => (1u8..=3).prop_map(HostForm::Bound),
        1 => Just(HostForm::Absent),
        1 => Just(HostForm::Null),
        1 => Just(HostForm::Empty),
    ]
}

fn port_plan(vip: f64, zero: f64) -> impl Strategy<Value = PortPlan> {
    (
        prop::bool::weighted(vip),
        prop::bool::weighted(zero),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.92),
        host_form(),
    )
        .prop_map(
            |(vip_pair, zero_pair, client_pair, security, host)| PortPlan {
                vip_pair,
                zero_pair,
                client_pair,
                security,
                host,
            },
        )
}

fn variant() -> impl Strategy<Value = Variant> {
    let ports = (
        port_plan(0.05, 0.05),
        port_plan(0.9, 0.7),
        port_plan(0.9, 0.7),
        prop::collection::vec(port_plan(0.85, 0.05), 4),
    )
        .prop_map(|(c, d1, d2, rs)| {
            let mut v = vec![c, d1, d2];
            v.extend(rs);
            v
        });
    let groups = (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(remote_group_any, icmp, egress, service_tcp, service_udp, client_own_group)| {
                GroupPlan {
                    remote_group_any,
                    icmp,
                    egress,
                    service_tcp,
                    service_udp,
                    client_own_group,
                }
            },
        );
    let weights = prop::collection::vec(
        prop_oneof![1 => Just(None), 1 => Just(Some(0u32)), 6 => (1u32..=3).prop_map(Some)],
        4,
    );
    let clients = prop_oneof![
        2 => Just(Clients::Internal),
        1 => Just(Clients::External),
        1 => Just(Clients::Both),
    ];
    (
        ports,
        groups,
        prop::bool::weighted(0.35),
        prop_oneof![Just(80u16), Just(53u16)],
        weights,
        clients,
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.2),
        prop::option::weighted(
            0.3,
            (any::<bool>(), prop_oneof![Just(443u16), Just(8080u16)]),
        ),
        prop::collection::vec((prop::bool::weighted(0.95), 0u8..=2), 4),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(
                ports,
                groups,
                udp,
                vport,
                weights,
                clients,
                narrow_sources,
                vrid_mismatch,
                swap_priority,
                extra_service,
                hosts,
                uneven,
            )| Variant {
                ports,
                groups,
                udp,
                vport,
                weights,
                clients,
                narrow_sources,
                vrid_mismatch,
                swap_priority,
                extra_service,
                hosts,
                uneven,
            },
        )
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn rule(
    group: &str,
    attr: u64,
    ingress: bool,
    protocol: Option<&str>,
    port: Option<u16>,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: format!("0b5e55ed-0000-4000-8000-{attr:012}"),
        security_group_id: group.to_string(),
        direction: if ingress {
            RuleDirection::Ingress
        } else {
            RuleDirection::Egress
        },
        ethertype: neutron::model::Ethertype::IPv4,
        protocol: protocol.map(str::to_string),
        port_range_min: port.map(u32::from),
        port_range_max: port.map(u32::from),
        remote_ip_prefix: if ingress {
            Some(net("0.0.0.0/0"))
        } else {
            None
        },
        remote_group_id: None,
        standard_attr_id: Some(attr),
        description: String::new(),
    }
}

/// The variant's Neutron data as a user would give it.
fn variant_cloud(v: &Variant) -> serde_json::Value {
    let mut cloud: Cloud =
        neutron::load::load_json(builtin::NEUTRON, "neutron.json").expect("built-in cloud");
    let group = cloud.security_groups[0].id.clone();
    {
        let g = cloud.group_mut(&group).unwrap();
        g.rules.retain(|r| {
            let members_any = r.remote_group_id.is_some() && r.protocol.is_none();
            let icmp = r.protocol.as_deref() == Some("icmp");
            let egress = r.direction == RuleDirection::Egress;
            let removed = (members_any && !v.groups.remote_group_any)
                || (icmp && !v.groups.icmp)
                || (egress && !v.groups.egress);
            r.ethertype != neutron::model::Ethertype::IPv4 || !removed
        });
        if v.groups.service_tcp {
            g.rules
                .push(rule(&group, 5001, true, Some("tcp"), Some(v.vport)));
        }
        if v.groups.service_udp {
            g.rules
                .push(rule(&group, 5002, true, Some("udp"), Some(v.vport)));
        }
    }
    if v.groups.client_own_group {
        let own = "c11e0700-0000-4000-8000-000000000001";
        cloud.security_groups.push(SecurityGroup {
            id: own.into(),
            name: "client-only".into(),
            rules: vec![rule(own, 6001, false, None, None)],
            ..SecurityGroup::default()
        });
        cloud.port_mut("client-1").unwrap().security_groups = vec![own.into()];
    }
    for (name, plan) in VM_PORTS.iter().zip(&v.ports) {
        let p = cloud.port_mut(name).unwrap();
        let mac = p.mac_address.clone();
        let pair = |ip: &str| AddressPair {
            ip_address: net(ip),
            mac_address: Some(mac.clone()),
            ip_text: None,
        };
        p.allowed_address_pairs.clear();
        if plan.vip_pair {
            p.allowed_address_pairs.push(pair(&format!("{VIP}/32")));
        }
        if plan.zero_pair {
            p.allowed_address_pairs.push(pair("0.0.0.0/0"));
        }
        if plan.client_pair {
            p.allowed_address_pairs
                .push(pair(&format!("{CLIENT_IP}/32")));
        }
        if !plan.security {
            // Neutron refuses port security off with groups or pairs on the port.
            p.port_security_enabled = false;
            p.security_groups.clear();
            p.allowed_address_pairs.clear();
        }
        p.host_id = match plan.host {
            HostForm::Bound(n) => format!("compute-{n}"),
            _ => String::new(),
        };
    }
    let mut json = cloud.to_json();
    for p in json["ports"].as_array_mut().unwrap() {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let Some(i) = VM_PORTS.iter().position(|n| *n == name) else {
            continue;
        };
        let o = p.as_object_mut().unwrap();
        match v.ports[i].host {
            HostForm::Absent => {
                o.remove("binding:host_id");
            }
            HostForm::Null => {
                o.insert("binding:host_id".into(), serde_json::Value::Null);
            }
            _ => {}
        }
    }
    json
}

fn scenario_yaml(v: &Variant) -> String {
    let mut s = String::from(
        "neutron: neutron.json\ndirectors:\n  - port: director-1\n    keepalived: k1.conf\n  \
         - port: director-2\n    keepalived: k2.conf\nclients:\n",
    );
    let mut sources = Vec::new();
    if v.clients != Clients::External {
        s += "  - port: client-1\n";
        sources.push(format!("{CLIENT_IP}/32"));
    }
    if v.clients != Clients::Internal {
        s += &format!("  - {{cidr: {OUTSIDE}, router_port: router-1}}\n");
        sources.push(OUTSIDE.to_string());
    }
    if v.narrow_sources {
        s += &format!("client_sources: [{}]\n", sources.join(", "));
    }
    s += "real_servers:\n";
    for (name, (lo, announce)) in VM_PORTS[3..].iter().zip(&v.hosts) {
        s += &format!("  - {{port: {name}, vip_on_lo: {lo}, arp_announce: {announce}}}\n");
    }
    s
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// The variant as a loaded scenario, with its keepalived model edited.
fn build(v: &Variant) -> Scenario {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "vipwire-props-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "neutron.json",
        &serde_json::to_string_pretty(&variant_cloud(v)).unwrap(),
    );
    write("k1.conf", builtin::KEEPALIVED_1);
    write("k2.conf", builtin::KEEPALIVED_2);
    write("scenario.yaml", &scenario_yaml(v));
    let loaded = Scenario::load(&dir.join("scenario.yaml"));
    std::fs::remove_dir_all(&dir).ok();
    let mut sc = loaded.unwrap_or_else(|e| panic!("variant does not load: {e}\n{v:?}"));

    for d in &mut sc.directors {
        for vs in &mut d.config.virtual_servers {
            vs.protocol = if v.udp { L4Proto::Udp } else { L4Proto::Tcp };
            vs.port = v.vport;
            let mut kept = Vec::new();
            for (ip, w) in REAL_SERVERS.iter().zip(&v.weights) {
                let ip: IpAddr = ip.parse().unwrap();
                let Some(w) = w else { continue };
                if let Some(rs) = vs.real_servers.iter().find(|r| r.addr == ip) {
                    let mut rs = rs.clone();
                    rs.weight = *w;
                    rs.port = v.vport;
                    kept.push(rs);
                }
            }
            vs.real_servers = kept;
        }
        if let Some((udp, port)) = v.extra_service {
            let mut extra = d.config.virtual_servers[0].clone();
            extra.protocol = if udp { L4Proto::Udp } else { L4Proto::Tcp };
            extra.port = port;
            for rs in &mut extra.real_servers {
                rs.port = port;
            }
            d.config.virtual_servers.push(extra);
        }
    }
    if v.uneven {
        let first: IpAddr = REAL_SERVERS[0].parse().unwrap();
        for vs in &mut sc.directors[1].config.virtual_servers {
            vs.real_servers.retain(|r| r.addr != first);
        }
    }
    if v.vrid_mismatch {
        sc.directors[1].config.vrrp_instances[0].virtual_router_id = 52;
    }
    if v.swap_priority {
        let p0 = sc.directors[0].config.vrrp_instances[0].priority;
        let p1 = sc.directors[1].config.vrrp_instances[0].priority;
        sc.directors[0].config.vrrp_instances[0].priority = p1;
        sc.directors[1].config.vrrp_instances[0].priority = p0;
    }
    sc
}

/// One (client class, holder, virtual service, real server) the check must cover.
#[derive(Debug)]
struct Path4 {
    client_port: String,
    client_ip: IpAddr,
    holder: String,
    holder_mac: String,
    vip: IpAddr,
    vport: u16,
    ip_proto: u8,
    rs_port: String,
    rs_mac: String,
}

/// Every path the scenario's inputs call for, from the keepalived model and the
/// cloud directly.
fn expected_paths(sc: &Scenario) -> Vec<Path4> {
    let mut out = Vec::new();
    for d in &sc.directors {
        let vips: Vec<IpAddr> = d
            .config
            .vrrp_instances
            .iter()
            .flat_map(|i| i.virtual_ipaddresses.iter().map(|n| n.addr()))
            .collect();
        if vips.is_empty() {
            continue; // never holds a VIP
        }
        let holder = sc.cloud.port(&d.port_id).unwrap();
        for vs in &d.config.virtual_servers {
            for krs in vs.real_servers.iter().filter(|r| r.weight > 0) {
                let Some(rs) = sc
                    .cloud
                    .ports
                    .iter()
                    .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == krs.addr))
                else {
                    continue; // no port: a finding fails the check
                };
                for c in &sc.clients {
                    out.push(Path4 {
                        client_port: c.port_id.clone(),
                        client_ip: c.ip,
                        holder: holder.id.clone(),
                        holder_mac: holder.mac_address.to_lowercase(),
                        vip: vs.addr,
                        vport: vs.port,
                        ip_proto: match vs.protocol {
                            L4Proto::Tcp => proto::TCP,
                            L4Proto::Udp => proto::UDP,
                        },
                        rs_port: rs.id.clone(),
                        rs_mac: rs.mac_address.to_lowercase(),
                    });
                }
            }
        }
    }
    out
}

fn ip(p: &PacketResult) -> Option<&Packet> {
    match &p.payload {
        Payload::Ip(b) => Some(b),
        Payload::Arp(_) => None,
    }
}

fn mac(m: &Option<MacAddr>) -> String {
    m.map(|m| m.to_string()).unwrap_or_default()
}

/// (a) and (b) for a passing report of `sc`.
fn assert_complete(sc: &Scenario, report: &CheckReport) -> Result<(), TestCaseError> {
    prop_assert!(report.passed());
    for path in expected_paths(sc) {
        // The client's packet to the service through this holder, DR-forwarded to
        // this real server.
        let flows: Vec<_> = report
            .flows
            .iter()
            .filter(|f| {
                f.packets.iter().any(|p| {
                    p.from_port == path.client_port
                        && p.to_port.as_deref() == Some(path.holder.as_str())
                        && ip(p).is_some_and(|q| {
                            q.dst == path.vip && q.dport == path.vport && q.proto == path.ip_proto
                        })
                }) && f.packets.iter().any(|p| {
                    p.role == StepRole::DrForward
                        && p.from_port == path.holder
                        && p.to_port.as_deref() == Some(path.rs_port.as_str())
                })
            })
            .collect();
        // (a)
        prop_assert!(
            flows.iter().any(|f| f.outcome == Outcome::Pass),
            "no passing flow for {path:?}; flows: {:?}",
            report.flows.iter().map(|f| &f.name).collect::<Vec<_>>()
        );
        // (b)
        for f in flows {
            prop_assert!(
                f.packets.iter().all(|p| p.outcome == Outcome::Pass),
                "{}: not every packet passes",
                f.name
            );
            let first = &f.packets[0];
            prop_assert!(
                matches!(&first.payload, Payload::Arp(a) if !a.reply && a.target_ip == path.vip)
                    && first.from_port == path.client_port,
                "{}: does not start with the client's who-has for the VIP",
                f.name
            );
            let dr = f
                .packets
                .iter()
                .filter(|p| p.role == StepRole::DrForward)
                .collect::<Vec<_>>();
            prop_assert!(!dr.is_empty());
            for p in dr {
                let q = ip(p).expect("a DR copy is an IP packet");
                prop_assert_eq!(
                    q.src,
                    path.client_ip,
                    "{}: DR keeps the client's IP",
                    &f.name
                );
                prop_assert_eq!(q.dst, path.vip);
                prop_assert_eq!(q.dport, path.vport);
                prop_assert_eq!(q.proto, path.ip_proto);
                prop_assert_eq!(mac(&q.src_mac), path.holder_mac.clone());
                prop_assert_eq!(mac(&q.dst_mac), path.rs_mac.clone());
            }
            prop_assert!(
                f.packets.iter().any(|p| {
                    p.from_port == path.rs_port
                        && p.to_port.as_deref() == Some(path.client_port.as_str())
                        && ip(p).is_some_and(|q| {
                            q.src == path.vip
                                && q.sport == path.vport
                                && q.dst == path.client_ip
                                && q.proto == path.ip_proto
                        })
                }),
                "{}: no reply from the VIP at the real server's port to the client's",
                f.name
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn coverage_is_complete_and_fixes_hold(v in variant()) {
        let sc = build(&v);
        // (c) the rules of any variant build, and nothing panics.
        let report = check::run(&sc).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let _ = render_check(&report, true);
        if report.passed() {
            assert_complete(&sc, &report)?;
            return Ok(());
        }
        let fix = find_fix(&sc, &report).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let _ = render_fix(&fix);
        let changes: Vec<Change> = fix.changes.iter().map(|c| c.change.clone()).collect();
        let fixed = with_changes(&sc, &changes);
        let again = check::run(&fixed).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(again.passed(), fix.recheck.passed(), "re-check differs from a fresh run");
        if report.findings.is_empty() {
            prop_assert!(
                fix.recheck.passed() || !fix.unfixable.is_empty(),
                "find_fix neither passes nor names what it cannot fix:\n{}{}",
                render_check(&report, false),
                render_fix(&fix)
            );
        }
        if fix.recheck.passed() {
            assert_complete(&fixed, &fix.recheck)?;
        }
    }
}

/// (c) on one input found while writing these tests: a declared client whose address
/// lies outside `client_sources`. find_fix proposes pairs for `client_sources` only,
/// they cannot help, the next round proposes nothing new, and the report neither
/// passes nor says what it could not fix.
#[test]
fn fix_for_a_client_outside_client_sources_passes_or_says_why() {
    let mut sc = Scenario::builtin().unwrap();
    sc.client_sources = vec![net(OUTSIDE)];
    let report = check::run(&sc).unwrap();
    assert!(!report.passed() && report.findings.is_empty());
    let fix = find_fix(&sc, &report).unwrap();
    assert!(
        fix.recheck.passed() || !fix.unfixable.is_empty(),
        "{}",
        render_fix(&fix)
    );
}
