//! The Mann-Whitney test against SciPy's figures: `judge_vectors/vectors.json`
//! was written by `judge_vectors/make_vectors.py` (numpy + scipy
//! `mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
//! use_continuity=True)`); this test needs only the JSON.

use serde::Deserialize;
use zion_core::judge::mann_whitney::u_test;

#[derive(Deserialize)]
struct Vectors {
    scipy: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    x: Vec<f64>,
    y: Vec<f64>,
    u: f64,
    p: f64,
}

#[test]
fn u_and_p_values_agree_with_scipy_to_1e_9() {
    let v: Vectors = serde_json::from_str(include_str!("judge_vectors/vectors.json")).unwrap();
    assert!(v.cases.len() >= 200, "{} cases", v.cases.len());
    let mut worst = 0.0f64;
    for (i, c) in v.cases.iter().enumerate() {
        let t = u_test(&c.x, &c.y).unwrap();
        let what = format!(
            "case {i} ({}, {} × {}), SciPy {}",
            c.kind,
            c.x.len(),
            c.y.len(),
            v.scipy
        );
        assert_eq!(t.u, c.u, "U of {what}");
        let diff = (t.p_value - c.p).abs();
        assert!(diff <= 1e-9, "p of {what}: {} against {}", t.p_value, c.p);
        // Deep in the tail, the relative error stays small as well.
        if c.p > 1e-300 {
            worst = worst.max(diff / c.p);
        }
    }
    assert!(worst < 1e-9, "worst relative p difference {worst:e}");
}
