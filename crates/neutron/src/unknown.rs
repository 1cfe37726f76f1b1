//! Fields the inputs did not carry. Some exports leave out fields vipwire needs
//! (`openstack port list --long -f json` has no allowed address pairs, port
//! security flag or host; `openstack security group list -f json` has no rules).
//! The loader then keeps the model's default (no pairs, port security on, no
//! host, no rules) and records an [`Unknown`] in [`Cloud::unknown`](crate::Cloud)
//! so that a verdict built on the default can say so and name what to add.

use std::fmt;

/// One field of one object that no input carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// "port", "security group", "security group rule" or "subnet".
    pub kind: &'static str,
    pub id: String,
    /// The object's name where an input gave one ("" otherwise).
    pub name: String,
    /// The Neutron API field: for ports `binding:host_id`,
    /// `allowed_address_pairs`, `port_security_enabled`, `security_groups`,
    /// `fixed_ips`, `device_owner`; for groups `security_group_rules`,
    /// `stateful`; for rules `port_range_min` / `port_range_max` (an ICMP
    /// rule's type / code, which rule lists print as nothing when 0); for
    /// subnets `gateway_ip`.
    pub field: &'static str,
    /// Every input the object was read from, as `file (form)`, e.g.
    /// "ports.json (`openstack port list --long -f json`)".
    pub read_from: Vec<String>,
    /// What to add to the inputs to learn the field.
    pub hint: String,
}

impl Unknown {
    /// The field in words ("allowed address pairs", "rules", ...).
    pub fn what(&self) -> &'static str {
        match self.field {
            "binding:host_id" => "host (binding:host_id)",
            "allowed_address_pairs" => "allowed address pairs",
            "port_security_enabled" => "port security (port_security_enabled)",
            "security_groups" => "security groups",
            "fixed_ips" => "fixed IPs",
            "device_owner" => "device owner",
            "security_group_rules" => "rules",
            "stateful" => "stateful flag",
            "port_range_min" => "ICMP type (port_range_min)",
            "port_range_max" => "ICMP code (port_range_max)",
            "gateway_ip" => "gateway",
            other => other,
        }
    }
}

impl fmt::Display for Unknown {
    /// `port "director-1" (3f2a...): allowed address pairs unknown (read from
    /// ports.json (`openstack port list --long -f json`)); add ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() || self.name == self.id {
            write!(f, "{} {}", self.kind, self.id)?;
        } else {
            write!(f, "{} \"{}\" ({})", self.kind, self.name, self.id)?;
        }
        write!(f, ": {} unknown", self.what())?;
        if !self.read_from.is_empty() {
            write!(f, " (read from {})", self.read_from.join(", "))?;
        }
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}
