//! `zion up` with its state in PostgreSQL (a throwaway cluster of this test
//! binary): a rollout succeeds, everything is still there after a restart
//! of `zion up`, and a database that cannot be reached stops the start with
//! exit code 3 and without showing the password.

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
