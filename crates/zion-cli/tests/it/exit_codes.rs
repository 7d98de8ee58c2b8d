//! One rule for exit codes (a wrong request exits 2; unreachable, refused
//! authentication, a missing role or a policy refusal exit 3), errors as
//! JSON under `--output json`, and what the CLI says about the server it
//! talks to.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The JSON error `--output json` printed on stdout (and nothing on stderr).
fn json_error(out: &Output) -> (String, String) {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}): {}", describe(out)));
    assert!(out.stderr.is_empty(), "{}", describe(out));
    (
        v["error"]["code"].as_str().unwrap_or_default().to_string(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
fn wrong_requests_exit_2_and_refusals_exit_3_in_text_and_json() {
    let mut p = Project::new("        - { weight: 100 }", &[], "10s");
    p.start();
    let viewer = p.token("vera", "viewer");

    // The request is wrong: 400 and 404 exit 2.
    let out = p.zion(&["deploy", "web", "bad version!", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", describe(&out));
    assert!(stdout(&out).is_empty(), "{}", describe(&out));
    let out = p.zion(&["get", "999", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let (code, message) = json_error(&out);
    assert_eq!(code, "not_found");
    assert!(message.contains("no deployment 999"), "{message}");

    // Refused: no valid token (401), a missing role (403), a conflict (409).
    let out = p.zion(&["status", "--token", "nope", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(json_error(&out).0, "unauthorized");
    let out = p.zion_as(&viewer, &["deploy", "web", "1.0", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        stderr(&out).contains("may not deploy"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&[
        "token", "create", "vera", "--role", "viewer", "--output", "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let (code, message) = json_error(&out);
    assert_eq!(code, "conflict");
    assert!(message.contains("vera"), "{message}");

    // Unreachable: exit 3, and the JSON says so too.
    let nowhere = format!("http://{}", free_addr());
    let out = p.zion(&["status", "--server", &nowhere, "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let (code, message) = json_error(&out);
    assert_eq!(code, "unreachable");
    assert!(message.contains("cannot reach"), "{message}");

    // A usage error found before anything is sent: exit 2, JSON as well.
    let out = p.zion(&[
        "deploy",
        "web",
        "1.0",
        "--output",
        "json",
        "--env",
        "staging",
        "--junit",
        "nowhere.xml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let (code, message) = json_error(&out);
    assert_eq!(code, "usage");
    assert!(message.contains("nowhere.xml"), "{message}");
    assert_eq!(p.json(&["history"]), serde_json::json!([]));
}

/// `zion` run in `dir` with neither a server nor a token from the
/// environment.
fn zion_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(ZION)
        .args(args)
        .current_dir(dir)
        .env_remove("ZION_SERVER")
        .env_remove("ZION_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn without_a_spec_the_cli_says_which_server_it_tries() {
    let dir = tempfile::tempdir().unwrap();
    let out = zion_in(dir.path(), &["status"]);
    let err = stderr(&out);
    assert!(
        err.contains("no spec at zion.yaml")
            && err.contains("http://127.0.0.1:7070")
            && err.contains("--server"),
        "{}",
        describe(&out)
    );
    std::fs::write(dir.path().join("zion.yaml"), "services: [\n").unwrap();
    let out = zion_in(dir.path(), &["status"]);
    assert!(
        stderr(&out).contains("zion.yaml is not a valid spec"),
        "{}",
        describe(&out)
    );
    // Told where to go, it says nothing of the kind.
    let nowhere = format!("http://{}", free_addr());
    let out = zion_in(dir.path(), &["status", "--server", &nowhere]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(!stderr(&out).contains("note:"), "{}", describe(&out));
}

#[test]
fn up_names_every_listener_previews_included() {
    let preview = free_addr();
    let mut p = Project::with_spec(|api, target| {
        spec(api, target, "        - { weight: 100 }", &[], "10s")
            .replace(
                &format!("staging: {{ listen: {target} }}"),
                &format!("staging: {{ listen: {target}, preview: {preview} }}"),
            )
            .replace("    canary:\n", "    strategy: blue_green\n    canary:\n")
    });
    p.start();
    // The banner follows the API's start: waited for, not raced.
    let line = format!("preview web/staging: http://{preview}");
    eventually(std::time::Duration::from_secs(30), "the banner", || {
        p.log().contains(&line).then_some(())
    });
    let log = p.log();
    assert!(
        log.contains(&format!("target web/staging: http://{}", p.target)),
        "{log}"
    );
}
