//! Quality gates as a user meets them: `zion deploy --junit --coverage
//! --sarif` reads real report files, `--git` reads the commit of a real
//! repository, a bad file stops the CLI before anything is sent, an
//! environment's gates refuse short evidence naming the measured value, and
//! `zion get` shows what a deployment carried.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn spec(api: SocketAddr, production: SocketAddr) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: production
    gates:
      tests_passed: 100%
      coverage: 80%
      findings: {{ error: 0 }}
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      production: {{ listen: {production} }}
    canary:
      steps: [{{ weight: 50 }}, {{ weight: 100 }}]
"#
    )
}

/// Three test cases, one skipped: 2 of 2 executed pass.
const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="web" tests="3" failures="0" errors="0" skipped="1">
    <testcase classname="web::api" name="serves_health"/>
    <testcase classname="web::api" name="serves_root"/>
    <testcase classname="web::api" name="slow_soak"><skipped/></testcase>
  </testsuite>
</testsuites>
"#;

/// LCOV of two files: 4 of 5 and 5 of 5 lines hit, 9 of 10 in all (90%).
const LCOV_GOOD: &str = "TN:
SF:src/main.rs
DA:1,1
DA:2,3
DA:3,0
DA:4,1
DA:5,1
LF:5
LH:4
end_of_record
SF:src/lib.rs
DA:1,1
DA:2,1
DA:3,1
DA:4,2
DA:5,1
LF:5
LH:5
end_of_record
";

/// 3 of 5 lines hit: 60%.
const LCOV_LOW: &str = "SF:src/main.rs
DA:1,1
DA:2,1
DA:3,1
DA:4,0
DA:5,0
end_of_record
";

/// One warning, one note and one pass (level `none`); no error.
const SARIF: &str = r#"{
  "version": "2.1.0",
  "runs": [{
    "tool": { "driver": { "name": "clippy" } },
    "results": [
      { "ruleId": "clippy::needless_return", "level": "warning", "message": { "text": "a" } },
      { "ruleId": "clippy::doc_markdown", "level": "note", "message": { "text": "b" } },
      { "ruleId": "clippy::pass", "kind": "pass", "message": { "text": "c" } }
    ]
  }]
}
"#;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn exits(out: &Output, code: i32, needles: &[&str]) -> String {
    let t = text(out);
    assert_eq!(out.status.code(), Some(code), "{t}");
    for n in needles {
        assert!(t.contains(n), "expected `{n}` in: {t}");
    }
    t
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs `git` in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dana")
        .env("GIT_AUTHOR_EMAIL", "dana@example.com")
        .env("GIT_COMMITTER_NAME", "Dana")
        .env("GIT_COMMITTER_EMAIL", "dana@example.com")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A repository with one commit made at a known time; returns its hash.
fn repository(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let ok = |o: Output| assert!(o.status.success(), "git: {}", text(&o));
    ok(git(dir, &["init", "-q"], &[]));
    std::fs::write(dir.join("app.txt"), "web 1.0\n").unwrap();
    ok(git(dir, &["add", "app.txt"], &[]));
    ok(git(
        dir,
        &["commit", "-q", "-m", "web 1.0"],
        &[("GIT_COMMITTER_DATE", "2026-03-01T10:15:30+01:00")],
    ));
    let head = git(dir, &["rev-parse", "HEAD"], &[]);
    assert!(head.status.success(), "{}", text(&head));
    String::from_utf8(head.stdout).unwrap().trim().to_string()
}

/// `zion get ID --output json`.
fn get(p: &Project, id: i64) -> Value {
    p.json(&["get", &id.to_string()])
}

#[test]
fn deploy_attaches_reports_and_the_commit_and_the_gates_judge_them() {
    let production = free_addr();
    let mut p = Project::with_spec(|api, _| spec(api, production));
    p.start();
    let files = p.dir.path().join("reports");
    std::fs::create_dir_all(&files).unwrap();
    let junit = write(&files, "junit.xml", JUNIT);
    let lcov = write(&files, "lcov.info", LCOV_GOOD);
    let low = write(&files, "low.info", LCOV_LOW);
    let sarif = write(&files, "clippy.sarif", SARIF);
    let broken = write(&files, "broken.xml", "<testsuite><testcase name=\"a\">");
    let missing = files.join("nowhere.sarif").to_str().unwrap().to_string();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "web", "1.0"];
        args.extend_from_slice(extra);
        p.zion(&args)
    };

    // No evidence: every gate says what to attach. Refused by policy
    // (409): exit 3.
    exits(
        &deploy(&[]),
        3,
        &[
            "tests_passed gate: no evidence attached",
            "coverage gate: no evidence attached",
            "findings.error gate: no evidence attached",
            "Nothing was deployed",
        ],
    );
    // 60% coverage is named with the required 80%; the rest is met.
    let t = exits(
        &deploy(&["--junit", &junit, "--coverage", &low, "--sarif", &sarif]),
        3,
        &[
            "quality gate failed",
            "coverage 60% is below the required 80%",
        ],
    );
    assert!(!t.contains("tests passed"), "{t}");

    // Files that cannot be used stop the CLI before it talks to any server:
    // an unreachable one would exit 3.
    let nowhere = ["--server", "http://127.0.0.1:9"];
    let mut args = vec!["--junit", broken.as_str()];
    args.extend(nowhere);
    exits(
        &deploy(&args),
        2,
        &[
            "--junit",
            "broken.xml",
            "JUnit XML report",
            "nothing was sent",
        ],
    );
    let mut args = vec!["--junit", junit.as_str(), "--sarif", missing.as_str()];
    args.extend(nowhere);
    exits(&deploy(&args), 2, &["cannot read --sarif", "nowhere.sarif"]);
    let mut args = vec!["--coverage", junit.as_str()];
    args.extend(nowhere);
    exits(&deploy(&args), 2, &["--coverage", "junit.xml", "Cobertura"]);
    exits(
        &deploy(&["--committed-at", "yesterday"]),
        2,
        &["--committed-at"],
    );
    assert_eq!(p.json(&["history"]), json!([]));

    // Evidence that meets the gates, and the commit from a real repository.
    let evidence = json!({
        "tests": { "total": 3, "passed": 2, "failed": 0, "skipped": 1, "errors": 0 },
        "coverage": { "lines_total": 10, "lines_covered": 9 },
        "findings": { "error": 0, "warning": 1, "note": 1, "none": 1 },
    });
    let reports = ["--junit", &junit, "--coverage", &lcov, "--sarif", &sarif];
    let (commit_flags, sha): (Vec<String>, String) = if git_available() {
        let outside = p.dir.path().join("not-a-repo");
        std::fs::create_dir_all(&outside).unwrap();
        // Never find a repository above the test's folder.
        let out = Command::new(ZION)
            .args(["deploy", "web", "1.0", "--git"])
            .arg(&outside)
            .arg("-f")
            .arg(p.spec_path())
            .env("GIT_CEILING_DIRECTORIES", p.dir.path())
            .env_remove("ZION_TOKEN")
            .env_remove("ZION_SERVER")
            .output()
            .unwrap();
        exits(&out, 2, &["--git", "not-a-repo", "not a git repository"]);
        let repo = p.dir.path().join("repo");
        let sha = repository(&repo);
        let flags = vec!["--git".to_string(), repo.to_str().unwrap().to_string()];
        (flags, sha)
    } else {
        eprintln!("git is not installed: --git is not exercised, --commit stands in for it");
        let sha = "0123456789abcdef0123456789abcdef01234567".to_string();
        let flags = vec![
            "--commit".to_string(),
            sha.clone(),
            "--committed-at".to_string(),
            "2026-03-01T10:15:30+01:00".to_string(),
        ];
        (flags, sha)
    };
    let mut args: Vec<&str> = reports.to_vec();
    args.extend(commit_flags.iter().map(String::as_str));
    args.extend(["--wait", "--output", "json"]);
    let out = deploy(&args);
    exits(&out, 0, &[]);
    let history = p.json(&["history"]);
    let id = history[0]["id"].as_i64().unwrap();
    let d = get(&p, id);
    assert_eq!(d["phase"], "succeeded", "{d:#}");
    assert_eq!(d["evidence"], evidence);
    assert_eq!(d["commit"], sha.as_str());
    assert_eq!(d["committed_at"], "2026-03-01T09:15:30Z");
    let shown = exits(&p.zion(&["get", &id.to_string()]), 0, &[]);
    assert!(
        shown.contains(&format!(
            "commit:     {sha} (committed 2026-03-01T09:15:30Z)"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(
            "evidence:   tests 2/2 passed (1 skipped); coverage 90% (9/10 lines); \
             findings 0 error, 1 warning, 1 note, 1 none"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("quality gates met: tests_passed, coverage, findings.error"),
        "{shown}"
    );

    // A commit given by hand, upper case, with its offset.
    let mut args: Vec<&str> = reports.to_vec();
    args.extend([
        "--commit",
        "ABCDEF0123456",
        "--committed-at",
        "2026-03-02T08:00:00-05:00",
        "--type",
        "hotfix",
        "--output",
        "json",
    ]);
    let mut all = vec!["deploy", "web", "2.0"];
    all.extend(args);
    let out = p.zion(&all);
    exits(&out, 0, &[]);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = created["id"].as_i64().unwrap();
    let d = p.wait_for(
        second,
        Duration::from_secs(10),
        "the hotfix to start",
        |d| d["phase"] != "pending",
    );
    assert_eq!(d["type"], "hotfix");
    assert_eq!(d["commit"], "abcdef0123456");
    assert_eq!(d["committed_at"], "2026-03-02T13:00:00Z");
    assert_eq!(d["evidence"], evidence);
}
