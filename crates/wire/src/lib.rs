//! wire crate (being built).
