//! Names the rule that dropped a packet and says why in plain words.
//!
//! The kind of drop comes from the origin of the rule that decided it (an
//! anti-spoof drop, the fallback after the group rules, OVN's `neutron_pg_drop`,
//! a conntrack INVALID drop, OVN's destination check), never from its text.

use crate::lifecycle::{ArpFrame, Step, StepRole};
use crate::scenario::{Pattern, Scenario};
use fabric::{ArpRefusal, Backend, Hop, Side};
use neutron::firewall::provenance::Origin;
use neutron::model::Port;
use packet::{proto, protocols, MacAddr, Packet};
use serde::Serialize;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropKind {
    /// The port's `s` chain: source (IP, MAC) not allowed.
    AntiSpoof,
    /// No ingress security group rule matched.
    IngressPolicy,
    /// No egress security group rule matched.
    EgressPolicy,
    /// Conntrack called it INVALID and no group rule took it first (on OVN no
    /// group rule is even consulted: the `ct.inv` drop is above every ACL).
    Invalid,
    /// OVN's outgoing port security: the destination is none of the
    /// receiving port's addresses.
    Destination,
    /// The OVS agent's ARP spoofing protection.
    ArpSpoof,
    /// The receiving host itself (not Neutron).
    Host,
    /// The network layout: the two ports are on different Neutron networks, so an
    /// ARP resolution (and a DR frame) cannot reach across.
    Topology,
    /// Any other rule.
    Other,
}

/// Where and why a packet died.
#[derive(Clone, Debug, Serialize)]
pub struct Drop {
    pub kind: DropKind,
    pub port_id: String,
    pub port: String,
    pub host: String,
    pub side: Option<Side>,
    pub table: String,
    pub chain: String,
    pub rule_num: usize,
    pub rule_text: String,
    /// Where the deciding step is, in the backend's own terms.
    pub place: String,
    /// What `host` names: a compute host, or a logical switch (OVN).
    pub host_kind: String,
    pub reason: String,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_mac: Option<String>,
    pub protocol: Option<u8>,
    pub dport: Option<u16>,
    /// The packet was the director's DR copy of a client packet.
    pub dr_forward: bool,
    /// The Neutron objects and agent behaviour behind the deciding rule.
    pub decided_by: Vec<Origin>,
}

impl Drop {
    pub fn host(sc: &Scenario, step: &Step, reason: &str) -> Drop {
        Self::not_neutron(DropKind::Host, sc, step, reason)
    }

    pub fn topology(sc: &Scenario, step: &Step, reason: &str) -> Drop {
        Self::not_neutron(DropKind::Topology, sc, step, reason)
    }

    fn not_neutron(kind: DropKind, sc: &Scenario, step: &Step, reason: &str) -> Drop {
        let port_id = step.receiver.clone().unwrap_or_default();
        Drop {
            kind,
            port: sc.port_label(&port_id),
            host: "(guest)".into(),
            port_id,
            side: None,
            table: String::new(),
            chain: String::new(),
            rule_num: 0,
            rule_text: String::new(),
            place: String::new(),
            host_kind: "host".into(),
            reason: reason.to_string(),
            src: None,
            dst: None,
            src_mac: None,
            protocol: None,
            dport: None,
            dr_forward: false,
            decided_by: Vec::new(),
        }
    }
}

/// The (IP, MAC) pairs the port may send from, as the `s` chain lists them.
pub fn source_pairs(port: &Port) -> Vec<String> {
    let mac = port.mac_address.to_lowercase();
    let mut v: Vec<String> = port
        .allowed_address_pairs
        .iter()
        .map(|p| {
            format!(
                "({}, {})",
                p.ip_address.trunc(),
                p.mac_address.as_deref().unwrap_or(&mac).to_lowercase()
            )
        })
        .collect();
    v.extend(
        port.fixed_ips
            .iter()
            .map(|f| format!("({}, {mac})", f.ip_address)),
    );
    v
}

/// A port's `port_security` entries as ML2/OVN writes them (the Northbound
/// row behind an OVN port-security drop).
fn ovn_port_security(sc: &Scenario, port: &Port) -> String {
    neutron::firewall::ovn::LogicalSwitchPort::of(&sc.cloud, port)
        .port_security
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A protocol as the report names it: the common ones by their
/// `/etc/protocols` name, VRRP and AH with their number too, the rest by
/// number.
fn proto_name(p: u8) -> String {
    let name = protocols::name(p).unwrap_or_default();
    match p {
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 => name.to_string(),
        proto::VRRP | proto::AH => format!("{name} ({p})"),
        // /etc/protocols says ipencap; Neutron's API and LVS say ipip.
        proto::IPIP => format!("ipip ({p})"),
        n => n.to_string(),
    }
}

fn describe(pkt: &Packet) -> String {
    use crate::lifecycle::host_port;
    match pkt.proto {
        proto::TCP | proto::UDP => format!(
            "{} {} -> {}",
            proto_name(pkt.proto),
            host_port(pkt.src, pkt.sport),
            host_port(pkt.dst, pkt.dport)
        ),
        p => format!("{} {} -> {}", proto_name(p), pkt.src, pkt.dst),
    }
}

fn group_names(sc: &Scenario, port: &Port) -> String {
    port.security_groups
        .iter()
        .map(|g| {
            sc.cloud
                .security_groups
                .iter()
                .find(|s| &s.id == g)
                .map(|s| {
                    if s.name.is_empty() {
                        s.id.clone()
                    } else {
                        s.name.clone()
                    }
                })
                .unwrap_or_else(|| g.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of a drop, from the origin of the rule that decided it (never from
/// its chain name or text): the anti-spoof chain's drop, the INVALID drop, or
/// the fallback when no group rule matched, in the direction of the crossing.
pub fn kind_of(decided_by: &[Origin], side: Side) -> DropKind {
    let policy = match side {
        Side::Ingress => DropKind::IngressPolicy,
        Side::Egress => DropKind::EgressPolicy,
    };
    match decided_by.first() {
        Some(Origin::SpoofDrop { .. }) => DropKind::AntiSpoof,
        Some(Origin::ConntrackInvalid { .. } | Origin::CtInvalidDrop { .. }) => DropKind::Invalid,
        Some(Origin::DestinationDrop { .. }) => DropKind::Destination,
        Some(Origin::DefaultDrop | Origin::NoRuleMatched { .. } | Origin::PortGroupDrop { .. }) => {
            policy
        }
        _ => DropKind::Other,
    }
}

/// Explain an IP packet dropped at `hop`.
pub fn explain_drop(sc: &Scenario, hop: &Hop, pkt: &Packet, step: &Step) -> Drop {
    let port = sc.port(&hop.port_id);
    let label = sc.port_label(&hop.port_id);
    let last = hop.trace.path.last();
    let (table, chain, rule_num, rule_text) = last
        .map(|s| {
            (
                s.table.clone(),
                s.chain.clone(),
                s.rule_num,
                s.rule_text.clone(),
            )
        })
        .unwrap_or_default();
    let place = last.map(|s| s.place()).unwrap_or_default();
    let host_kind = match last.map(|s| s.kind) {
        Some(netfilter::StepKind::Lflow) => "logical switch",
        _ => "host",
    }
    .to_string();
    let dr_forward = step.role == StepRole::DrForward;
    let smac = pkt.src_mac.as_ref().map(MacAddr::to_string);
    let ct = match &hop.trace.ct_reason {
        Some(r) => format!("{}: {r}", hop.trace.ctstate),
        None => hop.trace.ctstate.clone(),
    };
    let zone = hop.trace.zone;
    let kind = kind_of(&hop.decided_by, hop.side);
    let pg_drop = matches!(hop.decided_by.first(), Some(Origin::PortGroupDrop { .. }));
    let ovn_inv = matches!(hop.decided_by.first(), Some(Origin::CtInvalidDrop { .. }));
    let ovn = matches!(last.map(|s| s.kind), Some(netfilter::StepKind::Lflow));
    let vips = sc.vips();
    let failover = sc.pattern.vip_failover().is_some();
    let nat = matches!(sc.pattern, Pattern::LvsNat);
    let tun = matches!(sc.pattern, Pattern::LvsTun);
    let routed = sc.pattern.routed();
    // routed-prefixes: the prefix (and its router) behind an address.
    let behind = |ip: IpAddr| {
        routed
            .and_then(|r| r.behind(ip))
            .map(|(r, n)| (sc.port_label(&r.port_id), n))
    };
    let reason = match kind {
        DropKind::AntiSpoof => {
            let why = if dr_forward {
                "; DR forwarding keeps the client's source IP, so the director sends from \
                 addresses that are not its own"
                    .to_string()
            } else if step.role == StepRole::NatForward {
                "; LVS-NAT rewrites only the destination (DNAT to the real server): the director \
                 forwards the client's packet with the client's source IP, an address that is \
                 not its own"
                    .to_string()
            } else if vips.contains(&pkt.src) && nat {
                "; the director sends the real server's answer SNATed to the VIP, so its port \
                 needs the VIP as an allowed address pair"
                    .to_string()
            } else if vips.contains(&pkt.src) && tun {
                "; a TUN real server answers from the VIP straight to the client".to_string()
            } else if vips.contains(&pkt.src) && pkt.proto == proto::ICMPV6 && pkt.icmp_type == 136
            {
                // keepalived's unsolicited NA and the kernel's answer to a
                // solicitation both leave from the VIP itself.
                "; the holder of an IPv6 VIP advertises it from the VIP itself (the unsolicited \
                 neighbour advertisement at takeover, the answer to a client's solicitation), so \
                 its port needs the VIP as an allowed address pair"
                    .to_string()
            } else if vips.contains(&pkt.src) && failover {
                "; the member holding the VIP answers clients from it (the service is bound to \
                 the VIP), so its port needs the VIP as an allowed address pair"
                    .to_string()
            } else if vips.contains(&pkt.src) {
                "; a DR real server answers from the VIP".to_string()
            } else if let Some((router, prefix)) = behind(pkt.src) {
                format!(
                    "; {router} routes {prefix}: it forwards packets from the addresses behind \
                     it unchanged, so its port needs {prefix} as an allowed address pair"
                )
            } else {
                String::new()
            };
            if ovn {
                format!(
                    "source {} from {} is not allowed by the port_security of logical port \
                     {label}: {}{why}",
                    pkt.src,
                    smac.clone().unwrap_or_default(),
                    ovn_port_security(sc, port)
                )
            } else {
                format!(
                    "source {} from {} is not among the (IP, MAC) pairs of port {label}: {}{why}",
                    pkt.src,
                    smac.clone().unwrap_or_default(),
                    source_pairs(port).join(" ")
                )
            }
        }
        DropKind::IngressPolicy | DropKind::EgressPolicy => format!(
            "no {} rule of the security groups of port {label} ({}) allows {} \
             (conntrack {ct} in zone {zone}); {}{}{}",
            if kind == DropKind::IngressPolicy {
                "ingress"
            } else {
                "egress"
            },
            group_names(sc, port),
            describe(pkt),
            if pg_drop {
                "it reached neutron_pg_drop's drop ACL"
            } else {
                "it fell through to sg-fallback"
            },
            if step.role == StepRole::TunEncap {
                "; LVS-TUN: the director wraps each client packet in IPIP (IP protocol 4) from \
                 its own address, and the firewall sees only that outer header, so the real \
                 server's group must admit protocol 4 from the directors"
            } else if step.role == StepRole::NatForward {
                "; LVS-NAT keeps the client's source, so the real server's group must admit \
                 the clients themselves on the real server's port"
            } else {
                ""
            },
            match behind(pkt.src) {
                Some((router, prefix)) if kind == DropKind::IngressPolicy => format!(
                    "; {} is behind {router} ({prefix}), no port's fixed IP: a remote-group \
                     rule matches it {}",
                    pkt.src,
                    if ovn {
                        "never (OVN's address sets hold fixed IPs only), so the group needs a \
                         rule for the prefix itself"
                    } else {
                        "only when the prefix is an allowed address pair of a port in that \
                         group (the pair joins the group's ipset)"
                    }
                ),
                _ => String::new(),
            }
        ),
        DropKind::Destination => format!(
            "OVN delivers to port {label} only packets for its fixed IPs and allowed \
             address pairs (and broadcast/multicast), its port_security {}; {} is neither{}",
            ovn_port_security(sc, port),
            pkt.dst,
            if vips.contains(&pkt.dst) && failover {
                ": the member holding the VIP needs it as an allowed address pair to receive \
                 clients' packets for it"
                    .to_string()
            } else if step.role == StepRole::NatReturn {
                ": in LVS-NAT the real server's answer is addressed to the client and routed \
                 through the director (its gateway), so the director's port must receive for \
                 every client address: an allowed address pair covering the client sources"
                    .to_string()
            } else if vips.contains(&pkt.dst) && nat {
                ": the director holding the VIP needs it as an allowed address pair to receive \
                 clients' packets for it"
                    .to_string()
            } else if vips.contains(&pkt.dst) {
                ": a DR/TUN real server needs the VIP as an allowed address pair to receive \
                 the director's copy"
                    .to_string()
            } else if let Some((router, prefix)) = behind(pkt.dst) {
                format!(
                    ": {router} routes {prefix} and receives packets for the addresses behind \
                     it, so its port needs {prefix} as an allowed address pair"
                )
            } else {
                String::new()
            }
        ),
        DropKind::Invalid if ovn_inv => format!(
            "conntrack zone {zone} (logical port {label}) calls {} {ct}{}, and OVN drops \
             invalid packets at priority 65532, above every ACL: no security group rule \
             can let it through",
            describe(pkt),
            if dr_forward || (hop.side == Side::Ingress && vips.contains(&pkt.dst)) {
                ": in DR only the client's direction crosses this port, so the handshake \
                 looks one-sided"
            } else {
                ""
            }
        ),
        DropKind::Invalid => format!(
            "conntrack zone {zone} on {} calls {} {ct}{} and no security group rule of \
             port {label} accepted it before the INVALID drop",
            hop.host,
            describe(pkt),
            if dr_forward || (hop.side == Side::Ingress && vips.contains(&pkt.dst)) {
                ": in DR only the client's direction crosses this port, so the handshake \
                 looks one-sided"
            } else {
                ""
            }
        ),
        _ => match hop.decided_by.first() {
            Some(Origin::Infrastructure { what, .. }) => format!("{}: {what}", describe(pkt)),
            _ => format!(
                "{} dropped by {table}:{chain} rule {rule_num} on {}",
                describe(pkt),
                hop.host
            ),
        },
    };
    Drop {
        kind,
        port_id: port.id.clone(),
        port: label,
        host: hop.host.clone(),
        side: Some(hop.side),
        table,
        chain,
        rule_num,
        rule_text,
        place,
        host_kind,
        reason,
        src: Some(pkt.src),
        dst: Some(pkt.dst),
        src_mac: smac,
        protocol: Some(pkt.proto),
        dport: Some(pkt.dport),
        dr_forward,
        decided_by: hop.decided_by.clone(),
    }
}

/// A port's ARP frame refused by the backend's ARP protection (for
/// iptables_hybrid the OVS agent's: a port may send ARP only with a sender IP
/// among its fixed IPs and pair IPs, from its MAC or a pair MAC; BRIEF §2).
pub fn explain_arp_drop(
    sc: &Scenario,
    fabric: &dyn Backend,
    sender: &str,
    frame: &ArpFrame,
) -> Option<Drop> {
    let decision = fabric.arp_from(sender, frame);
    let refused = decision.refused.clone()?;
    Some(protection_drop(
        sc,
        fabric,
        sender,
        frame,
        decision,
        refused,
        frame.sender_ip,
    ))
}

/// A port's IPv6 neighbour advertisement or solicitation (an [`ArpFrame`]
/// with IPv6 addresses) refused by the ND protection: on iptables_hybrid the
/// OVS agent's (ovs_neutron_agent.py install_icmpv6_na_spoofing_protection:
/// an NA only for the port's IPv6 fixed IPs, pairs and its MACs' link-local
/// addresses), on ML2/OVN port security's ND check. The address the port
/// needs is the advertised target.
pub fn explain_nd_drop(
    sc: &Scenario,
    fabric: &dyn Backend,
    sender: &str,
    frame: &ArpFrame,
    decision: fabric::ArpDecision,
    refused: ArpRefusal,
) -> Drop {
    let target = if frame.reply {
        frame.sender_ip
    } else {
        frame.target_ip
    };
    protection_drop(sc, fabric, sender, frame, decision, refused, target)
}

fn protection_drop(
    sc: &Scenario,
    fabric: &dyn Backend,
    sender: &str,
    frame: &ArpFrame,
    decision: fabric::ArpDecision,
    refused: ArpRefusal,
    needed: std::net::IpAddr,
) -> Drop {
    let port = sc.port(sender);
    let label = sc.port_label(sender);
    let vip_note = if sc.pattern.vip_failover().is_some() && sc.vips().contains(&needed) {
        if needed.is_ipv6() {
            ": the VIP must be an allowed address pair of every member that can hold it, or \
             its unsolicited neighbour advertisements and its answers to clients' \
             solicitations never leave the port"
        } else {
            ": the VIP must be an allowed address pair of every member that can hold it, or \
             its gratuitous ARP and its answers to clients' ARP never leave the port"
        }
    } else {
        ""
    };
    let cut_off = matches!(refused, ArpRefusal::CutOff { .. });
    let reason = match refused {
        ArpRefusal::CutOff { why } => why,
        ArpRefusal::SenderIp { .. } => format!(
            "port {label} may send ARP only for its fixed IPs and allowed address pairs; {} \
             is neither{vip_note}",
            frame.sender_ip,
        ),
        ArpRefusal::SenderMac { .. } => format!(
            "port {label} may send only from its MAC and pair MACs; {} is neither",
            frame.sender_mac
        ),
        ArpRefusal::NdTarget { .. } => format!(
            "port {label} may advertise (ICMPv6 neighbour advertisement) only its own IPv6 \
             addresses: its fixed IPs, its allowed address pairs and the link-local address of \
             its MACs; {needed} is none of them{vip_note}"
        ),
    };
    // A cut-off port is the cloud's doing, not a missing pair: --fix rewrites
    // its bare pairs (fix::rewrite_cut_off) when it can.
    let (kind, decided_by) = if cut_off {
        (
            DropKind::Other,
            vec![Origin::Infrastructure {
                port_id: port.id.clone(),
                what: reason.clone(),
            }],
        )
    } else {
        (DropKind::ArpSpoof, Vec::new())
    };
    Drop {
        kind,
        port_id: port.id.clone(),
        port: label,
        host: decision.host,
        side: Some(Side::Egress),
        place: format!("br-int (OpenFlow) {}, rule 0", decision.table),
        host_kind: fabric.site().into(),
        table: "br-int (OpenFlow)".into(),
        chain: decision.table,
        rule_num: 0,
        rule_text: decision.rule_text,
        reason,
        src: Some(needed),
        dst: Some(frame.target_ip),
        src_mac: Some(frame.sender_mac.clone()),
        protocol: None,
        dport: None,
        dr_forward: false,
        decided_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutron::model::RuleDirection;

    fn port() -> String {
        "p".into()
    }

    #[test]
    fn each_deciding_origin_names_its_kind() {
        let cases = [
            (
                Origin::SpoofDrop { port_id: port() },
                Side::Egress,
                DropKind::AntiSpoof,
            ),
            (
                Origin::ConntrackInvalid { port_id: port() },
                Side::Ingress,
                DropKind::Invalid,
            ),
            (Origin::DefaultDrop, Side::Ingress, DropKind::IngressPolicy),
            (Origin::DefaultDrop, Side::Egress, DropKind::EgressPolicy),
            (
                Origin::NoRuleMatched {
                    port_id: port(),
                    direction: RuleDirection::Egress,
                },
                Side::Egress,
                DropKind::EgressPolicy,
            ),
            (
                Origin::Infrastructure {
                    port_id: port(),
                    what: "no DHCP server in a VM".into(),
                },
                Side::Egress,
                DropKind::Other,
            ),
        ];
        for (origin, side, want) in cases {
            assert_eq!(
                kind_of(std::slice::from_ref(&origin), side),
                want,
                "{origin:?}"
            );
        }
        assert_eq!(kind_of(&[], Side::Ingress), DropKind::Other);
    }
}
