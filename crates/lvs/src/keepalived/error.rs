//! Errors of the keepalived.conf parser, each with file, line and keyword.

/// Why a keepalived.conf was rejected. `Display` starts with `file:line:`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// A word keepalived itself does not know in this block.
    #[error("{file}:{line}: unknown keyword \"{keyword}\" in {context}")]
    UnknownKeyword {
        file: String,
        line: usize,
        keyword: String,
        context: String,
    },
    /// A keepalived keyword that changes behaviour vipwire does not model.
    #[error("{file}:{line}: unsupported keyword \"{keyword}\" in {context}: {reason}")]
    Unsupported {
        file: String,
        line: usize,
        keyword: String,
        context: String,
        reason: String,
    },
    #[error("{file}:{line}: invalid value for \"{keyword}\" in {context}: {message}")]
    InvalidValue {
        file: String,
        line: usize,
        keyword: String,
        context: String,
        message: String,
    },
    #[error("{file}:{line}: {context}: missing \"{keyword}\"")]
    Missing {
        file: String,
        line: usize,
        keyword: String,
        context: String,
    },
}

impl ConfigError {
    /// The keyword the error is about, if any.
    pub fn keyword(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKeyword { keyword, .. }
            | ConfigError::Unsupported { keyword, .. }
            | ConfigError::InvalidValue { keyword, .. }
            | ConfigError::Missing { keyword, .. } => Some(keyword),
            ConfigError::Io { .. } | ConfigError::Syntax { .. } => None,
        }
    }

    /// The line the error is about (1-based), if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. }
            | ConfigError::UnknownKeyword { line, .. }
            | ConfigError::Unsupported { line, .. }
            | ConfigError::InvalidValue { line, .. }
            | ConfigError::Missing { line, .. } => Some(*line),
        }
    }
}
