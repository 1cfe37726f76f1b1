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
//! `security_group_ids`, and a group's rules are `rules`. Checked against
//! python-openstackclient 10.5.0 on neutron-server 29.0.0 (tests/osc.rs has
//! its output): a port show also renames `binding_vif_type`,
//! `binding_vnic_type`, `binding_profile` and `binding_vif_details` and
//! prints them as null for a project member; a group's `rules` are the API's
//! rule objects; network and subnet shows keep the API's names
//! (`subnets`, `router:external`, `provider:*`) beside the SDK's
//! (`is_vlan_transparent`, `segment_id`); no show prints `tenant_id`.
//!
//! Errors name the file, and the line where the object starts when it is a
//! document of its own or an item of a top-level list.
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
        text,
        items: Vec::new(),
    };
    let mut docs = 0;
    // Several documents one after another: `openstack port show -f json` run
    // in a loop with its output appended to one file.
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut end = 0;
    while let Some(value) = stream.next() {
        let value = value.map_err(json_error)?;
        let rest = &text[end..];
        let start = end + (rest.len() - rest.trim_start().len());
        end = stream.byte_offset();
        w.document(&value, "", Some(start))?;
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

/// Walks the parsed documents of one input. `at` arguments are the byte
/// offset of the value in `text` when known, so errors can give its line.
struct Walker<'a> {
    source: &'a str,
    text: &'a str,
    items: Vec<Item>,
}

impl Walker<'_> {
    fn shape(&self, message: impl Into<String>) -> LoadError {
        self.shape_at(None, message)
    }

    /// `file:LINE` for a value at byte offset `at`, else `file`.
    fn source_at(&self, at: Option<usize>) -> String {
        match at {
            Some(at) if at <= self.text.len() => {
                let line = self.text.as_bytes()[..at]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                format!("{}:{line}", self.source)
            }
            _ => self.source.to_string(),
        }
    }

    fn shape_at(&self, at: Option<usize>, message: impl Into<String>) -> LoadError {
        LoadError::Shape {
            source_name: self.source_at(at),
            message: message.into(),
        }
    }

    fn document(&mut self, v: &Value, place: &str, at: Option<usize>) -> Result<(), LoadError> {
        match v {
            Value::Array(items) => {
                let offsets = at.map(|s| {
                    array_items(&self.text[s..])
                        .into_iter()
                        .map(|o| o + s)
                        .collect::<Vec<_>>()
                });
                for (i, item) in items.iter().enumerate() {
                    let here = format!("{place}[{i}]");
                    let item_at = offsets.as_ref().and_then(|o| o.get(i).copied());
                    match item {
                        // `jq -s` of API responses: a list of `{"ports": [...]}` objects.
                        Value::Object(obj) if is_wrapper(obj) => self.top_object(obj, item_at)?,
                        Value::Object(obj) => self.bare(obj, &here, true, item_at)?,
                        // `jq -s` of files that each hold a list.
                        Value::Array(_) => self.document(item, &here, item_at)?,
                        _ => {
                            return Err(self.shape_at(
                                item_at,
                                format!("item {here} of the top-level list is not an object"),
                            ))
                        }
                    }
                }
                Ok(())
            }
            Value::Object(map) => self.top_object(map, at),
            _ => Err(self.shape_at(at, "expected a JSON object or list at the top level")),
        }
    }

    /// An object that is itself a resource: an API object, a `show -f json`
    /// object, or a row of a `list -f json`.
    fn bare(
        &mut self,
        obj: &Map<String, Value>,
        place: &str,
        in_list: bool,
        at: Option<usize>,
    ) -> Result<(), LoadError> {
        let what = if in_list {
            format!("item {place} of the top-level list")
        } else {
            "object with an \"id\"".to_string()
        };
        let src = self.source_at(at);
        if let Some(form) = list::row_form(obj) {
            let kind = match form {
                Form::PortList => Kind::Port,
                Form::RuleList => Kind::Rule,
                Form::GroupList => Kind::Group,
                Form::NetworkList => Kind::Network,
                _ => Kind::Subnet,
            };
            let cx = ctx(&src, kind, obj, place, "ID", "Name");
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
                self.object(kind, form, obj, place, at)
            }
            None => {
                let get = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
                let this = match describe("", get("id"), get("name"), "").trim() {
                    "" => String::new(),
                    d => format!(" ({d})"),
                };
                Err(self.shape_at(
                    at,
                    format!(
                        "{what}{this} is not a network, subnet, port, security group or rule; \
                         expected Neutron API JSON or the output of `openstack network|subnet|port|\
                         security group show -f json` (or `list -f json`)"
                    ),
                ))
            }
        }
    }

    fn top_object(&mut self, map: &Map<String, Value>, at: Option<usize>) -> Result<(), LoadError> {
        // A bare object (CLI `show -f json`) has an `id`; wrappers do not.
        if map.contains_key("id") || map.contains_key("ID") {
            return self.bare(map, "", false, at);
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
                        self.object(kind, Form::Api, obj, &format!("{key}[{i}]"), None)?;
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
                    self.object(kind, Form::Api, obj, key, None)?;
                }
                Some(_) => return Err(self.shape(format!("\"{key}\" is not an object"))),
            }
        }
        if found {
            Ok(())
        } else {
            Err(self.shape_at(
                at,
                "no networks, subnets, ports, security_groups or security_group_rules found at the top level",
            ))
        }
    }

    fn object(
        &mut self,
        kind: Kind,
        form: Form,
        obj: &Map<String, Value>,
        place: &str,
        at: Option<usize>,
    ) -> Result<(), LoadError> {
        let src = self.source_at(at);
        let cx = ctx(&src, kind, obj, place, "id", "name");
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

/// Names the object a field belongs to; `source` is `file` or `file:LINE`.
fn ctx<'s>(
    source: &'s str,
    kind: Kind,
    obj: &Map<String, Value>,
    place: &str,
    id_key: &str,
    name_key: &str,
) -> Ctx<'s> {
    let get = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
    Ctx {
        source,
        object: describe(kind.noun(), get(id_key), get(name_key), place),
    }
}

/// Byte offsets (in `s`, which starts with the array's `[`) of the items of a
/// JSON array already known to be valid.
fn array_items(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut want) = (0usize, false, false, false);
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        if want && !c.is_ascii_whitespace() && c != b']' {
            out.push(i);
            want = false;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                want = depth == 1;
            }
            b']' | b'}' if depth <= 1 => break,
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => want = true,
            _ => {}
        }
    }
    out
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
        // openstacksdk's names; python-openstackclient 10.5.0 prints the API's
        // `subnets`, `router:external`, `provider:*` beside them.
        Kind::Network => {
            has("subnet_ids")
                || has("is_router_external")
                || has("is_vlan_transparent")
                || has("is_default")
        }
        // A subnet show has the API's names; the CLI hides `tenant_id`, which
        // the API (Neutron 29) still sends, and prints the SDK's `segment_id`
        // and `dns_publish_fixed_ip` even when the cloud lacks them.
        Kind::Subnet => {
            has("is_dhcp_enabled")
                || (has("project_id")
                    && !has("tenant_id")
                    && has("segment_id")
                    && has("dns_publish_fixed_ip"))
        }
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

#[cfg(test)]
mod tests {
    use super::array_items;

    #[test]
    fn array_items_skips_brackets_in_strings_and_nested_values() {
        let s = r#"[ {"a": "]\"[", "b": [1, {}]},
  [2, 3] , "x,y", 4]"#;
        let at: Vec<&str> = array_items(s).iter().map(|&i| &s[i..i + 1]).collect();
        assert_eq!(at, ["{", "[", "\"", "4"]);
        assert_eq!(array_items("[]"), Vec::<usize>::new());
    }
}
