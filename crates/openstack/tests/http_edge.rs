//! The HTTP edge against a scripted HTTP server on 127.0.0.1 (a stand-in that
//! answers from a table, not a model of Keystone or Neutron: the real ones are
//! in conformance/cloud/): token request and catalog, paging by next links,
//! retries after a 500, and the clear 401 / unreachable errors.

use openstack::config::{resolve, Env, FoundFile, FoundFiles};
use openstack::discover::NeutronApi;
use openstack::neutron::NeutronClient;
use openstack::progress::Progress;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    token: Option<String>,
    body: String,
}

type Handler = dyn Fn(&Seen, usize) -> (u16, Vec<(String, String)>, String) + Send + Sync;

/// Serves `handler(request, index)` on an ephemeral port until the test ends.
fn serve(handler: Arc<Handler>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut len = 0;
            let mut token = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "x-auth-token" => token = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let req = Seen {
                method,
                path,
                token,
                body: String::from_utf8_lossy(&body).into(),
            };
            let n = {
                let mut l = log.lock().unwrap();
                l.push(req.clone());
                l.len() - 1
            };
            let (status, headers, text) = handler(&req, n);
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n",
                text.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&text);
            let _ = stream.write_all(out.as_bytes());
        }
    });
    (base, seen)
}

fn config(yaml: &str) -> openstack::CloudConfig {
    let files = FoundFiles {
        clouds: Some(FoundFile {
            path: "clouds.yaml".into(),
            text: yaml.into(),
        }),
        secure: None,
        searched: vec![],
    };
    resolve(Some("t"), &files, &Env::new()).unwrap()
}

fn port(i: usize) -> serde_json::Value {
    json!({"id": format!("p{i}"), "name": format!("port-{i}")})
}

#[test]
fn password_auth_catalog_and_paging() {
    let base = Arc::new(Mutex::new(String::new()));
    let b2 = base.clone();
    let handler: Arc<Handler> = Arc::new(move |r: &Seen, _| {
        let base = b2.lock().unwrap().clone();
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/identity/v3/auth/tokens") => {
                if !r.body.contains("\"password\":\"right\"") {
                    return (401, vec![], json!({"error": {"code": 401, "message": "The request you have made requires authentication."}}).to_string());
                }
                let body = json!({"token": {"catalog": [{"type": "network", "endpoints": [
                    {"interface": "public", "region_id": "R1", "url": format!("{base}/net/")}]}]}});
                (201, vec![("X-Subject-Token".into(), "tok-1".into())], body.to_string())
            }
            ("GET", "/net/v2.0/ports?limit=2") => (200, vec![], json!({"ports": [port(1), port(2)],
                "ports_links": [{"rel": "next", "href": "http://elsewhere.invalid/v2.0/ports?limit=2&marker=p2"}]}).to_string()),
            ("GET", "/net/v2.0/ports?limit=2&marker=p2") => (200, vec![], json!({"ports": [port(3)]}).to_string()),
            _ => (404, vec![], "{}".into()),
        }
    });
    let (url, seen) = serve(handler);
    *base.lock().unwrap() = url.clone();
    let cfg = config(&format!(
        "clouds:\n  t:\n    auth:\n      auth_url: {url}/identity\n      username: u\n      password: right\n      project_name: p\n"
    ));
    let mut c = NeutronClient::connect(&cfg, Progress::new("t", false), 2).unwrap();
    assert_eq!(c.endpoint_source, "catalog (public, region R1)");
    let ports = c.list("ports", &[]).unwrap();
    assert_eq!(ports.len(), 3);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        // The token travels in the header of every Neutron call, the next
        // link's host is not followed.
        assert!(seen[1..]
            .iter()
            .all(|s| s.token.as_deref() == Some("tok-1")));
    }
    assert_eq!(c.responses.len(), 2);

    let bad = config(&format!(
        "clouds:\n  t:\n    auth:\n      auth_url: {url}/identity/v3\n      username: u\n      password: wrong\n      project_name: p\n"
    ));
    let e = NeutronClient::connect(&bad, Progress::new("t", false), 2)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("401 Unauthorized"), "{e}");
    assert!(e.contains(&format!("{url}/identity/v3/auth/tokens")), "{e}");
    assert!(e.contains("password"), "{e}");
    assert!(!e.contains("wrong"), "the password leaked: {e}");
}

#[test]
fn a_500_is_retried_then_reported() {
    let handler: Arc<Handler> = Arc::new(|r: &Seen, n| {
        if r.path.contains("marker=p2") {
            // Page 2 was full and had no links: the client asks on from its last id.
            return (200, vec![], json!({"ports": []}).to_string());
        }
        if r.path.contains("marker") {
            // The second page fails once, then works; a "networks" page always fails.
            if n == 1 {
                return (
                    500,
                    vec![],
                    "{\"NeutronError\": {\"message\": \"boom\"}}".into(),
                );
            }
            return (200, vec![], json!({"ports": [port(2)]}).to_string());
        }
        if r.path.starts_with("/v2.0/networks") {
            return (
                503,
                vec![],
                "{\"NeutronError\": {\"message\": \"down\"}}".into(),
            );
        }
        (
            200,
            vec![],
            json!({"ports": [port(1)], "ports_links": [
            {"rel": "next", "href": "/v2.0/ports?limit=1&marker=p1"}]})
            .to_string(),
        )
    });
    let (url, seen) = serve(handler);
    let cfg = config(&format!(
        "clouds:\n  t:\n    auth_type: none\n    network_endpoint_override: {url}\n    status_code_retries: 1\n"
    ));
    let mut c = NeutronClient::connect(&cfg, Progress::new("t", false), 1).unwrap();
    assert_eq!(c.list("ports", &[]).unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 4);
    let e = c.list("networks", &[]).unwrap_err().to_string();
    assert!(e.contains("HTTP 503 after 2 attempt(s): down"), "{e}");
    assert!(e.contains("cloud \"t\""), "{e}");
}

#[test]
fn unreachable_endpoint() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&format!(
        "clouds:\n  t:\n    auth_type: none\n    network_endpoint_override: http://127.0.0.1:{port}/\n    connect_retries: 1\n"
    ));
    let mut c = NeutronClient::connect(&cfg, Progress::new("t", false), 10).unwrap();
    let e = c.extensions().unwrap_err().to_string();
    assert!(
        e.contains("cannot reach the endpoint after 2 attempt(s)"),
        "{e}"
    );
    assert!(
        e.contains(&format!("http://127.0.0.1:{port}/v2.0/extensions")),
        "{e}"
    );
}
