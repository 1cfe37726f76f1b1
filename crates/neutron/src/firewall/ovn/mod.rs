//! Neutron's ML2/OVN driver (neutron 29.0.0): the OVN Northbound rows it writes
//! for a cloud's networks, ports and security groups, as typed rows that the
//! logical pipeline (crate `fabric`) evaluates and `vipwire rules --driver ovn`
//! prints.
//!
//! Facts: neutron/plugins/ml2/drivers/ovn/mech_driver/ovsdb/ovn_client.py
//! (`_get_port_options`, `_get_allowed_addresses_from_port`),
//! neutron/common/ovn/acl.py (ACL matches), neutron/common/ovn/utils.py
//! (port-group and address-set names, virtual ports); BRIEF §7.
//!
//! Files: `lsp.rs` (logical switch ports: addresses, port security, virtual
//! ports), `acl.rs` (security group rules to ACLs), `print.rs` (the normalised
//! JSON form the conformance harness compares with the real NB).

mod acl;
mod lsp;
mod print;

pub use acl::{Acl, AclAction, AclDirection, AclMatch, AclProto, AclRemote};
pub use lsp::{virtual_type, LogicalSwitchPort, LspType, PortSecurityEntry};
pub use print::{northbound_json, northbound_text};

use std::collections::BTreeMap;

use crate::model::{Cloud, Network};

/// ACL priority of Neutron's allow rules (`ACL_PRIORITY_ALLOW`).
pub const ACL_PRIORITY_ALLOW: u16 = 1002;
/// ACL priority of `neutron_pg_drop`'s two drops (`ACL_PRIORITY_DROP`).
pub const ACL_PRIORITY_DROP: u16 = 1000;
/// The port group every port with port security joins.
pub const PG_DROP: &str = "neutron_pg_drop";

/// The network MTU assumed when the input does not carry it: a Geneve
/// network over an IPv4 underlay with the 1500-byte `global_physnet_mtu` and
/// `[ml2_type_geneve] max_header_size = 38`, the size OVN needs (Neutron's own
/// default of 30 is documented there as too small for OVN): 1500 - 38 - 20.
pub const DEFAULT_MTU: u32 = 1442;
/// The revision number written when the input does not carry one: the first
/// revision ML2/OVN writes for a new network.
pub const DEFAULT_REVISION: u64 = 1;

/// A logical switch: one per Neutron network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalSwitch {
    /// `neutron-<network id>`.
    pub name: String,
    pub network_id: String,
    /// LSP names (port ids).
    pub ports: Vec<String>,
    /// `external_ids` (see `print.rs` for where each value comes from).
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
}

/// A port group: one per security group, plus `neutron_pg_drop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    /// `pg_<group id with - as _>`, or `neutron_pg_drop`.
    pub name: String,
    /// The security group behind it (None for `neutron_pg_drop`).
    pub group_id: Option<String>,
    /// Member LSP names (port ids).
    pub ports: Vec<String>,
    /// `external_ids`: `neutron:security_group_id` (none for `neutron_pg_drop`).
    pub external_ids: BTreeMap<String, String>,
}

/// Everything Neutron writes into the Northbound DB for a cloud.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Northbound {
    pub switches: Vec<LogicalSwitch>,
    pub ports: Vec<LogicalSwitchPort>,
    pub port_groups: Vec<PortGroup>,
    pub acls: Vec<Acl>,
}

/// The port group name of a security group (`utils.ovn_port_group_name`).
pub fn port_group_name(group_id: &str) -> String {
    format!("pg_{}", group_id.replace('-', "_"))
}

/// The address set northd derives from a port group's members' fixed IPs
/// (`utils.ovn_pg_addrset_name`): `pg_<id>_ip4` / `_ip6`.
pub fn address_set_name(group_id: &str, v6: bool) -> String {
    format!("{}_ip{}", port_group_name(group_id), if v6 { 6 } else { 4 })
}

impl Northbound {
    /// The rows Neutron writes for `cloud`.
    pub fn of(cloud: &Cloud) -> Northbound {
        let mut nb = Northbound::default();
        let mut nets: Vec<&str> = cloud.networks.iter().map(|n| n.id.as_str()).collect();
        nets.extend(cloud.ports.iter().map(|p| p.network_id.as_str()));
        nets.sort_unstable();
        nets.dedup();
        for net in nets {
            let network = cloud
                .networks
                .iter()
                .find(|n| n.id == net)
                .cloned()
                .unwrap_or_else(|| Network {
                    id: net.to_string(),
                    ..Network::default()
                });
            let (external_ids, other_config) = switch_columns(cloud, &network);
            nb.switches.push(LogicalSwitch {
                name: format!("neutron-{net}"),
                network_id: net.to_string(),
                ports: cloud
                    .ports
                    .iter()
                    .filter(|p| p.network_id == net && !lsp::ignored(p))
                    .map(|p| p.id.clone())
                    .collect(),
                external_ids,
                other_config,
            });
        }
        nb.ports = cloud
            .ports
            .iter()
            .filter(|p| !lsp::ignored(p))
            .map(|p| LogicalSwitchPort::of(cloud, p))
            .collect();
        let secured = |p: &&LogicalSwitchPort| !p.port_security.is_empty();
        nb.port_groups.push(PortGroup {
            name: PG_DROP.into(),
            group_id: None,
            ports: nb
                .ports
                .iter()
                .filter(secured)
                .map(|p| p.name.clone())
                .collect(),
            external_ids: BTreeMap::new(),
        });
        for g in &cloud.security_groups {
            let members = cloud
                .ports
                .iter()
                .filter(|p| p.security_groups.contains(&g.id))
                .filter(|p| nb.port(&p.id).is_some_and(|l| !l.port_security.is_empty()))
                .map(|p| p.id.clone())
                .collect();
            nb.port_groups.push(PortGroup {
                name: port_group_name(&g.id),
                group_id: Some(g.id.clone()),
                ports: members,
                external_ids: BTreeMap::from([(
                    "neutron:security_group_id".to_string(),
                    g.id.clone(),
                )]),
            });
            // `pg_acl_add(may_exist=True)`: a rule whose ACL (direction,
            // priority, match) the group already has adds nothing; the first
            // created rule keeps its id on the row.
            let mut rules: Vec<_> = g.rules.iter().collect();
            rules.sort_by_key(|r| r.standard_attr_id.unwrap_or(u64::MAX));
            for r in rules {
                let acl = Acl::of_rule(g, r);
                let exists = nb.acls.iter().any(|a| {
                    a.port_group == acl.port_group
                        && a.direction == acl.direction
                        && a.priority == acl.priority
                        && a.match_text == acl.match_text
                });
                if !exists {
                    nb.acls.push(acl);
                }
            }
        }
        nb.acls.extend(Acl::pg_drop());
        nb
    }

    pub fn port(&self, name: &str) -> Option<&LogicalSwitchPort> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The port groups a logical port is in.
    pub fn groups_of<'a>(&'a self, port: &'a str) -> impl Iterator<Item = &'a PortGroup> + 'a {
        self.port_groups
            .iter()
            .filter(move |g| g.ports.iter().any(|p| p == port))
    }

    /// The ACLs that apply to a port, in one direction.
    pub fn acls_of<'a>(
        &'a self,
        port: &'a str,
        direction: AclDirection,
    ) -> impl Iterator<Item = &'a Acl> + 'a {
        let groups: Vec<&str> = self.groups_of(port).map(|g| g.name.as_str()).collect();
        self.acls
            .iter()
            .filter(move |a| a.direction == direction && groups.contains(&a.port_group.as_str()))
    }

    /// Fixed IPs of a port group's members: northd's `$pg_<id>_ip4/6` address
    /// sets (never pair IPs; BRIEF §7).
    pub fn address_set(&self, group_id: &str, v6: bool) -> Vec<std::net::IpAddr> {
        let name = port_group_name(group_id);
        let Some(pg) = self.port_groups.iter().find(|g| g.name == name) else {
            return Vec::new();
        };
        pg.ports
            .iter()
            .filter_map(|p| self.port(p))
            .flat_map(|p| p.fixed_ips.iter().copied())
            .filter(|ip| ip.is_ipv6() == v6)
            .collect()
    }
}

/// A logical switch's `external_ids` and `other_config`
/// (`ovn_client._gen_network_parameters`).
///
/// - `neutron:network_name` = network name; `neutron:mtu` = network `mtu`
///   ([`DEFAULT_MTU`] when the input lacks it);
///   `neutron:availability_zone_hints` = sorted hints joined by `,` (default
///   `default_availability_zones` = none); `neutron:provnet-network-type` =
///   `provider:network_type` ("" when absent);
///   `neutron:provnet-physical-network` only with a physical network.
/// - `neutron:revision_number`: the revision the network had when Neutron
///   wrote the switch. `create_network` writes it; creating a subnet bumps
///   the network's `revision_number` (`Subnet.revises_on_change`) but
///   `create_subnet` writes only DHCP_Options, so a switch keeps the older
///   number: GET `revision_number` minus the number of its subnets (a
///   network updated since, or repaired by the maintenance task
///   `check_for_inconsistencies`, shows its current number instead: not
///   modelled). [`DEFAULT_REVISION`] when the input lacks it.
/// - `other_config`: `mcast_snoop` / `mcast_flood_unregistered` = `false`
///   (defaults of `[OVS] igmp_snooping_enable` / `igmp_flood_unregistered`),
///   `vlan-passthru` = `vlan_transparent` or `qinq`; `fdb_age_threshold` =
///   `300` (default `[ovn] fdb_age_threshold`) for a provider network (one
///   with a physical network); `broadcast-arps-to-all-routers` = `true`
///   (default `[ovn] broadcast_arps_to_all_routers`) for an external network.
///
/// Not modelled: the `provnet-<segment id>` localnet port of a provider
/// network (the GET output has no segment id).
fn switch_columns(
    cloud: &Cloud,
    n: &Network,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let subnets = if n.subnets.is_empty() {
        cloud
            .subnets
            .iter()
            .filter(|s| s.network_id == n.id)
            .count()
    } else {
        n.subnets.len()
    } as u64;
    let revision = n
        .revision_number
        .map_or(DEFAULT_REVISION, |r| r.saturating_sub(subnets));
    let mut hints = n.availability_zone_hints.clone();
    hints.sort();
    let mut ext = BTreeMap::new();
    let put = |m: &mut BTreeMap<String, String>, k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put(&mut ext, "neutron:network_name", n.name.clone());
    put(
        &mut ext,
        "neutron:mtu",
        n.mtu.unwrap_or(DEFAULT_MTU).to_string(),
    );
    put(&mut ext, "neutron:revision_number", revision.to_string());
    put(&mut ext, "neutron:availability_zone_hints", hints.join(","));
    put(
        &mut ext,
        "neutron:provnet-network-type",
        n.network_type.clone().unwrap_or_default(),
    );
    if let Some(phys) = &n.physical_network {
        put(&mut ext, "neutron:provnet-physical-network", phys.clone());
    }
    let mut other = BTreeMap::new();
    put(&mut other, "mcast_snoop", "false".into());
    put(&mut other, "mcast_flood_unregistered", "false".into());
    put(
        &mut other,
        "vlan-passthru",
        (n.vlan_transparent || n.qinq).to_string(),
    );
    if n.physical_network.is_some() {
        put(&mut other, "fdb_age_threshold", "300".into());
    }
    if n.router_external {
        put(&mut other, "broadcast-arps-to-all-routers", "true".into());
    }
    (ext, other)
}
