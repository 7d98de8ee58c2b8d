//! The web console against a real `zion up`: signing in with a token and
//! the session cookie's attributes, roles on the pages and in the API,
//! the CSRF rule for cookie-authenticated changes, signing out and revoked
//! tokens, escaping, the live stream's delay after a canary's step, and
//! the public status page.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

fn spec(api: SocketAddr, staging: SocketAddr, production: SocketAddr, console: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
{console}
environments:
  - name: staging
  - name: production
    approvals: {{ required: 1, roles: [approver, admin], prevent_self_approval: true, timeout: 1h }}
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {staging} }}
      production: {{ listen: {production} }}
    canary:
      # Each step held until promoted: no traffic needed to move on.
      steps: [{{ weight: 20 }}, {{ weight: 50 }}, {{ weight: 100 }}]
"#
    )
}

fn project(console: &str) -> Project {
    let production = free_addr();
    let console = console.to_string();
    Project::with_spec(move |api, staging| spec(api, staging, production, &console))
}

/// An HTTP/1.1 answer: status, every header line (lowercased names) and
/// the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request on a fresh connection.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Signs in with `token`; the answer and the `Cookie` header to send.
fn sign_in(addr: SocketAddr, token: &str) -> (Answer, String) {
    let (nonce, fields) = console_login_form(addr);
    let a = call(
        addr,
        "POST",
        "/ui/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &nonce),
        ],
        &format!("{fields}token={token}"),
    );
    // The session's cookie; a refused sign-in sets only a new form's.
    let cookie = a
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find(|c| c.starts_with("zion_session="))
        .unwrap_or("")
        .to_string();
    (a, cookie)
}

/// The CSRF token a page holds.
fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf-token" content=""#)
        .expect("the page holds a CSRF token");
    let rest = &page[at + r#"name="csrf-token" content=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn get(addr: SocketAddr, path: &str, cookie: &str) -> Answer {
    call(addr, "GET", path, &[("Cookie", cookie)], "")
}

fn deployed(p: &Project, token: &str, args: &[&str]) -> i64 {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = p.zion_as(token, &all);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    d["id"].as_i64().unwrap()
}

#[test]
fn sign_in_roles_csrf_sign_out_revocation_and_escaping() {
    let mut p = project("");
    p.start();
    let admin = std::fs::read_to_string(p.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let operator = p.token("olga", "deployer");
    let viewer = p.token("vic", "viewer");
    let approver = p.token("ann", "approver");

    // `/` leads to the console, which leads to the sign-in page.
    let a = call(p.api, "GET", "/", &[], "");
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/")));
    let a = call(p.api, "GET", "/ui/", &[], "");
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/login")));
    let a = call(p.api, "GET", "/ui/login", &[], "");
    assert_eq!(a.status, 200);
    assert!(a.body.contains(r#"<label for="token">"#), "{}", a.body);

    // A wrong token: a clear message, no session, the token not echoed.
    let (a, cookie) = sign_in(p.api, "zion_not-a-token-at-all");
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(cookie.is_empty(), "no session for a wrong token");
    assert!(a.body.contains("unknown or revoked"), "{}", a.body);
    assert!(!a.body.contains("not-a-token-at-all"));
    assert!(
        !p.log().contains("not-a-token-at-all"),
        "the token was logged"
    );

    // A form posted from elsewhere (no nonce, or another browser's):
    // refused, whatever the token, so no page can sign a browser in.
    let (_, fields) = console_login_form(p.api);
    for cookie in ["", "zion_login=0123"] {
        let a = call(
            p.api,
            "POST",
            "/ui/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", cookie),
            ],
            &format!("{fields}token={operator}"),
        );
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(
            a.body.contains("was not shown to this browser"),
            "{}",
            a.body
        );
        let set = a.header("set-cookie").unwrap_or("");
        assert!(!set.contains("zion_session="), "{set}");
    }

    // The right one: a strict, HttpOnly cookie; Secure behind TLS.
    let (a, op) = sign_in(p.api, &operator);
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/")));
    let set = a.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains(&operator), "the cookie is not the token");
    assert!(!p.log().contains(&operator), "the token was logged");
    let (nonce, fields) = console_login_form(p.api);
    let tls = call(
        p.api,
        "POST",
        "/ui/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-Proto", "https"),
            ("Cookie", &nonce),
        ],
        &format!("{fields}token={operator}"),
    );
    assert!(tls.header("set-cookie").unwrap().contains("; Secure"));

    // A canary held at its first step on staging.
    assert!(
        p.zion_as(
            &admin,
            &["deploy", "web", "1.0", "--env", "staging", "--wait"]
        )
        .status
        .success()
    );
    let id = deployed(&p, &admin, &["deploy", "web", "2.0", "--env", "staging"]);
    p.wait_for(
        id,
        Duration::from_secs(30),
        "the canary's first step",
        |d| d["phase"] == "progressing" && d["step"] == 1,
    );

    let page = get(p.api, "/ui/", &op);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"id="target-web--staging""#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"data-canary-weight="20""#),
        "{}",
        page.body
    );
    let op_csrf = csrf_of(&page.body);
    let detail = get(p.api, &format!("/ui/deployments/{id}"), &op);
    assert!(
        detail.body.contains(r#"data-action="abort""#),
        "{}",
        detail.body
    );

    // A viewer's pages offer no command, and the API refuses a forged one.
    let (_, vw) = sign_in(p.api, &viewer);
    let vpage = get(p.api, &format!("/ui/deployments/{id}"), &vw);
    assert_eq!(vpage.status, 200);
    assert!(!vpage.body.contains("data-action="), "{}", vpage.body);
    let v_csrf = csrf_of(&vpage.body);
    let forged = call(
        p.api,
        "POST",
        &format!("/api/v1/deployments/{id}/abort"),
        &[("Cookie", &vw), ("X-CSRF-Token", &v_csrf)],
        "",
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(
        forged.json()["error"]["code"],
        "forbidden",
        "{}",
        forged.body
    );

    // The operator's cookie without the CSRF token is refused; with it,
    // the command goes through the API as any other.
    let pause = format!("/api/v1/deployments/{id}/pause");
    let no_csrf = call(p.api, "POST", &pause, &[("Cookie", &op)], "");
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    assert_eq!(no_csrf.json()["error"]["code"], "csrf", "{}", no_csrf.body);
    let wrong = call(
        p.api,
        "POST",
        &pause,
        &[("Cookie", &op), ("X-CSRF-Token", &v_csrf)],
        "",
    );
    assert_eq!(
        wrong.json()["error"]["code"],
        "csrf",
        "another session's token"
    );
    let ok = call(
        p.api,
        "POST",
        &pause,
        &[("Cookie", &op), ("X-CSRF-Token", &op_csrf)],
        "",
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(p.deployment(id)["phase"], "paused");
    // Reads need no CSRF token.
    let read = get(p.api, &format!("/api/v1/deployments/{id}"), &op);
    assert_eq!(read.status, 200, "{}", read.body);

    // Approvals on production: the inbox, a comment shown escaped.
    let prod = deployed(&p, &admin, &["deploy", "web", "1.0", "--env", "production"]);
    p.wait_for(prod, Duration::from_secs(10), "waiting for approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    let (_, an) = sign_in(p.api, &approver);
    let inbox = get(p.api, "/ui/approvals", &an);
    assert!(
        inbox.body.contains(&format!(r#"id="approval-{prod}""#)),
        "{}",
        inbox.body
    );
    assert!(
        inbox.body.contains(r#"data-action="approve""#),
        "{}",
        inbox.body
    );
    let an_csrf = csrf_of(&inbox.body);
    let approve = call(
        p.api,
        "POST",
        &format!("/api/v1/deployments/{prod}/approve"),
        &[
            ("Cookie", &an),
            ("X-CSRF-Token", &an_csrf),
            ("Content-Type", "application/json"),
        ],
        r#"{"comment": "<script>alert(1)</script>"}"#,
    );
    assert_eq!(approve.status, 200, "{}", approve.body);
    let shown = get(p.api, &format!("/ui/deployments/{prod}"), &an);
    assert!(
        shown.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("<script>alert(1)"), "{}", shown.body);

    // Signing out ends the session, on the pages and in the API.
    let out = call(
        p.api,
        "POST",
        "/ui/logout",
        &[
            ("Cookie", &op),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("csrf={op_csrf}"),
    );
    assert_eq!(out.status, 303, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(get(p.api, "/ui/", &op).status, 303);
    assert_eq!(get(p.api, "/api/v1/services", &op).status, 401);

    // A revoked token's sessions end with it.
    let temp = p.token("tess", "deployer");
    let (_, ts) = sign_in(p.api, &temp);
    assert_eq!(get(p.api, "/ui/", &ts).status, 200);
    assert!(
        p.zion_as(&admin, &["token", "revoke", "tess"])
            .status
            .success()
    );
    let after = get(p.api, "/ui/", &ts);
    assert_eq!(
        (after.status, after.header("location")),
        (303, Some("/ui/login"))
    );
    assert_eq!(get(p.api, "/api/v1/services", &ts).status, 401);
    let (again, _) = sign_in(p.api, &temp);
    assert_eq!(again.status, 401, "a revoked token signs in no more");
}

#[test]
fn the_overview_stream_shows_a_step_within_a_second() {
    let mut p = project("");
    p.start();
    let admin = std::fs::read_to_string(p.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        p.zion_as(
            &admin,
            &["deploy", "web", "1.0", "--env", "staging", "--wait"]
        )
        .status
        .success()
    );
    let id = deployed(&p, &admin, &["deploy", "web", "2.0", "--env", "staging"]);
    p.wait_for(
        id,
        Duration::from_secs(30),
        "the canary's first step",
        |d| d["phase"] == "progressing" && d["step"] == 1,
    );
    let (_, cookie) = sign_in(p.api, &admin);

    // The stream, read on its own thread: each line with when it came.
    let mut s = TcpStream::connect(p.api).unwrap();
    write!(
        s,
        "GET /ui/events?page=overview HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n",
        p.api
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(jiff::Timestamp, String)>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut pending = String::new();
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            let at = jiff::Timestamp::now();
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                if tx.send((at, line.trim().to_string())).is_err() {
                    return;
                }
            }
        }
    });
    let fragment = |line: &str| -> Option<String> {
        let v: Value = serde_json::from_str(line.strip_prefix("data:")?.trim()).ok()?;
        (v["id"] == "target-web--staging").then(|| v["html"].as_str().unwrap().to_string())
    };
    // The first events: every card as it stands.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, line) = rx
            .recv_timeout(deadline - Instant::now())
            .expect("the stream's first fragment");
        if fragment(&line).is_some_and(|h| h.contains(r#"data-step="1""#)) {
            break;
        }
    }

    assert!(
        p.zion_as(&admin, &["promote", &id.to_string()])
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let (at, line) = rx
            .recv_timeout(deadline - Instant::now())
            .expect("the step's fragment");
        if fragment(&line).is_some_and(|h| {
            h.contains(r#"data-step="2""#) && h.contains(r#"data-canary-weight="50""#)
        }) {
            break at;
        }
    };
    let d = p.deployment(id);
    let moved: jiff::Timestamp = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["step"] == 2)
        .and_then(|e| e["at"].as_str())
        .expect("the step's event")
        .parse()
        .unwrap();
    let delay = received.duration_since(moved);
    println!(
        "console stream: step shown {} ms after the transition",
        delay.as_millis()
    );
    assert!(delay < jiff::SignedDuration::from_secs(1), "{delay:?}");
}

#[test]
fn the_status_page_is_off_unless_the_spec_turns_it_on() {
    let mut p = project("");
    p.start();
    let admin = std::fs::read_to_string(p.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let off = call(p.api, "GET", "/status", &[], "");
    assert_eq!(off.status, 404, "{}", off.body);
    assert!(off.body.contains("status_page"), "{}", off.body);

    let text = std::fs::read_to_string(p.spec_path()).unwrap();
    std::fs::write(
        p.spec_path(),
        text.replacen(
            "\n\nenvironments:",
            "\nconsole: { status_page: true }\nenvironments:",
            1,
        ),
    )
    .unwrap();
    let out = p.zion(&["apply"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        p.zion_as(
            &admin,
            &["deploy", "web", "1.0", "--env", "staging", "--wait"]
        )
        .status
        .success()
    );

    let on = call(p.api, "GET", "/status", &[], "");
    assert_eq!(on.status, 200, "{}", on.body);
    assert!(on.body.contains(r#"data-service="web""#), "{}", on.body);
    assert!(
        on.body.contains(r#"data-state="operational""#),
        "{}",
        on.body
    );
    assert!(
        !on.body.contains("data-action"),
        "no command on the public page"
    );
    assert!(!on.body.contains("csrf"), "no session on the public page");
    assert!(!on.body.contains(&admin));
    assert!(!on.body.contains(&p.api.to_string()), "no address");
}
