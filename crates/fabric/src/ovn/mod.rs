//! The ML2/OVN backend: the logical switch pipeline ovn-northd 23.03 derives
//! from Neutron's Northbound rows, for the stages that decide delivery, with
//! the Linux kernel's conntrack (production OVN runs the kernel datapath).
//!
//! A packet from port A to port B runs A's ingress pipeline (port security on
//! its source, from-lport ACLs in A's conntrack zone) and B's egress pipeline
//! (to-lport ACLs in B's zone, port security on its destination). Each half is
//! one [`Hop`]: `cross(A, Egress)` and `cross(B, Ingress)`.
//!
//! Stage facts (northd.c of OVN 23.03, `build_pre_acls`, `build_acl_hints`,
//! `build_acls`, `build_lswitch_input_port_sec_od`, BRIEF §7):
//! - when any ACL on the switch is stateful, every IP packet goes to conntrack
//!   (pre_acl priority 100), except multicast and ND/MLD (priority 110) and
//!   what an allow-stateless ACL matches (pre_acl priority ACL+1000);
//! - `ct.inv` drops at priority 65532, above every ACL; replies of committed
//!   connections pass there too; everything else meets the ACLs (priority
//!   ACL+1000), and only an allow-related ACL commits a new connection;
//! - port security checks the source on the way in (MAC, IP, ARP sender) and
//!   the destination on the way out: a port receives only for its own and pair
//!   addresses, broadcast and multicast.

pub mod lflows;

use crate::{ArpDecision, ArpFrame, ArpRefusal, BuildError, Hop, Side};
use conntrack::{Conntrack, CtState, Direction};
use ipnet::IpNet;
use lflows::{AclFlow, Hint};
use netfilter::{PacketTrace, StepKind, TraceStep};
use neutron::firewall::ovn::{
    Acl, AclAction, AclDirection, LogicalSwitchPort, LspType, Northbound, PortSecurityEntry,
};
use neutron::firewall::provenance::Origin;
use neutron::model::Cloud;
use packet::{proto, MacAddr, Packet, Verdict};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Logical table numbers of the stages modelled (ovn-northd 23.03).
pub mod table {
    pub const IN_CHECK_PORT_SEC: usize = 0;
    pub const IN_APPLY_PORT_SEC: usize = 1;
    pub const IN_PRE_ACL: usize = 4;
    pub const IN_PRE_LB: usize = 5;
    pub const IN_PRE_STATEFUL: usize = 6;
    pub const IN_ACL_HINT: usize = 7;
    pub const IN_ACL: usize = 8;
    pub const IN_ARP_RSP: usize = 19;
    pub const IN_L2_LKUP: usize = 25;
    pub const OUT_PRE_ACL: usize = 0;
    pub const OUT_PRE_LB: usize = 1;
    pub const OUT_PRE_STATEFUL: usize = 2;
    pub const OUT_ACL_HINT: usize = 3;
    pub const OUT_ACL: usize = 4;
    pub const OUT_CHECK_PORT_SEC: usize = 8;
    pub const OUT_APPLY_PORT_SEC: usize = 9;
}

/// A cloud's logical switches with one conntrack zone per logical port.
pub struct OvnFabric {
    nb: Northbound,
    conntrack: Conntrack,
    zones: BTreeMap<String, u16>,
    /// What each switch's ACLs make of its pipeline.
    switches: BTreeMap<String, SwitchInfo>,
    /// Each port's from-lport and to-lport ACLs, by descending priority.
    port_acls: BTreeMap<String, [Vec<Acl>; 2]>,
    /// MACs learned from ports with `unknown` addresses (ls_in_put_fdb).
    fdb: BTreeMap<String, String>,
    /// `$pg_<id>_ip4/6` address sets, by (group id, IPv6).
    sets: BTreeMap<(String, bool), Vec<IpAddr>>,
}

/// Whether a switch has ACLs at all, and stateful ones.
#[derive(Clone, Copy, Debug, Default)]
struct SwitchInfo {
    has_acls: bool,
    stateful: bool,
}

/// One pipeline half being walked: its steps and what decided.
struct Walk {
    pipeline: &'static str,
    steps: Vec<TraceStep>,
    ctstate: String,
    ct_reason: Option<String>,
    zone: u16,
}

impl Walk {
    fn step(&mut self, stage: &str, table: usize, priority: u32, m: &str, action: &str) {
        self.steps.push(TraceStep {
            table: self.pipeline.to_string(),
            chain: stage.to_string(),
            kind: StepKind::Lflow,
            rule_num: table,
            rule_text: format!("priority={priority}, match=({m}), action=({action})"),
        });
    }

    fn finish(self, verdict: Verdict) -> PacketTrace {
        PacketTrace {
            verdict,
            path: self.steps,
            ctstate: self.ctstate,
            ct_reason: self.ct_reason,
            zone: self.zone,
            unknown: Vec::new(),
        }
    }
}

/// `eth.mcast`: a multicast or broadcast destination MAC.
fn mac_multicast(pkt: &Packet) -> bool {
    pkt.dst_mac.as_ref().is_some_and(|m| m.0[0] & 1 == 1)
}

/// ICMPv6 neighbour discovery and MLD skip conntrack and the ACLs.
fn is_nd_or_mld(pkt: &Packet) -> bool {
    pkt.proto == proto::ICMPV6 && matches!(pkt.icmp_type, 130..=137 | 143)
}

fn eui64(mac: &str) -> Option<IpAddr> {
    neutron::firewall::iptables_hybrid::link_local(mac).map(IpAddr::V6)
}

impl OvnFabric {
    pub fn build(cloud: &Cloud) -> Result<OvnFabric, BuildError> {
        let nb = Northbound::of(cloud);
        let zones = nb
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), u16::try_from(i + 1).unwrap_or(u16::MAX)))
            .collect();
        let switches = nb
            .switches
            .iter()
            .map(|s| {
                let acls = lflows::SwitchAcls::of(&nb, s);
                let info = SwitchInfo {
                    has_acls: !acls.acls.is_empty(),
                    stateful: acls.stateful,
                };
                (s.name.clone(), info)
            })
            .collect();
        // Each port's ACLs per direction, by descending priority: the ACL
        // stage reads them for every packet.
        let port_acls = nb
            .ports
            .iter()
            .map(|p| {
                let of = |dir| {
                    let mut v: Vec<Acl> = nb.acls_of(&p.name, dir).cloned().collect();
                    v.sort_by_key(|a| std::cmp::Reverse(a.priority));
                    v
                };
                (
                    p.name.clone(),
                    [of(AclDirection::FromLport), of(AclDirection::ToLport)],
                )
            })
            .collect();
        let mut sets = BTreeMap::new();
        for g in &cloud.security_groups {
            for v6 in [false, true] {
                sets.insert((g.id.clone(), v6), nb.address_set(&g.id, v6));
            }
        }
        Ok(OvnFabric {
            nb,
            conntrack: Conntrack::new(),
            zones,
            switches,
            fdb: BTreeMap::new(),
            port_acls,
            sets,
        })
    }

    /// Port security on the way in: the entry of the source MAC, and the
    /// source address.
    fn in_port_sec(&self, lsp: &LogicalSwitchPort, pkt: &Packet) -> bool {
        port_sec_allows(lsp, pkt.src_mac.as_ref(), source_allowed, pkt)
    }

    /// Port security on the way out: the entry of the destination MAC, and the
    /// destination address (broadcast and multicast always pass).
    fn out_port_sec(&self, lsp: &LogicalSwitchPort, pkt: &Packet) -> bool {
        mac_multicast(pkt) || port_sec_allows(lsp, pkt.dst_mac.as_ref(), destination_allowed, pkt)
    }

    /// pre_acl, pre_stateful, acl_hint and acl of one pipeline: the conntrack
    /// lookup in the port's zone, the `ct.inv` drop, then the ACLs of the
    /// port's groups. Each step is a flow of [`lflows::switch_flows`].
    fn acl_stage(
        &mut self,
        lsp_name: &str,
        switch: &str,
        dir: AclDirection,
        pkt: &Packet,
        walk: &mut Walk,
    ) -> (Verdict, Vec<Origin>) {
        use lflows::fixed::*;
        let (pre, t_pre, pre_st, t_st, hint_stage, t_hint, stage, t_acl) = match dir {
            AclDirection::FromLport => (
                "ls_in_pre_acl",
                table::IN_PRE_ACL,
                "ls_in_pre_stateful",
                table::IN_PRE_STATEFUL,
                "ls_in_acl_hint",
                table::IN_ACL_HINT,
                "ls_in_acl",
                table::IN_ACL,
            ),
            AclDirection::ToLport => (
                "ls_out_pre_acl",
                table::OUT_PRE_ACL,
                "ls_out_pre_stateful",
                table::OUT_PRE_STATEFUL,
                "ls_out_acl_hint",
                table::OUT_ACL_HINT,
                "ls_out_acl",
                table::OUT_ACL,
            ),
        };
        let port = lsp_name.to_string();
        let remote = match dir {
            AclDirection::FromLport => pkt.dst,
            AclDirection::ToLport => pkt.src,
        };
        let sets = &self.sets;
        let set = |g: &str, v6: bool| sets.get(&(g.to_string(), v6)).cloned().unwrap_or_default();
        let acls: &[Acl] = self
            .port_acls
            .get(lsp_name)
            .map(|both| match dir {
                AclDirection::FromLport => both[0].as_slice(),
                AclDirection::ToLport => both[1].as_slice(),
            })
            .unwrap_or_default();
        let info = self.switches.get(switch).copied().unwrap_or_default();
        walk.zone = self.zones.get(lsp_name).copied().unwrap_or(0);
        let nd = is_nd_or_mld(pkt);
        let router = self
            .nb
            .port(lsp_name)
            .is_some_and(|p| p.lsp_type == "router");
        let field = match dir {
            AclDirection::FromLport => "inport",
            AclDirection::ToLport => "outport",
        };
        // pre_acl: which packets skip conntrack.
        let mut tracked = None;
        if !info.stateful {
            walk.step(pre, t_pre, 0, "1", "next;");
        } else if router {
            let m = format!("ip && {field} == \"{lsp_name}\"");
            walk.step(pre, t_pre, 110, &m, "next;");
        } else if mac_multicast(pkt) {
            walk.step(pre, t_pre, 110, MCAST, "next;");
        } else if nd {
            walk.step(pre, t_pre, 110, ND_PRE_ACL, "next;");
        } else if let Some(a) = acls
            .iter()
            .find(|a| a.action == AclAction::AllowStateless && a.matcher.matches(pkt, remote, &set))
        {
            walk.step(
                pre,
                t_pre,
                AclFlow::priority(a),
                &a.match_text,
                STATELESS_PRE_ACL,
            );
        } else {
            walk.step(pre, t_pre, 100, "ip", "reg0[0] = 1; next;");
            walk.step(pre_st, t_st, 100, "reg0[0] == 1", "ct_next;");
            let out = self.conntrack.track(walk.zone, pkt);
            // The kernel datapath's ct(): liberal windows once established.
            self.conntrack.ovs_after_lookup(&out);
            walk.ctstate = out.state.as_str().to_string();
            walk.ct_reason = out.reason().map(str::to_string);
            tracked = Some(out);
        }
        if nd {
            walk.step(stage, t_acl, 65532, ND_ACL, "next;");
            let what = "neighbour discovery and MLD pass the ACL stage".into();
            return (
                Verdict::Accept,
                vec![Origin::Infrastructure {
                    port_id: port,
                    what,
                }],
            );
        }
        if !info.has_acls {
            walk.step(hint_stage, t_hint, 65535, "1", "next;");
            walk.step(stage, t_acl, 65535, "1", "next;");
            return (Verdict::Accept, vec![Origin::Dispatch]);
        }
        // acl_hint: which ACL flows apply, from the conntrack state.
        let state = tracked.as_ref().map(|o| (o.state, o.dir));
        let hint = match state {
            None if info.stateful => 5,
            None => 0,
            Some((CtState::New, _)) => 7,
            Some((CtState::Established, Direction::Original)) => 4,
            Some((CtState::Established, Direction::Reply)) => 1,
            Some(_) => 3,
        };
        match HINTS.iter().find(|h| h.0 == hint) {
            Some((p, m, a)) => walk.step(hint_stage, t_hint, *p, m, a),
            None => walk.step(hint_stage, t_hint, 0, "1", "next;"),
        }
        if let Some(out) = &tracked {
            match out.state {
                CtState::Invalid => {
                    walk.step(stage, t_acl, 65532, CT_INV, "drop;");
                    return (Verdict::Drop, vec![Origin::CtInvalidDrop { port_id: port }]);
                }
                CtState::Established if out.dir == Direction::Reply => {
                    let action = match dir {
                        AclDirection::FromLport => "reg0[9] = 0; reg0[10] = 0; reg0[17] = 1; next;",
                        AclDirection::ToLport => "next;",
                    };
                    walk.step(stage, t_acl, 65532, CT_EST_REPLY, action);
                    return (
                        Verdict::Accept,
                        vec![Origin::ConntrackEstablished { port_id: port }],
                    );
                }
                CtState::Related => {
                    let action = match dir {
                        AclDirection::FromLport => "reg0[17] = 1; ct_commit_nat;",
                        AclDirection::ToLport => "ct_commit_nat;",
                    };
                    walk.step(stage, t_acl, 65532, CT_REL, action);
                    return (
                        Verdict::Accept,
                        vec![Origin::ConntrackEstablished { port_id: port }],
                    );
                }
                _ => {}
            }
        }
        let (reg_allow, reg_drop) = match hint {
            7 => (Hint::New, Hint::DropNew),
            4 => (Hint::Est, Hint::DropEst),
            _ => (Hint::Est, Hint::DropNew),
        };
        for a in acls {
            if !a.matcher.matches(pkt, remote, &set) {
                continue;
            }
            let h = match (a.action, info.stateful) {
                (AclAction::AllowStateless, _) | (_, false) => Hint::Plain,
                (AclAction::Drop, true) => reg_drop,
                (AclAction::AllowRelated, true) => reg_allow,
            };
            walk.step(
                stage,
                t_acl,
                AclFlow::priority(a),
                &AclFlow::matches(a, h),
                AclFlow::action(a, h),
            );
            if a.action == AclAction::Drop {
                if let Some(out) = &tracked {
                    self.conntrack.discard(out);
                }
                let direction = match dir {
                    AclDirection::FromLport => neutron::model::RuleDirection::Egress,
                    AclDirection::ToLport => neutron::model::RuleDirection::Ingress,
                };
                return (
                    Verdict::Drop,
                    vec![Origin::PortGroupDrop {
                        port_id: port,
                        direction,
                    }],
                );
            }
            // Only allow-related on a new connection commits it (ls_*_stateful).
            if let (Some(out), Hint::New) = (&tracked, h) {
                self.conntrack.confirm(out);
            }
            let mut origin = a.origin.clone();
            if let Origin::GroupRule { port_id, .. } = &mut origin {
                *port_id = port;
            }
            return (Verdict::Accept, vec![origin]);
        }
        // No ACL matched: a stateful switch commits what is not established.
        match &tracked {
            Some(out) if out.state == CtState::New => {
                walk.step(stage, t_acl, 1, DEFAULT_COMMIT, "reg0[1] = 1; next;");
                self.conntrack.confirm(out);
            }
            // Never tracked (a router port, multicast): not `ct.est` either.
            None if info.stateful => {
                walk.step(stage, t_acl, 1, DEFAULT_COMMIT, "reg0[1] = 1; next;")
            }
            _ => walk.step(stage, t_acl, 0, "1", "next;"),
        }
        (Verdict::Accept, vec![Origin::Dispatch])
    }
}

/// A port without port security passes everything; else the frame's MAC
/// must have an entry whose addresses `allowed` accepts.
fn port_sec_allows(
    lsp: &LogicalSwitchPort,
    mac: Option<&MacAddr>,
    allowed: fn(&PortSecurityEntry, &Packet) -> bool,
    pkt: &Packet,
) -> bool {
    if lsp.security.is_empty() {
        return true;
    }
    let mac = mac.map(MacAddr::to_string).unwrap_or_default();
    // ovn-controller adds the flows of every entry (lflow.c
    // consider_port_sec_flows loops over all of them), so entries that share a
    // MAC allow the union of their addresses.
    lsp.security
        .iter()
        .filter(|e| e.mac == mac)
        .any(|e| allowed(e, pkt))
}

/// `check_in_port_sec()` for IP: the source must be one of the entry's
/// addresses of its family (any when the entry lists none); DHCP discovery from
/// 0.0.0.0 and IPv6 link-local / unspecified sources for ND pass too.
fn source_allowed(entry: &PortSecurityEntry, pkt: &Packet) -> bool {
    let family: Vec<&IpNet> = entry
        .addrs
        .iter()
        .filter(|n| n.addr().is_ipv4() == pkt.src.is_ipv4())
        .collect();
    if entry.addrs.is_empty() {
        return true;
    }
    if family.iter().any(|n| n.contains(&pkt.src)) {
        return true;
    }
    match pkt.src {
        IpAddr::V4(a) => {
            a.is_unspecified()
                && pkt.dst == IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
                && pkt.proto == proto::UDP
                && pkt.sport == 68
                && pkt.dport == 67
        }
        IpAddr::V6(a) => {
            Some(pkt.src) == eui64(&entry.mac) || (a.is_unspecified() && is_nd_or_mld(pkt))
        }
    }
}

/// `check_out_port_sec()` for IP: the destination must be one of the entry's
/// addresses (or inside a CIDR written without host bits), the broadcast of a
/// CIDR written with host bits, or 255.255.255.255 (ovn-controller 23.03
/// `build_out_port_sec_ip4_flows`); IPv6 also the link-local of the MAC.
fn destination_allowed(entry: &PortSecurityEntry, pkt: &Packet) -> bool {
    if entry.addrs.is_empty() {
        return true;
    }
    if entry
        .addrs
        .iter()
        .filter(|n| n.addr().is_ipv4() == pkt.dst.is_ipv4())
        .any(|n| n.contains(&pkt.dst))
        || entry.broadcasts.contains(&pkt.dst)
    {
        return true;
    }
    match pkt.dst {
        IpAddr::V6(_) => Some(pkt.dst) == eui64(&entry.mac),
        IpAddr::V4(a) => a.is_broadcast(),
    }
}

/// The port-security entries of a frame's source MAC (several when pairs share
/// a MAC, each adding its own flows), as check_in_port_sec() matches ARP and ND
/// (OpenFlow table 74): Ok(None) when the port has no port security, Err with
/// the refusal when no entry has that MAC.
fn nd_entries<'a>(
    lsp: &'a LogicalSwitchPort,
    port_id: &str,
    mac: &str,
) -> Result<Option<Vec<&'a PortSecurityEntry>>, ArpDecision> {
    if lsp.security.is_empty() {
        return Ok(None);
    }
    let entries: Vec<&PortSecurityEntry> = lsp.security.iter().filter(|e| e.mac == mac).collect();
    if entries.is_empty() {
        return Err(nd_refusal(
            lsp,
            ArpRefusal::SenderMac {
                allowed: lsp.macs().iter().map(|m| m.to_string()).collect(),
            },
            format!("inport == \"{port_id}\": eth.src {mac} not in port_security -> drop"),
        ));
    }
    Ok(Some(entries))
}

/// A VM's own port that ML2/OVN wrote as `type: virtual` (its fixed IP is,
/// as a bare IP, some port's pair, its own included): ovn-controller claims a
/// virtual port only when a parent's ARP binds it, never by its interface, so
/// nothing from or to the VM passes (seen on the real chassis, BRIEF §7 and
/// docs/conformance-ovn.md). Unbound VIP ports have no VM and stay usable.
fn cut_off_vm(lsp: &LogicalSwitchPort) -> Option<String> {
    let LspType::Virtual { ip, parents } = &lsp.kind else {
        return None;
    };
    let owner = lsp.external_ids.get("neutron:device_owner")?;
    if owner.is_empty() {
        return None;
    }
    let own = parents.iter().any(|p| p == &lsp.name);
    Some(format!(
        "ML2/OVN made this VM's port type virtual because its fixed IP {ip} is an allowed \
         address pair (written as a bare IP) of {}: ovn-controller never claims a virtual \
         port by its interface, so the VM is cut off; write that pair as {ip}/{} (a CIDR pair \
         never makes a port virtual) or remove it",
        if own {
            "the port itself".to_string()
        } else {
            format!("{} other port(s)", parents.len())
        },
        if ip.is_ipv4() { 32 } else { 128 }
    ))
}

/// ARP and ND from a cut-off VM ([`cut_off_vm`]) never enter the switch either.
fn cut_off_refusal(lsp: &LogicalSwitchPort) -> Option<ArpDecision> {
    let why = cut_off_vm(lsp)?;
    Some(ArpDecision {
        refused: Some(ArpRefusal::CutOff { why }),
        host: lsp.switch.clone(),
        table: "physical (OpenFlow table 0)".into(),
        rule_text: format!(
            "inport == \"{}\" (type virtual, not claimed) -> drop",
            lsp.name
        ),
    })
}

fn nd_refusal(lsp: &LogicalSwitchPort, why: ArpRefusal, rule_text: String) -> ArpDecision {
    ArpDecision {
        refused: Some(why),
        host: lsp.switch.clone(),
        table: "ls_in_check_port_sec (check_in_port_sec, OpenFlow table 74)".into(),
        rule_text,
    }
}

impl crate::Backend for OvnFabric {
    fn site(&self) -> &'static str {
        "logical switch"
    }

    fn host_of(&self, port_id: &str) -> Option<&str> {
        self.nb.port(port_id).map(|p| p.switch.as_str())
    }

    fn cross(&mut self, port_id: &str, side: Side, pkt: &Packet) -> Option<Hop> {
        let lsp = self.nb.port(port_id)?.clone();
        let mut walk = Walk {
            pipeline: match side {
                Side::Egress => "ingress",
                Side::Ingress => "egress",
            },
            steps: Vec::new(),
            ctstate: "UNTRACKED".into(),
            ct_reason: None,
            zone: 0,
        };
        if let Some(what) = cut_off_vm(&lsp) {
            walk.step(
                "physical",
                0,
                0,
                &format!(
                    "{} == \"{port_id}\" (type virtual, not claimed)",
                    if side == Side::Egress {
                        "inport"
                    } else {
                        "outport"
                    }
                ),
                "drop;",
            );
            return Some(Hop {
                port_id: port_id.to_string(),
                host: lsp.switch.clone(),
                side,
                trace: walk.finish(Verdict::Drop),
                decided_by: vec![Origin::Infrastructure {
                    port_id: port_id.to_string(),
                    what,
                }],
            });
        }
        let port = port_id.to_string();
        let (verdict, decided_by) = match side {
            Side::Egress => {
                walk.step(
                    "ls_in_check_port_sec",
                    table::IN_CHECK_PORT_SEC,
                    50,
                    "1",
                    "reg0[15] = check_in_port_sec(); next;",
                );
                if !self.in_port_sec(&lsp, pkt) {
                    walk.step(
                        "ls_in_apply_port_sec",
                        table::IN_APPLY_PORT_SEC,
                        50,
                        "reg0[15] == 1",
                        "drop;",
                    );
                    (Verdict::Drop, vec![Origin::SpoofDrop { port_id: port }])
                } else {
                    walk.step(
                        "ls_in_apply_port_sec",
                        table::IN_APPLY_PORT_SEC,
                        0,
                        "1",
                        "next;",
                    );
                    self.acl_stage(
                        &lsp.name,
                        &lsp.switch,
                        AclDirection::FromLport,
                        pkt,
                        &mut walk,
                    )
                }
            }
            Side::Ingress => {
                let (v, o) = self.acl_stage(
                    &lsp.name,
                    &lsp.switch,
                    AclDirection::ToLport,
                    pkt,
                    &mut walk,
                );
                if v == Verdict::Drop {
                    (v, o)
                } else if mac_multicast(pkt) {
                    walk.step(
                        "ls_out_check_port_sec",
                        table::OUT_CHECK_PORT_SEC,
                        100,
                        lflows::fixed::MCAST,
                        "reg0[15] = 0; next;",
                    );
                    walk.step(
                        "ls_out_apply_port_sec",
                        table::OUT_APPLY_PORT_SEC,
                        0,
                        "1",
                        "output;",
                    );
                    (v, o)
                } else {
                    walk.step(
                        "ls_out_check_port_sec",
                        table::OUT_CHECK_PORT_SEC,
                        0,
                        "1",
                        "reg0[15] = check_out_port_sec(); next;",
                    );
                    if !self.out_port_sec(&lsp, pkt) {
                        walk.step(
                            "ls_out_apply_port_sec",
                            table::OUT_APPLY_PORT_SEC,
                            50,
                            "reg0[15] == 1",
                            "drop;",
                        );
                        (
                            Verdict::Drop,
                            vec![Origin::DestinationDrop { port_id: port }],
                        )
                    } else {
                        walk.step(
                            "ls_out_apply_port_sec",
                            table::OUT_APPLY_PORT_SEC,
                            0,
                            "1",
                            "output;",
                        );
                        (v, o)
                    }
                }
            }
        };
        Some(Hop {
            port_id: port_id.to_string(),
            host: lsp.switch.clone(),
            side,
            trace: walk.finish(verdict),
            decided_by,
        })
    }

    /// ls_in_put_fdb: a port with `unknown` addresses teaches the switch
    /// where its source MACs live.
    fn learn(&mut self, sender: &str, smac: &str) {
        if self
            .nb
            .port(sender)
            .is_some_and(|p| p.addresses.iter().any(|a| a == "unknown"))
        {
            self.fdb.insert(smac.to_lowercase(), sender.to_string());
        }
    }

    /// ls_in_l2_lkup: a MAC listed in some port's `addresses` goes to that
    /// port; else a learned MAC to where it was learned; else every port with
    /// `unknown` addresses but the sender (ls_in_l2_unknown's flood; BRIEF §7:
    /// frames to a port without port security are flooded until it has sent).
    fn l2_lookup(&self, sender: &str, dmac: &str) -> Option<Vec<String>> {
        let dmac = dmac.to_lowercase();
        let switch = &self.nb.port(sender)?.switch;
        let on_switch = || self.nb.ports.iter().filter(move |p| &p.switch == switch);
        let known: Vec<String> = on_switch()
            .filter(|p| {
                p.addresses.iter().any(|a| {
                    a.split_whitespace()
                        .next()
                        .is_some_and(|m| m.eq_ignore_ascii_case(&dmac))
                })
            })
            .map(|p| p.name.clone())
            .collect();
        if !known.is_empty() {
            return Some(known);
        }
        if let Some(port) = self.fdb.get(&dmac) {
            return Some(vec![port.clone()]);
        }
        Some(
            on_switch()
                .filter(|p| p.name != sender && p.addresses.iter().any(|a| a == "unknown"))
                .map(|p| p.name.clone())
                .collect(),
        )
    }

    /// A virtual port has no interface of its own: unclaimed it receives
    /// nothing, claimed (after a parent's GARP) its frames reach that parent
    /// (seen on the real chassis: an unclaimed virtual port got no frame).
    fn receives(&self, port_id: &str) -> bool {
        !self
            .nb
            .port(port_id)
            .is_some_and(|p| matches!(p.kind, neutron::firewall::ovn::LspType::Virtual { .. }))
    }

    /// `ls_in_arp_rsp`: a request for an address in another port's
    /// `addresses` is answered by OVN, unless that port also has `unknown`
    /// or is virtual (lflows.rs lists the same flows); the owner's own
    /// request passes on (priority 100).
    fn responder(&self, sender: &str, target: IpAddr) -> Option<String> {
        let switch = &self.nb.port(sender)?.switch;
        self.nb
            .ports
            .iter()
            .filter(|p| &p.switch == switch && p.name != sender)
            .filter(|p| !matches!(p.kind, neutron::firewall::ovn::LspType::Virtual { .. }))
            .filter(|p| !p.addresses.iter().any(|a| a == "unknown"))
            .find(|p| {
                p.addresses
                    .iter()
                    .flat_map(|a| a.split_whitespace().skip(1))
                    .any(|w| w.parse::<IpAddr>() == Ok(target))
            })
            .map(|p| p.name.clone())
    }

    fn arp_from(&self, port_id: &str, frame: &ArpFrame) -> ArpDecision {
        let Some(lsp) = self.nb.port(port_id) else {
            return ArpDecision::pass();
        };
        if let Some(refusal) = cut_off_refusal(lsp) {
            return refusal;
        }
        let mac = frame.sender_mac.to_lowercase();
        let entries = match nd_entries(lsp, port_id, &mac) {
            Ok(Some(e)) => e,
            Ok(None) => return ArpDecision::pass(),
            Err(refusal) => return refusal,
        };
        // An entry with addresses but none IPv4 allows no ARP at all (seen on
        // real delivery: an IPv6-only port's ARP is dropped).
        let allows = |e: &&PortSecurityEntry| {
            e.addrs.is_empty()
                || e.addrs
                    .iter()
                    .any(|n| n.addr().is_ipv4() && n.contains(&frame.sender_ip))
        };
        if entries.iter().any(allows) {
            return ArpDecision::pass();
        }
        let v4: Vec<IpNet> = entries
            .iter()
            .flat_map(|e| e.addrs.iter())
            .filter(|n| n.addr().is_ipv4())
            .copied()
            .collect();
        nd_refusal(
            lsp,
            ArpRefusal::SenderIp {
                allowed: v4.clone(),
            },
            format!(
                "inport == \"{port_id}\" && arp.sha == {mac}: arp.spa {} not in {{{}}} -> drop",
                frame.sender_ip,
                v4.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    fn nd_from(&self, port_id: &str, sender_mac: &str, na: bool, target: IpAddr) -> ArpDecision {
        let Some(lsp) = self.nb.port(port_id) else {
            return ArpDecision::pass();
        };
        if let Some(refusal) = cut_off_refusal(lsp) {
            return refusal;
        }
        let mac = sender_mac.to_lowercase();
        let entries = match nd_entries(lsp, port_id, &mac) {
            Ok(Some(e)) => e,
            Ok(None) => return ArpDecision::pass(),
            Err(refusal) => return refusal,
        };
        if !na {
            return ArpDecision::pass();
        }
        // Per entry: without IPv6 addresses any target; else its addresses and
        // the link-local address of its MAC.
        let targets = |e: &PortSecurityEntry| -> Vec<IpNet> {
            let mut v6: Vec<IpNet> = e
                .addrs
                .iter()
                .filter(|n| n.addr().is_ipv6())
                .copied()
                .collect();
            if !v6.is_empty() {
                v6.extend(eui64(&e.mac).map(IpNet::from));
            }
            v6
        };
        if entries.iter().any(|e| {
            let v6 = targets(e);
            v6.is_empty() || v6.iter().any(|n| n.contains(&target))
        }) {
            return ArpDecision::pass();
        }
        let mut allowed: Vec<IpNet> = Vec::new();
        for n in entries.iter().flat_map(|e| targets(e)) {
            if !allowed.contains(&n) {
                allowed.push(n);
            }
        }
        nd_refusal(
            lsp,
            ArpRefusal::NdTarget { allowed },
            format!(
                "inport == \"{port_id}\" && nd_na: nd.target {target} not in port_security -> drop"
            ),
        )
    }
}
