//! The API client: finds the server and the token, sends requests, and turns
//! failures into errors that carry the CLI's exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zion_core::api::ErrorBody;

use crate::cli::Global;
use crate::exit::Failure;

/// Where the server is when neither --server nor a spec says.
const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// A configured API client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// The spec file's folder (relative paths in the spec resolve against it).
pub fn spec_dir(file: &Path) -> PathBuf {
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(file)
    };
    abs.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Client {
    /// Server: --server / ZION_SERVER, else the spec's listen. Token:
    /// --token / ZION_TOKEN, else `<data_dir>/admin.token`.
    pub fn new(g: &Global) -> Result<Client, Failure> {
        let text = std::fs::read_to_string(&g.file);
        let spec = text
            .as_ref()
            .ok()
            .and_then(|y| zion_core::spec::parse_spec(y).ok());
        let base = match (&g.server, &spec) {
            (Some(s), _) => s.trim_end_matches('/').to_string(),
            (None, Some(spec)) => format!("http://{}", spec.server.listen),
            (None, None) => {
                // Said, not silent: the server there may not be this project's.
                let why = match &text {
                    Ok(_) => format!(
                        "{} is not a valid spec (`zion lint` says why)",
                        g.file.display()
                    ),
                    Err(_) => format!("no spec at {}", g.file.display()),
                };
                eprintln!(
                    "note: {why}, so the server is taken to be at {DEFAULT_SERVER}; pass --server URL (or set ZION_SERVER) or -f FILE"
                );
                DEFAULT_SERVER.to_string()
            }
        };
        let base = if base.starts_with("http://") || base.starts_with("https://") {
            base
        } else {
            format!("http://{base}")
        };
        let token = g.token.clone().or_else(|| {
            let data_dir = spec_dir(&g.file).join(
                spec.as_ref()
                    .map(|s| s.server.data_dir.as_str())
                    .unwrap_or(".zion"),
            );
            std::fs::read_to_string(data_dir.join("admin.token"))
                .ok()
                .map(|t| t.trim().to_string())
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::usage(format!("cannot build an HTTP client: {e}")))?;
        Ok(Client { http, base, token })
    }

    /// A client for a known server and token (the demo, tests).
    pub fn with(base: String, token: String) -> Client {
        Client {
            http: reqwest::Client::new(),
            base,
            token: Some(token),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.get(self.url(path))).await
    }

    /// A GET whose answer is one of the API's views (`zion_core::api`),
    /// parsed by the struct the server wrote it with.
    pub async fn get_view<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let body = self.get(path).await?;
        self.view("GET", path, body)
    }

    /// A POST of one of the API's request bodies whose answer is a view.
    pub async fn post_view<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let answer = self.post(path, body).await?;
        self.view("POST", path, answer)
    }

    /// A DELETE whose answer is a view.
    pub async fn delete_view<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let answer = self.delete(path).await?;
        self.view("DELETE", path, answer)
    }

    /// The answer to `method path` read as the view `T`.
    pub fn view<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<T, Failure> {
        serde_json::from_value(body).map_err(|e| {
            Failure::unreachable(format!(
                "the server at {} answered {method} /api/v1{path} with a body this zion cannot \
                 read ({e}); are `zion` and the server the same version?",
                self.base
            ))
        })
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, Failure> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn put_text(&self, path: &str, body: String) -> Result<Value, Failure> {
        self.send(self.http.put(self.url(path)).body(body)).await
    }

    /// A GET that may take up to `timeout` (reports over long histories).
    pub async fn get_within(&self, path: &str, timeout: Duration) -> Result<Value, Failure> {
        self.send(self.http.get(self.url(path)).timeout(timeout))
            .await
    }

    /// POSTs raw bytes (an import file) that may take up to `timeout`.
    pub async fn post_bytes(
        &self,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-ndjson")
            .timeout(timeout)
            .body(body);
        self.send(req).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            Failure::unreachable(format!(
                "cannot reach the Zion server at {}: {}; is `zion up` running? (set --server or ZION_SERVER)",
                self.base,
                root_cause(&e)
            ))
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = serde_json::from_value::<ErrorBody>(body)
            .ok()
            .map(|b| b.error);
        let message = error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| format!("the server answered {status}"));
        let message = if status.as_u16() == 401 {
            format!(
                "{message} (no valid token: pass --token, set ZION_TOKEN, or run next to the spec whose data dir holds admin.token)"
            )
        } else {
            message
        };
        let code = error.as_ref().map(|e| e.code.as_str());
        Err(Failure::answered(status.as_u16(), code, message))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
