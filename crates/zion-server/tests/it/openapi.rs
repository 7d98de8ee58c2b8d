//! The OpenAPI document (`GET /api/v1/openapi.json`): valid OpenAPI 3.1
//! whose every `$ref` resolves, served as built, and describing every route
//! the router answers (and no route it does not).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::{free, request, start_spec};

/// Routes registered outside the `OpenApiRouter` on purpose, by path
/// prefix, with why they are not in the document.
const UNDOCUMENTED: &[(&str, &str)] = &[
    (
        "/ui",
        "the web console: HTML pages for a browser, not the JSON API",
    ),
    ("/status", "the public status page: HTML, not the JSON API"),
    ("/", "a redirect to the web console's overview"),
];

fn yaml() -> String {
    format!(
        r#"server: {{ listen: {}, data_dir: state }}
environments:
  - {{ name: staging }}
services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ staging: {{ listen: {} }} }}
"#,
        free(),
        free()
    )
}

/// Every (METHOD, path) the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let r = start_spec(dir.path(), yaml()).await;
    // Public, like /healthz: no token.
    let (status, served, text) = request(&r, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200, "{text}");
    let built = serde_json::to_value(zion_server::openapi_document()).unwrap();
    assert_eq!(served, built, "the served document is the one built");
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"],
        serde_json::json!({ "type": "http", "scheme": "bearer" })
    );
    assert_eq!(served["security"], serde_json::json!([{ "bearer": [] }]));

    let mut all = Vec::new();
    refs(&served, &mut all);
    assert!(all.len() > 20, "few $refs: {all:?}");
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(served.pointer(pointer).is_some(), "{r} does not resolve");
    }

    // Signed by their senders or public: no bearer token asked of them.
    let open: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/webhooks/github"),
        ("POST", "/api/v1/slack/interactions"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let mut forbidding = 0;
    for (method, path) in operations(&served) {
        let op = &served["paths"][&path][method.to_lowercase()];
        let anonymous = op["security"] == serde_json::json!([{}]);
        assert_eq!(
            anonymous,
            open.contains(&(method.clone(), path.clone())),
            "{method} {path}: security {}",
            op["security"]
        );
        assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object());
        // A route that takes a token says what a bad one gets, with the
        // error body (the shared `Refusals`, or its own).
        if !anonymous {
            let body = &op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                body, "#/components/schemas/ErrorBody",
                "{method} {path}: its 401 {}",
                op["responses"]["401"]
            );
        }
        if op["responses"]["403"].is_object() {
            forbidding += 1;
            let body = &op["responses"]["403"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(body, "#/components/schemas/ErrorBody", "{method} {path}");
        }
    }
    assert!(
        forbidding >= 25,
        "only {forbidding} operations document a 403"
    );
    r.shutdown().await;
}

/// The path literals registered with axum's own `route`/`nest` calls in
/// the server's sources: routes that bypass the document.
fn plain_registrations(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            plain_registrations(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            for (at, _) in text.match_indices(call) {
                let rest = text[at + call.len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"') {
                    let end = literal.find('"').unwrap();
                    out.push((path.display().to_string(), literal[..end].to_owned()));
                }
            }
        }
    }
}

#[tokio::test]
async fn every_route_is_in_the_document_and_every_documented_route_answers() {
    let doc = serde_json::to_value(zion_server::openapi_document()).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 35, "{ops:?}");

    // Routes registered with `OpenApiRouter::routes` are in the document by
    // construction; any other registration must be a listed exception.
    let mut plain = Vec::new();
    plain_registrations(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut plain,
    );
    for (file, path) in plain {
        assert!(
            UNDOCUMENTED
                .iter()
                .any(|(prefix, _)| path == *prefix || path.starts_with(&format!("{prefix}/"))),
            "{file} registers {path} outside the OpenApiRouter, so the OpenAPI document \
             lacks it: register it with `.routes(routes!(handler))` and a #[utoipa::path]"
        );
    }

    // And the router answers each documented operation itself (not its
    // fallback's 404 nor a 405): the document lists no route that is not.
    let dir = tempfile::tempdir().unwrap();
    let r = start_spec(dir.path(), yaml()).await;
    for (method, path) in &ops {
        let concrete = path
            .replace("{id}", "1")
            .replace("{command}", "pause")
            .replace("{name}", "nobody")
            .replace("{index}", "0");
        // No token: every authenticated route refuses before doing anything.
        let (status, body, text) = request(&r, method, &concrete, None, None).await;
        let fallback = body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no API route"));
        assert!(
            status != 405 && !fallback,
            "{method} {path} is documented but not routed: {status} {text}"
        );
    }
    r.shutdown().await;
}
