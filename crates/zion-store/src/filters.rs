//! The queries of the areas' filters (deployments, incidents, audit
//! entries), built once for both stores: the statement with PostgreSQL's
//! `$N` parameters (SQLite's through [`crate::tables::sqlite`]) and its
//! values as [`Field`]s, which each store binds its own way.

use crate::codec::{time_text, widen};
use crate::tables::{DEPLOYMENT_COLUMNS, Field, INCIDENT_COLUMNS};
use crate::{AuditFilter, DeploymentFilter, IncidentFilter, StoreError};

/// A statement and the values of its parameters, `$1` first.
pub(crate) type Query = (String, Vec<Field>);

/// The conditions of a WHERE clause, joined by AND, with their values.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    values: Vec<Field>,
}

impl Conditions {
    /// Only `service` and/or `environment`, when given.
    fn target(service: Option<&str>, environment: Option<&str>) -> Self {
        let mut c = Conditions::default();
        for (column, value) in [("service", service), ("environment", environment)] {
            if let Some(v) = value {
                c.bind(&format!("{column} = {{}}"), v.to_owned());
            }
        }
        c
    }

    /// Adds `condition`, in which `{}` stands for `value`'s parameter.
    fn bind(&mut self, condition: &str, value: impl Into<Field>) {
        self.values.push(value.into());
        let parameter = format!("${}", self.values.len());
        self.clauses.push(condition.replace("{}", &parameter));
    }

    /// Adds a condition without a value.
    fn require(&mut self, condition: &str) {
        self.clauses.push(condition.to_owned());
    }

    /// `select` with these conditions, then `rest` (an ORDER BY).
    fn query(self, select: &str, rest: &str) -> Query {
        let mut sql = select.to_owned();
        if !self.clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.clauses.join(" AND "));
        }
        sql.push(' ');
        sql.push_str(rest);
        (sql, self.values)
    }
}

/// The deployments `filter` selects, newest first.
pub(crate) fn deployments(filter: &DeploymentFilter) -> Result<Query, StoreError> {
    let mut c = Conditions::target(filter.service.as_deref(), filter.environment.as_deref());
    if let Some(since) = filter.since {
        c.bind("created_at >= {}", time_text(since));
    }
    if let Some(since) = filter.finished_since {
        c.bind(
            "(finished_at IS NULL OR finished_at >= {})",
            time_text(since),
        );
    }
    if let Some(before) = filter.before {
        c.bind("id < {}", before);
    }
    let mut rest = "ORDER BY id DESC".to_owned();
    if let Some(limit) = filter.limit {
        c.values.push(widen(limit, "limit")?.into());
        rest.push_str(&format!(" LIMIT ${}", c.values.len()));
    }
    Ok(c.query(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments"),
        &rest,
    ))
}

/// The incidents `filter` selects, newest first.
pub(crate) fn incidents(filter: &IncidentFilter) -> Query {
    let mut c = Conditions::target(filter.service.as_deref(), filter.environment.as_deref());
    if filter.open_only {
        // Spelled as in the partial index `incidents_open`, so it serves.
        c.require("resolved_at IS NULL");
    }
    c.query(
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents"),
        "ORDER BY id DESC",
    )
}

/// The audit entries `filter` selects, by index: what
/// [`crate::tables::audit_entry`] reads.
pub(crate) fn audit_entries(filter: &AuditFilter) -> Result<Query, StoreError> {
    let mut c = Conditions::default();
    if let Some(since) = filter.since {
        c.bind("time >= {}", time_text(since));
    }
    if let Some(action) = &filter.action {
        c.bind("action = {}", action.clone());
    }
    if let Some(subject) = &filter.subject {
        c.bind("subject = {}", subject.clone());
    }
    if let Some(from) = filter.from_index {
        c.bind("idx >= {}", widen(from, "audit index")?);
    }
    let mut rest = "ORDER BY idx".to_owned();
    if let Some(limit) = filter.limit {
        c.values.push(widen(limit, "limit")?.into());
        rest.push_str(&format!(" LIMIT ${}", c.values.len()));
    }
    Ok(c.query("SELECT idx, entry FROM audit_entries", &rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_in_the_order_of_their_values() {
        let filter = DeploymentFilter {
            service: Some("web".into()),
            environment: None,
            since: Some(jiff::Timestamp::UNIX_EPOCH),
            finished_since: None,
            before: None,
            limit: Some(5),
        };
        let (sql, values) = deployments(&filter).unwrap();
        assert!(
            sql.ends_with("WHERE service = $1 AND created_at >= $2 ORDER BY id DESC LIMIT $3"),
            "{sql}"
        );
        assert_eq!(
            values,
            vec![
                Field::from("web".to_owned()),
                Field::from("1970-01-01T00:00:00.000000000Z".to_owned()),
                Field::from(5i64),
            ]
        );
        let (sql, values) = incidents(&IncidentFilter::default());
        assert!(sql.ends_with("FROM incidents ORDER BY id DESC"), "{sql}");
        assert!(values.is_empty());
    }
}
