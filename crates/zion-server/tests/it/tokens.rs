//! The tokens API: an admin creates tokens that work at once with their
//! role, lists them without secrets, revokes them; everyone else is refused,
//! and bad requests name what was wrong and create nothing.

use serde_json::{Value, json};
use zion_server::Running;
use zion_server::auth::hash_token;

use crate::support::{free, request, start_spec};

async fn start(dir: &std::path::Path) -> Running {
    let y = format!(
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
    );
    start_spec(dir, y).await
}

/// One request: (status, JSON body, raw body text).
async fn call(
    r: &Running,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, String) {
    request(r, method, path, token, body).await
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

async fn names(r: &Running) -> Vec<String> {
    let (s, list, _) = call(r, "GET", "/api/v1/tokens", Some(&r.admin_token), None).await;
    assert_eq!(s, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_tokens_work_with_their_role_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    let admin = r.admin_token.clone();

    let (s, created, _) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({ "name": "alice", "role": "approver", "github": "alice-gh" })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["name"], "alice");
    assert_eq!(created["role"], "approver");
    assert_eq!(created["github"], "alice-gh");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let alice = created["token"].as_str().unwrap().to_string();
    assert_ne!(alice, admin);

    // Only the hash is stored.
    let stored = r.app.store.tokens().unwrap();
    let rec = stored.iter().find(|t| t.name == "alice").unwrap();
    assert_eq!(rec.hash_hex, hash_token(&alice));
    assert_eq!(rec.github_login.as_deref(), Some("alice-gh"));

    let (s, me, _) = call(&r, "GET", "/api/v1/whoami", Some(&alice), None).await;
    assert_eq!(s, 200);
    assert_eq!(me, json!({ "name": "alice", "role": "approver" }));

    // An approver is not an admin: refused, and nothing is created.
    let (s, body, _) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&alice),
        Some(json!({ "name": "mallory", "role": "admin" })),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert!(message(&body).contains("role admin"), "{body}");
    let (s, _, _) = call(&r, "GET", "/api/v1/tokens", Some(&alice), None).await;
    assert_eq!(s, 403);
    let (s, _, _) = call(&r, "DELETE", "/api/v1/tokens/admin", Some(&alice), None).await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        None,
        Some(json!({ "name": "nobody", "role": "admin" })),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(names(&r).await, ["admin", "alice"]);

    // The list shows who and what, never a secret or a hash.
    let (s, list, raw) = call(&r, "GET", "/api/v1/tokens", Some(&admin), None).await;
    assert_eq!(s, 200);
    for t in list.as_array().unwrap() {
        let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "github", "name", "revoked_at", "role"]);
    }
    for secret in [&alice, &admin, &hash_token(&alice), &hash_token(&admin)] {
        assert!(!raw.contains(secret.as_str()), "the list leaks {secret}");
    }

    let (s, body, _) = call(&r, "DELETE", "/api/v1/tokens/alice", Some(&admin), None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({ "revoked": "alice" }));
    let (s, _, _) = call(&r, "GET", "/api/v1/whoami", Some(&alice), None).await;
    assert_eq!(s, 401);
    let (s, body, _) = call(&r, "DELETE", "/api/v1/tokens/alice", Some(&admin), None).await;
    assert_eq!(s, 404, "{body}");
    assert!(message(&body).contains("alice"), "{body}");
    let (_, list, _) = call(&r, "GET", "/api/v1/tokens", Some(&admin), None).await;
    let revoked = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "alice");
    assert!(revoked.unwrap()["revoked_at"].is_string(), "{list}");

    // The name and the GitHub login are free again; the new secret is new.
    let (s, again, _) = call(
        &r,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({ "name": "alice", "role": "viewer", "github": "alice-gh" })),
    )
    .await;
    assert_eq!(s, 201, "{again}");
    let alice2 = again["token"].as_str().unwrap();
    assert_ne!(alice2, alice);
    let (_, me, _) = call(&r, "GET", "/api/v1/whoami", Some(alice2), None).await;
    assert_eq!(me["role"], "viewer");
    let (s, _, _) = call(&r, "GET", "/api/v1/whoami", Some(&alice), None).await;
    assert_eq!(s, 401, "a revoked token came back to life");

    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_problem_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    let admin = r.admin_token.clone();
    let post = |body: Value| {
        let r = &r;
        let admin = admin.clone();
        async move { call(r, "POST", "/api/v1/tokens", Some(&admin), Some(body)).await }
    };

    let (s, body, _) =
        post(json!({ "name": "alice", "role": "approver", "github": "Alice-GH" })).await;
    assert_eq!(s, 201, "{body}");

    let cases = [
        (
            json!({ "name": "Alice", "role": "viewer" }),
            400,
            "a-z, 0-9",
        ),
        (json!({ "name": "", "role": "viewer" }), 400, "a-z, 0-9"),
        (
            json!({ "name": "-x", "role": "viewer" }),
            400,
            "starting with",
        ),
        (json!({ "name": "a b", "role": "viewer" }), 400, "`a b`"),
        (
            json!({ "name": "a".repeat(65), "role": "viewer" }),
            400,
            "1 to 64",
        ),
        (
            json!({ "name": "controller", "role": "admin" }),
            400,
            "reserved",
        ),
        (
            json!({ "name": "bob", "role": "root" }),
            400,
            "viewer, deployer, approver, admin",
        ),
        (json!({ "name": "bob" }), 400, "role"),
        (
            json!({ "name": "bob", "role": "viewer", "extra": 1 }),
            400,
            "extra",
        ),
        (
            json!({ "name": "bob", "role": "viewer", "github": "bob_gh" }),
            400,
            "GitHub login `bob_gh`",
        ),
        (
            json!({ "name": "bob", "role": "viewer", "github": "b".repeat(40) }),
            400,
            "1 to 39",
        ),
        (
            json!({ "name": "alice", "role": "viewer" }),
            409,
            "zion token revoke alice",
        ),
        // Logins are case-insensitive on GitHub, so they are here too.
        (
            json!({ "name": "bob", "role": "viewer", "github": "alice-gh" }),
            409,
            "`alice`",
        ),
    ];
    for (body, status, needle) in cases {
        let (s, answer, _) = post(body.clone()).await;
        assert_eq!(s, status, "{body} → {answer}");
        let code = if status == 400 {
            "bad_request"
        } else {
            "conflict"
        };
        assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
        assert!(
            message(&answer).contains(needle),
            "{body}: `{needle}` not in {answer}"
        );
    }
    assert_eq!(names(&r).await, ["admin", "alice"]);

    let (s, body, _) = call(&r, "DELETE", "/api/v1/tokens/nobody", Some(&admin), None).await;
    assert_eq!(s, 404, "{body}");
    assert!(message(&body).contains("`nobody`"), "{body}");

    r.shutdown().await;
}
