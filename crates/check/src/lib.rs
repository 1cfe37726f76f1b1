//! The check: from a scenario (cloud + keepalived.conf), derive every packet of
//! the load balancer's life, move each through the generated Neutron rules and a
//! kernel-faithful conntrack, name the rule that drops it, and find the smallest
//! persistent Neutron change that fixes it.
//!
//! Flow: [`scenario`] (inputs) -> [`consistency`] (the LB's own configuration) ->
//! [`lifecycle`] (packets) -> the `fabric` crate (the firewall backend) -> [`simulate`] +
//! [`diagnose`] -> [`fix`] -> [`report`]; [`coverage`] says what was exercised.

#![forbid(unsafe_code)]

pub mod consistency;
pub mod coverage;
pub mod diagnose;
pub mod error;
pub mod fix;
pub mod lifecycle;
pub mod report;
pub mod scenario;
pub mod simulate;

pub use error::CheckError;
pub use scenario::Scenario;
pub use simulate::{run, CheckReport};
