//! Errors of reading a cloud. Each names the cloud, the file or URL, and what to
//! check; none carries a secret (request bodies are never quoted).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OpenStackError {
    /// clouds.yaml / secure.yaml / environment problems.
    #[error("{0}")]
    Config(String),
    #[error("{file}: not valid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("cloud \"{cloud}\": {method} {url}: 401 Unauthorized: {detail}; check {hint}")]
    Unauthorized {
        cloud: String,
        method: String,
        url: String,
        detail: String,
        hint: String,
    },
    #[error("cloud \"{cloud}\": {method} {url}: 403 Forbidden: {detail}; check {hint}")]
    Forbidden {
        cloud: String,
        method: String,
        url: String,
        detail: String,
        hint: String,
    },
    #[error("cloud \"{cloud}\": {method} {url}: 404 Not Found: {detail}; check {hint}")]
    NotFound {
        cloud: String,
        method: String,
        url: String,
        detail: String,
        hint: String,
    },
    #[error(
        "cloud \"{cloud}\": {method} {url}: HTTP {status} after {attempts} attempt(s): {detail}"
    )]
    Status {
        cloud: String,
        method: String,
        url: String,
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error(
        "cloud \"{cloud}\": {method} {url}: cannot reach the endpoint after {attempts} attempt(s) \
         ({cause}); check that the URL is right (auth_url, network_endpoint_override or the \
         catalog's network endpoint) and reachable from here"
    )]
    Unreachable {
        cloud: String,
        method: String,
        url: String,
        attempts: u32,
        cause: String,
    },
    #[error(
        "cloud \"{cloud}\": {method} {url}: TLS failed ({cause}); give the cloud's CA with \
         `cacert:` in clouds.yaml or OS_CACERT (or, only for a test cloud, `insecure: true`)"
    )]
    Tls {
        cloud: String,
        method: String,
        url: String,
        cause: String,
    },
    #[error("cloud \"{cloud}\": {url}: unexpected answer: {message}")]
    BadResponse {
        cloud: String,
        url: String,
        message: String,
    },
    #[error("cloud \"{cloud}\": {message}")]
    Catalog { cloud: String, message: String },
}
