//! The web console in a real headless Chromium (through ChromeDriver)
//! against a real `zion up` with real replicas: signing in, a canary
//! watched step by step without a reload, an approval refused to its
//! requester and given by a second principal, an abort, what a viewer may
//! not do, the CSRF token, keyboard navigation and labels, and no
//! horizontal overflow at a phone's width or a desktop's, and the audit
//! log verified, its proofs and export bundle downloaded, from its page.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::*;
use crate::webdriver::{Browser, TAB};

const PHONE: (u32, u32) = (375, 800);
pub(crate) const DESKTOP: (u32, u32) = (1280, 900);
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// `web` in `production`, where each deployment waits for one approval
/// that its requester may not give. Each canary step is held until
/// promoted, so the tests move it without sending traffic. (`server:` in
/// block style: the replicas' test adds its database's URL under it.)
pub(crate) fn spec(api: SocketAddr, target: SocketAddr) -> String {
    format!(
        r#"server:
  listen: {api}
  data_dir: state
environments:
  - name: production
    approvals: {{ required: 1, roles: [approver, admin], prevent_self_approval: true, timeout: 1h }}
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
        replicas: 1
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      production: {{ listen: {target} }}
    canary:
      steps: [{{ weight: 20 }}, {{ weight: 50 }}, {{ weight: 100 }}]
"#
    )
}

fn started() -> Project {
    let mut p = Project::with_spec(spec);
    p.start();
    p
}

fn deploy(p: &Project, token: &str, version: &str) -> i64 {
    let out = p.zion_as(
        token,
        &[
            "deploy",
            "web",
            version,
            "--env",
            "production",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    d["id"].as_i64().unwrap()
}

fn url(p: &Project, path: &str) -> String {
    format!("http://{}{path}", p.api)
}

fn sign_in(b: &Browser, p: &Project, token: &str, who: &str) {
    sign_in_at(b, p.api, token, who);
}

/// Signs in with `token` on the console at `api`; asserts the page then
/// names `who`.
pub(crate) fn sign_in_at(b: &Browser, api: SocketAddr, token: &str, who: &str) {
    b.goto(&format!("http://{api}/ui/login"));
    let field = b.wait("#token", WAIT);
    b.type_into(&field, token);
    let submit = b.wait("form button[type=submit]", WAIT);
    b.click(&submit);
    let principal = b.wait("#principal", WAIT);
    assert!(
        b.text(&principal).contains(who),
        "signed in as {who}, the page says {}",
        b.text(&principal)
    );
}

/// Clicks an action's button and confirms it in the page's dialog; the
/// message the page then shows.
fn act(b: &Browser, action: &str) -> String {
    let button = b.wait(&format!("button[data-action={action}]"), WAIT);
    b.exec(
        "window.__zionMessage = document.getElementById('message').textContent; return 1",
        vec![],
    );
    b.click(&button);
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

/// A field of the overview's card for web/production.
pub(crate) fn card_attr(b: &Browser, field: &str, attr: &str) -> Option<String> {
    let v = b.exec(
        "const e = document.querySelector(`[data-target=\"web/production\"] [data-field=\"${arguments[0]}\"]`); \
         return e ? e.getAttribute(arguments[1]) : null",
        vec![json!(field), json!(attr)],
    );
    v.as_str().map(str::to_string)
}

/// The page's width beyond the viewport, in CSS pixels (0: no overflow).
fn overflow(b: &Browser) -> i64 {
    b.exec(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    )
    .as_i64()
    .unwrap()
}

/// Every page the tests open, at a phone's width and a desktop's: nothing
/// wider than the screen, and a screenshot to look at.
fn check_widths(b: &Browser, page: &str) {
    for (w, h) in [PHONE, DESKTOP] {
        b.resize(w, h);
        let width = b.exec("return window.innerWidth", vec![]).as_i64().unwrap();
        assert!(
            (width - i64::from(w)).abs() <= 20,
            "the window did not take the width {w}: {width}"
        );
        b.screenshot(&format!("{page}-{w}"));
        assert_eq!(overflow(b), 0, "{page} overflows sideways at {w} px");
    }
}

/// Tabs through the page from its start: every enabled, visible control is
/// reached, and every one has a label a screen reader would read.
fn check_keyboard(b: &Browser, page: &str) {
    let unlabelled = b.exec(
        r#"
        const controls = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
          .filter(e => !e.disabled && e.type !== 'hidden' && e.getClientRects().length > 0
                       && e.getAttribute('tabindex') !== '-1');
        const named = e => {
          if ((e.getAttribute('aria-label') || '').trim()) return true;
          const by = e.getAttribute('aria-labelledby');
          if (by && by.split(/\s+/).some(id => (document.getElementById(id)?.textContent || '').trim())) return true;
          if (e.labels && [...e.labels].some(l => l.textContent.trim())) return true;
          if (['A', 'BUTTON'].includes(e.tagName) && e.textContent.trim()) return true;
          return !!(e.getAttribute('title') || '').trim();
        };
        window.__zionControls = controls;
        return controls.filter(e => !named(e)).map(e => e.outerHTML.slice(0, 120));
        "#,
        vec![],
    );
    assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
    let count = b
        .exec("return window.__zionControls.length", vec![])
        .as_u64()
        .unwrap();
    assert!(count > 0, "{page} has no control at all");
    b.exec("document.activeElement && document.activeElement.blur(); window.__zionSeen = new Set(); return 1", vec![]);
    for _ in 0..count + 2 {
        b.press(TAB);
        b.exec(
            "window.__zionSeen.add(document.activeElement); return 1",
            vec![],
        );
    }
    let missed = b.exec(
        "return window.__zionControls.filter(e => !window.__zionSeen.has(e)).map(e => e.outerHTML.slice(0, 120))",
        vec![],
    );
    assert_eq!(missed, json!([]), "{page}: controls Tab never reaches");
}

#[test]
fn a_release_through_the_console() {
    let p = started();
    let ann = p.token("ann", "admin");
    let alice = p.token("alice", "approver");

    // 1.0 becomes stable: requested by ann, approved by alice.
    let first = deploy(&p, &ann, "1.0");
    p.zion_as(&alice, &["approve", &first.to_string()]);
    p.wait_for(first, WAIT, "1.0 succeeds", |d| d["phase"] == "succeeded");

    let b = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in(&b, &p, &ann, "ann");
    check_widths(&b, "overview");
    check_keyboard(&b, "overview");

    // 2.0 waits for an approval; its requester's is refused, on the page.
    let id = deploy(&p, &ann, "2.0");
    p.wait_for(id, WAIT, "awaiting approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    b.goto(&url(&p, &format!("/ui/deployments/{id}")));
    b.wait("[data-deployment]", WAIT);
    check_widths(&b, "deployment-awaiting");
    check_keyboard(&b, "deployment-awaiting");
    let said = act(&b, "approve");
    assert!(
        said.to_lowercase().contains("approv"),
        "the requester's approval is refused with the API's reason: {said}"
    );
    assert_eq!(p.deployment(id)["phase"], "awaiting_approval");

    // Alice approves from her inbox, with a comment.
    let b2 = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in(&b2, &p, &alice, "alice");
    b2.goto(&url(&p, "/ui/approvals"));
    b2.wait(&format!("#approval-{id}"), WAIT);
    check_widths(&b2, "approvals");
    check_keyboard(&b2, "approvals");
    let comment = b2.wait(&format!("#approval-{id} input[type=text]"), WAIT);
    b2.type_into(&comment, "looks good");
    let said = act(&b2, "approve");
    assert!(said.contains("done"), "alice's approval: {said}");
    drop(b2);

    // Ann watches the canary on the overview, which is never reloaded.
    b.goto(&url(&p, "/ui/"));
    b.wait("[data-target=\"web/production\"]", WAIT);
    b.exec("window.__zionNotReloaded = true; return 1", vec![]);
    let start = Instant::now();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut promoted = None;
    while start.elapsed() < Duration::from_secs(30) {
        let weight = card_attr(&b, "split", "data-canary-weight").unwrap_or_default();
        let step = card_attr(&b, "step", "data-step").unwrap_or_default();
        if seen.last() != Some(&(step.clone(), weight.clone())) {
            seen.push((step.clone(), weight.clone()));
        }
        if weight == "50" {
            break;
        }
        // Held at 20%: promoted from the CLI, the page is told.
        if weight == "20" && promoted.is_none() {
            let out = p.zion_as(&ann, &["promote", &id.to_string()]);
            assert!(out.status.success(), "{}", describe(&out));
            promoted = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        b.exec("return window.__zionNotReloaded === true", vec![]),
        json!(true),
        "the overview was reloaded"
    );
    if let Some(at) = promoted {
        eprintln!(
            "the overview showed the promoted step {} ms after the promote returned",
            at.elapsed().as_millis()
        );
    }
    let weights: Vec<&str> = seen.iter().map(|(_, w)| w.as_str()).collect();
    assert!(
        weights.contains(&"20") && weights.last() == Some(&"50"),
        "the overview showed the canary at 20% then 50% as it moved: {seen:?}\n{}",
        p.log()
    );

    // Ann aborts from the deployment's page; the page shows it live.
    b.goto(&url(&p, &format!("/ui/deployments/{id}")));
    b.wait("[data-deployment]", WAIT);
    b.exec("window.__zionNotReloaded = true; return 1", vec![]);
    check_widths(&b, "deployment-progressing");
    check_keyboard(&b, "deployment-progressing");
    let said = act(&b, "abort");
    assert!(said.contains("done"), "the abort: {said}");
    let phase = b.until(WAIT, "the page shows the rollback", |b| {
        let v = b.exec(
            "const e = document.querySelector('[data-deployment]'); return e ? e.dataset.phase : null",
            vec![],
        );
        v.as_str()
            .filter(|ph| *ph != "progressing" && *ph != "paused")
            .map(str::to_string)
    });
    assert!(
        ["rolling_back", "rolled_back", "aborted"].contains(&phase.as_str()),
        "after the abort the page shows {phase}"
    );
    assert_eq!(
        b.exec("return window.__zionNotReloaded === true", vec![]),
        json!(true)
    );
    p.wait_for(id, WAIT, "rolled back", |d| {
        d["phase"] != "progressing" && d["phase"] != "rolling_back"
    });

    verify_the_audit_log(&b, &p);
}

/// The audit log's page: checked for width and keyboard, its Verify button
/// answers with the tree `zion audit verify` reports, its proof link gives
/// the leaf hash the page shows, and its export bundle downloads as an
/// attachment that verifies offline.
fn verify_the_audit_log(b: &Browser, p: &Project) {
    b.goto(&url(p, "/ui/audit"));
    b.wait("#audit-table", WAIT);
    check_widths(b, "audit");
    check_keyboard(b, "audit");

    // The page lists the newest entry first.
    let listed = b.exec(
        "const s = document.getElementById('entries').dataset.size; \
         const r = document.querySelector('#audit-table tbody tr'); \
         return {size: Number(s), index: Number(r.dataset.index), \
                 hash: r.querySelector('code.hash').textContent, \
                 proof: r.querySelector('a.proof').getAttribute('href')}",
        vec![],
    );
    let newest = listed["index"].as_u64().unwrap();
    assert_eq!(listed["size"].as_u64(), Some(newest + 1), "{listed}");
    assert_eq!(
        listed["proof"],
        format!("/api/v1/audit/proof/{newest}"),
        "{listed}"
    );
    b.wait("#export-link", WAIT);
    assert_eq!(
        b.exec(
            "return document.getElementById('export-link').getAttribute('href')",
            vec![]
        ),
        "/api/v1/audit/export"
    );

    // Verify on the page, between two runs of the CLI: when the log did
    // not grow meanwhile, the page's tree is exactly the CLI's.
    let mut attempts = 0;
    let (page, cli) = loop {
        attempts += 1;
        let before = p.json(&["audit", "verify"]);
        b.exec(
            "delete document.getElementById('verify-result').dataset.ok; return 1",
            vec![],
        );
        b.click(&b.wait("#verify-run", WAIT));
        let page = b.until(WAIT, "the verification's answer on the page", |b| {
            let v = b.exec(
                "const r = document.getElementById('verify-result'); \
                 return r.dataset.ok ? {ok: r.dataset.ok, entries: r.dataset.entries, \
                   size: r.dataset.size, root: r.dataset.root, text: r.textContent} : null",
                vec![],
            );
            (!v.is_null()).then_some(v)
        });
        let after = p.json(&["audit", "verify"]);
        if before["entries"] == after["entries"] || attempts == 3 {
            break (page, after);
        }
    };
    assert_eq!(page["ok"], "true", "the page's verification: {page}");
    let entries = cli["entries"].as_u64().unwrap().to_string();
    assert_eq!(page["entries"], entries, "page {page}, CLI {cli}");
    assert_eq!(page["size"], entries, "the signed tree head: {page}");
    assert_eq!(page["root"], cli["root"], "page {page}, CLI {cli}");
    let text = page["text"].as_str().unwrap();
    assert!(
        text.contains("signature") || text.contains("Signatures"),
        "{text}"
    );

    // The proof link, fetched with the session's cookie: the leaf hash the
    // page showed.
    let proof = download(b, &format!("/api/v1/audit/proof/{newest}"));
    assert_eq!(proof["status"], 200, "{proof}");
    let body = base64::engine::general_purpose::STANDARD
        .decode(proof["base64"].as_str().unwrap())
        .unwrap();
    let proof_json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(proof_json["leaf_hash"], listed["hash"], "{proof_json}");

    // The export bundle: an attachment, which unpacks into a bundle that
    // `zion audit verify --bundle` checks with the server's key.
    let bundle = download(b, "/api/v1/audit/export");
    assert_eq!(bundle["status"], 200, "{bundle}");
    let disposition = bundle["disposition"].as_str().unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"zion-audit-")
            && disposition.ends_with(".tar\""),
        "{disposition}"
    );
    let tar = p.dir.path().join("export.tar");
    std::fs::write(
        &tar,
        base64::engine::general_purpose::STANDARD
            .decode(bundle["base64"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(p.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let key = p.json(&["audit", "key"]);
    let dir = p.dir.path().join("zion-audit-bundle");
    let out = p.zion(&[
        "audit",
        "verify",
        "--bundle",
        dir.to_str().unwrap(),
        "--key",
        key["verifier_key"].as_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// A GET from the signed-in page, as a download link makes it:
/// `{status, disposition, base64}` of the answer.
pub(crate) fn download(b: &Browser, path: &str) -> Value {
    b.exec(
        r#"window.__zionGet = null;
        fetch(arguments[0], {credentials: 'same-origin'})
          .then(async r => {
            const bytes = new Uint8Array(await r.arrayBuffer());
            let s = '';
            for (const x of bytes) s += String.fromCharCode(x);
            window.__zionGet = {status: r.status, disposition: r.headers.get('content-disposition'), base64: btoa(s)};
          })
          .catch(e => { window.__zionGet = {status: 0, disposition: String(e), base64: ''}; });
        return 1"#,
        vec![json!(path)],
    );
    b.until(WAIT, "the download's answer", |b| {
        let v = b.exec("return window.__zionGet", vec![]);
        (!v.is_null()).then_some(v)
    })
}

#[test]
fn a_viewer_sees_no_write_control_and_the_api_refuses_forged_and_unprotected_changes() {
    let p = started();
    let ann = p.token("ann", "admin");
    let alice = p.token("alice", "approver");
    let vic = p.token("vic", "viewer");
    let first = deploy(&p, &ann, "1.0");
    p.zion_as(&alice, &["approve", &first.to_string()]);
    p.wait_for(first, WAIT, "1.0 succeeds", |d| d["phase"] == "succeeded");
    let id = deploy(&p, &ann, "2.0");
    p.zion_as(&alice, &["approve", &id.to_string()]);
    p.wait_for(id, WAIT, "held at 20%", |d| d["canary_weight"] == 20);

    let b = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in(&b, &p, &vic, "vic");
    b.goto(&url(&p, &format!("/ui/deployments/{id}")));
    b.wait("[data-deployment]", WAIT);
    assert!(
        b.find_all("button[data-action]").is_empty(),
        "a viewer is offered write controls"
    );
    check_keyboard(&b, "deployment-as-viewer");

    // The viewer's session forges the abort the page did not offer, with
    // the session's own CSRF token: the API refuses it by role.
    let forged = fetch(&b, &format!("/api/v1/deployments/{id}/abort"), true);
    assert_eq!(forged["status"], 403, "{forged}");
    assert_ne!(forged["code"], "csrf", "refused by role: {forged}");

    // An admin's session without the CSRF token: refused as such.
    let b2 = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in(&b2, &p, &ann, "ann");
    b2.goto(&url(&p, &format!("/ui/deployments/{id}")));
    b2.wait("[data-deployment]", WAIT);
    let bare = fetch(&b2, &format!("/api/v1/deployments/{id}/abort"), false);
    assert_eq!(bare["status"], 403, "{bare}");
    assert_eq!(bare["code"], "csrf", "{bare}");
    assert_eq!(p.deployment(id)["phase"], "progressing");
}

/// A POST the page's own script did not make, from the signed-in session:
/// `{status, code}` of the API's answer.
fn fetch(b: &Browser, path: &str, with_csrf: bool) -> Value {
    b.exec(
        r#"window.__zionFetch = null;
        const headers = {'Content-Type': 'application/json'};
        if (arguments[1]) headers['X-CSRF-Token'] = document.querySelector('meta[name="csrf-token"]').content;
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers, body: '{}'})
          .then(async r => { const j = await r.json().catch(() => ({})); window.__zionFetch = {status: r.status, code: (j.error || {}).code || null}; })
          .catch(e => { window.__zionFetch = {status: 0, code: String(e)}; });
        return 1"#,
        vec![json!(path), json!(with_csrf)],
    );
    b.until(WAIT, "the forged request's answer", |b| {
        let v = b.exec("return window.__zionFetch", vec![]);
        (!v.is_null()).then_some(v)
    })
}
