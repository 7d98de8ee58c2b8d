//! The web console on two replicas of `zion up` sharing a throwaway
//! PostgreSQL database, in a real headless Chromium: a session opened on
//! replica A is honoured by replica B (sessions live in the store); the
//! requester's approval is refused on A; a second principal approves on
//! B, and A's deployment page shows it live; a promote through B moves
//! the canary on A's overview without a reload; B's audit page verifies
//! and exports the log both wrote.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::console_browser::{DESKTOP, WAIT, card_attr, download, sign_in_at, spec};
use crate::replicas::Fleet;
use crate::support::describe;
use crate::webdriver::Browser;

const A: usize = 0;
const B: usize = 1;

fn token(f: &Fleet, name: &str, role: &str) -> String {
    let t = f.json(A, &["token", "create", name, "--role", role]);
    t["token"].as_str().unwrap().to_string()
}

/// A CLI command through replica `i` as the holder of `token`. A change
/// that met the driving replica's own write (409 `conflict`: "try again")
/// is sent again, as its message asks.
fn as_on(f: &Fleet, i: usize, token: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--token", token, "--output", "json"]);
    for _ in 0..5 {
        let out = f.zion(i, &all);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("\"conflict\""),
            "zion {args:?} on replica {i}: {}\n{}",
            describe(&out),
            f.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "zion {args:?} on replica {i} met a conflict five times\n{}",
        f.logs()
    );
}

/// Clicks an action's button as it is at the moment of the click and
/// confirms it in the page's dialog; the message the page then shows. The
/// live stream may swap the part holding the button between finding it
/// and clicking it (the other replica's writes show there), so the button
/// is found and clicked in one step in the page.
fn act_live(b: &Browser, action: &str) -> String {
    b.wait(&format!("button[data-action={action}]"), WAIT);
    b.exec(
        "window.__zionMessage = document.getElementById('message').textContent; \
         document.querySelector(`button[data-action=\"${arguments[0]}\"]`).click(); return 1",
        vec![json!(action)],
    );
    let ok = b.wait("#confirm[open] #confirm-ok", WAIT);
    b.click(&ok);
    b.until(WAIT, &format!("the answer to {action}"), |b| {
        let m = b.exec(
            "const m = document.getElementById('message').textContent; \
             return m && m !== window.__zionMessage ? m : null",
            vec![],
        );
        m.as_str().map(str::to_string)
    })
}

/// Approves from the page, again if the API answered that the deployment
/// changed at the same time (the page shows its message; a person clicks
/// again).
fn approve_on_page(b: &Browser) -> String {
    for _ in 0..5 {
        let said = act_live(b, "approve");
        if !said.contains("try again") {
            return said;
        }
    }
    panic!("the approval met a conflict five times");
}

fn at(f: &Fleet, i: usize, path: &str) -> String {
    format!("http://{}{path}", f.apis[i])
}

fn wait_phase(f: &Fleet, id: i64, what: &str, pred: impl Fn(&Value) -> bool) {
    f.eventually(WAIT, what, || pred(&f.phase(A, id)).then_some(()));
}

/// The deployment page's phase, as the live stream last set it.
fn page_phase(b: &Browser) -> Option<String> {
    b.exec(
        "const e = document.querySelector('[data-deployment]'); return e ? e.dataset.phase : null",
        vec![],
    )
    .as_str()
    .map(str::to_string)
}

#[test]
fn two_replicas_on_postgresql_serve_one_console() {
    let f = Fleet::with_yaml(2, "3s", spec);
    let ann = token(&f, "ann", "admin");
    let alice = token(&f, "alice", "approver");

    // 1.0 becomes stable: requested by ann, approved by alice.
    let first = as_on(
        &f,
        A,
        &ann,
        &["deploy", "web", "1.0", "--env", "production"],
    );
    let first = first["id"].as_i64().unwrap();
    wait_phase(&f, first, "1.0 awaits its approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    as_on(&f, B, &alice, &["approve", &first.to_string()]);
    wait_phase(&f, first, "1.0 succeeds", |d| d["phase"] == "succeeded");

    // Ann signs in on A; her session opens B's pages too (the browser
    // sends the cookie to both: they share the host, not the port).
    let a = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in_at(&a, f.apis[A], &ann, "ann");
    a.goto(&at(&f, B, "/ui/"));
    let principal = a.wait("#principal", WAIT);
    assert!(
        a.text(&principal).contains("ann"),
        "replica B honours the session opened on A: {}",
        a.text(&principal)
    );

    // 2.0 waits for an approval; ann's own is refused on A.
    let id = as_on(
        &f,
        A,
        &ann,
        &["deploy", "web", "2.0", "--env", "production"],
    );
    let id = id["id"].as_i64().unwrap();
    wait_phase(&f, id, "awaiting approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    a.goto(&at(&f, A, &format!("/ui/deployments/{id}")));
    a.wait("[data-deployment]", WAIT);
    let said = act_live(&a, "approve");
    assert!(
        said.to_lowercase().contains("approv"),
        "the requester's approval is refused with the API's reason: {said}"
    );
    a.exec("window.__zionNotReloaded = true; return 1", vec![]);

    // Alice approves on B; A's page, never reloaded, shows it.
    let b = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in_at(&b, f.apis[B], &alice, "alice");
    b.goto(&at(&f, B, "/ui/approvals"));
    b.wait(&format!("#approval-{id}"), WAIT);
    let said = approve_on_page(&b);
    assert!(said.contains("done"), "alice's approval on B: {said}");
    let approved = Instant::now();
    let phase = a.until(WAIT, "A's page to leave awaiting_approval", |a| {
        page_phase(a).filter(|p| p != "awaiting_approval")
    });
    eprintln!(
        "replica A's page showed the approval made on B {} ms later ({phase})",
        approved.elapsed().as_millis()
    );
    assert_eq!(
        a.exec("return window.__zionNotReloaded === true", vec![]),
        json!(true),
        "A's deployment page was reloaded"
    );

    // Ann watches the overview on A while the canary is promoted on B.
    a.goto(&at(&f, A, "/ui/"));
    a.wait("[data-target=\"web/production\"]", WAIT);
    a.exec("window.__zionNotReloaded = true; return 1", vec![]);
    let weight = |a: &Browser| card_attr(a, "split", "data-canary-weight").unwrap_or_default();
    a.until(WAIT, "the canary held at 20% on A's overview", |a| {
        (weight(a) == "20").then_some(())
    });
    as_on(&f, B, &ann, &["promote", &id.to_string()]);
    let promoted = Instant::now();
    a.until(Duration::from_secs(30), "A's overview to show 50%", |a| {
        (weight(a) == "50").then_some(())
    });
    eprintln!(
        "replica A's overview showed the step promoted through B {} ms later",
        promoted.elapsed().as_millis()
    );
    assert_eq!(
        a.exec("return window.__zionNotReloaded === true", vec![]),
        json!(true),
        "A's overview was reloaded"
    );
    assert_eq!(f.phase(B, id)["canary_weight"], 50);

    // B's audit page verifies the log both replicas wrote to PostgreSQL,
    // and exports it.
    a.goto(&at(&f, B, "/ui/audit"));
    a.wait("#audit-table", WAIT);
    a.click(&a.wait("#verify-run", WAIT));
    let page = a.until(WAIT, "the verification's answer on B's page", |a| {
        let v = a.exec(
            "const r = document.getElementById('verify-result'); \
             return r.dataset.ok ? {ok: r.dataset.ok, entries: Number(r.dataset.entries)} : null",
            vec![],
        );
        (!v.is_null()).then_some(v)
    });
    assert_eq!(page["ok"], "true", "{page}");
    let cli = f.json(A, &["audit", "verify"]);
    let (shown, verified) = (page["entries"].as_u64(), cli["entries"].as_u64());
    assert!(
        shown > Some(0) && shown <= verified,
        "B's page verified {shown:?} entries, the CLI through A {verified:?} a moment later"
    );
    let bundle = download(&a, "/api/v1/audit/export");
    assert_eq!(bundle["status"], 200, "{bundle}");
}
