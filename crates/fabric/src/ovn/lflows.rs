//! The logical flows ovn-northd 23.03 derives for the stages vipwire models,
//! printed like `ovn-sbctl lflow-list` after the conformance normalisation
//! (docs/conformance-ovn.md: one datapath per logical switch, flows of a stage
//! by descending priority then match, the DHCP server's random MAC as
//! `<dhcp-server-mac>`). [`super::OvnFabric`] builds its packet traces from the
//! same texts ([`AclFlow`], [`fixed`]), so a trace step is a line of this list.
//!
//! Stages: port security in and out, pre-ACL/pre-LB/pre-stateful, ACL hints,
//! ACLs, the ARP/ND responder and L2 lookup. Facts: northd.c of OVN 23.03
//! (`build_pre_acls`, `build_acl_hints`, `build_acls`, `consider_acl`,
//! `build_lswitch_arp_nd_responder_known_ips`, `build_lswitch_ip_unicast_lookup`),
//! checked against the real northd on the conformance clouds.

use std::fmt::Write;
use std::net::{IpAddr, Ipv6Addr};

use neutron::firewall::ovn::{Acl, AclAction, AclDirection, LogicalSwitch, LspType, Northbound};
use neutron::model::{Cloud, Port};

use super::table;

/// One logical flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lflow {
    pub stage: &'static str,
    pub table: usize,
    pub priority: u32,
    pub m: String,
    pub action: String,
}

impl Lflow {
    pub fn new(
        stage: &'static str,
        table: usize,
        priority: u32,
        m: impl Into<String>,
        action: impl Into<String>,
    ) -> Lflow {
        Lflow {
            stage,
            table,
            priority,
            m: m.into(),
            action: action.into(),
        }
    }
}

/// The fixed flow texts the pipeline walk shares with this listing.
pub mod fixed {
    pub const SVC_MONITOR_DST: &str = "eth.dst == $svc_monitor_mac";
    pub const SVC_MONITOR_SRC: &str = "eth.src == $svc_monitor_mac";
    pub const MCAST: &str = "eth.mcast";
    pub const ND_PRE_ACL: &str =
        "nd || nd_rs || nd_ra || mldv1 || mldv2 || (udp && udp.src == 546 && udp.dst == 547)";
    pub const ND_PRE_LB: &str = "nd || nd_rs || nd_ra || mldv1 || mldv2";
    pub const ND_ACL: &str = "nd || nd_ra || nd_rs || mldv1 || mldv2";
    pub const CT_INV: &str = "ct.inv || (ct.est && ct.rpl && ct_mark.blocked == 1)";
    pub const CT_EST_REPLY: &str =
        "ct.est && !ct.rel && !ct.new && !ct.inv && ct.rpl && ct_mark.blocked == 0";
    pub const CT_REL: &str = "!ct.est && ct.rel && !ct.new && !ct.inv && ct_mark.blocked == 0";
    /// What an allow-stateless ACL's pre-ACL flow does: skip conntrack and
    /// load balancing (reg0[16], which ls_*_pre_lb tests).
    pub const STATELESS_PRE_ACL: &str = "reg0[16] = 1; next;";
    pub const DEFAULT_COMMIT: &str = "ip && !ct.est";
    pub const DEFAULT_COMMIT_BLOCKED: &str = "ip && ct.est && ct_mark.blocked == 1";
    /// ls_*_acl_hint: (priority, match, action).
    pub const HINTS: [(u32, &str, &str); 7] = [
        (7, "ct.new && !ct.est", "reg0[7] = 1; reg0[9] = 1; next;"),
        (
            6,
            "!ct.new && ct.est && !ct.rpl && ct_mark.blocked == 1",
            "reg0[7] = 1; reg0[9] = 1; next;",
        ),
        (5, "!ct.trk", "reg0[8] = 1; reg0[9] = 1; next;"),
        (
            4,
            "!ct.new && ct.est && !ct.rpl && ct_mark.blocked == 0",
            "reg0[8] = 1; reg0[10] = 1; next;",
        ),
        (3, "!ct.est", "reg0[9] = 1; next;"),
        (2, "ct.est && ct_mark.blocked == 1", "reg0[9] = 1; next;"),
        (1, "ct.est && ct_mark.blocked == 0", "reg0[10] = 1; next;"),
    ];
}

/// Which acl_hint register an ACL flow tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// No hint: a switch without stateful ACLs, or an allow-stateless ACL.
    Plain,
    /// reg0[7]: a new connection (allow ACLs commit it).
    New,
    /// reg0[8]: an established or untracked packet in the original direction.
    Est,
    /// reg0[9]: drop ACLs for packets not part of an established connection.
    DropNew,
    /// reg0[10]: drop ACLs for established connections (marked blocked).
    DropEst,
}

/// The flow(s) `consider_acl` makes of one ACL.
pub struct AclFlow;

impl AclFlow {
    pub fn priority(acl: &Acl) -> u32 {
        u32::from(acl.priority) + 1000
    }

    /// The hints an ACL's flows test on a switch (`stateful`: any stateful ACL).
    pub fn hints(acl: &Acl, stateful: bool) -> &'static [Hint] {
        match (acl.action, stateful) {
            (AclAction::AllowStateless, _) | (_, false) => &[Hint::Plain],
            (AclAction::AllowRelated, true) => &[Hint::New, Hint::Est],
            (AclAction::Drop, true) => &[Hint::DropEst, Hint::DropNew],
        }
    }

    pub fn matches(acl: &Acl, hint: Hint) -> String {
        let reg = match hint {
            Hint::Plain => return acl.match_text.clone(),
            Hint::New => 7,
            Hint::Est => 8,
            Hint::DropNew => 9,
            Hint::DropEst => 10,
        };
        format!("reg0[{reg}] == 1 && ({})", acl.match_text)
    }

    pub fn action(acl: &Acl, hint: Hint) -> &'static str {
        match (acl.action, hint) {
            (AclAction::Drop, Hint::DropEst) => "ct_commit { ct_mark.blocked = 1; }; /* drop */",
            (AclAction::Drop, _) => "/* drop */",
            (_, Hint::New) => "reg0[1] = 1; next;",
            _ => "next;",
        }
    }
}

/// What northd knows of a switch's ACLs.
pub struct SwitchAcls<'a> {
    /// The ACLs of port groups with a port on this switch.
    pub acls: Vec<&'a Acl>,
    /// Some ACL is stateful (allow-related): IP goes through conntrack.
    pub stateful: bool,
}

impl<'a> SwitchAcls<'a> {
    pub fn of(nb: &'a Northbound, ls: &LogicalSwitch) -> SwitchAcls<'a> {
        let acls: Vec<&Acl> = nb
            .acls
            .iter()
            .filter(|a| {
                nb.port_groups
                    .iter()
                    .any(|g| g.name == a.port_group && g.ports.iter().any(|p| ls.ports.contains(p)))
            })
            .collect();
        let stateful = acls.iter().any(|a| a.action == AclAction::AllowRelated);
        SwitchAcls { acls, stateful }
    }
}

/// A switch's ports of type `router` (a Neutron router's interface, with its
/// peer router port): northd keeps their IP traffic out of the switch's
/// conntrack (`skip_port_from_conntrack`, northd.c 23.03: the router's other
/// side may be on another chassis, whose zone never saw the connection).
pub fn router_ports<'a>(
    nb: &'a Northbound,
    ls: &'a LogicalSwitch,
) -> impl Iterator<Item = &'a str> {
    ls.ports
        .iter()
        .filter_map(move |p| nb.port(p))
        .filter(|p| p.lsp_type == "router")
        .map(|p| p.name.as_str())
}

/// The solicited-node multicast address of an IPv6 address.
fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from(o[14]) << 8 | u16::from(o[15]),
    )
}

/// `addresses` entries with IPs, parsed: (MAC, IPs); `unknown` left out.
fn address_entries(addresses: &[String]) -> Vec<(String, Vec<IpAddr>)> {
    addresses
        .iter()
        .filter(|a| *a != "unknown")
        .map(|a| {
            let mut w = a.split_whitespace();
            let mac = w.next().unwrap_or_default().to_lowercase();
            (mac, w.filter_map(|x| x.parse().ok()).collect())
        })
        .collect()
}

/// Every modelled flow of one switch, both pipelines.
pub fn switch_flows(cloud: &Cloud, nb: &Northbound, ls: &LogicalSwitch) -> Vec<Lflow> {
    use fixed::*;
    let sw = SwitchAcls::of(nb, ls);
    let has_acls = !sw.acls.is_empty();
    let mut f = Vec::new();
    let mut add = |stage, t, p, m: &str, a: &str| f.push(Lflow::new(stage, t, p, m, a));
    // Port security.
    add(
        "ls_in_check_port_sec",
        table::IN_CHECK_PORT_SEC,
        100,
        "eth.src[40]",
        "drop;",
    );
    add(
        "ls_in_check_port_sec",
        table::IN_CHECK_PORT_SEC,
        100,
        "vlan.present",
        "drop;",
    );
    add(
        "ls_in_check_port_sec",
        table::IN_CHECK_PORT_SEC,
        50,
        "1",
        "reg0[15] = check_in_port_sec(); next;",
    );
    add(
        "ls_in_apply_port_sec",
        table::IN_APPLY_PORT_SEC,
        50,
        "reg0[15] == 1",
        "drop;",
    );
    add(
        "ls_in_apply_port_sec",
        table::IN_APPLY_PORT_SEC,
        0,
        "1",
        "next;",
    );
    add(
        "ls_out_check_port_sec",
        table::OUT_CHECK_PORT_SEC,
        100,
        MCAST,
        "reg0[15] = 0; next;",
    );
    add(
        "ls_out_check_port_sec",
        table::OUT_CHECK_PORT_SEC,
        0,
        "1",
        "reg0[15] = check_out_port_sec(); next;",
    );
    add(
        "ls_out_apply_port_sec",
        table::OUT_APPLY_PORT_SEC,
        50,
        "reg0[15] == 1",
        "drop;",
    );
    add(
        "ls_out_apply_port_sec",
        table::OUT_APPLY_PORT_SEC,
        0,
        "1",
        "output;",
    );
    // pre-ACL, pre-LB, pre-stateful.
    for (dir, pre_acl, t_acl, pre_lb, t_lb, pre_st, t_st, svc) in [
        (
            AclDirection::FromLport,
            "ls_in_pre_acl",
            table::IN_PRE_ACL,
            "ls_in_pre_lb",
            table::IN_PRE_LB,
            "ls_in_pre_stateful",
            table::IN_PRE_STATEFUL,
            SVC_MONITOR_DST,
        ),
        (
            AclDirection::ToLport,
            "ls_out_pre_acl",
            table::OUT_PRE_ACL,
            "ls_out_pre_lb",
            table::OUT_PRE_LB,
            "ls_out_pre_stateful",
            table::OUT_PRE_STATEFUL,
            SVC_MONITOR_SRC,
        ),
    ] {
        add(pre_acl, t_acl, 110, svc, "next;");
        let field = match dir {
            AclDirection::FromLport => "inport",
            AclDirection::ToLport => "outport",
        };
        let routers: Vec<String> = router_ports(nb, ls)
            .map(|p| format!("ip && {field} == \"{p}\""))
            .collect();
        for m in &routers {
            add(pre_lb, t_lb, 110, m, "next;");
        }
        if sw.stateful {
            for m in &routers {
                add(pre_acl, t_acl, 110, m, "next;");
            }
            add(pre_acl, t_acl, 110, MCAST, "next;");
            add(pre_acl, t_acl, 110, ND_PRE_ACL, "next;");
            for a in sw
                .acls
                .iter()
                .filter(|a| a.direction == dir && a.action == AclAction::AllowStateless)
            {
                add(
                    pre_acl,
                    t_acl,
                    AclFlow::priority(a),
                    &a.match_text,
                    STATELESS_PRE_ACL,
                );
            }
            add(pre_acl, t_acl, 100, "ip", "reg0[0] = 1; next;");
        }
        add(pre_acl, t_acl, 0, "1", "next;");
        add(pre_lb, t_lb, 110, svc, "next;");
        add(pre_lb, t_lb, 110, MCAST, "next;");
        add(pre_lb, t_lb, 110, ND_PRE_LB, "next;");
        add(pre_lb, t_lb, 110, "reg0[16] == 1", "next;");
        add(pre_lb, t_lb, 0, "1", "next;");
        add(pre_st, t_st, 110, "reg0[2] == 1", "ct_lb_mark;");
        add(pre_st, t_st, 100, "reg0[0] == 1", "ct_next;");
        add(pre_st, t_st, 0, "1", "next;");
    }
    // ACL hints and ACLs.
    for (dir, hint, t_hint, acl, t_acl, svc) in [
        (
            AclDirection::FromLport,
            "ls_in_acl_hint",
            table::IN_ACL_HINT,
            "ls_in_acl",
            table::IN_ACL,
            SVC_MONITOR_DST,
        ),
        (
            AclDirection::ToLport,
            "ls_out_acl_hint",
            table::OUT_ACL_HINT,
            "ls_out_acl",
            table::OUT_ACL,
            SVC_MONITOR_SRC,
        ),
    ] {
        add(acl, t_acl, 65532, ND_ACL, "next;");
        // Native DHCP replies pass whether or not the switch has ACLs.
        if dir == AclDirection::ToLport {
            for (m, a) in dhcp_reply_flows(cloud, ls, sw.stateful) {
                add(acl, t_acl, 34000, &m, &a);
            }
        }
        if !has_acls {
            add(hint, t_hint, 65535, "1", "next;");
            add(acl, t_acl, 65535, "1", "next;");
            continue;
        }
        add(hint, t_hint, 0, "1", "next;");
        add(acl, t_acl, 34000, svc, "next;");
        add(acl, t_acl, 0, "1", "next;");
        if sw.stateful {
            for (p, m, a) in HINTS {
                add(hint, t_hint, p, m, a);
            }
            add(acl, t_acl, 65532, CT_INV, "drop;");
            let (est, rel) = match dir {
                AclDirection::FromLport => (
                    "reg0[9] = 0; reg0[10] = 0; reg0[17] = 1; next;",
                    "reg0[17] = 1; ct_commit_nat;",
                ),
                AclDirection::ToLport => ("next;", "ct_commit_nat;"),
            };
            add(acl, t_acl, 65532, CT_EST_REPLY, est);
            add(acl, t_acl, 65532, CT_REL, rel);
            add(acl, t_acl, 1, DEFAULT_COMMIT, "reg0[1] = 1; next;");
            add(acl, t_acl, 1, DEFAULT_COMMIT_BLOCKED, "reg0[1] = 1; next;");
        }
        for a in sw.acls.iter().filter(|a| a.direction == dir) {
            for &h in AclFlow::hints(a, sw.stateful) {
                let m = AclFlow::matches(a, h);
                add(acl, t_acl, AclFlow::priority(a), &m, AclFlow::action(a, h));
            }
        }
    }
    // ARP/ND responder and L2 lookup.
    add("ls_in_arp_rsp", table::IN_ARP_RSP, 0, "1", "next;");
    add(
        "ls_in_l2_lkup",
        table::IN_L2_LKUP,
        110,
        "eth.dst == $svc_monitor_mac && (tcp || icmp || icmp6)",
        "handle_svc_check(inport);",
    );
    add(
        "ls_in_l2_lkup",
        table::IN_L2_LKUP,
        70,
        MCAST,
        "outport = \"_MC_flood\"; output;",
    );
    add(
        "ls_in_l2_lkup",
        table::IN_L2_LKUP,
        0,
        "1",
        "outport = get_fdb(eth.dst); next;",
    );
    for p in ls.ports.iter().filter_map(|p| nb.port(p)) {
        let entries = address_entries(&p.addresses);
        for (mac, _) in &entries {
            add(
                "ls_in_l2_lkup",
                table::IN_L2_LKUP,
                50,
                &format!("eth.dst == {mac}"),
                &format!("outport = \"{}\"; output;", p.name),
            );
        }
        if let LspType::Virtual { ip, parents } = &p.kind {
            for parent in parents {
                let m = match ip {
                    IpAddr::V4(v) => format!(
                        "inport == \"{parent}\" && ((arp.op == 1 && arp.spa == {v} && arp.tpa == \
                         {v}) || (arp.op == 2 && arp.spa == {v}))"
                    ),
                    IpAddr::V6(v) => format!(
                        "inport == \"{parent}\" && ((nd_ns && ip6.dst == {{{v}, {}}} && nd.target \
                         == {v}) ||(nd_na && nd.target == {v}))",
                        solicited_node(*v)
                    ),
                };
                add(
                    "ls_in_arp_rsp",
                    table::IN_ARP_RSP,
                    100,
                    &m,
                    &format!("bind_vport(\"{}\", inport); next;", p.name),
                );
            }
            continue;
        }
        if p.addresses.iter().any(|a| a == "unknown") {
            continue;
        }
        for (mac, ips) in &entries {
            for ip in ips {
                let (m, reply) = match ip {
                    IpAddr::V4(v) => (
                        format!("arp.tpa == {v} && arp.op == 1"),
                        format!(
                            "eth.dst = eth.src; eth.src = {mac}; arp.op = 2; /* ARP reply */ \
                             arp.tha = arp.sha; arp.sha = {mac}; arp.tpa = arp.spa; arp.spa = \
                             {v}; outport = inport; flags.loopback = 1; output;"
                        ),
                    ),
                    IpAddr::V6(v) => (
                        format!(
                            "nd_ns && ip6.dst == {{{v}, {}}} && nd.target == {v}",
                            solicited_node(*v)
                        ),
                        format!(
                            "nd_na {{ eth.src = {mac}; ip6.src = {v}; nd.target = {v}; nd.tll = \
                             {mac}; outport = inport; flags.loopback = 1; output; }};"
                        ),
                    ),
                };
                add(
                    "ls_in_arp_rsp",
                    table::IN_ARP_RSP,
                    100,
                    &format!("{m} && inport == \"{}\"", p.name),
                    "next;",
                );
                add("ls_in_arp_rsp", table::IN_ARP_RSP, 50, &m, &reply);
            }
        }
    }
    f
}

/// ls_out_acl lets native DHCP replies to a port through (priority 34000):
/// from the subnet's DHCP server (its gateway address, a random MAC that the
/// listing shows as `<dhcp-server-mac>`).
fn dhcp_reply_flows(cloud: &Cloud, ls: &LogicalSwitch, stateful: bool) -> Vec<(String, String)> {
    let action = if stateful {
        "ct_commit; next;"
    } else {
        "next;"
    };
    let mut out = Vec::new();
    for p in ls
        .ports
        .iter()
        .filter_map(|p| cloud.ports.iter().find(|c| &c.id == p))
    {
        let (v4, v6) = dhcp_servers(cloud, p);
        if let Some(gw) = v4 {
            out.push((
                format!(
                    "outport == \"{}\" && eth.src == <dhcp-server-mac> && ip4.src == {gw} && udp \
                     && udp.src == 67 && udp.dst == 68",
                    p.id
                ),
                action.to_string(),
            ));
        }
        if v6 {
            out.push((
                format!(
                    "outport == \"{}\" && eth.src == <dhcp-server-mac> && ip6.src == \
                     <dhcp-server-lla> && udp && udp.src == 547 && udp.dst == 546",
                    p.id
                ),
                action.to_string(),
            ));
        }
    }
    out
}

/// The native DHCP servers a port has (ML2/OVN `_get_port_dhcp_options`):
/// none for network-owned ports; IPv4 from the first DHCP-enabled IPv4 subnet
/// of its fixed IPs (the server answers from the subnet's gateway); IPv6 when
/// a DHCP-enabled IPv6 subnet is not SLAAC.
pub fn dhcp_servers(cloud: &Cloud, port: &Port) -> (Option<IpAddr>, bool) {
    if port.device_owner.starts_with("network:") {
        return (None, false);
    }
    let subnets: Vec<_> = port
        .fixed_ips
        .iter()
        .filter_map(|f| cloud.subnets.iter().find(|s| s.id == f.subnet_id))
        .filter(|s| s.enable_dhcp)
        .collect();
    let v4 = subnets
        .iter()
        .find(|s| s.ip_version == 4)
        .and_then(|s| s.gateway_ip);
    let v6 = subnets
        .iter()
        .any(|s| s.ip_version == 6 && s.ipv6_address_mode.as_deref() != Some("slaac"));
    (v4, v6)
}

const STAGE_ORDER: [&str; 16] = [
    "ls_in_check_port_sec",
    "ls_in_apply_port_sec",
    "ls_in_pre_acl",
    "ls_in_pre_lb",
    "ls_in_pre_stateful",
    "ls_in_acl_hint",
    "ls_in_acl",
    "ls_in_arp_rsp",
    "ls_in_l2_lkup",
    "ls_out_pre_acl",
    "ls_out_pre_lb",
    "ls_out_pre_stateful",
    "ls_out_acl_hint",
    "ls_out_acl",
    "ls_out_check_port_sec",
    "ls_out_apply_port_sec",
];

/// Every modelled stage of every logical switch, in the normalised
/// `ovn-sbctl lflow-list` form.
pub fn render(cloud: &Cloud, nb: &Northbound) -> String {
    let mut out = String::new();
    let mut switches: Vec<&LogicalSwitch> = nb.switches.iter().collect();
    switches.sort_by(|a, b| a.name.cmp(&b.name));
    for ls in switches {
        let mut flows = switch_flows(cloud, nb, ls);
        flows.sort_by(|a, b| {
            let pos = |s: &str| STAGE_ORDER.iter().position(|x| *x == s);
            pos(a.stage)
                .cmp(&pos(b.stage))
                .then(b.priority.cmp(&a.priority))
                .then_with(|| a.m.cmp(&b.m))
                .then_with(|| a.action.cmp(&b.action))
        });
        flows.dedup();
        for pipeline in ["ingress", "egress"] {
            let prefix = if pipeline == "ingress" {
                "ls_in_"
            } else {
                "ls_out_"
            };
            let _ = writeln!(out, "Datapath: \"{}\" Pipeline: {pipeline}", ls.name);
            for f in flows.iter().filter(|f| f.stage.starts_with(prefix)) {
                let _ = writeln!(
                    out,
                    "  table={} ({}), priority={}, match=({}), action=({})",
                    f.table, f.stage, f.priority, f.m, f.action
                );
            }
        }
    }
    out
}
