//! `zion token create|list|revoke` against a real `zion up`: the printed
//! token works with its role, the list shows no secrets, a revoked token is
//! refused, and mistakes exit 2 with the problem named.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// `GET /api/v1/whoami` with a bearer token: (status, body).
fn whoami(api: SocketAddr, token: &str) -> (u16, Value) {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /api/v1/whoami HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn token_round_trip_through_the_cli() {
    let mut p = Project::new("        - { weight: 100 }", &[], "5s");
    p.start();

    let out = p.zion(&[
        "token", "create", "alice", "--role", "approver", "--github", "alice-gh",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let token = text.lines().next().unwrap().trim().to_string();
    assert!(token.starts_with("zion_"), "{}", describe(&out));
    assert!(text.contains("shown only once"), "{text}");
    assert!(text.contains(&format!("ZION_TOKEN={token} zion")), "{text}");
    assert_eq!(
        whoami(p.api, &token),
        (
            200,
            serde_json::json!({ "name": "alice", "role": "approver" })
        )
    );

    // The new token is an approver, not an admin.
    let out = p.zion(&["token", "list", "--token", &token]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains("role admin"), "{}", describe(&out));

    // JSON output is the API's answer, and its token works too.
    let bob = p.json(&["token", "create", "bob", "--role", "deployer"]);
    assert_eq!(bob["role"], "deployer");
    assert_eq!(bob["github"], Value::Null);
    let bob_token = bob["token"].as_str().unwrap();
    assert_eq!(whoami(p.api, bob_token).1["role"], "deployer");

    let out = p.zion(&["token", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let list = stdout(&out);
    let alice_row = list.lines().find(|l| l.starts_with("alice ")).unwrap();
    for cell in ["approver", "alice-gh", "live"] {
        assert!(alice_row.contains(cell), "{list}");
    }
    assert!(list.starts_with("NAME"), "{list}");
    assert!(
        !list.contains(&token) && !list.contains(bob_token),
        "{list}"
    );
    let json_list = p.json(&["token", "list"]);
    let names: Vec<&str> = json_list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    assert!(!json_list.to_string().contains(&token));

    // Refusals name the problem and create nothing: a name taken (409)
    // exits 3, a malformed request (400, 404) exits 2.
    let out = p.zion(&["token", "create", "alice", "--role", "viewer"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        stderr(&out).contains("zion token revoke alice"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&["token", "create", "Carol", "--role", "viewer"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("`Carol`"), "{}", describe(&out));
    let out = p.zion(&["token", "create", "carol", "--role", "root"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(p.json(&["token", "list"]).as_array().unwrap().len(), 3);

    let out = p.zion(&["token", "revoke", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains("alice"), "{}", describe(&out));
    assert_eq!(whoami(p.api, &token).0, 401);
    let out = p.zion(&["status", "--token", &token]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let out = p.zion(&["token", "revoke", "alice"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("no live token"), "{}", describe(&out));

    let out = p.zion(&["token", "list"]);
    let alice_row = stdout(&out)
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap()
        .to_string();
    assert!(alice_row.contains("revoked 20"), "{alice_row}");
    // bob is untouched.
    assert_eq!(whoami(p.api, bob_token).0, 200);
}
