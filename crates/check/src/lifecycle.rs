//! The packets of a load balancer's life, as the real hosts would send them:
//! ARP for the VIP, VRRP adverts, ping, each virtual service's TCP conversation
//! through the master (DR: only the destination MAC changes on the forwarded copy),
//! health checks, and the same again through the backup after a failover.

use crate::scenario::{Client, Director, Scenario};
use lvs::sched::{scheduler_for, ConnKey, Dest};
use netfilter::packet::{proto, tcp_flags as f};
use netfilter::{MacAddr, Packet};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};

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
}

/// An ARP frame as the OVS agent's ARP spoofing protection sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ArpFrame {
    pub reply: bool,
    pub sender_mac: String,
    pub sender_ip: IpAddr,
    pub target_ip: IpAddr,
}

/// What travels in a step.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Payload {
    Arp(ArpFrame),
    Ip(Box<Packet>),
}

/// One packet from one port to another.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub what: String,
    pub sender: String,
    /// Receiving port; None for broadcasts nobody in particular must receive.
    pub receiver: Option<String>,
    pub payload: Payload,
    /// The receiving host's own verdict (e.g. a real server without the VIP on lo).
    pub host_refusal: Option<String>,
}

/// A conversation: its steps go in order and stop at the first drop.
#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    pub name: String,
    pub category: Category,
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

/// Builds the flows with a running clock and fresh source ports.
struct Builder<'a> {
    sc: &'a Scenario,
    time: f64,
    next_port: u16,
    /// The client whose conversations are built (its port is `client.port_id`).
    client: Client,
}

impl<'a> Builder<'a> {
    fn mac(&self, port: &str) -> String {
        self.sc.port(port).mac_address.to_lowercase()
    }
    /// The address a port's host sends from; for the client's port, the client's.
    fn ip(&self, port: &str) -> IpAddr {
        if port == self.client.port_id {
            return self.client.ip;
        }
        self.own_ip(port)
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

    /// The client as the flow table names it.
    fn client_label(&self) -> String {
        let port = self.sc.port_label(&self.client.port_id);
        if self.client.external {
            format!("{} via {port}", self.client.ip)
        } else {
            port
        }
    }

    fn step(&self, what: String, sender: &str, receiver: Option<&str>, payload: Payload) -> Step {
        Step {
            what,
            sender: sender.to_string(),
            receiver: receiver.map(str::to_string),
            payload,
            host_refusal: None,
        }
    }

    fn arp_reply(&self, sender: &str, ip: IpAddr, to: &str, what: String) -> Step {
        let frame = ArpFrame {
            reply: true,
            sender_mac: self.mac(sender),
            sender_ip: ip,
            target_ip: self.own_ip(to),
        };
        self.step(what, sender, Some(to), Payload::Arp(frame))
    }

    fn garp(&self, sender: &str, vip: IpAddr) -> Step {
        let frame = ArpFrame {
            reply: false,
            sender_mac: self.mac(sender),
            sender_ip: vip,
            target_ip: vip,
        };
        let what = format!("gratuitous ARP {vip} is-at {}", self.mac(sender));
        self.step(what, sender, None, Payload::Arp(frame))
    }

    fn vrrp_advert(&mut self, master: &Director, backup: &Director) -> Vec<Step> {
        let mut steps = Vec::new();
        for inst in &master.config.vrrp_instances {
            let src = inst
                .unicast_src_ip
                .unwrap_or_else(|| self.ip(&master.port_id));
            let backup_ip = self.ip(&backup.port_id);
            let (dst, dmac) = if inst.unicast_peers.is_empty() {
                (IpAddr::V4(VRRP_MCAST), VRRP_MAC.to_string())
            } else if inst.unicast_peers.contains(&backup_ip) {
                (backup_ip, self.mac(&backup.port_id))
            } else {
                continue;
            };
            let smac = self.mac(&master.port_id);
            let mut p = self.ip_packet(&smac, &dmac, src, dst, proto::VRRP, 0, 0);
            p.ttl = 255;
            let what = format!(
                "VRRP advert vrid {} prio {} {src} -> {dst}",
                inst.virtual_router_id, inst.priority
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

    fn ping(&mut self, client: &str, director: &Director, vip: IpAddr) -> Flow {
        let cmac = self.mac(client);
        let dmac = self.mac(&director.port_id);
        let cip = self.ip(client);
        let id = self.next_port;
        self.next_port += 1;
        let mut req = self.ip_packet(&cmac, &dmac, cip, vip, proto::ICMP, 0, 0);
        req.icmp_type = 8;
        req.icmp_id = id;
        let mut rep = self.ip_packet(&dmac, &cmac, vip, cip, proto::ICMP, 0, 0);
        rep.icmp_type = 0;
        rep.icmp_id = id;
        Flow {
            name: format!("ping {} -> VIP {vip}", self.client_label()),
            category: Category::Ping,
            steps: vec![
                self.step(
                    format!("ICMP echo-request {cip} -> {vip}"),
                    client,
                    Some(&director.port_id),
                    Payload::Ip(Box::new(req)),
                ),
                self.step(
                    format!("ICMP echo-reply {vip} -> {cip}"),
                    &director.port_id,
                    Some(client),
                    Payload::Ip(Box::new(rep)),
                ),
            ],
        }
    }

    /// A whole TCP conversation: client -> VIP at the director, the director's
    /// DR copy to the real server, the real server's answer straight to the client.
    fn dr_conversation(
        &mut self,
        client: &str,
        director: &Director,
        vip: IpAddr,
        vport: u16,
        rs_ip: IpAddr,
        category: Category,
    ) -> Flow {
        let rs_port = self
            .sc
            .real_server_by_ip(rs_ip)
            .map(|r| r.port_id.clone())
            .unwrap_or_default();
        let vip_on_lo = self
            .sc
            .real_server_by_ip(rs_ip)
            .map(|r| r.settings.vip_on_lo)
            .unwrap_or(true);
        let cmac = self.mac(client);
        let dmac = self.mac(&director.port_id);
        let rmac = self.mac(&rs_port);
        let cip = self.ip(client);
        let sport = self.next_port;
        self.next_port += 1;
        let (c_isn, s_isn) = (1_000_000u32, 5_000_000u32);
        let request_len = 78;
        let response_len = 512;
        // (direction from client?, flags, seq, ack, len, label)
        let script: [(bool, u8, u32, u32, u32, &str); 8] = [
            (true, f::SYN, c_isn, 0, 0, "SYN"),
            (false, f::SYN | f::ACK, s_isn, c_isn + 1, 0, "SYN-ACK"),
            (true, f::ACK, c_isn + 1, s_isn + 1, 0, "ACK"),
            (
                true,
                f::PSH | f::ACK,
                c_isn + 1,
                s_isn + 1,
                request_len,
                "HTTP request",
            ),
            (
                false,
                f::PSH | f::ACK,
                s_isn + 1,
                c_isn + 1 + request_len,
                response_len,
                "HTTP response",
            ),
            (
                true,
                f::FIN | f::ACK,
                c_isn + 1 + request_len,
                s_isn + 1 + response_len,
                0,
                "FIN",
            ),
            (
                false,
                f::FIN | f::ACK,
                s_isn + 1 + response_len,
                c_isn + 2 + request_len,
                0,
                "FIN",
            ),
            (
                true,
                f::ACK,
                c_isn + 2 + request_len,
                s_isn + 2 + response_len,
                0,
                "ACK",
            ),
        ];
        let mut steps = Vec::new();
        for (from_client, flags, seq, ack, len, label) in script {
            if from_client {
                let mut p = self.ip_packet(&cmac, &dmac, cip, vip, proto::TCP, sport, vport);
                set_tcp(&mut p, flags, seq, ack, len);
                steps.push(self.step(
                    format!("{label} {cip}:{sport} -> {vip}:{vport}"),
                    client,
                    Some(&director.port_id),
                    Payload::Ip(Box::new(p.clone())),
                ));
                // DR: the director changes only the destination MAC.
                let mut fwd = p;
                fwd.src_mac = Some(parse_mac(&dmac));
                fwd.dst_mac = Some(parse_mac(&rmac));
                self.time += 0.0001;
                fwd.time = self.time;
                let mut s = self.step(
                    format!("DR {label} {cip}:{sport} -> {vip}:{vport} to {rs_ip}"),
                    &director.port_id,
                    Some(&rs_port),
                    Payload::Ip(Box::new(fwd)),
                );
                if !vip_on_lo {
                    s.host_refusal = Some(format!(
                        "the real server {rs_ip} does not have the VIP {vip} on lo, so its kernel \
                         drops packets addressed to the VIP"
                    ));
                }
                steps.push(s);
            } else {
                let mut p = self.ip_packet(&rmac, &cmac, vip, cip, proto::TCP, vport, sport);
                set_tcp(&mut p, flags, seq, ack, len);
                steps.push(self.step(
                    format!("{label} {vip}:{vport} -> {cip}:{sport} from {rs_ip}"),
                    &rs_port,
                    Some(client),
                    Payload::Ip(Box::new(p)),
                ));
            }
        }
        Flow {
            name: format!(
                "TCP {} -> {vip}:{vport} via {} to {}",
                self.client_label(),
                self.sc.port_label(&director.port_id),
                self.sc.port_label(&rs_port)
            ),
            category,
            steps,
        }
    }

    /// keepalived's TCP_CHECK: connect to the real server's own address, then close.
    fn health_check(&mut self, director: &Director, rs_ip: IpAddr, port: u16) -> Flow {
        let rs_port = self
            .sc
            .real_server_by_ip(rs_ip)
            .map(|r| r.port_id.clone())
            .unwrap_or_default();
        let dmac = self.mac(&director.port_id);
        let rmac = self.mac(&rs_port);
        let dip = self.ip(&director.port_id);
        let sport = self.next_port;
        self.next_port += 1;
        let (c, s) = (2_000_000u32, 7_000_000u32);
        let script: [(bool, u8, u32, u32, &str); 6] = [
            (true, f::SYN, c, 0, "SYN"),
            (false, f::SYN | f::ACK, s, c + 1, "SYN-ACK"),
            (true, f::ACK, c + 1, s + 1, "ACK"),
            (true, f::FIN | f::ACK, c + 1, s + 1, "FIN"),
            (false, f::FIN | f::ACK, s + 1, c + 2, "FIN"),
            (true, f::ACK, c + 2, s + 2, "ACK"),
        ];
        let mut steps = Vec::new();
        for (from_director, flags, seq, ack, label) in script {
            let step = if from_director {
                let mut p = self.ip_packet(&dmac, &rmac, dip, rs_ip, proto::TCP, sport, port);
                set_tcp(&mut p, flags, seq, ack, 0);
                self.step(
                    format!("{label} {dip}:{sport} -> {rs_ip}:{port}"),
                    &director.port_id,
                    Some(&rs_port),
                    Payload::Ip(Box::new(p)),
                )
            } else {
                let mut p = self.ip_packet(&rmac, &dmac, rs_ip, dip, proto::TCP, port, sport);
                set_tcp(&mut p, flags, seq, ack, 0);
                self.step(
                    format!("{label} {rs_ip}:{port} -> {dip}:{sport}"),
                    &rs_port,
                    Some(&director.port_id),
                    Payload::Ip(Box::new(p)),
                )
            };
            steps.push(step);
        }
        Flow {
            name: format!(
                "TCP_CHECK {} -> {} ({rs_ip}:{port})",
                self.sc.port_label(&director.port_id),
                self.sc.port_label(&rs_port)
            ),
            category: Category::HealthCheck,
            steps,
        }
    }
}

fn set_tcp(p: &mut Packet, flags: u8, seq: u32, ack: u32, len: u32) {
    p.tcp_flags = flags;
    p.seq = seq;
    p.ack = ack;
    p.window = 64240;
    p.payload_len = len;
}

/// The real server each director's scheduler picks for its first connection.
fn pick_real_server(
    vs: &lvs::keepalived::VirtualServer,
    client: IpAddr,
    sport: u16,
) -> Option<IpAddr> {
    let mut sched = scheduler_for(vs.lb_algo.name()).ok()?;
    let dests: Vec<Dest> = vs
        .real_servers
        .iter()
        .map(|r| Dest::new(r.addr, r.port, r.weight))
        .collect();
    let key = ConnKey {
        src: client,
        sport,
        dst: vs.addr,
        dport: vs.port,
    };
    sched.pick(&dests, &key).map(|i| vs.real_servers[i].addr)
}

/// Every flow of the scenario, in the order a real deployment lives them.
pub fn flows(sc: &Scenario) -> Vec<Flow> {
    let client = sc.clients[0].clone();
    let mut b = Builder {
        sc,
        time: 0.0,
        next_port: 40000,
        client: client.clone(),
    };
    let client = client.port_id;
    let mut out = Vec::new();
    let elected = sc.directors_by_election();
    let master = elected[0];
    let backup = elected.get(1).copied();
    let vips = sc.vips();

    for &vip in &vips {
        let garp = b.garp(&master.port_id, vip);
        let who_has = ArpFrame {
            reply: false,
            sender_mac: b.mac(&client),
            sender_ip: b.own_ip(&client),
            target_ip: vip,
        };
        let ask = b.step(
            format!("ARP who-has {vip} tell {}", b.own_ip(&client)),
            &client,
            None,
            Payload::Arp(who_has),
        );
        let answer = b.arp_reply(
            &master.port_id,
            vip,
            &client,
            format!("ARP {vip} is-at {}", b.mac(&master.port_id)),
        );
        out.push(Flow {
            name: format!(
                "ARP for VIP {vip} answered by {}",
                sc.port_label(&master.port_id)
            ),
            category: Category::Arp,
            steps: vec![garp, ask, answer],
        });
    }

    if let Some(backup) = backup {
        let steps = b.vrrp_advert(master, backup);
        if !steps.is_empty() {
            out.push(Flow {
                name: format!(
                    "VRRP {} (master) -> {} (backup)",
                    sc.port_label(&master.port_id),
                    sc.port_label(&backup.port_id)
                ),
                category: Category::Vrrp,
                steps,
            });
        }
    }

    for &vip in &vips {
        out.push(b.ping(&client, master, vip));
    }

    let client_ip = b.ip(&client);
    for vs in sc.services(master) {
        let sport = b.next_port;
        if let Some(rs) = pick_real_server(vs, client_ip, sport) {
            out.push(b.dr_conversation(&client, master, vs.addr, vs.port, rs, Category::Service));
        }
    }

    for d in &elected {
        for vs in sc.services(d) {
            for rs in &vs.real_servers {
                let port = match &rs.check {
                    Some(lvs::keepalived::HealthCheck::Tcp { connect_port, .. })
                    | Some(lvs::keepalived::HealthCheck::HttpGet { connect_port, .. }) => {
                        connect_port.unwrap_or(rs.port)
                    }
                    _ => continue,
                };
                out.push(b.health_check(d, rs.addr, port));
            }
        }
    }

    // Failover: the master dies; the backup announces the VIP and serves.
    if let Some(backup) = backup {
        for &vip in &vips {
            let g = b.garp(&backup.port_id, vip);
            out.push(Flow {
                name: format!(
                    "failover: {} takes VIP {vip}",
                    sc.port_label(&backup.port_id)
                ),
                category: Category::Failover,
                steps: vec![g],
            });
        }
        for vs in sc.services(backup) {
            let sport = b.next_port;
            if let Some(rs) = pick_real_server(vs, client_ip, sport) {
                out.push(b.dr_conversation(
                    &client,
                    backup,
                    vs.addr,
                    vs.port,
                    rs,
                    Category::Failover,
                ));
            }
        }
    }
    out
}

/// Host settings that break DR without any Neutron drop.
pub fn host_warnings(sc: &Scenario) -> Vec<Warning> {
    let mut w = Vec::new();
    let vips = sc.vips();
    for rs in &sc.real_servers {
        let label = sc.port_label(&rs.port_id);
        if !rs.settings.vip_on_lo {
            w.push(Warning {
                port: label.clone(),
                message: "VIP is not on lo: the real server drops the director's DR packets".into(),
            });
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
                message: "arp_announce<2: ARP requests may carry the VIP as sender and poison \
                          neighbours' caches (set net.ipv4.conf.all.arp_announce=2)"
                    .into(),
            });
        }
    }
    w
}
