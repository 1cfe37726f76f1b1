//! Keystone v3, pure: the body of `POST /v3/auth/tokens` for each auth method,
//! and the network endpoint picked from the token's service catalog.
//!
//! Facts from the Identity API v3 reference ("Authentication and token
//! management"): the token comes back in the `X-Subject-Token` header with
//! 201; the body's `token.catalog` lists services by `type` with `endpoints`
//! (`interface`, `region_id`/`region`, `url`); an application credential
//! carries its own scope, so its request has no `scope`.

use crate::config::{Auth, DomainRef, Scope, UserRef};
use serde_json::{json, Value};

fn domain(d: &DomainRef) -> Value {
    match d {
        DomainRef::Id(id) => json!({ "id": id }),
        DomainRef::Name(name) => json!({ "name": name }),
    }
}

fn user(u: &UserRef) -> Value {
    match u {
        UserRef::Id(id) => json!({ "id": id }),
        UserRef::Name { name, domain: d } => json!({ "name": name, "domain": domain(d) }),
    }
}

fn scope(s: &Scope) -> Option<Value> {
    match s {
        Scope::ProjectId(id) => Some(json!({ "project": { "id": id } })),
        Scope::ProjectName { name, domain: d } => {
            Some(json!({ "project": { "name": name, "domain": domain(d) } }))
        }
        Scope::Domain(d) => Some(json!({ "domain": domain(d) })),
        Scope::System => Some(json!({ "system": { "all": true } })),
        Scope::Unscoped => None,
    }
}

/// The auth request body (it holds the secret: never log or quote it), or
/// None for `auth_type: none`.
pub fn auth_request(auth: &Auth) -> Option<Value> {
    let (identity, sc) = match auth {
        Auth::Password {
            user: u,
            password,
            scope: s,
            ..
        } => {
            let mut who = user(u);
            who["password"] = Value::String(password.expose().to_string());
            (
                json!({ "methods": ["password"], "password": { "user": who } }),
                scope(s),
            )
        }
        Auth::ApplicationCredential {
            id,
            name,
            user: u,
            secret,
            ..
        } => {
            let mut cred = json!({ "secret": secret.expose() });
            if let Some(id) = id {
                cred["id"] = Value::String(id.clone());
            } else if let Some(name) = name {
                cred["name"] = Value::String(name.clone());
                if let Some(u) = u {
                    cred["user"] = user(u);
                }
            }
            (
                json!({ "methods": ["application_credential"], "application_credential": cred }),
                None,
            )
        }
        Auth::Token {
            token, scope: s, ..
        } => (
            json!({ "methods": ["token"], "token": { "id": token.expose() } }),
            scope(s),
        ),
        Auth::None => return None,
    };
    let mut body = json!({ "auth": { "identity": identity } });
    if let Some(sc) = sc {
        body["auth"]["scope"] = sc;
    }
    Some(body)
}

/// The Keystone URL of an auth method (None for `auth_type: none`).
pub fn auth_url(auth: &Auth) -> Option<&str> {
    match auth {
        Auth::Password { auth_url, .. }
        | Auth::ApplicationCredential { auth_url, .. }
        | Auth::Token { auth_url, .. } => Some(auth_url),
        Auth::None => None,
    }
}

/// What to check after a 401 from Keystone, by auth method.
pub fn unauthorized_hint(auth: &Auth) -> &'static str {
    match auth {
        Auth::Password { .. } => {
            "the username, password (clouds.yaml, secure.yaml or OS_PASSWORD), user and project \
             domains, and that the user has a role on the project"
        }
        Auth::ApplicationCredential { .. } => {
            "application_credential_id and _secret; the credential may be expired or deleted \
             (openstack application credential show)"
        }
        Auth::Token { .. } => "the token: it may be expired or revoked (openstack token issue)",
        Auth::None => "the endpoint: it asks for a token, so auth_type none does not fit it",
    }
}

/// What to check after a 404 from Keystone's token call, by auth method.
/// Keystone 30 answers a revoked or expired token given as `auth_type:
/// v3token` with 404 "Failed to validate token" (measured with
/// conformance/cloud), not 401.
pub fn not_found_hint(auth: &Auth) -> &'static str {
    match auth {
        Auth::Token { .. } => {
            "the token: it may be expired or revoked (openstack token issue); else auth_url: \
             it must be Keystone's URL, e.g. https://host:5000/v3"
        }
        _ => "auth_url: it must be Keystone's URL, e.g. https://host:5000/v3",
    }
}

/// One endpoint of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub interface: String,
    pub region: String,
    pub url: String,
}

/// The endpoints of the service `service_type` in a token body.
pub fn endpoints(token_body: &Value, service_type: &str) -> Option<Vec<Endpoint>> {
    let catalog = token_body.get("token")?.get("catalog")?.as_array()?;
    let service = catalog
        .iter()
        .find(|s| s.get("type").and_then(Value::as_str) == Some(service_type))?;
    let eps = service.get("endpoints")?.as_array()?;
    Some(
        eps.iter()
            .filter_map(|e| {
                let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
                Some(Endpoint {
                    interface: s("interface")?,
                    region: s("region_id").or_else(|| s("region")).unwrap_or_default(),
                    url: s("url")?,
                })
            })
            .collect(),
    )
}

/// Picks the endpoint for `interface` and `region` (any region when None and
/// only one region offers it). Err is the message saying what the catalog has.
pub fn pick_endpoint(
    eps: &[Endpoint],
    interface: &str,
    region: Option<&str>,
) -> Result<Endpoint, String> {
    let listed = || {
        eps.iter()
            .map(|e| format!("{} in {}", e.interface, e.region))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let of_interface: Vec<&Endpoint> = eps.iter().filter(|e| e.interface == interface).collect();
    let chosen: Vec<&Endpoint> = match region {
        Some(r) => of_interface.into_iter().filter(|e| e.region == r).collect(),
        None => of_interface,
    };
    let mut regions: Vec<&str> = chosen.iter().map(|e| e.region.as_str()).collect();
    regions.dedup();
    match (chosen.first(), regions.len()) {
        (None, _) => Err(format!(
            "the catalog has no {interface} network endpoint{} (it has: {}); set interface \
             or region_name, or network_endpoint_override",
            region
                .map(|r| format!(" in region {r}"))
                .unwrap_or_default(),
            if eps.is_empty() {
                "none".to_string()
            } else {
                listed()
            }
        )),
        (Some(e), 1) => Ok((*e).clone()),
        (Some(_), _) => Err(format!(
            "the network service has {interface} endpoints in several regions ({}); set \
             region_name (OS_REGION_NAME)",
            regions.join(", ")
        )),
    }
}

/// Neutron's API root (`.../v2.0`) from a catalog URL or an override, written
/// with or without the version.
pub fn network_api_root(url: &str) -> String {
    let u = url.trim().trim_end_matches('/');
    if u.ends_with("/v2.0") {
        u.to_string()
    } else {
        format!("{u}/v2.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn password_body_is_scoped_to_the_project() {
        let a = Auth::Password {
            auth_url: "http://k/v3".into(),
            user: UserRef::Name {
                name: "u".into(),
                domain: DomainRef::Id("default".into()),
            },
            password: Secret::new("p"),
            scope: Scope::ProjectName {
                name: "lb".into(),
                domain: DomainRef::Name("Default".into()),
            },
        };
        assert_eq!(
            auth_request(&a).unwrap(),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "u", "domain": {"id": "default"}, "password": "p"}}},
                "scope": {"project": {"name": "lb", "domain": {"name": "Default"}}}}})
        );
    }

    #[test]
    fn application_credential_has_no_scope() {
        let a = Auth::ApplicationCredential {
            auth_url: "http://k/v3".into(),
            id: Some("i".into()),
            name: None,
            user: None,
            secret: Secret::new("s"),
        };
        let b = auth_request(&a).unwrap();
        assert!(b["auth"].get("scope").is_none());
        assert_eq!(b["auth"]["identity"]["application_credential"]["id"], "i");
        assert!(auth_request(&Auth::None).is_none());
    }

    fn catalog() -> Value {
        json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://k"}]},
            {"type": "network", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://n1:9696"},
                {"interface": "internal", "region_id": "R1", "url": "http://n1i:9696/"},
                {"interface": "public", "region_id": "R2", "url": "http://n2:9696/v2.0/"}
            ]}
        ]}})
    }

    #[test]
    fn endpoint_by_region_and_interface() {
        let eps = endpoints(&catalog(), "network").unwrap();
        assert_eq!(
            pick_endpoint(&eps, "internal", None).unwrap().url,
            "http://n1i:9696/"
        );
        assert_eq!(
            pick_endpoint(&eps, "public", Some("R2")).unwrap().url,
            "http://n2:9696/v2.0/"
        );
        let e = pick_endpoint(&eps, "public", None).unwrap_err();
        assert!(e.contains("R1, R2") && e.contains("region_name"), "{e}");
        let e = pick_endpoint(&eps, "admin", None).unwrap_err();
        assert!(e.contains("no admin network endpoint"), "{e}");
    }

    #[test]
    fn api_root() {
        assert_eq!(network_api_root("http://n:9696"), "http://n:9696/v2.0");
        assert_eq!(
            network_api_root("http://n:9696/v2.0/"),
            "http://n:9696/v2.0"
        );
        assert_eq!(
            network_api_root("https://c.example/network/"),
            "https://c.example/network/v2.0"
        );
    }
}
