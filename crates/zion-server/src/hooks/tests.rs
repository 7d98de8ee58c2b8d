//! Running hooks for real: scripts in a temporary folder, a receiver on
//! 127.0.0.1.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zion_core::hooks::{HookCall, HookPoint};
use zion_core::spec::{Hook, HookAction, HttpHook, SecretSource};

use super::*;

fn facts() -> Facts {
    Facts {
        deployment_id: 42,
        service: "web".into(),
        environment: "staging".into(),
        version: "2.0".into(),
        stable_version: Some("1.0".into()),
        phase: "progressing".into(),
        step: Some(2),
        hook: "pre_step".into(),
        new_addresses: vec![
            "127.0.0.1:4001".parse().unwrap(),
            "127.0.0.1:4002".parse().unwrap(),
        ],
    }
}

fn exec(script: &str, timeout: Duration, retries: u32) -> Hook {
    Hook {
        action: HookAction::Exec(vec!["sh".into(), "-c".into(), script.into()]),
        timeout,
        retries,
    }
}

#[tokio::test]
async fn exec_tells_the_facts_and_keeps_the_output_tail() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo \"$ZION_DEPLOYMENT_ID $ZION_SERVICE $ZION_ENVIRONMENT $ZION_VERSION $ZION_STABLE_VERSION $ZION_PHASE $ZION_STEP $ZION_HOOK $ZION_NEW_ADDRESSES $(pwd)\"; \
                  head -c 10000 /dev/zero | tr '\\0' x; echo; echo last line >&2";
    let r = run_hook(
        &exec(script, Duration::from_secs(5), 0),
        &facts(),
        dir.path(),
    )
    .await;
    assert!(r.passed, "{r:?}");
    assert_eq!((r.detail.as_str(), r.attempts), ("exited with 0", 1));
    // The facts line is beyond the last 4 KiB: only the end is kept.
    assert!(r.output.len() <= OUTPUT_TAIL + "…".len());
    assert!(
        r.output.ends_with("xxx\nlast line\n"),
        "{:?}",
        &r.output[r.output.len() - 40..]
    );
    let script = "echo \"$ZION_DEPLOYMENT_ID $ZION_SERVICE $ZION_ENVIRONMENT $ZION_VERSION $ZION_STABLE_VERSION $ZION_PHASE $ZION_STEP $ZION_HOOK $ZION_NEW_ADDRESSES $(pwd)\"";
    let r = run_hook(
        &exec(script, Duration::from_secs(5), 0),
        &facts(),
        dir.path(),
    )
    .await;
    let pwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        r.output,
        format!(
            "42 web staging 2.0 1.0 progressing 2 pre_step 127.0.0.1:4001,127.0.0.1:4002 {}\n",
            pwd.display()
        )
    );
}

#[tokio::test]
async fn a_relative_program_is_the_spec_folders() {
    let dir = tempfile::tempdir().unwrap();
    // A link, not a script written here: a file just written may still be
    // open in a process another test forks (ETXTBSY).
    std::os::unix::fs::symlink("/bin/echo", dir.path().join("say")).unwrap();
    let hook = Hook {
        action: HookAction::Exec(vec!["./say".into(), "smoke for 2.0".into()]),
        timeout: Duration::from_secs(5),
        retries: 0,
    };
    let r = run_hook(&hook, &facts(), dir.path()).await;
    assert_eq!(
        (r.passed, r.output.as_str()),
        (true, "smoke for 2.0\n"),
        "{r:?}"
    );
    let missing = Hook {
        action: HookAction::Exec(vec!["./missing.sh".into()]),
        ..hook
    };
    let r = run_hook(&missing, &facts(), dir.path()).await;
    assert!(!r.passed);
    assert!(
        r.detail.starts_with("cannot run ") && r.detail.contains("missing.sh"),
        "{}",
        r.detail
    );
}

#[tokio::test]
async fn exec_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = run_hook(
        &exec(
            "sleep 30 & echo $! > child; wait",
            Duration::from_millis(500),
            0,
        ),
        &facts(),
        dir.path(),
    )
    .await;
    assert!(!r.passed);
    assert_eq!(r.detail, "did not finish within 500ms; stopped");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let child: u32 = std::fs::read_to_string(dir.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed with its group, not left running (a zombie awaits its reaper).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the script's child still runs: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failed_attempt_is_tried_again_after_a_backoff() {
    let dir = tempfile::tempdir().unwrap();
    // Fails the first time, passes the second.
    let flaky = "if [ -f tried ]; then echo second; else touch tried; echo first >&2; exit 7; fi";
    let start = Instant::now();
    let r = run_hook(
        &exec(flaky, Duration::from_secs(5), 2),
        &facts(),
        dir.path(),
    )
    .await;
    assert!(r.passed, "{r:?}");
    assert_eq!((r.attempts, r.output.as_str()), (2, "second\n"));
    assert!(start.elapsed() >= Duration::from_secs(1), "backoff of 1 s");
    // Without retries, its first failure is the result.
    let r = run_hook(
        &exec("echo no >&2; exit 7", Duration::from_secs(5), 0),
        &facts(),
        dir.path(),
    )
    .await;
    assert_eq!(
        (r.passed, r.detail.as_str(), r.output.as_str()),
        (false, "exited with 7", "no\n")
    );
}

/// One request's head and body, answered with `status`.
async fn receive_one(listener: &tokio::net::TcpListener, status: u16) -> (String, String) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                );
                s.write_all(answer.as_bytes()).await.unwrap();
                return (head.to_string(), body.to_string());
            }
        }
        if n == 0 {
            panic!("closed early: {text}");
        }
    }
}

#[tokio::test]
async fn http_hooks_send_the_facts_signed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "k3y\n").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hook = Hook {
        action: HookAction::Http(HttpHook {
            url: format!("http://{addr}/hook"),
            method: "POST".into(),
            secret: Some(SecretSource::File("key".into())),
        }),
        timeout: Duration::from_secs(5),
        retries: 0,
    };
    let facts = facts();
    let base = dir.path().to_path_buf();
    let sent = tokio::spawn(async move { run_hook(&hook, &facts, &base).await });
    let (head, body) = receive_one(&listener, 503).await;
    let r = sent.await.unwrap();
    assert_eq!(
        (r.passed, r.detail.as_str(), r.output.as_str()),
        (false, "answered 503", "no")
    );
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_else(|| panic!("no {name} in {head}"))
    };
    let ts = header("x-zion-timestamp");
    assert_eq!(
        header("x-zion-signature"),
        format!("sha256={}", http::sign(b"k3y", &ts, &body))
    );
    // The key is `k3y`, trimmed: a signature under another key differs.
    assert_ne!(
        http::sign(b"k3y\n", &ts, &body),
        http::sign(b"k3y", &ts, &body)
    );
    let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({
            "deployment_id": 42, "service": "web", "environment": "staging",
            "version": "2.0", "stable_version": "1.0", "phase": "progressing",
            "step": 2, "hook": "pre_step",
            "new_addresses": ["127.0.0.1:4001", "127.0.0.1:4002"],
        })
    );
}

#[tokio::test]
async fn a_call_runs_once_and_its_finished_run_wakes_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let runner = HookRunner::default();
    let mut d = zion_store::contract::fixtures::deployment("web", "staging", "2.0", 0);
    d.id = 9;
    let call = HookCall::new(HookPoint::PreRollout, None);
    let hooks = vec![exec("echo run >> runs", Duration::from_secs(5), 0)];
    let poll = || runner.poll(&d, call, hooks.clone(), facts(), dir.path().to_path_buf());
    assert!(poll().is_none(), "started");
    tokio::time::timeout(Duration::from_secs(5), runner.finished())
        .await
        .unwrap();
    let run = poll().expect("finished");
    assert!(run.passed());
    assert_eq!(
        runner.take_finished().into_iter().collect::<Vec<_>>(),
        vec![TargetId::new("web", "staging")]
    );
    // Asked again before it is forgotten: the same run, not a second one.
    assert_eq!(poll(), Some(run));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runs")).unwrap(),
        "run\n"
    );
    runner.forget(d.id, call);
    assert!(poll().is_none(), "forgotten: a new run");
}
