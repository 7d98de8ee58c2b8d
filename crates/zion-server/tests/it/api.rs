//! Authentication, roles and refusals: a wrong or revoked token gets 401, a
//! missing role 403, a bad spec 400 — and none of them changes anything.

use jiff::Timestamp;
use serde_json::json;
use zion_core::spec::Role;
use zion_server::Running;
use zion_server::auth::hash_token;
use zion_store::TokenRecord;

use crate::support::{call, free, start_spec};

fn yaml() -> String {
    format!(
        r#"server: {{ listen: {}, data_dir: state }}
environments:
  - {{ name: staging }}
  - {{ name: production, requires: [staging], approvals: {{ required: 2 }} }}
services:
  - name: web
    workload:
      process:
        command: ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
    targets: {{ staging: {{ listen: {} }}, production: {{ listen: {} }} }}
"#,
        free(),
        free(),
        free()
    )
}

async fn start(dir: &std::path::Path) -> Running {
    let y = yaml();
    start_spec(dir, y).await
}

fn add_token(r: &Running, name: &str, role: Role, token: &str) {
    r.app
        .store
        .create_token(
            &TokenRecord {
                name: name.into(),
                role,
                hash_hex: hash_token(token),
                github_login: None,
                created_at: Timestamp::now(),
                revoked_at: None,
            },
            None,
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_guard_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    let admin = r.admin_token.clone();
    let token_file = std::fs::read_to_string(dir.path().join("state/admin.token")).unwrap();
    assert_eq!(token_file.trim(), admin);

    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{}/healthz", r.api_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let (s, body) = call(&r, "GET", "/api/v1/deployments", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );
    let (s, _) = call(&r, "GET", "/api/v1/deployments", Some("zion_wrong"), None).await;
    assert_eq!(s, 401);

    add_token(&r, "vera", Role::Viewer, "viewer-secret");
    let (s, list) = call(
        &r,
        "GET",
        "/api/v1/deployments",
        Some("viewer-secret"),
        None,
    )
    .await;
    assert_eq!((s, list), (200, json!([])));
    let deploy = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, body) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some("viewer-secret"),
        Some(deploy.clone()),
    )
    .await;
    assert_eq!(s, 403);
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("vera") && msg.contains("deployer or admin"),
        "{msg}"
    );
    let (s, _) = call(
        &r,
        "PUT",
        "/api/v1/spec",
        Some("viewer-secret"),
        Some(json!(yaml())),
    )
    .await;
    assert_eq!(s, 403);

    // Revoked: 401 from then on.
    assert!(
        r.app
            .store
            .revoke_token("vera", Timestamp::now(), None)
            .unwrap()
    );
    let (s, _) = call(
        &r,
        "GET",
        "/api/v1/deployments",
        Some("viewer-secret"),
        None,
    )
    .await;
    assert_eq!(s, 401);

    // An approver may not deploy either; nothing was created by any refusal.
    add_token(&r, "apollo", Role::Approver, "approver-secret");
    let (s, _) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some("approver-secret"),
        Some(deploy),
    )
    .await;
    assert_eq!(s, 403);
    let (_, list) = call(&r, "GET", "/api/v1/deployments", Some(&admin), None).await;
    assert_eq!(list, json!([]));

    // The principal's name is recorded as the cause.
    add_token(&r, "dana", Role::Deployer, "deployer-secret");
    let body = json!({ "service": "web", "environment": "staging", "version": "1.0" });
    let (s, d) = call(
        &r,
        "POST",
        "/api/v1/deployments",
        Some("deployer-secret"),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["requested_by"], "dana");
    let (s, who) = call(&r, "GET", "/api/v1/whoami", Some("deployer-secret"), None).await;
    assert_eq!(
        (s, who),
        (200, json!({ "name": "dana", "role": "deployer" }))
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    let admin = r.admin_token.clone();
    let (_, before) = call(&r, "GET", "/api/v1/spec", Some(&admin), None).await;

    let bad = "environments: [ { name: Bad_Name } ]\nservices: []\nextra: 1\n".to_string();
    let (s, body) = call(&r, "PUT", "/api/v1/spec", Some(&admin), Some(json!(bad))).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["code"], "invalid_spec");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("environments[0].name") && msg.contains("extra"),
        "{msg}"
    );
    let (_, after) = call(&r, "GET", "/api/v1/spec", Some(&admin), None).await;
    assert_eq!(before["sha256"], after["sha256"]);

    for (body, want) in [
        (
            json!({ "service": "nope", "environment": "staging", "version": "1" }),
            404,
        ),
        (
            json!({ "service": "web", "environment": "prod", "version": "1" }),
            404,
        ),
        (
            json!({ "service": "web", "environment": "staging", "version": "bad version!" }),
            400,
        ),
        (json!({ "service": "web" }), 400),
        (
            json!({ "service": "web", "environment": "staging", "version": "1", "strategy": "big_bang" }),
            400,
        ),
    ] {
        let (s, resp) = call(
            &r,
            "POST",
            "/api/v1/deployments",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, want, "{body} → {resp}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{resp}"
        );
    }
    let (s, _) = call(&r, "GET", "/api/v1/deployments/42", Some(&admin), None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&r, "GET", "/api/v1/deployments/abc", Some(&admin), None).await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &r,
        "POST",
        "/api/v1/deployments/42/promote",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, body) = call(&r, "GET", "/api/v1/nothing", Some(&admin), None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (_, list) = call(&r, "GET", "/api/v1/deployments", Some(&admin), None).await;
    assert_eq!(list, json!([]));
    r.shutdown().await;
}
