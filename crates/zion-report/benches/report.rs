//! Builds a deployment report over one million synthetic deployments and
//! renders it, printing times, the process's peak memory, and the ratio to
//! a baseline that only walks the records and sums their durations.
//!
//! Run: `cargo bench -p zion-report --bench report`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use zion_core::delivery::{
    DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, Names, ReportQuery,
    RollbackInfo, build_report, mark_reversals,
};
use zion_core::deployment::DeploymentType;
use zion_core::deployment::PlanKind;

const RECORDS: usize = 1_000_000;
const SERVICES: usize = 40;
const ENVIRONMENTS: [&str; 4] = ["dev", "staging", "qa", "production"];
const PERIOD_DAYS: i64 = 365;

/// SplitMix64: small, fast and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn generate(start: Timestamp) -> (Vec<DeploymentRecord>, Vec<IncidentRecord>) {
    let mut rng = Rng(0x5EED);
    let mut names = Names::new();
    let services: Vec<Arc<str>> = (0..SERVICES)
        .map(|i| names.get(&format!("service-{i:02}")))
        .collect();
    let envs: Vec<Arc<str>> = ENVIRONMENTS.iter().map(|e| names.get(e)).collect();
    let span = PERIOD_DAYS * 86_400;
    let mut deployments = Vec::with_capacity(RECORDS);
    let mut incidents = Vec::new();
    for i in 0..RECORDS {
        let env = rng.below(4) as usize;
        let production = env == 3;
        let finished_at = start + SignedDuration::from_secs(rng.below(span as u64) as i64);
        let seconds = 30 + rng.below(900) as i64;
        let kind = match rng.below(100) {
            0..=79 => DeploymentType::Feature,
            80..=89 => DeploymentType::Config,
            90..=96 => DeploymentType::Hotfix,
            _ => DeploymentType::Rollback,
        };
        let result = match rng.below(1000) {
            0..=939 => DeploymentResult::Succeeded,
            940..=964 => DeploymentResult::RolledBack,
            965..=979 => DeploymentResult::Failed,
            980..=989 => DeploymentResult::Cancelled,
            990..=995 => DeploymentResult::Rejected,
            _ => DeploymentResult::Expired,
        };
        let mut r = DeploymentRecord::new(
            i.to_string(),
            services[rng.below(SERVICES as u64) as usize].clone(),
            envs[env].clone(),
            production,
            kind,
            result,
            finished_at - SignedDuration::from_secs(seconds),
            finished_at,
        );
        r.strategy = match rng.below(4) {
            0 => Some(PlanKind::Canary),
            1 => Some(PlanKind::BlueGreen),
            2 => Some(PlanKind::Rolling),
            _ => None,
        };
        if rng.chance(70) {
            r.committed_at =
                Some(finished_at - SignedDuration::from_secs(rng.below(7 * 86_400) as i64));
        }
        if result == DeploymentResult::RolledBack {
            r.rollback = Some(RollbackInfo {
                automatic: rng.chance(80),
                seconds: 5.0 + rng.below(120) as f64,
            });
        }
        if production {
            r.approval_wait_seconds = Some(rng.below(4 * 3600) as f64);
            r.analysis_rounds = rng.below(12) as u32;
        }
        if rng.chance(20) {
            r.gates = Some(Box::new(GateOutcome {
                passed: rng.chance(90),
                tests_passed_ratio: Some(0.9 + rng.below(100) as f64 / 1000.0),
                coverage: Some(0.5 + rng.below(500) as f64 / 1000.0),
                findings_error: Some(rng.below(3)),
                findings_warning: Some(rng.below(10)),
            }));
        }
        if production && result != DeploymentResult::Succeeded && rng.chance(30) {
            incidents.push(IncidentRecord {
                id: format!("inc-{i}"),
                service: r.service.clone(),
                environment: r.environment.clone(),
                opened_at: finished_at,
                resolved_at: Some(
                    finished_at + SignedDuration::from_secs(rng.below(6 * 3600) as i64),
                ),
                caused_by: Some(r.id.clone()),
            });
        }
        deployments.push(r);
    }
    (deployments, incidents)
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn mib(v: Option<f64>) -> String {
    v.map(|m| format!("{m:.1} MiB"))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The best of `runs` timings of `f` (the least disturbed by other load).
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = black_box(f());
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let start: Timestamp = "2025-01-01T00:00:00Z".parse().expect("valid timestamp");
    let before = peak_rss_mib();
    let t = Instant::now();
    let (mut deployments, incidents) = generate(start);
    let generated_in = t.elapsed();
    let after_generate = peak_rss_mib();
    println!(
        "records: {} deployments, {} incidents, generated in {} (record size {} bytes)",
        deployments.len(),
        incidents.len(),
        ms(generated_in),
        std::mem::size_of::<DeploymentRecord>()
    );

    let (baseline, total) = best_of(5, || {
        deployments
            .iter()
            .map(|r| r.finished_at.duration_since(r.started_at).as_secs_f64())
            .sum::<f64>()
    });
    println!(
        "baseline (iterate, sum durations): {} (sum {total:.0} s)",
        ms(baseline)
    );

    let query = |tz: TimeZone| ReportQuery {
        since: start,
        until: start + SignedDuration::from_hours(24 * PERIOD_DAYS),
        environment: None,
        service: None,
        tz,
    };
    let utc = query(TimeZone::UTC);
    let (built_utc, report) = best_of(3, || build_report(&deployments, &incidents, &utc));
    let paris = query(TimeZone::get("Europe/Paris").expect("bundled time zone"));
    let (built_paris, _) = best_of(3, || build_report(&deployments, &incidents, &paris));
    let mut filtered = query(TimeZone::UTC);
    filtered.service = Some("service-07".to_string());
    let (built_filtered, _) = best_of(3, || build_report(&deployments, &incidents, &filtered));
    let after_build = peak_rss_mib();

    let (markdown_t, markdown) = best_of(3, || zion_report::render_markdown(&report));
    let (html_t, html) = best_of(3, || zion_report::render_html(&report));
    let (json_t, json) = best_of(3, || zion_report::render_json(&report));
    let after_render = peak_rss_mib();
    // Last, since it changes the records (the report's figures would not
    // change: build_report finds the same reversals itself).
    let (reversals_t, ()) = best_of(3, || mark_reversals(&mut deployments));
    let reversed = deployments
        .iter()
        .filter(|r| r.result == DeploymentResult::Succeeded && r.rollback.is_some())
        .count();

    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    println!("best of 3 runs each (the baseline: best of 5):");
    println!(
        "build_report, 365 days, UTC:          {} ({:.1}× baseline)",
        ms(built_utc),
        ratio(built_utc)
    );
    println!(
        "build_report, 365 days, Europe/Paris: {} ({:.1}× baseline)",
        ms(built_paris),
        ratio(built_paris)
    );
    println!(
        "build_report, one service of {SERVICES}:     {} ({:.1}× baseline)",
        ms(built_filtered),
        ratio(built_filtered)
    );
    println!(
        "render_markdown: {} ({} bytes)",
        ms(markdown_t),
        markdown.len()
    );
    println!("render_html:     {} ({} bytes)", ms(html_t), html.len());
    println!("render_json:     {} ({} bytes)", ms(json_t), json.len());
    println!(
        "mark_reversals:  {} ({reversed} deployments reversed by a rollback deployment)",
        ms(reversals_t)
    );
    println!(
        "peak RSS (VmHWM): start {}, after generating {}, after reports {}, after rendering {}",
        mib(before),
        mib(after_generate),
        mib(after_build),
        mib(after_render)
    );
    println!(
        "report: {} deployments, success rate {:?}, change failure rate {:?}",
        report.total_deployments,
        report.summary.as_ref().and_then(|s| s.success_rate),
        report.change_failure_rate.as_ref().map(|c| c.value)
    );
}
