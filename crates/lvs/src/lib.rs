//! lvs crate (being built).
