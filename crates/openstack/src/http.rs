//! The HTTP edge: the one place that opens sockets (ureq, rustls).
//!
//! TLS trusts the system's roots (rustls-platform-verifier) or exactly the
//! `cacert` bundle; `insecure` turns verification off and says so on stderr.
//! Each request has the cloud's `api_timeout`. Connection errors and timeouts
//! are retried `connect_retries` times, 5xx and 429 answers
//! `status_code_retries` times, with exponential backoff (0.5 s, 1 s, 2 s ...,
//! at most 8 s; a `Retry-After` in seconds is honoured up to 30 s). Reads and
//! Keystone's token request are retried; a change ([`Http::send_change`]) is
//! retried only when its caller says a repeat is harmless (a PUT under
//! `If-Match`, a rule create whose repeat is a 409, a DELETE whose repeat is a 404).
//! 401, 403 and 404 become errors that name the cloud, the URL and what to check.
//! Request bodies (they hold passwords) are never quoted; tokens travel only in
//! the `X-Auth-Token` header.

use crate::config::CloudConfig;
use crate::error::OpenStackError;
use crate::progress::Progress;
use crate::secret::Secret;
use serde_json::Value;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The method of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One HTTP exchange, for the summary (`--save` writes these, no secrets).
#[derive(Clone, Debug, serde::Serialize)]
pub struct CallRecord {
    pub method: &'static str,
    pub url: String,
    pub status: Option<u16>,
    pub attempts: u32,
    pub millis: u128,
}

/// An answer that was not an error.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Keystone's `X-Subject-Token`.
    pub subject_token: Option<Secret>,
    pub body: String,
}

/// What to say after a 401/403/404 of this call.
#[derive(Clone, Copy, Debug)]
pub struct Hints<'a> {
    pub unauthorized: &'a str,
    pub forbidden: &'a str,
    pub not_found: &'a str,
}

/// Retry settings.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub connect_retries: u32,
    pub status_code_retries: u32,
    pub first_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `n` (n >= 2).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = n.saturating_sub(2).min(10);
        (self.first_backoff * 2u32.pow(exp)).min(Duration::from_secs(8))
    }
}

/// A blocking HTTP client bound to one cloud.
pub struct Http {
    agent: ureq::Agent,
    cloud: String,
    retry: RetryPolicy,
    /// Every exchange so far, in order.
    pub calls: Vec<CallRecord>,
    pub progress: Progress,
}

impl Http {
    pub fn new(cfg: &CloudConfig, progress: Progress) -> Result<Http, OpenStackError> {
        let mut tls = TlsConfig::builder().root_certs(RootCerts::PlatformVerifier);
        if let Some(path) = &cfg.cacert {
            let pem = std::fs::read(path).map_err(|e| {
                OpenStackError::Config(format!(
                    "cloud \"{}\": cacert {}: cannot read: {e}",
                    cfg.name,
                    path.display()
                ))
            })?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.to_owned()),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(OpenStackError::Config(format!(
                            "cloud \"{}\": cacert {}: not a PEM bundle: {e}",
                            cfg.name,
                            path.display()
                        )))
                    }
                }
            }
            if certs.is_empty() {
                return Err(OpenStackError::Config(format!(
                    "cloud \"{}\": cacert {}: no certificate in it",
                    cfg.name,
                    path.display()
                )));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs as &[Certificate<'static>]));
        }
        if cfg.insecure {
            eprintln!(
                "vipwire: warning: cloud \"{}\": TLS verification is off (insecure/verify: false)",
                cfg.name
            );
            tls = tls.disable_verification(true);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(cfg.timeout))
            .timeout_connect(Some(cfg.timeout.min(Duration::from_secs(15))))
            .max_redirects(0)
            .user_agent(concat!("vipwire/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Http {
            agent,
            cloud: cfg.name.clone(),
            retry: RetryPolicy {
                connect_retries: cfg.connect_retries,
                status_code_retries: cfg.status_code_retries,
                first_backoff: Duration::from_millis(500),
            },
            calls: Vec::new(),
            progress,
        })
    }

    /// Sends one request, retrying as the module doc says; Ok only for 2xx.
    pub fn send(
        &mut self,
        method: Method,
        url: &str,
        token: Option<&Secret>,
        body: Option<&Value>,
        hints: Hints<'_>,
    ) -> Result<Reply, OpenStackError> {
        self.send_change(method, url, token, body, None, true, hints)
    }

    /// Sends a request that may change the cloud: `if_match` becomes the
    /// `If-Match` header; `retry` false sends it once (no retry on a
    /// connection error or a 5xx), for a change whose repeat would not be
    /// harmless.
    #[allow(clippy::too_many_arguments)]
    pub fn send_change(
        &mut self,
        method: Method,
        url: &str,
        token: Option<&Secret>,
        body: Option<&Value>,
        if_match: Option<&str>,
        retry: bool,
        hints: Hints<'_>,
    ) -> Result<Reply, OpenStackError> {
        let (connect_retries, status_code_retries) = if retry {
            (self.retry.connect_retries, self.retry.status_code_retries)
        } else {
            (0, 0)
        };
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut connect_failures = 0u32;
        let mut status_failures = 0u32;
        loop {
            attempts += 1;
            self.progress.calling(url);
            let outcome = self.once(method, url, token, body, if_match);
            let retry_wait = match &outcome {
                Err(Attempt::Connect(_)) if connect_failures < connect_retries => {
                    connect_failures += 1;
                    Some(self.retry.backoff(attempts + 1))
                }
                Ok((status, retry_after, _, _))
                    if (*status >= 500 || *status == 429)
                        && status_failures < status_code_retries =>
                {
                    status_failures += 1;
                    let wait = self.retry.backoff(attempts + 1);
                    Some(retry_after.map_or(wait, |s| wait.max(s.min(Duration::from_secs(30)))))
                }
                _ => None,
            };
            if let Some(wait) = retry_wait {
                let why = match &outcome {
                    Ok((s, ..)) => format!("HTTP {s}"),
                    Err(Attempt::Connect(c)) | Err(Attempt::Tls(c)) => c.clone(),
                };
                self.progress.note(&format!(
                    "{} {url}: {why}; retrying in {:.1} s",
                    method.as_str(),
                    wait.as_secs_f64()
                ));
                std::thread::sleep(wait);
                continue;
            }
            let status = outcome.as_ref().ok().map(|o| o.0);
            self.calls.push(CallRecord {
                method: method.as_str(),
                url: url.to_string(),
                status,
                attempts,
                millis: started.elapsed().as_millis(),
            });
            let (status, _, subject_token, text) = match outcome {
                Ok(o) => o,
                Err(Attempt::Connect(cause)) => {
                    return Err(OpenStackError::Unreachable {
                        cloud: self.cloud.clone(),
                        method: method.as_str().into(),
                        url: url.into(),
                        attempts,
                        cause,
                    })
                }
                Err(Attempt::Tls(cause)) => {
                    return Err(OpenStackError::Tls {
                        cloud: self.cloud.clone(),
                        method: method.as_str().into(),
                        url: url.into(),
                        cause,
                    })
                }
            };
            if (200..300).contains(&status) {
                return Ok(Reply {
                    status,
                    subject_token,
                    body: text,
                });
            }
            let detail = error_detail(&text);
            let (cloud, m, u) = (
                self.cloud.clone(),
                method.as_str().to_string(),
                url.to_string(),
            );
            return Err(match status {
                401 => OpenStackError::Unauthorized {
                    cloud,
                    method: m,
                    url: u,
                    detail,
                    hint: hints.unauthorized.into(),
                },
                403 => OpenStackError::Forbidden {
                    cloud,
                    method: m,
                    url: u,
                    detail,
                    hint: hints.forbidden.into(),
                },
                404 => OpenStackError::NotFound {
                    cloud,
                    method: m,
                    url: u,
                    detail,
                    hint: hints.not_found.into(),
                },
                _ => OpenStackError::Status {
                    cloud,
                    method: m,
                    url: u,
                    status,
                    attempts,
                    detail,
                },
            });
        }
    }

    #[allow(clippy::type_complexity)]
    fn once(
        &self,
        method: Method,
        url: &str,
        token: Option<&Secret>,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<(u16, Option<Duration>, Option<Secret>, String), Attempt> {
        let result = match method {
            Method::Get | Method::Delete => {
                let mut req = if method == Method::Get {
                    self.agent.get(url)
                } else {
                    self.agent.delete(url)
                }
                .header("Accept", "application/json");
                if let Some(t) = token {
                    req = req.header("X-Auth-Token", t.expose());
                }
                if let Some(m) = if_match {
                    req = req.header("If-Match", m);
                }
                req.call()
            }
            Method::Post | Method::Put => {
                let mut req = if method == Method::Post {
                    self.agent.post(url)
                } else {
                    self.agent.put(url)
                }
                .header("Accept", "application/json")
                .header("Content-Type", "application/json");
                if let Some(t) = token {
                    req = req.header("X-Auth-Token", t.expose());
                }
                if let Some(m) = if_match {
                    req = req.header("If-Match", m);
                }
                let text = body.map(Value::to_string).unwrap_or_default();
                req.send(text)
            }
        };
        let mut resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("Retry-After")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let subject_token = header("X-Subject-Token").map(Secret::new);
        let text = resp
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_string()
            .map_err(classify)?;
        Ok((status, retry_after, subject_token, text))
    }
}

/// Why one attempt failed before an HTTP status.
enum Attempt {
    Connect(String),
    Tls(String),
}

fn classify(e: ureq::Error) -> Attempt {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    match e {
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => Attempt::Tls(text),
        _ if lower.contains("certificate") || lower.contains("handshake") => Attempt::Tls(text),
        _ => Attempt::Connect(text),
    }
}

/// The message of an OpenStack error body (Neutron's `NeutronError`,
/// Keystone's `error`), else the start of the text.
pub fn error_detail(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        for path in [
            &["NeutronError", "message"][..],
            &["error", "message"],
            &["badRequest", "message"],
            &["message"],
        ] {
            let mut cur = &v;
            let mut ok = true;
            for k in path {
                match cur.get(*k) {
                    Some(n) => cur = n,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                if let Some(s) = cur.as_str() {
                    return s.to_string();
                }
            }
        }
    }
    // An HTML error page (a proxy, or not an OpenStack API at all): its title.
    let lower = body.to_ascii_lowercase();
    if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>")) {
        if a + 7 <= b {
            let title = body[a + 7..b].trim();
            if !title.is_empty() {
                return format!("an HTML page titled \"{title}\"");
            }
        }
    }
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if flat.trim().is_empty() {
        "(no body)".into()
    } else {
        flat.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            connect_retries: 5,
            status_code_retries: 5,
            first_backoff: Duration::from_millis(500),
        };
        let w: Vec<u128> = (2..8).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(w, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn error_details() {
        assert_eq!(
            error_detail(
                r#"{"NeutronError": {"type": "X", "message": "Port p could not be found."}}"#
            ),
            "Port p could not be found."
        );
        assert_eq!(
            error_detail(
                r#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#
            ),
            "The request you have made requires authentication."
        );
        assert_eq!(error_detail("<html>\nboom</html>"), "<html> boom</html>");
        assert_eq!(
            error_detail(
                "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>x</h1>"
            ),
            "an HTML page titled \"404 Not Found\""
        );
        assert_eq!(error_detail(""), "(no body)");
    }
}
