//! Reads Neutron JSON into a [`Cloud`]. Accepted documents (docs/inputs.md has
//! the recipes):
//!
//! - API responses: list responses (`{"ports": [...]}`, several lists merged in
//!   one object), single objects (`{"port": {...}}`), bare API objects;
//! - the CLI's `show -f json` output (`openstack port show`, `openstack
//!   security group show`, ...), one object or a JSON list of them (`jq -s`);
//! - the CLI's `list -f json` output with display column names (`openstack port
//!   list --long`, `openstack security group rule list`, `openstack security
//!   group list`, `openstack network list`, `openstack subnet list`), see
//!   load/list.rs for their columns;
//! - any mix of these in one JSON list (also `jq -s` of API responses or of
//!   lists), or several JSON documents one after another in a file.
//!
//! CLI facts (python-openstackclient `network/v2/port.py`, `security_group.py`,
//! osc-lib `format_columns`): `show -f json` prints `fixed_ips` and
//! `allowed_address_pairs` as lists of dicts, clients before 4.0.0 as the
//! `format_list_of_dicts` text (`key='value', key='value'` per dict, dicts
//! joined by newlines); the host is `binding_host_id`, groups are
//! `security_group_ids`, and a group's rules are `rules`.
//!
//! Objects met more than once (in one file or several) are merged field by
//! field; a field two inputs give differently is a [`Conflict`].
//! Fields no input carried are recorded in [`Cloud::unknown`]. Unknown JSON
//! fields are ignored. [`load_files`] also refuses references to security
//! groups that are in none of the inputs ([`LoadError::MissingGroups`]).

mod api;
mod list;
mod merge;
mod read;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::model::{Cloud, Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use read::Ctx;

/// Why the inputs could not be loaded; the message names the file, the object and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{source_name}:{line}:{column}: not valid JSON: {message}")]
    Json {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Shape {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {object}: field \"{field}\": {message}")]
    Field {
        source_name: String,
        object: String,
        field: String,
        message: String,
    },
    /// The same object (same id) with a different value of one field in two inputs.
    #[error("{0}")]
    Conflict(Box<Conflict>),
    /// Ports or rules that name security groups none of the inputs hold.
    #[error("{}", missing_text(.0))]
    MissingGroups(Vec<MissingGroup>),
}

/// Two inputs that give one object's field different values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{object}: field \"{field}\" differs between inputs: {first_source} has {first_value}, \
     {second_source} has {second_value}; export both at one moment, or leave one out"
)]
pub struct Conflict {
    /// `port "director-1" (3f2a...)`.
    pub object: String,
    /// The API field (`port_range` for a rule's port_range_min and _max).
    pub field: String,
    pub first_source: String,
    pub first_value: String,
    pub second_source: String,
    pub second_value: String,
}

/// A reference to a security group that is in none of the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingGroup {
    /// The input(s) the reference was read from.
    pub source_name: String,
    /// `port "director-1" (3f2a...)` or `security group rule R of security group "web" (G)`.
    pub object: String,
    /// `security_groups` (a port's groups) or `remote_group_id` (a rule's remote group).
    pub field: &'static str,
    pub group_id: String,
}

impl fmt::Display for MissingGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: field \"{}\": security group {} is in none of the inputs",
            self.source_name, self.object, self.field, self.group_id
        )
    }
}

fn missing_text(v: &[MissingGroup]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for m in v {
        lines.push(m.to_string());
        if !ids.contains(&m.group_id.as_str()) {
            ids.push(&m.group_id);
        }
    }
    let which = if ids.len() == 1 {
        format!("`openstack security group show -f json {}`", ids[0])
    } else {
        format!(
            "`openstack security group show -f json GROUP` for each of {}",
            ids.join(", ")
        )
    };
    lines.push(format!(
        "hint: add {which} (as files, or one list with `jq -s`) or the API's \
         GET /v2.0/security-groups to the inputs"
    ));
    lines.join("\n")
}

/// Loads one JSON document (see the module doc for the accepted shapes). Objects
/// met twice are merged; references to groups outside the document are not
/// checked (the document may be one of several inputs; [`load_files`] checks).
pub fn load_json(text: &str, source: &str) -> Result<Cloud, LoadError> {
    let mut m = merge::Merger::default();
    m.add(source, parse(text, source)?)?;
    Ok(m.finish())
}

/// Loads a file from disk with [`load_json`]; the error names the path.
pub fn load_file(path: &std::path::Path) -> Result<Cloud, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Shape {
        source_name: name.clone(),
        message: format!("cannot read: {e}"),
    })?;
    load_json(&text, &name)
}

/// Loads several inputs, each `(text, display name)`, into one cloud: the same
/// object (by id) in two inputs is merged field by field (a field only one input
/// has is taken from it; rules join their group; a field both give differently
/// is a [`Conflict`] naming both inputs). Then every group a port or
/// a rule names must be in the inputs ([`LoadError::MissingGroups`]).
pub fn load_files(inputs: &[(String, String)]) -> Result<Cloud, LoadError> {
    let mut m = merge::Merger::default();
    for (text, name) in inputs {
        m.add(name, parse(text, name)?)?;
    }
    let cloud = m.finish();
    m.check_references(&cloud)?;
    Ok(cloud)
}

/// Parses one input into objects (not yet merged).
fn parse(text: &str, source: &str) -> Result<Vec<Item>, LoadError> {
    let json_error = |e: serde_json::Error| LoadError::Json {
        source_name: source.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let mut w = Walker {
        source,
        items: Vec::new(),
    };
    let mut docs = 0;
    // Several documents one after another: `openstack port show -f json` run
    // in a loop with its output appended to one file.
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        w.document(&value.map_err(json_error)?, "")?;
        docs += 1;
    }
    if docs == 0 {
        return Err(w.shape("empty: expected a JSON object or list"));
    }
    Ok(w.items)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Network,
    Subnet,
    Port,
    Group,
    Rule,
}

impl Kind {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::Group => "security group",
            Kind::Rule => "security group rule",
        }
    }
}

/// The kind of input an object was read from (for messages and hints).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Form {
    Api,
    Show(Kind),
    PortList,
    RuleList,
    GroupList,
    NetworkList,
    SubnetList,
}

impl Form {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Form::Api => "Neutron API JSON",
            Form::Show(Kind::Port) => "`openstack port show -f json`",
            Form::Show(Kind::Group) => "`openstack security group show -f json`",
            Form::Show(Kind::Rule) => "`openstack security group rule show -f json`",
            Form::Show(Kind::Network) => "`openstack network show -f json`",
            Form::Show(Kind::Subnet) => "`openstack subnet show -f json`",
            Form::PortList => "`openstack port list --long -f json`",
            Form::RuleList => "`openstack security group rule list -f json`",
            Form::GroupList => "`openstack security group list -f json`",
            Form::NetworkList => "`openstack network list -f json`",
            Form::SubnetList => "`openstack subnet list -f json`",
        }
    }
}

/// The fields an input carried for an object (API field names, plus
/// `port_range` for a rule's min and max); `true` marks a lossy rendering
/// (sorted group list, a rule list's `Port Range` / `IP Range`) that is
/// compared with other inputs as the CLI would print it.
pub(crate) type Known = BTreeMap<&'static str, bool>;

/// One object as one input gave it.
pub(crate) struct Obj<T> {
    pub value: T,
    pub known: Known,
    pub form: Form,
}

impl<T> Obj<T> {
    pub(crate) fn new(value: T, known: Known) -> Obj<T> {
        Obj {
            value,
            known,
            form: Form::Api,
        }
    }
}

pub(crate) enum Item {
    Network(Obj<Network>),
    Subnet(Obj<Subnet>),
    Port(Obj<Port>),
    /// A group without its rules (they follow as `Rule` items).
    Group(Obj<SecurityGroup>),
    Rule(Obj<SecurityGroupRule>),
}

impl Item {
    pub(crate) fn with_form(mut self, form: Form) -> Item {
        match &mut self {
            Item::Network(o) => o.form = form,
            Item::Subnet(o) => o.form = form,
            Item::Port(o) => o.form = form,
            Item::Group(o) => o.form = form,
            Item::Rule(o) => o.form = form,
        }
        self
    }
}

struct Walker<'a> {
    source: &'a str,
    items: Vec<Item>,
}

impl Walker<'_> {
    fn shape(&self, message: impl Into<String>) -> LoadError {
        LoadError::Shape {
            source_name: self.source.to_string(),
            message: message.into(),
        }
    }

    fn document(&mut self, v: &Value, place: &str) -> Result<(), LoadError> {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let here = format!("{place}[{i}]");
                    match item {
                        // `jq -s` of API responses: a list of `{"ports": [...]}` objects.
                        Value::Object(obj) if is_wrapper(obj) => self.top_object(obj)?,
                        Value::Object(obj) => self.bare(obj, &here, true)?,
                        // `jq -s` of files that each hold a list.
                        Value::Array(_) => self.document(item, &here)?,
                        _ => {
                            return Err(self.shape(format!(
                                "item {here} of the top-level list is not an object"
                            )))
                        }
                    }
                }
                Ok(())
            }
            Value::Object(map) => self.top_object(map),
            _ => Err(self.shape("expected a JSON object or list at the top level")),
        }
    }

    /// An object that is itself a resource: an API object, a `show -f json`
    /// object, or a row of a `list -f json`.
    fn bare(
        &mut self,
        obj: &Map<String, Value>,
        place: &str,
        in_list: bool,
    ) -> Result<(), LoadError> {
        let what = if in_list {
            format!("item {place} of the top-level list")
        } else {
            "object with an \"id\"".to_string()
        };
        if let Some(form) = list::row_form(obj) {
            let kind = match form {
                Form::PortList => Kind::Port,
                Form::RuleList => Kind::Rule,
                Form::GroupList => Kind::Group,
                Form::NetworkList => Kind::Network,
                _ => Kind::Subnet,
            };
            let cx = self.ctx(kind, obj, place, "ID", "Name");
            let item = list::row(&cx, form, obj)?;
            self.items.push(item);
            return Ok(());
        }
        match guess_kind(obj) {
            Some(kind) => {
                let form = if cli_show_keys(kind, obj) {
                    Form::Show(kind)
                } else {
                    Form::Api
                };
                self.object(kind, form, obj, place)
            }
            None => Err(self.shape(format!(
                "{what} is not a network, subnet, port, security group or rule"
            ))),
        }
    }

    fn top_object(&mut self, map: &Map<String, Value>) -> Result<(), LoadError> {
        // A bare object (CLI `show -f json`) has an `id`; wrappers do not.
        if map.contains_key("id") || map.contains_key("ID") {
            return self.bare(map, "", false);
        }
        let mut found = false;
        for (key, kind) in LISTS {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    found = true;
                    for (i, item) in items.iter().enumerate() {
                        let obj = item
                            .as_object()
                            .ok_or_else(|| self.shape(format!("{key}[{i}] is not an object")))?;
                        self.object(kind, Form::Api, obj, &format!("{key}[{i}]"))?;
                    }
                }
                Some(_) => return Err(self.shape(format!("\"{key}\" is not a list"))),
            }
        }
        for (key, kind) in SINGLE {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(obj)) => {
                    found = true;
                    self.object(kind, Form::Api, obj, key)?;
                }
                Some(_) => return Err(self.shape(format!("\"{key}\" is not an object"))),
            }
        }
        if found {
            Ok(())
        } else {
            Err(self.shape(
                "no networks, subnets, ports, security_groups or security_group_rules found at the top level",
            ))
        }
    }

    fn ctx(
        &self,
        kind: Kind,
        obj: &Map<String, Value>,
        place: &str,
        id_key: &str,
        name_key: &str,
    ) -> Ctx<'_> {
        let get = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
        Ctx {
            source: self.source,
            object: describe(kind.noun(), get(id_key), get(name_key), place),
        }
    }

    fn object(
        &mut self,
        kind: Kind,
        form: Form,
        obj: &Map<String, Value>,
        place: &str,
    ) -> Result<(), LoadError> {
        let cx = self.ctx(kind, obj, place, "id", "name");
        let items = match kind {
            Kind::Network => vec![Item::Network(api::network(&cx, obj)?)],
            Kind::Subnet => vec![Item::Subnet(api::subnet(&cx, obj, &api::API_SUBNET)?)],
            Kind::Port => vec![Item::Port(api::port(&cx, obj)?)],
            Kind::Group => api::group(&cx, obj)?,
            Kind::Rule => vec![Item::Rule(api::rule(&cx, obj, None)?)],
        };
        self.items
            .extend(items.into_iter().map(|it| it.with_form(form)));
        Ok(())
    }
}

/// API response keys: list responses and single-object responses.
const LISTS: [(&str, Kind); 5] = [
    ("networks", Kind::Network),
    ("subnets", Kind::Subnet),
    ("ports", Kind::Port),
    ("security_groups", Kind::Group),
    ("security_group_rules", Kind::Rule),
];
const SINGLE: [(&str, Kind); 5] = [
    ("network", Kind::Network),
    ("subnet", Kind::Subnet),
    ("port", Kind::Port),
    ("security_group", Kind::Group),
    ("security_group_rule", Kind::Rule),
];

/// An API response object (`{"ports": [...]}`, `{"port": {...}}`), not a resource.
fn is_wrapper(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("id")
        && !obj.contains_key("ID")
        && LISTS
            .iter()
            .chain(SINGLE.iter())
            .any(|(k, _)| obj.contains_key(*k))
}

fn guess_kind(obj: &Map<String, Value>) -> Option<Kind> {
    let has = |k: &str| obj.contains_key(k);
    if has("mac_address") || has("fixed_ips") || has("binding:host_id") || has("binding_host_id") {
        Some(Kind::Port)
    } else if has("security_group_rules") || has("rules") || has("stateful") {
        Some(Kind::Group)
    } else if has("direction")
        && (has("ethertype") || has("ether_type") || has("security_group_id"))
    {
        Some(Kind::Rule)
    } else if has("cidr") {
        Some(Kind::Subnet)
    } else if has("subnets") || has("mtu") || has("provider:network_type") || has("router:external")
    {
        Some(Kind::Network)
    } else {
        None
    }
}

/// Whether a bare object has the CLI's (SDK) field names rather than the API's.
fn cli_show_keys(kind: Kind, obj: &Map<String, Value>) -> bool {
    let has = |k: &str| obj.contains_key(k);
    match kind {
        Kind::Port => {
            has("binding_host_id") || has("security_group_ids") || has("is_port_security_enabled")
        }
        Kind::Group => has("rules"),
        Kind::Rule => has("ether_type"),
        Kind::Network => has("subnet_ids") || has("is_router_external"),
        Kind::Subnet => has("is_dhcp_enabled"),
    }
}

/// `port "name" (id)`, `port id`, `port "name"`, `port at ports[3]`.
pub(crate) fn describe(noun: &str, id: &str, name: &str, place: &str) -> String {
    match (name.is_empty(), id.is_empty()) {
        (false, false) => format!("{noun} \"{name}\" ({id})"),
        (true, false) => format!("{noun} {id}"),
        (false, true) => format!("{noun} \"{name}\""),
        (true, true) if place.is_empty() => noun.to_string(),
        (true, true) => format!("{noun} at {place}"),
    }
}
