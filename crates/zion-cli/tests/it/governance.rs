//! The governance commands as a user runs them against a real `zion up`:
//! production waits for two distinct approvers, the lifecycle's `requires`,
//! a rollback opening an incident that blocks the next feature until it is
//! resolved, and break glass, with the CLI's exit codes and what it prints.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use crate::support::*;

fn spec(api: SocketAddr, staging: SocketAddr, production: SocketAddr) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
  - name: production
    requires: [staging]
    approvals: {{ required: 2, roles: [approver, admin], prevent_self_approval: true, timeout: 1h }}
    checks: [no_open_incident]
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {staging} }}
      production: {{ listen: {production} }}
    canary:
      # 50% held until promoted, then 100%: no traffic needed to move on.
      steps: [{{ weight: 50 }}, {{ weight: 100 }}]
"#
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn exits(out: &Output, code: i32, needle: &str) -> String {
    let t = text(out);
    assert_eq!(out.status.code(), Some(code), "{t}");
    assert!(t.contains(needle), "expected `{needle}` in: {t}");
    t
}

/// The id printed by `zion deploy … --output json`.
fn deployed(p: &Project, token: &str, args: &[&str]) -> i64 {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = p.zion_as(token, &all);
    assert!(out.status.success(), "{}\n{}", text(&out), p.log());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    d["id"].as_i64().unwrap()
}

#[test]
fn production_approvals_incidents_and_break_glass_through_the_cli() {
    let production = free_addr();
    let mut p = Project::with_spec(|api, staging| spec(api, staging, production));
    p.start();
    let admin = std::fs::read_to_string(p.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let alice = p.token("alice", "approver");
    let bob = p.token("bob", "approver");
    let dora = p.token("dora", "deployer");
    let vic = p.token("vic", "viewer");

    // The lifecycle: production only takes what succeeded in staging.
    let out = p.zion_as(&dora, &["deploy", "web", "1.0", "--env", "production"]);
    // Refused by policy (409): exit 3.
    exits(&out, 3, "has not succeeded in staging");
    assert_eq!(p.json(&["history"]).as_array().unwrap().len(), 0);
    let out = p.zion_as(
        &dora,
        &["deploy", "web", "1.0", "--env", "staging", "--wait"],
    );
    exits(&out, 0, "succeeded");

    // Production waits for two distinct approvers.
    let id = deployed(&p, &dora, &["deploy", "web", "1.0", "--env", "production"]);
    let ids = id.to_string();
    p.wait_for(id, Duration::from_secs(10), "awaiting approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    exits(&p.zion_as(&vic, &["approve", &ids]), 3, "may not approve");
    exits(&p.zion_as(&dora, &["approve", &ids]), 3, "may not approve");
    let t = exits(
        &p.zion_as(&alice, &["approvals"]),
        0,
        "waiting for your approval",
    );
    assert!(t.contains(&format!("#{id} web/production")), "{t}");
    let t = exits(
        &p.zion_as(&alice, &["approve", &ids, "--comment", "looks good"]),
        0,
        "approvals 1/2",
    );
    assert!(t.contains("still needed: 1 more approval"), "{t}");
    exits(&p.zion_as(&alice, &["approve", &ids]), 3, "already decided");
    let t = exits(
        &p.zion_as(&alice, &["approvals"]),
        0,
        "nothing waits for your approval",
    );
    assert!(t.contains("you already decided"), "{t}");
    let t = exits(&p.zion(&["get", &ids]), 0, "approvals:  1/2");
    assert!(
        t.contains("approved by alice (approver)") && t.contains(": looks good"),
        "{t}"
    );
    assert!(
        t.contains("still needed: 1 more approval from roles approver, admin, not alice, dora"),
        "{t}"
    );
    let t = exits(&p.zion(&["status"]), 0, "approvals 1/2");
    assert!(
        t.contains(&format!(
            "#{id} web/production: approved by alice; still needed: 1 more approval"
        )) && t.contains("expires at 20"),
        "{t}"
    );
    // One deadline, printed one way by every view and by the event that
    // set it.
    let deadline = t
        .split("expires at ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap()
        .to_string();
    assert!(deadline.ends_with(" UTC"), "{t}");
    let shown = format!("expires at {deadline}");
    let get = exits(
        &p.zion(&["get", &ids]),
        0,
        &format!("approvals:  1/2, {shown}"),
    );
    assert!(
        get.contains(&format!("from roles approver, admin (not dora); {shown}")),
        "{get}"
    );
    exits(&p.zion_as(&bob, &["approvals"]), 0, &shown);
    exits(
        &p.zion_as(&bob, &["approve", &ids, "--comment", "ok"]),
        0,
        "approvals 2/2",
    );
    let d = p.wait_for(id, Duration::from_secs(20), "succeeded", |d| {
        d["phase"] == "succeeded"
    });
    assert_eq!(d["requested_by"], "dora");
    let t = exits(
        &p.zion(&["get", &ids]),
        0,
        "approved by alice, bob; starting 1.0",
    );
    assert!(t.contains("pass no_open_incident"), "{t}");

    // A rejection ends a deployment.
    let out = p.zion_as(&dora, &["deploy", "web", "2.0", "--env", "staging"]);
    exits(&out, 0, "created");
    let staged = p.json(&["history", "--env", "staging"])[0]["id"]
        .as_i64()
        .unwrap();
    p.wait_for(
        staged,
        Duration::from_secs(20),
        "staging canary at 50%",
        |d| d["canary_weight"] == 50,
    );
    exits(&p.zion_as(&dora, &["promote", &staged.to_string()]), 0, "");
    p.wait_for(
        staged,
        Duration::from_secs(10),
        "2.0 stable in staging",
        |d| d["phase"] == "succeeded",
    );
    let rejected = deployed(&p, &dora, &["deploy", "web", "2.0", "--env", "production"]);
    exits(
        &p.zion_as(
            &bob,
            &[
                "reject",
                &rejected.to_string(),
                "--comment",
                "not on a Friday",
            ],
        ),
        0,
        "rejected",
    );
    let d = p.deployment(rejected);
    assert_eq!(d["phase"], "rejected");
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("rejected by bob: not on a Friday"),
        "{d}"
    );

    // A production rollback opens an incident that blocks the next feature.
    let id = deployed(&p, &dora, &["deploy", "web", "2.0", "--env", "production"]);
    let ids = id.to_string();
    p.wait_for(id, Duration::from_secs(10), "awaiting approval", |d| {
        d["phase"] == "awaiting_approval"
    });
    exits(&p.zion_as(&alice, &["approve", &ids]), 0, "");
    exits(&p.zion_as(&bob, &["approve", &ids]), 0, "");
    p.wait_for(
        id,
        Duration::from_secs(20),
        "production canary at 50%",
        |d| d["canary_weight"] == 50,
    );
    exits(&p.zion_as(&dora, &["abort", &ids]), 0, "");
    p.wait_for(id, Duration::from_secs(20), "rolled back", |d| {
        d["phase"] == "rolled_back"
    });
    let t = exits(&p.zion(&["incident", "list"]), 0, "OPEN");
    assert!(
        t.contains(&format!("deployment {id} of 2.0 rolled back")),
        "{t}"
    );
    let incidents = p.json(&["incident", "list"]);
    let incident = incidents[0]["id"].as_i64().unwrap().to_string();
    let before = p.json(&["history"]).as_array().unwrap().len();
    let out = p.zion_as(&dora, &["deploy", "web", "2.0", "--env", "production"]);
    exits(&out, 3, &format!("incident {incident}"));
    assert_eq!(
        p.json(&["history"]).as_array().unwrap().len(),
        before,
        "a refusal created a deployment"
    );
    exits(&p.zion_as(&vic, &["incident", "resolve", &incident]), 3, "");
    exits(
        &p.zion_as(
            &dora,
            &[
                "incident",
                "resolve",
                &incident,
                "--comment",
                "db failover done",
            ],
        ),
        0,
        "resolved by dora: db failover done",
    );
    exits(&p.zion(&["incident", "list"]), 0, "no open incidents");
    exits(
        &p.zion_as(&dora, &["incident", "resolve", &incident]),
        3,
        "already resolved",
    );

    // Break glass: admins only, with a reason, and marked everywhere.
    let out = p.zion_as(
        &dora,
        &[
            "deploy",
            "web",
            "2.0",
            "--env",
            "production",
            "--break-glass",
            "hotfix",
        ],
    );
    exits(&out, 3, "only an admin may");
    let id = deployed(
        &p,
        &admin,
        &[
            "deploy",
            "web",
            "2.0",
            "--env",
            "production",
            "--break-glass",
            "checkout down (INC-7)",
        ],
    );
    let d = p.wait_for(
        id,
        Duration::from_secs(20),
        "break glass to progress",
        |d| d["canary_weight"] == 50,
    );
    assert_eq!(d["break_glass"]["by"], "admin");
    assert_eq!(d["break_glass"]["reason"], "checkout down (INC-7)");
    assert!(d["gate"]["decisions"].as_array().unwrap().is_empty(), "{d}");
    let t = exits(&p.zion(&["history"]), 0, "[BREAK GLASS]");
    assert!(
        t.lines()
            .any(|l| l.starts_with(&id.to_string()) && l.contains("BREAK GLASS")),
        "{t}"
    );
    exits(&p.zion(&["status"]), 0, "BREAK GLASS");
    exits(
        &p.zion(&["get", &id.to_string()]),
        0,
        "BREAK GLASS: by admin: checkout down (INC-7)",
    );
}
