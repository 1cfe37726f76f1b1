//! A Neutron (Network API v2.0) reader: authenticates, finds the endpoint,
//! lists resources with server-side filters and follows paging, keeping every
//! response body exactly as received (for `--save`).
//!
//! Paging (Networking API v2.0 reference, "Pagination"): vipwire asks for
//! `limit=N`; a page that has more after it carries `<resource>_links` with a
//! `rel: next` link whose query holds the `marker`. Only that query is used,
//! on vipwire's own endpoint URL: behind a TLS-terminating proxy Neutron may
//! build its links with the wrong scheme or host. A server that ignores
//! `limit` simply returns everything; one that pages without links gets
//! `marker=<last id>` until a short page.
//!
//! It also writes, for `--fix --apply`, through the [`PortApi`] seam of
//! [`crate::write`] (PUT under `If-Match`, POST, DELETE).

use crate::config::{Auth, CloudConfig, Scope};
use crate::discover::NeutronApi;
use crate::error::OpenStackError;
use crate::http::{Hints, Http, Method};
use crate::keystone;
use crate::progress::Progress;
use crate::secret::Secret;
use crate::write::{existing_rule_id, Created, PortApi, Put};
use serde_json::Value;

const NEUTRON_HINTS: Hints<'static> = Hints {
    unauthorized: "the token Neutron was given: it may have expired, or Neutron trusts \
                   another Keystone than auth_url",
    forbidden: "that your role may read it (a project member reads its own project's \
                resources; the policy of this cloud may differ)",
    not_found: "the network endpoint (network_endpoint_override or the catalog's network URL): \
                it must be Neutron's root, with or without /v2.0",
};

/// One response body received, as it came (secrets stripped for saving).
#[derive(Clone, Debug)]
pub struct SavedResponse {
    /// `ports`, `security-groups`, `extensions`, ...
    pub resource: String,
    /// The query sent (filters, limit, marker).
    pub query: String,
    pub body: Value,
}

/// An authenticated Neutron reader.
pub struct NeutronClient {
    http: Http,
    token: Option<Secret>,
    root: String,
    cloud: String,
    /// Where the endpoint came from, for the report.
    pub endpoint_source: String,
    /// `limit` asked for per page.
    pub page_size: usize,
    /// Every response body, in order.
    pub responses: Vec<SavedResponse>,
}

impl NeutronClient {
    /// Authenticates (unless `auth_type: none`) and finds the network endpoint.
    pub fn connect(
        cfg: &CloudConfig,
        progress: Progress,
        page_size: usize,
    ) -> Result<NeutronClient, OpenStackError> {
        let mut http = Http::new(cfg, progress)?;
        let mut token = None;
        let mut catalog_body = None;
        if let (Some(url), Some(body)) = (
            keystone::auth_url(&cfg.auth),
            keystone::auth_request(&cfg.auth),
        ) {
            let url = format!("{url}/auth/tokens");
            let reply = http.send(
                Method::Post,
                &url,
                None,
                Some(&body),
                Hints {
                    unauthorized: keystone::unauthorized_hint(&cfg.auth),
                    forbidden: "that the user has a role on the project (project_name, \
                                project_domain_name) or that the credential's scope allows it",
                    not_found: keystone::not_found_hint(&cfg.auth),
                },
            )?;
            token = Some(
                reply
                    .subject_token
                    .ok_or_else(|| OpenStackError::BadResponse {
                        cloud: cfg.name.clone(),
                        url: url.clone(),
                        message: "no X-Subject-Token header in Keystone's answer".into(),
                    })?,
            );
            catalog_body = Some(serde_json::from_str::<Value>(&reply.body).map_err(|e| {
                OpenStackError::BadResponse {
                    cloud: cfg.name.clone(),
                    url: url.clone(),
                    message: format!("token body is not JSON: {e}"),
                }
            })?);
        }
        let (root, endpoint_source) = match (&cfg.network_endpoint_override, &catalog_body) {
            (Some(o), _) => (
                keystone::network_api_root(o),
                "network_endpoint_override".to_string(),
            ),
            (None, Some(body)) => {
                let catalog_err = |message: String| OpenStackError::Catalog {
                    cloud: cfg.name.clone(),
                    message,
                };
                let eps = keystone::endpoints(body, "network").ok_or_else(|| {
                    let why = match &cfg.auth {
                        Auth::Password {
                            scope: Scope::Unscoped,
                            ..
                        }
                        | Auth::Token {
                            scope: Scope::Unscoped,
                            ..
                        } => {
                            "the token is not scoped to a project (set project_name or \
                              project_id), so it has no catalog"
                        }
                        _ => {
                            "the token's catalog has no network service; set \
                              network_endpoint_override to Neutron's URL"
                        }
                    };
                    catalog_err(why.to_string())
                })?;
                let ep = keystone::pick_endpoint(&eps, &cfg.interface, cfg.region.as_deref())
                    .map_err(catalog_err)?;
                (
                    keystone::network_api_root(&ep.url),
                    format!("catalog ({}, region {})", ep.interface, ep.region),
                )
            }
            (None, None) => {
                return Err(OpenStackError::Config(format!(
                    "cloud \"{}\": no network endpoint (set network_endpoint_override)",
                    cfg.name
                )))
            }
        };
        Ok(NeutronClient {
            http,
            token,
            root,
            cloud: cfg.name.clone(),
            endpoint_source,
            page_size: page_size.max(1),
            responses: Vec::new(),
        })
    }

    /// Neutron's API root (`.../v2.0`).
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn progress(&mut self) -> &mut Progress {
        &mut self.http.progress
    }

    /// The HTTP exchanges so far.
    pub fn calls(&self) -> &[crate::http::CallRecord] {
        &self.http.calls
    }

    fn get_json(&mut self, resource: &str, query: &str) -> Result<Value, OpenStackError> {
        let url = if query.is_empty() {
            format!("{}/{resource}", self.root)
        } else {
            format!("{}/{resource}?{query}", self.root)
        };
        let reply = self
            .http
            .send(Method::Get, &url, self.token.as_ref(), None, NEUTRON_HINTS)?;
        let body: Value =
            serde_json::from_str(&reply.body).map_err(|e| OpenStackError::BadResponse {
                cloud: self.cloud.clone(),
                url: url.clone(),
                message: format!("not JSON: {e}"),
            })?;
        self.responses.push(SavedResponse {
            resource: resource.to_string(),
            query: query.to_string(),
            body: strip_secrets(body.clone()),
        });
        Ok(body)
    }
}

/// `k=v&k=v`, percent-encoding each value.
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query of the `rel: next` link of `<key>_links`, if any.
pub fn next_query(body: &Value, key: &str) -> Option<String> {
    let links = body.get(format!("{key}_links"))?.as_array()?;
    let href = links
        .iter()
        .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))?
        .get("href")?
        .as_str()?;
    href.split_once('?').map(|(_, q)| q.to_string())
}

/// The JSON key of a resource's list (`security-groups` -> `security_groups`).
pub fn list_key(resource: &str) -> String {
    resource.replace('-', "_")
}

impl NeutronClient {
    fn write(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        retry: bool,
    ) -> Result<Value, OpenStackError> {
        let url = format!("{}/{path}", self.root);
        let reply = self.http.send_change(
            method,
            &url,
            self.token.as_ref(),
            body,
            if_match,
            retry,
            WRITE_HINTS,
        )?;
        if reply.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&reply.body).map_err(|e| OpenStackError::BadResponse {
            cloud: self.cloud.clone(),
            url,
            message: format!("not JSON: {e}"),
        })
    }
}

const WRITE_HINTS: Hints<'static> = Hints {
    unauthorized: "the token Neutron was given: it may have expired, or Neutron trusts \
                   another Keystone than auth_url",
    forbidden: "that your role may change it (a project member changes its own project's \
                ports and security groups; the policy of this cloud may differ)",
    not_found: "that it still exists: it may have been deleted since vipwire read it",
};

/// The HTTP status of an error, if it came with one.
pub fn status_of(e: &OpenStackError) -> Option<u16> {
    match e {
        OpenStackError::Status { status, .. } => Some(*status),
        OpenStackError::NotFound { .. } => Some(404),
        OpenStackError::Forbidden { .. } => Some(403),
        OpenStackError::Unauthorized { .. } => Some(401),
        _ => None,
    }
}

impl PortApi for NeutronClient {
    fn get_port(&mut self, id: &str) -> Result<Value, OpenStackError> {
        let url = format!("{}/ports/{id}", self.root);
        let reply = self
            .http
            .send(Method::Get, &url, self.token.as_ref(), None, WRITE_HINTS)?;
        let body: Value =
            serde_json::from_str(&reply.body).map_err(|e| OpenStackError::BadResponse {
                cloud: self.cloud.clone(),
                url: url.clone(),
                message: format!("not JSON: {e}"),
            })?;
        body.get("port")
            .cloned()
            .ok_or_else(|| OpenStackError::BadResponse {
                cloud: self.cloud.clone(),
                url,
                message: "no \"port\" in the answer".into(),
            })
    }

    fn put_port(&mut self, id: &str, fields: &Value, revision: u64) -> Result<Put, OpenStackError> {
        let body = serde_json::json!({ "port": fields });
        let cond = format!("revision_number={revision}");
        match self.write(
            Method::Put,
            &format!("ports/{id}"),
            Some(&body),
            Some(&cond),
            true,
        ) {
            Ok(v) => Ok(Put::Done(v.get("port").cloned().unwrap_or(v))),
            Err(e) if status_of(&e) == Some(412) => Ok(Put::Stale),
            Err(e) => Err(e),
        }
    }

    fn create_rule(&mut self, rule: &Value) -> Result<Created, OpenStackError> {
        let body = serde_json::json!({ "security_group_rule": rule });
        match self.write(
            Method::Post,
            "security-group-rules",
            Some(&body),
            None,
            true,
        ) {
            Ok(v) => Ok(Created::New(
                v.pointer("/security_group_rule/id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )),
            Err(OpenStackError::Status {
                status: 409,
                detail,
                ..
            }) => Ok(Created::Exists(existing_rule_id(&detail))),
            Err(e) => Err(e),
        }
    }

    fn create_group(&mut self, name: &str, stateful: bool) -> Result<String, OpenStackError> {
        let body = serde_json::json!({ "security_group": {
            "name": name,
            "stateful": stateful,
            "description": "created by vipwire check --fix --apply",
        }});
        let url = format!("{}/security-groups", self.root);
        let v = self.write(Method::Post, "security-groups", Some(&body), None, false)?;
        v.pointer("/security_group/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| OpenStackError::BadResponse {
                cloud: self.cloud.clone(),
                url,
                message: "no security_group.id in the answer".into(),
            })
    }

    fn delete(&mut self, resource: &str, id: &str) -> Result<bool, OpenStackError> {
        match self.write(
            Method::Delete,
            &format!("{resource}/{id}"),
            None,
            None,
            true,
        ) {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl NeutronApi for NeutronClient {
    fn list(
        &mut self,
        resource: &str,
        filters: &[(&str, String)],
    ) -> Result<Vec<Value>, OpenStackError> {
        let key = list_key(resource);
        let mut pairs: Vec<(&str, String)> = filters.to_vec();
        pairs.push(("limit", self.page_size.to_string()));
        let first = encode_query(&pairs);
        let mut query = first.clone();
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        loop {
            if !seen.insert(query.clone()) {
                return Err(OpenStackError::BadResponse {
                    cloud: self.cloud.clone(),
                    url: format!("{}/{resource}?{query}", self.root),
                    message: "paging goes round in a circle (the same next link twice)".into(),
                });
            }
            let body = self.get_json(resource, &query)?;
            let items = body
                .get(&key)
                .and_then(Value::as_array)
                .ok_or_else(|| OpenStackError::BadResponse {
                    cloud: self.cloud.clone(),
                    url: format!("{}/{resource}?{query}", self.root),
                    message: format!("no \"{key}\" list in the answer"),
                })?
                .clone();
            let n = items.len();
            self.http.progress.received(n);
            let last_id = items
                .last()
                .and_then(|i| i.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            out.extend(items);
            match next_query(&body, &key) {
                Some(q) => query = q,
                None if n >= self.page_size && body.get(format!("{key}_links")).is_none() => {
                    // Paged without links: go on from the last id.
                    let Some(last) = last_id else { break };
                    let mut p = pairs.clone();
                    p.push(("marker", last));
                    query = encode_query(&p);
                }
                None => break,
            }
        }
        Ok(out)
    }

    fn extensions(&mut self) -> Result<Vec<String>, OpenStackError> {
        let body = self.get_json("extensions", "")?;
        Ok(body
            .get("extensions")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|e| e.get("alias").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Removes every key that may hold a secret, at any depth (Neutron's answers
/// hold none; this is the guard for what `--save` writes).
pub fn strip_secrets(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k, strip_secrets(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_secrets).collect()),
        other => other,
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k == "token"
        || k.ends_with("_token")
        || k == "x-auth-token"
        || k == "x-subject-token"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_link_query_only() {
        let b = json!({"ports": [], "ports_links": [
            {"rel": "previous", "href": "http://x/v2.0/ports?limit=2&marker=a&page_reverse=True"},
            {"rel": "next", "href": "http://wrong-host/v2.0/ports?limit=2&marker=b"}]});
        assert_eq!(next_query(&b, "ports").as_deref(), Some("limit=2&marker=b"));
        assert_eq!(next_query(&json!({"ports": []}), "ports"), None);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query(&[
                ("fixed_ips", "ip_address=203.0.113.241".into()),
                ("limit", "5".into())
            ]),
            "fixed_ips=ip_address%3D203.0.113.241&limit=5"
        );
    }

    #[test]
    fn secrets_stripped_at_any_depth() {
        let v = json!({"ports": [{"id": "p", "binding:profile": {"password": "x", "k": 1}}],
                       "auth_token": "t", "application_credential_secret": "s"});
        assert_eq!(
            strip_secrets(v),
            json!({"ports": [{"id": "p", "binding:profile": {"k": 1}}]})
        );
    }
}
