//! Logical switch ports as ML2/OVN writes them: `addresses`, `port_security`
//! (one entry per MAC, CIDR pairs kept as written), `unknown` for port
//! security off, and `type: virtual` for an unbound port whose fixed IP is
//! another port's pair IP (ovn_client.py `_get_port_options`,
//! `_get_allowed_addresses_from_port`; utils.py
//! `get_port_type_virtual_and_parents`).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Cloud, Port};

/// `type` of a logical switch port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LspType {
    /// A VM's port (`type` empty).
    Normal,
    /// A VIP port: bound to whichever parent last sent a GARP for `ip`.
    Virtual { ip: IpAddr, parents: Vec<String> },
    /// A Neutron-owned port (router, DHCP): no port security.
    Trusted,
}

/// One `port_security` entry, parsed: a MAC and the addresses it may use
/// (empty: any address with that MAC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSecurityEntry {
    pub mac: String,
    pub addrs: Vec<IpNet>,
    /// The entry as Neutron wrote it.
    pub text: String,
}

/// A row of `Logical_Switch_Port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalSwitchPort {
    /// The Neutron port id.
    pub name: String,
    pub switch: String,
    pub kind: LspType,
    pub mac: String,
    pub fixed_ips: Vec<IpAddr>,
    pub addresses: Vec<String>,
    pub port_security: Vec<String>,
    /// `port_security` parsed; `VRRPv3 ...` entries (which OVN 23.03 ignores)
    /// are left out.
    pub security: Vec<PortSecurityEntry>,
    /// `options`, e.g. `requested-chassis`, `virtual-ip`, `virtual-parents`.
    pub options: Vec<(String, String)>,
}

/// Floating IP ports never become logical ports (`is_lsp_ignored`).
pub(super) fn ignored(port: &Port) -> bool {
    port.device_owner == "network:floatingip"
}

fn trusted(port: &Port) -> bool {
    port.device_owner.starts_with("network:")
}

impl LogicalSwitchPort {
    pub fn of(cloud: &Cloud, port: &Port) -> LogicalSwitchPort {
        let mac = port.mac_address.to_lowercase();
        let fixed: Vec<IpAddr> = port.fixed_ips.iter().map(|f| f.ip_address).collect();
        let mut address = port.mac_address.clone();
        for ip in &fixed {
            address += &format!(" {ip}");
        }
        let mut port_security = Vec::new();
        let mut new_macs: Vec<String> = Vec::new();
        if port.port_security_enabled && !trusted(port) {
            let mut own = address.clone();
            for pair in &port.allowed_address_pairs {
                let ip = pair
                    .ip_text
                    .clone()
                    .unwrap_or_else(|| crate::model::pair_ip_text(&pair.ip_address));
                match &pair.mac_address {
                    Some(m) if *m != port.mac_address => {
                        push_unique(
                            &mut port_security,
                            format!("VRRPv3 {} {m} {ip}", port.mac_address),
                        );
                        push_unique(&mut port_security, format!("{m} {ip}"));
                        push_unique(&mut new_macs, m.clone());
                    }
                    _ => own += &format!(" {ip}"),
                }
            }
            push_unique(&mut port_security, own);
        }
        let kind = if trusted(port) {
            LspType::Trusted
        } else {
            virtual_type(cloud, port).unwrap_or(LspType::Normal)
        };
        // `addresses` lists the MAC and fixed IPs when the port has port
        // security, a type, or native DHCP (not for network-owned ports);
        // without port security or a type it also gets `unknown`.
        let typed = matches!(kind, LspType::Virtual { .. });
        let dhcp = !trusted(port) && has_dhcp_options(cloud, port);
        let mut addresses = Vec::new();
        if !port_security.is_empty() || typed || dhcp {
            addresses.push(address);
            addresses.extend(new_macs);
        }
        if port_security.is_empty() && !typed {
            addresses.push("unknown".to_string());
        }
        let mut options = Vec::new();
        match &kind {
            LspType::Virtual { ip, parents } => {
                options.push(("virtual-ip".to_string(), ip.to_string()));
                options.push(("virtual-parents".to_string(), parents.join(",")));
            }
            _ if !port.host_id.is_empty() => {
                options.push(("requested-chassis".to_string(), port.host_id.clone()))
            }
            _ => {}
        }
        let security = port_security
            .iter()
            .filter(|e| !e.starts_with("VRRPv3 "))
            .map(|e| parse_entry(e))
            .collect();
        LogicalSwitchPort {
            name: port.id.clone(),
            switch: format!("neutron-{}", port.network_id),
            kind,
            mac,
            fixed_ips: fixed,
            addresses,
            port_security,
            security,
            options,
        }
    }

    /// Every MAC this port may send from.
    pub fn macs(&self) -> Vec<&str> {
        self.security.iter().map(|e| e.mac.as_str()).collect()
    }
}

/// A subnet of the port's fixed IPs has a `DHCP_Options` row: DHCP enabled,
/// and for IPv6 an address mode other than SLAAC (`is_dhcp_options_ignored`).
fn has_dhcp_options(cloud: &Cloud, port: &Port) -> bool {
    port.fixed_ips.iter().any(|f| {
        cloud
            .subnets
            .iter()
            .find(|s| s.id == f.subnet_id)
            .is_some_and(|s| {
                s.enable_dhcp
                    && !(s.ip_version == 6 && s.ipv6_address_mode.as_deref() == Some("slaac"))
            })
    })
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// A `port_security` entry: `"<mac> <ip or cidr>..."`. A CIDR with host bits
/// set stands for its single address (BRIEF §7: `203.0.113.172/25` is one
/// address, `203.0.113.128/25` the range; ovn-controller's
/// `extract_lsp_addresses` keeps the host address when the bits are set).
pub fn parse_entry(text: &str) -> PortSecurityEntry {
    let mut words = text.split_whitespace();
    let mac = words.next().unwrap_or_default().to_lowercase();
    let addrs = words
        .filter_map(|w| {
            if let Ok(ip) = w.parse::<IpAddr>() {
                return Some(IpNet::from(ip));
            }
            let net: IpNet = w.parse().ok()?;
            if net.trunc() == net {
                Some(net)
            } else {
                Some(IpNet::from(net.addr()))
            }
        })
        .collect();
    PortSecurityEntry {
        mac,
        addrs,
        text: text.to_string(),
    }
}

/// A port whose fixed IP is, as written, a pair IP of a port on the same subnet
/// becomes `virtual` (its first such fixed IP; the parents may include the port
/// itself); a pair given as a CIDR (`/32`) never matches. Neutron decides this
/// when the port is written (`get_port_type_virtual_and_parents`, which does
/// not look at the binding; seen on the real NB with a bound port that is its
/// own parent). When a parent gains the pair later, only an unbound port is
/// turned virtual (`_set_unset_virtual_port_type`): a snapshot cannot tell
/// that history, so this models the create path.
fn virtual_type(cloud: &Cloud, port: &Port) -> Option<LspType> {
    for f in &port.fixed_ips {
        let text = f.ip_address.to_string();
        let parents: Vec<String> = cloud
            .ports
            .iter()
            .filter(|p| p.fixed_ips.iter().any(|pf| pf.subnet_id == f.subnet_id))
            .filter(|p| {
                p.allowed_address_pairs.iter().any(|a| {
                    a.ip_text
                        .clone()
                        .unwrap_or_else(|| crate::model::pair_ip_text(&a.ip_address))
                        == text
                })
            })
            .map(|p| p.id.clone())
            .collect();
        if !parents.is_empty() {
            return Some(LspType::Virtual {
                ip: f.ip_address,
                parents,
            });
        }
    }
    None
}
