//! Three `zion up` on one PostgreSQL database (a throwaway cluster of this
//! test binary), each binding the targets on its own loopback address: a
//! canary under steady load through the listeners of the replicas that do
//! not drive it, while the one that does is killed with SIGKILL, or paused
//! with SIGSTOP past its lease and resumed. Another replica takes the
//! target over, the rollout completes once, no request fails, and the
//! audit log verifies.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use zion_store::test_cluster::TestCluster;

use crate::support::*;

// Long enough that a busy machine (the whole suite at once on two cores)
// does not make a live replica miss its renewals.
const LEASE: &str = "3s";
const LEASE_SECS: u64 = 3;

/// Replicas of `zion up` sharing one spec and one database.
pub(crate) struct Fleet {
    dir: tempfile::TempDir,
    pub(crate) apis: Vec<SocketAddr>,
    /// The port every replica binds `web/staging` on, each on its address.
    port: u16,
    ups: Vec<Option<Child>>,
    lease: &'static str,
    _machine: std::sync::RwLockReadGuard<'static, ()>,
}

impl Fleet {
    fn new(n: usize, steps: &str) -> Fleet {
        Fleet::with_lease(n, steps, LEASE)
    }

    fn with_lease(n: usize, steps: &str, lease: &'static str) -> Fleet {
        Fleet::with_spec(n, steps, lease, |yaml| yaml)
    }

    /// A fleet whose spec is the tests' own, changed by `edit`.
    fn with_spec(
        n: usize,
        steps: &str,
        lease: &'static str,
        edit: impl Fn(String) -> String,
    ) -> Fleet {
        Fleet::with_yaml(n, lease, |api, target| {
            edit(spec(api, target, steps, &[], "20s"))
        })
    }

    /// A fleet of `n` on a new database of the shared cluster, with the
    /// spec `make` writes for the first replica's API address and the
    /// targets' address (its `server:` in block style, with `data_dir:
    /// state`, to which the database's URL is added).
    pub(crate) fn with_yaml(
        n: usize,
        lease: &'static str,
        make: impl FnOnce(SocketAddr, SocketAddr) -> String,
    ) -> Fleet {
        let url = TestCluster::shared().new_database();
        let dir = tempfile::tempdir().unwrap();
        let apis: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect();
        let target = free_addr();
        let yaml = make(apis[0], target).replace(
            "  data_dir: state\n",
            &format!("  data_dir: state\n  database: {url}\n"),
        );
        std::fs::write(dir.path().join("zion.yaml"), yaml).unwrap();
        let machine = MACHINE
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut fleet = Fleet {
            dir,
            apis,
            port: target.port(),
            ups: (0..n).map(|_| None).collect(),
            lease,
            _machine: machine,
        };
        // The first makes the audit key and the admin token; the others
        // get copies, as the README says.
        fleet.start(0);
        for i in 1..n {
            let to = fleet.data_dir(i);
            std::fs::create_dir_all(&to).unwrap();
            for file in ["audit.key", "admin.token"] {
                std::fs::copy(fleet.data_dir(0).join(file), to.join(file)).unwrap();
            }
            fleet.start(i);
        }
        fleet
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        match i {
            0 => self.dir.path().join("state"),
            i => self.dir.path().join(format!("state-{}", i + 1)),
        }
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("up-{}.log", i + 1))
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    pub(crate) fn logs(&self) -> String {
        (0..self.ups.len())
            .map(|i| format!("--- replica {} ---\n{}", i + 1, self.log(i)))
            .collect()
    }

    /// Where replica `i` serves `web/staging`.
    fn target(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i as u8 + 1], self.port))
    }

    fn start(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let child = Command::new(ZION)
            .args(["up", "-f"])
            .arg(self.dir.path().join("zion.yaml"))
            .arg("--listen")
            .arg(self.apis[i].to_string())
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .arg("--targets-host")
            .arg(format!("127.0.0.{}", i + 1))
            .args(["--lease-ttl", self.lease])
            .env("ZION_LOG", "info")
            .env_remove("ZION_TEST_CLOCK_FILE")
            .env_remove("ZION_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.ups[i] = Some(child);
        let api = self.apis[i];
        eventually(Duration::from_secs(30), "the API to answer", || {
            http_get(api, "/healthz").ok().filter(|(s, _, _)| *s == 200)
        });
    }

    fn pid(&self, i: usize) -> Pid {
        Pid::from_raw(self.ups[i].as_ref().unwrap().id() as i32)
    }

    /// A CLI command through replica `i`'s API.
    pub(crate) fn zion(&self, i: usize, args: &[&str]) -> Output {
        Command::new(ZION)
            .args(args)
            .arg("-f")
            .arg(self.dir.path().join("zion.yaml"))
            .arg("--server")
            .arg(format!("http://{}", self.apis[i]))
            .env_remove("ZION_TOKEN")
            .env_remove("ZION_SERVER")
            .output()
            .unwrap()
    }

    pub(crate) fn json(&self, i: usize, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.zion(i, &all);
        assert!(out.status.success(), "{}\n{}", describe(&out), self.logs());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn replica_id(&self, i: usize) -> String {
        std::fs::read_to_string(self.data_dir(i).join("replica.id"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The replica (index) driving `web/staging`, as replica `ask` sees it.
    fn driver(&self, ask: usize) -> Option<usize> {
        let status = self.json(ask, &["status"]);
        let id = status[0]["driven_by"].as_str()?.to_owned();
        (0..self.ups.len()).find(|&i| self.replica_id(i) == id)
    }

    /// [`eventually`], with every replica's log when it times out.
    pub(crate) fn eventually<T>(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Rolls out 1.0 and returns the replica that drives `web/staging` once
    /// the driver stays the same `settle` apart (the target may be handed
    /// over once as the replicas join).
    fn first_rollout(&self, settle: Duration) -> usize {
        let first = self.zion(0, &["deploy", "web", "1.0", "--env", "staging", "--wait"]);
        assert!(
            first.status.success(),
            "{}\n{}",
            describe(&first),
            self.logs()
        );
        eventually(Duration::from_secs(30), "a settled driver", || {
            let first = self.driver(0)?;
            std::thread::sleep(settle);
            (self.driver(1)? == first).then_some(first)
        })
    }

    pub(crate) fn phase(&self, ask: usize, id: i64) -> Value {
        self.json(ask, &["get", &id.to_string()])
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in 0..self.ups.len() {
            if let Some(mut child) = self.ups[i].take() {
                let pid = Pid::from_raw(child.id() as i32);
                let _ = kill(pid, Signal::SIGCONT);
                let _ = kill(pid, Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(30);
                while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
            }
        }
    }
}

const STEPS: &str = "        - { weight: 20, pause: 4s }\n        - { weight: 50, pause: 4s }\n        - { weight: 100 }";

/// Every transition of the deployment appears once: no two events with
/// the same phases and weight, and it ends in `succeeded`.
fn assert_each_transition_once(d: &Value, logs: &str) {
    let events = d["events"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for e in events {
        let key = (
            e["from_phase"].to_string(),
            e["to_phase"].to_string(),
            e["canary_weight"].to_string(),
            e["step"].to_string(),
        );
        assert!(
            seen.insert(key.clone()),
            "transition {key:?} twice: {d}\n{logs}"
        );
    }
    let weights: Vec<u64> = events
        .iter()
        .filter_map(|e| e["canary_weight"].as_u64())
        .collect();
    for w in [20, 50] {
        assert!(weights.contains(&w), "no step at {w}%: {weights:?}\n{d}");
    }
    assert_eq!(d["phase"], "succeeded", "{d}\n{logs}");
}

/// Starts the fleet, rolls out 1.0, waits for three live replicas, finds
/// the driver of `web/staging`, puts load on the other two replicas'
/// listeners and starts the 2.0 canary; returns (fleet, driver, the two
/// others, the loads, the deployment id).
fn canary_under_load() -> (Fleet, usize, [usize; 2], Vec<Load>, i64) {
    let fleet = Fleet::new(3, STEPS);
    eventually(Duration::from_secs(20), "three live replicas", || {
        let rows = fleet.json(1, &["replicas"]);
        let live = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["live"] == true)
            .count();
        (live == 3).then_some(())
    });
    let driver = fleet.first_rollout(Duration::from_secs(LEASE_SECS));
    let others: Vec<usize> = (0..3).filter(|&i| i != driver).collect();
    let others = [others[0], others[1]];
    // Every replica serves the target: the others route as the driver
    // published (1.0 only, for now).
    for &i in &others {
        eventually(Duration::from_secs(20), "the published route", || {
            http_get(fleet.target(i), "/")
                .ok()
                .filter(|(s, v, _)| *s == 200 && v == "1.0")
        });
    }
    let loads: Vec<Load> = others
        .iter()
        .map(|&i| Load::start(fleet.target(i)))
        .collect();
    let id = fleet.json(others[0], &["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    eventually(Duration::from_secs(30), "the canary's first step", || {
        let d = fleet.phase(others[0], id);
        (d["phase"] == "progressing" && d["canary_weight"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    (fleet, driver, others, loads, id)
}

fn finish_loads(loads: Vec<Load>, logs: &str) {
    for load in loads {
        let seen = load.finish();
        for (version, (ok, errors)) in &seen {
            assert_eq!(
                *errors, 0,
                "{version}: {errors} failed requests: {seen:?}\n{logs}"
            );
            assert!(*ok > 0 || version == NO_ANSWER, "{seen:?}");
        }
        assert!(
            seen.contains_key("1.0") && seen.contains_key("2.0"),
            "{seen:?}"
        );
    }
}

#[test]
fn the_driver_killed_mid_canary_is_replaced_within_the_lease_and_the_rollout_completes_once() {
    let (mut fleet, driver, others, loads, id) = canary_under_load();
    kill(fleet.pid(driver), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let _ = fleet.ups[driver].take().unwrap().wait();
    let taken = eventually(Duration::from_secs(30), "another replica to drive", || {
        fleet.driver(others[0]).filter(|i| others.contains(i))
    });
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(LEASE_SECS + 4),
        "replica {} took over after {takeover:?}",
        taken + 1
    );
    let done = fleet.eventually(Duration::from_secs(90), "the rollout to end", || {
        let d = fleet.phase(others[0], id);
        (d["phase"] != "progressing" && d["phase"] != "pending").then_some(d)
    });
    let logs = fleet.logs();
    assert_each_transition_once(&done, &logs);
    finish_loads(loads, &logs);
    assert!(fleet.log(taken).contains("driving the target"), "{logs}");
    let verify = fleet.zion(others[1], &["audit", "verify"]);
    assert!(verify.status.success(), "{}\n{logs}", describe(&verify));
    eprintln!("takeover after the driver's SIGKILL: {takeover:?} (lease {LEASE})");
}

#[test]
fn a_paused_driver_resumed_after_its_lease_writes_nothing_and_stops_acting() {
    let (fleet, driver, others, loads, id) = canary_under_load();
    let before = fleet.phase(others[0], id)["events"]
        .as_array()
        .unwrap()
        .len();
    kill(fleet.pid(driver), Signal::SIGSTOP).unwrap();
    let taken = eventually(Duration::from_secs(30), "another replica to drive", || {
        fleet.driver(others[0]).filter(|i| others.contains(i))
    });
    // The new driver moves the rollout on while the old one sleeps.
    fleet.eventually(Duration::from_secs(30), "the rollout to move on", || {
        let d = fleet.phase(others[0], id);
        (d["events"].as_array().unwrap().len() > before).then_some(())
    });
    let resumed_at = fleet.log(driver).len();
    kill(fleet.pid(driver), Signal::SIGCONT).unwrap();
    let done = fleet.eventually(Duration::from_secs(90), "the rollout to end", || {
        let d = fleet.phase(others[0], id);
        (d["phase"] != "progressing" && d["phase"] != "pending").then_some(d)
    });
    let logs = fleet.logs();
    assert_each_transition_once(&done, &logs);
    finish_loads(loads, &logs);
    // Once resumed, the old driver learns that it lost the target before
    // it does anything to it: nothing started, stopped or routed by it
    // until it is given the target again.
    let after = &fleet.log(driver)[resumed_at..];
    let until_retaken = after.split("driving the target").next().unwrap_or("");
    assert!(
        after.contains("lost the lease") || after.contains("no longer driving"),
        "the resumed replica never noticed: {after}"
    );
    for action in ["stopping version", "scaling down", "transition"] {
        assert!(
            !until_retaken.contains(action),
            "the resumed replica acted ({action}) on a target it lost:\n{until_retaken}"
        );
    }
    let verify = fleet.zion(taken, &["audit", "verify"]);
    assert!(verify.status.success(), "{}\n{logs}", describe(&verify));
}

#[test]
fn a_driver_stopped_cleanly_hands_its_target_over_at_once_without_a_failed_request() {
    // A lease far longer than the hand-over may take: only the hand-over
    // itself, not an expiry, can give the target to the other replica.
    let mut fleet = Fleet::with_lease(2, STEPS, "30s");
    let driver = fleet.first_rollout(Duration::from_secs(1));
    let other = 1 - driver;
    eventually(Duration::from_secs(20), "the published route", || {
        http_get(fleet.target(other), "/")
            .ok()
            .filter(|(s, v, _)| *s == 200 && v == "1.0")
    });
    let load = Load::start(fleet.target(other));
    let mut child = fleet.ups[driver].take().unwrap();
    let stopped = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let _ = child.wait();
    eventually(
        Duration::from_secs(10),
        "the other replica to drive",
        || (fleet.driver(other)? == other).then_some(()),
    );
    let handed = stopped.elapsed();
    assert!(
        handed < Duration::from_secs(5),
        "handed over after {handed:?}"
    );
    // Its processes were left running and adopted: the version still serves.
    std::thread::sleep(Duration::from_secs(1));
    let seen = load.finish();
    let logs = fleet.logs();
    assert_eq!(
        seen.get("1.0").map(|(_, e)| *e),
        Some(0),
        "{seen:?}\n{logs}"
    );
    assert!(!seen.contains_key(NO_ANSWER), "{seen:?}\n{logs}");
    assert!(
        fleet.log(driver).contains("handed every target over"),
        "{logs}"
    );
    let status = fleet.json(other, &["status"]);
    assert_eq!(status[0]["stable_version"], "1.0", "{status}");
    assert_eq!(
        status[0]["versions"][0]["ready"], 2,
        "the adopted replicas are ready: {status}"
    );
    eprintln!("hand-over on a clean stop: {handed:?} (lease 30s)");
}

#[test]
fn a_blue_green_promote_sent_to_a_replica_that_does_not_drive_the_target_is_applied() {
    let fleet = Fleet::with_spec(2, "        - { weight: 100 }", LEASE, |yaml| {
        yaml.replace(
            "    canary:\n",
            "    strategy: blue_green\n    blue_green:\n      scale_down_delay: 1h\n    canary:\n",
        )
    });
    let driver = fleet.first_rollout(Duration::from_secs(LEASE_SECS));
    let other = 1 - driver;
    let id = fleet.json(other, &["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    fleet.eventually(Duration::from_secs(30), "2.0's preview ready", || {
        (fleet.phase(other, id)["preview"] == "ready").then_some(())
    });
    // The replica that does not drive the target probes nothing: it judges
    // the promote by what the driver recorded, and the driver switches.
    let promote = fleet.zion(other, &["promote", &id.to_string()]);
    assert!(
        promote.status.success(),
        "{}\n{}",
        describe(&promote),
        fleet.logs()
    );
    fleet.eventually(Duration::from_secs(30), "the switch", || {
        (fleet.phase(other, id)["phase"] == "succeeded").then_some(())
    });
    fleet.eventually(Duration::from_secs(30), "2.0 served by both", || {
        [driver, other]
            .iter()
            .all(|&i| {
                http_get(fleet.target(i), "/")
                    .ok()
                    .is_some_and(|(s, v, _)| s == 200 && v == "2.0")
            })
            .then_some(())
    });
}

/// An SLO of a target that two replicas forward for counts every request
/// either forwarded, once: the driver adds the other replica's one-second
/// buckets to its own listener's.
#[test]
fn an_slo_counts_the_requests_of_every_replica_once() {
    let fleet = Fleet::with_spec(2, "        - { weight: 100 }", LEASE, |yaml| {
        let faulty = yaml.replace(
            "\"{version}\"]",
            "\"{version}\", \"--fault\", \"1.0:errors=0.25\"]",
        );
        format!(
            "{faulty}slos:\n  - {{ name: availability, service: web, environment: staging, objective: 50% }}\n"
        )
    });
    let driver = fleet.first_rollout(Duration::from_secs(1));
    let (mut sent, mut failed) = (0u64, 0u64);
    for i in 0..2 {
        for _ in 0..40 {
            let (status, _, _) = http_get(fleet.target(i), "/").unwrap();
            sent += 1;
            failed += u64::from(status >= 500);
        }
    }
    assert!(failed > 0, "the faulty version answered no 5xx");
    let counted = |s: &Value| (s["good"].as_u64(), s["total"].as_u64());
    let slo = fleet.eventually(
        Duration::from_secs(30),
        "both replicas' requests counted",
        || {
            let s = fleet.json(driver, &["slo", "status"])[0].clone();
            (s["total"].as_u64() >= Some(sent)).then_some(s)
        },
    );
    assert_eq!(counted(&slo), (Some(sent - failed), Some(sent)), "{slo}");
    // Nothing is counted twice as more seconds are read.
    std::thread::sleep(Duration::from_secs(8));
    let later = fleet.json(driver, &["slo", "status"])[0].clone();
    assert_eq!(
        counted(&later),
        (Some(sent - failed), Some(sent)),
        "{later}"
    );
}
