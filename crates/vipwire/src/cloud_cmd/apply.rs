//! `--fix --apply`: runs a [`Plan`] against the cloud through the Neutron API,
//! keeping an undo record of exactly what was written, and `--undo FILE`.
//!
//! Every port write is revision-safe (read, merge, PUT under `If-Match`, on a
//! 412 read and merge again: `openstack::write`). Rule creates answered 409
//! count as done (and are not undone: they were there before). The undo file
//! is rewritten after every step, so whatever stops the run, it holds what was
//! applied. On an error the run stops and says which steps were applied and
//! which were not.

use super::plan::{self, GroupRef, Plan, Step};
use anyhow::{anyhow, Result};
use openstack::write::{self, pairs_of, Created, Pair, PortApi};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// What an apply wrote, enough to take it back.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UndoRecord {
    pub cloud: String,
    pub network_api: String,
    /// Per port: what it held before vipwire's write, and what vipwire changed.
    pub ports: Vec<PortUndo>,
    /// Rules vipwire created (not those that already existed).
    pub rules_created: Vec<CreatedRef>,
    /// Groups vipwire created.
    pub groups_created: Vec<CreatedRef>,
}

#[derive(Debug, Default, Serialize, Deserialize, Clone)]
pub struct PortUndo {
    pub id: String,
    pub name: String,
    /// The port's pairs, groups and port security right before vipwire wrote it.
    pub before_pairs: Vec<Value>,
    pub before_security_groups: Vec<String>,
    pub before_port_security_enabled: bool,
    /// Pairs vipwire added (undo removes only these, keeping others' later pairs).
    #[serde(default)]
    pub added_pairs: Vec<Value>,
    /// Bare-IP pairs vipwire wrote as CIDRs (undo writes them back bare).
    #[serde(default)]
    pub pairs_as_cidr: Vec<Value>,
    /// The groups vipwire set (undo restores `before_security_groups`).
    #[serde(default)]
    pub set_security_groups: Option<Vec<String>>,
    /// vipwire turned port security off (undo turns it on with the groups and pairs before).
    #[serde(default)]
    pub disabled_port_security: bool,
}

#[derive(Debug, Default, Serialize, Deserialize, Clone)]
pub struct CreatedRef {
    pub id: String,
    pub what: String,
}

/// The outcome of an apply.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub applied: Vec<String>,
    pub not_applied: Vec<String>,
    pub error: Option<String>,
    /// 412 answers met (someone else wrote a port between vipwire's read and write).
    pub conflicts: u32,
    /// Lines of what happened, in order.
    pub log: Vec<String>,
}

impl UndoRecord {
    fn port(&mut self, before: &Value, id: &str, name: &str) -> &mut PortUndo {
        if let Some(i) = self.ports.iter().position(|p| p.id == id) {
            return &mut self.ports[i];
        }
        self.ports.push(PortUndo {
            id: id.to_string(),
            name: name.to_string(),
            before_pairs: pairs_of(before),
            before_security_groups: strings(before, "security_groups"),
            before_port_security_enabled: before
                .get("port_security_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            ..PortUndo::default()
        });
        self.ports.last_mut().expect("pushed")
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| anyhow!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(())
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the plan. `undo_path`: rewritten after each step.
pub fn apply<A: PortApi>(
    api: &mut A,
    plan: &Plan,
    undo: &mut UndoRecord,
    undo_path: &Path,
) -> Outcome {
    let mut out = Outcome::default();
    // Stateless groups made by this run: port id -> group id.
    let mut new_groups: BTreeMap<String, String> = BTreeMap::new();
    for (i, step) in plan.steps.iter().enumerate() {
        match run_step(api, step, undo, &mut new_groups, &mut out) {
            Ok(()) => out.applied.push(step.title()),
            Err(e) => {
                out.error = Some(format!("step {} ({}): {e:#}", i + 1, step.title()));
                out.not_applied = plan.steps[i..].iter().map(Step::title).collect();
                let _ = undo.save(undo_path);
                return out;
            }
        }
        if let Err(e) = undo.save(undo_path) {
            out.error = Some(format!("cannot write the undo file: {e:#}"));
            out.not_applied = plan.steps[i + 1..].iter().map(Step::title).collect();
            return out;
        }
    }
    out
}

fn create_rule<A: PortApi>(
    api: &mut A,
    body: &Value,
    what: String,
    undo: &mut UndoRecord,
    out: &mut Outcome,
) -> Result<()> {
    match api.create_rule(body)? {
        Created::New(id) => {
            out.log.push(format!("created rule {id}: {what}"));
            undo.rules_created.push(CreatedRef { id, what });
        }
        Created::Exists(id) => out.log.push(format!(
            "rule already there (409){}: {what}",
            id.map(|i| format!(", {i}")).unwrap_or_default()
        )),
    }
    Ok(())
}

fn run_step<A: PortApi>(
    api: &mut A,
    step: &Step,
    undo: &mut UndoRecord,
    new_groups: &mut BTreeMap<String, String>,
    out: &mut Outcome,
) -> Result<()> {
    match step {
        Step::NewGroup {
            port_id,
            name,
            copies,
            ..
        } => {
            let id = api.create_group(name, false)?;
            out.log
                .push(format!("created stateless group {name} ({id})"));
            undo.groups_created.push(CreatedRef {
                id: id.clone(),
                what: format!("stateless group {name}"),
            });
            new_groups.insert(port_id.clone(), id.clone());
            for r in copies {
                create_rule(
                    api,
                    &r.body(&id),
                    format!("{} on {name}", r.describe()),
                    undo,
                    out,
                )?;
            }
        }
        Step::Rule { group, rule } => {
            let id = match group {
                GroupRef::Existing { id, .. } => id.clone(),
                GroupRef::New { port_id, name } => new_groups
                    .get(port_id)
                    .cloned()
                    .ok_or_else(|| anyhow!("the new group {name} was not created"))?,
            };
            create_rule(
                api,
                &rule.body(&id),
                format!("{} on {}", rule.describe(), group.name()),
                undo,
                out,
            )?;
        }
        Step::SetGroups {
            port_id,
            port,
            group,
            ..
        } => {
            let gid = new_groups
                .get(port_id)
                .cloned()
                .ok_or_else(|| anyhow!("the new group {group} was not created"))?;
            let want = vec![gid.clone()];
            let u = write::update_port(api, port_id, write::MAX_TRIES, |p| {
                (strings(p, "security_groups") != want).then(|| json!({"security_groups": want}))
            })?;
            note_conflicts(out, port, u.conflicts);
            let rec = undo.port(&u.before, port_id, port);
            rec.set_security_groups = Some(vec![gid]);
            out.log
                .push(format!("port {port}: security groups set to {group}"));
        }
        Step::Pairs {
            port_id,
            port,
            as_cidr,
            add,
            ..
        } => {
            let u = write::add_pairs(api, port_id, &plan::retext(as_cidr), add)?;
            note_conflicts(out, port, u.conflicts);
            // vipwire's: absent when the port was first read, present now.
            let mac = write::mac_of(&u.before);
            let first: Vec<Pair> = pairs_of(&u.first).iter().map(Pair::from_json).collect();
            let now: Vec<Pair> = pairs_of(u.after.as_ref().unwrap_or(&u.before))
                .iter()
                .map(Pair::from_json)
                .collect();
            let added: Vec<Value> = add
                .iter()
                .filter(|p| !first.iter().any(|b| b.same(p, &mac)))
                .filter(|p| now.iter().any(|b| b.same(p, &mac)))
                .map(Pair::to_json)
                .collect();
            let n = added.len();
            // Written as a CIDR by vipwire: bare when first read, a CIDR now.
            let had = |l: &[Pair], p: &Pair| l.iter().any(|b| b.same_text(p, &mac));
            let rewritten: Vec<Value> = as_cidr
                .iter()
                .filter(|p| had(&first, p) && had(&now, &plan::cidr_form(p)))
                .map(Pair::to_json)
                .collect();
            let r = rewritten.len();
            let rec = undo.port(&u.before, port_id, port);
            rec.added_pairs.extend(added);
            rec.pairs_as_cidr.extend(rewritten);
            out.log.push(match &u.after {
                Some(after) => format!(
                    "port {port}: {n} pair(s) added, {r} written as a CIDR; it now holds {}",
                    pairs_of(after)
                        .iter()
                        .map(|p| Pair::from_json(p).ip_address)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!("port {port}: the pairs were already there"),
            });
        }
        Step::NoPortSecurity { port_id, port, .. } => {
            let u = write::update_port(api, port_id, write::MAX_TRIES, |p| {
                (p.get("port_security_enabled") != Some(&Value::Bool(false))).then(|| {
                    json!({"port_security_enabled": false, "security_groups": [],
                           "allowed_address_pairs": []})
                })
            })?;
            note_conflicts(out, port, u.conflicts);
            let rec = undo.port(&u.before, port_id, port);
            rec.disabled_port_security = u.after.is_some();
            out.log.push(format!("port {port}: port security off"));
        }
    }
    Ok(())
}

fn note_conflicts(out: &mut Outcome, port: &str, n: u32) {
    if n > 0 {
        out.conflicts += n;
        out.log.push(format!(
            "port {port}: changed by someone else between vipwire's read and write ({n} x 412 \
             Precondition Failed); read again and merged"
        ));
    }
}

/// Takes back what an apply wrote, newest first, revision-safe. Returns the
/// lines of what was done and the errors.
pub fn undo<A: PortApi>(api: &mut A, rec: &UndoRecord) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for p in rec.ports.iter().rev() {
        let created: Vec<&str> = rec.groups_created.iter().map(|g| g.id.as_str()).collect();
        let added: Vec<Pair> = p.added_pairs.iter().map(Pair::from_json).collect();
        let r = write::update_port(api, &p.id, write::MAX_TRIES, |cur| {
            let mut fields = serde_json::Map::new();
            if p.disabled_port_security {
                if cur.get("port_security_enabled") == Some(&Value::Bool(false)) {
                    fields.insert("port_security_enabled".into(), json!(true));
                    fields.insert("security_groups".into(), json!(p.before_security_groups));
                    fields.insert("allowed_address_pairs".into(), json!(p.before_pairs));
                }
                return (!fields.is_empty()).then_some(Value::Object(fields));
            }
            if p.set_security_groups.is_some() {
                let now = strings(cur, "security_groups");
                if now.iter().any(|g| created.contains(&g.as_str())) {
                    let mut groups = p.before_security_groups.clone();
                    for g in now {
                        if !created.contains(&g.as_str()) && !groups.contains(&g) {
                            groups.push(g);
                        }
                    }
                    fields.insert("security_groups".into(), json!(groups));
                }
            }
            // Pairs written as CIDRs go back bare first, then vipwire's own go.
            let mut view = cur.clone();
            let back: Vec<(Pair, String)> = p
                .pairs_as_cidr
                .iter()
                .map(Pair::from_json)
                .map(|b| (plan::cidr_form(&b), b.ip_address))
                .collect();
            let mut pairs = write::retexted_pairs(cur, &back);
            if let Some(l) = &pairs {
                view["allowed_address_pairs"] = json!(l);
            }
            if !added.is_empty() {
                pairs = write::without_pairs(&view, &added).or(pairs);
            }
            if let Some(l) = pairs {
                fields.insert("allowed_address_pairs".into(), json!(l));
            }
            (!fields.is_empty()).then_some(Value::Object(fields))
        });
        match r {
            Ok(u) if u.after.is_some() => done.push(format!(
                "port {}: restored{}",
                p.name,
                if u.conflicts > 0 {
                    format!(" (after {} x 412: re-read and merged)", u.conflicts)
                } else {
                    String::new()
                }
            )),
            Ok(_) => done.push(format!("port {}: nothing to restore", p.name)),
            Err(e) => failed.push(format!("port {}: {e}", p.name)),
        }
    }
    for r in rec.rules_created.iter().rev() {
        match api.delete("security-group-rules", &r.id) {
            Ok(true) => done.push(format!("deleted rule {} ({})", r.id, r.what)),
            Ok(false) => done.push(format!("rule {} already gone", r.id)),
            Err(e) => failed.push(format!("rule {}: {e}", r.id)),
        }
    }
    for g in rec.groups_created.iter().rev() {
        match api.delete("security-groups", &g.id) {
            Ok(true) => done.push(format!("deleted {} ({})", g.what, g.id)),
            Ok(false) => done.push(format!("{} already gone", g.what)),
            Err(e) => failed.push(format!("{} ({}): {e}", g.what, g.id)),
        }
    }
    (done, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud_cmd::plan::RuleSpec;
    use openstack::write::Put;
    use openstack::OpenStackError;

    /// A fake Neutron: ports by id, rules and groups created.
    #[derive(Default)]
    struct Fake {
        ports: BTreeMap<String, Value>,
        rules: Vec<(String, Value)>,
        groups: Vec<String>,
        n: u32,
    }

    fn gone(id: &str) -> OpenStackError {
        OpenStackError::NotFound {
            cloud: "test".into(),
            method: "GET".into(),
            url: format!("http://192.0.2.1:9696/v2.0/ports/{id}"),
            detail: format!("Port {id} could not be found."),
            hint: "that it still exists".into(),
        }
    }

    impl PortApi for Fake {
        fn get_port(&mut self, id: &str) -> Result<Value, OpenStackError> {
            self.ports.get(id).cloned().ok_or_else(|| gone(id))
        }
        fn put_port(&mut self, id: &str, f: &Value, rev: u64) -> Result<Put, OpenStackError> {
            let p = self.ports.get_mut(id).ok_or_else(|| gone(id))?;
            if p["revision_number"] != json!(rev) {
                return Ok(Put::Stale);
            }
            for (k, v) in f.as_object().unwrap() {
                p[k] = v.clone();
            }
            p["revision_number"] = json!(rev + 1);
            Ok(Put::Done(p.clone()))
        }
        fn create_rule(&mut self, rule: &Value) -> Result<Created, OpenStackError> {
            if let Some((id, _)) = self.rules.iter().find(|(_, r)| r == rule) {
                return Ok(Created::Exists(Some(id.clone())));
            }
            self.n += 1;
            let id = format!("rule-{}", self.n);
            self.rules.push((id.clone(), rule.clone()));
            Ok(Created::New(id))
        }
        fn create_group(&mut self, name: &str, _: bool) -> Result<String, OpenStackError> {
            self.groups.push(format!("sg-{name}"));
            Ok(format!("sg-{name}"))
        }
        fn delete(&mut self, resource: &str, id: &str) -> Result<bool, OpenStackError> {
            if resource == "security-groups" {
                let had = self.groups.contains(&id.to_string());
                self.groups.retain(|g| g != id);
                return Ok(had);
            }
            let had = self.rules.iter().any(|(r, _)| r == id);
            self.rules.retain(|(r, _)| r != id);
            Ok(had)
        }
    }

    fn port(id: &str) -> Value {
        json!({"id": id, "mac_address": "fa:16:3e:00:00:01", "revision_number": 1,
               "port_security_enabled": true, "security_groups": ["sg-default"],
               "allowed_address_pairs": [{"ip_address": "203.0.113.241",
                                          "mac_address": "fa:16:3e:00:00:01"}]})
    }

    fn pairs(port_id: &str) -> Step {
        Step::Pairs {
            port_id: port_id.into(),
            port: port_id.into(),
            before: vec![],
            as_cidr: vec![],
            add: vec![Pair {
                ip_address: "0.0.0.0/0".into(),
                mac_address: None,
            }],
        }
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("vipwire-apply-{name}-{}.json", std::process::id()))
    }

    #[test]
    fn an_error_stops_the_run_and_names_applied_and_not_applied() {
        let mut f = Fake::default();
        f.ports.insert("a".into(), port("a"));
        let rule = Step::Rule {
            group: GroupRef::Existing {
                id: "sg-default".into(),
                name: "default".into(),
            },
            rule: RuleSpec {
                direction: "ingress".into(),
                ethertype: "IPv4".into(),
                protocol: Some("tcp".into()),
                port_min: Some(80),
                port_max: Some(80),
                remote_ip_prefix: Some("0.0.0.0/0".into()),
                remote_group_id: None,
            },
        };
        let plan = Plan {
            steps: vec![rule, pairs("a"), pairs("b"), pairs("a")],
            refused: vec![],
        };
        let path = tmp("error");
        let mut rec = UndoRecord::default();
        let out = apply(&mut f, &plan, &mut rec, &path);
        assert_eq!(out.applied.len(), 2, "{out:?}");
        assert_eq!(out.not_applied.len(), 2);
        assert!(out.not_applied[0].starts_with("port b:"));
        let e = out.error.unwrap();
        assert!(
            e.starts_with("step 3 (port b: + pairs 0.0.0.0/0)") && e.contains("404"),
            "{e}"
        );
        // The undo file on disk holds exactly what was applied.
        let saved: UndoRecord =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.rules_created.len(), 1);
        assert_eq!(saved.ports.len(), 1);
        assert_eq!(
            saved.ports[0].added_pairs,
            [json!({"ip_address": "0.0.0.0/0"})]
        );
        // Undo: the rule deleted, the pair removed, the VIP pair kept.
        let (done, failed) = undo(&mut f, &saved);
        assert!(failed.is_empty(), "{failed:?} {done:?}");
        assert!(f.rules.is_empty());
        assert_eq!(
            f.ports["a"]["allowed_address_pairs"],
            port("a")["allowed_address_pairs"]
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn port_security_off_and_a_stateless_group_are_undone() {
        let mut f = Fake::default();
        f.ports.insert("a".into(), port("a"));
        f.ports.insert("b".into(), port("b"));
        f.groups.push("sg-default".into());
        let plan = Plan {
            steps: vec![
                Step::NewGroup {
                    port_id: "b".into(),
                    port: "b".into(),
                    name: "b-stateless".into(),
                    copies: vec![],
                    from: vec!["default".into()],
                },
                Step::SetGroups {
                    port_id: "b".into(),
                    port: "b".into(),
                    before: vec!["sg-default".into()],
                    group: "b-stateless".into(),
                },
                Step::NoPortSecurity {
                    port_id: "a".into(),
                    port: "a".into(),
                    groups: vec!["sg-default".into()],
                    pairs: vec![],
                },
            ],
            refused: vec![],
        };
        let path = tmp("portsec");
        let mut rec = UndoRecord::default();
        let out = apply(&mut f, &plan, &mut rec, &path);
        assert!(out.error.is_none(), "{out:?}");
        assert_eq!(f.ports["a"]["port_security_enabled"], json!(false));
        assert_eq!(f.ports["a"]["allowed_address_pairs"], json!([]));
        assert_eq!(f.ports["b"]["security_groups"], json!(["sg-b-stateless"]));
        let (_, failed) = undo(&mut f, &rec);
        assert!(failed.is_empty(), "{failed:?}");
        for id in ["a", "b"] {
            let want = port(id);
            for k in [
                "port_security_enabled",
                "security_groups",
                "allowed_address_pairs",
            ] {
                assert_eq!(f.ports[id][k], want[k], "{id} {k}");
            }
        }
        assert_eq!(f.groups, ["sg-default"]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_bare_pair_written_as_a_cidr_is_undone_back_to_bare() {
        let mut f = Fake::default();
        f.ports.insert("a".into(), port("a"));
        let plan = Plan {
            steps: vec![Step::Pairs {
                port_id: "a".into(),
                port: "a".into(),
                before: vec![],
                as_cidr: vec![Pair {
                    ip_address: "203.0.113.241".into(),
                    mac_address: Some("fa:16:3e:00:00:01".into()),
                }],
                add: vec![Pair {
                    ip_address: "0.0.0.0/0".into(),
                    mac_address: None,
                }],
            }],
            refused: vec![],
        };
        let path = tmp("ascidr");
        let mut rec = UndoRecord::default();
        let out = apply(&mut f, &plan, &mut rec, &path);
        assert!(out.error.is_none(), "{out:?}");
        assert_eq!(
            f.ports["a"]["allowed_address_pairs"],
            json!([{"ip_address": "203.0.113.241/32", "mac_address": "fa:16:3e:00:00:01"},
                   {"ip_address": "0.0.0.0/0"}])
        );
        assert_eq!(rec.ports[0].pairs_as_cidr.len(), 1);
        let (_, failed) = undo(&mut f, &rec);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            f.ports["a"]["allowed_address_pairs"],
            port("a")["allowed_address_pairs"]
        );
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod lost_answer {
    use super::*;
    use openstack::write::Put;
    use openstack::OpenStackError;

    /// Neutron applies the first PUT but its answer is lost: the retry (same
    /// If-Match) meets 412.
    struct LostAnswer {
        port: Value,
        puts: u32,
    }

    impl PortApi for LostAnswer {
        fn get_port(&mut self, _: &str) -> Result<Value, OpenStackError> {
            Ok(self.port.clone())
        }
        fn put_port(&mut self, _: &str, f: &Value, rev: u64) -> Result<Put, OpenStackError> {
            self.puts += 1;
            if self.port["revision_number"] != json!(rev) {
                return Ok(Put::Stale);
            }
            for (k, v) in f.as_object().unwrap() {
                self.port[k] = v.clone();
            }
            self.port["revision_number"] = json!(rev + 1);
            // The answer never arrives; the HTTP layer's retry sends it again.
            self.put_port("", f, rev)
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

    #[test]
    fn a_pair_written_before_a_lost_answer_is_still_vipwires() {
        let mut api = LostAnswer {
            port: json!({"id": "a", "mac_address": "fa:16:3e:00:00:01", "revision_number": 1,
                         "security_groups": [], "allowed_address_pairs": []}),
            puts: 0,
        };
        let plan = Plan {
            steps: vec![Step::Pairs {
                port_id: "a".into(),
                port: "a".into(),
                before: vec![],
                as_cidr: vec![],
                add: vec![Pair {
                    ip_address: "0.0.0.0/0".into(),
                    mac_address: None,
                }],
            }],
            refused: vec![],
        };
        let path = std::env::temp_dir().join(format!("vipwire-lost-{}.json", std::process::id()));
        let mut rec = UndoRecord::default();
        let out = apply(&mut api, &plan, &mut rec, &path);
        assert!(out.error.is_none(), "{out:?}");
        assert_eq!(api.puts, 2);
        assert_eq!(
            rec.ports[0].added_pairs,
            [json!({"ip_address": "0.0.0.0/0"})]
        );
        let _ = std::fs::remove_file(path);
    }
}
