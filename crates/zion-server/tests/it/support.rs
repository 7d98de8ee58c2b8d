//! Shared by the API tests: free ports, an in-process control plane for a
//! spec, and one HTTP request with its status, JSON and raw text.

use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;
use zion_core::spec::parse_spec;
use zion_server::{Clock, Running, ServerOptions};

/// A free `127.0.0.1:port` (bound, read, released).
pub fn free() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// Starts a control plane for `yaml` with its base dir at `dir`.
pub async fn start_spec(dir: &Path, yaml: String) -> Running {
    start_spec_on(dir, yaml, Clock::system()).await
}

/// [`start_spec`] on `clock`: a test moves a `Clock::shifted` forward
/// instead of waiting for a timeout, a window or a delay to pass.
pub async fn start_spec_on(dir: &Path, yaml: String, clock: Clock) -> Running {
    let parsed = parse_spec(&yaml).unwrap_or_else(|e| panic!("bad test spec: {e}\n{yaml}"));
    let mut opts = ServerOptions::new(parsed, yaml, dir.to_path_buf());
    opts.clock = clock;
    zion_server::start(opts).await.unwrap()
}

/// One request: (status, JSON body or Null, raw body text). A string body
/// is sent as raw text (a spec), anything else as JSON.
pub async fn request(
    r: &Running,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, String) {
    let http = reqwest::Client::new();
    let url = format!("http://{}{path}", r.api_addr);
    let mut req = match method {
        "GET" => http.get(url),
        "POST" => http.post(url),
        "PUT" => http.put(url),
        "DELETE" => http.delete(url),
        _ => unreachable!("method {method}"),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = match b {
            Value::String(s) => req.body(s),
            other => req.json(&other),
        };
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text)
}

/// [`request`] without the raw text: (status, JSON body or Null).
pub async fn call(
    r: &Running,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, json, _) = request(r, method, path, token, body).await;
    (status, json)
}
