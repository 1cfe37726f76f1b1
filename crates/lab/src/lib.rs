//! The real-kernel lab: network namespaces, veth pairs and bridges that the
//! integration tests build, always torn down (even on failure).

pub mod capture;
pub mod cloud;
pub mod field;
pub mod netns;
pub mod replay;
pub mod topo;
pub mod udp;
