//! OpenStack Neutron for vipwire: the resource model, the JSON loader, and the
//! firewall backends that turn ports into host rules (iptables_hybrid today).

#![forbid(unsafe_code)]

pub mod firewall;
pub mod load;
pub mod model;
pub mod unknown;

pub use load::{load_file, load_files, load_json, Conflict, LoadError, MissingGroup};
pub use model::{
    AddressPair, Cloud, Ethertype, FixedIp, Network, Port, RuleDirection, SecurityGroup,
    SecurityGroupRule, Subnet,
};
pub use unknown::Unknown;
