use super::*;

/// One simulated round: `seconds` seconds of traffic for each version, a
/// latency drawn log-normally around `median_ms` (× `shift` for the new
/// version), errors with probability `error_p`; latencies kept at three
/// significant figures as the proxy's histograms keep them (ties).
struct Round {
    rng: fastrand::Rng,
}

impl Round {
    fn normal(&mut self) -> f64 {
        // Box-Muller.
        let u1 = self.rng.f64().max(f64::MIN_POSITIVE);
        let u2 = self.rng.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn version(&mut self, seconds: u32, per_second: u64, shift: f64, error_p: f64) -> Samples {
        let mut counts = Vec::new();
        let mut latency = Vec::new();
        for _ in 0..seconds {
            let mut errors = 0;
            for _ in 0..per_second {
                let ms = 20.0 * shift * (0.5 * self.normal()).exp();
                let digits = 3 - 1 - ms.log10().floor() as i32;
                let scale = 10f64.powi(digits);
                latency.push((ms * scale).round() / scale);
                errors += u64::from(self.rng.f64() < error_p);
            }
            counts.push((per_second, errors));
        }
        Samples::from_seconds(&counts, latency)
    }
}

fn rounds(shift: f64) -> impl Iterator<Item = JudgeReport> {
    let settings = MannWhitney::defaults();
    (0..100u64).map(move |seed| {
        let mut r = Round {
            rng: fastrand::Rng::with_seed(seed),
        };
        // Ten seconds at 10% of 200 requests a second: 200 requests of
        // the new version, 1,800 of stable, both with 1% errors.
        let canary = r.version(10, 20, shift, 0.01);
        let stable = r.version(10, 180, 1.0, 0.01);
        judge(&settings, &canary, &stable)
    })
}

#[test]
fn a_version_twenty_percent_slower_fails() {
    let failed = rounds(1.2).filter(|r| r.verdict() == Verdict::Fail).count();
    eprintln!("20% slower: failed {failed} of 100 rounds");
    assert!(failed >= 95, "failed {failed} of 100 rounds");
    let r = rounds(1.2).next().unwrap();
    let latency = &r.metrics[0];
    assert_eq!(latency.classification, Classification::High);
    assert!(r.summary().contains("latency high"), "{}", r.summary());
}

#[test]
fn a_noisy_version_from_stables_distribution_passes() {
    let reports: Vec<JudgeReport> = rounds(1.0).collect();
    let passed = reports
        .iter()
        .filter(|r| r.verdict() == Verdict::Pass)
        .count();
    eprintln!("same distribution: passed {passed} of 100 rounds");
    assert!(passed >= 95, "passed {passed} of 100 rounds");
}

#[test]
fn the_score_decides_the_verdict() {
    let mut r = judge(
        &MannWhitney::defaults(),
        &Samples::default(),
        &Samples::default(),
    );
    assert_eq!(r.verdict(), Verdict::Fail);
    assert_eq!(r.forced.as_deref(), Some("2 of 2 metrics have no data"));
    r.score = 80.0;
    assert_eq!(r.verdict(), Verdict::Inconclusive);
    r.score = 95.0;
    assert_eq!(r.verdict(), Verdict::Pass);
}

#[test]
fn samples_per_second() {
    let s = Samples::from_seconds(&[(10, 1), (0, 0), (4, 0)], vec![1.0]);
    assert_eq!(s.error_rate, vec![0.1, 0.0]);
    assert_eq!(s.request_rate, vec![10.0, 0.0, 4.0]);
    assert_eq!(s.of(SampleMetric::Latency), &[1.0]);
}
