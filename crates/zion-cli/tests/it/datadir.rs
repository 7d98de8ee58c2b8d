//! The data directory is one server's, and one database's: a second
//! `zion up` on it is refused before it touches anything, and a database
//! deleted or replaced stops the server, and its restart, with a message
//! saying how to restore it or to start a new log on purpose.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::*;

/// Generous: a refused start takes well under a second on an idle machine.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// Runs `zion up -f spec` and waits for it to exit on its own; a server
/// that keeps running is killed and fails the test.
fn up_until_exit(spec: &Path) -> Output {
    let mut child = Command::new(ZION)
        .args(["up", "-f"])
        .arg(spec)
        .env("ZION_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if wait_exit(&mut child, EXIT_LIMIT).is_none() {
        terminate(&mut child);
        let out = child.wait_with_output().unwrap();
        panic!(
            "zion up kept running for {EXIT_LIMIT:?}: {}",
            describe(&out)
        );
    }
    child.wait_with_output().unwrap()
}

/// Stops a server that should have stopped by itself, letting it stop its
/// replicas first.
fn terminate(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    if wait_exit(child, EXIT_LIMIT).is_none() {
        let _ = child.kill();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A project whose only step is 100%: a deployment succeeds without traffic.
fn project() -> Project {
    Project::new("        - { weight: 100 }", &[], "20s")
}

fn deploy(p: &Project, version: &str) {
    let out = p.zion(&["deploy", "web", version, "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
}

#[test]
fn a_second_up_on_the_same_data_dir_is_refused_naming_the_first() {
    let mut p = project();
    p.start();
    deploy(&p, "1.0");
    let first_pid = p.up.as_ref().unwrap().id();
    let replicas = p.replicas();
    assert_eq!(replicas.len(), 2, "{replicas:?}");

    // Another spec on other ports but the same data_dir: without the lock
    // it would start, reap the first one's replicas and write its own spec.
    let second = p.dir.path().join("second.yaml");
    std::fs::write(
        &second,
        spec(
            free_addr(),
            free_addr(),
            "        - { weight: 100 }",
            &[],
            "20s",
        ),
    )
    .unwrap();
    let out = up_until_exit(&second);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("in use by another `zion up` (PID {first_pid}"))
            && err.contains(&p.data_dir().display().to_string()),
        "{}",
        describe(&out)
    );

    // The first server lost nothing: the same replicas, and its writes work.
    assert_eq!(p.replicas(), replicas);
    assert!(replicas.iter().all(|(pid, _)| alive(*pid)));
    deploy(&p, "2.0");
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}", describe(&out));
    let history = p.json(&["history"]);
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
}

/// Removes the database and its side files (a stale `-wal` would be read
/// into whatever file takes the name next).
fn remove_database(data_dir: &Path) {
    for name in ["zion.db", "zion.db-wal", "zion.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(name));
    }
}

#[test]
fn a_lost_database_stops_the_server_and_its_restart_until_restored() {
    let mut p = project();
    p.start();
    deploy(&p, "1.0");
    // A backup taken while the server is stopped is consistent.
    p.stop(Signal::SIGTERM);
    let data = p.data_dir();
    let backup = p.dir.path().join("backup.db");
    assert!(
        !data.join("zion.db-wal").exists(),
        "a clean stop checkpoints"
    );
    std::fs::copy(data.join("zion.db"), &backup).unwrap();

    // Deleted under a running server: it stops, saying what happened.
    p.start();
    let replicas = eventually(EXIT_LIMIT, "the stable version's replicas", || {
        Some(p.replicas()).filter(|r| r.len() == 2)
    });
    std::fs::remove_file(data.join("zion.db")).unwrap();
    let mut up = p.up.take().unwrap();
    let status = wait_exit(&mut up, EXIT_LIMIT).unwrap_or_else(|| {
        terminate(&mut up);
        panic!("zion up went on without its database\n{}", p.log())
    });
    assert_eq!(status.code(), Some(1), "{}", p.log());
    let log = p.log();
    assert!(
        log.contains("zion.db was deleted or moved while the server ran")
            && log.contains("from a backup"),
        "{log}"
    );
    for (pid, _) in &replicas {
        assert!(!alive(*pid), "replica {pid} outlived the server\n{log}");
    }

    // Restarted with the key but no database: refused, nothing created.
    remove_database(&data);
    let out = up_until_exit(&p.spec_path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zion.db is missing, but the audit key")
            && err.contains("from a backup")
            && err.contains("to start a new, empty history and audit log on purpose"),
        "{err}"
    );
    assert!(
        !data.join("zion.db").exists(),
        "a refused start made a database"
    );

    // Replaced by an empty database: refused as well.
    std::fs::write(data.join("zion.db"), b"").unwrap();
    let out = up_until_exit(&p.spec_path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no audit entry"), "{err}");

    // Put back from the backup: the history and its log are whole again.
    remove_database(&data);
    std::fs::copy(&backup, data.join("zion.db")).unwrap();
    p.start();
    let history = p.json(&["history"]);
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["version"], "1.0");
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}", describe(&out));
    p.stop(Signal::SIGTERM);

    // A new log on purpose: the old key moved aside.
    remove_database(&data);
    std::fs::rename(data.join("audit.key"), p.dir.path().join("old-audit.key")).unwrap();
    p.start();
    assert_eq!(p.json(&["history"]).as_array().unwrap().len(), 0);
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}", describe(&out));
}
