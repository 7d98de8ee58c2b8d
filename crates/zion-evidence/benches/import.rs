//! How fast `zion import` reads JSON lines: `parse_all` over 1,000,000
//! generated lines (deployments with one incident in ten) against the floor
//! of reading the same lines into `serde_json::Value`, which checks nothing.
//! Prints lines per second for both (and for `parse_line` alone, to show
//! what the unique-id check costs) and their ratio.
//!
//! Run with `cargo bench -p zion-evidence --bench import` (add `-- 200000`
//! for fewer lines).

use std::hint::black_box;
use std::time::{Duration, Instant};

use zion_core::import::{parse_all, parse_line};

const DEFAULT_LINES: usize = 1_000_000;

fn generate(lines: usize) -> String {
    let services = ["web", "api", "worker", "billing"];
    let environments = ["staging", "production"];
    let types = [
        "feature", "feature", "feature", "hotfix", "config", "rollback",
    ];
    let results = [
        "succeeded",
        "succeeded",
        "succeeded",
        "failed",
        "rolled_back",
    ];
    let mut out = String::with_capacity(lines * 330);
    // One deployment every 10 minutes from 2024-01-01.
    let base = 1_704_067_200_i64;
    for i in 0..lines {
        let start = base + i as i64 * 600;
        let at = |secs: i64| {
            jiff::Timestamp::from_second(secs)
                .expect("in range")
                .to_string()
        };
        let service = services[i % services.len()];
        let env = environments[i % environments.len()];
        if i % 10 == 9 {
            out.push_str(&format!(
                r#"{{"kind":"incident","external_id":"inc-{i}","service":"{service}","environment":"{env}","opened_at":"{}","resolved_at":"{}","caused_by":"dep-{}"}}"#,
                at(start),
                at(start + 1800),
                i - 1
            ));
        } else {
            out.push_str(&format!(
                r#"{{"external_id":"dep-{i}","service":"{service}","environment":"{env}","version":"1.{}.{}","type":"{}","started_at":"{}","finished_at":"{}","result":"{}","commit":"{:040x}","committed_at":"{}"}}"#,
                i / 100,
                i % 100,
                types[i % types.len()],
                at(start),
                at(start + 240),
                results[i % results.len()],
                (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                at(start - 7200),
            ));
        }
        out.push('\n');
    }
    out
}

/// The best of `runs` timings, so a busy machine disturbs less.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let lines = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LINES);
    let text = generate(lines);
    println!(
        "import: {lines} lines, {:.1} MB",
        text.len() as f64 / 1_000_000.0
    );

    let records = parse_all(&text).expect("generated lines are valid");
    assert_eq!(records.len(), lines);
    drop(records);

    let runs = 3;
    let parse = best_of(runs, || {
        black_box(parse_all(black_box(&text)).expect("valid"));
    });
    // The same records kept the same way, without the unique-id check that
    // parse_all adds.
    let lines_only = best_of(runs, || {
        let v: Vec<_> = black_box(&text)
            .lines()
            .enumerate()
            .map(|(i, line)| parse_line(i + 1, line).expect("valid"))
            .collect();
        black_box(v);
    });
    let baseline = best_of(runs, || {
        for line in black_box(&text).lines() {
            black_box(serde_json::from_str::<serde_json::Value>(line).expect("valid JSON"));
        }
    });
    let rate = |d: Duration| lines as f64 / d.as_secs_f64();
    println!("best of {runs} runs each:");
    println!(
        "parse_all (checked records):        {:>10.0} lines/s  ({:.3} s)",
        rate(parse),
        parse.as_secs_f64()
    );
    println!(
        "parse_line into a Vec (no id check):{:>10.0} lines/s  ({:.3} s)",
        rate(lines_only),
        lines_only.as_secs_f64()
    );
    println!(
        "serde_json::Value (no checks):      {:>10.0} lines/s  ({:.3} s)",
        rate(baseline),
        baseline.as_secs_f64()
    );
    println!(
        "ratio parse_all / Value:            {:>10.2}x",
        rate(parse) / rate(baseline)
    );
}
