//! The delivery report: every record it needs read from the store and the
//! audit log, and handed to the core's [`Assembly`], which decides what
//! counts and how.

use zion_core::audit::AuditAction;
use zion_core::delivery::{
    Assembly, AuditSummary, ImportedDeployment, OwnIncident, Report, ReportQuery,
};
use zion_store::{DeploymentFilter, HistoryFilter, IncidentFilter};

use crate::app::App;
use crate::error::ApiError;

/// Reads every record the report needs and hands it to the core's
/// [`Assembly`], which decides what counts and how.
impl App {
    /// The delivery report over `query`'s period.
    pub fn report(&self, query: &ReportQuery) -> Result<Report, ApiError> {
        build(self, query)
    }
}

fn build(app: &App, query: &ReportQuery) -> Result<Report, ApiError> {
    let spec = app.spec();
    let mut report = Assembly::new(query, &spec);

    // What finished before the period plays no part in it: a rollback in
    // the period reverses only what was live when it started, and a
    // failure recovers at a later success (the same cut as for imports).
    let own = app.store.deployments(&DeploymentFilter {
        service: query.service.clone(),
        environment: query.environment.clone(),
        finished_since: Some(query.since),
        ..DeploymentFilter::default()
    })?;
    for d in own.iter().rev() {
        let events = if Assembly::wants_events(d) {
            app.store.events(d.id)?
        } else {
            Vec::new()
        };
        report.own_deployment(d, &events);
    }
    drop(own);
    for i in app.store.incidents(&IncidentFilter {
        service: query.service.clone(),
        environment: query.environment.clone(),
        open_only: false,
    })? {
        report.own_incident(OwnIncident {
            id: i.id,
            service: &i.service,
            environment: &i.environment,
            deployment_id: i.deployment_id,
            opened_at: i.opened_at,
            opened_by: &i.opened_by,
            resolved_at: i.resolved_at,
        });
    }

    let filter = HistoryFilter {
        service: query.service.clone(),
        environment: query.environment.clone(),
        // Later deployments may be where a failure was recovered, so only
        // the start is cut here; the report places each one itself.
        finished_from: Some(query.since),
        finished_until: None,
    };
    app.store.scan_imported_deployments(&filter, &mut |row| {
        report.imported_deployment(ImportedDeployment {
            external_id: row.external_id,
            service: row.service,
            environment: row.environment,
            kind: row.kind,
            result: row.result,
            started_at: row.started_at,
            finished_at: row.finished_at,
            committed_at: row.committed_at,
        });
    })?;
    // Every target's: one filed elsewhere may blame a deployment of this
    // one (the assembly keeps those).
    let every_target = HistoryFilter {
        service: None,
        environment: None,
        ..filter
    };
    for i in app.store.imported_incidents(&every_target)? {
        report.imported_incident(i);
    }
    let mut report = report.finish(refusals(app, query)?, Some(audit_summary(app)?));
    report.slos = slos(app, query)?;
    Ok(report)
}

/// The requests the policy refused in the period, from the audit log.
/// Each SLO of the spec within the query's filters over its period.
fn slos(
    app: &App,
    query: &ReportQuery,
) -> Result<Option<Vec<zion_core::slo::report::SloSummary>>, ApiError> {
    let spec = app.spec();
    let mut out = Vec::new();
    for slo in spec.slos.iter().filter(|s| {
        query.service.as_ref().is_none_or(|v| *v == s.service)
            && query
                .environment
                .as_ref()
                .is_none_or(|v| *v == s.environment)
    }) {
        let rows = app.store.sli_rows(&slo.id(), query.since)?;
        out.push(zion_core::slo::report::summary(
            slo,
            &rows,
            query.since,
            query.until,
        ));
    }
    Ok((!spec.slos.is_empty()).then_some(out))
}

fn refusals(
    app: &App,
    query: &ReportQuery,
) -> Result<Option<zion_core::delivery::PolicyRefusals>, ApiError> {
    let refused = app.audit_facts(&zion_store::AuditFilter {
        since: Some(query.since),
        action: Some(AuditAction::DeploymentRefused.to_string()),
        ..Default::default()
    })?;
    Ok(zion_core::delivery::count_refusals(&refused, query))
}

/// The log's verification (resumed where the last one ended), as the
/// report's audit section shows it.
fn audit_summary(app: &App) -> Result<AuditSummary, ApiError> {
    Ok(AuditSummary::of(&app.verify_audit_grown()?))
}
