//! Schemathesis against a real `zion up` with real replicas: operations
//! generated from `GET /api/v1/openapi.json` (valid and invalid input),
//! sent with an admin token; no answer may be a 5xx, and every answer must
//! have a documented status, content type and body schema.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Far more than the bounded run needs on a loaded two-core machine.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let mut p = Project::new(
        "        - { weight: 30, pause: 600s }\n        - { weight: 100 }",
        &[],
        "10s",
    );
    p.start();
    // A stable version and a canary held at its first step: real replicas,
    // a deployment with events and analysis rounds for the reads to show.
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let canary = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    p.wait_for(canary, Duration::from_secs(60), "2.0 at 30%", |d| {
        d["canary_weight"] == 30
    });
    let token = p.token("fuzzer", "admin");

    let schema = format!("http://{}/api/v1/openapi.json", p.api);
    let auth = format!("Authorization: Bearer {token}");
    let mut st = Command::new("st");
    st.args(["run", &schema, "--header", &auth])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,\
             content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--workers",
            "2",
            "--seed",
            "19",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--no-color",
            // Revoking a token could revoke the run's own (its name is
            // generated), and every later answer would be a 401.
            "--exclude-path",
            "/api/v1/tokens/{name}",
            // An import is JSON lines (`application/x-ndjson`), a body
            // schemathesis has no serializer for: its fuzzing phase reports
            // an error instead of testing it. `import` tests send real ones.
            "--exclude-path",
            "/api/v1/import",
        ])
        .current_dir(p.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = st.spawn().unwrap_or_else(|e| {
        panic!("cannot run schemathesis' `st` ({e}): scripts/test.sh installs it from PyPI")
    });
    let started = Instant::now();
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match waited.recv_timeout(LIMIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("schemathesis ran longer than {LIMIT:?}");
        }
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("schemathesis took {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n--- zion up's log:\n{}",
        tail(&p.log())
    );
    // It ran the operations rather than stopping at the schema.
    assert!(text.contains("passed"), "{text}");
}

/// The last lines of a long log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
