//! Moves every flow through the fabric: IP packets through the sender's egress
//! and the receiver's ingress firewall, ARP through the OVS agent's ARP spoofing
//! protection. A flow stops at its first drop: later packets are never sent.

use crate::consistency::findings;
use crate::coverage::{coverage, Coverage};
use crate::diagnose::{explain_arp_drop, explain_drop, explain_nd_drop, Drop};
use crate::error::CheckError;
use crate::lifecycle::{
    flows, host_warnings, parse_mac, ArpFrame, Category, Flow, Payload, StepRole, Warning,
};
use crate::scenario::{Finding, Scenario};
use fabric::{Backend, Hop, Side};
use packet::{proto, MacAddr, Packet, Verdict};
use serde::Serialize;
use std::net::{IpAddr, Ipv6Addr};

/// The outcome of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Drop,
    /// Not sent because an earlier packet of its flow was dropped.
    Skipped,
}

#[derive(Clone, Debug, Serialize)]
pub struct PacketResult {
    pub what: String,
    pub from: String,
    pub to: String,
    /// Sending and receiving port ids, and the frame itself: enough to replay
    /// the packet on a real kernel (conformance/checklab).
    pub from_port: String,
    pub to_port: Option<String>,
    pub role: StepRole,
    pub payload: Payload,
    pub outcome: Outcome,
    pub hops: Vec<Hop>,
    pub drop: Option<Drop>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowResult {
    pub name: String,
    pub category: Category,
    pub outcome: Outcome,
    pub packets: Vec<PacketResult>,
}

/// Everything the check found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub scenario: String,
    /// What was and was not exercised.
    pub coverage: Coverage,
    /// The load balancer's own configuration is inconsistent (fails the check).
    pub findings: Vec<Finding>,
    /// What vipwire assumed where the inputs are silent.
    pub assumptions: Vec<String>,
    /// What the firewall backend's model is, and backend facts about the VIPs.
    pub backend: Vec<String>,
    /// Every field no Neutron input carried.
    pub unknown_inputs: Vec<String>,
    pub flows: Vec<FlowResult>,
    pub warnings: Vec<Warning>,
}

impl CheckReport {
    /// Every flow passes and the configuration is consistent. A check that
    /// exercised no service path never passes.
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
            && !self.flows.is_empty()
            && self.flows.iter().all(|f| f.outcome == Outcome::Pass)
    }

    /// (flows that pass, all flows).
    pub fn tally(&self) -> (usize, usize) {
        let passed = self
            .flows
            .iter()
            .filter(|f| f.outcome == Outcome::Pass)
            .count();
        (passed, self.flows.len())
    }

    pub fn drops(&self) -> impl Iterator<Item = (&FlowResult, &PacketResult, &Drop)> {
        self.flows.iter().flat_map(|f| {
            f.packets
                .iter()
                .filter_map(move |p| p.drop.as_ref().map(|d| (f, p, d)))
        })
    }
}

/// Run the whole check on a scenario.
pub fn run(sc: &Scenario) -> Result<CheckReport, CheckError> {
    let flows = flows(sc);
    // Build only the hosts of the ports the flows cross.
    let mut ports: Vec<&str> = flows
        .iter()
        .flat_map(|f| &f.steps)
        .flat_map(|s| std::iter::once(s.sender.as_str()).chain(s.receiver.as_deref()))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let mut fabric = fabric::build_for(&sc.cloud, sc.driver, Some(&ports))
        .map_err(|e| CheckError::Rules(e.to_string()))?;
    let mut results = Vec::new();
    let failover = sc.pattern.vip_failover().is_some();
    for flow in &flows {
        if failover && flow.category == Category::Vrrp {
            // Each member's adverts meet the other's port as the first VRRP
            // packets between them (a member booting as backup sends
            // nothing): no conntrack entry left by the other direction may
            // let them in, or a fix would rest on the order of a flap.
            let mut fresh = fabric::build_for(&sc.cloud, sc.driver, Some(&ports))
                .map_err(|e| CheckError::Rules(e.to_string()))?;
            results.push(run_flow(sc, fresh.as_mut(), flow));
            continue;
        }
        results.push(run_flow(sc, fabric.as_mut(), flow));
    }
    for i in 0..flows.len() {
        if let Some(note) = unicast_vrrp_heals(sc, &ports, &flows, &results, i)? {
            if let Some(d) = results[i].packets.iter_mut().find_map(|p| p.drop.as_mut()) {
                d.reason += &note;
            }
        }
    }
    Ok(CheckReport {
        scenario: sc.source.clone(),
        coverage: coverage(sc),
        findings: findings(sc),
        assumptions: sc.assumptions.clone(),
        backend: backend_notes(sc),
        unknown_inputs: sc.cloud.unknown.iter().map(|u| u.to_string()).collect(),
        flows: results,
        warnings: host_warnings(sc),
    })
}

/// A dropped unicast VRRP advert from X to Y, on a fresh fabric: X's advert
/// (dropped at Y), then Y's own advert once it has become MASTER, then X's
/// again. When the last two pass, conntrack heals the split brain: X's egress
/// committed X -> Y in X's zone, so Y's advert enters X as its reply, and
/// that committed Y -> X in Y's zone, so X's next advert enters Y as a reply,
/// before any security-group rule. Measured with real keepalived on the real
/// kernel (crates/lab/tests/vip_failover.rs, unicast). Multicast adverts
/// (224.0.0.18, ff02::12) are never replies, so they never heal this way.
fn unicast_vrrp_heals(
    sc: &Scenario,
    ports: &[&str],
    flows: &[Flow],
    results: &[FlowResult],
    i: usize,
) -> Result<Option<String>, CheckError> {
    let flow = &flows[i];
    if flow.category != Category::Vrrp || results[i].outcome != Outcome::Drop {
        return Ok(None);
    }
    let Some(first) = flow.steps.first() else {
        return Ok(None);
    };
    let Payload::Ip(pkt) = &first.payload else {
        return Ok(None);
    };
    if pkt.dst.is_multicast() {
        return Ok(None);
    }
    let Some(back) = flows.iter().find(|f| {
        f.category == Category::Vrrp
            && f.steps.first().is_some_and(|s| {
                Some(&s.sender) == first.receiver.as_ref()
                    && s.receiver.as_ref() == Some(&first.sender)
            })
    }) else {
        return Ok(None);
    };
    let mut fresh = fabric::build_for(&sc.cloud, sc.driver, Some(ports))
        .map_err(|e| CheckError::Rules(e.to_string()))?;
    let _ = run_flow(sc, fresh.as_mut(), flow);
    let reply = run_flow(sc, fresh.as_mut(), back);
    let again = run_flow(sc, fresh.as_mut(), flow);
    if reply.outcome != Outcome::Pass || again.outcome != Outcome::Pass {
        return Ok(None);
    }
    Ok(Some(
        "; with unicast adverts this heals through conntrack: the other member's own first \
         advert as MASTER enters this one as a reply to its adverts, and from then on both \
         directions pass before any security-group rule; the split brain lasts until then (up \
         to Master_Down_Interval, at every start) and comes back when the conntrack entries \
         go (a flush, a migration, 600 s without adverts); a rule for VRRP makes it not \
         depend on that"
            .to_string(),
    ))
}

/// The model the backend runs, and on ML2/OVN how each VIP is represented:
/// a `virtual` logical port bound to whichever parent last announced it, or
/// no port at all.
fn backend_notes(sc: &Scenario) -> Vec<String> {
    use neutron::firewall::ovn::{LspType, Northbound};
    if sc.driver != neutron::firewall::FirewallDriver::Ovn {
        return Vec::new();
    }
    let mut notes = vec![
        "ML2/OVN: ovn-northd 23.03's logical switch pipeline with the Linux kernel's conntrack \
         (the production kernel datapath: one zone per logical port, and the OVS module's \
         liberal window for established TCP); the userspace (netdev/DPDK) tracker is not \
         modelled"
            .to_string(),
    ];
    let nb = Northbound::of(&sc.cloud);
    for vip in sc.vips() {
        // OVN binds a virtual port on the parent's ARP, or for an IPv6 VIP
        // its neighbour advertisement (lflows.rs, ls_in_arp_rsp bind_vport).
        let announce = if vip.is_ipv6() {
            "neighbour advertisement"
        } else {
            "gratuitous ARP"
        };
        let port = nb
            .ports
            .iter()
            .find(|p| matches!(&p.kind, LspType::Virtual { ip, .. } if *ip == vip));
        notes.push(match port {
            Some(p) => {
                let ids: &[String] = match &p.kind {
                    LspType::Virtual { parents, .. } => parents,
                    _ => &[],
                };
                let parents = ids
                    .iter()
                    .map(|id| sc.port_label(id))
                    .collect::<Vec<_>>()
                    .join(", ");
                let servers: Vec<String> = ids
                    .iter()
                    .filter(|id| sc.real_servers.iter().any(|r| &r.port_id == *id))
                    .map(|id| sc.port_label(id))
                    .collect();
                let trap = if servers.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; real servers {} are parents too (their VIP pair): one gratuitous \
                         ARP for {vip} from them (arp_announce not 2) takes the VIP's binding",
                        servers.join(", ")
                    )
                };
                format!(
                    "VIP {vip} is logical port {} (type virtual, parents {parents}): OVN binds \
                     it to the parent that last sent a {announce} for {vip}, so it follows \
                     the VRRP master (from OVN 25.09 claims are limited to one per second, with \
                     a backoff of up to 10 s){trap}",
                    sc.port_label(&p.name)
                )
            }
            None if nb_reserved(sc, vip).is_some() => format!(
                "VIP {vip} has the unbound port {} but no port holds {vip} as an allowed address \
                 pair, so it is not virtual: OVN delivers nothing for {vip} to the members; a \
                 /{} pair (written as the bare address) on each member makes it virtual with \
                 them as parents",
                nb_reserved(sc, vip).unwrap_or_default(),
                if vip.is_ipv6() { 128 } else { 32 }
            ),
            None => format!(
                "VIP {vip} has no Neutron port, so OVN has no virtual port for it: a floating IP \
                 cannot point at it; create one with `openstack port create --network <net> \
                 --fixed-ip ip-address={vip} <name>` (a pair written as a CIDR never makes one)"
            ),
        });
    }
    notes
}

/// The unbound port (no device owner) whose fixed IP is `vip`, by label.
fn nb_reserved(sc: &Scenario, vip: std::net::IpAddr) -> Option<String> {
    sc.cloud
        .ports
        .iter()
        .filter(|p| p.device_owner.is_empty())
        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == vip))
        .map(|p| sc.port_label(&p.id))
}

fn run_flow(sc: &Scenario, fabric: &mut dyn Backend, flow: &Flow) -> FlowResult {
    let mut packets = Vec::new();
    let mut dropped = false;
    for step in &flow.steps {
        let from = sc.port_label(&step.sender);
        let to = step
            .receiver
            .as_deref()
            .map(|r| sc.port_label(r))
            .unwrap_or_else(|| "(broadcast)".into());
        if dropped {
            packets.push(PacketResult {
                what: step.what.clone(),
                from,
                to,
                from_port: step.sender.clone(),
                to_port: step.receiver.clone(),
                role: step.role,
                payload: step.payload.clone(),
                outcome: Outcome::Skipped,
                hops: vec![],
                drop: None,
            });
            continue;
        }
        let mut hops = Vec::new();
        let mut drop = None;
        match &step.payload {
            Payload::Arp(frame) if frame.sender_ip.is_ipv6() => {
                drop = apart(sc, step).or_else(|| nd_exchange(sc, fabric, step, frame, &mut hops));
                if let (Some(d), StepRole::Resolution) = (drop.as_mut(), step.role) {
                    d.reason += &format!(
                        "; {} is never resolved, so no IP packet of this conversation is sent",
                        if frame.reply {
                            frame.sender_ip
                        } else {
                            frame.target_ip
                        }
                    );
                }
            }
            Payload::Arp(frame) => {
                drop =
                    apart(sc, step).or_else(|| explain_arp_drop(sc, fabric, &step.sender, frame));
                if let (Some(d), StepRole::Resolution) = (drop.as_mut(), step.role) {
                    d.reason += &format!(
                        "; {} is never resolved, so no IP packet of this conversation is sent",
                        frame.target_ip
                    );
                }
            }
            Payload::Ip(pkt) => {
                let legs = [
                    Some((step.sender.as_str(), Side::Egress)),
                    step.receiver.as_deref().map(|r| (r, Side::Ingress)),
                ];
                for (port, side) in legs.into_iter().flatten() {
                    let Some(hop) = fabric.cross(port, side, pkt) else {
                        continue;
                    };
                    let verdict = hop.trace.verdict;
                    hops.push(hop);
                    if verdict == Verdict::Drop {
                        drop = Some(explain_drop(sc, hops.last().unwrap(), pkt, step));
                        break;
                    }
                }
                if let (Some(d), Category::Vrrp) = (drop.as_mut(), flow.category) {
                    // Which member a client reaches: net/ipv4/arp.c arp_process
                    // overrides an entry only after `locktime` (1 s) or for a
                    // gratuitous ARP; net/ipv6/ndisc.c takes every NA that has
                    // the override flag, which a host's own answers carry.
                    let reaches = if pkt.dst.is_ipv6() {
                        "neighbour solicitations for the VIP (split brain): a client's \
                         solicitation reaches both, and the answer that arrives last wins, as \
                         does each unsolicited NA"
                    } else {
                        "ARP for the VIP (split brain): a client's ARP request reaches both, a \
                         Linux client keeps the first answer (another within `locktime`, 1 s, \
                         is ignored) and each gratuitous ARP moves it"
                    };
                    d.reason += &format!(
                        "; {to} never hears this master's adverts, so it becomes MASTER too and \
                         both answer {reaches}; the client's connections go to whichever member \
                         it resolved and break when it moves"
                    );
                }
                if drop.is_none() {
                    if let Some(reason) = &step.host_refusal {
                        drop = Some(Drop::host(sc, step, reason));
                    }
                }
                // A NAT real server's answer routed the wrong way is lost
                // whatever Neutron does on that way: the route is the problem
                // to name (the rule on the way stays in the drop's place).
                if let (Some(d), Some(reason), StepRole::NatReturn) =
                    (drop.as_mut(), &step.host_refusal, step.role)
                {
                    if d.kind != crate::diagnose::DropKind::Host {
                        d.reason = format!("{reason} (on that way it also meets: {})", d.reason);
                        d.kind = crate::diagnose::DropKind::Host;
                    }
                }
            }
        }
        let outcome = if drop.is_some() {
            dropped = true;
            Outcome::Drop
        } else {
            Outcome::Pass
        };
        packets.push(PacketResult {
            what: step.what.clone(),
            from,
            to,
            from_port: step.sender.clone(),
            to_port: step.receiver.clone(),
            role: step.role,
            payload: step.payload.clone(),
            outcome,
            hops,
            drop,
        });
    }
    FlowResult {
        name: flow.name.clone(),
        category: flow.category,
        outcome: if dropped {
            Outcome::Drop
        } else {
            Outcome::Pass
        },
        packets,
    }
}

/// The ICMPv6 packet of a neighbour-discovery frame (an [`ArpFrame`] with
/// IPv6 addresses): a solicitation (`reply` false) from the asker's address
/// to the target's solicited-node group (ff02::1:ffXX:XXXX, RFC 4291 2.7.1);
/// an advertisement from the advertised address, to the asker, or to all
/// nodes (ff02::1) when unsolicited (sender and target the same address).
/// Hop limit 255 (RFC 4861 7.1).
pub fn nd_packet(sc: &Scenario, step: &crate::lifecycle::Step, frame: &ArpFrame) -> Packet {
    let (IpAddr::V6(sender), IpAddr::V6(target)) = (frame.sender_ip, frame.target_ip) else {
        return Packet::new(frame.sender_ip, frame.target_ip, proto::ICMPV6);
    };
    let multicast = |group: Ipv6Addr| {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    };
    let (dst, dmac, icmp_type) = if !frame.reply {
        let o = target.octets();
        let group = Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | u16::from(o[13]),
            u16::from_be_bytes([o[14], o[15]]),
        );
        (group, multicast(group), 135)
    } else if sender == target || step.receiver.is_none() {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        (all_nodes, multicast(all_nodes), 136)
    } else {
        let to = step
            .receiver
            .as_deref()
            .map(|r| parse_mac(&sc.port(r).mac_address))
            .unwrap_or(MacAddr([0xff; 6]));
        (target, to, 136)
    };
    let mut p = Packet::new(IpAddr::V6(sender), IpAddr::V6(dst), proto::ICMPV6);
    p.icmp_type = icmp_type;
    p.ttl = 255;
    p.src_mac = Some(parse_mac(&frame.sender_mac));
    p.dst_mac = Some(dmac);
    p
}

/// A neighbour-discovery frame through the backend: the packet crosses the
/// sender's firewall like any IPv6 packet and the agent's ND protection
/// checks the advertised target. On iptables_hybrid the packet meets the
/// qbr bridge's ip6tables first and br-int's ND protection (table 24) after
/// it; on ML2/OVN port security (`ls_in_check_port_sec`) comes before the
/// ACLs. An advertisement to a port then crosses that port's ingress.
fn nd_exchange(
    sc: &Scenario,
    fabric: &mut dyn Backend,
    step: &crate::lifecycle::Step,
    frame: &ArpFrame,
    hops: &mut Vec<Hop>,
) -> Option<Drop> {
    let pkt = nd_packet(sc, step, frame);
    let nd_target = if frame.reply {
        frame.sender_ip
    } else {
        frame.target_ip
    };
    let protection = |fabric: &dyn Backend| -> Option<Drop> {
        let decision = fabric.nd_from(&step.sender, &frame.sender_mac, frame.reply, nd_target);
        decision
            .refused
            .clone()
            .map(|why| explain_nd_drop(sc, fabric, &step.sender, frame, decision, why))
    };
    let firewall_first = fabric.site() == "host";
    if !firewall_first {
        if let Some(d) = protection(&*fabric) {
            return Some(d);
        }
    }
    let legs = [
        Some((step.sender.as_str(), Side::Egress)),
        step.receiver.as_deref().map(|r| (r, Side::Ingress)),
    ];
    for (i, (port, side)) in legs.into_iter().flatten().enumerate() {
        if i == 1 && firewall_first {
            if let Some(d) = protection(&*fabric) {
                return Some(d);
            }
        }
        let Some(hop) = fabric.cross(port, side, &pkt) else {
            continue;
        };
        let verdict = hop.trace.verdict;
        hops.push(hop);
        if verdict == Verdict::Drop {
            return Some(explain_drop(
                sc,
                hops.last().expect("just pushed"),
                &pkt,
                step,
            ));
        }
    }
    if firewall_first && step.receiver.is_none() {
        return protection(&*fabric);
    }
    None
}

/// An ARP answer between ports of different Neutron networks never happens:
/// the who-has is broadcast on the asker's network only, and no router
/// forwards ARP. DR therefore reaches only real servers on the director's own
/// network (it rewrites nothing but the destination MAC).
fn apart(sc: &Scenario, step: &crate::lifecycle::Step) -> Option<Drop> {
    let asker = step.receiver.as_deref()?;
    if step.role != StepRole::Resolution || sc.same_network(asker, &step.sender) {
        return None;
    }
    let net = |p: &str| sc.network_label(p);
    Some(Drop::topology(
        sc,
        step,
        &format!(
            "{} is on network {}, {} on network {}: ARP does not cross networks, so {} never \
             resolves it ({})",
            sc.port_label(&step.sender),
            net(&step.sender),
            sc.port_label(asker),
            net(asker),
            sc.port_label(asker),
            match sc.pattern {
                crate::scenario::Pattern::LvsDr | crate::scenario::Pattern::VipFailover(_) =>
                    "DR forwards only within the director's own network; no Neutron change fixes \
                     this, move the real server or use TUN/NAT",
                _ =>
                    "a real server routed through a router is not modelled yet; no Neutron change \
                      fixes this, put it on the director's network",
            }
        ),
    ))
}
