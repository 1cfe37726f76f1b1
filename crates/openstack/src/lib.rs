//! Reading a running OpenStack cloud, as the `openstack` CLI finds and talks to it.
//!
//! The pipeline, pure where possible and HTTP only at the edge:
//! [`config`] (clouds.yaml, secure.yaml, `OS_*` variables -> one [`config::CloudConfig`])
//! -> [`keystone`] (the v3 auth request and the catalog's network endpoint, pure)
//! -> [`http`] (the one place that opens sockets: TLS, timeouts, retries, clear errors)
//! -> [`neutron`] (list calls with server-side filters and paging, every response kept)
//! -> [`discover`] (the ports, groups, subnets and routers around a VIP; pure over
//! the [`discover::NeutronApi`] seam) with [`progress`] on stderr;
//! [`write`] changes a cloud: revision-safe port updates (`If-Match`), rule
//! creates where "already exists" is done.
//!
//! Secrets (passwords, application-credential secrets, tokens) live in [`Secret`],
//! whose `Debug` and `Display` print `***`; they are never logged or saved.

#![forbid(unsafe_code)]

pub mod config;
pub mod discover;
pub mod error;
pub mod http;
pub mod keystone;
pub mod neutron;
pub mod progress;
mod secret;
pub mod write;

pub use config::CloudConfig;
pub use error::OpenStackError;
pub use secret::Secret;
