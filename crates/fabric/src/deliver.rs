//! A cloud-level trace: a frame sent by a port is delivered the way br-int
//! delivers it, by destination MAC on the sender's network (flooded when the
//! MAC is broadcast or multicast), through the sender's egress and each
//! receiver's ingress firewall of the backend, with state across frames.
//!
//! Input: one frame per line, `from=<port name or id>` plus the packet fields of
//! docs/trace-packets.md (`smac` defaults to the sender's MAC; `dmac` picks the
//! receiver), or an ARP frame `proto=arp arp_op=1|2 sha= spa= tha= tpa=`.

use crate::{ArpFrame, Backend, Hop, Side};
use neutron::firewall::provenance::Origin;
use neutron::model::{Cloud, Port};
use packet::{Packet, Verdict};
use serde::Serialize;
use std::net::IpAddr;

/// One frame of a cloud-level trace.
#[derive(Clone, Debug)]
pub enum Frame {
    Ip(Box<Packet>),
    /// An ICMPv6 neighbour solicitation (`na` false) or advertisement for `target`.
    Nd {
        pkt: Box<Packet>,
        na: bool,
        target: IpAddr,
    },
    Arp {
        op: u8,
        frame: ArpFrame,
        tha: String,
    },
}

/// A line of input: who sends what.
#[derive(Clone, Debug)]
pub struct Send {
    pub line: usize,
    pub from: String,
    pub frame: Frame,
}

/// A bad input line.
#[derive(Debug, thiserror::Error)]
#[error("{line}: {field}: {msg}")]
pub struct SendError {
    pub line: usize,
    pub field: String,
    pub msg: String,
}

/// What happened to a frame.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub from: String,
    #[serde(rename = "verdict")]
    pub delivered: VerdictWord,
    /// Receiving ports (names where the cloud gives them).
    pub to: Vec<String>,
    pub drop: Option<DropAt>,
    /// The port the backend answered a request for itself (OVN's ARP/ND
    /// responder); the request reached no port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_for: Option<String>,
    /// Every firewall crossing, in order.
    pub path: Vec<Hop>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictWord {
    Delivered,
    Dropped,
    /// The backend answered the request itself (OVN's ARP/ND responder).
    Answered,
}

/// Where a frame died, and the Neutron objects behind the rule.
#[derive(Clone, Debug, Serialize)]
pub struct DropAt {
    pub port: String,
    pub side: Side,
    pub host: String,
    pub place: String,
    pub rule: String,
    pub why: String,
    pub decided_by: Vec<Origin>,
}

fn err(line: usize, field: &str, msg: impl Into<String>) -> SendError {
    SendError {
        line,
        field: field.into(),
        msg: msg.into(),
    }
}

fn label(p: &Port) -> String {
    if p.name.is_empty() {
        p.id.clone()
    } else {
        p.name.clone()
    }
}

/// Parse the frames of a trace (blank lines and `#` comments skipped).
pub fn parse_sends(cloud: &Cloud, text: &str) -> Result<Vec<Send>, SendError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut from = None;
        let mut rest: Vec<&str> = Vec::new();
        let mut arp: Vec<(&str, &str)> = Vec::new();
        let mut is_arp = false;
        let mut nd: Option<&str> = None;
        let mut target: Option<&str> = None;
        for tok in l.split_whitespace() {
            match tok.split_once('=') {
                Some(("from", v)) => from = Some(v),
                Some(("proto", "arp")) => is_arp = true,
                Some(("proto", "nd")) => nd = Some(nd.unwrap_or("ns")),
                Some(("nd", v)) => nd = Some(v),
                Some(("target", v)) => target = Some(v),
                Some((k @ ("arp_op" | "sha" | "spa" | "tha" | "tpa"), v)) => arp.push((k, v)),
                _ => rest.push(tok),
            }
        }
        let from = from.ok_or_else(|| err(line, "from", "missing: name the sending port"))?;
        let port = cloud
            .port(from)
            .ok_or_else(|| err(line, "from", format!("no port with id or name {from:?}")))?;
        let frame = if is_arp {
            let get = |k: &str| arp.iter().find(|(kk, _)| *kk == k).map(|(_, v)| *v);
            let ip = |k: &str| -> Result<IpAddr, SendError> {
                get(k)
                    .ok_or_else(|| err(line, k, "missing"))?
                    .parse()
                    .map_err(|_| err(line, k, "not an IP address"))
            };
            let op: u8 = match get("arp_op").unwrap_or("1") {
                "1" => 1,
                "2" => 2,
                other => return Err(err(line, "arp_op", format!("{other:?}: 1 or 2"))),
            };
            if let Some(extra) = rest.first() {
                return Err(err(line, extra, "not an ARP field"));
            }
            Frame::Arp {
                op,
                frame: ArpFrame {
                    reply: op == 2,
                    sender_mac: get("sha").unwrap_or(&port.mac_address).to_lowercase(),
                    sender_ip: ip("spa")?,
                    target_ip: ip("tpa")?,
                },
                tha: get("tha").unwrap_or("ff:ff:ff:ff:ff:ff").to_lowercase(),
            }
        } else if let Some(op) = nd {
            nd_frame(line, port, op, target, &rest)?
        } else {
            let mut p =
                Packet::parse_kv(&rest.join(" ")).map_err(|e| err(line, &e.field, e.msg))?;
            if p.src_mac.is_none() {
                p.src_mac = port.mac_address.parse().ok();
            }
            if p.dst_mac.is_none() {
                return Err(err(line, "dmac", "missing: the receiver is found by MAC"));
            }
            Frame::Ip(Box::new(p))
        };
        out.push(Send {
            line,
            from: port.id.clone(),
            frame,
        });
    }
    Ok(out)
}

/// `proto=nd nd=ns|na target=ADDR` plus the IPv6 packet fields: an ICMPv6
/// neighbour solicitation (135) or advertisement (136), hop limit 255. A
/// multicast destination gives its MAC (33:33 + the last 32 bits, RFC 2464 7).
fn nd_frame(
    line: usize,
    port: &Port,
    op: &str,
    target: Option<&str>,
    rest: &[&str],
) -> Result<Frame, SendError> {
    let na = match op {
        "ns" => false,
        "na" => true,
        other => return Err(err(line, "nd", format!("{other:?}: ns or na"))),
    };
    let target: IpAddr = target
        .ok_or_else(|| {
            err(
                line,
                "target",
                "missing: the address solicited or advertised",
            )
        })?
        .parse()
        .map_err(|_| err(line, "target", "not an IP address"))?;
    let icmp_type = if na { 136 } else { 135 };
    let mut p = Packet::parse_kv(&format!(
        "{} proto=icmpv6 icmp_type={icmp_type} ttl=255",
        rest.join(" ")
    ))
    .map_err(|e| err(line, &e.field, e.msg))?;
    if !p.dst.is_ipv6() || !target.is_ipv6() {
        return Err(err(line, "dst", "neighbour discovery is IPv6"));
    }
    if p.src_mac.is_none() {
        p.src_mac = port.mac_address.parse().ok();
    }
    if p.dst_mac.is_none() {
        match p.dst {
            IpAddr::V6(d) if d.is_multicast() => {
                let o = d.octets();
                p.dst_mac = Some(packet::MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]));
            }
            _ => return Err(err(line, "dmac", "missing: the receiver is found by MAC")),
        }
    }
    Ok(Frame::Nd {
        pkt: Box::new(p),
        na,
        target,
    })
}

/// The ports on `sender`'s network that receive a frame to `dmac`: every other
/// port for broadcast and multicast, else the port owning the MAC (its own or
/// a pair's); only ports the backend delivers to in their own name.
fn receivers<'a>(
    cloud: &'a Cloud,
    backend: &dyn Backend,
    sender: &Port,
    dmac: &str,
) -> Vec<&'a Port> {
    let flood = u8::from_str_radix(dmac.get(0..2).unwrap_or("00"), 16).unwrap_or(0) & 1 == 1;
    if !flood {
        if let Some(ids) = backend.l2_lookup(&sender.id, dmac) {
            return cloud
                .ports
                .iter()
                .filter(|p| ids.contains(&p.id) && backend.receives(&p.id))
                .collect();
        }
    }
    cloud
        .ports
        .iter()
        .filter(|p| p.id != sender.id && p.network_id == sender.network_id)
        .filter(|p| backend.receives(&p.id))
        .filter(|p| {
            flood
                || p.mac_address.eq_ignore_ascii_case(dmac)
                || p.allowed_address_pairs.iter().any(|a| {
                    a.mac_address
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(dmac))
                })
        })
        .collect()
}

fn dropped_at(cloud: &Cloud, hop: &Hop) -> DropAt {
    let last = hop.trace.path.last();
    DropAt {
        port: cloud.port(&hop.port_id).map(label).unwrap_or_default(),
        side: hop.side,
        host: hop.host.clone(),
        place: last.map(|s| s.place()).unwrap_or_default(),
        rule: last.map(|s| s.rule_text.clone()).unwrap_or_default(),
        why: hop
            .decided_by
            .first()
            .map(origin_words)
            .unwrap_or_else(|| "dropped".into()),
        decided_by: hop.decided_by.clone(),
    }
}

/// The origin of a deciding rule in a few words.
pub fn origin_words(o: &Origin) -> String {
    match o {
        Origin::SpoofDrop { .. } => {
            "anti-spoofing: the source (IP, MAC) is none of the port's fixed IPs and allowed address pairs".into()
        }
        Origin::ConntrackInvalid { .. } => "conntrack calls it INVALID and no group rule took it first".into(),
        Origin::DefaultDrop | Origin::NoRuleMatched { .. } => {
            "no security group rule of the port allows it".into()
        }
        Origin::Infrastructure { what, .. } => format!("the agent's own rule: {what}"),
        Origin::PortGroupDrop { .. } => {
            "no security group rule of the port allows it (neutron_pg_drop's drop ACL)".into()
        }
        Origin::CtInvalidDrop { .. } => {
            "conntrack calls it INVALID, and OVN drops invalid packets above every ACL".into()
        }
        Origin::DestinationDrop { .. } => {
            "OVN port security: the destination is none of the port's fixed IPs and pairs".into()
        }
        other => format!("{other:?}"),
    }
}

/// Deliver every frame in order, with the backend's state carried across.
pub fn deliver_all(cloud: &Cloud, backend: &mut dyn Backend, sends: &[Send]) -> Vec<Delivery> {
    sends.iter().map(|s| deliver(cloud, backend, s)).collect()
}

fn deliver(cloud: &Cloud, backend: &mut dyn Backend, send: &Send) -> Delivery {
    let sender = cloud
        .port(&send.from)
        .expect("parse_sends resolved the port");
    let mut d = Delivery {
        from: label(sender),
        delivered: VerdictWord::Dropped,
        to: Vec::new(),
        drop: None,
        answered_for: None,
        path: Vec::new(),
    };
    match &send.frame {
        Frame::Arp { frame, tha, op } => {
            let decision = backend.arp_from(&sender.id, frame);
            if decision.refused.is_some() {
                d.drop = Some(refused_at(
                    sender,
                    decision,
                    "ARP protection: the sender is none of the port's addresses",
                ));
                return d;
            }
            // Learnt before the responder answers (see deliver_ip).
            backend.learn(&sender.id, &frame.sender_mac);
            if *op == 1 {
                if let Some(owner) = backend.responder(&sender.id, frame.target_ip) {
                    d.answered_for = cloud.port(&owner).map(label);
                    d.delivered = VerdictWord::Answered;
                    return d;
                }
            }
            let dmac = if *op == 1 { "ff:ff:ff:ff:ff:ff" } else { tha };
            d.to = receivers(cloud, &*backend, sender, dmac)
                .into_iter()
                .map(label)
                .collect();
            d.delivered = if d.to.is_empty() {
                VerdictWord::Dropped
            } else {
                VerdictWord::Delivered
            };
        }
        Frame::Nd { pkt, na, target } => {
            let smac = pkt.src_mac.map(|m| m.to_string()).unwrap_or_default();
            let decision = backend.nd_from(&sender.id, &smac, *na, *target);
            if decision.refused.is_some() {
                d.drop = Some(refused_at(
                    sender,
                    decision,
                    "ND protection: the advertised target or the MAC is none of the port's",
                ));
                return d;
            }
            backend.learn(&sender.id, &smac);
            if !*na {
                if let Some(owner) = backend.responder(&sender.id, *target) {
                    d.answered_for = cloud.port(&owner).map(label);
                    d.delivered = VerdictWord::Answered;
                    return d;
                }
            }
            deliver_ip(cloud, backend, sender, pkt, &mut d);
        }
        Frame::Ip(pkt) => deliver_ip(cloud, backend, sender, pkt, &mut d),
    }
    d
}

/// A frame the sender's ARP/ND protection refused.
fn refused_at(sender: &Port, decision: crate::ArpDecision, why: &str) -> DropAt {
    DropAt {
        port: label(sender),
        side: Side::Egress,
        host: decision.host,
        place: decision.table,
        rule: decision.rule_text,
        why: why.into(),
        decided_by: Vec::new(),
    }
}

/// An IP packet: the sender's egress, then each receiver's ingress.
fn deliver_ip(
    cloud: &Cloud,
    backend: &mut dyn Backend,
    sender: &Port,
    pkt: &Packet,
    d: &mut Delivery,
) {
    // OVN learns a source MAC in ls_in_put_fdb (ingress table 3), before the
    // ACL stages: a frame the ACLs then drop has still taught the switch (real
    // delivery, large run cloud rand-9012-49: a SYN-ACK dropped as ct.inv, the
    // next frame to that MAC reached only its port). Only ports with
    // `unknown` addresses learn, and those have no port security to fail.
    if let Some(smac) = pkt.src_mac {
        backend.learn(&sender.id, &smac.to_string());
    }
    if let Some(hop) = backend.cross(&sender.id, Side::Egress, pkt) {
        let verdict = hop.trace.verdict;
        d.path.push(hop);
        if verdict == Verdict::Drop {
            d.drop = Some(dropped_at(cloud, d.path.last().expect("just pushed")));
            return;
        }
    }
    let dmac = pkt.dst_mac.map(|m| m.to_string()).unwrap_or_default();
    for r in receivers(cloud, &*backend, sender, &dmac) {
        match backend.cross(&r.id, Side::Ingress, pkt) {
            Some(hop) if hop.trace.verdict == Verdict::Drop => {
                if d.drop.is_none() {
                    d.drop = Some(dropped_at(cloud, &hop));
                }
                d.path.push(hop);
            }
            other => {
                d.path.extend(other);
                d.to.push(label(r));
            }
        }
    }
    if !d.to.is_empty() {
        d.delivered = VerdictWord::Delivered;
    } else if d.drop.is_none() {
        d.drop = Some(DropAt {
            port: String::new(),
            side: Side::Ingress,
            host: String::new(),
            place: "br-int".into(),
            rule: String::new(),
            why: format!("no other port on the sender's network has MAC {dmac}"),
            decided_by: Vec::new(),
        });
    }
}
