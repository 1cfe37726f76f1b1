//! The picture's model, built once from a check and drawn by every format.
//!
//! Rows are compute hosts (`binding:host_id`; an outside row for clients behind
//! a router), columns are roles (clients and routers, directors, real
//! servers). A leg is one (sender port, receiver port, verdict) that some
//! packet of some flow took: the drawings show legs, not the hundreds of
//! packets behind them. A drop is one rule that killed packets, numbered in
//! order of first appearance; the leg carries its number at the end where the
//! rule sits (the sender for egress, the receiver for ingress and host drops).

use check::diagnose::Drop;
use check::simulate::{FlowResult, Outcome};
use check::{CheckReport, Scenario};
use fabric::Side;

/// What a port is in the load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Client,
    Router,
    Director,
    RealServer,
    Other,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Router => "router",
            Role::Director => "director",
            Role::RealServer => "real server",
            Role::Other => "port",
        }
    }

    /// The picture's column: clients and routers, directors, real servers.
    pub fn column(self) -> usize {
        match self {
            Role::Client | Role::Router | Role::Other => 0,
            Role::Director => 1,
            Role::RealServer => 2,
        }
    }
}

/// One Neutron port in the picture.
#[derive(Clone, Debug)]
pub struct PortNode {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Compute host (`binding:host_id`), or "(unbound)".
    pub host: String,
    pub network: String,
    pub ips: Vec<String>,
    pub mac: String,
    /// Allowed address pairs as `ip` or `ip mac`.
    pub pairs: Vec<String>,
    /// The VIPs this director holds as VRRP master (empty for a backup).
    pub master_of: Vec<String>,
    /// The VIPs this director holds after a failover.
    pub backup_of: Vec<String>,
}

/// A client outside the cloud, reached through a router port.
#[derive(Clone, Debug)]
pub struct OutsideClient {
    pub ip: String,
    pub via_port: String,
}

/// What happened to the packets of a leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LegState {
    Pass,
    Drop,
    /// Never sent: an earlier packet of its flow was dropped.
    NeverSent,
}

impl LegState {
    pub fn word(self) -> &'static str {
        match self {
            LegState::Pass => "pass",
            LegState::Drop => "drop",
            LegState::NeverSent => "never-sent",
        }
    }
}

/// Packets from one port to another (or broadcast) with one verdict.
#[derive(Clone, Debug)]
pub struct Leg {
    pub from: String,
    /// None: a broadcast or multicast (ARP, IPv6 ND) nobody in particular receives.
    pub to: Option<String>,
    pub state: LegState,
    pub packets: usize,
    /// Flow indices (into `CheckReport::flows`), in order, without repeats.
    pub flows: Vec<usize>,
    /// Drop numbers (1-based, into `Topology::drops`) on this leg.
    pub drops: Vec<usize>,
}

/// Where a drop sits on its leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropEnd {
    Sender,
    Receiver,
}

/// One rule that dropped packets, with every (flow, packet) it dropped.
#[derive(Clone, Debug)]
pub struct DropGroup {
    /// 1-based, in order of first appearance.
    pub number: usize,
    pub drop: Drop,
    /// (flow name, packet label).
    pub hits: Vec<(String, String)>,
    pub end: DropEnd,
}

impl DropGroup {
    /// The deciding rule in a few words: iptables chain and rule number, OVN
    /// pipeline stage, or what refused it.
    pub fn short_rule(&self) -> String {
        let d = &self.drop;
        if d.host_kind.contains("logical") && !d.chain.is_empty() {
            // OVN: the stage and the logical flow's priority.
            match d
                .rule_text
                .split(", ")
                .next()
                .filter(|p| p.starts_with("priority"))
            {
                Some(prio) => format!("{}, {prio}", d.chain),
                None => d.chain.clone(),
            }
        } else if !d.chain.is_empty() && d.rule_num > 0 {
            format!("{} rule {}", d.chain, d.rule_num)
        } else if !d.place.is_empty() {
            d.place.clone()
        } else {
            format!("{:?}", d.kind).to_lowercase()
        }
    }

    /// Where: host kind and name, port, side.
    pub fn where_text(&self) -> String {
        let d = &self.drop;
        let side = match d.side {
            Some(Side::Egress) => " egress",
            Some(Side::Ingress) => " ingress",
            None => "",
        };
        if d.place.is_empty() {
            format!("port {}{side} ({} {})", d.port, d.host_kind, d.host)
        } else {
            format!(
                "port {}{side} on {} {}: {}",
                d.port, d.host_kind, d.host, d.place
            )
        }
    }
}

/// One hop of a flow's path: packets between two ports, in the flow's order.
#[derive(Clone, Debug)]
pub struct PathStep {
    pub from: String,
    /// "(broadcast)" for a broadcast.
    pub to: String,
    pub state: LegState,
    /// The first packet of this step (for a drop: the dropped one).
    pub what: String,
    pub packets: usize,
    pub drop: Option<usize>,
}

/// A flow as the path its packets took.
#[derive(Clone, Debug)]
pub struct FlowPath {
    pub name: String,
    pub category: String,
    pub outcome: Outcome,
    pub steps: Vec<PathStep>,
}

/// Everything the drawings need.
#[derive(Clone, Debug)]
pub struct Topology {
    pub title: String,
    pub driver: String,
    /// Compute hosts in the order the picture draws them.
    pub hosts: Vec<String>,
    pub ports: Vec<PortNode>,
    pub outside: Vec<OutsideClient>,
    /// Each VIP and the directors by election (master first).
    pub vips: Vec<(String, Vec<String>)>,
    pub legs: Vec<Leg>,
    pub drops: Vec<DropGroup>,
    pub flows: Vec<FlowPath>,
    pub passed: usize,
    pub total: usize,
}

impl Topology {
    pub fn port(&self, id: &str) -> Option<&PortNode> {
        self.ports.iter().find(|p| p.id == id)
    }

    /// The ports of one host in one column, in picture order.
    pub fn cell(&self, host: &str, column: usize) -> Vec<&PortNode> {
        self.ports
            .iter()
            .filter(|p| p.host == host && p.role.column() == column)
            .collect()
    }
}

fn category_word(f: &FlowResult) -> String {
    serde_json::to_value(f.category)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn drop_key(d: &Drop) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}",
        d.host, d.port, d.table, d.chain, d.rule_num, d.kind
    )
}

/// Build the model of `check` run on `sc`.
pub fn build(sc: &Scenario, check: &CheckReport) -> Topology {
    let mut ports: Vec<PortNode> = Vec::new();
    let holders: Vec<String> = sc
        .directors_by_election()
        .iter()
        .map(|d| d.port_id.clone())
        .collect();
    let mut add = |id: &str, role: Role| {
        if ports.iter().any(|p| p.id == id) || sc.cloud.port(id).is_none() {
            return;
        }
        let p = sc.port(id);
        let vips_of = |first: bool| -> Vec<String> {
            sc.directors
                .iter()
                .filter(|d| d.port_id == id)
                .filter(|_| (holders.first().map(String::as_str) == Some(id)) == first)
                .flat_map(|d| sc.vips_of(d))
                .map(|v| v.to_string())
                .collect()
        };
        ports.push(PortNode {
            id: id.to_string(),
            name: sc.port_label(id),
            role,
            host: if p.host_id.is_empty() {
                "(unbound)".into()
            } else {
                p.host_id.clone()
            },
            network: sc.network_label(id),
            ips: p
                .fixed_ips
                .iter()
                .map(|f| f.ip_address.to_string())
                .collect(),
            mac: p.mac_address.clone(),
            pairs: p
                .allowed_address_pairs
                .iter()
                .map(|a| match &a.mac_address {
                    Some(m) if !m.eq_ignore_ascii_case(&p.mac_address) => {
                        format!("{} {}", a.ip_address, m.to_lowercase())
                    }
                    _ => a.ip_address.to_string(),
                })
                .collect(),
            master_of: vips_of(true),
            backup_of: vips_of(false),
        });
    };
    for d in &sc.directors {
        add(&d.port_id, Role::Director);
    }
    for r in &sc.real_servers {
        add(&r.port_id, Role::RealServer);
    }
    let mut outside = Vec::new();
    for c in &sc.clients {
        if c.external {
            add(&c.port_id, Role::Router);
            outside.push(OutsideClient {
                ip: c.ip.to_string(),
                via_port: c.port_id.clone(),
            });
        } else {
            add(&c.port_id, Role::Client);
        }
    }
    for f in &check.flows {
        for p in &f.packets {
            add(&p.from_port, Role::Other);
            if let Some(t) = &p.to_port {
                add(t, Role::Other);
            }
        }
    }
    let mut hosts: Vec<String> = Vec::new();
    for p in &ports {
        if !hosts.contains(&p.host) {
            hosts.push(p.host.clone());
        }
    }
    hosts.sort();

    // Drops grouped by rule, numbered in order of first appearance.
    let mut drops: Vec<DropGroup> = Vec::new();
    for (f, p, d) in check.drops() {
        let key = drop_key(d);
        match drops.iter_mut().find(|g| drop_key(&g.drop) == key) {
            Some(g) => g.hits.push((f.name.clone(), p.what.clone())),
            None => drops.push(DropGroup {
                number: drops.len() + 1,
                drop: d.clone(),
                hits: vec![(f.name.clone(), p.what.clone())],
                end: match d.side {
                    Some(Side::Egress) => DropEnd::Sender,
                    _ => DropEnd::Receiver,
                },
            }),
        }
    }
    let drop_number = |d: &Drop| {
        let key = drop_key(d);
        drops
            .iter()
            .find(|g| drop_key(&g.drop) == key)
            .map(|g| g.number)
    };

    let mut legs: Vec<Leg> = Vec::new();
    let mut flows = Vec::new();
    for (fi, f) in check.flows.iter().enumerate() {
        let mut steps: Vec<PathStep> = Vec::new();
        for p in &f.packets {
            let state = match p.outcome {
                Outcome::Pass => LegState::Pass,
                Outcome::Drop => LegState::Drop,
                Outcome::Skipped => LegState::NeverSent,
            };
            let number = p.drop.as_ref().and_then(drop_number);
            let leg = match legs
                .iter_mut()
                .find(|l| l.from == p.from_port && l.to == p.to_port && l.state == state)
            {
                Some(l) => l,
                None => {
                    legs.push(Leg {
                        from: p.from_port.clone(),
                        to: p.to_port.clone(),
                        state,
                        packets: 0,
                        flows: Vec::new(),
                        drops: Vec::new(),
                    });
                    legs.last_mut().unwrap()
                }
            };
            leg.packets += 1;
            if leg.flows.last() != Some(&fi) {
                leg.flows.push(fi);
            }
            if let Some(n) = number.filter(|n| !leg.drops.contains(n)) {
                leg.drops.push(n);
            }
            match steps.last_mut() {
                Some(s) if s.from == p.from && s.to == p.to && s.state == state => s.packets += 1,
                _ => steps.push(PathStep {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    state,
                    what: p.what.clone(),
                    packets: 1,
                    drop: number,
                }),
            }
        }
        flows.push(FlowPath {
            name: f.name.clone(),
            category: category_word(f),
            outcome: f.outcome,
            steps,
        });
    }

    let vips = sc
        .vips()
        .into_iter()
        .map(|v| {
            let by: Vec<String> = sc
                .directors_by_election()
                .into_iter()
                .filter(|d| sc.vips_of(d).contains(&v))
                .map(|d| sc.port_label(&d.port_id))
                .collect();
            (v.to_string(), by)
        })
        .collect();
    let (passed, total) = check.tally();
    Topology {
        title: check.scenario.clone(),
        driver: sc.driver.name().to_string(),
        hosts,
        ports,
        outside,
        vips,
        legs,
        drops,
        flows,
        passed,
        total,
    }
}
