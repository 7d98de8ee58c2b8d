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
        reason.contains("did not become healthy within 3s")
            && reason.contains("no traffic was moved"),
        "{reason}"
    );
    assert_eq!(p.target_status()["stable_version"], "1.0");
    let (status, version, _) = http_get(p.target, "/").unwrap();
    assert_eq!((status, version.as_str()), (200, "1.0"));
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
}
