//! Logical switch ports as ML2/OVN writes them (neutron 29.0.0,
//! ovn_client.py `create_port`, `_get_port_options`,
//! `get_external_ids_from_port`, `_get_allowed_addresses_from_port`; utils.py
//! `get_port_type_virtual_and_parents`, `get_lsp_dhcp_opts`): `addresses`,
//! `port_security` (one entry per MAC, CIDR pairs kept as written),
//! `unknown` for port security off, `type: virtual` for a port whose fixed IP
//! is another port's pair IP.
//!
//! Every column and where its value comes from (GET = the port's API field):
//!
//! - `name`: the port id. `enabled`: GET `admin_state_up`.
//! - `type`: `virtual` (above); `router` for a router's port (addresses
//!   `router`, options `router-port: lrp-<port id>`, for a gateway port also
//!   `nat-addresses: router`, `exclude-lb-vips-from-garp: true`); `localport`
//!   for an OVN metadata port (`network:distributed`, device id `ovnmeta-...`) or an OVN LB health
//!   monitor port (`ovn-lb-hm:distributed`, `ovn-lb-hm...`); `external` for
//!   `binding:vnic_type` direct, direct-physical, macvtap or baremetal without
//!   the `switchdev` capability; `vtep` for a binding profile with
//!   `vtep-physical-switch`; else empty.
//! - `addresses`: `"<mac> <fixed IPs>"` (plus bare pair MACs) when the port has
//!   port security, a type or a DHCP_Options row; `unknown` when it has
//!   neither port security nor a type; none for an unbound, owner-less
//!   `ovn-lb-vip-*` port (GET `binding:vif_type` `unbound`).
//! - `port_security`: see [`LogicalSwitchPort::of`].
//! - `dhcpv4_options` / `dhcpv6_options`: the subnet's DHCP_Options row (the
//!   normalised form names it `dhcp:<subnet cidr>`; a port's extra DHCP
//!   options give it a row of its own with the same cidr): the first fixed IP
//!   of the family whose subnet has DHCP enabled (for IPv6: not `slaac`,
//!   preferring a stateful subnet); none for `network:*` / `neutron:*` owners
//!   or a `dhcp_disabled` extra option. Default assumed:
//!   `[ovn] disable_ovn_dhcp_for_baremetal_ports = false`.
//! - `options`: `requested-chassis` = GET `binding:host_id` (not for virtual or
//!   external ports, nor remote-managed vNICs, whose chassis comes from the
//!   SB), with `,<migrating_to>` and `activation-strategy: rarp` (the default
//!   `[ovn] live_migration_activation_strategy`) while the binding profile has
//!   `migrating_to`; `virtual-ip`, `virtual-parents`; the vtep pair. Assumed
//!   absent: `mcast_flood_reports` (Neutron writes it only for an NB schema
//!   older than 6.3.0, `is_mcast_flood_broken`; OVN 23.03's is 7.0.0) and
//!   the QoS options (a port QoS policy is not in the model).
//! - `parent_name`, `tag`: binding profile `parent_name` / `tag` (container
//!   ports).
//! - `ha_chassis_group` (external ports): the network's group
//!   `neutron-<network id>`, assuming no chassis is configured to host
//!   external ports (`enable-chassis-as-extport-host`; with one, Neutron
//!   makes a group `neutron-extport-<port id>` per port).
//! - Not modelled: the remote-managed (SmartNIC DPU) `vif-plug-*` options and
//!   MTU, QoS options, the network-log ACL columns.
//! - `external_ids` (all keys always written, "" when empty): `neutron:cidrs`
//!   (`<fixed IP>/<subnet prefix length>` for fixed IPs of known subnets, space
//!   separated), `neutron:device_id`, `neutron:device_owner`,
//!   `neutron:network_name` (`neutron-<network id>`), `neutron:port_name`,
//!   `neutron:project_id`, `neutron:revision_number` (GET `revision_number`;
//!   `1` when the input lacks it), `neutron:security_group_ids` (space
//!   separated, in API order; "" for `network:*` owners),
//!   `neutron:subnet_pool_addr_scope4/6` (the network's
//!   `ipv4/ipv6_address_scope` when the fixed IP's subnet has a
//!   `subnetpool_id`), `neutron:vnic_type`, `neutron:port_capabilities` (the
//!   binding profile's `capabilities`, `;` separated), `neutron:mtu` (the
//!   network MTU for localport types, else ""). `neutron:host_id`
//!   (`update_lsp_host_info`) = `binding:host_id` once the port is up: written
//!   for a port whose GET `status` is `ACTIVE` (not router interfaces).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::model::{Cloud, Port, Subnet};

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
    /// The subnet broadcast address of each IPv4 CIDR written with host bits
    /// (`10.0.0.4/24` gives 10.0.0.255): the port also receives for it
    /// (ovn-controller 23.03 `build_out_port_sec_ip4_flows`).
    pub broadcasts: Vec<IpAddr>,
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
    /// The `type` column (`""`, `virtual`, `localport`, `external`, `vtep`).
    pub lsp_type: String,
    /// `enabled` (the port's `admin_state_up`).
    pub enabled: bool,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `dhcpv4_options` / `dhcpv6_options`: the CIDR of the DHCP_Options row
    /// referenced (the subnet's).
    pub dhcpv4_options: Option<String>,
    pub dhcpv6_options: Option<String>,
    /// `parent_name` and `tag` (container ports).
    pub parent_name: Option<String>,
    pub tag: Option<u64>,
    /// `ha_chassis_group` of an external port, by the group's name.
    pub ha_chassis_group: Option<String>,
}

/// Floating IP ports never become logical ports (`is_lsp_ignored`).
pub(super) fn ignored(port: &Port) -> bool {
    port.device_owner == "network:floatingip"
}

fn trusted(port: &Port) -> bool {
    port.device_owner.starts_with("network:")
}

impl LogicalSwitchPort {
    /// The row Neutron writes for `port`. `port_security`: one entry `"<mac>
    /// <fixed IPs> <pairs with the port's MAC>"`, and for a pair with another
    /// MAC `"<pair mac> <ip>"` plus `"VRRPv3 <mac> <pair mac> <ip>"`; none
    /// without port security or for `network:*` owners.
    pub fn of(cloud: &Cloud, port: &Port) -> LogicalSwitchPort {
        let mac = port.mac_address.to_lowercase();
        let fixed: Vec<IpAddr> = port.fixed_ips.iter().map(|f| f.ip_address).collect();
        let profile = &port.binding_profile;
        let vtep = profile_str(profile, "vtep-physical-switch");
        let mut address = port.mac_address.clone();
        for ip in &fixed {
            address += &format!(" {ip}");
        }
        let mut port_security = Vec::new();
        let mut new_macs: Vec<String> = Vec::new();
        if port.port_security_enabled && !trusted(port) && vtep.is_none() {
            let mut own = address.clone();
            for pair in &port.allowed_address_pairs {
                let ip = pair.written();
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
        // Neutron decides `virtual` for any owner; the pipeline still treats a
        // `network:*` port as trusted.
        let virt = virtual_type(cloud, port);
        let kind = if trusted(port) {
            LspType::Trusted
        } else {
            virt.clone().unwrap_or(LspType::Normal)
        };
        let lsp_type = if vtep.is_some() {
            "vtep"
        } else if external_port(port) {
            "external"
        } else if localport(port) {
            "localport"
        } else if virt.is_some() {
            "virtual"
        } else {
            ""
        };
        let dhcpv4_options = dhcp_options(cloud, port, 4);
        let dhcpv6_options = dhcp_options(cloud, port, 6);
        // `addresses` lists the MAC and fixed IPs when the port has port
        // security, a type, or native DHCP; without port security or a type
        // it also gets `unknown`.
        let mut addresses = Vec::new();
        if vtep.is_some() {
            addresses.push("unknown".to_string());
        } else {
            if !port_security.is_empty()
                || !lsp_type.is_empty()
                || dhcpv4_options.is_some()
                || dhcpv6_options.is_some()
            {
                addresses.push(address);
                addresses.extend(new_macs);
            }
            if port_security.is_empty() && lsp_type.is_empty() {
                addresses.push("unknown".to_string());
            }
        }
        // create_port: an unbound, owner-less OVN LB VIP port has none.
        if port.name.starts_with("ovn-lb-vip-")
            && port.device_owner.is_empty()
            && port.vif_type == "unbound"
        {
            addresses.clear();
        }
        let mut options = Vec::new();
        if let Some(sw) = &vtep {
            options.push(("vtep-physical-switch".to_string(), sw.clone()));
            options.push((
                "vtep-logical-switch".to_string(),
                profile_str(profile, "vtep-logical-switch").unwrap_or_default(),
            ));
        }
        if let Some(LspType::Virtual { ip, parents }) = &virt {
            if vtep.is_none() {
                options.push(("virtual-ip".to_string(), ip.to_string()));
                options.push(("virtual-parents".to_string(), parents.join(",")));
            }
        }
        if lsp_type != "external" && lsp_type != "virtual" {
            // `_configure_requested_chassis_options`, `determine_bind_host`.
            let host = if port.vnic_type == "remote-managed" {
                String::new()
            } else {
                port.host_id.clone()
            };
            if !host.is_empty() {
                let mut chassis = host;
                if let Some(dst) = profile_str(profile, "migrating_to") {
                    chassis += &format!(",{dst}");
                    if port.vif_type != "vhostuser" {
                        options.push(("activation-strategy".to_string(), "rarp".to_string()));
                    }
                }
                options.push(("requested-chassis".to_string(), chassis));
            }
        }
        // A router's port: the L3 plugin turns the row into the peer of the
        // router port `lrp-<id>` (`_create_lrouter_port`,
        // `SetLSwitchPortToRouterTypeCommand`): type `router`, addresses
        // `router`, options replaced by the router-port ones (a later
        // `update_port` adds back `requested-chassis`). Not measured here.
        let lsp_type = if router_port(port) {
            addresses = vec!["router".to_string()];
            options.retain(|(k, _)| k == "requested-chassis");
            options.push(("router-port".to_string(), format!("lrp-{}", port.id)));
            if port.device_owner == "network:router_gateway" {
                options.push(("nat-addresses".to_string(), "router".to_string()));
                options.push(("exclude-lb-vips-from-garp".to_string(), "true".to_string()));
            }
            "router"
        } else {
            lsp_type
        };
        let security = port_security
            .iter()
            .filter(|e| !e.starts_with("VRRPv3 "))
            .map(|e| parse_entry(e))
            .collect();
        let external_ids = external_ids(cloud, port, lsp_type);
        let (parent_name, tag) = if vtep.is_some() {
            (None, None)
        } else {
            (
                profile_str(profile, "parent_name"),
                profile.get("tag").and_then(|t| match t {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                }),
            )
        };
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
            lsp_type: lsp_type.to_string(),
            enabled: port.admin_state_up,
            external_ids,
            dhcpv4_options,
            dhcpv6_options,
            parent_name,
            tag,
            // `sync_ha_chassis_group_network`: the network's group
            // `neutron-<network id>` when no chassis is marked to host
            // external ports (with such chassis, `neutron-extport-<port id>`).
            ha_chassis_group: (lsp_type == "external")
                .then(|| format!("neutron-{}", port.network_id)),
        }
    }

    /// Every MAC this port may send from.
    pub fn macs(&self) -> Vec<&str> {
        self.security.iter().map(|e| e.mac.as_str()).collect()
    }
}

/// A string value of the binding profile.
fn profile_str(profile: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match profile.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `utils.is_lsp_router_port`: the owners in `ROUTER_PORT_OWNERS`.
fn router_port(port: &Port) -> bool {
    matches!(
        port.device_owner.as_str(),
        "network:router_interface"
            | "network:ha_router_replicated_interface"
            | "network:router_interface_distributed"
            | "network:router_centralized_snat"
            | "network:router_gateway"
    )
}

/// `utils.is_port_external`: a vNIC OVN does not bind itself (SR-IOV,
/// baremetal) unless the binding profile says `switchdev`.
fn external_port(port: &Port) -> bool {
    let switchdev = match port.binding_profile.get("capabilities") {
        Some(Value::Array(caps)) => caps.iter().any(|c| c.as_str() == Some("switchdev")),
        _ => false,
    };
    matches!(
        port.vnic_type.as_str(),
        "direct" | "direct-physical" | "macvtap" | "baremetal"
    ) && !switchdev
}

/// `utils.is_ovn_metadata_port` / `is_ovn_lb_hm_port`.
fn localport(port: &Port) -> bool {
    (port.device_owner == "network:distributed" && port.device_id.starts_with("ovnmeta-"))
        || (port.device_owner == "ovn-lb-hm:distributed" && port.device_id.starts_with("ovn-lb-hm"))
}

/// A subnet has a `DHCP_Options` row when DHCP is enabled, and for IPv6 when
/// its address mode is not SLAAC (`_add_subnet_dhcp_options`,
/// `is_dhcp_options_ignored`).
fn has_dhcp_row(s: &Subnet) -> bool {
    s.enable_dhcp && !(s.ip_version == 6 && s.ipv6_address_mode.as_deref() == Some("slaac"))
}

/// The CIDR of the DHCP_Options row a port's `dhcpv4_options` /
/// `dhcpv6_options` references (`_get_port_dhcp_options`,
/// `_get_subnet_dhcp_options_for_port`): none for a network device owner
/// (`network:*`, `neutron:*`) or a `dhcp_disabled: true` extra option of the
/// family; else the first fixed IP's subnet of the family with a row, for
/// IPv6 the first not `dhcpv6-stateless` one if any.
fn dhcp_options(cloud: &Cloud, port: &Port, version: u8) -> Option<String> {
    if port.device_owner.starts_with("network:") || port.device_owner.starts_with("neutron:") {
        return None;
    }
    let disabled = port.extra_dhcp_opts.iter().any(|o| {
        o.ip_version == version
            && o.opt_name == "dhcp_disabled"
            && o.opt_value.eq_ignore_ascii_case("true")
    });
    if disabled {
        return None;
    }
    let rows: Vec<&Subnet> = port
        .fixed_ips
        .iter()
        .filter(|f| {
            (f.ip_address.is_ipv4() && version == 4) || (f.ip_address.is_ipv6() && version == 6)
        })
        .filter_map(|f| cloud.subnets.iter().find(|s| s.id == f.subnet_id))
        .filter(|s| has_dhcp_row(s))
        .collect();
    let pick = if version == 6 {
        rows.iter()
            .find(|s| s.ipv6_address_mode.as_deref() != Some("dhcpv6-stateless"))
            .or(rows.first())
    } else {
        rows.first()
    };
    pick.map(|s| s.cidr.to_string())
}

/// `get_external_ids_from_port` (and `update_lsp_host_info` for
/// `neutron:host_id`).
fn external_ids(cloud: &Cloud, port: &Port, lsp_type: &str) -> BTreeMap<String, String> {
    let network = cloud.networks.iter().find(|n| n.id == port.network_id);
    let mut cidrs = Vec::new();
    let (mut scope4, mut scope6) = (String::new(), String::new());
    for f in &port.fixed_ips {
        let Some(s) = cloud.subnets.iter().find(|s| s.id == f.subnet_id) else {
            continue;
        };
        cidrs.push(format!("{}/{}", f.ip_address, s.cidr.prefix_len()));
        // `get_subnets_address_scopes`: the scope of the subnet's pool, which
        // the API shows on the network.
        if s.subnetpool_id.is_some() {
            if let Some(n) = network {
                let scope = if s.ip_version == 4 {
                    &n.ipv4_address_scope
                } else {
                    &n.ipv6_address_scope
                };
                if let Some(sc) = scope {
                    if s.ip_version == 4 {
                        scope4 = sc.clone();
                    } else {
                        scope6 = sc.clone();
                    }
                }
            }
        }
    }
    let groups = if trusted(port) {
        String::new()
    } else {
        port.security_groups.join(" ")
    };
    let capabilities = match port.binding_profile.get("capabilities") {
        Some(Value::Array(caps)) => caps
            .iter()
            .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(";"),
        _ => String::new(),
    };
    // Only localport types (metadata, LB health monitor) carry the MTU.
    let mtu = if lsp_type == "localport" {
        network
            .map(|n| n.mtu.unwrap_or(super::DEFAULT_MTU).to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(format!("neutron:{k}"), v);
    };
    put("cidrs", cidrs.join(" "));
    put("device_id", port.device_id.clone());
    put("device_owner", port.device_owner.clone());
    put("mtu", mtu);
    put("network_name", format!("neutron-{}", port.network_id));
    put("port_capabilities", capabilities);
    put("port_name", port.name.clone());
    put("project_id", port.project_id.clone());
    put(
        "revision_number",
        port.revision_number
            .unwrap_or(super::DEFAULT_REVISION)
            .to_string(),
    );
    put("security_group_ids", groups);
    put("subnet_pool_addr_scope4", scope4);
    put("subnet_pool_addr_scope6", scope6);
    put("vnic_type", port.vnic_type.clone());
    let router_port = matches!(
        port.device_owner.as_str(),
        "network:router_interface"
            | "network:router_interface_distributed"
            | "network:router_ha_interface"
            | "network:ha_router_replicated_interface"
            | "trunk:subport"
    );
    if port.status == "ACTIVE" && !port.host_id.is_empty() && !router_port {
        put("host_id", port.host_id.clone());
    }
    m
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
    let mut addrs = Vec::new();
    let mut broadcasts = Vec::new();
    for w in words {
        if let Ok(ip) = w.parse::<IpAddr>() {
            addrs.push(IpNet::from(ip));
            continue;
        }
        let Ok(net) = w.parse::<IpNet>() else {
            continue;
        };
        if net.trunc() == net {
            addrs.push(net);
        } else {
            addrs.push(IpNet::from(net.addr()));
            if let IpNet::V4(v4) = net {
                broadcasts.push(IpAddr::V4(v4.broadcast()));
            }
        }
    }
    PortSecurityEntry {
        mac,
        addrs,
        broadcasts,
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
pub fn virtual_type(cloud: &Cloud, port: &Port) -> Option<LspType> {
    for f in &port.fixed_ips {
        let text = f.ip_address.to_string();
        let mut parents: Vec<String> = cloud
            .ports
            .iter()
            .filter(|p| p.fixed_ips.iter().any(|pf| pf.subnet_id == f.subnet_id))
            .filter(|p| p.allowed_address_pairs.iter().any(|a| a.written() == text))
            .map(|p| p.id.clone())
            .collect();
        if !parents.is_empty() {
            // Neutron joins a Python set here, in hash-seed order: print sorted
            // (normalisation N8 in docs/conformance-ovn.md).
            parents.sort();
            return Some(LspType::Virtual {
                ip: f.ip_address,
                parents,
            });
        }
    }
    None
}
