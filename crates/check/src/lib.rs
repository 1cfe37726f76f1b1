//! check crate (being built).
