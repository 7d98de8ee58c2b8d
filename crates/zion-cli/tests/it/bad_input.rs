//! Bad input gets a clear error and changes nothing else.

use std::time::Duration;

use crate::support::*;

#[test]
fn invalid_spec_is_refused_with_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(
        &file,
        "environments:\n  - name: Prod\nservices:\n  - name: web\n    workload: { process: { command: [x] } }\n    targets: { nowhere: { listen: 127.0.0.1:8080 } }\n    canary: { steps: [ { weight: 60 }, { weight: 50 } ] }\n",
    )
    .unwrap();
    let out = std::process::Command::new(ZION)
        .args(["lint", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for path in [
        "environments[0].name",
        "services[0].targets",
        "services[0].canary.steps[1].weight",
    ] {
        assert!(err.contains(path), "lint did not name {path}: {err}");
    }
    // `up` refuses it too, before touching anything.
    let out = std::process::Command::new(ZION)
        .args(["up", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !dir.path().join(".zion").exists(),
        "an invalid spec created state"
    );
}

#[test]
fn refusals_name_what_was_wrong_and_change_nothing() {
    let steps = "        - { weight: 20 }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &["9.9:crash"], "3s");
    p.start();

    // A valid lint prints a summary.
    let out = p.zion(&["lint"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Bad token: exit 3, nothing created.
    let out = p.zion(&[
        "deploy", "web", "1.0", "--env", "staging", "--token", "nope",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown or revoked token"),
        "{}",
        describe(&out)
    );
    assert_eq!(p.json(&["history"]).as_array().unwrap().len(), 0);

    // Unknown service, environment, deployment id.
    let out = p.zion(&["deploy", "api", "1.0", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown service `api`"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&["deploy", "web", "1.0", "--env", "prod"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown environment `prod`"),
        "{}",
        describe(&out)
    );
    let out = p.zion(&["get", "999"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no deployment 999"),
        "{}",
        describe(&out)
    );
    assert_eq!(p.json(&["history"]).as_array().unwrap().len(), 0);

    // Versions that would name a folder or an option, and a huge one whose
    // refusal repeats only its start.
    for version in ["..", ".", "-rf"] {
        // `--` lets a version start with '-'; -f must come before it.
        let out = std::process::Command::new(ZION)
            .args(["deploy", "-f"])
            .arg(p.spec_path())
            .args(["web", "--env", "staging", "--", version])
            .env_remove("ZION_TOKEN")
            .env_remove("ZION_SERVER")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{version}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("start it with a letter or a digit"),
            "{version}: {}",
            describe(&out)
        );
    }
    let huge = "7".repeat(10 * 1024);
    let out = p.zion(&["deploy", "web", &huge, "--env", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10240 characters long") && err.len() < 300,
        "{} bytes: {}",
        err.len(),
        err.chars().take(400).collect::<String>()
    );
    assert_eq!(p.json(&["history"]).as_array().unwrap().len(), 0);

    // One environment and one service are not "1 environments".
    let out = p.zion(&["apply"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": 1 environment, 1 service\n"),
        "{}",
        describe(&out)
    );

    // Server unreachable: exit 3.
    let out = p.zion(&["status", "--server", &format!("http://{}", free_addr())]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        describe(&out)
    );

    assert!(
        p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"])
            .status
            .success()
    );

    // A second deployment to a busy target is refused (409: exit 3).
    let id = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    let out = p.zion(&["deploy", "web", "2.1", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("already has deployment {id}")) && err.contains("zion abort"),
        "{err}"
    );
    p.json(&["abort", &id.to_string()]);
    p.wait_for(id, Duration::from_secs(30), "abort to finish", |d| {
        d["phase"] == "rolled_back"
    });

    // A version that never becomes healthy: failed, stable untouched.
    let out = p.zion(&["deploy", "web", "9.9", "--env", "staging", "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let history = p.json(&["history"]);
    let failed = &history.as_array().unwrap()[0];
    assert_eq!(
        (failed["version"].as_str(), failed["phase"].as_str()),
        (Some("9.9"), Some("failed"))
    );
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("crashing at start as told") && reason.contains("no traffic was moved"),
        "{reason}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");
    let (status, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!((status, version.as_str()), (200, "1.0"));
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
}

/// Runs `zion ARGS -f FILE` in FILE's folder, with no server configured.
fn zion_on(file: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(ZION)
        .args(args)
        .arg("-f")
        .arg(file)
        .current_dir(file.parent().unwrap())
        .env_remove("ZION_TOKEN")
        .env_remove("ZION_SERVER")
        .output()
        .unwrap()
}

/// A spec of one `web` service in `staging` with `extra` lines added to it.
fn web_spec(extra: &str) -> String {
    format!(
        "server: {{ listen: {}, data_dir: state }}\nenvironments: [{{ name: staging }}]\n\
         services:\n  - name: web\n    workload: {{ process: {{ command: [./app, --port, \"{{port}}\"] }} }}\n\
         \x20   targets: {{ staging: {{ listen: {} }} }}\n{extra}",
        free_addr(),
        free_addr()
    )
}

#[test]
fn lint_refuses_durations_out_of_range_and_ends_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(
        &file,
        web_spec(
            "    health: { interval: 99999999999h, start_timeout: 500ms }\n    analysis: { interval: 2h }\n",
        ),
    )
    .unwrap();
    let out = zion_on(&file, &["lint"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "services[0].health.interval: `99999999999h` is too long: use 100ms to 1h\n\
         services[0].health.start_timeout: `500ms` is too short: use 1s to 24h\n\
         services[0].analysis.interval: `2h` is too long: use 1s to 1h\n"
    );

    // A valid spec's summary ends its last line too.
    std::fs::write(
        &file,
        web_spec("    analysis: { interval: 1h, min_requests: 1 }\n"),
    )
    .unwrap();
    let out = zion_on(&file, &["lint"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n") && !text.ends_with("\n\n"), "{text:?}");
    assert!(text.contains("min 1 request,"), "{text}");
    assert!(text.contains("traffic: 1 request every 60m"), "{text}");
}

#[test]
fn lint_says_how_to_fix_an_unquoted_placeholder_and_an_alias_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(&file, web_spec("").replace("\"{port}\"", "{port}")).unwrap();
    let out = zion_on(&file, &["lint"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("services[0].workload.process.command[2]: expected a single value")
            && err.contains("quote it: \"{port}\""),
        "{err}"
    );

    // A few hundred bytes that expand to 9^9 nodes.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let alias = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![alias; 9].join(", ")));
    }
    std::fs::write(&file, bomb).unwrap();
    let out = zion_on(&file, &["lint"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("the YAML is too large") && !err.contains("budget") && err.ends_with("\n"),
        "{err}"
    );
}

#[test]
fn deploy_names_an_unknown_service_before_asking_for_an_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(&file, web_spec("")).unwrap();
    // No server runs: the local spec answers.
    for args in [
        &["deploy", "nosuch", "1.0"][..],
        &["rollback", "nosuch"][..],
    ] {
        let out = zion_on(&file, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unknown service `nosuch`") && err.contains("declares: web"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn up_refuses_a_data_dir_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(&file, web_spec("")).unwrap();
    let state = dir.path().join("state");
    std::fs::write(&state, "not a folder").unwrap();
    let out = zion_on(&file, &["up"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("server.data_dir {}", state.display()))
            && err.contains("is a file, not a folder"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "not a folder");
}

#[test]
fn a_target_address_in_use_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    // Something else already listens where the target should.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let spec = format!(
        "server: {{ listen: {}, data_dir: state }}\nenvironments: [{{ name: staging }}]\n\
         services:\n  - name: web\n    workload: {{ process: {{ command: [./app, --port, \"{{port}}\"] }} }}\n\
         \x20   targets: {{ staging: {{ listen: {addr} }} }}\n",
        free_addr()
    );
    std::fs::write(&file, spec).unwrap();
    let out = zion_on(&file, &["up"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("cannot listen on").count(),
        1,
        "the address and its cause once: {err}"
    );
    assert!(
        err.contains(&format!(
            "web/staging cannot listen on {addr}: address in use"
        )),
        "{err}"
    );
}
