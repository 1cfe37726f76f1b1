//! Discovery around a VIP, pure over the [`NeutronApi`] seam: which network the
//! VIP is on, which ports hold it (fixed IP or allowed address pair), every port
//! of that network, their security groups and the groups their rules name as
//! remote (with those groups' member ports, wherever they are, since Neutron
//! builds remote-group sets from them), subnets, routers on the network and
//! floating IPs on the VIP's holders; and which firewall backend the cloud
//! most likely runs, with how that was inferred.
//!
//! Calls, in order (each a filtered list, so a big cloud is not read whole):
//! `GET extensions`; `ports?fixed_ips=ip_address=VIP`; if no port has the VIP
//! as a fixed IP, `subnets` (to find the subnet whose CIDR holds it);
//! `ports?network_id=`; `networks?id=`; `subnets?network_id=`;
//! `security-groups?id=...` until closed under remote groups; member ports of
//! remote groups (`ports?security_groups=` when the
//! `port-security-groups-filtering` extension is there, else all ports);
//! `routers?id=` and `floatingips?port_id=` when the `router` extension is.

use crate::error::OpenStackError;
use ipnet::IpNet;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What discovery needs from Neutron: filtered lists, read whole.
pub trait NeutronApi {
    /// `GET /v2.0/<resource>?<filters>`, every page; repeated keys are ORed.
    fn list(
        &mut self,
        resource: &str,
        filters: &[(&str, String)],
    ) -> Result<Vec<Value>, OpenStackError>;
    /// The aliases of `GET /v2.0/extensions`.
    fn extensions(&mut self) -> Result<Vec<String>, OpenStackError>;
}

/// The VIP a port names (`check --port NAME|ID`): its one single-address
/// allowed address pair (a /32 or /128, or a bare address).
pub fn vip_of_port(api: &mut dyn NeutronApi, key: &str) -> Result<IpAddr, OpenStackError> {
    let mut found = api.list("ports", &[("name", key.to_string())])?;
    if found.is_empty() {
        found = api.list("ports", &[("id", key.to_string())])?;
    }
    let port = match found.as_slice() {
        [] => {
            return Err(OpenStackError::Config(format!(
                "--port {key}: no port with this name or ID in the project"
            )))
        }
        [p] => p,
        many => {
            let ids: Vec<&str> = many.iter().map(|p| s(p, "id")).collect();
            return Err(OpenStackError::Config(format!(
                "--port {key}: {} ports have this name ({}); give the ID",
                many.len(),
                ids.join(", ")
            )));
        }
    };
    let mut vips: Vec<IpAddr> = Vec::new();
    for pair in port
        .get("allowed_address_pairs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = s(pair, "ip_address");
        let ip = match text.parse::<IpNet>() {
            Ok(net) if net.prefix_len() == net.max_prefix_len() => Some(net.addr()),
            Ok(_) => None,
            Err(_) => text.parse::<IpAddr>().ok(),
        };
        if let Some(ip) = ip.filter(|ip| !vips.contains(ip)) {
            vips.push(ip);
        }
    }
    match vips.as_slice() {
        [vip] => Ok(*vip),
        [] => Err(OpenStackError::Config(format!(
            "--port {key}: the port holds no single-address allowed address pair, so it names \
             no VIP; give --vip IP"
        ))),
        many => Err(OpenStackError::Config(format!(
            "--port {key}: the port holds {} VIPs as pairs ({}); give --vip IP",
            many.len(),
            many.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// How a port holds the VIP.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Hold {
    FixedIp,
    /// An allowed address pair for exactly the VIP.
    Pair,
    /// A wider allowed address pair that covers it (e.g. `0.0.0.0/0`).
    PairCidr(String),
}

/// A port that holds the VIP.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Holder {
    pub port_id: String,
    pub name: String,
    pub hold: Hold,
    /// The port's IPv4 fixed IPs.
    pub fixed_ips: Vec<IpAddr>,
}

/// How sure an inference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn word(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// The firewall backend vipwire believes the cloud runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackendGuess {
    /// `iptables_hybrid`, `openvswitch` or `ovn` (scenario.yaml's names).
    pub driver: String,
    pub confidence: Confidence,
    /// How it was inferred, in plain words.
    pub how: String,
}

/// Everything found around the VIP.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    pub extensions: Vec<String>,
    pub network_ids: Vec<String>,
    pub networks: Vec<Value>,
    pub subnets: Vec<Value>,
    pub ports: Vec<Value>,
    pub security_groups: Vec<Value>,
    pub routers: Vec<Value>,
    pub floating_ips: Vec<Value>,
    pub holders: Vec<Holder>,
    /// What discovery could not see or had to assume.
    pub notes: Vec<String>,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn fixed_ips(port: &Value) -> Vec<IpAddr> {
    port.get("fixed_ips")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|f| s(f, "ip_address").parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// How `port` holds `vip`, if it does.
pub fn holds(port: &Value, vip: IpAddr) -> Option<Hold> {
    if fixed_ips(port).contains(&vip) {
        return Some(Hold::FixedIp);
    }
    let pairs = port
        .get("allowed_address_pairs")
        .and_then(Value::as_array)?;
    let mut wider = None;
    for p in pairs {
        let text = s(p, "ip_address");
        if let Ok(ip) = text.parse::<IpAddr>() {
            if ip == vip {
                return Some(Hold::Pair);
            }
        } else if let Ok(net) = text.parse::<IpNet>() {
            if net.contains(&vip) {
                if net.prefix_len() == net.max_prefix_len() {
                    return Some(Hold::Pair);
                }
                wider.get_or_insert_with(|| Hold::PairCidr(text.to_string()));
            }
        }
    }
    wider
}

fn add_unique(into: &mut Vec<Value>, items: Vec<Value>) -> usize {
    let mut added = 0;
    for it in items {
        let id = s(&it, "id");
        if id.is_empty() || into.iter().any(|o| s(o, "id") == id) {
            continue;
        }
        into.push(it);
        added += 1;
    }
    added
}

fn groups_of(port: &Value) -> Vec<String> {
    port.get("security_groups")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Ids per filtered call: a query of 40 UUIDs stays under 2 KB, well inside
/// the URL limits of the proxies in front of API servers.
pub const IDS_PER_CALL: usize = 40;

/// `GET resource?key=id1&key=id2...`, in calls of at most [`IDS_PER_CALL`] ids.
fn list_by_ids(
    api: &mut dyn NeutronApi,
    resource: &str,
    key: &'static str,
    ids: &BTreeSet<String>,
) -> Result<Vec<Value>, OpenStackError> {
    let ids: Vec<&String> = ids.iter().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        let filters: Vec<(&str, String)> = chunk.iter().map(|i| (key, (*i).clone())).collect();
        out.extend(api.list(resource, &filters)?);
    }
    Ok(out)
}

/// Reads what surrounds `vip` through `api`.
pub fn discover(api: &mut dyn NeutronApi, vip: IpAddr) -> Result<Discovery, OpenStackError> {
    let mut d = Discovery {
        extensions: api.extensions()?,
        ..Discovery::default()
    };
    let has_ext = |d: &Discovery, a: &str| d.extensions.iter().any(|e| e == a);
    if !d.extensions.is_empty() && !has_ext(&d, "allowed-address-pairs") {
        d.notes.push(
            "the cloud lists no allowed-address-pairs extension: ports cannot hold a VIP \
             as a pair there"
                .into(),
        );
    }
    let owners = api.list("ports", &[("fixed_ips", format!("ip_address={vip}"))])?;
    let mut nets: BTreeSet<String> = owners
        .iter()
        .map(|p| s(p, "network_id").to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let mut all_subnets = Vec::new();
    if nets.is_empty() {
        all_subnets = api.list("subnets", &[])?;
        for sn in &all_subnets {
            if let Ok(net) = s(sn, "cidr").parse::<IpNet>() {
                if net.contains(&vip) {
                    nets.insert(s(sn, "network_id").to_string());
                }
            }
        }
    }
    if nets.is_empty() {
        return Err(OpenStackError::Config(format!(
            "no port has {vip} as a fixed IP and no subnet you can see contains it: check the \
             VIP, and that the cloud and project (project_name) are the load balancer's"
        )));
    }
    for net in &nets {
        let ports = api.list("ports", &[("network_id", net.clone())])?;
        add_unique(&mut d.ports, ports);
    }
    for p in &d.ports {
        if let Some(hold) = holds(p, vip) {
            d.holders.push(Holder {
                port_id: s(p, "id").to_string(),
                name: s(p, "name").to_string(),
                hold,
                fixed_ips: fixed_ips(p).into_iter().filter(IpAddr::is_ipv4).collect(),
            });
        }
    }
    if d.holders.is_empty() {
        return Err(OpenStackError::Config(format!(
            "no port on network(s) {} holds {vip} as a fixed IP or allowed address pair: \
             the VIP's ports need it as a pair (openstack port set --allowed-address \
             ip-address={vip} PORT)",
            nets.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    // Keep only the networks where the VIP is held.
    let held_nets: BTreeSet<String> = d
        .ports
        .iter()
        .filter(|p| d.holders.iter().any(|h| h.port_id == s(p, "id")))
        .map(|p| s(p, "network_id").to_string())
        .collect();
    if held_nets.len() < nets.len() {
        d.ports.retain(|p| held_nets.contains(s(p, "network_id")));
        nets = held_nets;
    }
    d.network_ids = nets.iter().cloned().collect();
    d.networks = list_by_ids(api, "networks", "id", &nets)?;
    d.subnets = if all_subnets.is_empty() {
        list_by_ids(api, "subnets", "network_id", &nets)?
    } else {
        all_subnets
            .into_iter()
            .filter(|sn| nets.contains(s(sn, "network_id")))
            .collect()
    };

    // Security groups, closed under remote groups and their member ports.
    let mut fetched: BTreeSet<String> = BTreeSet::new();
    let mut remote_done: BTreeSet<String> = BTreeSet::new();
    loop {
        let wanted: BTreeSet<String> = d
            .ports
            .iter()
            .flat_map(groups_of)
            .chain(
                d.security_groups
                    .iter()
                    .flat_map(|g| remote_groups(g).into_iter()),
            )
            .filter(|g| !fetched.contains(g))
            .collect();
        if !wanted.is_empty() {
            let got = list_by_ids(api, "security-groups", "id", &wanted)?;
            add_unique(&mut d.security_groups, got);
            for w in &wanted {
                fetched.insert(w.clone());
                if !d.security_groups.iter().any(|g| s(g, "id") == w) {
                    d.notes.push(format!(
                        "security group {w} is named by a port or rule but not visible to \
                         these credentials (another project's?)"
                    ));
                }
            }
            continue;
        }
        let remote: BTreeSet<String> = d
            .security_groups
            .iter()
            .flat_map(remote_groups)
            .filter(|g| !remote_done.contains(g))
            .collect();
        if remote.is_empty() {
            break;
        }
        let members = if has_ext(&d, "port-security-groups-filtering") {
            list_by_ids(api, "ports", "security_groups", &remote)?
        } else {
            d.notes.push(
                "no port-security-groups-filtering extension: read every port visible to \
                 find remote-group members"
                    .into(),
            );
            api.list("ports", &[])?
                .into_iter()
                .filter(|p| groups_of(p).iter().any(|g| remote.contains(g)))
                .collect()
        };
        let added = add_unique(&mut d.ports, members);
        if added > 0 {
            d.notes.push(format!(
                "{added} port(s) outside the VIP's network(s) read as members of remote groups \
                 (their addresses are in those groups' sets)"
            ));
        }
        remote_done.extend(remote);
    }

    if has_ext(&d, "router") {
        let routers: BTreeSet<String> = d
            .ports
            .iter()
            .filter(|p| {
                s(p, "device_owner").starts_with("network:router_interface")
                    || s(p, "device_owner") == "network:ha_router_replicated_interface"
            })
            .map(|p| s(p, "device_id").to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if !routers.is_empty() {
            d.routers = list_by_ids(api, "routers", "id", &routers)?;
        }
        let holders: BTreeSet<String> = d.holders.iter().map(|h| h.port_id.clone()).collect();
        d.floating_ips = list_by_ids(api, "floatingips", "port_id", &holders)?;
    } else {
        d.notes
            .push("no router extension: routers and floating IPs not read".into());
    }
    Ok(d)
}

fn remote_groups(group: &Value) -> Vec<String> {
    group
        .get("security_group_rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|r| s(r, "remote_group_id").to_string())
                .filter(|g| !g.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Infers the firewall backend from what the API shows (a tenant usually sees
/// no `binding:*`), most telling evidence first:
/// - `binding:vif_type: ovs` with `binding:vif_details.ovs_hybrid_plug: true`:
///   Nova plugs a hybrid bridge (qbr) for the port, which the ML2/OVS agent asks
///   for exactly when its firewall is iptables_hybrid (high);
/// - `vif_type: ovs` with `ovs_hybrid_plug: false` and `port_filter: true`: a
///   firewall in OpenFlow, the OVS native firewall or OVN (medium; the network
///   type tells them apart: geneve is ML2/OVN's tenant type);
/// - `vif_type: bridge`: the Linux bridge agent, whose iptables rules are the
///   hybrid driver's (chain prefix `neutron-linuxbri-`) (medium);
/// - only a `provider:network_type` (admin-visible): geneve suggests OVN (medium),
///   vxlan/gre/vlan/flat ML2/OVS with iptables_hybrid, the long-time default (low);
/// - nothing: iptables_hybrid, assumed (low).
pub fn infer_backend(d: &Discovery) -> BackendGuess {
    let mut hybrid = 0;
    let mut native = 0;
    let mut bridge = 0;
    for p in &d.ports {
        if s(p, "device_owner").starts_with("network:") {
            continue;
        }
        let vif = s(p, "binding:vif_type");
        let details = p.get("binding:vif_details");
        let flag = |k: &str| details.and_then(|x| x.get(k)).and_then(Value::as_bool);
        match vif {
            "ovs" | "vhostuser" => match (flag("ovs_hybrid_plug"), flag("port_filter")) {
                (Some(true), _) => hybrid += 1,
                (Some(false), Some(true)) | (None, Some(true)) => native += 1,
                _ => {}
            },
            "bridge" => bridge += 1,
            _ => {}
        }
    }
    let net_types: BTreeSet<String> = d
        .networks
        .iter()
        .map(|n| s(n, "provider:network_type").to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let geneve = net_types.contains("geneve");
    let types = net_types.iter().cloned().collect::<Vec<_>>().join(", ");
    let guess = |driver: &str, confidence, how: String| BackendGuess {
        driver: driver.into(),
        confidence,
        how,
    };
    if hybrid > 0 && native == 0 {
        return guess(
            "iptables_hybrid",
            Confidence::High,
            format!(
                "{hybrid} port(s) have binding:vif_type ovs with vif_details.ovs_hybrid_plug \
                 true (a qbr bridge per port: the iptables_hybrid driver)"
            ),
        );
    }
    if native > 0 && hybrid == 0 {
        return if geneve {
            guess(
                "ovn",
                Confidence::Medium,
                format!(
                    "{native} port(s) have vif_type ovs without hybrid plug and with \
                     port_filter, on a geneve network (ML2/OVN)"
                ),
            )
        } else {
            guess(
                "openvswitch",
                Confidence::Medium,
                format!(
                    "{native} port(s) have vif_type ovs without hybrid plug and with \
                     port_filter (a firewall in OpenFlow: the OVS native firewall; OVN \
                     looks the same to a tenant)"
                ),
            )
        };
    }
    if hybrid > 0 && native > 0 {
        return guess(
            "iptables_hybrid",
            Confidence::Low,
            format!(
                "mixed: {hybrid} port(s) with hybrid plug, {native} without (hosts differ?); \
                 pass --driver"
            ),
        );
    }
    if bridge > 0 {
        return guess(
            "iptables_hybrid",
            Confidence::Medium,
            format!(
                "{bridge} port(s) have binding:vif_type bridge (Linux bridge agent: the same \
                 iptables rules as iptables_hybrid under neutron-linuxbri- chains)"
            ),
        );
    }
    if geneve {
        return guess(
            "ovn",
            Confidence::Medium,
            "no binding details visible; the network type is geneve (ML2/OVN's tenant type)".into(),
        );
    }
    if !types.is_empty() {
        return guess(
            "iptables_hybrid",
            Confidence::Low,
            format!(
                "no binding details visible; network type {types} (ML2/OVS; iptables_hybrid \
                 assumed, its long-time default); pass --driver if the cloud runs \
                 the openvswitch firewall"
            ),
        );
    }
    guess(
        "iptables_hybrid",
        Confidence::Low,
        "nothing visible to these credentials tells (binding:* and provider:* are admin-only \
         by default); iptables_hybrid assumed; pass --driver to say"
            .into(),
    )
}

/// The keys of the loader's list documents each resource answers with.
pub fn loader_key(resource: &str) -> Option<&'static str> {
    match resource {
        "networks" => Some("networks"),
        "subnets" => Some("subnets"),
        "ports" => Some("ports"),
        "security-groups" => Some("security_groups"),
        _ => None,
    }
}

/// Ports by id, for lookups.
pub fn ports_by_id(d: &Discovery) -> BTreeMap<String, &Value> {
    d.ports
        .iter()
        .map(|p| (s(p, "id").to_string(), p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An in-memory Neutron over a JSON document, with the API's filter
    /// semantics for the filters discovery uses (equal values, repeated keys
    /// ORed, `fixed_ips=ip_address=X`, list membership for `security_groups`).
    struct FakeApi {
        doc: Value,
        extensions: Vec<String>,
        calls: Vec<String>,
    }

    impl NeutronApi for FakeApi {
        fn list(
            &mut self,
            resource: &str,
            filters: &[(&str, String)],
        ) -> Result<Vec<Value>, OpenStackError> {
            self.calls.push(format!("{resource} {filters:?}"));
            let key = resource.replace('-', "_");
            let items = self
                .doc
                .get(&key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (k, v) in filters {
                by_key.entry(k).or_default().push(v);
            }
            Ok(items
                .into_iter()
                .filter(|it| {
                    by_key.iter().all(|(k, vals)| {
                        vals.iter().any(|v| match *k {
                            "fixed_ips" => {
                                let ip = v.trim_start_matches("ip_address=");
                                fixed_ips(it).iter().any(|f| f.to_string() == ip)
                            }
                            "security_groups" => groups_of(it).iter().any(|g| g == v),
                            _ => s(it, k) == *v,
                        })
                    })
                })
                .collect())
        }
        fn extensions(&mut self) -> Result<Vec<String>, OpenStackError> {
            Ok(self.extensions.clone())
        }
    }

    fn example() -> FakeApi {
        let text = include_str!("../../../examples/lvs-dr/neutron.json");
        FakeApi {
            doc: serde_json::from_str(text).unwrap(),
            extensions: vec![
                "allowed-address-pairs".into(),
                "port-security-groups-filtering".into(),
            ],
            calls: vec![],
        }
    }

    #[test]
    fn field_report_cloud_around_its_vip() {
        let mut api = example();
        let d = discover(&mut api, "203.0.113.241".parse().unwrap()).unwrap();
        assert_eq!(d.ports.len(), 8);
        let mut names: Vec<&str> = d.holders.iter().map(|h| h.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["director-1", "director-2", "rs-1", "rs-2", "rs-3", "rs-4"]
        );
        assert!(d.holders.iter().all(|h| h.hold == Hold::Pair));
        assert_eq!(d.security_groups.len(), 1);
        assert_eq!(d.subnets.len(), 1);
        assert_eq!(d.networks.len(), 1);
        // No port has the VIP as a fixed IP: the subnet list found the network.
        assert!(api.calls.iter().any(|c| c.starts_with("subnets []")));
        // The group is its own remote group: members read by the group filter.
        assert!(api
            .calls
            .iter()
            .any(|c| c.starts_with("ports [(\"security_groups\"")));
        let b = infer_backend(&d);
        assert_eq!(
            (b.driver.as_str(), b.confidence),
            ("iptables_hybrid", Confidence::Low)
        );
    }

    #[test]
    fn many_groups_are_read_in_calls_of_at_most_40_ids() {
        let mut api = example();
        // 100 more ports on the network, each with a group of its own.
        let net = api.doc["networks"][0]["id"].clone();
        for i in 0..100 {
            let g = format!("g{i:03}");
            api.doc["ports"].as_array_mut().unwrap().push(json!({
                "id": format!("p{i:03}"), "network_id": net,
                "fixed_ips": [{"ip_address": format!("203.0.113.{}", 100 + i)}],
                "security_groups": [g]}));
            api.doc["security_groups"]
                .as_array_mut()
                .unwrap()
                .push(json!({
                "id": g, "security_group_rules": []}));
        }
        let d = discover(&mut api, "203.0.113.241".parse().unwrap()).unwrap();
        assert_eq!(d.security_groups.len(), 101);
        let group_calls: Vec<&String> = api
            .calls
            .iter()
            .filter(|c| c.starts_with("security-groups"))
            .collect();
        assert_eq!(group_calls.len(), 3, "{group_calls:?}");
        assert!(group_calls
            .iter()
            .all(|c| c.matches("(\"id\"").count() <= IDS_PER_CALL));
    }

    #[test]
    fn a_port_names_its_one_single_address_pair() {
        let mut api = example();
        let vip = vip_of_port(&mut api, "director-1").unwrap();
        assert_eq!(vip, "203.0.113.241".parse::<IpAddr>().unwrap());
        let id = api.doc["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| s(p, "name") == "director-2")
            .map(|p| s(p, "id").to_string())
            .unwrap();
        assert_eq!(vip_of_port(&mut api, &id).unwrap(), vip);
        let e = vip_of_port(&mut api, "client-1").unwrap_err().to_string();
        assert!(e.contains("no single-address allowed address pair"), "{e}");
        let e = vip_of_port(&mut api, "nope").unwrap_err().to_string();
        assert!(e.contains("no port with this name or ID"), "{e}");
        // A CIDR pair names no VIP; two single addresses name two.
        let ports = api.doc["ports"].as_array_mut().unwrap();
        let d1 = ports
            .iter_mut()
            .find(|p| s(p, "name") == "director-1")
            .unwrap();
        d1["allowed_address_pairs"] = serde_json::json!([
            {"ip_address": "0.0.0.0/0"}, {"ip_address": "203.0.113.241/32"},
            {"ip_address": "203.0.113.242"}]);
        let e = vip_of_port(&mut api, "director-1").unwrap_err().to_string();
        assert!(
            e.contains("2 VIPs as pairs (203.0.113.241, 203.0.113.242)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_vip_is_a_clear_error() {
        let e = discover(&mut example(), "198.51.100.7".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no subnet you can see contains it"), "{e}");
        let e = discover(&mut example(), "203.0.113.99".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no port on network(s)"), "{e}");
    }

    #[test]
    fn remote_group_members_on_other_networks_are_read() {
        let mut api = example();
        let g = api.doc["security_groups"][0]["id"].clone();
        api.doc["ports"].as_array_mut().unwrap().push(json!({
            "id": "far", "name": "far", "network_id": "other-net",
            "mac_address": "fa:16:3e:00:00:99",
            "fixed_ips": [{"ip_address": "192.0.2.9"}], "security_groups": [g]}));
        let d = discover(&mut api, "203.0.113.241".parse().unwrap()).unwrap();
        assert!(d.ports.iter().any(|p| s(p, "id") == "far"));
        assert!(d
            .notes
            .iter()
            .any(|n| n.contains("outside the VIP's network")));
    }

    #[test]
    fn holds_by_fixed_ip_pair_and_cidr() {
        let vip: IpAddr = "203.0.113.241".parse().unwrap();
        let p = json!({"fixed_ips": [{"ip_address": "203.0.113.241"}]});
        assert_eq!(holds(&p, vip), Some(Hold::FixedIp));
        let p =
            json!({"fixed_ips": [], "allowed_address_pairs": [{"ip_address": "203.0.113.241/32"}]});
        assert_eq!(holds(&p, vip), Some(Hold::Pair));
        let p = json!({"fixed_ips": [], "allowed_address_pairs": [{"ip_address": "0.0.0.0/0"}]});
        assert_eq!(holds(&p, vip), Some(Hold::PairCidr("0.0.0.0/0".into())));
        let p =
            json!({"fixed_ips": [], "allowed_address_pairs": [{"ip_address": "203.0.113.240"}]});
        assert_eq!(holds(&p, vip), None);
    }

    #[test]
    fn backend_from_vif_details() {
        let mut d = Discovery::default();
        d.ports.push(
            json!({"device_owner": "compute:nova", "binding:vif_type": "ovs",
            "binding:vif_details": {"ovs_hybrid_plug": true, "port_filter": true}}),
        );
        let b = infer_backend(&d);
        assert_eq!(
            (b.driver.as_str(), b.confidence),
            ("iptables_hybrid", Confidence::High)
        );
        d.ports[0]["binding:vif_details"]["ovs_hybrid_plug"] = json!(false);
        assert_eq!(infer_backend(&d).driver, "openvswitch");
        d.networks.push(json!({"provider:network_type": "geneve"}));
        assert_eq!(infer_backend(&d).driver, "ovn");
    }
}
