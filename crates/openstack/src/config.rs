//! Which cloud to talk to and how: clouds.yaml (+ secure.yaml) or `OS_*`
//! variables, resolved into one [`CloudConfig`].
//!
//! Where files are looked for, first found wins (the order the OpenStack client
//! libraries document for os-client-config / openstacksdk "Config files"):
//! `$OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`, `~/.config/openstack/clouds.yaml`,
//! `/etc/openstack/clouds.yaml` (each also as `.yml`); secure.yaml likewise
//! (`$OS_CLIENT_SECURE_FILE` first), deep-merged over the cloud's entry so
//! passwords can live apart from the rest.
//!
//! The cloud's name comes from `--os-cloud`, else `OS_CLOUD`. With no name, the
//! `OS_*` variables describe the cloud (`OS_AUTH_URL`, `OS_USERNAME`, ...: each
//! `OS_X` is the key `x`, auth keys go under `auth:`), as the `openstack` CLI
//! reads an openrc file. A named cloud is read from the files only.
//!
//! Not supported (an error says so): vendor `profile:` entries, Keystone v2.
//! [`find_files`] is the only part that reads the disk; [`resolve`] is pure.

use crate::error::OpenStackError;
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The process environment, as a map (tests give their own).
pub type Env = BTreeMap<String, String>;

/// The environment of this process.
pub fn process_env() -> Env {
    std::env::vars().collect()
}

/// A YAML file found on disk, with its text.
#[derive(Clone, Debug)]
pub struct FoundFile {
    pub path: PathBuf,
    pub text: String,
}

/// The clouds.yaml and secure.yaml found, and every place that was searched.
#[derive(Clone, Debug, Default)]
pub struct FoundFiles {
    pub clouds: Option<FoundFile>,
    pub secure: Option<FoundFile>,
    pub searched: Vec<PathBuf>,
}

/// The places clouds.yaml (`stem` = "clouds") or secure.yaml ("secure") is
/// looked for, in order.
pub fn search_paths(stem: &str, env: &Env, cwd: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![cwd.to_path_buf()];
    if let Some(home) = env.get("HOME").filter(|h| !h.is_empty()) {
        let config_home = env
            .get("XDG_CONFIG_HOME")
            .filter(|x| !x.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(home).join(".config"));
        dirs.push(config_home.join("openstack"));
    }
    dirs.push(PathBuf::from("/etc/openstack"));
    let mut out = Vec::new();
    let explicit = if stem == "clouds" {
        "OS_CLIENT_CONFIG_FILE"
    } else {
        "OS_CLIENT_SECURE_FILE"
    };
    if let Some(p) = env.get(explicit).filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    for d in dirs {
        out.push(d.join(format!("{stem}.yaml")));
        out.push(d.join(format!("{stem}.yml")));
    }
    out
}

/// Reads the first clouds.yaml and secure.yaml found (the edge of this module).
pub fn find_files(env: &Env) -> Result<FoundFiles, OpenStackError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut found = FoundFiles::default();
    for (stem, slot) in [("clouds", 0), ("secure", 1)] {
        for path in search_paths(stem, env, &cwd) {
            if slot == 0 {
                found.searched.push(path.clone());
            }
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                OpenStackError::Config(format!("{}: cannot read: {e}", path.display()))
            })?;
            let f = Some(FoundFile { path, text });
            if slot == 0 {
                found.clouds = f;
            } else {
                found.secure = f;
            }
            break;
        }
    }
    Ok(found)
}

/// How vipwire authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Keystone v3 password (`auth_type: password` or `v3password`, the default).
    Password {
        auth_url: String,
        user: UserRef,
        password: Secret,
        scope: Scope,
    },
    /// Keystone v3 application credential (`v3applicationcredential`).
    ApplicationCredential {
        auth_url: String,
        id: Option<String>,
        name: Option<String>,
        /// With `name`: whose credential it is.
        user: Option<UserRef>,
        secret: Secret,
    },
    /// Keystone v3 token (`token` or `v3token`): rescoped to the project.
    Token {
        auth_url: String,
        token: Secret,
        scope: Scope,
    },
    /// No Keystone (`auth_type: none`): a standalone Neutron at an endpoint override.
    None,
}

/// A user by id, or by name within a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// A domain by id or name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

/// What the token is scoped to (the catalog comes with a scoped token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    ProjectId(String),
    ProjectName { name: String, domain: DomainRef },
    Domain(DomainRef),
    System,
    Unscoped,
}

/// One resolved cloud: everything needed to reach its Network API.
#[derive(Clone, Debug)]
pub struct CloudConfig {
    /// The cloud's name in clouds.yaml, or `envvars` for `OS_*` variables.
    pub name: String,
    /// Where it was read from, for messages (no secrets).
    pub source: String,
    pub auth: Auth,
    /// `region_name` (`OS_REGION_NAME`).
    pub region: Option<String>,
    /// `interface` (`OS_INTERFACE`): public (default), internal, admin.
    pub interface: String,
    /// `network_endpoint_override`: the Neutron URL instead of the catalog's.
    pub network_endpoint_override: Option<String>,
    /// `cacert` (`OS_CACERT`): PEM file with the CA(s) to trust instead of the system's.
    pub cacert: Option<PathBuf>,
    /// `insecure: true` / `verify: false` (`OS_INSECURE`): no TLS verification.
    pub insecure: bool,
    /// `api_timeout` (seconds): per request. Default 60 s.
    pub timeout: Duration,
    /// `connect_retries`: extra attempts after a connection error. Default 2.
    pub connect_retries: u32,
    /// `status_code_retries`: extra attempts after a 5xx or 429. Default 2.
    pub status_code_retries: u32,
}

/// Keys that belong under `auth:` when they come from `OS_*` variables.
const AUTH_KEYS: &[&str] = &[
    "auth_url",
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "tenant_name",
    "tenant_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "domain_name",
    "domain_id",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    "token",
    "system_scope",
];

/// Resolves the cloud `name` (or the `OS_*` variables when `name` is None).
pub fn resolve(
    name: Option<&str>,
    files: &FoundFiles,
    env: &Env,
) -> Result<CloudConfig, OpenStackError> {
    let name = name
        .map(str::to_string)
        .or_else(|| env.get("OS_CLOUD").filter(|c| !c.is_empty()).cloned());
    let (entry, cloud_name, source) = match name {
        Some(name) => {
            let Some(clouds) = &files.clouds else {
                let searched: Vec<String> = files
                    .searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(OpenStackError::Config(format!(
                    "cloud \"{name}\": no clouds.yaml found (searched {})",
                    searched.join(", ")
                )));
            };
            let doc = parse_yaml(clouds)?;
            let mut entry = cloud_entry(&doc, &name)
                .ok_or_else(|| {
                    let names: Vec<String> = doc
                        .get("clouds")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    OpenStackError::Config(format!(
                        "cloud \"{name}\" is not in {} (clouds there: {})",
                        clouds.path.display(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?
                .clone();
            let mut source = clouds.path.display().to_string();
            if let Some(secure) = &files.secure {
                let sdoc = parse_yaml(secure)?;
                if let Some(s) = cloud_entry(&sdoc, &name) {
                    deep_merge(&mut entry, s);
                    source.push_str(&format!(" + {}", secure.path.display()));
                }
            }
            (entry, name, source)
        }
        None => {
            let entry = entry_from_env(env);
            if entry.as_object().is_none_or(|m| m.is_empty()) {
                return Err(OpenStackError::Config(
                    "no cloud given: pass --os-cloud NAME (a cloud in clouds.yaml), set \
                     OS_CLOUD, or source an openrc file (OS_AUTH_URL, OS_USERNAME, ...)"
                        .into(),
                ));
            }
            (entry, "envvars".to_string(), "OS_* variables".to_string())
        }
    };
    from_entry(&cloud_name, &source, &entry)
}

fn parse_yaml(f: &FoundFile) -> Result<Value, OpenStackError> {
    serde_saphyr::from_str::<Value>(&f.text).map_err(|e| OpenStackError::Yaml {
        file: f.path.display().to_string(),
        message: e.to_string(),
    })
}

fn cloud_entry<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc.get("clouds")?.get(name)
}

/// Merges `over` into `base`, maps key by key (secure.yaml over clouds.yaml).
fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => deep_merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `OS_X=v` -> key `x`; auth keys under `auth`. Legacy `OS_ENDPOINT_TYPE` is
/// `interface`; `OS_TENANT_*` are projects.
fn entry_from_env(env: &Env) -> Value {
    let mut top = Map::new();
    let mut auth = Map::new();
    for (k, v) in env {
        let Some(key) = k.strip_prefix("OS_") else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if matches!(
            key.as_str(),
            "cloud" | "client_config_file" | "client_secure_file"
        ) {
            continue;
        }
        let key = match key.as_str() {
            "endpoint_type" => "interface".to_string(),
            "tenant_name" => "project_name".to_string(),
            "tenant_id" => "project_id".to_string(),
            _ => key,
        };
        if AUTH_KEYS.contains(&key.as_str()) {
            auth.entry(key).or_insert(Value::String(v.clone()));
        } else {
            top.entry(key).or_insert(Value::String(v.clone()));
        }
    }
    if !auth.is_empty() {
        top.insert("auth".into(), Value::Object(auth));
    }
    Value::Object(top)
}

/// A YAML or env value as text (numbers and booleans too).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn boolean(v: Option<&Value>, cloud: &str, key: &str) -> Result<Option<bool>, OpenStackError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" | "" => Ok(Some(false)),
            _ => Err(OpenStackError::Config(format!(
                "cloud \"{cloud}\": {key}: \"{s}\" is not a boolean (true/false)"
            ))),
        },
        Some(other) => Err(OpenStackError::Config(format!(
            "cloud \"{cloud}\": {key}: {other} is not a boolean"
        ))),
    }
}

fn number(v: Option<&Value>, cloud: &str, key: &str) -> Result<Option<f64>, OpenStackError> {
    match text(v) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(Some)
            .ok_or_else(|| {
                OpenStackError::Config(format!(
                    "cloud \"{cloud}\": {key}: \"{s}\" is not a non-negative number"
                ))
            }),
    }
}

/// Builds the config from one cloud entry (clouds.yaml shape).
fn from_entry(cloud: &str, source: &str, entry: &Value) -> Result<CloudConfig, OpenStackError> {
    if entry.get("profile").is_some() {
        return Err(OpenStackError::Config(format!(
            "cloud \"{cloud}\" ({source}): `profile:` (vendor defaults) is not supported; \
             write auth_url, region_name and interface into the cloud's entry"
        )));
    }
    let empty = Value::Object(Map::new());
    let auth = entry.get("auth").unwrap_or(&empty);
    let a = |k: &str| text(auth.get(k));
    let auth_type = text(entry.get("auth_type"))
        .unwrap_or_else(|| {
            if a("application_credential_secret").is_some() {
                "v3applicationcredential".into()
            } else if a("token").is_some() && a("password").is_none() {
                "v3token".into()
            } else {
                "password".into()
            }
        })
        .to_ascii_lowercase();
    let missing = |what: &str, hint: &str| {
        OpenStackError::Config(format!(
            "cloud \"{cloud}\" ({source}): {what} is missing; {hint}"
        ))
    };
    let auth_url = || -> Result<String, OpenStackError> {
        let url = a("auth_url").ok_or_else(|| {
            missing(
                "auth.auth_url",
                "set it to the Keystone URL (OS_AUTH_URL), e.g. https://keystone.example:5000/v3",
            )
        })?;
        keystone_v3_url(&url).map_err(|m| {
            OpenStackError::Config(format!("cloud \"{cloud}\" ({source}): auth_url {url}: {m}"))
        })
    };
    let domain = |id: &str, name: &str| -> Option<DomainRef> {
        a(id)
            .map(DomainRef::Id)
            .or_else(|| a(name).map(DomainRef::Name))
    };
    // `domain_*` is the default for the user's and the project's domain when a
    // project is named; alone, it scopes to the domain. Without any, the
    // `openstack` CLI's default domain is `default`.
    let has_project = a("project_id").is_some()
        || a("project_name").is_some()
        || a("tenant_id").is_some()
        || a("tenant_name").is_some();
    let fallback_domain = domain("domain_id", "domain_name");
    let default_domain = || DomainRef::Id("default".into());
    let scope = || -> Scope {
        if let Some(id) = a("project_id").or_else(|| a("tenant_id")) {
            Scope::ProjectId(id)
        } else if let Some(name) = a("project_name").or_else(|| a("tenant_name")) {
            Scope::ProjectName {
                name,
                domain: domain("project_domain_id", "project_domain_name")
                    .or_else(|| fallback_domain.clone())
                    .unwrap_or_else(default_domain),
            }
        } else if let Some(d) = fallback_domain.clone() {
            Scope::Domain(d)
        } else if text(auth.get("system_scope")).is_some() {
            Scope::System
        } else {
            Scope::Unscoped
        }
    };
    let user = || -> Option<UserRef> {
        if let Some(id) = a("user_id") {
            return Some(UserRef::Id(id));
        }
        let name = a("username")?;
        let dom = domain("user_domain_id", "user_domain_name")
            .or_else(|| {
                if has_project {
                    fallback_domain.clone()
                } else {
                    None
                }
            })
            .unwrap_or_else(default_domain);
        Some(UserRef::Name { name, domain: dom })
    };
    let auth = match auth_type.as_str() {
        "password" | "v3password" => Auth::Password {
            auth_url: auth_url()?,
            user: user()
                .ok_or_else(|| missing("auth.username (or user_id)", "set it (OS_USERNAME)"))?,
            password: Secret::new(a("password").ok_or_else(|| {
                missing(
                    "auth.password",
                    "set it in clouds.yaml, secure.yaml or OS_PASSWORD",
                )
            })?),
            scope: scope(),
        },
        "v3applicationcredential" | "application_credential" | "applicationcredential" => {
            let id = a("application_credential_id");
            let name = a("application_credential_name");
            if id.is_none() && name.is_none() {
                return Err(missing(
                    "auth.application_credential_id (or _name with a user)",
                    "set it (OS_APPLICATION_CREDENTIAL_ID)",
                ));
            }
            let user = user();
            if id.is_none() && user.is_none() {
                return Err(missing(
                    "auth.username or user_id",
                    "an application credential given by name needs its user",
                ));
            }
            Auth::ApplicationCredential {
                auth_url: auth_url()?,
                id,
                name,
                user,
                secret: Secret::new(a("application_credential_secret").ok_or_else(|| {
                    missing(
                        "auth.application_credential_secret",
                        "set it in clouds.yaml, secure.yaml or OS_APPLICATION_CREDENTIAL_SECRET",
                    )
                })?),
            }
        }
        "token" | "v3token" => Auth::Token {
            auth_url: auth_url()?,
            token: Secret::new(
                a("token").ok_or_else(|| missing("auth.token", "set it (OS_TOKEN)"))?,
            ),
            scope: scope(),
        },
        "none" | "noauth" => Auth::None,
        other => {
            return Err(OpenStackError::Config(format!(
                "cloud \"{cloud}\" ({source}): auth_type \"{other}\" is not supported \
                 (supported: password, v3applicationcredential, v3token, none)"
            )))
        }
    };
    let network_endpoint_override = text(entry.get("network_endpoint_override"));
    if auth == Auth::None && network_endpoint_override.is_none() {
        return Err(missing(
            "network_endpoint_override",
            "auth_type none has no catalog: give the Neutron URL, e.g. \
             network_endpoint_override: http://127.0.0.1:9696/",
        ));
    }
    let region = text(entry.get("region_name")).or_else(|| {
        // A `regions:` list with one entry names the region.
        match entry.get("regions").and_then(Value::as_array) {
            Some(list) if list.len() == 1 => {
                text(list.first()).or_else(|| text(list[0].get("name")))
            }
            _ => None,
        }
    });
    let interface = text(entry.get("interface"))
        .map(|i| {
            // Keystone v2 spellings (publicURL, internalURL, adminURL).
            i.trim_end_matches("URL").to_ascii_lowercase()
        })
        .unwrap_or_else(|| "public".into());
    if !matches!(interface.as_str(), "public" | "internal" | "admin") {
        return Err(OpenStackError::Config(format!(
            "cloud \"{cloud}\" ({source}): interface \"{interface}\" is not public, internal or admin"
        )));
    }
    let verify = boolean(entry.get("verify"), cloud, "verify")?;
    let insecure = boolean(entry.get("insecure"), cloud, "insecure")?;
    let insecure = insecure.unwrap_or(false) || verify == Some(false);
    let cacert = text(entry.get("cacert")).map(PathBuf::from);
    let timeout = number(entry.get("api_timeout"), cloud, "api_timeout")?
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(60));
    let retries = |key: &str| -> Result<u32, OpenStackError> {
        Ok(number(entry.get(key), cloud, key)?
            .map(|n| n.min(10.0) as u32)
            .unwrap_or(2))
    };
    Ok(CloudConfig {
        name: cloud.to_string(),
        source: source.to_string(),
        auth,
        region,
        interface,
        network_endpoint_override,
        cacert,
        insecure,
        timeout,
        connect_retries: retries("connect_retries")?,
        status_code_retries: retries("status_code_retries")?,
    })
}

/// The Keystone v3 base URL from an `auth_url` written with or without `/v3`.
pub fn keystone_v3_url(url: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err("not an http:// or https:// URL".into());
    }
    if u.ends_with("/v2.0") {
        return Err("Keystone v2.0 is gone since Queens; use the /v3 URL".into());
    }
    if u.ends_with("/v3") {
        Ok(u.to_string())
    } else {
        Ok(format!("{u}/v3"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(clouds: &str, secure: Option<&str>) -> FoundFiles {
        FoundFiles {
            clouds: Some(FoundFile {
                path: "clouds.yaml".into(),
                text: clouds.into(),
            }),
            secure: secure.map(|s| FoundFile {
                path: "secure.yaml".into(),
                text: s.into(),
            }),
            searched: vec![],
        }
    }

    const CLOUDS: &str = "clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000
      username: alice
      project_name: lb
      user_domain_name: Users
    region_name: RegionTwo
    interface: internalURL
    cacert: /etc/ssl/prod-ca.pem
    status_code_retries: 0
  standalone:
    auth_type: none
    network_endpoint_override: http://127.0.0.1:9696/
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://192.0.2.10/identity/v3/
      application_credential_id: abc
      application_credential_secret: s3cret
";

    #[test]
    fn clouds_yaml_with_secure_yaml() {
        let f = files(
            CLOUDS,
            Some("clouds:\n  prod:\n    auth:\n      password: pw\n"),
        );
        let c = resolve(Some("prod"), &f, &Env::new()).unwrap();
        assert_eq!(c.region.as_deref(), Some("RegionTwo"));
        assert_eq!(c.interface, "internal");
        assert_eq!(c.status_code_retries, 0);
        assert_eq!(c.connect_retries, 2);
        assert_eq!(c.cacert, Some(PathBuf::from("/etc/ssl/prod-ca.pem")));
        assert_eq!(c.source, "clouds.yaml + secure.yaml");
        match c.auth {
            Auth::Password {
                auth_url,
                user,
                password,
                scope,
            } => {
                assert_eq!(auth_url, "https://keystone.example:5000/v3");
                assert_eq!(
                    user,
                    UserRef::Name {
                        name: "alice".into(),
                        domain: DomainRef::Name("Users".into())
                    }
                );
                assert_eq!(password.expose(), "pw");
                // No project domain given: the CLI's default domain.
                assert_eq!(
                    scope,
                    Scope::ProjectName {
                        name: "lb".into(),
                        domain: DomainRef::Id("default".into())
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn password_missing_names_where_to_put_it() {
        let e = resolve(Some("prod"), &files(CLOUDS, None), &Env::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.password is missing"), "{e}");
        assert!(e.contains("secure.yaml"), "{e}");
    }

    #[test]
    fn os_cloud_selects_and_unknown_cloud_lists_the_known() {
        let mut env = Env::new();
        env.insert("OS_CLOUD".into(), "standalone".into());
        let c = resolve(None, &files(CLOUDS, None), &env).unwrap();
        assert_eq!(c.auth, Auth::None);
        assert_eq!(
            c.network_endpoint_override.as_deref(),
            Some("http://127.0.0.1:9696/")
        );
        let e = resolve(Some("nope"), &files(CLOUDS, None), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("prod, standalone, ac") || e.contains("ac, prod, standalone"),
            "{e}"
        );
    }

    #[test]
    fn application_credential() {
        let c = resolve(Some("ac"), &files(CLOUDS, None), &Env::new()).unwrap();
        match c.auth {
            Auth::ApplicationCredential {
                auth_url,
                id,
                secret,
                ..
            } => {
                assert_eq!(auth_url, "http://192.0.2.10/identity/v3");
                assert_eq!(id.as_deref(), Some("abc"));
                assert_eq!(secret.expose(), "s3cret");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn openrc_variables() {
        let env: Env = [
            ("OS_AUTH_URL", "http://192.0.2.1:5000/v3"),
            ("OS_USERNAME", "bob"),
            ("OS_PASSWORD", "pw"),
            ("OS_PROJECT_ID", "p1"),
            ("OS_REGION_NAME", "R"),
            ("OS_INSECURE", "true"),
            ("OS_ENDPOINT_TYPE", "adminURL"),
            ("PATH", "/bin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = resolve(None, &FoundFiles::default(), &env).unwrap();
        assert_eq!(c.name, "envvars");
        assert!(c.insecure);
        assert_eq!(c.interface, "admin");
        assert_eq!(c.region.as_deref(), Some("R"));
        assert!(
            matches!(c.auth, Auth::Password { scope: Scope::ProjectId(ref p), .. } if p == "p1")
        );
    }

    #[test]
    fn no_cloud_at_all_says_what_to_do() {
        let e = resolve(None, &FoundFiles::default(), &Env::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--os-cloud"), "{e}");
        let e = resolve(Some("x"), &FoundFiles::default(), &Env::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no clouds.yaml found"), "{e}");
    }

    #[test]
    fn auth_type_none_needs_an_endpoint() {
        let y = "clouds:\n  n:\n    auth_type: none\n";
        let e = resolve(Some("n"), &files(y, None), &Env::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("network_endpoint_override"), "{e}");
    }

    #[test]
    fn debug_of_a_config_has_no_secret() {
        let f = files(
            CLOUDS,
            Some("clouds:\n  prod:\n    auth:\n      password: pw-9f3\n"),
        );
        let c = resolve(Some("prod"), &f, &Env::new()).unwrap();
        assert!(!format!("{c:?}").contains("pw-9f3"));
    }

    #[test]
    fn search_order() {
        let env: Env = [("HOME", "/home/u"), ("OS_CLIENT_CONFIG_FILE", "/x/c.yaml")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = search_paths("clouds", &env, Path::new("/w"));
        let p: Vec<String> = p.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            p,
            [
                "/x/c.yaml",
                "/w/clouds.yaml",
                "/w/clouds.yml",
                "/home/u/.config/openstack/clouds.yaml",
                "/home/u/.config/openstack/clouds.yml",
                "/etc/openstack/clouds.yaml",
                "/etc/openstack/clouds.yml"
            ]
        );
    }

    #[test]
    fn v2_auth_url_refused() {
        assert!(keystone_v3_url("http://k:5000/v2.0/").is_err());
        assert_eq!(
            keystone_v3_url("http://k:5000/").unwrap(),
            "http://k:5000/v3"
        );
    }
}
