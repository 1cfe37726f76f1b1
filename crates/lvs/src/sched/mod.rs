//! IPVS-compatible schedulers (placeholder while the parser lands).
