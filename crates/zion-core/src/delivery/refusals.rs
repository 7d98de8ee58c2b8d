//! Requests the environments' policy refused, counted from the audit log's
//! `deployment.refused` entries for the report's period and filters.

use serde_json::Value;

use super::report::{PolicyRefusals, ReportQuery};
use crate::audit::AuditAction;
use crate::compliance::Fact;

/// The refusals among `entries` (the `deployment.refused` ones; the others
/// are skipped) that fall in the query's period and match its environment
/// and service; None when there are none.
pub fn count_refusals(entries: &[Fact], query: &ReportQuery) -> Option<PolicyRefusals> {
    let mut out = PolicyRefusals::default();
    let matches = |key: &str, wanted: &Option<String>, d: &Value| {
        wanted.as_deref().is_none_or(|w| d[key].as_str() == Some(w))
    };
    for e in entries {
        let in_period = e.time >= query.since && e.time < query.until;
        if e.action != Some(AuditAction::DeploymentRefused)
            || !in_period
            || !matches("environment", &query.environment, &e.details)
            || !matches("service", &query.service, &e.details)
        {
            continue;
        }
        let rule = e.details["refused_by"].as_str().unwrap_or("other");
        *out.by_rule.entry(rule.to_string()).or_insert(0) += 1;
        out.total += 1;
        out.entries.push(e.index);
    }
    (out.total > 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn refusals_are_counted_by_rule_within_the_period_and_filters() {
        let details = [
            json!({"service": "web", "environment": "production", "refused_by": "quality_gates_failed"}),
            json!({"service": "web", "environment": "production", "refused_by": "window_closed"}),
            json!({"service": "api", "environment": "production", "refused_by": "quality_gates_failed"}),
            json!({"service": "web", "environment": "staging", "refused_by": "pre_checks_failed"}),
            json!({"service": "web", "environment": "production", "refused_by": "quality_gates_failed"}),
            // Recorded before rules had codes.
            json!({"service": "web", "environment": "production"}),
        ];
        let times = [
            "2026-03-01T00:00:00Z",
            "2026-03-02T12:00:00Z",
            "2026-03-03T12:00:00Z",
            "2026-03-04T12:00:00Z",
            // The period's end is exclusive.
            "2026-03-06T00:00:00Z",
            "2026-03-05T23:59:59Z",
        ];
        let entries: Vec<Fact> = details
            .iter()
            .zip(times)
            .enumerate()
            .map(|(i, (d, t))| Fact {
                index: 10 + i as u64,
                time: at(t),
                actor: "alice".into(),
                action: Some(AuditAction::DeploymentRefused),
                subject: "target/web/production".into(),
                details: d.clone(),
            })
            .collect();
        let mut q = ReportQuery {
            since: at("2026-03-01T00:00:00Z"),
            until: at("2026-03-06T00:00:00Z"),
            environment: None,
            service: None,
            tz: TimeZone::UTC,
        };
        // Entries 10 to 13 and 15; 14 is at the exclusive end.
        let all = count_refusals(&entries, &q).unwrap();
        assert_eq!(all.total, 5);
        assert_eq!(all.entries, vec![10, 11, 12, 13, 15]);
        assert_eq!(all.by_rule["quality_gates_failed"], 2);
        assert_eq!(all.by_rule["window_closed"], 1);
        assert_eq!(all.by_rule["pre_checks_failed"], 1);
        assert_eq!(all.by_rule["other"], 1);
        // web in production: 10, 11 and 15.
        q.environment = Some("production".into());
        q.service = Some("web".into());
        let web = count_refusals(&entries, &q).unwrap();
        assert_eq!(web.entries, vec![10, 11, 15]);
        assert_eq!(web.total, 3);
        // Nothing in another period.
        q.since = at("2026-04-01T00:00:00Z");
        q.until = at("2026-05-01T00:00:00Z");
        assert_eq!(count_refusals(&entries, &q), None);
    }

    #[test]
    fn only_refused_deployments_are_counted() {
        let entry = |index, action| Fact {
            index,
            time: at("2026-03-02T00:00:00Z"),
            actor: "alice".into(),
            action,
            subject: "target/web/production".into(),
            details: json!({"service": "web", "environment": "production", "refused_by": "window_closed"}),
        };
        let entries = [
            entry(1, Some(AuditAction::DeploymentCreate)),
            entry(2, Some(AuditAction::DeploymentRefused)),
            entry(3, None),
            entry(4, Some(AuditAction::AuthForbidden)),
        ];
        let q = ReportQuery {
            since: at("2026-03-01T00:00:00Z"),
            until: at("2026-03-06T00:00:00Z"),
            environment: None,
            service: None,
            tz: TimeZone::UTC,
        };
        let r = count_refusals(&entries, &q).unwrap();
        assert_eq!(r.entries, vec![2]);
        assert_eq!(r.total, 1);
    }
}
