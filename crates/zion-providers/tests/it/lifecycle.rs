//! Starting, scaling and stopping versions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use zion_core::spec::Probe;
use zion_providers::{ProcessRegistry, ReplicaState, WorkloadError};

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_start_on_distinct_ports_with_substituted_arguments_and_environment() {
    let fx = Fixture::new();
    let k = key("1.2.3");
    let spec = server(&[("EXTRA", "from-spec")]);
    fx.workloads
        .ensure(&k, &spec, &http_health(), 3)
        .await
        .expect("ensure");

    let st = ready(&fx.workloads, &k, 3).await;
    assert_eq!(st.desired, 3);
    assert!(st.ever_ready);
    assert_eq!(st.consecutive_probe_failures, 0);
    let ports: Vec<u16> = st.replicas.iter().map(|r| r.port).collect();
    assert_eq!(
        ports.iter().collect::<BTreeSet<_>>().len(),
        3,
        "distinct ports: {ports:?}"
    );
    let endpoints: Vec<u16> = st.healthy_endpoints.iter().map(|a| a.port()).collect();
    assert_eq!(endpoints, ports, "healthy endpoints in replica order");
    assert!(st.healthy_endpoints.iter().all(|a| a.ip().is_loopback()));
    assert_eq!(
        st.replicas.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(
        st.replicas
            .iter()
            .all(|r| r.state == ReplicaState::Running && r.healthy)
    );
    assert_eq!(fx.workloads.running(), vec![k.clone()]);

    // Every replica is recorded with the start ticks /proc reports for it.
    let mut records = fx.registry.list();
    records.sort_by_key(|r| r.port);
    assert_eq!(records.len(), 3);
    for r in &st.replicas {
        let pid = r.pid.expect("running replica has a pid");
        let rec = records.iter().find(|x| x.pid == pid).expect("recorded");
        assert_eq!(rec.port, r.port);
        assert_eq!(
            (
                rec.service.as_str(),
                rec.environment.as_str(),
                rec.version.as_str()
            ),
            ("web", "staging", "1.2.3")
        );
        assert_eq!(Some(rec.start_ticks), stat(pid).map(|s| s.2));
        assert_eq!(
            stat(pid).map(|s| s.1),
            Some(pid),
            "leader of its own process group"
        );
    }

    let app = std::fs::canonicalize(fx.path("app")).unwrap();
    for r in &st.replicas {
        let (code, body) = get(r.port, "/info").await.expect("GET /info");
        assert_eq!(code, 200);
        let info: serde_json::Value = serde_json::from_str(&body).expect("json");
        let port = r.port.to_string();
        assert_eq!(
            info["argv"],
            serde_json::json!(["--port", port, "--version", "1.2.3"])
        );
        assert_eq!(info["port"], port.as_str());
        assert_eq!(info["version"], "1.2.3");
        assert_eq!(info["extra"], "from-spec");
        assert_eq!(info["pid"], r.pid.unwrap());
        assert_eq!(
            std::fs::canonicalize(info["cwd"].as_str().unwrap()).unwrap(),
            app
        );
    }
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_is_idempotent_and_scales_up_and_down() {
    let fx = Fixture::new();
    let k = key("2.0.0");
    let (spec, health) = (server(&[]), http_health());
    fx.workloads.ensure(&k, &spec, &health, 2).await.unwrap();
    let first = ready(&fx.workloads, &k, 2).await;
    let pids: Vec<u32> = first.replicas.iter().map(|r| r.pid.unwrap()).collect();

    fx.workloads.ensure(&k, &spec, &health, 2).await.unwrap();
    let again = fx.workloads.status(&k).unwrap();
    assert_eq!(
        again
            .replicas
            .iter()
            .map(|r| r.pid.unwrap())
            .collect::<Vec<_>>(),
        pids
    );
    assert_eq!(fx.registry.list().len(), 2, "no extra processes");

    fx.workloads.ensure(&k, &spec, &health, 3).await.unwrap();
    let up = ready(&fx.workloads, &k, 3).await;
    assert_eq!(up.desired, 3);
    assert_eq!(
        up.replicas[..2]
            .iter()
            .map(|r| r.pid.unwrap())
            .collect::<Vec<_>>(),
        pids
    );
    assert_eq!(fx.registry.list().len(), 3);
    let third = up.replicas[2].pid.unwrap();

    fx.workloads.ensure(&k, &spec, &health, 1).await.unwrap();
    let down = fx.workloads.status(&k).unwrap();
    assert_eq!(down.desired, 1);
    assert_eq!(down.replicas.len(), 1);
    assert_eq!(
        down.replicas[0].pid,
        Some(pids[0]),
        "the lowest replica is kept"
    );
    assert!(
        !alive(pids[1]) && !alive(third),
        "scaled-down replicas are gone"
    );
    assert!(alive(pids[0]));
    let records = fx.registry.list();
    assert_eq!(
        records.iter().map(|r| r.pid).collect::<Vec<_>>(),
        vec![pids[0]]
    );

    fx.workloads.ensure(&k, &spec, &health, 0).await.unwrap();
    assert!(fx.workloads.status(&k).is_none());
    assert!(!alive(pids[0]));
    assert!(fx.registry.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_sigterm_and_waits_for_a_clean_exit() {
    let fx = Fixture::new();
    let workloads = fx.workloads.clone().with_grace(Duration::from_secs(20));
    let k = key("3.0.0");
    let term_file = fx.path("terminated");
    let spec = server(&[("TERM_FILE", term_file.to_str().unwrap())]);
    workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    let st = ready(&workloads, &k, 1).await;
    let (pid, port) = (st.replicas[0].pid.unwrap(), st.replicas[0].port);

    let t = Instant::now();
    workloads.stop(&k).await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "SIGTERM honoured well before the grace: {:?}",
        t.elapsed()
    );
    assert_eq!(std::fs::read_to_string(&term_file).unwrap(), "terminated");
    assert!(!alive(pid));
    assert!(workloads.status(&k).is_none());
    assert!(workloads.running().is_empty());
    assert!(fx.registry.list().is_empty());
    assert!(port_is_free(port));
    // Idempotent.
    workloads.stop(&k).await;
    assert!(workloads.status(&k).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_whole_group_when_sigterm_is_ignored() {
    let fx = Fixture::new();
    let grace = Duration::from_millis(1500);
    let workloads = fx.workloads.clone().with_grace(grace);
    let k = key("4.0.0");
    // The shell leader dies on SIGTERM; the server it started ignores it and
    // stays in the group, holding the port.
    let spec = process(
        &["sh", "-c", "python3 server.py & wait"],
        &[("IGNORE_TERM", "1")],
    );
    workloads
        .ensure(&k, &spec, &http_health(), 1)
        .await
        .unwrap();
    let st = ready(&workloads, &k, 1).await;
    let (leader, port) = (st.replicas[0].pid.unwrap(), st.replicas[0].port);
    let members = group(leader);
    assert!(
        members.len() >= 2,
        "shell and server in one group: {members:?}"
    );

    let t = Instant::now();
    workloads.stop(&k).await;
    let took = t.elapsed();
    assert!(
        took >= grace,
        "waited the grace period before SIGKILL: {took:?}"
    );
    assert!(took < grace + Duration::from_secs(15), "{took:?}");
    assert!(members.iter().all(|&p| !alive(p)), "every member is gone");
    assert!(port_is_free(port));
    assert!(fx.registry.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_all_stops_every_version() {
    let fx = Fixture::new();
    let spec = process(&["sh", "-c", "exec sleep 60"], &[]);
    let health = health(Probe::Tcp);
    let (a, b) = (key("a"), key("b"));
    fx.workloads.ensure(&a, &spec, &health, 2).await.unwrap();
    fx.workloads.ensure(&b, &spec, &health, 1).await.unwrap();
    assert_eq!(fx.workloads.running(), vec![a.clone(), b.clone()]);
    let pids: Vec<u32> = [&a, &b]
        .iter()
        .flat_map(|k| fx.workloads.status(k).unwrap().replicas)
        .map(|r| r.pid.unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| alive(p)));

    fx.workloads.stop_all().await;
    assert!(fx.workloads.running().is_empty());
    assert!(pids.iter().all(|&p| !alive(p)));
    assert!(fx.registry.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_workdir_is_used_as_is() {
    let fx = Fixture::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = fx.path("pwd.txt");
    let mut spec = process(
        &["sh", "-c", "pwd > \"$OUT\"; exec sleep 60"],
        &[("OUT", out.to_str().unwrap())],
    );
    spec.workdir = Some(elsewhere.path().to_str().unwrap().to_string());
    fx.workloads
        .ensure(&key("abs"), &spec, &health(Probe::Tcp), 1)
        .await
        .unwrap();
    let pwd = eventually("pwd written", WAIT, || {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .await;
    assert_eq!(
        std::fs::canonicalize(pwd.trim()).unwrap(),
        std::fs::canonicalize(elsewhere.path()).unwrap()
    );
    fx.workloads.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_errors_say_what_is_wrong_and_leave_nothing_behind() {
    let fx = Fixture::new();
    let k = key("bad");
    let health = http_health();

    let missing = process(&["zion-no-such-program-xyz", "{port}"], &[]);
    let err = fx
        .workloads
        .ensure(&k, &missing, &health, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkloadError::Spawn { ref program, .. } if program == "zion-no-such-program-xyz"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("zion-no-such-program-xyz"),
        "{err}"
    );

    let mut no_dir = server(&[]);
    no_dir.workdir = Some("does-not-exist".into());
    let err = fx
        .workloads
        .ensure(&k, &no_dir, &health, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkloadError::Workdir { ref path, .. } if path.ends_with("does-not-exist")),
        "{err:?}"
    );
    assert!(err.to_string().contains("workdir"), "{err}");

    let empty = process(&[], &[]);
    let err = fx
        .workloads
        .ensure(&k, &empty, &health, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, WorkloadError::EmptyCommand { .. }), "{err:?}");

    assert!(fx.workloads.status(&k).is_none());
    assert!(fx.workloads.running().is_empty());
    assert!(fx.registry.list().is_empty());
}
