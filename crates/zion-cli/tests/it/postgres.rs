//! `zion up` with its state in PostgreSQL (a throwaway cluster of this test
//! binary): a rollout succeeds, everything is still there after a restart
//! of `zion up`, and a database that cannot be reached stops the start with
//! exit code 3 and without showing the password. While it runs, a database
//! that goes away makes the API answer 503 naming it, the targets keep their
//! last routes, and once it is back nothing acknowledged is missing (the
//! tests that stop the database have a cluster of their own).

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use zion_store::test_cluster::TestCluster;

use crate::support::*;

#[test]
fn a_rollout_on_postgres_succeeds_and_survives_a_restart() {
    let url = TestCluster::shared().new_database();
    let steps = "        - { weight: 50, pause: 1s }\n        - { weight: 100 }";
    let mut p = Project::with_spec(|api, target| {
        spec(api, target, steps, &[], "20s").replace(
            "  data_dir: state\n",
            &format!("  data_dir: state\n  database: {url}\n"),
        )
    });
    p.start();
    let first = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(first.status.success(), "{}", p.log());
    let load = Load::start(p.target);
    let id = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    let done = p.wait_for(id, Duration::from_secs(60), "the canary to finish", |d| {
        d["phase"] != "pending" && d["phase"] != "progressing" && d["phase"] != "paused"
    });
    drop(load);
    assert_eq!(done["phase"], "succeeded", "{done}\n{}", p.log());
    // The state is in PostgreSQL: no SQLite file was made.
    assert!(
        !p.data_dir().join("zion.db").exists(),
        "a zion.db beside a PostgreSQL database"
    );
    assert!(p.log().contains("state in PostgreSQL"), "{}", p.log());

    p.stop(Signal::SIGTERM);
    p.start();
    let after = p.deployment(id);
    assert_eq!(after["phase"], "succeeded", "{after}");
    assert_eq!(
        after["events"], done["events"],
        "the history survived whole"
    );
    let history = p.json(&["history"]);
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    let status = p.target_status();
    assert_eq!(status["stable_version"], "2.0", "{status}");
    let verify = p.zion(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn an_unreachable_database_stops_the_start_with_exit_3_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    std::fs::write(
        &file,
        format!(
            "server: {{ listen: {}, data_dir: state }}\nenvironments: [{{ name: staging }}]\n",
            free_addr()
        ),
    )
    .unwrap();
    // Nothing listens there (bound, read, released).
    let port = free_addr().port();
    let out = Command::new(ZION)
        .args(["up", "-f"])
        .arg(&file)
        .env(
            "ZION_DATABASE_URL",
            format!("postgres://zion:s3cret@127.0.0.1:{port}/zion"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("postgres://zion:***@127.0.0.1:{port}/zion")),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// A project whose state is in the PostgreSQL database at `url`.
fn on_postgres(url: &str, steps: &str) -> Project {
    Project::with_spec(|api, target| {
        spec(api, target, steps, &[], "20s").replace(
            "  data_dir: state\n",
            &format!("  data_dir: state\n  database: {url}\n"),
        )
    })
}

/// `GET path` on the API as the admin: (status, body).
fn api_get(p: &Project, path: &str) -> (u16, String) {
    let token = std::fs::read_to_string(p.data_dir().join("admin.token")).unwrap();
    let auth = format!("Bearer {}", token.trim());
    let r = http_request(p.api, path, &[("Authorization", &auth)]).unwrap();
    (r.status, r.body)
}

/// Every transition of a deployment as (from, to, step, weight); none may
/// be recorded twice.
fn assert_each_transition_once(d: &serde_json::Value) {
    let keys: Vec<String> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}->{} step {} at {}",
                e["from_phase"], e["to_phase"], e["step"], e["canary_weight"]
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "duplicated transitions: {keys:?}");
}

#[test]
fn a_database_down_answers_503_keeps_the_routes_and_loses_nothing() {
    let cluster = TestCluster::own();
    let url = cluster.new_database();
    let mut p = on_postgres(
        &url,
        "        - { weight: 50, pause: 1s }\n        - { weight: 100 }",
    );
    p.start();
    let first = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(first.status.success(), "{}", p.log());
    let before = p.json(&["history"]);

    cluster.stop().unwrap();
    // The API says why, naming the database (trusted user: no password
    // in this URL to hide; the redaction itself is tested in zion-store).
    let (status, body) = eventually(Duration::from_secs(20), "a 503", || {
        let (status, body) = api_get(&p, "/api/v1/deployments");
        (status == 503).then_some((status, body))
    });
    assert_eq!(status, 503);
    assert!(body.contains("database_unavailable"), "{body}");
    assert!(body.contains(&url), "{body}");
    // A deploy is refused, and so is not recorded later.
    let refused = p.zion(&["deploy", "web", "2.0", "--env", "staging"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be reached"),
        "{}",
        describe(&refused)
    );
    // The target keeps serving through its last route, over many ticks
    // of a controller that can read nothing.
    let load = Load::start(p.target);
    std::thread::sleep(Duration::from_secs(4));
    let served = load.finish();
    assert_eq!(served.keys().collect::<Vec<_>>(), ["1.0"], "{served:?}");
    assert_eq!(
        served["1.0"].1, 0,
        "errors while the database was down: {served:?}"
    );
    assert!(served["1.0"].0 > 20, "{served:?}");
    assert!(
        p.up.as_mut().unwrap().try_wait().unwrap().is_none(),
        "zion up exited\n{}",
        p.log()
    );

    cluster.start_again().unwrap();
    eventually(Duration::from_secs(30), "the API to answer again", || {
        (api_get(&p, "/api/v1/deployments").0 == 200).then_some(())
    });
    assert_eq!(
        p.json(&["history"]),
        before,
        "the history changed across the outage"
    );
    // Writes work again, on new connections.
    let load = Load::start(p.target);
    let second = p.zion(&[
        "deploy",
        "web",
        "2.0",
        "--env",
        "staging",
        "--wait",
        "--timeout",
        "60s",
    ]);
    drop(load);
    assert!(
        second.status.success(),
        "{}\n{}",
        describe(&second),
        p.log()
    );
    assert_eq!(p.target_status()["stable_version"], "2.0");
    let verify = p.zion(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", describe(&verify));
}

#[test]
fn a_database_restart_mid_canary_loses_no_step() {
    let cluster = TestCluster::own();
    let url = cluster.new_database();
    let steps = "        - { weight: 20, pause: 2s }\n        - { weight: 50, pause: 2s }\n        - { weight: 100 }";
    let mut p = on_postgres(&url, steps);
    p.start();
    let first = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(first.status.success(), "{}", p.log());
    let load = Load::start(p.target);
    let id = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    p.wait_for(
        id,
        Duration::from_secs(60),
        "the canary's first step",
        |d| d["canary_weight"].as_u64().is_some_and(|w| w > 0),
    );
    cluster.restart().unwrap();
    let done = eventually(Duration::from_secs(90), "the canary to finish", || {
        // Until the pool reconnects, a read may fail: poll on.
        let out = p.zion(&["get", &id.to_string(), "--output", "json"]);
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let phase = d["phase"].as_str()?.to_owned();
        (!["pending", "progressing", "paused"].contains(&phase.as_str())).then_some(d)
    });
    let served = load.finish();
    assert_eq!(done["phase"], "succeeded", "{done}\n{}", p.log());
    assert_each_transition_once(&done);
    assert!(
        !served.contains_key(NO_ANSWER),
        "dropped requests: {served:?}"
    );
    let verify = p.zion(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", describe(&verify));
}

#[test]
fn lint_names_a_malformed_database_url_by_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zion.yaml");
    for (url, says) in [
        (
            "postgres://zion@127.0.0.1:notaport/zion",
            "does not name a host",
        ),
        ("postgres://zion:s3cret@127.0.0.1/zion", "holds a password"),
        ("postgres://zion@127.0.0.1/zion?pool=4", "parameter `pool`"),
    ] {
        std::fs::write(
            &file,
            format!(
                "server: {{ listen: {}, data_dir: state, database: \"{url}\" }}\n\
                 environments: [{{ name: staging }}]\n",
                free_addr()
            ),
        )
        .unwrap();
        let out = Command::new(ZION)
            .args(["lint", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", describe(&out));
        assert!(
            err.contains("server.database") && err.contains(says),
            "{url}: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        // `up` refuses it before touching anything.
        let out = Command::new(ZION)
            .args(["up", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", describe(&out));
        assert!(
            !dir.path().join("state").exists(),
            "a refused start made its data_dir"
        );
    }
}
