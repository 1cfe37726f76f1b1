//! Neutron's OVSHybridIptablesFirewallDriver (neutron 29.0.0), rendered as the
//! text `iptables-save`, `ip6tables-save` and `ipset save -sorted` print on a
//! compute host after the OVS agent programmed its ports from scratch.
//!
//! The renderer replays the agent: `IptablesManager` setup, the driver's
//! `sg-fallback`, trusted ports, then `_setup_chains_apply` over the filtered
//! ports in port-id order and the port-security-off ports after them. Like
//! `IptablesManager._modify_rules` it keeps `top` rules before the others and
//! drops duplicate lines keeping the last one; the kernel then prints each chain
//! in that order (builtin chains first, user chains sorted by name).
//! Facts: neutron/agent/linux/iptables_firewall.py, iptables_manager.py,
//! ipset_manager.py, ip_conntrack.py, db/securitygroups_rpc_base.py (29.0.0).
//! Agent-side orders this follows (the real agent iterates Python sets here):
//! devices in port-id order, a port's groups in its `security_groups` order,
//! a group's rules by `standard_attr_id`. Checked equal, after the conformance
//! normalisation (sets and set members sorted), to the real 29.0.0 driver on
//! 20 hand-picked and 220 generated scenarios, nft and legacy.
//!
//! Output conventions: no `#` lines, counters `[0:0]`; `ipset_save` omits the
//! random `initval 0x...` that `ipset save` appends and lists members by
//! (address, prefix) (see [`normalize_ipset_save`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use super::iptables_text::{canonical_net, neutron_protocol_name, saved_form};
use super::provenance::{Origin, PairSource, Provenance, RuleRef};
use super::SaveFlavor;
use crate::model::{mac_bytes, Cloud, Ethertype, Port, RuleDirection, SecurityGroup};

/// `neutron-openvswitch-agent` cut to 16 characters (iptables_manager binary_name).
pub const WRAP: &str = "neutron-openvswi";
/// First conntrack zone the agent hands out (ip_conntrack.ZONE_START).
pub const ZONE_START: u16 = 4097;
const ZONE_MAX: u32 = 65535;
/// `rpc_resources_processing_step` default: devices per security group info request.
pub const RPC_RESOURCES_STEP: usize = 20;

// Neutron's rule comments (neutron/agent/linux/iptables_comments.py).
const C_UNMATCH_DROP: &str = "Default drop rule for unmatched traffic.";
const C_VM_INT_SG: &str = "Direct traffic from the VM interface to the security group chain.";
const C_SG_TO_VM_SG: &str = "Jump to the VM specific chain.";
const C_INPUT_TO_SG: &str = "Direct incoming traffic from VM to the security group chain.";
const C_PAIR_ALLOW: &str = "Allow traffic from defined IP/MAC pairs.";
const C_PAIR_DROP: &str = "Drop traffic without an IP/MAC allow rule.";
const C_DHCP_CLIENT: &str = "Allow DHCP client traffic.";
const C_DHCP_SPOOF: &str = "Prevent DHCP Spoofing by VM.";
const C_UNMATCHED: &str = "Send unmatched traffic to the fallback chain.";
const C_INVALID_DROP: &str =
    "Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack.";
const C_ALLOW_ASSOC: &str = "Direct packets associated with a known session to the RETURN chain.";
const C_PORT_SEC_ACCEPT: &str = "Accept all packets when port security is disabled.";
const C_TRUSTED_ACCEPT: &str = "Accept all packets when port is trusted.";
const C_IPV6_RA_DROP: &str = "Drop IPv6 Router Advts from VM Instance.";
const C_IPV6_ICMP_ALLOW: &str = "Allow IPv6 ICMP traffic.";

/// The rules one host ends up with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostRules {
    pub iptables_save: String,
    pub ip6tables_save: String,
    pub ipset_save: String,
    /// Every port bound to the host, in port-id order.
    pub ports: Vec<PortPlumbing>,
    /// Which Neutron object made each rule of the two saves.
    pub provenance: Provenance,
}

/// The Linux devices Nova and the agent create for one hybrid-plugged port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlumbing {
    pub port_id: String,
    pub tap: String,
    pub qvb: String,
    pub qvo: String,
    pub qbr: String,
    /// Conntrack zone; 0 when the port has none (port security off, trusted port).
    pub zone: u16,
}

/// Why a host's rules cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "port {port}: field \"mac_address\": empty, the anti-spoofing chain needs the port MAC"
    )]
    MissingMac { port: String },
    #[error("port {port}: field \"id\": {id:?} cannot be used in device and chain names")]
    BadPortId { port: String, id: String },
    #[error("port {port}: field \"security_groups\": security group {group} is not loaded")]
    UnknownGroup { port: String, group: String },
    #[error("host {host}: more than {max} conntrack zones needed")]
    TooManyZones { host: String, max: u32 },
}

/// Options that change only how the kernel prints, not what Neutron programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    pub flavor: SaveFlavor,
}

/// Renders one host with the default options (iptables-nft printing).
pub fn render_host(cloud: &Cloud, host: &str) -> Result<HostRules, RenderError> {
    render_host_with(cloud, host, &RenderOptions::default())
}

/// Renders every host that has a bound port.
pub fn render_all_hosts(cloud: &Cloud) -> Result<BTreeMap<String, HostRules>, RenderError> {
    cloud
        .hosts()
        .into_iter()
        .map(|h| render_host(cloud, &h).map(|r| (h, r)))
        .collect()
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A wrapped chain name: `neutron-openvswi-` + name cut to 11 characters.
fn wrapped(name: &str) -> String {
    format!("{WRAP}-{}", cut(name, 11))
}

/// Device name: prefix + port id, cut to 14 characters (LINUX_DEV_LEN).
pub fn device_name(prefix: &str, port_id: &str) -> String {
    cut(&format!("{prefix}{port_id}"), 14)
}

/// Per-port chain: `neutron-openvswi-` + (`i`|`o`|`s` + port id) cut to 11.
pub fn port_chain(kind: char, port_id: &str) -> String {
    wrapped(&format!("{kind}{port_id}"))
}

/// Neutron's `comment_rule`: the comment goes before ` -j `, or first for a bare jump.
fn commented(rule: &str, comment: &str) -> String {
    let c = format!("-m comment --comment \"{comment}\"");
    if rule.starts_with("-j") {
        format!("{c} {rule}")
    } else if let Some(pos) = rule.find(" -j ") {
        format!("{} {c} {}", &rule[..pos], &rule[pos + 1..])
    } else {
        format!("{rule} {c}")
    }
}

#[derive(Debug, Clone)]
struct Rule {
    chain: String,
    /// Neutron's text after `-A CHAIN`; duplicates are judged on it.
    text: String,
    top: bool,
    origin: Origin,
}

/// One table as `IptablesTable` holds it.
#[derive(Debug, Default)]
struct Table {
    chains: BTreeSet<String>,
    rules: Vec<Rule>,
}

impl Table {
    fn chain(&mut self, name: &str) {
        self.chains.insert(name.to_string());
    }

    fn add(&mut self, chain: &str, text: impl Into<String>, origin: Origin) {
        self.rules.push(Rule {
            chain: chain.to_string(),
            text: text.into(),
            top: false,
            origin,
        });
    }

    fn add_top(&mut self, chain: &str, text: impl Into<String>, origin: Origin) {
        self.rules.push(Rule {
            chain: chain.to_string(),
            text: text.into(),
            top: true,
            origin,
        });
    }

    /// The rules in the order the kernel ends up with them, per chain, each
    /// with the origins of every copy that was folded into it.
    fn ordered(&self) -> BTreeMap<String, Vec<(String, Vec<Origin>)>> {
        let all: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.top)
            .chain(self.rules.iter().filter(|r| !r.top))
            .collect();
        // _weed_out_duplicates walks the list backwards: the last copy stays.
        let mut at: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut kept: Vec<(&Rule, Vec<Origin>)> = Vec::new();
        for r in all.iter().rev() {
            match at.get(&(r.chain.as_str(), r.text.as_str())) {
                Some(&i) => {
                    if !kept[i].1.contains(&r.origin) {
                        kept[i].1.push(r.origin.clone());
                    }
                }
                None => {
                    at.insert((r.chain.as_str(), r.text.as_str()), kept.len());
                    kept.push((r, vec![r.origin.clone()]));
                }
            }
        }
        kept.reverse();
        let mut by_chain: BTreeMap<String, Vec<(String, Vec<Origin>)>> = BTreeMap::new();
        for (r, origins) in kept {
            by_chain
                .entry(r.chain.clone())
                .or_default()
                .push((saved_form(&r.text), origins));
        }
        by_chain
    }
}

/// filter, raw and nat of one family.
#[derive(Debug, Default)]
struct Family {
    filter: Table,
    raw: Table,
    nat: Table,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn of(ip: &IpAddr) -> Fam {
        match ip {
            IpAddr::V4(_) => Fam::V4,
            IpAddr::V6(_) => Fam::V6,
        }
    }

    fn ethertype(self) -> Ethertype {
        match self {
            Fam::V4 => Ethertype::IPv4,
            Fam::V6 => Ethertype::IPv6,
        }
    }
}

/// A security group rule as the agent's shim hands it to the driver.
#[derive(Debug, Clone)]
struct AgentRule {
    direction: RuleDirection,
    ethertype: Ethertype,
    protocol: Option<String>,
    port_range_min: Option<u32>,
    port_range_max: Option<u32>,
    source_port_range_min: Option<u32>,
    source_port_range_max: Option<u32>,
    source_ip_prefix: Option<String>,
    dest_ip_prefix: Option<String>,
    remote_group_id: Option<String>,
    stateful: bool,
    /// The security group rules this one stands for (equal rules fold).
    refs: Vec<RuleRef>,
    /// A provider rule of the server instead: what it is for.
    provider: Option<&'static str>,
}

impl PartialEq for AgentRule {
    /// Equal as the agent compares rule dicts: the origin does not count.
    fn eq(&self, o: &Self) -> bool {
        (
            self.direction,
            self.ethertype,
            &self.protocol,
            self.port_range_min,
            self.port_range_max,
            self.source_port_range_min,
            self.source_port_range_max,
            &self.source_ip_prefix,
            &self.dest_ip_prefix,
            &self.remote_group_id,
            self.stateful,
        ) == (
            o.direction,
            o.ethertype,
            &o.protocol,
            o.port_range_min,
            o.port_range_max,
            o.source_port_range_min,
            o.source_port_range_max,
            &o.source_ip_prefix,
            &o.dest_ip_prefix,
            &o.remote_group_id,
            o.stateful,
        )
    }
}

impl Eq for AgentRule {}

impl AgentRule {
    fn provider(ethertype: Ethertype, what: &'static str) -> AgentRule {
        AgentRule {
            direction: RuleDirection::Ingress,
            ethertype,
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            source_port_range_min: None,
            source_port_range_max: None,
            source_ip_prefix: None,
            dest_ip_prefix: None,
            remote_group_id: None,
            stateful: true,
            refs: Vec::new(),
            provider: Some(what),
        }
    }
}

/// The group's rules as `security_group_info_for_ports` lists them: creation
/// order (ascending standard_attr_id, then given order), equal dicts once,
/// `remote_ip_prefix` with host bits cleared (the OVO `normalized_cidr`).
fn agent_rules(group: &SecurityGroup) -> Vec<AgentRule> {
    let mut rules: Vec<_> = group.rules.iter().enumerate().collect();
    rules.sort_by_key(|(i, r)| (r.standard_attr_id.unwrap_or(u64::MAX), *i));
    let mut out: Vec<AgentRule> = Vec::new();
    for (_, r) in rules {
        let protocol = r.protocol.clone().filter(|p| !p.is_empty() && p != "any");
        // DIRECTION_IP_PREFIX: the remote prefix is the source of ingress traffic.
        let prefix = r.remote_ip_prefix.map(|p| p.trunc().to_string());
        let (source_ip_prefix, dest_ip_prefix) = match r.direction {
            RuleDirection::Ingress => (prefix, None),
            RuleDirection::Egress => (None, prefix),
        };
        let a = AgentRule {
            direction: r.direction,
            ethertype: r.ethertype,
            protocol,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            source_port_range_min: None,
            source_port_range_max: None,
            source_ip_prefix,
            dest_ip_prefix,
            remote_group_id: r.remote_group_id.clone().filter(|g| !g.is_empty()),
            stateful: group.stateful,
            refs: vec![RuleRef {
                group_id: group.id.clone(),
                rule_id: r.id.clone(),
            }],
            provider: None,
        };
        match out.iter_mut().find(|o| **o == a) {
            Some(o) => o.refs.extend(a.refs),
            None => out.push(a),
        }
    }
    out
}

/// The ipset name for a remote group (ipset_manager.get_name): 29 characters.
pub fn ipset_name(group_id: &str, ethertype: Ethertype) -> String {
    cut(&format!("N{}{group_id}", ethertype.as_str()), 29)
}

/// EUI-64 link-local address of a MAC (netutils.get_ipv6_addr_by_EUI64 on fe80::/64).
pub fn link_local(mac: &str) -> Option<Ipv6Addr> {
    let b = mac_bytes(mac)?;
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(b[0] ^ 0x02, b[1]),
        seg(b[2], 0xff),
        seg(0xfe, b[3]),
        seg(b[4], b[5]),
    ))
}

/// netaddr `mac_iptables` dialect: upper case, colon separated.
fn mac_upper(mac: &str) -> String {
    mac.replace('-', ":").to_ascii_uppercase()
}

/// `c_utils.ip_to_cidr`: a bare address gets /32 or /128, a CIDR stays as given.
fn ip_to_cidr(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        format!("{}/{}", net.addr(), net.prefix_len())
    } else {
        net.to_string()
    }
}

/// Port ids become device and chain names; refuse text iptables cannot take.
fn check_id(port: &Port) -> Result<(), RenderError> {
    let ok = !port.id.is_empty()
        && port
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadPortId {
            port: port_label(port),
            id: port.id.clone(),
        })
    }
}

fn port_label(port: &Port) -> String {
    if port.name.is_empty() {
        port.id.clone()
    } else {
        format!("\"{}\" ({})", port.name, port.id)
    }
}

struct Renderer<'a> {
    cloud: &'a Cloud,
    v4: Family,
    v6: Family,
    /// Remote-group ipsets in creation order: (name, family, members).
    sets: Vec<(String, Fam, Vec<IpNet>)>,
    /// `sg_rules` of the driver, per group id.
    sg_rules: BTreeMap<String, Vec<AgentRule>>,
    /// Zone per `_device_key` (first 11 characters of the port id).
    zones: BTreeMap<String, u16>,
}

impl<'a> Renderer<'a> {
    fn fam(&mut self, f: Fam) -> &mut Family {
        match f {
            Fam::V4 => &mut self.v4,
            Fam::V6 => &mut self.v6,
        }
    }

    fn both(&mut self, mut op: impl FnMut(&mut Family)) {
        op(&mut self.v4);
        op(&mut self.v6);
    }

    /// IptablesManager.__init__ (state_less=True) and the driver's fallback chain.
    fn setup_manager(&mut self) {
        self.both(|t| {
            t.filter.chain("neutron-filter-top");
            let d = || Origin::Dispatch;
            t.filter.add_top("FORWARD", "-j neutron-filter-top", d());
            t.filter.add_top("OUTPUT", "-j neutron-filter-top", d());
            t.filter.chain(&wrapped("local"));
            t.filter.add(
                "neutron-filter-top",
                format!("-j {}", wrapped("local")),
                d(),
            );
            for c in ["INPUT", "OUTPUT", "FORWARD"] {
                t.filter.chain(&wrapped(c));
                t.filter.add(c, format!("-j {}", wrapped(c)), d());
            }
            for c in ["PREROUTING", "OUTPUT"] {
                t.raw.chain(&wrapped(c));
                t.raw.add(c, format!("-j {}", wrapped(c)), d());
            }
            t.nat.chain(&wrapped("PREROUTING"));
            t.nat
                .add("PREROUTING", format!("-j {}", wrapped("PREROUTING")), d());
            t.filter.chain(&wrapped("sg-fallback"));
            t.filter.add(
                &wrapped("sg-fallback"),
                commented("-j DROP", C_UNMATCH_DROP),
                Origin::DefaultDrop,
            );
        });
    }

    fn nat_short_circuit(&mut self, port: &Port) {
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

    fn trusted_port(&mut self, port: &Port) {
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

    fn unfiltered_port(&mut self, port: &Port) {
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

    fn zone_for(&mut self, port: &Port, host: &str) -> Result<u16, RenderError> {
        // neutron 29.0.0 ip_conntrack._device_key: the device (port id) cut to 11
        // characters, so ports whose ids share 11 characters share a zone.
        // (Later Neutron strips 3 characters first.)
        let key = cut(&port.id, 11);
        if let Some(z) = self.zones.get(&key) {
            return Ok(*z);
        }
        let next = self
            .zones
            .values()
            .max()
            .map_or(u32::from(ZONE_START), |m| u32::from(*m) + 1);
        if next > ZONE_MAX {
            return Err(RenderError::TooManyZones {
                host: host.to_string(),
                max: ZONE_MAX - u32::from(ZONE_START) + 1,
            });
        }
        let z = next as u16;
        self.zones.insert(key, z);
        Ok(z)
    }

    /// `_get_port_sg_rules` + `_are_sg_rules_stateful`: the first group's first rule decides.
    fn stateful(&self, port: &Port) -> bool {
        if port.device_owner.starts_with("network:") || port.device_owner.starts_with("neutron:") {
            return true;
        }
        port.security_groups
            .first()
            .and_then(|g| self.sg_rules.get(g))
            .and_then(|rules| rules.first())
            .is_none_or(|r| r.stateful)
    }

    fn conntrack_jump(&mut self, port: &Port, host: &str) -> Result<u16, RenderError> {
        let zone = self.zone_for(port, host)?;
        let qvb = device_name("qvb", &port.id);
        let tap = device_name("tap", &port.id);
        let (comment, target) = if self.stateful(port) {
            (
                format!("Set zone for {}", port.id),
                format!("--zone {zone}"),
            )
        } else {
            (
                format!("Make {} stateless", port.id),
                "--notrack".to_string(),
            )
        };
        let chain = wrapped("PREROUTING");
        let matches = [
            format!("-m physdev --physdev-in {qvb}"),
            format!("-i {qvb}"),
            format!("-m physdev --physdev-in {tap}"),
        ];
        self.both(|t| {
            for m in &matches {
                t.raw.add(
                    &chain,
                    format!("{m} -m comment --comment \"{comment}\" -j CT {target}"),
                    Origin::ConntrackZone {
                        port_id: port.id.clone(),
                    },
                );
            }
        });
        Ok(zone)
    }

    /// `_add_chain` + `_add_rules_by_security_group` for one direction.
    fn setup_chain(&mut self, port: &Port, direction: RuleDirection) {
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

    /// Provider rules (RA, DHCP replies) and then the port's groups' rules for
    /// one direction and family, IPv6 legacy ICMP names folded.
    fn select_rules(&self, port: &Port, direction: RuleDirection, fam: Fam) -> Vec<AgentRule> {
        let mut out = Vec::new();
        if direction == RuleDirection::Ingress {
            out.extend(
                provider_rules(port)
                    .into_iter()
                    .filter(|r| r.ethertype == fam.ethertype()),
            );
        }
        for g in &port.security_groups {
            for r in self.sg_rules.get(g).into_iter().flatten() {
                if r.direction == direction && r.ethertype == fam.ethertype() {
                    let mut r = r.clone();
                    if fam == Fam::V6
                        && matches!(r.protocol.as_deref(), Some("icmp") | Some("icmpv6"))
                    {
                        r.protocol = Some("ipv6-icmp".into());
                    }
                    out.push(r);
                }
            }
        }
        out
    }

    /// `_convert_sgr_to_iptables_rules`: established first, rules once each,
    /// invalid drop, fallback.
    fn convert_rules(
        &self,
        port: &Port,
        direction: RuleDirection,
        rules: &[AgentRule],
        fam: Fam,
    ) -> Vec<(String, Origin)> {
        let port_id = port.id.clone();
        let mut out = vec![(
            commented(
                "-m state --state RELATED,ESTABLISHED -j RETURN",
                C_ALLOW_ASSOC,
            ),
            Origin::ConntrackEstablished {
                port_id: port_id.clone(),
            },
        )];
        for r in rules {
            let Some(text) = self.rule_text(r, fam) else {
                continue;
            };
            // Equal texts are emitted once; the first carries every rule behind it.
            match out.iter_mut().find(|(t, _)| *t == text) {
                Some((_, Origin::GroupRule { rules, .. })) => {
                    for x in &r.refs {
                        if !rules.contains(x) {
                            rules.push(x.clone());
                        }
                    }
                }
                Some(_) => {}
                None => {
                    let origin = match r.provider {
                        Some(what) => Origin::ProviderRule {
                            port_id: port_id.clone(),
                            what: what.into(),
                        },
                        None => Origin::GroupRule {
                            port_id: port_id.clone(),
                            direction,
                            rules: r.refs.clone(),
                        },
                    };
                    out.push((text, origin));
                }
            }
        }
        out.push((
            commented("-m state --state INVALID -j DROP", C_INVALID_DROP),
            Origin::ConntrackInvalid {
                port_id: port_id.clone(),
            },
        ));
        out.push((
            commented(&format!("-j {}", wrapped("sg-fallback")), C_UNMATCHED),
            Origin::NoRuleMatched { port_id, direction },
        ));
        out
    }

    fn rule_text(&self, r: &AgentRule, fam: Fam) -> Option<String> {
        let mut args: Vec<String> = Vec::new();
        if let Some(gid) = &r.remote_group_id {
            let name = ipset_name(gid, fam.ethertype());
            if !self.sets.iter().any(|(n, _, _)| *n == name) {
                return None;
            }
            args.extend(protocol_and_port_args(r));
            let dir = if r.direction == RuleDirection::Ingress {
                "src"
            } else {
                "dst"
            };
            args.push(format!("-m set --match-set {name} {dir}"));
        } else {
            for (flag, p) in [("-s", &r.source_ip_prefix), ("-d", &r.dest_ip_prefix)] {
                if let Some(text) = p.as_deref().and_then(prefix_arg) {
                    args.push(format!("{flag} {text}"));
                }
            }
            args.extend(protocol_and_port_args(r));
        }
        args.push("-j RETURN".into());
        Some(args.join(" "))
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
fn infrastructure(port: &Port, what: &str) -> Origin {
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

/// The rules the server adds for every port (`_apply_provider_rule`): IPv6 RA
/// from routers (only with an IPv6 fixed IP), then DHCP replies to each fixed IP
/// and to broadcast / fe80::/64.
fn provider_rules(port: &Port) -> Vec<AgentRule> {
    let mut out = Vec::new();
    let has_v6 = port.fixed_ips.iter().any(|f| f.ip_address.is_ipv6());
    if has_v6 {
        let mut ra = AgentRule::provider(Ethertype::IPv6, "router advertisements");
        ra.protocol = Some("ipv6-icmp".into());
        ra.source_port_range_min = Some(134);
        out.push(ra);
    }
    for fam in [Fam::V4, Fam::V6] {
        let (sport, dport, len) = match fam {
            Fam::V4 => (67, 68, 32),
            Fam::V6 => (547, 546, 128),
        };
        let mut dests: Vec<String> = port
            .fixed_ips
            .iter()
            .filter(|f| Fam::of(&f.ip_address) == fam)
            .map(|f| format!("{}/{len}", f.ip_address))
            .collect();
        dests.push(match fam {
            Fam::V4 => "255.255.255.255/32".into(),
            Fam::V6 => "fe80::/64".into(),
        });
        for d in dests {
            let mut r = AgentRule::provider(fam.ethertype(), "DHCP replies");
            r.protocol = Some("udp".into());
            r.port_range_min = Some(dport);
            r.port_range_max = Some(dport);
            r.source_port_range_min = Some(sport);
            r.source_port_range_max = Some(sport);
            r.dest_ip_prefix = Some(d);
            out.push(r);
        }
    }
    out
}

/// `_ip_prefix_arg`: a bare address gets its host length, a `/0` is no constraint.
fn prefix_arg(prefix: &str) -> Option<String> {
    if !prefix.contains('/') {
        return Some(canonical_net(prefix).map_or_else(|| prefix.to_string(), |n| ip_to_cidr(&n)));
    }
    if prefix.ends_with("/0") {
        return None;
    }
    Some(prefix.to_string())
}

/// `_generate_protocol_and_port_args`: `-p`, the protocol module when a port or
/// type is given, then source and destination ports (or ICMP type/code).
fn protocol_and_port_args(r: &AgentRule) -> Vec<String> {
    let name = r.protocol.as_deref().and_then(neutron_protocol_name);
    let mut args = Vec::new();
    let is_port = r.source_port_range_min.is_some() || r.port_range_min.is_some();
    if let Some(n) = &name {
        args.push(format!("-p {n}"));
        let module = match n.as_str() {
            "dccp" => Some("dccp"),
            "icmp" => Some("icmp"),
            "ipv6-icmp" => Some("icmp6"),
            "sctp" => Some("sctp"),
            "tcp" => Some("tcp"),
            "udp" => Some("udp"),
            _ => None,
        };
        if let (true, Some(m)) = (is_port, module) {
            args.push(format!("-m {m}"));
        }
    }
    args.extend(port_arg(
        "sport",
        name.as_deref(),
        r.source_port_range_min,
        r.source_port_range_max,
    ));
    args.extend(port_arg(
        "dport",
        name.as_deref(),
        r.port_range_min,
        r.port_range_max,
    ));
    args
}

/// `_port_arg`. A missing maximum counts as the minimum for port protocols
/// (the API fills it so) and as "any code" for ICMP.
fn port_arg(
    direction: &str,
    protocol: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
) -> Vec<String> {
    let Some(min) = min else { return Vec::new() };
    match protocol {
        Some(p @ ("icmp" | "ipv6-icmp")) => {
            let flag = if p == "icmp" {
                "--icmp-type"
            } else {
                "--icmpv6-type"
            };
            match max {
                Some(code) => vec![format!("{flag} {min}/{code}")],
                None => vec![format!("{flag} {min}")],
            }
        }
        Some(p @ ("dccp" | "sctp" | "tcp" | "udp" | "udplite")) => {
            let max = max.unwrap_or(min);
            if min == max {
                if p == "udplite" {
                    vec![format!("-m multiport --{direction}s {min}")]
                } else {
                    vec![format!("--{direction} {min}")]
                }
            } else {
                vec![format!("-m multiport --{direction}s {min}:{max}")]
            }
        }
        _ => Vec::new(),
    }
}

/// Members of a remote group's set: fixed IPs and pair IPs of every port in
/// the group (any host); a /0 becomes two /1s; host bits cleared, sorted as
/// `ipset save -sorted` prints them.
fn group_members(cloud: &Cloud, group: &str, fam: Fam) -> Vec<IpNet> {
    let mut set = BTreeSet::new();
    for p in cloud
        .ports
        .iter()
        .filter(|p| p.security_groups.iter().any(|g| g == group))
    {
        for net in p.addresses() {
            if Fam::of(&net.addr()) != fam {
                continue;
            }
            if net.prefix_len() == 0 {
                let halves: [&str; 2] = match fam {
                    Fam::V4 => ["0.0.0.0/1", "128.0.0.0/1"],
                    Fam::V6 => ["::/1", "8000::/1"],
                };
                set.extend(halves.iter().filter_map(|h| h.parse::<IpNet>().ok()));
            } else {
                set.insert(net.trunc());
            }
        }
    }
    let mut v: Vec<IpNet> = set.into_iter().collect();
    v.sort_by_key(|n| (n.addr(), n.prefix_len()));
    v
}

/// Renders one host; `opts` picks how the kernel's tools print.
pub fn render_host_with(
    cloud: &Cloud,
    host: &str,
    opts: &RenderOptions,
) -> Result<HostRules, RenderError> {
    let mut ports: Vec<&Port> = cloud.ports.iter().filter(|p| p.host_id == host).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    for p in &ports {
        check_id(p)?;
    }
    if ports.is_empty() {
        // The agent's prepare_devices_filter returns early without devices:
        // nothing is programmed. Legacy iptables still shows the IPv4 raw table
        // that the firewall's start-up `iptables-save -t raw` created.
        let mut empty = HostRules::default();
        if opts.flavor == SaveFlavor::Legacy {
            empty.iptables_save =
                "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n".into();
        }
        return Ok(empty);
    }
    let trusted: Vec<&Port> = ports
        .iter()
        .copied()
        .filter(|p| p.device_owner.starts_with("network:"))
        .collect();
    let devices: Vec<&Port> = ports
        .iter()
        .copied()
        .filter(|p| !p.device_owner.starts_with("network:"))
        .collect();

    let mut r = Renderer {
        cloud,
        v4: Family::default(),
        v6: Family::default(),
        sets: Vec::new(),
        sg_rules: BTreeMap::new(),
        zones: BTreeMap::new(),
    };

    // security_group_info_for_ports: rules of every group of the devices, and the
    // remote groups (per ethertype) the rules name. The agent asks for the
    // devices in chunks of rpc_resources_processing_step (20) and merges the
    // answers with dict.update, so a remote group named in a later chunk keeps
    // only the ethertypes that chunk's rules use: no ipset (and so no rule) for
    // the others (neutron/agent/securitygroups_rpc.py _apply_port_filter).
    let mut remote: Vec<(String, Vec<Ethertype>)> = Vec::new();
    for chunk in ports.chunks(RPC_RESOURCES_STEP) {
        let mut answer: Vec<(String, Vec<Ethertype>)> = Vec::new();
        for p in chunk
            .iter()
            .filter(|p| !p.device_owner.starts_with("network:"))
        {
            for g in &p.security_groups {
                let group = cloud.group(g).filter(|x| x.id == *g).ok_or_else(|| {
                    RenderError::UnknownGroup {
                        port: port_label(p),
                        group: g.clone(),
                    }
                })?;
                let rules = r
                    .sg_rules
                    .entry(g.clone())
                    .or_insert_with(|| agent_rules(group))
                    .clone();
                for rule in rules {
                    if let Some(rg) = rule.remote_group_id {
                        let i = match answer.iter().position(|(id, _)| *id == rg) {
                            Some(i) => i,
                            None => {
                                answer.push((rg, Vec::new()));
                                answer.len() - 1
                            }
                        };
                        if !answer[i].1.contains(&rule.ethertype) {
                            answer[i].1.push(rule.ethertype);
                        }
                    }
                }
            }
        }
        for (rg, ethertypes) in answer {
            match remote.iter_mut().find(|(id, _)| *id == rg) {
                Some(entry) => entry.1 = ethertypes,
                None => remote.push((rg, ethertypes)),
            }
        }
    }
    for (rg, ethertypes) in &remote {
        for e in ethertypes {
            let fam = if *e == Ethertype::IPv4 {
                Fam::V4
            } else {
                Fam::V6
            };
            r.sets
                .push((ipset_name(rg, *e), fam, group_members(r.cloud, rg, fam)));
        }
    }

    r.setup_manager();
    for p in &trusted {
        r.trusted_port(p);
    }
    let wsg = wrapped("sg-chain");
    r.both(|t| t.filter.chain(&wsg));
    let mut zones: BTreeMap<&str, u16> = BTreeMap::new();
    let (filtered, unfiltered): (Vec<&Port>, Vec<&Port>) =
        devices.iter().partition(|p| p.port_security_enabled);
    for p in &filtered {
        if p.mac_address.is_empty() {
            return Err(RenderError::MissingMac {
                port: port_label(p),
            });
        }
        let z = r.conntrack_jump(p, host)?;
        zones.insert(&p.id, z);
        r.nat_short_circuit(p);
        r.setup_chain(p, RuleDirection::Ingress);
        r.setup_chain(p, RuleDirection::Egress);
    }
    r.both(|t| t.filter.add(&wsg, "-j ACCEPT", Origin::Dispatch));
    for p in &unfiltered {
        r.unfiltered_port(p);
    }

    let plumbing = ports
        .iter()
        .map(|p| PortPlumbing {
            port_id: p.id.clone(),
            tap: device_name("tap", &p.id),
            qvb: device_name("qvb", &p.id),
            qvo: device_name("qvo", &p.id),
            qbr: device_name("qbr", &p.id),
            zone: zones.get(p.id.as_str()).copied().unwrap_or(0),
        })
        .collect();

    let mut provenance = Provenance::default();
    Ok(HostRules {
        iptables_save: print_family(&r.v4, opts.flavor.table_order(false), 4, &mut provenance),
        ip6tables_save: print_family(&r.v6, opts.flavor.table_order(true), 6, &mut provenance),
        ipset_save: print_sets(&r.sets),
        ports: plumbing,
        provenance,
    })
}

fn print_family(f: &Family, order: &[&str], family: u8, prov: &mut Provenance) -> String {
    let mut out = String::new();
    for table in order {
        let (t, builtins): (&Table, &[&str]) = match *table {
            "filter" => (&f.filter, &["INPUT", "FORWARD", "OUTPUT"]),
            "raw" => (&f.raw, &["PREROUTING", "OUTPUT"]),
            _ => (&f.nat, &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        };
        print_table(&mut out, table, t, builtins, family, prov);
    }
    out
}

fn print_table(
    out: &mut String,
    name: &str,
    t: &Table,
    builtins: &[&str],
    family: u8,
    prov: &mut Provenance,
) {
    let rules = t.ordered();
    out.push_str(&format!("*{name}\n"));
    for b in builtins {
        out.push_str(&format!(":{b} ACCEPT [0:0]\n"));
    }
    let user: BTreeSet<&str> = t
        .chains
        .iter()
        .map(String::as_str)
        .filter(|c| !builtins.contains(c))
        .collect();
    for c in &user {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    for c in builtins.iter().copied().chain(user.iter().copied()) {
        for (r, origins) in rules.get(c).into_iter().flatten() {
            out.push_str(&format!("-A {c} {r}\n"));
            prov.push(family, name, c, origins.clone());
        }
    }
    out.push_str("COMMIT\n");
}

fn print_sets(sets: &[(String, Fam, Vec<IpNet>)]) -> String {
    let mut out = String::new();
    for (name, fam, members) in sets {
        let family = if *fam == Fam::V4 { "inet" } else { "inet6" };
        out.push_str(&format!(
            "create {name} hash:net family {family} hashsize 1024 maxelem 65536 bucketsize 12\n"
        ));
        for m in members {
            if m.prefix_len() == m.max_prefix_len() {
                out.push_str(&format!("add {name} {}\n", m.addr()));
            } else {
                out.push_str(&format!("add {name} {m}\n"));
            }
        }
    }
    out
}

/// `ipset save` output made comparable with [`HostRules::ipset_save`]: the
/// random ` initval 0x...` dropped and each set's `add` lines sorted by
/// (address, prefix). `ipset save -sorted` orders only by the first 64 bits of
/// an IPv6 address (members within one /64 come out in hash order, which
/// changes with the random initval), so a line-for-line check must sort.
pub fn normalize_ipset_save(text: &str) -> String {
    let mut out = String::new();
    let mut adds: Vec<(Option<IpNet>, String)> = Vec::new();
    let flush = |adds: &mut Vec<(Option<IpNet>, String)>, out: &mut String| {
        adds.sort_by_key(|(n, l)| (n.map(|n| (n.addr(), n.prefix_len())), l.clone()));
        for (_, l) in adds.drain(..) {
            out.push_str(&l);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with("add ") {
            let net = line.split_whitespace().nth(2).and_then(canonical_net);
            adds.push((net, line.to_string()));
            continue;
        }
        flush(&mut adds, &mut out);
        let line = match line.find(" initval 0x") {
            Some(i) => {
                let rest = &line[i + " initval 0x".len()..];
                let end = rest.find(' ').unwrap_or(rest.len());
                format!("{}{}", &line[..i], &rest[end..])
            }
            None => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    flush(&mut adds, &mut out);
    out
}

/// `iptables-save` output made comparable with [`HostRules::iptables_save`]:
/// `#` lines dropped, chain counters set to `[0:0]`, `-c` rule counters removed.
pub fn normalize_iptables_save(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let line = if line.starts_with(':') {
            match line.rfind(" [") {
                Some(i) if line.ends_with(']') => format!("{} [0:0]", &line[..i]),
                _ => line.to_string(),
            }
        } else if let Some(rest) = line.strip_prefix('[') {
            // `iptables-save -c` prefixes rules with [p:b]
            rest.split_once("] ")
                .map_or_else(|| line.to_string(), |(_, r)| r.to_string())
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
