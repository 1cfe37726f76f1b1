//! Errors of the check stage. Every message names the file (and line, object or
//! field where known) so the user can fix the input.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{source_name}:{line}:{column}: {message}")]
    Scenario {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Neutron(String),
    #[error("{0}")]
    Keepalived(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("generated rules do not parse (vipwire bug): {0}")]
    Rules(String),
}
