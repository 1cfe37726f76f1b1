//! neutron crate (being built).
