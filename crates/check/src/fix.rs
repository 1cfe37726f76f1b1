//! Finds the smallest persistent Neutron change that makes every flow pass:
//! for each drop, the narrowest allowed address pair or security group rule that
//! lets that packet through; applied, the whole check runs again, until it passes
//! or stops making progress. Also weighs the field report's own remedies.

use crate::diagnose::{Drop, DropKind};
use crate::error::CheckError;
use crate::scenario::Scenario;
use crate::simulate::{run, CheckReport};
use ipnet::IpNet;
use neutron::firewall::ovn::{virtual_type, LspType};
use neutron::firewall::provenance::Origin;
use neutron::firewall::FirewallDriver;
use neutron::model::{AddressPair, Cloud, Ethertype, RuleDirection, SecurityGroupRule};
use packet::{proto, protocols};
use serde::Serialize;

/// One persistent change to Neutron.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    AddAllowedAddressPair {
        port_id: String,
        port: String,
        ip_address: IpNet,
        mac_address: Option<String>,
    },
    AddSecurityGroupRule {
        group_id: String,
        group: String,
        ingress: bool,
        ethertype: String,
        protocol: Option<String>,
        port: Option<u16>,
        remote_ip_prefix: Option<IpNet>,
    },
    DisablePortSecurity {
        port_id: String,
        port: String,
    },
    /// Write a pair the port holds as a bare IP as its /32 (/128) CIDR instead:
    /// the same addresses, but on ML2/OVN a CIDR never makes a port virtual.
    WritePairAsCidr {
        port_id: String,
        port: String,
        /// The pair's address as the API holds it now (bare).
        ip_address: std::net::IpAddr,
        /// The pair's MAC as the API holds it (`None`: the port's own).
        mac_address: Option<String>,
    },
    /// Put the port in a new stateless group holding copies of its groups'
    /// rules (Neutron refuses to change `stateful` on a group in use, and a port
    /// cannot mix stateful and stateless groups). On OVN, what a stateless ACL
    /// matches skips conntrack, so the `ct.inv` drop no longer sees it.
    UseStatelessGroup {
        port_id: String,
        port: String,
        group: String,
        /// The copied rules as `openstack security group rule create` options.
        copies: Vec<String>,
    },
}

/// The id a proposed stateless group has in the model (it has none in the
/// cloud yet: commands name it by its name).
pub const STATELESS_ID: &str = "vipwire-stateless-";

fn stateless_group_id(port_id: &str) -> String {
    format!("{STATELESS_ID}{port_id}")
}

/// `,mac-address=M` of an `--allowed-address` option, when there is a MAC.
fn mac_option(mac: Option<String>) -> String {
    mac.map(|m| format!(",mac-address={m}")).unwrap_or_default()
}

/// A rule as `openstack security group rule create` options.
fn rule_options(cloud: &Cloud, r: &SecurityGroupRule) -> String {
    let mut c = format!(
        "--{} --ethertype {}",
        r.direction.as_str(),
        r.ethertype.as_str()
    );
    if let Some(p) = &r.protocol {
        c += &format!(" --protocol {p}");
    }
    match (r.port_range_min, r.port_range_max) {
        (Some(lo), Some(hi)) if lo == hi => c += &format!(" --dst-port {lo}"),
        (Some(lo), Some(hi)) => c += &format!(" --dst-port {lo}:{hi}"),
        (Some(lo), None) => c += &format!(" --dst-port {lo}"),
        _ => {}
    }
    if let Some(p) = r.remote_ip_prefix {
        c += &format!(" --remote-ip {p}");
    }
    if let Some(g) = &r.remote_group_id {
        let name = cloud
            .group(g)
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty());
        c += &format!(" --remote-group {}", name.unwrap_or_else(|| g.clone()));
    }
    c
}

impl Change {
    /// Apply to a model of the cloud.
    pub fn apply(&self, cloud: &mut Cloud) {
        match self {
            Change::AddAllowedAddressPair {
                port_id,
                ip_address,
                mac_address,
                ..
            } => {
                let text = pair_ip_written(cloud, ip_address);
                if let Some(p) = cloud.port_mut(port_id) {
                    let pair = AddressPair {
                        ip_address: *ip_address,
                        mac_address: Some(
                            mac_address.clone().unwrap_or_else(|| p.mac_address.clone()),
                        ),
                        ip_text: Some(text),
                    };
                    if !p.allowed_address_pairs.contains(&pair) {
                        p.allowed_address_pairs.push(pair);
                    }
                }
            }
            Change::AddSecurityGroupRule {
                group_id,
                ingress,
                ethertype,
                protocol,
                port,
                remote_ip_prefix,
                ..
            } => {
                if let Some(g) = cloud.security_groups.iter_mut().find(|g| &g.id == group_id) {
                    let next_attr = g
                        .rules
                        .iter()
                        .filter_map(|r| r.standard_attr_id)
                        .max()
                        .unwrap_or(0)
                        + 1;
                    g.rules.push(SecurityGroupRule {
                        id: format!("vipwire-fix-{next_attr}"),
                        security_group_id: group_id.clone(),
                        direction: if *ingress {
                            RuleDirection::Ingress
                        } else {
                            RuleDirection::Egress
                        },
                        ethertype: if ethertype == "IPv6" {
                            Ethertype::IPv6
                        } else {
                            Ethertype::IPv4
                        },
                        protocol: protocol.clone(),
                        port_range_min: port.map(u32::from),
                        port_range_max: port.map(u32::from),
                        remote_ip_prefix: *remote_ip_prefix,
                        remote_group_id: None,
                        standard_attr_id: Some(next_attr),
                        description: "proposed by vipwire".into(),
                    });
                }
            }
            Change::DisablePortSecurity { port_id, .. } => {
                if let Some(p) = cloud.port_mut(port_id) {
                    p.port_security_enabled = false;
                    p.security_groups.clear();
                    p.allowed_address_pairs.clear();
                }
            }
            Change::WritePairAsCidr {
                port_id,
                ip_address,
                mac_address,
                ..
            } => {
                if let Some(p) = cloud.port_mut(port_id) {
                    let bare = ip_address.to_string();
                    for a in &mut p.allowed_address_pairs {
                        if a.mac_address == *mac_address && a.written() == bare {
                            a.ip_text = Some(IpNet::from(*ip_address).to_string());
                        }
                    }
                }
            }
            Change::UseStatelessGroup { port_id, group, .. } => {
                let Some(p) = cloud.port(port_id) else {
                    return;
                };
                let id = stateless_group_id(&p.id);
                let mut rules = Vec::new();
                for g in &p.security_groups {
                    if let Some(sg) = cloud.security_groups.iter().find(|s| &s.id == g) {
                        for r in &sg.rules {
                            let mut copy = r.clone();
                            copy.id = format!("{}-copy-{}", r.id, rules.len());
                            copy.security_group_id = id.clone();
                            rules.push(copy);
                        }
                    }
                }
                cloud.security_groups.push(neutron::model::SecurityGroup {
                    id: id.clone(),
                    name: group.clone(),
                    stateful: false,
                    rules,
                });
                if let Some(p) = cloud.port_mut(port_id) {
                    p.security_groups = vec![id];
                }
            }
        }
    }

    /// The `openstack` command that makes this change.
    pub fn command(&self, cloud: &Cloud) -> String {
        match self {
            Change::AddAllowedAddressPair {
                port_id,
                port,
                ip_address,
                mac_address,
            } => {
                let mac = mac_option(mac_address.clone());
                let ip = pair_ip_written(cloud, ip_address);
                format!(
                    "openstack port set --allowed-address ip-address={ip}{mac} {port_id}  # {port}"
                )
            }
            Change::AddSecurityGroupRule {
                group_id,
                group,
                ingress,
                ethertype,
                protocol,
                port,
                remote_ip_prefix,
            } => {
                let mut c = format!(
                    "openstack security group rule create --{} --ethertype {ethertype}",
                    if *ingress { "ingress" } else { "egress" }
                );
                if let Some(p) = protocol {
                    c += &format!(" --protocol {p}");
                }
                if let Some(p) = port {
                    c += &format!(" --dst-port {p}");
                }
                if let Some(r) = remote_ip_prefix {
                    c += &format!(" --remote-ip {r}");
                }
                // A group the fix creates exists only by name.
                let target = if group_id.starts_with(STATELESS_ID) {
                    group
                } else {
                    group_id
                };
                c + &format!(" {target}  # {group}")
            }
            Change::DisablePortSecurity { port_id, port } => format!(
                "openstack port set --no-security-group --disable-port-security {port_id}  # {port}"
            ),
            Change::WritePairAsCidr {
                port_id,
                port,
                ip_address,
                mac_address,
            } => {
                // `port unset` removes only an exact (ip, mac) entry, and the
                // API holds every pair with its MAC (python-openstackclient
                // 10.5.0 network/v2/port.py, UnsetPort).
                let mac = mac_option(
                    mac_address
                        .clone()
                        .or_else(|| cloud.port(port_id).map(|p| p.mac_address.clone())),
                );
                let cidr = IpNet::from(*ip_address);
                format!(
                    "openstack port unset --allowed-address ip-address={ip_address}{mac} \
                     {port_id}  # {port}\nopenstack port set --allowed-address \
                     ip-address={cidr}{mac} {port_id}  # {port}"
                )
            }
            Change::UseStatelessGroup {
                port_id,
                port,
                group,
                copies,
            } => {
                let mut c = format!("openstack security group create --stateless {group}");
                for r in copies {
                    c += &format!("\nopenstack security group rule create {r} {group}");
                }
                c + &format!(
                    "\nopenstack port set --no-security-group --security-group {group} \
                     {port_id}  # {port}"
                )
            }
        }
    }

    /// What the change costs in security, in plain words, on `driver`.
    pub fn cost(&self, cloud: &Cloud, driver: FirewallDriver) -> String {
        match self {
            Change::AddAllowedAddressPair {
                port_id,
                port,
                ip_address,
                ..
            } => {
                let groups = cloud
                    .ports
                    .iter()
                    .find(|p| &p.id == port_id)
                    .map(|p| group_names(cloud, &p.security_groups))
                    .unwrap_or_default();
                let family = if ip_address.addr().is_ipv4() {
                    "IPv4"
                } else {
                    "IPv6"
                };
                let answer = if ip_address.addr().is_ipv4() {
                    "answer ARP"
                } else {
                    "answer neighbour solicitations"
                };
                if ip_address.to_string() == IPV6_GLOBAL_UNICAST {
                    let sets = match driver {
                        FirewallDriver::IptablesHybrid => format!(
                            "; the pair joins the remote-group ipsets of its groups ({groups}): \
                             every rule whose remote group is one of them now admits every \
                             global IPv6 source"
                        ),
                        FirewallDriver::Ovn => format!(
                            " and receives packets for any such destination; remote-group \
                             rules are unchanged (OVN's address sets of {groups} hold fixed IPs \
                             only)"
                        ),
                    };
                    return format!(
                        "{port} may send from ANY global unicast IPv6 source (2000::/3) with its \
                         own MAC (IP spoofing from that VM; ::/0 is what the service needs, but \
                         the API refuses pairs that overlap ff00::/8){sets}"
                    );
                }
                match (driver, ip_address.prefix_len() == 0) {
                    (FirewallDriver::IptablesHybrid, true) => format!(
                        "{port} may send from ANY {family} source address with its own MAC (IP \
                         spoofing from that VM), and the pair joins the remote-group ipsets of \
                         its groups ({groups}) as two /1 halves: every rule whose remote group \
                         is one of them now admits all sources"
                    ),
                    (FirewallDriver::IptablesHybrid, false) => format!(
                        "{port} may send from and {answer} for {ip_address} (it can take that \
                         address over); {ip_address} joins the remote-group ipsets of {groups}"
                    ),
                    // OVN: port security checks destinations too; address sets
                    // hold fixed IPs only (BRIEF §7).
                    (FirewallDriver::Ovn, true) => format!(
                        "{port} may send from ANY {family} source address with its own MAC (IP \
                         spoofing from that VM) and receives packets for any {family} \
                         destination; remote-group rules are unchanged (OVN's address sets of \
                         {groups} hold fixed IPs only)"
                    ),
                    (FirewallDriver::Ovn, false) => format!(
                        "{port} may send from, receive for and {answer} for {ip_address} (it \
                         can take that address over); remote-group rules are unchanged (OVN's \
                         address sets of {groups} hold fixed IPs only){}",
                        virtual_port_note(cloud, port, ip_address)
                    ),
                }
            }
            Change::AddSecurityGroupRule {
                group_id,
                group,
                ingress,
                protocol,
                port,
                remote_ip_prefix,
                ..
            } => {
                let members: Vec<&str> = cloud
                    .ports
                    .iter()
                    .filter(|p| p.security_groups.contains(group_id))
                    .map(|p| {
                        if p.name.is_empty() {
                            p.id.as_str()
                        } else {
                            p.name.as_str()
                        }
                    })
                    .collect();
                // keepalived sends IPv6 adverts from the link-local address
                // (lifecycle.rs, vrrp_advert): say why the rule names it.
                let link_local = match remote_ip_prefix {
                    Some(IpNet::V6(n)) if n.addr().segments()[0] & 0xffc0 == 0xfe80 => {
                        "; IPv6 VRRP adverts come from each member's link-local address, which \
                         is no fixed IP and in no remote-group set, so the rule names it (it \
                         follows the port's MAC)"
                    }
                    _ => "",
                };
                format!(
                    "every port in group {group} ({}) now {} {}{} {} {}{link_local}",
                    members.join(", "),
                    if *ingress { "admits" } else { "may send" },
                    protocol.clone().unwrap_or_else(|| "any protocol".into()),
                    port.map(|p| format!("/{p}")).unwrap_or_default(),
                    if *ingress { "from" } else { "to" },
                    remote_ip_prefix
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "anywhere".into())
                )
            }
            Change::DisablePortSecurity { port, .. } => format!(
                "{port} loses every security group and all anti-spoofing: any source IP and MAC, \
                 any inbound traffic"
            ),
            Change::WritePairAsCidr {
                port, ip_address, ..
            } => format!(
                "none: {port} may use exactly the addresses it could before; ML2/OVN rewrites the \
                 port on this update and, with no bare-IP pair naming {ip_address} left, writes \
                 it back as a normal port that ovn-controller claims by its interface"
            ),
            Change::UseStatelessGroup { port, .. } => format!(
                "{port} loses connection tracking: every reply it sends or receives needs an \
                 explicit rule (the fix adds those it needs), and its rules admit packets in any \
                 TCP state (an ACK scan or a stray segment passes where a stateful group drops it)"
            ),
        }
    }
}

/// How a pair's address is written to the API. A host pair as a bare IP, as
/// the API then stores it: on ML2/OVN only that form makes a VIP port
/// virtual. But when the address is the fixed IP of a VM's own port, the bare
/// form would make that port virtual too and cut the VM off (BRIEF §7,
/// docs/conformance-ovn.md), so it is written as a /32 (/128) CIDR, which
/// never does and allows the same address.
pub fn pair_ip_written(cloud: &Cloud, ip: &IpNet) -> String {
    let host = ip.prefix_len() == ip.max_prefix_len();
    let vm_address = cloud.ports.iter().any(|p| {
        !p.device_owner.is_empty() && p.fixed_ips.iter().any(|f| f.ip_address == ip.addr())
    });
    if host && vm_address {
        ip.to_string()
    } else {
        neutron::model::pair_ip_text(ip)
    }
}

/// On ML2/OVN a single-address pair whose address is the fixed IP of an
/// unbound port (no device owner) makes that port `type: virtual` with every
/// pair holder as a parent (BRIEF §7): say so beside the pair's cost.
fn virtual_port_note(cloud: &Cloud, port: &str, ip: &IpNet) -> String {
    if ip.prefix_len() != ip.max_prefix_len() {
        return String::new();
    }
    cloud
        .ports
        .iter()
        .filter(|p| p.device_owner.is_empty())
        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == ip.addr()))
        .map(|p| {
            format!(
                "; the unbound port {} ({}) becomes type virtual with {port} among its parents, \
                 bound to whichever parent last sent a gratuitous ARP for it (a floating IP on \
                 it follows the VRRP master)",
                if p.name.is_empty() { &p.id } else { &p.name },
                ip.addr()
            )
        })
        .unwrap_or_default()
}

fn group_names(cloud: &Cloud, ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            cloud
                .security_groups
                .iter()
                .find(|g| &g.id == id)
                .map(|g| g.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn host_net(ip: std::net::IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// A protocol as a security group rule is given it: the common ones by their
/// `/etc/protocols` name (all in Neutron's API map), others by number.
fn proto_name(p: u8) -> Option<String> {
    match p {
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 | proto::VRRP => {
            protocols::name(p).map(str::to_string)
        }
        // The API's name for 4 (/etc/protocols says ipencap).
        proto::IPIP => Some("ipip".into()),
        n => Some(n.to_string()),
    }
}

/// ML2/OVN cut a VM's port off: its fixed IP is a bare-IP pair of some ports
/// (`fabric::ovn`'s cut-off drop). When the port itself is among those parents,
/// every parent's bare pair for that IP is written as a CIDR, the port's own
/// last: Neutron recomputes a port's type on the port's own update, while a
/// parent's update unsets only unbound virtual ports (ovn_client.py
/// `_get_port_options` and `_set_unset_virtual_port_type`, neutron 29.0.0).
fn rewrite_cut_off(sc: &Scenario, port_id: &str) -> Vec<Change> {
    let Some(port) = sc.cloud.port(port_id) else {
        return vec![];
    };
    if sc.driver != FirewallDriver::Ovn || port.device_owner.is_empty() {
        return vec![];
    }
    let Some(LspType::Virtual { ip, parents }) = virtual_type(&sc.cloud, port) else {
        return vec![];
    };
    if !parents.contains(&port.id) {
        return vec![];
    }
    let bare = ip.to_string();
    let mut order: Vec<&String> = parents.iter().filter(|p| **p != port.id).collect();
    order.push(&port.id);
    order
        .into_iter()
        .filter_map(|id| sc.cloud.port(id))
        .flat_map(|p| {
            p.allowed_address_pairs
                .iter()
                .filter(|a| a.written() == bare)
                .map(|a| Change::WritePairAsCidr {
                    port_id: p.id.clone(),
                    port: sc.port_label(&p.id),
                    ip_address: ip,
                    mac_address: a.mac_address.clone(),
                })
        })
        .collect()
}

/// The narrowest change that would let the packet behind `drop` through.
fn propose(sc: &Scenario, drop: &Drop) -> Vec<Change> {
    if matches!(drop.decided_by.first(), Some(Origin::Infrastructure { .. })) {
        let rewrites = rewrite_cut_off(sc, &drop.port_id);
        if !rewrites.is_empty() {
            return rewrites;
        }
    }
    let Some(src) = drop.src else {
        return vec![];
    };
    let port = sc.port(&drop.port_id);
    let own_mac = drop
        .src_mac
        .as_ref()
        .map(|m| m.eq_ignore_ascii_case(&port.mac_address))
        .unwrap_or(true);
    // A client's address stands for every source the service must serve.
    // (A client port's address of the source's family: dual stack.)
    let client_ips: Vec<std::net::IpAddr> = sc
        .clients
        .iter()
        .filter_map(|c| sc.client_in_family(c, src))
        .map(|c| c.ip)
        .collect();
    // routed-prefixes: an address behind a router stands for its whole prefix.
    let widen = |ip: std::net::IpAddr| {
        sc.pattern
            .routed()
            .and_then(|r| r.behind(ip))
            .map(|(_, n)| n)
            .unwrap_or_else(|| host_net(ip))
    };
    let sources: Vec<IpNet> = if sc.pattern.routed().is_some() {
        vec![widen(src)]
    } else if client_ips.contains(&src) {
        let mut v: Vec<IpNet> = sc
            .client_sources
            .iter()
            .filter(|n| n.addr().is_ipv4() == src.is_ipv4())
            .copied()
            .collect();
        // A declared client outside client_sources is still a client to serve.
        if !v.iter().any(|n| n.contains(&src)) {
            v.push(host_net(src));
        }
        v
    } else {
        vec![host_net(src)]
    };
    match drop.kind {
        DropKind::AntiSpoof | DropKind::ArpSpoof => sources
            .into_iter()
            .map(pair_range)
            .map(|ip| Change::AddAllowedAddressPair {
                port_id: port.id.clone(),
                port: drop.port.clone(),
                ip_address: ip,
                mac_address: if own_mac { None } else { drop.src_mac.clone() },
            })
            .collect(),
        DropKind::Destination => match drop.dst {
            Some(dst) => vec![Change::AddAllowedAddressPair {
                port_id: port.id.clone(),
                port: drop.port.clone(),
                ip_address: widen(dst),
                mac_address: None,
            }],
            None => vec![],
        },
        // OVN: the ct.inv drop sits above every ACL, so no rule can help; what
        // a stateless group matches skips conntrack.
        DropKind::Invalid
            if matches!(drop.decided_by.first(), Some(Origin::CtInvalidDrop { .. })) =>
        {
            if let Some(g) = port
                .security_groups
                .iter()
                .find(|g| g.starts_with(STATELESS_ID))
            {
                // Already stateless: what no stateless ACL matched went to
                // conntrack. A reply (to an ephemeral port) needs a rule for
                // its protocol from (or to) the peer, any port: stateless
                // rules cannot follow a connection.
                let ingress = drop.side != Some(fabric::Side::Egress);
                let peer = if ingress { drop.src } else { drop.dst };
                return vec![Change::AddSecurityGroupRule {
                    group_id: g.clone(),
                    group: group_names(&sc.cloud, std::slice::from_ref(g)),
                    ingress,
                    ethertype: if src.is_ipv4() { "IPv4" } else { "IPv6" }.into(),
                    protocol: drop.protocol.and_then(proto_name),
                    port: None,
                    remote_ip_prefix: peer.map(widen),
                }];
            }
            let copies = port
                .security_groups
                .iter()
                .filter_map(|g| sc.cloud.group(g))
                .flat_map(|g| &g.rules)
                .map(|r| rule_options(&sc.cloud, r))
                .collect();
            vec![Change::UseStatelessGroup {
                port_id: port.id.clone(),
                port: drop.port.clone(),
                group: format!("{}-stateless", drop.port),
                copies,
            }]
        }
        DropKind::IngressPolicy | DropKind::EgressPolicy | DropKind::Invalid => {
            let Some(group_id) = port.security_groups.first() else {
                return vec![];
            };
            let ingress = drop.side != Some(fabric::Side::Egress);
            let protocol = drop.protocol.and_then(proto_name);
            // A stateless group cannot follow a connection: a reply to a
            // client's ephemeral port (Linux ip_local_port_range starts at
            // 32768) needs the protocol from the peer on any port, not the
            // one port this simulation happened to pick.
            let stateless = port
                .security_groups
                .iter()
                .filter_map(|g| sc.cloud.group(g))
                .any(|g| !g.stateful);
            let ephemeral = drop.dport.is_some_and(|p| p >= 32768);
            let l4 = matches!(drop.protocol, Some(proto::TCP) | Some(proto::UDP))
                && !(stateless && ephemeral);
            let remotes: Vec<Option<IpNet>> = if ingress {
                sources.into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            remotes
                .into_iter()
                .map(|r| Change::AddSecurityGroupRule {
                    group_id: group_id.clone(),
                    group: group_names(&sc.cloud, std::slice::from_ref(group_id)),
                    ingress,
                    ethertype: if src.is_ipv4() { "IPv4" } else { "IPv6" }.into(),
                    protocol: protocol.clone(),
                    port: if l4 { drop.dport } else { None },
                    remote_ip_prefix: r,
                })
                .collect()
        }
        DropKind::Host | DropKind::Topology | DropKind::Other => vec![],
    }
}

/// Every global unicast IPv6 address (RFC 4291 2.4, RFC 3587): what a pair
/// for "any IPv6 client" can be, since the API refuses `::/0`.
pub const IPV6_GLOBAL_UNICAST: &str = "2000::/3";

/// The range a pair can take for `net`: the API refuses a pair that overlaps
/// the multicast range (neutron-lib 5.0.1 validators
/// `validate_subnet_not_multicast`: ff00::/8, and 224.0.0.0/4 except for
/// 0.0.0.0/0), so any-IPv6-source becomes every global unicast address. A
/// client's source is never multicast: nothing that must pass is lost.
fn pair_range(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() == 0 => IPV6_GLOBAL_UNICAST.parse().expect("literal"),
        other => other,
    }
}

/// The API's multicast check on a pair's address (see [`pair_range`]).
fn overlaps_multicast(net: &IpNet) -> bool {
    let mcast: IpNet = match net {
        IpNet::V4(n) if n.prefix_len() == 0 => return false,
        IpNet::V4(_) => "224.0.0.0/4".parse().expect("literal"),
        IpNet::V6(_) => "ff00::/8".parse().expect("literal"),
    };
    net.contains(&mcast) || mcast.contains(net)
}

/// Why the cloud's API would refuse a change, if it would. ML2/OVN accepts a
/// pair's MAC only when it is the port's own or the RFC 5798 VRRP virtual MAC
/// of the pair's family (00:00:5e:00:01:XX for IPv4, 00:00:5e:00:02:XX for
/// IPv6); others get 400 InvalidVirtualMACAddress (neutron/common/ovn/utils.py
/// `validate_port_allowed_address_pairs_vrrp_mac`, 29.0.0; BRIEF §7).
pub fn refused(sc: &Scenario, change: &Change) -> Option<String> {
    let Change::AddAllowedAddressPair {
        port_id,
        port,
        ip_address,
        mac_address,
    } = change
    else {
        return None;
    };
    if overlaps_multicast(ip_address) {
        return Some(format!(
            "Neutron refuses the pair {ip_address} on {port}: 400, it overlaps the multicast \
             range (neutron-lib validate_subnet_not_multicast; only 0.0.0.0/0 is exempt)"
        ));
    }
    let Some(mac) = mac_address else {
        return if sc.driver == neutron::firewall::FirewallDriver::Ovn {
            metadata_clash(sc, port_id, port, ip_address)
        } else {
            None
        };
    };
    if sc.driver != neutron::firewall::FirewallDriver::Ovn {
        return None;
    }
    if let Some(why) = metadata_clash(sc, port_id, port, ip_address) {
        return Some(why);
    }
    if sc.cloud.port(port_id).map(|p| p.mac_address.as_str()) == Some(mac.as_str()) {
        return None;
    }
    let prefix = if ip_address.addr().is_ipv4() {
        "00:00:5e:00:01:"
    } else {
        "00:00:5e:00:02:"
    };
    if mac.to_lowercase().starts_with(prefix) {
        return None;
    }
    Some(format!(
        "ML2/OVN refuses the pair ({ip_address}, {mac}) on {port}: 400 \
         InvalidVirtualMACAddress (a pair's MAC must be the port's own or the VRRP virtual \
         MAC {prefix}XX)"
    ))
}

/// ML2/OVN refuses a single-address pair that is a fixed IP of a
/// `network:distributed` (metadata) port on the same network: 400 InvalidInput
/// (neutron 29.0.0 mech_driver.py `_validate_allowed_address_pairs`; wider
/// CIDRs are not checked).
fn metadata_clash(sc: &Scenario, port_id: &str, port: &str, ip: &IpNet) -> Option<String> {
    if ip.prefix_len() != ip.max_prefix_len() {
        return None;
    }
    let network = &sc.cloud.port(port_id)?.network_id;
    sc.cloud
        .ports
        .iter()
        .filter(|p| p.device_owner == "network:distributed" && &p.network_id == network)
        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == ip.addr()))
        .map(|p| {
            format!(
                "ML2/OVN refuses the pair {} on {port}: it is the fixed IP of the metadata port \
                 {} on the same network (400 InvalidInput)",
                ip.addr(),
                if p.name.is_empty() { &p.id } else { &p.name }
            )
        })
}

/// A change with its price.
#[derive(Clone, Debug, Serialize)]
pub struct PricedChange {
    pub change: Change,
    pub command: String,
    pub cost: String,
}

/// A named remedy tried as a whole.
#[derive(Clone, Debug, Serialize)]
pub struct RemedyResult {
    pub name: String,
    pub changes: Vec<PricedChange>,
    pub works: bool,
    /// Why it fails: the first remaining drop's reason.
    pub why_not: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FixReport {
    pub changes: Vec<PricedChange>,
    pub rounds: usize,
    pub recheck: CheckReport,
    /// Drops no Neutron change can fix (host settings, unknown rules).
    pub unfixable: Vec<String>,
    pub remedies: Vec<RemedyResult>,
}

fn price(sc: &Scenario, changes: &[Change]) -> Vec<PricedChange> {
    // A rule into a group the fix itself creates is priced on the cloud with
    // the changes made (only there does the group have members).
    let after = with_changes(sc, changes);
    changes
        .iter()
        .map(|c| PricedChange {
            change: c.clone(),
            command: c.command(&sc.cloud),
            cost: match c {
                Change::AddSecurityGroupRule { group_id, .. }
                    if group_id.starts_with(STATELESS_ID) =>
                {
                    c.cost(&after.cloud, sc.driver)
                }
                _ => c.cost(&sc.cloud, sc.driver),
            },
        })
        .collect()
}

/// Apply `changes` to a copy of the scenario's cloud.
pub fn with_changes(sc: &Scenario, changes: &[Change]) -> Scenario {
    let mut fixed = sc.clone();
    for c in changes {
        c.apply(&mut fixed.cloud);
    }
    fixed
}

/// Search for the smallest change set, greedily, one round per wave of drops.
pub fn find_fix(sc: &Scenario, first: &CheckReport) -> Result<FixReport, CheckError> {
    const MAX_ROUNDS: usize = 8;
    let mut changes: Vec<Change> = Vec::new();
    let mut report = first.clone();
    let mut rounds = 0;
    let mut unfixable = Vec::new();
    while !report.passed() && rounds < MAX_ROUNDS {
        rounds += 1;
        let mut new = Vec::new();
        // Proposals read the cloud as the changes so far left it (a rule goes
        // to the group the port is in now).
        let current = with_changes(sc, &changes);
        for (_, _, d) in report.drops() {
            let proposed = propose(&current, d);
            if proposed.is_empty() {
                let msg = format!("{}: {}", d.port, d.reason);
                if !unfixable.contains(&msg) {
                    unfixable.push(msg);
                }
            }
            for c in proposed {
                if let Some(why) = refused(&current, &c) {
                    if !unfixable.contains(&why) {
                        unfixable.push(why);
                    }
                    continue;
                }
                if !changes.contains(&c) && !new.contains(&c) {
                    new.push(c);
                }
            }
        }
        if new.is_empty() {
            break;
        }
        changes.extend(new);
        report = run(&with_changes(sc, &changes))?;
    }
    if report.passed() {
        changes = minimise(sc, changes)?;
        report = run(&with_changes(sc, &changes))?;
    }
    Ok(FixReport {
        changes: price(sc, &changes),
        rounds,
        recheck: report,
        unfixable,
        remedies: report_remedies(sc)?,
    })
}

/// True when `a` lets through everything `b` does, so `b` adds nothing.
pub fn covers(a: &Change, b: &Change) -> bool {
    let net_covers = |a: &Option<IpNet>, b: &Option<IpNet>| match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => x.contains(y),
    };
    match (a, b) {
        (
            Change::AddAllowedAddressPair {
                port_id: pa,
                ip_address: ia,
                mac_address: ma,
                ..
            },
            Change::AddAllowedAddressPair {
                port_id: pb,
                ip_address: ib,
                mac_address: mb,
                ..
            },
        ) => pa == pb && ma == mb && ia.contains(ib),
        (
            Change::AddSecurityGroupRule {
                group_id: ga,
                ingress: da,
                ethertype: ea,
                protocol: pa,
                port: oa,
                remote_ip_prefix: ra,
                ..
            },
            Change::AddSecurityGroupRule {
                group_id: gb,
                ingress: db,
                ethertype: eb,
                protocol: pb,
                port: ob,
                remote_ip_prefix: rb,
                ..
            },
        ) => {
            ga == gb
                && da == db
                && ea == eb
                && (pa.is_none() || pa == pb)
                && (oa.is_none() || oa == ob)
                && net_covers(ra, rb)
        }
        (Change::DisablePortSecurity { port_id: pa, .. }, other) => match other {
            Change::AddAllowedAddressPair { port_id, .. } => port_id == pa,
            Change::DisablePortSecurity { port_id, .. } => port_id == pa,
            Change::AddSecurityGroupRule { .. }
            | Change::UseStatelessGroup { .. }
            | Change::WritePairAsCidr { .. } => false,
        },
        _ => false,
    }
}

/// The smallest subset of a passing change set that still passes: first drop
/// every change another one covers (one rule from 0.0.0.0/0 makes the /32 rules
/// beside it redundant), then try the set without each remaining pair or
/// port-security change, last proposed first, and keep each removal the
/// re-check allows. Security group rules are never removed that way: a pair's
/// addresses join its groups' remote-group ipsets, and a fix must not trade an
/// explicit rule for that side effect (it admits every protocol).
pub fn minimise(sc: &Scenario, changes: Vec<Change>) -> Result<Vec<Change>, CheckError> {
    let mut kept: Vec<Change> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let redundant = changes
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && covers(other, c) && (!covers(c, other) || j < i));
        if !redundant {
            kept.push(c.clone());
        }
    }
    let mut i = kept.len();
    while i > 0 {
        i -= 1;
        if matches!(kept[i], Change::AddSecurityGroupRule { .. }) {
            continue;
        }
        let mut without = kept.clone();
        without.remove(i);
        if !without.is_empty() && run(&with_changes(sc, &without))?.passed() {
            kept = without;
        }
    }
    Ok(kept)
}

/// The field report's remedies for DR, each applied alone and re-checked.
pub fn report_remedies(sc: &Scenario) -> Result<Vec<RemedyResult>, CheckError> {
    // The field report's remedies are about DR forwarding; a member that
    // serves the VIP itself forwards nothing, and NAT and TUN forward
    // otherwise (their drops and fixes are the check's own).
    if !matches!(sc.pattern, crate::scenario::Pattern::LvsDr) {
        return Ok(Vec::new());
    }
    let vips = sc.vips();
    let directors: Vec<&str> = sc.directors.iter().map(|d| d.port_id.as_str()).collect();
    let pair = |port_id: &str, ip: IpNet, mac: Option<String>| Change::AddAllowedAddressPair {
        port_id: port_id.to_string(),
        port: sc.port_label(port_id),
        ip_address: ip,
        mac_address: mac,
    };
    let mut any_src = Vec::new();
    let v6 = vips.iter().any(|v| v.is_ipv6());
    for d in &directors {
        if vips.iter().any(|v| v.is_ipv4()) {
            any_src.push(pair(d, "0.0.0.0/0".parse().expect("literal"), None));
        }
        if v6 {
            any_src.push(pair(d, IPV6_GLOBAL_UNICAST.parse().expect("literal"), None));
        }
    }
    for rs in &sc.real_servers {
        for vip in &vips {
            any_src.push(pair(&rs.port_id, host_net(*vip), None));
        }
    }
    let mut rs_macs = Vec::new();
    for d in &directors {
        for rs in &sc.real_servers {
            for vip in &vips {
                rs_macs.push(pair(
                    d,
                    host_net(*vip),
                    Some(sc.port(&rs.port_id).mac_address.to_lowercase()),
                ));
            }
        }
    }
    let no_security: Vec<Change> = directors
        .iter()
        .map(|d| Change::DisablePortSecurity {
            port_id: d.to_string(),
            port: sc.port_label(d),
        })
        .collect();
    let candidates = [
        (
            if v6 {
                "report 5.3 (1): pair 0.0.0.0/0 (for the IPv6 VIP 2000::/3: the API refuses \
                 ::/0) on the directors, the VIP on the real servers"
            } else {
                "report 5.3 (1): pair 0.0.0.0/0 on the directors, the VIP on the real servers"
            },
            any_src,
            None,
        ),
        (
            "report 5.3 (2): pairs (VIP, real-server MAC) on the directors",
            rs_macs,
            Some(
                "the anti-spoof chain matches the SOURCE (IP, MAC) of what the port sends; DR \
                 rewrites only the destination MAC, so the forwarded packet still leaves with \
                 the client's IP and the director's own MAC, which a (VIP, real-server MAC) \
                 pair never matches",
            ),
        ),
        (
            "port_security_enabled=false on the directors",
            no_security,
            None,
        ),
    ];
    let mut out = Vec::new();
    for (name, changes, note) in candidates {
        if let Some(why) = changes.iter().find_map(|c| refused(sc, c)) {
            out.push(RemedyResult {
                name: name.to_string(),
                changes: price(sc, &changes),
                works: false,
                why_not: Some(why),
                note: None,
            });
            continue;
        }
        let report = run(&with_changes(sc, &changes))?;
        let why_not = report
            .drops()
            .next()
            .map(|(f, p, d)| format!("{} / {}: {} ({})", f.name, p.what, d.reason, d.place));
        out.push(RemedyResult {
            name: name.to_string(),
            changes: price(sc, &changes),
            works: report.passed(),
            why_not,
            note: if report.passed() {
                None
            } else {
                note.map(str::to_string)
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(remote: Option<&str>, port: Option<u16>) -> Change {
        Change::AddSecurityGroupRule {
            group_id: "g".into(),
            group: "g".into(),
            ingress: true,
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port,
            remote_ip_prefix: remote.map(|r| r.parse().unwrap()),
        }
    }

    fn pair(ip: &str, mac: Option<&str>) -> Change {
        Change::AddAllowedAddressPair {
            port_id: "p".into(),
            port: "p".into(),
            ip_address: ip.parse().unwrap(),
            mac_address: mac.map(str::to_string),
        }
    }

    #[test]
    fn a_rule_from_anywhere_covers_host_rules_on_the_same_port() {
        let wide = rule(Some("0.0.0.0/0"), Some(80));
        let host = rule(Some("203.0.113.5/32"), Some(80));
        assert!(covers(&wide, &host));
        assert!(!covers(&host, &wide));
        assert!(!covers(&wide, &rule(Some("203.0.113.5/32"), Some(443))));
        assert!(covers(&rule(None, None), &host));
    }

    fn own_ip_bare_pair() -> Scenario {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/broken/vrrp-use-vmac-own-ip-bare-pair-ovn/scenario.yaml");
        Scenario::load(&dir).unwrap()
    }

    fn rewrites(changes: &[Change]) -> Vec<(String, String)> {
        changes
            .iter()
            .map(|c| match c {
                Change::WritePairAsCidr {
                    port, ip_address, ..
                } => (port.clone(), ip_address.to_string()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_cut_off_port_gets_its_parents_bare_pairs_rewritten_its_own_last() {
        let mut sc = own_ip_bare_pair();
        let d1 = sc
            .cloud
            .ports
            .iter()
            .find(|p| p.name == "director-1")
            .unwrap()
            .id
            .clone();
        let d2 = sc
            .cloud
            .ports
            .iter()
            .find(|p| p.name == "director-2")
            .unwrap()
            .id
            .clone();
        let got = rewrite_cut_off(&sc, &d1);
        assert_eq!(
            rewrites(&got),
            [("director-1".into(), "203.0.113.5".into())]
        );
        let fixed = with_changes(&sc, &got);
        assert!(virtual_type(&fixed.cloud, fixed.cloud.port(&d1).unwrap()).is_none());
        // director-2 holds director-1's address bare too: its pair goes first.
        let own = sc.cloud.port(&d1).unwrap().allowed_address_pairs[2].clone();
        assert_eq!(own.written(), "203.0.113.5");
        sc.cloud
            .port_mut(&d2)
            .unwrap()
            .allowed_address_pairs
            .push(own);
        assert_eq!(
            rewrites(&rewrite_cut_off(&sc, &d1)),
            [
                ("director-2".into(), "203.0.113.5".into()),
                ("director-1".into(), "203.0.113.5".into())
            ]
        );
        // Only another port holds it: its update would not rewrite director-1.
        sc.cloud
            .port_mut(&d1)
            .unwrap()
            .allowed_address_pairs
            .remove(2);
        assert!(rewrite_cut_off(&sc, &d1).is_empty());
        // Not on iptables_hybrid, where no port becomes virtual.
        let mut hybrid = own_ip_bare_pair();
        hybrid.driver = FirewallDriver::IptablesHybrid;
        assert!(rewrite_cut_off(&hybrid, &d1).is_empty());
    }

    #[test]
    fn pairs_cover_only_with_the_same_mac() {
        assert!(covers(
            &pair("0.0.0.0/0", None),
            &pair("203.0.113.9/32", None)
        ));
        assert!(!covers(
            &pair("0.0.0.0/0", None),
            &pair("203.0.113.9/32", Some("fa:16:3e:00:00:01"))
        ));
        assert!(!covers(
            &pair("203.0.113.0/24", None),
            &pair("198.51.100.0/24", None)
        ));
    }
}
