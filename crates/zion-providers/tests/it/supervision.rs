//! Restarts after crashes, and resource sampling.

use zion_providers::{ProcessRegistry, ProcessWorkloads, ReplicaState};

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replica_is_restarted_counted_and_healthy_again() {
    let fx = Fixture::new();
    let k = key("6.0.0");
    let marker = fx.path("crashed-once");
    let spec = server(&[("CRASH_ONCE_FILE", marker.to_str().unwrap())]);
    fx.workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    let first_pid = fx.workloads.status(&k).unwrap().replicas[0].pid.unwrap();

    let st = eventually("restarted and ready", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.replicas[0].restarts == 1 && s.ready == 1)
    })
    .await;
    assert!(marker.exists(), "the first run did crash");
    let r = &st.replicas[0];
    let new_pid = r.pid.unwrap();
    assert_ne!(new_pid, first_pid);
    assert!(!alive(first_pid));
    assert!(alive(new_pid));
    assert_eq!(r.state, ReplicaState::Running);
    assert!(r.healthy);
    assert_eq!(st.consecutive_probe_failures, 0);
    assert_eq!(st.healthy_endpoints[0].port(), r.port);
    let (code, _) = get(r.port, "/healthz").await.unwrap();
    assert_eq!(code, 200);
    let records = fx.registry.list();
    assert_eq!(
        records.iter().map(|r| r.pid).collect::<Vec<_>>(),
        vec![new_pid],
        "the dead process is forgotten"
    );
    assert_eq!(records[0].port, r.port);
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_keeps_crashing_backs_off_and_reports_why() {
    let fx = Fixture::new();
    let k = key("6.1.0");
    let spec = process(&["sh", "-c", "exit 7"], &[]);
    fx.workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    let st = eventually("two restarts", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.replicas[0].restarts >= 2)
    })
    .await;
    assert_eq!(st.ready, 0);
    assert!(!st.ever_ready);
    let err = eventually("the exit status reported", WAIT, || {
        fx.workloads.status(&k)?.replicas[0]
            .last_error
            .clone()
            .filter(|e| e.contains("exit status: 7"))
    })
    .await;
    assert!(err.contains("exited"), "{err}");
    let st = eventually("a failing count while crashing", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.consecutive_probe_failures >= 3)
    })
    .await;
    // 200 ms doubling: three restarts need at least 1.4 s, so a restart
    // storm would show far more than this.
    assert!(
        st.replicas[0].restarts <= 8,
        "backoff bounds restarts: {}",
        st.replicas[0].restarts
    );
    fx.workloads.stop_all().await;
    assert!(fx.registry.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_at_start_reports_its_last_output_and_its_exits() {
    let fx = Fixture::new();
    let k = key("6.2.0");
    // Both streams, more lines than are kept, a blank line, and the exit
    // right after the last line: the report must wait for the output.
    let script = "for i in $(seq 1 30); do echo \"out $i\"; done; \
                  echo; echo 'fatal: cannot open /etc/app.conf' >&2; exit 3";
    let spec = process(&["sh", "-c", script], &[]);
    fx.workloads
        .ensure(&k, &spec, &http_health(), 2)
        .await
        .unwrap();
    // While it backs off, its latest process is dead and its output read.
    let (st, r) = eventually("a replica backing off after three exits", WAIT, || {
        let st = fx.workloads.status(&k)?;
        let r = st
            .replicas
            .iter()
            .find(|r| r.state == ReplicaState::Backoff && r.exits_before_ready >= 3)?
            .clone();
        Some((st, r))
    })
    .await;
    assert!(!st.ever_ready);
    assert!(st.exits_before_ready >= 3);
    assert!(
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("exit status: 3")),
        "{r:?}"
    );
    // Each exit is reported with the whole of what that process wrote.
    assert_eq!(
        r.output.len(),
        zion_providers::process::OUTPUT_LINES,
        "{r:?}"
    );
    // stdout and stderr go to one file, in the order they were written.
    let tail = &r.output[r.output.len() - 2..];
    assert_eq!(
        tail,
        ["out 30", "fatal: cannot open /etc/app.conf"],
        "{r:?}"
    );
    assert_eq!(r.output[0], "out 12");
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_after_being_healthy_are_not_exits_before_ready() {
    let fx = Fixture::new();
    let k = key("6.3.0");
    fx.workloads
        .ensure(&k, &server(&[]), &http_health(), 1)
        .await
        .unwrap();
    let st = ready(&fx.workloads, &k, 1).await;
    let first = st.replicas[0].pid.unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let st = eventually("restarted and ready again", WAIT, || {
        fx.workloads
            .status(&k)
            .filter(|s| s.replicas[0].restarts == 1 && s.ready == 1)
    })
    .await;
    assert_eq!(st.exits_before_ready, 0, "{st:?}");
    // What the new process says, once it says anything.
    let port = st.replicas[0].port;
    let output = eventually("the new process's output", WAIT, || {
        fx.workloads
            .status(&k)
            .map(|s| s.replicas[0].output.clone())
            .filter(|o| !o.is_empty())
    })
    .await;
    assert_eq!(output, [format!("listening on {port}")]);
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_and_memory_are_sampled_from_proc() {
    let fx = Fixture::new();
    let (busy, idle) = (key("busy"), key("idle"));
    fx.workloads
        .ensure(&busy, &server(&[("BURN", "1")]), &http_health(), 1)
        .await
        .unwrap();
    fx.workloads
        .ensure(&idle, &server(&[]), &http_health(), 2)
        .await
        .unwrap();

    let st = eventually("cpu sampled for the busy version", WAIT, || {
        fx.workloads
            .status(&busy)
            .filter(|s| s.cpu_percent.is_some_and(|c| c > 5.0))
    })
    .await;
    let mem = st.memory_mb.expect("memory sampled");
    assert!(mem > 1.0 && mem < 4096.0, "{mem} MiB");

    let idle_st = eventually("both idle replicas measured", WAIT, || {
        fx.workloads
            .status(&idle)
            .filter(|s| s.ready == 2 && s.memory_mb.is_some() && s.cpu_percent.is_some())
    })
    .await;
    let one = eventually("single-replica memory", WAIT, || {
        fx.workloads.status(&busy).and_then(|s| s.memory_mb)
    })
    .await;
    // Two python servers are summed: clearly more than one alone would be.
    assert!(
        idle_st.memory_mb.unwrap() > one * 1.2,
        "{:?} vs {one}",
        idle_st.memory_mb
    );
    fx.workloads.stop_all().await;
}

/// The files of the replica's processes in `dir`, with their sizes.
fn files_in(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let len = e.metadata().map_or(0, |m| m.len());
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_goes_to_one_file_per_process_kept_after_a_crash_until_replaced() {
    let fx = Fixture::new();
    let dir = fx.path("output");
    let workloads = ProcessWorkloads::new(fx.dir.path().to_path_buf(), fx.registry.clone())
        .with_output_dir(dir.clone());
    let k = key("6.5.0");
    let spec = process(&["sh", "-c", "echo \"attempt $$\"; exit 3"], &[]);
    workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    // After four exits the next attempt is 1.6 s away: time to look.
    let r = eventually("a replica backing off after four exits", WAIT, || {
        let r = workloads.status(&k)?.replicas[0].clone();
        (r.state == ReplicaState::Backoff && r.exits_before_ready >= 4).then_some(r)
    })
    .await;
    // The dead process's file stays (its last words), the earlier ones do not.
    let files = files_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(dir.join(&files[0].0)).unwrap();
    let pid = text.trim().strip_prefix("attempt ").expect("its output");
    assert!(
        files[0].0.starts_with(&format!("replica-{pid}-")),
        "{files:?}"
    );
    assert_eq!(r.output, [format!("attempt {pid}")], "{r:?}");
    workloads.stop(&k).await;
    assert_eq!(files_in(&dir), [], "a stopped replica's files are deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_replica_cannot_grow_its_file_past_the_bound() {
    let fx = Fixture::new();
    let dir = fx.path("output");
    let workloads = ProcessWorkloads::new(fx.dir.path().to_path_buf(), fx.registry.clone())
        .with_output_dir(dir.clone());
    let k = key("6.6.0");
    // Three times the bound in lines of 100 bytes, then a last line, then quiet.
    let script = "i=0; line=$(head -c 99 /dev/zero | tr '\\0' x); \
                  while [ $i -lt 3 ]; do \
                    n=0; while [ $n -lt 42000 ]; do echo $line; n=$((n+1)); done; i=$((i+1)); \
                  done; echo 'last words'; exec sleep 60";
    let spec = process(&["sh", "-c", script], &[]);
    workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    let r = eventually("the replica's last line", Duration::from_secs(120), || {
        let r = workloads.status(&k)?.replicas[0].clone();
        (r.output.last().map(String::as_str) == Some("last words")).then_some(r)
    })
    .await;
    assert_eq!(r.output.len(), zion_providers::process::OUTPUT_LINES);
    assert!(r.output[0].starts_with("xxxx"), "{r:?}");
    // The last check may have come before the last line: wait for the next.
    let files = eventually("the file within its bound", WAIT, || {
        let files = files_in(&dir);
        (files.len() == 1 && files[0].1 <= zion_providers::process::OUTPUT_FILE_BYTES)
            .then_some(files)
    })
    .await;
    let text = std::fs::read_to_string(dir.join(&files[0].0)).unwrap();
    assert!(text.ends_with("last words\n"));
    assert!(text.lines().all(|l| l.len() == 99 || l == "last words"));
    workloads.stop(&k).await;
    assert_eq!(files_in(&dir), []);
}
