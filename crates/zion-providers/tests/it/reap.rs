//! Reaping what a killed Zion left behind, and only that.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use zion_providers::{HostId, MemoryRegistry, ProcessRecord, ProcessRegistry, ProcessWorkloads};

use crate::*;

/// Set (to a folder) when this test binary runs as a Zion that will be killed.
pub(crate) const HELPER_ENV: &str = "ZION_PROVIDERS_IT_ORPHAN_HELPER_DIR";
/// Set when the helper's replicas are to write a line per request.
pub(crate) const HELPER_LOG_ENV: &str = "ZION_PROVIDERS_IT_ORPHAN_HELPER_LOGS";
/// Where the helper's replicas write their output, under its folder.
pub(crate) const HELPER_OUTPUT: &str = "output";
pub(crate) const HELPER_TEST: &str = "reap::helper_zion_that_gets_killed";

/// Not a test of its own: `reap_orphans_after_zion_was_killed` runs this in a
/// child process (the same test binary) and kills it with SIGKILL.
#[test]
#[ignore = "runs only as a child process of reap_orphans_after_zion_was_killed"]
fn helper_zion_that_gets_killed() {
    let Some(dir) = std::env::var_os(HELPER_ENV).map(PathBuf::from) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let registry = Arc::new(FileRegistry::new(dir.join("registry")));
        let workloads =
            ProcessWorkloads::new(dir.clone(), registry).with_output_dir(dir.join(HELPER_OUTPUT));
        // The server runs under a shell, so each replica is a group of two;
        // it exits by itself after a while should the parent test go away.
        let mut env = vec![("EXIT_AFTER", "120")];
        if std::env::var_os(HELPER_LOG_ENV).is_some() {
            env.push(("LOG_REQUESTS", "1"));
        }
        let spec = process(&["sh", "-c", "python3 server.py & wait"], &env);
        workloads
            .ensure(&key("9.9.9"), &spec, &http_health(), 2)
            .await
            .unwrap();
        ready(&workloads, &key("9.9.9"), 2).await;
        std::fs::write(dir.join("ready"), "").unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

/// Kills a child on drop, so a failing test leaves no helper running.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills the given process groups on drop (cleanup for failing tests).
pub(crate) struct KillGroupsOnDrop(pub(crate) Vec<u32>);

impl Drop for KillGroupsOnDrop {
    fn drop(&mut self) {
        for &g in &self.0 {
            if !group(g).is_empty() {
                let _ = killpg(Pid::from_raw(g as i32), Signal::SIGKILL);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_orphans_after_zion_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    write_server(dir.path());
    let helper = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", HELPER_TEST, "--test-threads", "1"])
        .env(HELPER_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start helper");
    let mut helper = KillOnDrop(helper);
    let ready_file = dir.path().join("ready");
    eventually(
        "the helper's replicas are ready",
        Duration::from_secs(90),
        || ready_file.exists().then_some(()),
    )
    .await;

    let registry = Arc::new(FileRegistry::new(dir.path().join("registry")));
    let records = registry.list();
    assert_eq!(records.len(), 2, "{records:?}");
    let _cleanup = KillGroupsOnDrop(records.iter().map(|r| r.pid).collect());
    let members: Vec<u32> = records.iter().flat_map(|r| group(r.pid)).collect();
    assert!(
        members.len() >= 4,
        "shell and server per replica: {members:?}"
    );

    // kill -9: no chance to clean up.
    helper.0.kill().unwrap();
    let status = helper.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        members.iter().all(|&p| alive(p)),
        "replicas outlive a killed Zion"
    );
    for r in &records {
        assert!(!port_is_free(r.port), "port {} still held", r.port);
    }

    let next = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone());
    assert_eq!(next.reap_orphans().await, 2);
    assert!(
        members.iter().all(|&p| !alive(p)),
        "every group member is gone"
    );
    for r in &records {
        assert!(port_is_free(r.port), "port {} is free again", r.port);
    }
    assert!(registry.list().is_empty());
    assert_eq!(
        output_files(&dir.path().join(HELPER_OUTPUT)),
        Vec::<String>::new(),
        "the output files of reaped replicas are deleted"
    );
    assert_eq!(next.reap_orphans().await, 0, "nothing left to reap");
}

/// The names of the files in `dir`, sorted; none if it does not exist.
pub(crate) fn output_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub(crate) fn start_ticks(pid: u32) -> u64 {
    stat(pid).expect("process exists").2
}

pub(crate) fn spawn_group(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sh")
}

/// A record of this host.
pub(crate) fn record(pid: u32, start_ticks: u64) -> ProcessRecord {
    ProcessRecord {
        host: HostId::current().to_string(),
        pid,
        start_ticks,
        service: "web".into(),
        environment: "staging".into(),
        version: "old".into(),
        port: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_orphans_kills_only_processes_whose_start_ticks_match() {
    let registry = Arc::new(MemoryRegistry::new());
    // A left-over replica: a shell with a child, in its own group.
    let mut orphan = spawn_group("sleep 60 & wait");
    let orphan_pid = orphan.id();
    let members = eventually("the shell's child started", WAIT, || {
        Some(group(orphan_pid)).filter(|m| m.len() >= 2)
    })
    .await;
    // A process whose pid matches a record from an earlier boot or an older
    // process: start ticks differ, so it must be left alone.
    let mut stranger = spawn_group("exec sleep 60");
    let stranger_pid = stranger.id();
    let _cleanup = KillGroupsOnDrop(vec![orphan_pid, stranger_pid]);

    registry.record(&record(orphan_pid, start_ticks(orphan_pid)));
    registry.record(&record(stranger_pid, start_ticks(stranger_pid) + 1));
    registry.record(&record(99_999_999, 5));
    // A corrupt record naming Zion itself must never be acted on.
    registry.record(&record(std::process::id(), start_ticks(std::process::id())));
    // The stranger's pid and start ticks, but on another host: another
    // process, never to be signalled from here.
    let elsewhere = ProcessRecord {
        host: "elsewhere/0badc0de/1111/4026531836".into(),
        ..record(stranger_pid, start_ticks(stranger_pid))
    };
    registry.record(&elsewhere);
    // This machine before its latest reboot: gone whatever its pid says.
    let me = HostId::current();
    let before_reboot = HostId {
        boot: format!("{}-before", me.boot),
        ..me
    };
    registry.record(&ProcessRecord {
        host: before_reboot.to_string(),
        ..record(stranger_pid, start_ticks(stranger_pid))
    });

    let workloads = ProcessWorkloads::new(std::env::temp_dir(), registry.clone())
        .with_grace(Duration::from_secs(5));
    assert_eq!(workloads.reap_orphans().await, 1);

    assert!(
        members.iter().all(|&p| !alive(p)),
        "the whole orphan group is gone: {members:?}"
    );
    let status = orphan.wait().unwrap();
    assert!(status.signal().is_some(), "killed by a signal: {status:?}");
    assert!(
        alive(stranger_pid),
        "a reused pid, a pid of another host or of an earlier boot is not killed"
    );
    assert_eq!(
        registry.list(),
        vec![elsewhere],
        "every record of this host is forgotten; another host's is kept"
    );

    stranger.kill().unwrap();
    stranger.wait().unwrap();
}
