//! A small Neutron cloud on the real kernel with `iptables_hybrid`: one
//! compute-host namespace per Neutron host ([`ComputeHost`], the hybrid
//! plumbing per port), their `br-int` bridges linked into one L2 segment, each
//! host's rules as vipwire renders them loaded into real iptables and ipset,
//! and the OVS agent's ARP spoofing protection stood in for by ebtables.
//!
//! `br-int` is a Linux bridge here (no openvswitch kernel module), so the
//! agent's OpenFlow ARP protection (table 24: a port may send ARP only with a
//! sender IP among its fixed IPs and allowed address pairs; ports without port
//! security and network-owned ports are skipped, ovs_neutron_agent.py
//! `setup_arp_spoofing_protection`) becomes one ebtables chain per port on
//! `br-int`'s FORWARD hook, built from the same Neutron data. The sender-MAC
//! check (table 25) is not emulated.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use neutron::firewall::iptables_hybrid::{device_name, render_host, HostRules};
use neutron::model::{Cloud, Port};

use crate::field::ComputeHost;
use crate::netns::{veth, Netns};

/// The hosts of the cloud, by Neutron host name (`binding:host_id`).
#[derive(Debug)]
pub struct HybridCloud {
    pub hosts: BTreeMap<String, ComputeHost>,
}

impl HybridCloud {
    /// For every port named in `ports`, a VM namespace `<prefix><name>` on the
    /// host namespace `<prefix>h-<host>` of its binding; the hosts' `br-int`s
    /// linked to the first host's (veth `lk<i>` -- `lk0`). Nothing is loaded yet.
    pub fn new(prefix: &str, cloud: &Cloud, ports: &[&str]) -> Result<HybridCloud> {
        let mut by_host: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for name in ports {
            let p = cloud
                .port(name)
                .with_context(|| format!("port {name:?} not in the cloud"))?;
            if p.host_id.is_empty() {
                bail!("port {name} is not bound to a host");
            }
            by_host.entry(p.host_id.clone()).or_default().push(name);
        }
        let mut hosts = BTreeMap::new();
        for (host, names) in &by_host {
            let rules = render_host(cloud, host)?;
            let h = ComputeHost::new(&format!("{prefix}h-{host}"), prefix, cloud, &rules, names)?;
            hosts.insert(host.clone(), h);
        }
        let cloud = HybridCloud { hosts };
        let mut it = cloud.hosts.values();
        if let Some(first) = it.next() {
            for (i, h) in it.enumerate() {
                let a = format!("lk{}", i + 1);
                veth(&first.ns, &a, &h.ns, "lk0")?;
                for (ns, dev) in [(&first.ns, a.as_str()), (&h.ns, "lk0")] {
                    ns.exec(&["ip", "link", "set", dev, "master", "br-int"])?;
                    ns.exec(&["ip", "link", "set", dev, "multicast", "off", "up"])?;
                }
            }
        }
        Ok(cloud)
    }

    /// Render `cloud`'s rules for every host, load them (a full resync, then
    /// conntrack flushed) and install the ARP protection of its ports.
    pub fn load(&self, cloud: &Cloud) -> Result<()> {
        for (host, h) in &self.hosts {
            let rules = render_host(cloud, host)?;
            h.load(&rules)?;
            load_arp_guard(h, cloud, &rules)?;
        }
        Ok(())
    }

    /// The VM namespace of port `name`.
    pub fn vm(&self, name: &str) -> Result<&Netns> {
        self.hosts
            .values()
            .find_map(|h| h.vm(name).ok())
            .with_context(|| format!("no VM for port {name}"))
    }

    /// The compute host named `host` in Neutron.
    pub fn host(&self, host: &str) -> Result<&ComputeHost> {
        self.hosts
            .get(host)
            .with_context(|| format!("no compute host {host}"))
    }

    /// The kernel's packet counter of the rule a `check` drop names: the
    /// ARP-protection stand-in for an ARP spoof drop, else the filter rule,
    /// whose text must equal check's.
    pub fn rule_counter(&self, d: &check::diagnose::Drop) -> Result<u64> {
        if d.kind == check::diagnose::DropKind::ArpSpoof {
            return self.arp_drops(&d.port_id);
        }
        if d.table != "filter" {
            bail!(
                "a drop in table {} ({:?}) is not replayed in this lab",
                d.table,
                d.kind
            );
        }
        let rules = self.host(&d.host)?.filter_chain(&d.chain)?;
        let (n, text) = rules
            .get(d.rule_num - 1)
            .cloned()
            .with_context(|| format!("{} has no rule {}", d.chain, d.rule_num))?;
        if text != d.rule_text {
            bail!(
                "the kernel's rule differs from check's:\n  kernel {text}\n  check  {}",
                d.rule_text
            );
        }
        Ok(n)
    }

    /// Packets the ARP protection of port `port_id` has dropped so far.
    pub fn arp_drops(&self, port_id: &str) -> Result<u64> {
        for h in self.hosts.values() {
            if h.vms.iter().any(|v| v.port_id == port_id) {
                let out = h.ns.exec(&["ebtables", "-L", "--Lc"])?;
                return arp_drop_count(&out, &arp_chain(port_id))
                    .with_context(|| format!("no ARP protection for port {port_id}"));
            }
        }
        bail!("port {port_id} has no VM in the lab")
    }
}

/// The ebtables chain of a port's ARP protection: `arp-<qvo device>`.
fn arp_chain(port_id: &str) -> String {
    format!("arp-{}", device_name("qvo", port_id))
}

/// The addresses the OVS agent lets a port claim in ARP: its IPv4 fixed IPs
/// and allowed-address-pair CIDRs; `None` for ports it does not protect.
pub fn arp_allowed(port: &Port) -> Option<Vec<String>> {
    if !port.port_security_enabled || port.device_owner.starts_with("network:") {
        return None;
    }
    let mut v: Vec<String> = port
        .fixed_ips
        .iter()
        .filter(|f| f.ip_address.is_ipv4())
        .map(|f| format!("{}/32", f.ip_address))
        .collect();
    v.extend(
        port.allowed_address_pairs
            .iter()
            .filter(|p| p.ip_address.addr().is_ipv4())
            .map(|p| p.ip_address.trunc().to_string()),
    );
    Some(v)
}

/// Replace the ebtables rules of host `h` with the ARP protection of the
/// ports in `rules` (as the agent's flows would be after a resync).
fn load_arp_guard(h: &ComputeHost, cloud: &Cloud, rules: &HostRules) -> Result<()> {
    h.ns.exec(&["ebtables", "-F"])?;
    h.ns.exec(&["ebtables", "-X"])?;
    for plumb in &rules.ports {
        let Some(port) = cloud.ports.iter().find(|p| p.id == plumb.port_id) else {
            continue;
        };
        let Some(allowed) = arp_allowed(port) else {
            continue;
        };
        let chain = arp_chain(&port.id);
        h.ns.exec(&["ebtables", "-N", &chain, "-P", "RETURN"])?;
        h.ns.exec(&[
            "ebtables", "-A", "FORWARD", "-p", "ARP", "-i", &plumb.qvo, "-j", &chain,
        ])?;
        for net in &allowed {
            h.ns.exec(&[
                "ebtables",
                "-A",
                &chain,
                "-p",
                "ARP",
                "--arp-ip-src",
                net,
                "-j",
                "RETURN",
            ])?;
        }
        h.ns.exec(&["ebtables", "-A", &chain, "-j", "DROP"])?;
    }
    Ok(())
}

/// In `ebtables -L --Lc` output, the packet count of the `-j DROP` rule of `chain`.
fn arp_drop_count(listing: &str, chain: &str) -> Option<u64> {
    let head = format!("Bridge chain: {chain},");
    let mut lines = listing.lines().skip_while(|l| !l.starts_with(&head));
    lines.next()?;
    lines
        .take_while(|l| !l.starts_with("Bridge chain:"))
        .find(|l| l.starts_with("-j DROP"))?
        .split("pcnt = ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_count_of_one_chain() {
        let l = "Bridge table: filter\n\nBridge chain: FORWARD, entries: 1, policy: ACCEPT\n\
            -p ARP -i qvoa -j arp-qvoa , pcnt = 9 -- bcnt = 378\n\n\
            Bridge chain: arp-qvoa, entries: 2, policy: RETURN\n\
            -p ARP --arp-ip-src 203.0.113.21 -j RETURN , pcnt = 2 -- bcnt = 84\n\
            -j DROP , pcnt = 7 -- bcnt = 294\n\n\
            Bridge chain: arp-qvob, entries: 1, policy: RETURN\n-j DROP , pcnt = 1 -- bcnt = 42\n";
        assert_eq!(arp_drop_count(l, "arp-qvoa"), Some(7));
        assert_eq!(arp_drop_count(l, "arp-qvob"), Some(1));
        assert_eq!(arp_drop_count(l, "arp-qvoc"), None);
    }
}
