//! The error-budget policy, as the `error_budget` pre-check applies it:
//! while an SLO of the target has spent its budget, feature releases stop;
//! hotfixes and rollbacks (the remedies, see
//! `governance::admission::skip`) and break glass (recorded with the
//! deployment) still pass.

use super::budget::Budget;

/// One SLO of the target and its budget now.
#[derive(Debug, Clone, PartialEq)]
pub struct SloBudget {
    /// `service/environment/name`.
    pub slo: String,
    pub objective: f64,
    pub budget: Budget,
}

/// Whether the target may take a feature release, and why: the refusal
/// names every spent SLO and its budget left.
pub fn error_budget(budgets: &[SloBudget]) -> (bool, String) {
    if budgets.is_empty() {
        return (true, "no SLO is declared for this target".to_owned());
    }
    let spent: Vec<String> = budgets
        .iter()
        .filter(|b| b.budget.exhausted())
        .map(|b| {
            format!(
                "SLO {} ({} objective) has {} of its error budget left",
                b.slo,
                percent(b.objective),
                percent(b.budget.remaining)
            )
        })
        .collect();
    if spent.is_empty() {
        let left: Vec<String> = budgets
            .iter()
            .map(|b| format!("{} {} left", b.slo, percent(b.budget.remaining)))
            .collect();
        return (true, format!("error budget left: {}", left.join(", ")));
    }
    (
        false,
        format!(
            "{}; the error-budget policy stops feature releases until it recovers: \
             deploy a fix with --type hotfix, roll back, or break glass",
            spent.join("; ")
        ),
    )
}

/// A ratio as a percentage with as many decimals as an objective needs
/// (`99.9%`, `99.95%`, `-12.5%`).
pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    for decimals in 0..4 {
        let text = format!("{p:.decimals$}");
        if (text.parse::<f64>().unwrap_or(p) - p).abs() < 1e-9 {
            return format!("{text}%");
        }
    }
    format!("{p:.3}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::Counts;

    fn slo(name: &str, good: u64, total: u64) -> SloBudget {
        SloBudget {
            slo: format!("web/production/{name}"),
            objective: 0.999,
            budget: Budget::of(0.999, Counts::new(good, total)),
        }
    }

    #[test]
    fn a_spent_budget_refuses_naming_the_slo_and_its_budget() {
        let (passed, reason) = error_budget(&[
            slo("latency", 999_750, 1_000_000),
            slo("availability", 998_750, 1_000_000),
        ]);
        assert!(!passed);
        assert!(
            reason.starts_with(
                "SLO web/production/availability (99.9% objective) has -25% of its error \
                 budget left"
            ),
            "{reason}"
        );
        assert!(!reason.contains("latency"), "{reason}");
        assert!(reason.contains("--type hotfix"), "{reason}");
    }

    #[test]
    fn budget_left_passes_and_says_how_much() {
        let (passed, reason) = error_budget(&[slo("availability", 999_750, 1_000_000)]);
        assert!(passed);
        assert_eq!(
            reason,
            "error budget left: web/production/availability 75% left"
        );
        assert!(error_budget(&[]).0);
    }

    #[test]
    fn percentages_keep_the_decimals_they_need() {
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.9995), "99.95%");
        assert_eq!(percent(0.75), "75%");
        assert_eq!(percent(1.0 / 3.0), "33.333%");
    }
}
