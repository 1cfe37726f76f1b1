//! Changing a cloud safely: revision-safe port updates, idempotent rule creates.
//!
//! Neutron replaces a port's `allowed_address_pairs` (and `security_groups`)
//! whole on PUT, so a change is always read, merged, written: the port is
//! read, the new value is computed from what it holds now, and the PUT carries
//! `If-Match: revision_number=N` with the revision that was read. Neutron
//! 29.0.0 takes each `revision_number=<int>` etag of the header as a
//! precondition (`neutron/api/api_common.py`
//! `check_request_for_revision_constraint`; the default `revisions` service
//! plugin, `neutron/services/revisions/revision_plugin.py`
//! `_enforce_if_match_constraints`) and answers 412 Precondition Failed
//! (`RevisionNumberConstraintFailed`) when the port has moved on. Then the
//! port is read again and the change merged again into what someone else
//! wrote, a bounded number of times: a pair another user added in between is
//! never lost. A rule create answered 409 (`SecurityGroupRuleExists`, "Security
//! group rule already exists. Rule id is X.") counts as done, and a DELETE
//! answered 404 as already done.
//!
//! The logic is pure over the [`PortApi`] seam; [`crate::neutron::NeutronClient`]
//! implements it over HTTP, tests with a fake.

use crate::error::OpenStackError;
use serde_json::{json, Value};

/// The answer to a PUT under `If-Match`.
#[derive(Debug)]
pub enum Put {
    /// Written; the port as Neutron now returns it.
    Done(Value),
    /// 412: the port's revision is no longer the one read.
    Stale,
}

/// The answer to a rule create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new rule with this id.
    New(String),
    /// 409: an equal rule already exists (its id when Neutron names it).
    Exists(Option<String>),
}

/// The writes vipwire makes.
pub trait PortApi {
    /// `GET /ports/{id}`: the port.
    fn get_port(&mut self, id: &str) -> Result<Value, OpenStackError>;
    /// `PUT /ports/{id}` with `{"port": fields}` and `If-Match: revision_number=N`.
    fn put_port(&mut self, id: &str, fields: &Value, revision: u64) -> Result<Put, OpenStackError>;
    /// `POST /security-group-rules`.
    fn create_rule(&mut self, rule: &Value) -> Result<Created, OpenStackError>;
    /// `POST /security-groups`: the new group's id.
    fn create_group(&mut self, name: &str, stateful: bool) -> Result<String, OpenStackError>;
    /// `DELETE /<resource>/{id}`: false when it was already gone (404).
    fn delete(&mut self, resource: &str, id: &str) -> Result<bool, OpenStackError>;
}

/// One revision-safe port update.
#[derive(Debug, Clone)]
pub struct PortUpdate {
    /// The port as first read (before any attempt): what vipwire added is
    /// judged against it, so a write whose answer was lost and whose retry
    /// met a 412 still counts as vipwire's.
    pub first: Value,
    /// The port as read just before the write that succeeded.
    pub before: Value,
    /// The port as Neutron returned it after the write; None when the change
    /// was already there (nothing written).
    pub after: Option<Value>,
    /// 412 answers met (someone else wrote the port in between).
    pub conflicts: u32,
}

/// How many times a port is read and written before giving up.
pub const MAX_TRIES: u32 = 5;

/// Reads `port_id`, asks `change` for the fields to PUT given the port as it
/// is now (None: nothing to change), writes them under `If-Match`, and on a
/// 412 starts over, at most `max_tries` times.
pub fn update_port<A: PortApi + ?Sized>(
    api: &mut A,
    port_id: &str,
    max_tries: u32,
    mut change: impl FnMut(&Value) -> Option<Value>,
) -> Result<PortUpdate, OpenStackError> {
    let mut conflicts = 0;
    let mut first: Option<Value> = None;
    loop {
        let port = api.get_port(port_id)?;
        let first = first.get_or_insert_with(|| port.clone()).clone();
        let Some(fields) = change(&port) else {
            return Ok(PortUpdate {
                first,
                before: port,
                after: None,
                conflicts,
            });
        };
        let revision = port
            .get("revision_number")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                OpenStackError::Config(format!(
                    "port {port_id}: Neutron returned no revision_number, so it cannot be \
                     changed safely (the revision-if-match extension is needed)"
                ))
            })?;
        match api.put_port(port_id, &fields, revision)? {
            Put::Done(after) => {
                return Ok(PortUpdate {
                    first,
                    before: port,
                    after: Some(after),
                    conflicts,
                })
            }
            Put::Stale => {
                conflicts += 1;
                if conflicts >= max_tries {
                    return Err(OpenStackError::Config(format!(
                        "port {port_id} changed under vipwire {conflicts} times in a row (412 \
                         Precondition Failed on each revision-checked PUT); nothing was written \
                         to it; try again later"
                    )));
                }
            }
        }
    }
}

/// A pair as Neutron takes it: `ip_address` and, when not the port's own, `mac_address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

impl Pair {
    pub fn to_json(&self) -> Value {
        match &self.mac_address {
            Some(m) => json!({"ip_address": self.ip_address, "mac_address": m}),
            None => json!({"ip_address": self.ip_address}),
        }
    }

    /// The pair `v` of a port whose MAC is `port_mac`.
    pub fn from_json(v: &Value) -> Pair {
        Pair {
            ip_address: v
                .get("ip_address")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            mac_address: v
                .get("mac_address")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// The same pair on a port with `port_mac`: a missing MAC is the port's, MACs
    /// compare case-blind and a bare IP is its /32 or /128.
    pub fn same(&self, other: &Pair, port_mac: &str) -> bool {
        norm_ip(&self.ip_address) == norm_ip(&other.ip_address)
            && self.mac_key(port_mac) == other.mac_key(port_mac)
    }

    /// The same entry as the API holds it: the address text exactly (a bare
    /// IP is not its /32: ML2/OVN tells them apart), the MAC as in [`Pair::same`].
    pub fn same_text(&self, other: &Pair, port_mac: &str) -> bool {
        self.ip_address == other.ip_address && self.mac_key(port_mac) == other.mac_key(port_mac)
    }

    fn mac_key(&self, port_mac: &str) -> String {
        self.mac_address
            .as_deref()
            .unwrap_or(port_mac)
            .to_ascii_lowercase()
    }
}

fn norm_ip(s: &str) -> String {
    if let Ok(n) = s.parse::<ipnet::IpNet>() {
        return n.to_string();
    }
    if let Ok(a) = s.parse::<std::net::IpAddr>() {
        return ipnet::IpNet::from(a).to_string();
    }
    s.to_string()
}

/// The pairs of a port as read.
pub fn pairs_of(port: &Value) -> Vec<Value> {
    port.get("allowed_address_pairs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The MAC of a port as read.
pub fn mac_of(port: &Value) -> String {
    port.get("mac_address")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The port's pairs with `add` merged in (those it lacks appended, in order);
/// None when it holds them all.
pub fn merged_pairs(port: &Value, add: &[Pair]) -> Option<Vec<Value>> {
    let mac = mac_of(port);
    let mut list = pairs_of(port);
    let mut changed = false;
    for p in add {
        if !list.iter().any(|q| Pair::from_json(q).same(p, &mac)) {
            list.push(p.to_json());
            changed = true;
        }
    }
    changed.then_some(list)
}

/// The port's pairs without `remove`; None when it holds none of them.
pub fn without_pairs(port: &Value, remove: &[Pair]) -> Option<Vec<Value>> {
    let mac = mac_of(port);
    let list = pairs_of(port);
    let kept: Vec<Value> = list
        .iter()
        .filter(|q| !remove.iter().any(|p| Pair::from_json(q).same(p, &mac)))
        .cloned()
        .collect();
    (kept.len() != list.len()).then_some(kept)
}

/// The port's pairs with each entry written exactly as a `retext` pair (same
/// address text, MAC case-blind) given its new address text; None when none
/// is there. Unlike [`Pair::same`], `203.0.113.5` and `203.0.113.5/32` differ
/// here: ML2/OVN tells them apart (only a bare IP makes a port virtual).
pub fn retexted_pairs(port: &Value, retext: &[(Pair, String)]) -> Option<Vec<Value>> {
    let mac = mac_of(port);
    let mut list = pairs_of(port);
    let mut changed = false;
    for v in &mut list {
        let have = Pair::from_json(v);
        if let Some((_, text)) = retext.iter().find(|(p, _)| p.same_text(&have, &mac)) {
            v["ip_address"] = json!(text);
            changed = true;
        }
    }
    changed.then_some(list)
}

/// Rewrites the port's pairs as `retext` says, then adds `add`, in one
/// revision-safe write.
pub fn add_pairs<A: PortApi + ?Sized>(
    api: &mut A,
    port_id: &str,
    retext: &[(Pair, String)],
    add: &[Pair],
) -> Result<PortUpdate, OpenStackError> {
    update_port(api, port_id, MAX_TRIES, |port| {
        let rewritten = retexted_pairs(port, retext);
        let mut view = port.clone();
        if let Some(l) = &rewritten {
            view["allowed_address_pairs"] = json!(l);
        }
        merged_pairs(&view, add)
            .or(rewritten)
            .map(|l| json!({"allowed_address_pairs": l}))
    })
}

/// The id Neutron names in a 409 `SecurityGroupRuleExists` message.
pub fn existing_rule_id(detail: &str) -> Option<String> {
    let rest = detail.split("Rule id is ").nth(1)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fake Neutron holding ports; `race` runs before the n-th PUT (as
    /// another client writing the port between vipwire's read and write).
    type Race = Box<dyn FnMut(&mut Value)>;

    #[derive(Default)]
    struct Fake {
        ports: BTreeMap<String, Value>,
        race: Option<(u32, Race)>,
        puts: u32,
    }

    impl PortApi for Fake {
        fn get_port(&mut self, id: &str) -> Result<Value, OpenStackError> {
            self.ports
                .get(id)
                .cloned()
                .ok_or_else(|| OpenStackError::Config(format!("no port {id}")))
        }
        fn put_port(&mut self, id: &str, f: &Value, rev: u64) -> Result<Put, OpenStackError> {
            self.puts += 1;
            let n = self.puts;
            let p = self.ports.get_mut(id).unwrap();
            if let Some((at, race)) = &mut self.race {
                if *at == n {
                    race(p);
                    let r = p["revision_number"].as_u64().unwrap();
                    p["revision_number"] = json!(r + 1);
                }
            }
            if p["revision_number"].as_u64() != Some(rev) {
                return Ok(Put::Stale);
            }
            for (k, v) in f.as_object().unwrap() {
                p[k] = v.clone();
            }
            p["revision_number"] = json!(rev + 1);
            Ok(Put::Done(p.clone()))
        }
        fn create_rule(&mut self, _: &Value) -> Result<Created, OpenStackError> {
            unreachable!()
        }
        fn create_group(&mut self, _: &str, _: bool) -> Result<String, OpenStackError> {
            unreachable!()
        }
        fn delete(&mut self, _: &str, _: &str) -> Result<bool, OpenStackError> {
            unreachable!()
        }
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        f.ports.insert(
            "p".into(),
            json!({"id": "p", "mac_address": "fa:16:3e:00:00:01", "revision_number": 3,
                   "allowed_address_pairs": [{"ip_address": "203.0.113.241",
                                              "mac_address": "fa:16:3e:00:00:01"}]}),
        );
        f
    }

    fn any() -> Pair {
        Pair {
            ip_address: "0.0.0.0/0".into(),
            mac_address: None,
        }
    }

    #[test]
    fn a_pair_is_merged_into_the_current_list() {
        let mut f = fake();
        let u = add_pairs(&mut f, "p", &[], &[any()]).unwrap();
        assert_eq!(u.conflicts, 0);
        let after = pairs_of(&f.ports["p"]);
        assert_eq!(after.len(), 2);
        assert_eq!(after[1], json!({"ip_address": "0.0.0.0/0"}));
        assert_eq!(f.ports["p"]["revision_number"], 4);
        // Already there (the VIP as a bare IP is its /32, the MAC the port's): nothing written.
        let vip = Pair {
            ip_address: "203.0.113.241/32".into(),
            mac_address: None,
        };
        let u = add_pairs(&mut f, "p", &[], &[vip]).unwrap();
        assert!(u.after.is_none());
        assert_eq!(f.puts, 1);
    }

    #[test]
    fn a_bare_pair_is_rewritten_as_its_cidr_in_place() {
        let mut f = fake();
        let bare = Pair {
            ip_address: "203.0.113.241".into(),
            mac_address: None,
        };
        let u = add_pairs(
            &mut f,
            "p",
            &[(bare.clone(), "203.0.113.241/32".into())],
            &[],
        )
        .unwrap();
        assert!(u.after.is_some());
        assert_eq!(
            pairs_of(&f.ports["p"]),
            [json!({"ip_address": "203.0.113.241/32", "mac_address": "fa:16:3e:00:00:01"})]
        );
        // The /32 is not the bare text: a second rewrite finds nothing to do,
        // and adding the bare IP back is the same pair (nothing written).
        let u = add_pairs(
            &mut f,
            "p",
            &[(bare.clone(), "203.0.113.241/32".into())],
            &[bare],
        )
        .unwrap();
        assert!(u.after.is_none());
        assert_eq!(f.puts, 1);
    }

    #[test]
    fn a_pair_added_by_someone_else_in_between_is_kept() {
        let mut f = fake();
        f.race = Some((
            1,
            Box::new(|p: &mut Value| {
                p["allowed_address_pairs"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"ip_address": "198.51.100.7", "mac_address": "fa:16:3e:00:00:01"}))
            }),
        ));
        let u = add_pairs(&mut f, "p", &[], &[any()]).unwrap();
        assert_eq!(u.conflicts, 1);
        let ips: Vec<String> = pairs_of(&f.ports["p"])
            .iter()
            .map(|p| p["ip_address"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ips, ["203.0.113.241", "198.51.100.7", "0.0.0.0/0"]);
        // The port as read before the write that succeeded holds the other
        // pair; as first read, it did not.
        assert_eq!(pairs_of(&u.before).len(), 2);
        assert_eq!(pairs_of(&u.first).len(), 1);
    }

    #[test]
    fn gives_up_after_bounded_conflicts_without_writing() {
        // Every PUT meets a newer revision.
        struct Always(Fake);
        impl PortApi for Always {
            fn get_port(&mut self, id: &str) -> Result<Value, OpenStackError> {
                self.0.get_port(id)
            }
            fn put_port(&mut self, id: &str, _: &Value, _: u64) -> Result<Put, OpenStackError> {
                let p = self.0.ports.get_mut(id).unwrap();
                let r = p["revision_number"].as_u64().unwrap();
                p["revision_number"] = json!(r + 1);
                Ok(Put::Stale)
            }
            fn create_rule(&mut self, _: &Value) -> Result<Created, OpenStackError> {
                unreachable!()
            }
            fn create_group(&mut self, _: &str, _: bool) -> Result<String, OpenStackError> {
                unreachable!()
            }
            fn delete(&mut self, _: &str, _: &str) -> Result<bool, OpenStackError> {
                unreachable!()
            }
        }
        let mut a = Always(fake());
        let e = add_pairs(&mut a, "p", &[], &[any()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("5 times") && e.contains("nothing was written"),
            "{e}"
        );
        assert_eq!(pairs_of(&a.0.ports["p"]).len(), 1);
    }

    #[test]
    fn removing_only_the_named_pairs() {
        let port = json!({"mac_address": "FA:16:3E:00:00:01", "allowed_address_pairs": [
            {"ip_address": "0.0.0.0/0", "mac_address": "fa:16:3e:00:00:01"},
            {"ip_address": "198.51.100.7", "mac_address": "fa:16:3e:00:00:01"}]});
        let l = without_pairs(&port, &[any()]).unwrap();
        assert_eq!(
            l,
            [json!({"ip_address": "198.51.100.7", "mac_address": "fa:16:3e:00:00:01"})]
        );
        assert!(without_pairs(&json!({"allowed_address_pairs": []}), &[any()]).is_none());
    }

    #[test]
    fn rule_id_from_the_conflict_message() {
        assert_eq!(
            existing_rule_id(
                "Security group rule already exists. Rule id is 3c0e1a4b-9d2f-4e55-8a0b-1f2e3d4c5b6a."
            )
            .as_deref(),
            Some("3c0e1a4b-9d2f-4e55-8a0b-1f2e3d4c5b6a")
        );
        assert_eq!(existing_rule_id("Conflict"), None);
    }
}
