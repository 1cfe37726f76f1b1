//! The packets of a load balancer's life, as the real hosts would send them.
//!
//! Coverage is complete by construction: every director takes its turn as the
//! VIP holder (the first by election is the master, the others take over after a
//! failover), and through each holder every client class reaches every real
//! server of every virtual service, in the service's own protocol. Every
//! conversation starts with the ARP resolution its first packet needs (the
//! client's who-has for the VIP and the holder's answer, the director's ARP for
//! the real server, the real server's ARP for the client or its gateway); a
//! failed resolution ends the conversation there, as on a real network. Health
//! checks run from every director, by checker type. What cannot be exercised is
//! listed in [`crate::coverage::Coverage`].
//!
//! LVS-NAT: the holder DNATs each client packet to the real server (the
//! client's source kept), the real server answers the client through its
//! default gateway (the director, when `gateway:` says so), and the holder sends
//! the answer SNATed to the VIP. LVS-TUN: the holder wraps each client packet in
//! IPIP (IP protocol 4) from its own address to the real server, which answers
//! from the VIP straight to the client. The firewalls see the outer header only.
//!
//! The vip-failover pattern (the members serve the VIP themselves): the same
//! VRRP adverts and takeovers, then every client class talks to the holder on
//! every service and is answered from the VIP, and the holder opens its own
//! connections to every backend from its fixed IP.
//!
//! The routed-prefixes pattern (no VIP, no VRRP): for every router port, every
//! peer and every service, a connection from the first address of each prefix
//! to the peer, and from the peer to that address via the router port's MAC;
//! and between every two routers, prefix to prefix, both ways. Each starts
//! with the ARP for the next hop's fixed IP (routed addresses are never
//! ARPed on the segment).

use crate::scenario::Pattern;
use crate::scenario::{
    BackendHost, Client, Director, RealServer, RoutedPrefixes, Scenario, Service, VipFailover,
};
use lvs::keepalived::{HealthCheck, L4Proto, VirtualServer};
use packet::{proto, tcp_flags as f, MacAddr, Packet};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What part of the load balancer's life a flow belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Arp,
    Vrrp,
    Ping,
    Service,
    HealthCheck,
    Failover,
    /// A vip-failover member's own connection to one of its backends.
    Backend,
    /// routed-prefixes: a connection from or to an address behind a router port.
    Routed,
}

pub use fabric::ArpFrame;

/// What travels in a step.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Payload {
    Arp(ArpFrame),
    Ip(Box<Packet>),
}

/// What a step is, for the diagnosis (it must not guess from the label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepRole {
    /// A packet a host sends with its own addresses.
    Plain,
    /// The director's DR copy of a client packet (client's source IP, director's MAC).
    DrForward,
    /// An ARP request or reply that resolves the next hop of the conversation.
    Resolution,
    /// LVS-NAT: the director's DNATed copy of a client packet (client's source
    /// IP, the real server's address, director's MAC).
    NatForward,
    /// LVS-NAT: the real server's reply to the client, sent to its gateway.
    NatReturn,
    /// LVS-TUN: the director's IPIP packet to the real server (its own
    /// address outside, the client's packet inside).
    TunEncap,
}

/// One packet from one port to another.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub what: String,
    pub sender: String,
    /// Receiving port; None for broadcasts nobody in particular must receive.
    pub receiver: Option<String>,
    pub payload: Payload,
    pub role: StepRole,
    /// The receiving host's own verdict (e.g. a real server without the VIP on lo).
    pub host_refusal: Option<String>,
}

/// A conversation: its steps go in order and stop at the first drop.
#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    pub name: String,
    pub category: Category,
    /// The director holding the VIPs while this flow runs (port id).
    pub holder: Option<String>,
    pub steps: Vec<Step>,
}

/// A finding about host settings that is not a Neutron drop.
#[derive(Clone, Debug, Serialize)]
pub struct Warning {
    pub port: String,
    pub message: String,
}

/// A Neutron MAC string as a [`MacAddr`]; the loader has validated it.
pub fn parse_mac(s: &str) -> MacAddr {
    s.parse().unwrap_or(MacAddr([0; 6]))
}

const VRRP_MCAST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VRRP_MAC: &str = "01:00:5e:00:00:12";
/// VRRPv3 for IPv6 (RFC 5798 5.1.2.2): ff02::12, MAC 33:33:00:00:00:12.
const VRRP6_MCAST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const VRRP6_MAC: &str = "33:33:00:00:00:12";

/// An instance runs over IPv6 when its VIPs are IPv6 (keepalived takes the
/// instance's family from its first address and refuses the other family).
fn inst_v6(inst: &lvs::keepalived::VrrpInstance) -> bool {
    inst.virtual_ipaddresses
        .first()
        .is_some_and(|v| v.addr().is_ipv6())
}

/// The VRRP virtual MAC of an instance: 00:00:5e:00:01:VRID for IPv4,
/// 00:00:5e:00:02:VRID for IPv6 (RFC 5798 7.3), which keepalived uses with
/// `use_vmac`.
fn vrrp_vmac(inst: &lvs::keepalived::VrrpInstance) -> String {
    format!(
        "00:00:5e:00:{:02x}:{:02x}",
        if inst_v6(inst) { 2 } else { 1 },
        inst.virtual_router_id
    )
}

/// `ip:port`, with brackets for IPv6.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The EUI-64 link-local address of a MAC (what the kernel gives an
/// interface, and what keepalived sends IPv6 adverts from).
pub fn link_local(mac: &str) -> IpAddr {
    neutron::firewall::iptables_hybrid::link_local(mac)
        .map(IpAddr::V6)
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}

/// The protocol name used in labels and the coverage line.
pub fn l4_name(p: L4Proto) -> &'static str {
    match p {
        L4Proto::Tcp => "tcp",
        L4Proto::Udp => "udp",
    }
}

/// One leg of a scripted exchange: who sends, flags, seq, ack, payload, label.
struct Leg {
    from_initiator: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    label: &'static str,
}

const fn leg(
    from_initiator: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    label: &'static str,
) -> Leg {
    Leg {
        from_initiator,
        flags,
        seq,
        ack,
        len,
        label,
    }
}

/// A whole TCP connection with a request and a response, then both FINs.
fn tcp_script(request: u32, response: u32) -> Vec<Leg> {
    let (c, s) = (1_000_000u32, 5_000_000u32);
    vec![
        leg(true, f::SYN, c, 0, 0, "SYN"),
        leg(false, f::SYN | f::ACK, s, c + 1, 0, "SYN-ACK"),
        leg(true, f::ACK, c + 1, s + 1, 0, "ACK"),
        leg(true, f::PSH | f::ACK, c + 1, s + 1, request, "request"),
        leg(
            false,
            f::PSH | f::ACK,
            s + 1,
            c + 1 + request,
            response,
            "response",
        ),
        leg(
            true,
            f::FIN | f::ACK,
            c + 1 + request,
            s + 1 + response,
            0,
            "FIN",
        ),
        leg(
            false,
            f::FIN | f::ACK,
            s + 1 + response,
            c + 2 + request,
            0,
            "FIN",
        ),
        leg(true, f::ACK, c + 2 + request, s + 2 + response, 0, "ACK"),
    ]
}

/// A UDP exchange: two requests, each answered (the second meets an
/// established conntrack entry on every host).
fn udp_script(request: u32, response: u32) -> Vec<Leg> {
    vec![
        leg(true, 0, 0, 0, request, "request"),
        leg(false, 0, 0, 0, response, "response"),
        leg(true, 0, 0, 0, request, "request"),
        leg(false, 0, 0, 0, response, "response"),
    ]
}

/// Builds the flows with a running clock and fresh source ports.
struct Builder<'a> {
    sc: &'a Scenario,
    time: f64,
    next_port: u16,
}

impl<'a> Builder<'a> {
    fn mac(&self, port: &str) -> String {
        self.sc.port(port).mac_address.to_lowercase()
    }

    /// The MAC a port answers for `ip` with: the VRRP virtual MAC when `ip` is a
    /// VIP of a `use_vmac` instance of that director, else the port's own.
    fn answer_mac(&self, port: &str, ip: IpAddr) -> String {
        self.sc
            .directors
            .iter()
            .filter(|d| d.port_id == port)
            .flat_map(|d| &d.config.vrrp_instances)
            .find(|i| i.use_vmac && i.virtual_ipaddresses.iter().any(|v| v.addr() == ip))
            .map(vrrp_vmac)
            .unwrap_or_else(|| self.mac(port))
    }

    /// The port's own fixed IP of `like`'s family (its first IPv4 one when
    /// it has none of that family).
    fn own_ip_like(&self, port: &str, like: IpAddr) -> IpAddr {
        crate::scenario::first_of_family(self.sc.port(port), like.is_ipv6())
            .unwrap_or_else(|| self.own_ip(port))
    }

    /// The port's own first IPv4 fixed IP.
    fn own_ip(&self, port: &str) -> IpAddr {
        self.sc
            .port(port)
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(|ip| ip.is_ipv4())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn fresh_port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(32768);
        p
    }

    #[allow(clippy::too_many_arguments)]
    fn ip_packet(
        &mut self,
        smac: &str,
        dmac: &str,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        sport: u16,
        dport: u16,
    ) -> Packet {
        self.time += 0.001;
        let mut p = Packet::new(src, dst, protocol);
        p.src_mac = Some(parse_mac(smac));
        p.dst_mac = Some(parse_mac(dmac));
        p.sport = sport;
        p.dport = dport;
        p.time = self.time;
        p
    }

    fn step(&self, what: String, sender: &str, receiver: Option<&str>, payload: Payload) -> Step {
        Step {
            what,
            sender: sender.to_string(),
            receiver: receiver.map(str::to_string),
            payload,
            role: StepRole::Plain,
            host_refusal: None,
        }
    }

    /// The two frames that resolve `target` for `asker`: the who-has (from
    /// `asker_ip`) and the owner's answer.
    fn resolve(&self, asker: &str, asker_ip: IpAddr, target: IpAddr, owner: &str) -> [Step; 2] {
        let ask = ArpFrame {
            reply: false,
            sender_mac: self.mac(asker),
            sender_ip: asker_ip,
            target_ip: target,
        };
        let owner_mac = self.answer_mac(owner, target);
        let answer = ArpFrame {
            reply: true,
            sender_mac: owner_mac.clone(),
            sender_ip: target,
            target_ip: asker_ip,
        };
        // IPv6: the same exchange is neighbour discovery (RFC 4861): a
        // solicitation from the asker's address to the target's
        // solicited-node group, and the owner's solicited advertisement from
        // the target address itself (net/ipv6/ndisc.c ndisc_send_na: the
        // source is the solicited address when it is local).
        let (ask_text, answer_text) = if target.is_ipv6() {
            (
                format!("ND neighbour solicitation for {target} from {asker_ip}"),
                format!("ND neighbour advertisement {target} is-at {owner_mac}"),
            )
        } else {
            (
                format!("ARP who-has {target} tell {asker_ip}"),
                format!("ARP {target} is-at {owner_mac}"),
            )
        };
        let mut a = self.step(ask_text, asker, None, Payload::Arp(ask));
        let mut b = self.step(answer_text, owner, Some(asker), Payload::Arp(answer));
        a.role = StepRole::Resolution;
        b.role = StepRole::Resolution;
        [a, b]
    }

    /// The new holder's announcement of a VIP: a gratuitous ARP, or for an
    /// IPv6 VIP an unsolicited neighbour advertisement (as an advert frame
    /// with the VIP as sender and target): keepalived sends it from the VIP
    /// itself to ff02::1, hop limit 255, Override set (vrrp_ndisc.c,
    /// ndisc_send_unsolicited_na_immediate, keepalived 9cbce3e2).
    fn garp(&self, sender: &str, vip: IpAddr) -> Step {
        let frame = ArpFrame {
            reply: vip.is_ipv6(),
            sender_mac: self.answer_mac(sender, vip),
            sender_ip: vip,
            target_ip: vip,
        };
        let what = if vip.is_ipv6() {
            format!(
                "unsolicited neighbour advertisement {vip} is-at {} to ff02::1",
                frame.sender_mac
            )
        } else {
            format!("gratuitous ARP {vip} is-at {}", frame.sender_mac)
        };
        self.step(what, sender, None, Payload::Arp(frame))
    }

    /// Adverts of every VRRP instance of `master` that `backup` must hear.
    fn vrrp_advert(&mut self, master: &Director, backup: &Director) -> Vec<Step> {
        let mut steps = Vec::new();
        for inst in &master.config.vrrp_instances {
            let v6 = inst_v6(inst);
            let like = if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            let backup_ip = self.own_ip_like(&backup.port_id, like);
            // keepalived sends IPv6 adverts from the interface's link-local
            // address: it keeps only link-local IPv6 addresses as the
            // interface's own (core/keepalived_netlink.c,
            // ignore_address_if_ours_or_link_local) and takes the instance's
            // source from it (vrrp/vrrp.c, `vrrp->saddr` from
            // VRRP_CONFIGURED_IFP(vrrp)->sin6_addr); keepalived 9cbce3e2.
            let src = inst.unicast_src_ip.unwrap_or_else(|| {
                if v6 {
                    link_local(&self.mac(&master.port_id))
                } else {
                    self.own_ip(&master.port_id)
                }
            });
            let (dst, dmac) = if inst.unicast_peers.is_empty() {
                if v6 {
                    (IpAddr::V6(VRRP6_MCAST), VRRP6_MAC.to_string())
                } else {
                    (IpAddr::V4(VRRP_MCAST), VRRP_MAC.to_string())
                }
            } else if inst.unicast_peers.contains(&backup_ip) {
                (backup_ip, self.mac(&backup.port_id))
            } else {
                // Not sent at all: the consistency findings name the missing peer.
                continue;
            };
            let ip_proto = if uses_ah(inst) {
                proto::AH
            } else {
                proto::VRRP
            };
            // With use_vmac the IPv6 source stays the base interface's
            // link-local address, which keepalived copies onto the VMAC
            // interface (vrrp_vmac.c set_link_local_address), while the
            // frames leave from the virtual MAC.
            let smac = if inst.use_vmac {
                vrrp_vmac(inst)
            } else {
                self.mac(&master.port_id)
            };
            let mut p = self.ip_packet(&smac, &dmac, src, dst, ip_proto, 0, 0);
            p.ttl = 255;
            let what = format!(
                "VRRP{} advert {} vrid {} prio {} {src} -> {dst}",
                if ip_proto == proto::AH { " (AH)" } else { "" },
                inst.name,
                inst.virtual_router_id,
                inst.priority
            );
            steps.push(self.step(
                what,
                &master.port_id,
                Some(&backup.port_id),
                Payload::Ip(Box::new(p)),
            ));
        }
        steps
    }

    /// The client's who-has for the VIP, answered by the holder.
    fn client_resolves_vip(&self, peer: &Client, holder: &Director, vip: IpAddr) -> [Step; 2] {
        let asker = &peer.port_id;
        let asker_ip = if peer.external {
            self.own_ip_like(asker, vip)
        } else {
            peer.ip
        };
        self.resolve(asker, asker_ip, vip, &holder.port_id)
    }

    /// The client label as the flow table names it.
    fn client_label(&self, peer: &Client) -> String {
        let port = self.sc.port_label(&peer.port_id);
        if peer.external {
            format!("{} via {port}", peer.ip)
        } else {
            port
        }
    }

    fn ping(&mut self, peer: &Client, holder: &Director, vip: IpAddr, category: Category) -> Flow {
        let client = peer.port_id.clone();
        let cmac = self.mac(&client);
        let dmac = self.answer_mac(&holder.port_id, vip);
        let cip = peer.ip;
        let id = self.fresh_port();
        // ICMPv6 echo is type 128, its reply 129 (RFC 4443).
        let (icmp, echo, reply) = if vip.is_ipv6() {
            (proto::ICMPV6, 128, 129)
        } else {
            (proto::ICMP, 8, 0)
        };
        let mut req = self.ip_packet(&cmac, &dmac, cip, vip, icmp, 0, 0);
        req.icmp_type = echo;
        req.icmp_id = id;
        let mut rep = self.ip_packet(&dmac, &cmac, vip, cip, icmp, 0, 0);
        rep.icmp_type = reply;
        rep.icmp_id = id;
        let mut steps = self.client_resolves_vip(peer, holder, vip).to_vec();
        steps.push(self.step(
            format!("ICMP echo-request {cip} -> {vip}"),
            &client,
            Some(&holder.port_id),
            Payload::Ip(Box::new(req)),
        ));
        steps.push(self.step(
            format!("ICMP echo-reply {vip} -> {cip}"),
            &holder.port_id,
            Some(&client),
            Payload::Ip(Box::new(rep)),
        ));
        Flow {
            name: format!(
                "ping {} -> VIP {vip} at {}",
                self.client_label(peer),
                self.sc.port_label(&holder.port_id)
            ),
            category,
            holder: Some(holder.port_id.clone()),
            steps,
        }
    }

    /// The address a real server's ARP request carries as its sender for a reply
    /// sent from the VIP: with `arp_announce` 2 its own address; with 0 the
    /// packet's source (the VIP, a local address on lo); with 1 the VIP too when
    /// the VIP lies in the interface's subnet (net/ipv4/arp.c arp_solicit,
    /// Documentation/networking/ip-sysctl.rst arp_announce).
    /// IPv6 has no arp_announce: the solicitation for the next hop comes
    /// from the triggering packet's source only when that address is on the
    /// outgoing device (the VIP is on lo), else from the device's own address
    /// (net/ipv6/ndisc.c ndisc_solicit, ipv6_chk_addr strict).
    fn rs_arp_source(&self, rs: &RealServer, vip: IpAddr) -> IpAddr {
        if vip.is_ipv6() {
            return self.own_ip_like(&rs.port_id, vip);
        }
        let own = self.own_ip(&rs.port_id);
        match rs.settings.arp_announce {
            0 => vip,
            1 if self.in_port_subnet(&rs.port_id, vip) => vip,
            _ => own,
        }
    }

    fn in_port_subnet(&self, port: &str, ip: IpAddr) -> bool {
        self.sc.port(port).fixed_ips.iter().any(|f| {
            self.sc
                .cloud
                .subnet(&f.subnet_id)
                .is_some_and(|s| s.cidr.contains(&ip))
        })
    }

    /// Where the real server sends its answer: the client's own port, or the
    /// router's for a client outside the network (its next hop is the gateway).
    fn next_hop_owner(&self, peer: &Client) -> (String, IpAddr) {
        let port = peer.port_id.clone();
        let ip = if peer.external {
            self.own_ip_like(&port, peer.ip)
        } else {
            peer.ip
        };
        (port, ip)
    }

    /// A client's conversation with the VIP through `holder`, forwarded to
    /// `rs` in DR (the director changes only the destination MAC) or, with
    /// `tun`, in LVS-TUN (IPIP from the director's own address), in the
    /// service's protocol; the answer goes from the VIP straight to the client.
    fn dr_or_tun_conversation(
        &mut self,
        peer: &Client,
        holder: &Director,
        vs: &VirtualServer,
        rs: &RealServer,
        category: Category,
        tun: bool,
    ) -> Flow {
        let client = peer.port_id.clone();
        let (vip, vport) = (vs.addr, vs.port);
        let cmac = self.mac(&client);
        // The client sends to the MAC the VIP resolved to; the DR copy leaves
        // with the director's own (IPVS routes it out of the port's interface).
        let vmac = self.answer_mac(&holder.port_id, vip);
        let dmac = self.mac(&holder.port_id);
        let rmac = if rs.port_id == holder.port_id {
            vmac.clone()
        } else {
            self.mac(&rs.port_id)
        };
        let cip = peer.ip;
        let sport = self.fresh_port();
        let (cs, vp) = (host_port(cip, sport), host_port(vip, vport));
        let (ip_proto, script) = match vs.protocol {
            L4Proto::Tcp => (proto::TCP, tcp_script(78, 512)),
            L4Proto::Udp => (proto::UDP, udp_script(40, 120)),
        };
        let pname = l4_name(vs.protocol).to_uppercase();
        let mut steps: Vec<Step> = self.client_resolves_vip(peer, holder, vip).to_vec();
        // The holder is itself this real server: IPVS hands the connection to
        // its own stack and it answers from the VIP; nothing is forwarded.
        let local = rs.port_id == holder.port_id;
        let mut director_resolved = false;
        let mut rs_resolved = false;
        for l in script {
            if l.from_initiator {
                let mut p = self.ip_packet(&cmac, &vmac, cip, vip, ip_proto, sport, vport);
                set_l4(&mut p, &l);
                steps.push(self.step(
                    format!("{pname} {} {cs} -> {vp}", l.label),
                    &client,
                    Some(&holder.port_id),
                    Payload::Ip(Box::new(p.clone())),
                ));
                if local {
                    continue;
                }
                let dip = self.own_ip_like(&holder.port_id, rs.ip);
                if !director_resolved {
                    steps.extend(self.resolve(&holder.port_id, dip, rs.ip, &rs.port_id));
                    director_resolved = true;
                }
                if tun {
                    // The outer header is all a firewall on the way sees: IP
                    // protocol 4 from the director's own address, no ports.
                    let mut outer = self.ip_packet(&dmac, &rmac, dip, rs.ip, proto::IPIP, 0, 0);
                    outer.payload_len = 20 + l.len + if ip_proto == proto::TCP { 20 } else { 8 };
                    let mut s = self.step(
                        format!("IPIP {dip} -> {} [{pname} {} {cs} -> {vp}]", rs.ip, l.label),
                        &holder.port_id,
                        Some(&rs.port_id),
                        Payload::Ip(Box::new(outer)),
                    );
                    s.role = StepRole::TunEncap;
                    s.host_refusal = self.tun_refusal(rs, vip);
                    steps.push(s);
                    continue;
                }
                // DR: the director changes only the destination MAC.
                let mut fwd = p;
                fwd.src_mac = Some(parse_mac(&dmac));
                fwd.dst_mac = Some(parse_mac(&rmac));
                self.time += 0.0001;
                fwd.time = self.time;
                let mut s = self.step(
                    format!("DR {pname} {} {cs} -> {vp} to {}", l.label, rs.ip),
                    &holder.port_id,
                    Some(&rs.port_id),
                    Payload::Ip(Box::new(fwd)),
                );
                s.role = StepRole::DrForward;
                if !rs.settings.vip_on_lo {
                    s.host_refusal = Some(format!(
                        "the real server {} does not have the VIP {vip} on lo, so its kernel \
                         drops packets addressed to the VIP",
                        rs.ip
                    ));
                }
                steps.push(s);
            } else {
                // The holder learnt the client's MAC from its who-has.
                if !rs_resolved && !local {
                    let (owner, hop_ip) = self.next_hop_owner(peer);
                    let spa = self.rs_arp_source(rs, vip);
                    steps.extend(self.resolve(&rs.port_id, spa, hop_ip, &owner));
                    rs_resolved = true;
                }
                let mut p = self.ip_packet(&rmac, &cmac, vip, cip, ip_proto, vport, sport);
                set_l4(&mut p, &l);
                steps.push(self.step(
                    format!(
                        "{pname} {} {vp} -> {cs} from {}{}",
                        l.label,
                        rs.ip,
                        if local { " (local real server)" } else { "" }
                    ),
                    &rs.port_id,
                    Some(&client),
                    Payload::Ip(Box::new(p)),
                ));
            }
        }
        Flow {
            name: format!(
                "{pname} {} -> {vp} via {}{} to {}",
                self.client_label(peer),
                self.sc.port_label(&holder.port_id),
                if tun { " IPIP" } else { "" },
                self.sc.port_label(&rs.port_id)
            ),
            category,
            holder: Some(holder.port_id.clone()),
            steps,
        }
    }

    /// One health checker of `director` against a real server, as keepalived's
    /// checker sends it. None: the checker sends nothing on the wire.
    fn health_check(
        &mut self,
        director: &Director,
        rs: &RealServer,
        rs_port_num: u16,
        check: &HealthCheck,
    ) -> Option<Flow> {
        let view = checker_view(check);
        let wire = view.wire?;
        let (target, dport, owner) =
            check_target(self.sc, director, &view, rs, rs_port_num).ok()?;
        let dmac = self.mac(&director.port_id);
        let rmac = self.mac(&owner);
        let dip = self.own_ip_like(&director.port_id, target);
        let mut steps: Vec<Step> = self
            .resolve(&director.port_id, dip, target, &owner)
            .to_vec();
        let (ip_proto, script) = match wire {
            CheckWire::Icmp => (proto::ICMP, vec![]),
            CheckWire::Udp => (proto::UDP, udp_script(32, 64).into_iter().take(2).collect()),
            CheckWire::UdpOneWay => (proto::UDP, udp_script(32, 64).into_iter().take(1).collect()),
            CheckWire::TcpRequest => (proto::TCP, tcp_script(90, 300)),
            CheckWire::TcpConnect => (proto::TCP, connect_close_script()),
        };
        let sport = self.fresh_port();
        let (ds, tp) = (host_port(dip, sport), host_port(target, dport));
        if ip_proto == proto::ICMP {
            let (icmp, echo, reply) = if target.is_ipv6() {
                (proto::ICMPV6, 128, 129)
            } else {
                (proto::ICMP, 8, 0)
            };
            let mut req = self.ip_packet(&dmac, &rmac, dip, target, icmp, 0, 0);
            req.icmp_type = echo;
            req.icmp_id = sport;
            let mut rep = self.ip_packet(&rmac, &dmac, target, dip, icmp, 0, 0);
            rep.icmp_type = reply;
            rep.icmp_id = sport;
            steps.push(self.step(
                format!("ICMP echo-request {dip} -> {target}"),
                &director.port_id,
                Some(&owner),
                Payload::Ip(Box::new(req)),
            ));
            steps.push(self.step(
                format!("ICMP echo-reply {target} -> {dip}"),
                &owner,
                Some(&director.port_id),
                Payload::Ip(Box::new(rep)),
            ));
        }
        let pname = if ip_proto == proto::UDP { "UDP" } else { "TCP" };
        for l in script {
            let step = if l.from_initiator {
                let mut p = self.ip_packet(&dmac, &rmac, dip, target, ip_proto, sport, dport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {ds} -> {tp}", l.label),
                    &director.port_id,
                    Some(&owner),
                    Payload::Ip(Box::new(p)),
                )
            } else {
                let mut p = self.ip_packet(&rmac, &dmac, target, dip, ip_proto, dport, sport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {tp} -> {ds}", l.label),
                    &owner,
                    Some(&director.port_id),
                    Payload::Ip(Box::new(p)),
                )
            };
            steps.push(step);
        }
        let target_text = if ip_proto == proto::ICMP {
            format!("icmp {target}")
        } else {
            format!("{}/{tp}", pname.to_lowercase())
        };
        Some(Flow {
            name: format!(
                "{} {} -> {} ({target_text})",
                view.kind,
                self.sc.port_label(&director.port_id),
                self.sc.port_label(&owner)
            ),
            category: Category::HealthCheck,
            holder: None,
            steps,
        })
    }
}

/// Where a NAT real server's reply to a client goes: the port that receives
/// it, the next hop's address and MAC, and the host problem when that is not
/// the director holding the connection.
struct NatRoute {
    owner: Option<String>,
    hop_ip: IpAddr,
    hop_mac: String,
    refusal: Option<String>,
}

/// LVS-NAT and LVS-TUN conversations.
impl Builder<'_> {
    /// The route of a NAT real server's answer to `peer` while `holder` holds
    /// the VIP and the connection (the real server's routing table: a connected
    /// subnet first, else its default gateway).
    fn nat_route(&self, peer: &Client, holder: &Director, rs: &RealServer) -> NatRoute {
        let rs_label = self.sc.port_label(&rs.port_id);
        let holder_label = self.sc.port_label(&holder.port_id);
        let ask = |why: String| {
            format!(
                "{why}; nothing translates it back to the VIP, so the client, which talks to the \
                 VIP, drops it (TCP: answers RST). LVS-NAT needs the real servers' replies to \
                 pass the director: their default route via an address the directors hold by \
                 VRRP (`gateway: <virtual_ipaddress>` in real_server_defaults)"
            )
        };
        if !peer.external && self.in_port_subnet(&rs.port_id, peer.ip) {
            return NatRoute {
                owner: Some(peer.port_id.clone()),
                hop_ip: peer.ip,
                hop_mac: self.mac(&peer.port_id),
                refusal: Some(format!(
                    "{} is on {rs_label}'s own subnet: {rs_label} answers it directly \
                     (connected route) from its own address {}, not through the director; \
                     nothing translates it back to the VIP, so the client drops it (TCP: \
                     answers RST). LVS-NAT serves only clients that reach the real servers \
                     through the director: put them on another network, or use DR or TUN \
                     (a host problem, no Neutron change fixes it)",
                    self.sc.port_label(&peer.port_id),
                    rs.ip
                )),
            };
        }
        let subnet_gw = self
            .sc
            .port(&rs.port_id)
            .fixed_ips
            .iter()
            .filter(|f| f.ip_address.is_ipv4())
            .find_map(|f| self.sc.cloud.subnet(&f.subnet_id)?.gateway_ip);
        let gateway = rs.settings.gateway.or(subnet_gw);
        let Some(gw) = gateway else {
            return NatRoute {
                owner: None,
                hop_ip: rs.ip,
                hop_mac: String::new(),
                refusal: Some(format!(
                    "{rs_label} has no route to {} (no `gateway:` in the scenario and its subnet \
                     has no gateway_ip): it cannot answer; give it a default route via an address \
                     the directors hold by VRRP (`gateway:` in real_server_defaults)",
                    peer.ip
                )),
            };
        };
        let from_dhcp = rs.settings.gateway.is_none();
        if self.sc.vips_of(holder).contains(&gw) || gw == self.own_ip(&holder.port_id) {
            return NatRoute {
                owner: Some(holder.port_id.clone()),
                hop_ip: gw,
                hop_mac: self.answer_mac(&holder.port_id, gw),
                refusal: None,
            };
        }
        let owner = self
            .sc
            .cloud
            .ports
            .iter()
            .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == gw))
            .map(|p| p.id.clone());
        let via = if from_dhcp {
            format!("{rs_label}'s default route (DHCP: the subnet's gateway_ip {gw})")
        } else {
            format!("{rs_label}'s default route ({gw})")
        };
        let refusal = match &owner {
            Some(o) if self.sc.directors.iter().any(|d| &d.port_id == o) => format!(
                "{via} points at {}, but {holder_label} holds the VIP and the connection: {} \
                 has no IPVS entry for it and forwards the reply unchanged from {}; the client, \
                 which talks to the VIP, drops it (TCP: answers RST). Point the gateway at an \
                 address the directors hold by VRRP (a virtual_ipaddress) so it follows the \
                 master",
                self.sc.port_label(o),
                self.sc.port_label(o),
                rs.ip
            ),
            Some(o) => ask(format!(
                "{via} is {}: the reply leaves through it from {rs_label}'s own address {}, \
                 not through the director",
                self.sc.port_label(o),
                rs.ip
            )),
            None => ask(format!(
                "{via} is no port of the cloud: the reply leaves from {rs_label}'s own address \
                 {}, not through the director",
                rs.ip
            )),
        };
        NatRoute {
            hop_mac: owner.as_deref().map(|o| self.mac(o)).unwrap_or_default(),
            owner,
            hop_ip: gw,
            refusal: Some(refusal),
        }
    }

    /// A client's conversation with the VIP through `holder` in LVS-NAT to
    /// `rs`: DNAT to the real server, its reply through its gateway, SNAT back
    /// to the VIP.
    fn nat_conversation(
        &mut self,
        peer: &Client,
        holder: &Director,
        vs: &VirtualServer,
        rs: &RealServer,
        category: Category,
    ) -> Flow {
        let client = peer.port_id.clone();
        let (vip, vport) = (vs.addr, vs.port);
        let rport = self.sc.rs_port(vs, rs);
        let cmac = self.mac(&client);
        let vmac = self.answer_mac(&holder.port_id, vip);
        // Routed by the director: its forwarded packets leave with its own MAC.
        let dmac = self.mac(&holder.port_id);
        let rmac = self.mac(&rs.port_id);
        let cip = peer.ip;
        let sport = self.fresh_port();
        let (ip_proto, script) = match vs.protocol {
            L4Proto::Tcp => (proto::TCP, tcp_script(78, 512)),
            L4Proto::Udp => (proto::UDP, udp_script(40, 120)),
        };
        let pname = l4_name(vs.protocol).to_uppercase();
        let mut steps: Vec<Step> = self.client_resolves_vip(peer, holder, vip).to_vec();
        // The holder is itself this real server: IPVS hands the connection to
        // its own stack, which answers from the VIP; nothing is forwarded.
        let local = rs.port_id == holder.port_id;
        let route = self.nat_route(peer, holder, rs);
        let mut director_resolved = false;
        let mut rs_resolved = false;
        for l in script {
            if l.from_initiator {
                let mut p = self.ip_packet(&cmac, &vmac, cip, vip, ip_proto, sport, vport);
                set_l4(&mut p, &l);
                steps.push(self.step(
                    format!("{pname} {} {cip}:{sport} -> {vip}:{vport}", l.label),
                    &client,
                    Some(&holder.port_id),
                    Payload::Ip(Box::new(p.clone())),
                ));
                if local {
                    continue;
                }
                if !director_resolved {
                    let dip = self.own_ip(&holder.port_id);
                    steps.extend(self.resolve(&holder.port_id, dip, rs.ip, &rs.port_id));
                    director_resolved = true;
                }
                // NAT: the director rewrites the destination (address and
                // port) and routes the packet out with its own MAC.
                let mut fwd = p;
                fwd.dst = rs.ip;
                fwd.dport = rport;
                fwd.src_mac = Some(parse_mac(&dmac));
                fwd.dst_mac = Some(parse_mac(&rmac));
                self.time += 0.0001;
                fwd.time = self.time;
                let mut s = self.step(
                    format!(
                        "DNAT {pname} {} {cip}:{sport} -> {}:{rport} (for {vip}:{vport})",
                        l.label, rs.ip
                    ),
                    &holder.port_id,
                    Some(&rs.port_id),
                    Payload::Ip(Box::new(fwd)),
                );
                s.role = StepRole::NatForward;
                if route.owner.is_none() {
                    s.host_refusal = route.refusal.clone();
                }
                steps.push(s);
            } else if local {
                let mut p = self.ip_packet(&vmac, &cmac, vip, cip, ip_proto, vport, sport);
                set_l4(&mut p, &l);
                steps.push(self.step(
                    format!(
                        "{pname} {} {vip}:{vport} -> {cip}:{sport} from {} (local real server)",
                        l.label, rs.ip
                    ),
                    &rs.port_id,
                    Some(&client),
                    Payload::Ip(Box::new(p)),
                ));
            } else {
                let Some(owner) = route.owner.clone() else {
                    break;
                };
                if !rs_resolved {
                    steps.extend(self.resolve(&rs.port_id, rs.ip, route.hop_ip, &owner));
                    rs_resolved = true;
                }
                let mut back =
                    self.ip_packet(&rmac, &route.hop_mac, rs.ip, cip, ip_proto, rport, sport);
                set_l4(&mut back, &l);
                let mut s = self.step(
                    format!(
                        "{pname} {} {}:{rport} -> {cip}:{sport} via {} ({})",
                        l.label,
                        rs.ip,
                        self.sc.port_label(&owner),
                        route.hop_ip
                    ),
                    &rs.port_id,
                    Some(&owner),
                    Payload::Ip(Box::new(back.clone())),
                );
                s.role = StepRole::NatReturn;
                s.host_refusal = route.refusal.clone();
                steps.push(s);
                if route.refusal.is_some() {
                    continue;
                }
                // SNAT: the director puts the VIP back as the source and
                // routes the answer to the client with its own MAC.
                let mut out = back;
                out.src = vip;
                out.sport = vport;
                out.src_mac = Some(parse_mac(&dmac));
                out.dst_mac = Some(parse_mac(&cmac));
                // The reply is routed (ip_forward), which takes one off the TTL.
                out.ttl = out.ttl.saturating_sub(1);
                self.time += 0.0001;
                out.time = self.time;
                steps.push(self.step(
                    format!(
                        "SNAT {pname} {} {vip}:{vport} -> {cip}:{sport} from {}",
                        l.label,
                        self.sc.port_label(&holder.port_id)
                    ),
                    &holder.port_id,
                    Some(&client),
                    Payload::Ip(Box::new(out)),
                ));
            }
        }
        Flow {
            name: format!(
                "{pname} {} -> {vip}:{vport} via {} NAT to {}:{rport}",
                self.client_label(peer),
                self.sc.port_label(&holder.port_id),
                self.sc.port_label(&rs.port_id)
            ),
            category,
            holder: Some(holder.port_id.clone()),
            steps,
        }
    }

    /// Why a TUN real server's kernel does not deliver the decapsulated packet
    /// (a host setting, not Neutron).
    fn tun_refusal(&self, rs: &RealServer, vip: IpAddr) -> Option<String> {
        let label = self.sc.port_label(&rs.port_id);
        if !rs.settings.tunl0 {
            return Some(format!(
                "{label} has no tunl0 (the ipip module is not loaded): its kernel answers IP \
                 protocol 4 with ICMP protocol unreachable and never sees the client's packet \
                 (modprobe ipip; ip link set tunl0 up)"
            ));
        }
        if !rs.settings.vip_on_lo {
            return Some(format!(
                "{label} does not have the VIP {vip} on tunl0 or lo: the decapsulated packet \
                 is for an address that is not its own and is dropped"
            ));
        }
        if rs.settings.rp_filter == 1 {
            return Some(format!(
                "rp_filter=1 (strict) on {label}'s tunl0: the decapsulated packet from the \
                 client arrives on tunl0, but the route back to the client leaves by eth0, so \
                 reverse-path filtering drops it (set net.ipv4.conf.tunl0.rp_filter=0 and \
                 net.ipv4.conf.all.rp_filter=0: the kernel uses the larger of the two)"
            ));
        }
        None
    }

    /// The conversation of the scenario's LVS forwarding method.
    fn lvs_conversation(
        &mut self,
        peer: &Client,
        holder: &Director,
        vs: &VirtualServer,
        rs: &RealServer,
        category: Category,
    ) -> Flow {
        match self.sc.pattern {
            Pattern::LvsNat => self.nat_conversation(peer, holder, vs, rs, category),
            Pattern::LvsTun => self.dr_or_tun_conversation(peer, holder, vs, rs, category, true),
            Pattern::LvsDr | Pattern::VipFailover(_) | Pattern::RoutedPrefixes(_) => {
                self.dr_or_tun_conversation(peer, holder, vs, rs, category, false)
            }
        }
    }
}

/// The vip-failover pattern: the member holding the VIP serves it itself.
impl Builder<'_> {
    /// A client's conversation with the VIP on `svc`, answered by `holder`
    /// from the VIP (HAProxy/nginx bound to it), in the service's protocol.
    fn served_conversation(
        &mut self,
        peer: &Client,
        holder: &Director,
        vip: IpAddr,
        svc: Service,
        category: Category,
    ) -> Flow {
        let client = peer.port_id.clone();
        let cmac = self.mac(&client);
        // Answers leave with the MAC the VIP resolved to (the interface MAC,
        // or the VRRP virtual MAC with use_vmac).
        let vmac = self.answer_mac(&holder.port_id, vip);
        let cip = peer.ip;
        let sport = self.fresh_port();
        let (ip_proto, script) = match svc.protocol {
            L4Proto::Tcp => (proto::TCP, tcp_script(78, 512)),
            L4Proto::Udp => (proto::UDP, udp_script(40, 120)),
        };
        let pname = l4_name(svc.protocol).to_uppercase();
        let vport = svc.port;
        let (cs, vp) = (host_port(cip, sport), host_port(vip, vport));
        // The holder learns the client's (or the router's) MAC from its who-has.
        let mut steps: Vec<Step> = self.client_resolves_vip(peer, holder, vip).to_vec();
        for l in script {
            let step = if l.from_initiator {
                let mut p = self.ip_packet(&cmac, &vmac, cip, vip, ip_proto, sport, vport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {cs} -> {vp}", l.label),
                    &client,
                    Some(&holder.port_id),
                    Payload::Ip(Box::new(p)),
                )
            } else {
                let mut p = self.ip_packet(&vmac, &cmac, vip, cip, ip_proto, vport, sport);
                set_l4(&mut p, &l);
                self.step(
                    format!(
                        "{pname} {} {vp} -> {cs} from {}",
                        l.label,
                        self.sc.port_label(&holder.port_id)
                    ),
                    &holder.port_id,
                    Some(&client),
                    Payload::Ip(Box::new(p)),
                )
            };
            steps.push(step);
        }
        Flow {
            name: format!(
                "{pname} {} -> {vp} served by {}",
                self.client_label(peer),
                self.sc.port_label(&holder.port_id)
            ),
            category,
            holder: Some(holder.port_id.clone()),
            steps,
        }
    }

    /// The member's own new connection to a backend: from its fixed IP (the
    /// kernel's source for a connection it opens is the interface's primary
    /// address, never the VIP added beside it).
    fn backend_conversation(
        &mut self,
        member: &Director,
        backend: &BackendHost,
        bip: IpAddr,
        svc: Service,
    ) -> Flow {
        let mport = member.port_id.clone();
        let mip = self.own_ip_like(&mport, bip);
        let mmac = self.mac(&mport);
        let bmac = self.mac(&backend.port_id);
        let sport = self.fresh_port();
        let (ip_proto, script) = match svc.protocol {
            L4Proto::Tcp => (proto::TCP, tcp_script(300, 1200)),
            L4Proto::Udp => (proto::UDP, udp_script(40, 120)),
        };
        let pname = l4_name(svc.protocol).to_uppercase();
        let bport = svc.port;
        let (ms, bp) = (host_port(mip, sport), host_port(bip, bport));
        let mut steps: Vec<Step> = self.resolve(&mport, mip, bip, &backend.port_id).to_vec();
        for l in script {
            let step = if l.from_initiator {
                let mut p = self.ip_packet(&mmac, &bmac, mip, bip, ip_proto, sport, bport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {ms} -> {bp}", l.label),
                    &mport,
                    Some(&backend.port_id),
                    Payload::Ip(Box::new(p)),
                )
            } else {
                let mut p = self.ip_packet(&bmac, &mmac, bip, mip, ip_proto, bport, sport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {bp} -> {ms}", l.label),
                    &backend.port_id,
                    Some(&mport),
                    Payload::Ip(Box::new(p)),
                )
            };
            steps.push(step);
        }
        Flow {
            name: format!(
                "{pname} {} -> backend {} {bp} (the member's own connection)",
                self.sc.port_label(&mport),
                self.sc.port_label(&backend.port_id)
            ),
            category: Category::Backend,
            holder: Some(mport.clone()),
            steps,
        }
    }
}

/// The routed-prefixes pattern: ports send from and receive for addresses
/// behind them.
impl Builder<'_> {
    /// A connection from `src` behind (or of) port `from` to `dst` behind (or
    /// of) port `to`, after `from` resolves the next hop (`to`'s fixed IP).
    fn routed_conversation(
        &mut self,
        from: &str,
        src: IpAddr,
        to: &str,
        dst: IpAddr,
        svc: Service,
        name: String,
    ) -> Flow {
        let amac = self.mac(from);
        let bmac = self.mac(to);
        let sport = self.fresh_port();
        let (ip_proto, script) = match svc.protocol {
            L4Proto::Tcp => (proto::TCP, tcp_script(200, 900)),
            L4Proto::Udp => (proto::UDP, udp_script(40, 120)),
        };
        let pname = l4_name(svc.protocol).to_uppercase();
        let dport = svc.port;
        let (from_ip, to_ip) = (self.own_ip(from), self.own_ip(to));
        let mut steps: Vec<Step> = self.resolve(from, from_ip, to_ip, to).to_vec();
        for l in script {
            let step = if l.from_initiator {
                let mut p = self.ip_packet(&amac, &bmac, src, dst, ip_proto, sport, dport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {src}:{sport} -> {dst}:{dport}", l.label),
                    from,
                    Some(to),
                    Payload::Ip(Box::new(p)),
                )
            } else {
                let mut p = self.ip_packet(&bmac, &amac, dst, src, ip_proto, dport, sport);
                set_l4(&mut p, &l);
                self.step(
                    format!("{pname} {} {dst}:{dport} -> {src}:{sport}", l.label),
                    to,
                    Some(from),
                    Payload::Ip(Box::new(p)),
                )
            };
            steps.push(step);
        }
        Flow {
            name: format!("{pname} {name}"),
            category: Category::Routed,
            holder: None,
            steps,
        }
    }
}

/// The flows of `pattern: routed-prefixes`.
fn routed_flows(sc: &Scenario, rp: &RoutedPrefixes) -> Vec<Flow> {
    let mut b = Builder {
        sc,
        time: 0.0,
        next_port: 40000,
    };
    let label = |p: &str| sc.port_label(p);
    let mut out = Vec::new();
    for r in &rp.routers {
        for prefix in &r.prefixes {
            let a = RoutedPrefixes::inside(prefix);
            for peer in sc
                .clients
                .iter()
                .filter(|c| sc.same_network(&c.port_id, &r.port_id))
            {
                for &svc in &rp.services {
                    out.push(b.routed_conversation(
                        &r.port_id,
                        a,
                        &peer.port_id,
                        peer.ip,
                        svc,
                        format!(
                            "{a} behind {} ({prefix}) -> {} {}:{}",
                            label(&r.port_id),
                            label(&peer.port_id),
                            peer.ip,
                            svc.port
                        ),
                    ));
                    out.push(b.routed_conversation(
                        &peer.port_id,
                        peer.ip,
                        &r.port_id,
                        a,
                        svc,
                        format!(
                            "{} -> {a}:{} behind {} ({prefix})",
                            label(&peer.port_id),
                            svc.port,
                            label(&r.port_id)
                        ),
                    ));
                }
            }
        }
    }
    for r in &rp.routers {
        for other in &rp.routers {
            if r.port_id == other.port_id || !sc.same_network(&r.port_id, &other.port_id) {
                continue;
            }
            for prefix in &r.prefixes {
                for far in &other.prefixes {
                    let (a, z) = (RoutedPrefixes::inside(prefix), RoutedPrefixes::inside(far));
                    for &svc in &rp.services {
                        out.push(b.routed_conversation(
                            &r.port_id,
                            a,
                            &other.port_id,
                            z,
                            svc,
                            format!(
                                "{a} behind {} ({prefix}) -> {z}:{} behind {} ({far})",
                                label(&r.port_id),
                                svc.port,
                                label(&other.port_id)
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The backends a member reaches itself: on its own network (a routed
/// backend crosses a router, which is not modelled; coverage lists it).
pub fn reachable_backends<'a>(
    sc: &Scenario,
    vf: &'a VipFailover,
    member: &str,
) -> Vec<&'a BackendHost> {
    vf.backends
        .iter()
        .filter(|b| b.port_id != member && sc.same_network(&b.port_id, member))
        .collect()
}

/// TCP_CHECK and friends: connect, then close.
fn connect_close_script() -> Vec<Leg> {
    let (c, s) = (2_000_000u32, 7_000_000u32);
    vec![
        leg(true, f::SYN, c, 0, 0, "SYN"),
        leg(false, f::SYN | f::ACK, s, c + 1, 0, "SYN-ACK"),
        leg(true, f::ACK, c + 1, s + 1, 0, "ACK"),
        leg(true, f::FIN | f::ACK, c + 1, s + 1, 0, "FIN"),
        leg(false, f::FIN | f::ACK, s + 1, c + 2, 0, "FIN"),
        leg(true, f::ACK, c + 2, s + 2, 0, "ACK"),
    ]
}

fn set_l4(p: &mut Packet, l: &Leg) {
    p.payload_len = l.len;
    if p.proto == proto::TCP {
        p.tcp_flags = l.flags;
        p.seq = l.seq;
        p.ack = l.ack;
        p.window = 64240;
    }
}

/// Every flow of the scenario, in the order a real deployment lives them.
pub fn flows(sc: &Scenario) -> Vec<Flow> {
    if let Some(rp) = sc.pattern.routed() {
        return routed_flows(sc, rp);
    }
    let mut b = Builder {
        sc,
        time: 0.0,
        next_port: 40000,
    };
    let mut out = Vec::new();
    let holders = sc.holders();

    // VRRP: whoever is master must be heard by every other member.
    for master in &holders {
        for backup in &holders {
            if master.port_id == backup.port_id {
                continue;
            }
            let steps = b.vrrp_advert(master, backup);
            if !steps.is_empty() {
                out.push(Flow {
                    name: format!(
                        "VRRP {} (as master) -> {}",
                        sc.port_label(&master.port_id),
                        sc.port_label(&backup.port_id)
                    ),
                    category: Category::Vrrp,
                    holder: Some(master.port_id.clone()),
                    steps,
                });
            }
        }
    }

    // Each director in turn holds the VIPs: the master first, then each backup
    // after a failover.
    for (turn, holder) in holders.iter().enumerate() {
        let (arp_cat, ping_cat, svc_cat) = if turn == 0 {
            (Category::Arp, Category::Ping, Category::Service)
        } else {
            (Category::Failover, Category::Failover, Category::Failover)
        };
        let vips = sc.vips_of(holder);
        for &vip in &vips {
            let g = b.garp(&holder.port_id, vip);
            out.push(Flow {
                name: format!(
                    "{} takes VIP {vip} ({})",
                    sc.port_label(&holder.port_id),
                    if turn == 0 { "master" } else { "failover" }
                ),
                category: arp_cat,
                holder: Some(holder.port_id.clone()),
                steps: vec![g],
            });
        }
        if let Some(vf) = sc.pattern.vip_failover() {
            for client in &sc.clients {
                for &vip in &vips {
                    // A client talks to each VIP in that VIP's family.
                    let Some(client) = sc.client_in_family(client, vip) else {
                        continue;
                    };
                    for &svc in &vf.services {
                        out.push(b.served_conversation(&client, holder, vip, svc, svc_cat));
                    }
                }
            }
            for backend in reachable_backends(sc, vf, &holder.port_id) {
                for bip in backend_addrs(sc, holder, backend) {
                    for &svc in &vf.backend_services {
                        out.push(b.backend_conversation(holder, backend, bip, svc));
                    }
                }
            }
            continue;
        }
        for client in &sc.clients {
            for &vip in &vips {
                if let Some(client) = sc.client_in_family(client, vip) {
                    out.push(b.ping(&client, holder, vip, ping_cat));
                }
            }
            for vs in sc.services(holder) {
                if !vips.contains(&vs.addr) {
                    continue;
                }
                let Some(client) = sc.client_in_family(client, vs.addr) else {
                    continue;
                };
                let client = &client;
                for rs in sc.paths_of(vs) {
                    out.push(b.lvs_conversation(client, holder, vs, rs, svc_cat));
                }
                if let Some(sorry) = sc.sorry_path_of(vs) {
                    let mut flow = b.lvs_conversation(client, holder, vs, sorry, svc_cat);
                    flow.name += " (sorry server, when no real server is up)";
                    out.push(flow);
                }
            }
        }
    }

    // Health checks: every director runs its checkers, master or not.
    for d in &sc.directors {
        for vs in sc.checked_services(d) {
            for kr in &vs.real_servers {
                let Some(rs) = sc.real_server_by_ip(kr.addr) else {
                    continue;
                };
                for check in checks_of(kr) {
                    if let Some(flow) = b.health_check(d, rs, kr.port, check) {
                        out.push(flow);
                    }
                }
            }
        }
    }
    out
}

/// The addresses a member connects to a backend on: one per family the
/// member's VIPs are served in (the first VIP's family alone when the member
/// holds none), where both the member and the backend have a fixed IP of that
/// family. HAProxy in a dual-stack setup reaches its backends over the
/// family each is configured with; the check tries each family it serves.
pub fn backend_addrs(sc: &Scenario, member: &Director, backend: &BackendHost) -> Vec<IpAddr> {
    let mut families: Vec<bool> = sc.vips_of(member).iter().map(IpAddr::is_ipv6).collect();
    families.sort();
    families.dedup();
    if families.is_empty() {
        families.push(backend.ip.is_ipv6());
    }
    let mport = sc.port(&member.port_id);
    let bport = sc.port(&backend.port_id);
    families
        .into_iter()
        .filter(|v6| crate::scenario::first_of_family(mport, *v6).is_some())
        .filter_map(|v6| crate::scenario::first_of_family(bport, v6))
        .collect()
}

/// Host settings that break DR or TUN without any Neutron drop (a NAT real
/// server holds no VIP: its route is judged in its flows).
pub fn host_warnings(sc: &Scenario) -> Vec<Warning> {
    let mut w = Vec::new();
    let vips = sc.vips();
    let tun = matches!(sc.pattern, Pattern::LvsTun);
    if matches!(sc.pattern, Pattern::LvsNat) {
        return w;
    }
    for rs in &sc.real_servers {
        let label = sc.port_label(&rs.port_id);
        if tun && !rs.settings.tunl0 {
            w.push(Warning {
                port: label.clone(),
                message: "no tunl0 (ipip module not loaded): the director's IPIP packets are \
                          answered with ICMP protocol unreachable"
                    .into(),
            });
        }
        if tun && rs.settings.rp_filter == 1 {
            w.push(Warning {
                port: label.clone(),
                message: "rp_filter=1 on tunl0: decapsulated packets from clients fail the \
                          reverse-path check (their route leaves by eth0); set it to 0"
                    .into(),
            });
        }
        if tun && !rs.settings.vip_on_lo {
            w.push(Warning {
                port: label.clone(),
                message: "VIP is not on tunl0 or lo: the real server drops the decapsulated \
                          packets"
                    .into(),
            });
            continue;
        }
        if !rs.settings.vip_on_lo {
            w.push(Warning {
                port: label.clone(),
                message: "VIP is not on lo: the real server drops the director's DR packets".into(),
            });
        }
        // arp_ignore and arp_announce are IPv4 (net.ipv4.conf.*): an IPv6 VIP
        // on lo is never answered on eth0 (net/ipv6/ndisc.c ndisc_recv_ns
        // looks the target up on the receiving device only), and the real
        // server solicits from its own address (rs_arp_source).
        if vips.iter().all(IpAddr::is_ipv6) {
            continue;
        }
        if rs.settings.vip_on_lo && rs.settings.arp_ignore == 0 {
            w.push(Warning {
                port: label.clone(),
                message: format!(
                    "arp_ignore=0 with the VIP on lo: it answers ARP for {} and can steal the \
                     VIP from the director (set net.ipv4.conf.all.arp_ignore=1)",
                    vips.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if rs.settings.vip_on_lo && rs.settings.arp_announce < 2 {
            w.push(Warning {
                port: label,
                message: "arp_announce<2: its ARP requests carry the VIP as sender, which poisons \
                          neighbours' caches and needs the VIP as an allowed address pair \
                          (set net.ipv4.conf.all.arp_announce=2)"
                    .into(),
            });
        }
    }
    w
}

/// What a health checker puts on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckWire {
    /// Connect and close (TCP_CHECK, SMTP_CHECK's connect).
    TcpConnect,
    /// Connect, request, response, close (HTTP_GET, SSL_GET).
    TcpRequest,
    /// A datagram and its answer (UDP_CHECK with `require_reply`, DNS_CHECK).
    Udp,
    /// A datagram alone (UDP_CHECK without `require_reply`).
    UdpOneWay,
    /// ICMP echo (PING_CHECK).
    Icmp,
}

/// A health checker as the check sees it: keepalived's keyword, what it sends,
/// and where (`connect_ip`/`connect_port`, else the real server's address and
/// port, keepalived.conf(5)).
pub struct CheckerView {
    pub kind: &'static str,
    /// None: it runs on the director and sends nothing vipwire can know.
    pub wire: Option<CheckWire>,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
}

/// Where a checker of `director` connects: (address, port, owning port id).
/// Err: it sends nothing this model can follow, and why.
pub fn check_target(
    sc: &Scenario,
    director: &Director,
    view: &CheckerView,
    rs: &RealServer,
    rs_port_num: u16,
) -> Result<(IpAddr, u16, String), String> {
    if view.wire.is_none() {
        return Err("runs on the director, nothing on the wire".into());
    }
    let target = view.connect_ip.unwrap_or(rs.ip);
    let port = view.connect_port.unwrap_or(rs_port_num);
    let owner = match sc
        .cloud
        .ports
        .iter()
        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == target))
    {
        Some(p) => p.id.clone(),
        None => return Err(format!("its target {target} is no port of the cloud")),
    };
    if owner == director.port_id {
        return Err("it checks the director's own address: never leaves the VM".into());
    }
    if !sc.same_network(&owner, &director.port_id) {
        return Err(format!(
            "its target {target} is on another network: routed through a router, which is \
             not modelled"
        ));
    }
    Ok((target, port, owner))
}

/// The one place that reads the keepalived checker model.
pub fn checker_view(check: &HealthCheck) -> CheckerView {
    let view = |wire, connect_ip: &Option<IpAddr>, connect_port: &Option<u16>| CheckerView {
        kind: check.kind_name(),
        wire: Some(wire),
        connect_ip: *connect_ip,
        connect_port: *connect_port,
    };
    match check {
        HealthCheck::Tcp {
            connect_ip,
            connect_port,
            ..
        }
        | HealthCheck::Smtp {
            connect_ip,
            connect_port,
            ..
        } => view(CheckWire::TcpConnect, connect_ip, connect_port),
        HealthCheck::HttpGet {
            connect_ip,
            connect_port,
            ..
        }
        | HealthCheck::SslGet {
            connect_ip,
            connect_port,
            ..
        } => view(CheckWire::TcpRequest, connect_ip, connect_port),
        // Without `require_reply` a UDP_CHECK passes unless an ICMP port
        // unreachable comes back: only the datagram itself must get through.
        HealthCheck::Udp {
            connect_ip,
            connect_port,
            require_reply: false,
            ..
        } => view(CheckWire::UdpOneWay, connect_ip, connect_port),
        HealthCheck::Udp {
            connect_ip,
            connect_port,
            ..
        }
        | HealthCheck::Dns {
            connect_ip,
            connect_port,
            ..
        } => view(CheckWire::Udp, connect_ip, connect_port),
        HealthCheck::Ping { connect_ip, .. } => view(CheckWire::Icmp, connect_ip, &None),
        HealthCheck::Misc { .. } | HealthCheck::File { .. } => CheckerView {
            kind: check.kind_name(),
            wire: None,
            connect_ip: None,
            connect_port: None,
        },
    }
}

/// The checkers of a real server.
pub fn checks_of(rs: &lvs::keepalived::RealServer) -> Vec<&HealthCheck> {
    rs.checks.iter().collect()
}

/// VRRP adverts in an IPsec AH header (`authentication { auth_type AH }`).
fn uses_ah(inst: &lvs::keepalived::VrrpInstance) -> bool {
    inst.auth_type == Some(lvs::keepalived::AuthType::Ah)
}
