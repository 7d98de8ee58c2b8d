//! Taking a target over without downtime: released or left-behind replicas
//! are adopted (same processes, no restart), supervised like children, and
//! never confused with processes of another host or a reused pid.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use zion_core::spec::{HealthSpec, ProcessSpec};
use zion_providers::{
    Adoption, HostId, ProcessRecord, ProcessRegistry, ProcessWorkloads, VersionStatus,
};

use crate::reap::{
    HELPER_ENV, HELPER_LOG_ENV, HELPER_OUTPUT, HELPER_TEST, KillGroupsOnDrop, KillOnDrop,
    output_files, record, spawn_group, start_ticks,
};
use crate::*;

/// Hits every port in turn until stopped; counts requests and failures.
struct Client {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failed: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(ports: Vec<u16>) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            async move {
                for port in ports.iter().cycle() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match get(*port, "/info").await {
                        Ok((200, _)) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        other => failed.lock().unwrap().push(format!("{port}: {other:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        Client {
            stop,
            ok,
            failed,
            task,
        }
    }

    /// Stops; (requests that passed, failures).
    async fn finish(self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let failed = self.failed.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failed)
    }
}

fn wanted(version: &'static str) -> impl Fn(&str) -> Option<(ProcessSpec, HealthSpec)> {
    move |v| (v == version).then(|| (server(&[]), http_health()))
}

fn pids_and_ports(s: &VersionStatus) -> Vec<(Option<u32>, u16)> {
    s.replicas.iter().map(|r| (r.pid, r.port)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_replicas_are_adopted_without_a_restart_and_serve_throughout() {
    let Fixture {
        dir,
        registry,
        workloads: first,
    } = Fixture::new();
    let k = key("1.0");
    first
        .ensure(&k, &server(&[]), &http_health(), 2)
        .await
        .unwrap();
    let before = ready(&first, &k, 2).await;
    let pids: Vec<u32> = before.replicas.iter().filter_map(|r| r.pid).collect();
    let _cleanup = KillGroupsOnDrop(pids.clone());
    let ports: Vec<u16> = before.replicas.iter().map(|r| r.port).collect();
    let client = Client::start(ports.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(first.release_target("web", "staging").await, 2);
    assert!(first.status(&k).is_none() && first.running().is_empty());
    assert_eq!(registry.list().len(), 2, "released records are kept");
    // The releasing side going away entirely must not kill them either.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pids.iter().all(|&p| alive(p)), "released replicas run on");

    let second = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone());
    let adoption = second.adopt_target("web", "staging", wanted("1.0")).await;
    assert_eq!(
        adoption,
        Adoption {
            adopted: 2,
            forgotten: 0,
            reaped: 0
        }
    );
    // Ready as soon as adopted: probed before adopt_target returned.
    let status = second.status(&k).expect("adopted version is running");
    assert_eq!(status.ready, 2, "{status:?}");
    assert_eq!(status.desired, 2);
    assert_eq!(pids_and_ports(&status), pids_and_ports(&before));
    let endpoints: Vec<u16> = status.healthy_endpoints.iter().map(|a| a.port()).collect();
    assert_eq!(endpoints, ports);
    for r in &status.replicas {
        assert!(r.adopted && r.restarts == 0, "{r:?}");
        // Read from the file the releasing side started it with.
        assert_eq!(r.output, [format!("listening on {}", r.port)], "{r:?}");
    }
    assert_eq!(second.running(), vec![k.clone()]);
    // Adopting again finds nothing new; ensure for as many restarts nothing.
    assert_eq!(
        second
            .adopt_target("web", "staging", wanted("1.0"))
            .await
            .adopted,
        0
    );
    second
        .ensure(&k, &server(&[]), &http_health(), 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = ready(&second, &k, 2).await;
    assert_eq!(pids_and_ports(&status), pids_and_ports(&before));

    let (passed, failed) = client.finish().await;
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    assert!(passed > 20, "the client kept asking ({passed} answers)");

    // Stopping an adopted replica ends its whole process group.
    second.stop(&k).await;
    assert!(pids.iter().all(|&p| group(p).is_empty()), "groups gone");
    assert!(ports.iter().all(|&p| port_is_free(p)));
    assert!(registry.list().is_empty(), "stopped replicas are forgotten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_replica_that_dies_is_replaced_and_scale_down_stops_adopted_ones() {
    let Fixture {
        dir,
        registry,
        workloads: first,
    } = Fixture::new();
    let k = key("1.0");
    first
        .ensure(&k, &server(&[]), &http_health(), 2)
        .await
        .unwrap();
    let before = ready(&first, &k, 2).await;
    let pids: Vec<u32> = before.replicas.iter().filter_map(|r| r.pid).collect();
    let _cleanup = KillGroupsOnDrop(pids.clone());
    first.release_target("web", "staging").await;

    let second = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone())
        .with_grace(Duration::from_secs(5));
    assert_eq!(
        second
            .adopt_target("web", "staging", wanted("1.0"))
            .await
            .adopted,
        2
    );

    // Killed behind our back: noticed through /proc, replaced by a child.
    killpg(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
    let status = eventually("the killed adopted replica is replaced", WAIT, || {
        second
            .status(&k)
            .filter(|s| s.ready == 2 && s.replicas[0].pid.is_some_and(|p| p != pids[0]))
    })
    .await;
    let fresh = &status.replicas[0];
    assert_eq!(fresh.restarts, 1);
    assert!(!fresh.adopted, "a restarted replica is our child");
    assert!(
        fresh.output.iter().any(|l| l.starts_with("listening on")),
        "a child's output is read again: {:?}",
        fresh.output
    );
    assert_eq!(status.replicas[1].pid, Some(pids[1]));
    let _cleanup_fresh = KillGroupsOnDrop(vec![fresh.pid.unwrap()]);
    let recorded: Vec<u32> = registry.list().iter().map(|r| r.pid).collect();
    assert!(
        !recorded.contains(&pids[0]) && recorded.contains(&fresh.pid.unwrap()),
        "{recorded:?}"
    );

    // Scaling down stops the highest index: the adopted replica.
    second
        .ensure(&k, &server(&[]), &http_health(), 1)
        .await
        .unwrap();
    assert!(group(pids[1]).is_empty(), "adopted replica stopped");
    assert_eq!(second.status(&k).unwrap().replicas.len(), 1);
    second.stop_all().await;
    assert!(registry.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_pids_other_hosts_and_earlier_boots_are_neither_signalled_nor_adopted() {
    let Fixture {
        dir,
        registry,
        workloads: first,
    } = Fixture::new();
    // A replica of a version the new owner no longer wants.
    let old = key("0.9");
    first
        .ensure(&old, &server(&[]), &http_health(), 1)
        .await
        .unwrap();
    let old_pid = ready(&first, &old, 1).await.replicas[0].pid.unwrap();
    first.release_target("web", "staging").await;

    let mut reused = spawn_group("exec sleep 60");
    let mut foreign = spawn_group("exec sleep 60");
    let (reused_pid, foreign_pid) = (reused.id(), foreign.id());
    let _cleanup = KillGroupsOnDrop(vec![reused_pid, foreign_pid, old_pid]);
    let as_wanted = |r: ProcessRecord| ProcessRecord {
        version: "1.0".into(),
        environment: "staging".into(),
        ..r
    };
    // Same pid, other start ticks: the pid now names another process.
    registry.record(&as_wanted(record(reused_pid, start_ticks(reused_pid) + 1)));
    // A live pid with matching start ticks, but recorded by another host.
    let elsewhere = as_wanted(ProcessRecord {
        host: "elsewhere/0badc0de/1111/4026531836".into(),
        ..record(foreign_pid, start_ticks(foreign_pid))
    });
    registry.record(&elsewhere);
    // This machine before a reboot: its processes are gone.
    let me = HostId::current();
    registry.record(&as_wanted(ProcessRecord {
        host: HostId {
            boot: format!("{}-before", me.boot),
            ..me
        }
        .to_string(),
        ..record(foreign_pid, start_ticks(foreign_pid))
    }));
    // A process that is simply gone.
    registry.record(&as_wanted(record(99_999_999, 5)));
    // Another target's record is not this adoption's business.
    let other_target = ProcessRecord {
        environment: "production".into(),
        ..record(99_999_998, 5)
    };
    registry.record(&other_target);

    let second = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone())
        .with_grace(Duration::from_secs(5));
    let adoption = second.adopt_target("web", "staging", wanted("1.0")).await;
    assert_eq!(
        adoption,
        Adoption {
            adopted: 0,
            forgotten: 3,
            reaped: 1
        }
    );
    assert!(second.running().is_empty());
    assert!(group(old_pid).is_empty(), "the unwanted version is stopped");
    assert!(
        alive(reused_pid) && alive(foreign_pid),
        "nothing else signalled"
    );
    let mut left = registry.list();
    left.sort_by_key(|r| r.pid);
    assert_eq!(left, vec![elsewhere.clone(), other_target.clone()]);

    // Reaping a chosen target leaves the others (and other hosts) alone.
    assert_eq!(
        second
            .reap_orphans_where(|r| r.environment == "staging")
            .await,
        0
    );
    assert_eq!(registry.list().len(), 2);
    assert_eq!(second.reap_orphans().await, 0);
    assert_eq!(registry.list(), vec![elsewhere]);
    assert!(alive(foreign_pid));

    for child in [&mut reused, &mut foreign] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// The owner is killed with SIGKILL; the next one adopts its replicas: the
/// same processes answer throughout, nothing restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_a_killed_owner_are_adopted_and_never_stop_serving() {
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
    let client = Client::start(records.iter().map(|r| r.port).collect());
    tokio::time::sleep(Duration::from_millis(300)).await;

    helper.0.kill().unwrap();
    helper.0.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let next = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone());
    // The helper runs version 9.9.9 under a shell (see reap.rs).
    let spec = process(
        &["sh", "-c", "python3 server.py & wait"],
        &[("EXIT_AFTER", "120")],
    );
    let adoption = next
        .adopt_target("web", "staging", |v| {
            (v == "9.9.9").then(|| (spec.clone(), http_health()))
        })
        .await;
    assert_eq!(adoption.adopted, 2, "{adoption:?}");
    let k = key("9.9.9");
    let status = next.status(&k).unwrap();
    assert_eq!(status.ready, 2, "{status:?}");
    let mut adopted: Vec<(u32, u16)> = status
        .replicas
        .iter()
        .map(|r| (r.pid.unwrap(), r.port))
        .collect();
    let mut recorded: Vec<(u32, u16)> = records.iter().map(|r| (r.pid, r.port)).collect();
    adopted.sort_unstable();
    recorded.sort_unstable();
    assert_eq!(adopted, recorded, "the same processes, not restarted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (passed, failed) = client.finish().await;
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    assert!(passed > 20, "the client kept asking ({passed} answers)");

    next.stop_all().await;
    for (pid, port) in recorded {
        assert!(group(pid).is_empty() && port_is_free(port));
    }
    assert!(registry.list().is_empty());
}

/// A replica that writes a line per request (to stderr, as Python's
/// http.server does) keeps answering after the Zion that started it is
/// killed with SIGKILL: its output goes to a file, not to a pipe that
/// breaks with its reader. Whoever adopts it reads its last lines from
/// that file, and deletes the file when it stops the replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_logs_each_request_serves_on_after_its_owner_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    write_server(dir.path());
    let helper = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", HELPER_TEST, "--test-threads", "1"])
        .env(HELPER_ENV, dir.path())
        .env(HELPER_LOG_ENV, "1")
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
    let started_with = dir.path().join(HELPER_OUTPUT);
    let mut expected: Vec<String> = records
        .iter()
        .map(|r| format!("replica-{}-{}.log", r.pid, r.start_ticks))
        .collect();
    expected.sort();
    assert_eq!(
        output_files(&started_with),
        expected,
        "one file per replica"
    );

    let client = Client::start(records.iter().map(|r| r.port).collect());
    tokio::time::sleep(Duration::from_millis(300)).await;
    helper.0.kill().unwrap();
    helper.0.wait().unwrap();
    // Nobody supervises them now; every request is still logged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let members: Vec<u32> = records.iter().flat_map(|r| group(r.pid)).collect();
    assert!(
        members.len() >= 4,
        "shell and server per replica: {members:?}"
    );

    let adopted_into = dir.path().join("output-of-the-next");
    let next = ProcessWorkloads::new(dir.path().to_path_buf(), registry.clone())
        .with_output_dir(adopted_into.clone());
    let spec = process(
        &["sh", "-c", "python3 server.py & wait"],
        &[("EXIT_AFTER", "120"), ("LOG_REQUESTS", "1")],
    );
    let adoption = next
        .adopt_target("web", "staging", |v| {
            (v == "9.9.9").then(|| (spec.clone(), http_health()))
        })
        .await;
    assert_eq!(adoption.adopted, 2, "{adoption:?}");
    let k = key("9.9.9");
    // Their last lines are the requests they serve now.
    let status = eventually("adopted replicas' latest requests", WAIT, || {
        next.status(&k).filter(|s| {
            s.replicas.iter().all(|r| {
                r.output.len() == zion_providers::process::OUTPUT_LINES
                    && r.output
                        .iter()
                        .any(|l| l.contains("\"GET /info HTTP/1.0\" 200"))
            })
        })
    })
    .await;
    assert_eq!(status.ready, 2, "{status:?}");
    assert!(status.replicas.iter().all(|r| r.adopted && r.restarts == 0));
    let (passed, failed) = client.finish().await;
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    assert!(passed > 50, "the client kept asking ({passed} answers)");
    assert!(members.iter().all(|&p| alive(p)), "no replica process died");

    next.stop_all().await;
    assert!(registry.list().is_empty());
    assert_eq!(
        output_files(&started_with),
        Vec::<String>::new(),
        "stopped replicas' files are deleted"
    );
    assert_eq!(output_files(&adopted_into), Vec::<String>::new());
}
