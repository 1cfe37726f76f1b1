//! The driver's per-port chains (neutron/agent/linux/iptables_firewall.py,
//! `_setup_chains_apply`): the jumps from FORWARD and INPUT through `sg-chain`
//! to a port's `i`/`o` chains, the fixed rules ahead of its group rules
//! (DHCP, ICMPv6, the `s` anti-spoofing chain of MAC/IP pairs), the accept
//! rules of trusted and port-security-off ports, and the nat short-circuit
//! for bridged traffic.

use ipnet::IpNet;

use super::comments::{
    C_DHCP_CLIENT, C_DHCP_SPOOF, C_INPUT_TO_SG, C_IPV6_ICMP_ALLOW, C_IPV6_RA_DROP, C_PAIR_ALLOW,
    C_PAIR_DROP, C_PORT_SEC_ACCEPT, C_SG_TO_VM_SG, C_TRUSTED_ACCEPT, C_VM_INT_SG,
};
use super::manager::commented;
use super::names::{device_name, ip_to_cidr, link_local, mac_upper, port_chain, wrapped};
use super::{Fam, Renderer};
use crate::firewall::provenance::{Origin, PairSource};
use crate::model::{Port, RuleDirection};

impl Renderer<'_> {
    pub(super) fn nat_short_circuit(&mut self, port: &Port) {
        let tap = device_name("tap", &port.id);
        let chain = wrapped("PREROUTING");
        let origin = Origin::Infrastructure {
            port_id: port.id.clone(),
            what: "no NAT for the port's bridged traffic".into(),
        };
        self.both(|t| {
            for dir in ["physdev-out", "physdev-in"] {
                t.nat.add(
                    &chain,
                    commented(
                        &format!("-m physdev --{dir} {tap} -j ACCEPT"),
                        C_TRUSTED_ACCEPT,
                    ),
                    origin.clone(),
                );
            }
        });
    }

    pub(super) fn trusted_port(&mut self, port: &Port) {
        let tap = device_name("tap", &port.id);
        let fwd = wrapped("FORWARD");
        let origin = Origin::TrustedPort {
            port_id: port.id.clone(),
        };
        self.both(|t| {
            for dir in ["physdev-out", "physdev-in"] {
                t.filter.add(
                    &fwd,
                    commented(
                        &format!("-m physdev --{dir} {tap} --physdev-is-bridged -j ACCEPT"),
                        C_TRUSTED_ACCEPT,
                    ),
                    origin.clone(),
                );
            }
        });
        self.nat_short_circuit(port);
    }

    pub(super) fn unfiltered_port(&mut self, port: &Port) {
        let tap = device_name("tap", &port.id);
        let (fwd, input) = (wrapped("FORWARD"), wrapped("INPUT"));
        let rule = |dir: &str| {
            commented(
                &format!("-m physdev --{dir} {tap} --physdev-is-bridged -j ACCEPT"),
                C_PORT_SEC_ACCEPT,
            )
        };
        let origin = Origin::PortSecurityOff {
            port_id: port.id.clone(),
        };
        self.both(|t| {
            t.filter.add(&fwd, rule("physdev-out"), origin.clone());
            t.filter.add(&fwd, rule("physdev-in"), origin.clone());
            t.filter.add(&input, rule("physdev-in"), origin.clone());
        });
        self.nat_short_circuit(port);
    }

    /// `_add_chain` + `_add_rules_by_security_group` for one direction.
    pub(super) fn setup_chain(&mut self, port: &Port, direction: RuleDirection) {
        let tap = device_name("tap", &port.id);
        let (kind, physdev) = match direction {
            RuleDirection::Ingress => ('i', "physdev-out"),
            RuleDirection::Egress => ('o', "physdev-in"),
        };
        let chain = port_chain(kind, &port.id);
        let (fwd, sg_chain, input) = (wrapped("FORWARD"), wrapped("sg-chain"), wrapped("INPUT"));
        let to_sg = commented(
            &format!("-m physdev --{physdev} {tap} --physdev-is-bridged -j {sg_chain}"),
            C_VM_INT_SG,
        );
        let to_port = commented(
            &format!("-m physdev --{physdev} {tap} --physdev-is-bridged -j {chain}"),
            C_SG_TO_VM_SG,
        );
        let input_rule = commented(
            &format!("-m physdev --{physdev} {tap} --physdev-is-bridged -j {chain}"),
            C_INPUT_TO_SG,
        );
        self.both(|t| {
            t.filter.chain(&chain);
            t.filter.add_top(&fwd, to_sg.clone(), Origin::Dispatch);
            t.filter.add(&sg_chain, to_port.clone(), Origin::Dispatch);
            if direction == RuleDirection::Egress {
                t.filter.add(&input, input_rule.clone(), Origin::Dispatch);
            }
        });
        for fam in [Fam::V4, Fam::V6] {
            let mut rules = Vec::new();
            match (direction, fam) {
                (RuleDirection::Egress, _) => self.fixed_egress_rules(port, fam, &mut rules),
                (RuleDirection::Ingress, Fam::V6) => {
                    for t in [130, 135, 136] {
                        rules.push((
                            format!("-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN"),
                            infrastructure(port, "IPv6 multicast listener and neighbour discovery"),
                        ));
                    }
                }
                (RuleDirection::Ingress, Fam::V4) => {}
            }
            let selected = self.select_rules(port, direction, fam);
            rules.extend(self.convert_rules(port, direction, &selected, fam));
            let t = self.fam(fam);
            for (r, origin) in rules {
                t.filter.add(&chain, r, origin);
            }
        }
    }

    /// `_spoofing_rule` + `_drop_dhcp_rule`; creates the `s` chain when the family has pairs.
    fn fixed_egress_rules(&mut self, port: &Port, fam: Fam, rules: &mut Vec<(String, Origin)>) {
        let infra = |what: &str| infrastructure(port, what);
        match fam {
            Fam::V4 => rules.push((
                commented(
                    "-s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j RETURN",
                    C_DHCP_CLIENT,
                ),
                infra("DHCP discovery"),
            )),
            Fam::V6 => {
                for t in [131, 135, 143] {
                    rules.push((
                        commented(
                            &format!("-s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN"),
                            C_IPV6_ICMP_ALLOW,
                        ),
                        infra("IPv6 multicast listener and neighbour discovery"),
                    ));
                }
            }
        }
        let pairs = mac_ip_pairs(port, fam);
        if !pairs.is_empty() {
            let s = port_chain('s', &port.id);
            let t = &mut self.fam(fam).filter;
            t.chain(&s);
            for (mac, ip, from) in &pairs {
                let rule = match ip {
                    None => format!("-m mac --mac-source {mac} -j RETURN"),
                    Some(ip) => format!("-s {ip} -m mac --mac-source {mac} -j RETURN"),
                };
                let origin = Origin::SourcePair {
                    port_id: port.id.clone(),
                    mac: mac.clone(),
                    ip: ip.clone(),
                    from: from.clone(),
                };
                t.add(&s, commented(&rule, C_PAIR_ALLOW), origin);
            }
            t.add(
                &s,
                commented("-j DROP", C_PAIR_DROP),
                Origin::SpoofDrop {
                    port_id: port.id.clone(),
                },
            );
            rules.push((format!("-j {s}"), Origin::Dispatch));
        }
        let fixed: &[(&str, &str, &str)] = match fam {
            Fam::V4 => &[
                (
                    "-p udp -m udp --sport 68 --dport 67 -j RETURN",
                    C_DHCP_CLIENT,
                    "DHCP requests",
                ),
                (
                    "-p udp -m udp --sport 67 --dport 68 -j DROP",
                    C_DHCP_SPOOF,
                    "no DHCP server in a VM",
                ),
            ],
            Fam::V6 => &[
                (
                    "-p ipv6-icmp -m icmp6 --icmpv6-type 134 -j DROP",
                    C_IPV6_RA_DROP,
                    "no router advertisements from a VM",
                ),
                ("-p ipv6-icmp -j RETURN", C_IPV6_ICMP_ALLOW, "IPv6 ICMP"),
                (
                    "-p udp -m udp --sport 546 --dport 547 -j RETURN",
                    C_DHCP_CLIENT,
                    "DHCPv6 requests",
                ),
                (
                    "-p udp -m udp --sport 547 --dport 546 -j DROP",
                    C_DHCP_SPOOF,
                    "no DHCPv6 server in a VM",
                ),
            ],
        };
        for (rule, comment, what) in fixed {
            rules.push((commented(rule, comment), infra(what)));
        }
    }
}

/// (MAC, source) entries of a port's `s` chain for one family, in Neutron's order:
/// pairs (sorted by (mac, ip) like the API), fixed IPs, each IPv6 entry followed by
/// its MAC's link-local address once; a port without fixed IPs adds a MAC-only entry.
fn mac_ip_pairs(port: &Port, fam: Fam) -> Vec<(String, Option<String>, PairSource)> {
    let mut out: Vec<(String, Option<String>, PairSource)> = Vec::new();
    let mut push = |mac: &str, net: IpNet, from: PairSource| {
        let f = Fam::of(&net.addr());
        if f != fam {
            return;
        }
        let m = mac_upper(mac);
        out.push((m.clone(), Some(ip_to_cidr(&net)), from));
        if f == Fam::V6 {
            if let Some(lla) = link_local(mac) {
                let ip = Some(format!("{lla}/128"));
                if !out.iter().any(|(om, oip, _)| *om == m && *oip == ip) {
                    out.push((m, ip, PairSource::LinkLocal));
                }
            }
        }
    };
    for p in sorted_pairs(port) {
        push(
            p.mac_address.as_deref().unwrap_or(&port.mac_address),
            p.ip_address,
            PairSource::AllowedAddressPair,
        );
    }
    for f in &port.fixed_ips {
        push(
            &port.mac_address,
            IpNet::from(f.ip_address),
            PairSource::FixedIp,
        );
    }
    if port.fixed_ips.is_empty() {
        out.push((
            port.mac_address.to_ascii_uppercase(),
            None,
            PairSource::MacOnly,
        ));
    }
    out
}

/// What the agent adds for every port, as an origin.
pub(super) fn infrastructure(port: &Port, what: &str) -> Origin {
    Origin::Infrastructure {
        port_id: port.id.clone(),
        what: what.into(),
    }
}

/// Allowed address pairs in the order the API returns them: sorted by their raw
/// (mac, ip) strings as stored, case included (`FA:16:...` before `fa:16:...`).
fn sorted_pairs(port: &Port) -> Vec<&crate::model::AddressPair> {
    let mut v: Vec<_> = port.allowed_address_pairs.iter().collect();
    v.sort_by_cached_key(|p| p.api_sort_key(&port.mac_address));
    v
}
