//! The agent's pass over one host (neutron/agent/securitygroups_rpc.py,
//! `prepare_devices_filter`): the security group info fetched in chunks of
//! [`RPC_RESOURCES_STEP`] devices, the remote-group sets, then the driver over
//! the trusted, filtered and port-security-off ports, and what the kernel
//! prints afterwards.

use std::collections::BTreeMap;

use super::ipset::{group_members, ipset_name, print_sets};
use super::manager::{print_family, Family};
use super::names::{device_name, wrapped};
use super::sg_info::agent_rules;
use super::{
    check_id, port_label, Fam, HostRules, PortPlumbing, RenderError, RenderOptions, Renderer,
};
use crate::firewall::provenance::{Origin, Provenance};
use crate::firewall::SaveFlavor;
use crate::model::{Cloud, Ethertype, Port, RuleDirection};

/// `rpc_resources_processing_step` default: devices per security group info request.
pub const RPC_RESOURCES_STEP: usize = 20;

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
