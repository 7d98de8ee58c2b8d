//! The delivery-history routes: `GET /api/v1/report` builds the deployment
//! report from Zion's own deployments and the imported history, and
//! `POST /api/v1/import` stores history made by other tools (JSON lines),
//! all or nothing, idempotent by external id, with its audit entry in the
//! same transaction.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use zion_core::api::ImportSummary;
use zion_core::audit::AuditAction;
use zion_core::delivery::{
    Assembly, AuditSummary, ImportedDeployment, OwnIncident, Report, ReportQuery, report_period,
};
use zion_core::import::{ImportRecord, parse_all};
use zion_store::{
    DeploymentFilter, HistoryFilter, ImportBatch, ImportOutcome, IncidentFilter, StoreError,
};

use crate::app::App;
use crate::audit::{AuditError, Record};
use crate::auth::Permission;
use crate::error::{ApiError, excerpt};
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

type AppState = State<Arc<App>>;

/// The largest import accepted in one request: a few million lines.
const IMPORT_LIMIT: usize = 2 << 30;

/// The report and import routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/v1/report", get(report)).route(
        "/api/v1/import",
        post(import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    since: Option<String>,
    until: Option<String>,
    #[serde(alias = "env")]
    environment: Option<String>,
    service: Option<String>,
    tz: Option<String>,
}

/// The report over the asked period (default: the last 30 days), in JSON.
async fn report(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> Result<Json<Report>, ApiError> {
    require(&p, Permission::Read, "read the deployment report")?;
    let now = app.clock.now();
    let tz = match q.tz.as_deref() {
        None | Some("UTC" | "utc") => TimeZone::UTC,
        Some(name) => time_zone(name)?,
    };
    let (since, until) = report_period(q.since.as_deref(), q.until.as_deref(), &tz, now)
        .map_err(ApiError::bad_request)?;
    let query = ReportQuery {
        since,
        until,
        environment: q.environment,
        service: q.service,
        tz,
    };
    let out = tokio::task::spawn_blocking(move || build(&app, &query))
        .await
        .map_err(|e| ApiError::internal(format!("the report stopped: {e}")))??;
    Ok(Json(out))
}

/// A zone by IANA name (`Europe/Paris`) or fixed offset (`+02:00`).
fn time_zone(name: &str) -> Result<TimeZone, ApiError> {
    if let Ok(tz) = TimeZone::get(name) {
        return Ok(tz);
    }
    // Temporal's syntax: IANA names and fixed offsets such as `+02:00`.
    if let Ok(tz) = jiff::fmt::temporal::DateTimeParser::new().parse_time_zone(name) {
        return Ok(tz);
    }
    Err(ApiError::bad_request(format!(
        "tz `{}` is neither an IANA time zone (Europe/Paris, America/New_York) nor an offset (+02:00)",
        excerpt(name)
    )))
}

/// Reads every record the report needs and hands it to the core's
/// [`Assembly`], which decides what counts and how.
pub(crate) fn build(app: &App, query: &ReportQuery) -> Result<Report, ApiError> {
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
    Ok(report.finish(refusals(app, query)?, Some(audit_summary(app)?)))
}

/// The requests the policy refused in the period, from the audit log.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// The file's name, for the record.
    source: Option<String>,
}

/// Why an import stopped.
enum ImportStop {
    Audit(AuditError),
    /// Everything was already there; nothing was written.
    NothingNew(ImportOutcome),
}

impl From<AuditError> for ImportStop {
    fn from(e: AuditError) -> Self {
        ImportStop::Audit(e)
    }
}

/// Stores JSON lines of history; the body is the file as it is.
async fn import(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ImportParams>,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    require(&p, Permission::Admin, "import delivery history")?;
    let source = q.source.unwrap_or_else(|| "(unnamed)".to_owned());
    let by = p.name.clone();
    tokio::task::spawn_blocking(move || import_blocking(&app, &body, &source, &by))
        .await
        .map_err(|e| ApiError::internal(format!("the import stopped: {e}")))?
        .map(Json)
}

fn import_blocking(
    app: &App,
    body: &[u8],
    source: &str,
    by: &str,
) -> Result<ImportSummary, ApiError> {
    let started = std::time::Instant::now();
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ApiError::bad_request(format!(
            "{source}: line {line}: not UTF-8 text; nothing was imported"
        ))
    })?;
    let records = parse_all(text)
        .map_err(|e| ApiError::bad_request(format!("{source}: {e}; nothing was imported")))?;
    if records.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{source} holds no records: write one JSON object per line; nothing was imported"
        )));
    }
    let sha = hex::encode(Sha256::digest(body));
    let deployments = records
        .iter()
        .filter(|r| matches!(r, ImportRecord::Deployment(_)))
        .count();
    let batch = ImportBatch {
        records: &records,
        source,
        sha256_hex: &sha,
        imported_by: by,
        at: app.clock.now(),
    };
    let record = Record::new(
        by,
        AuditAction::HistoryImport,
        "history",
        json!({
            "source": source,
            "sha256": sha,
            "deployments": deployments,
            "incidents": records.len() - deployments,
        }),
    );
    let stored = app.journal.commit_blocking(
        &[record],
        batch.at,
        |store, audit| -> Result<ImportOutcome, ImportStop> {
            let out = store
                .import_history(&batch, audit)
                .map_err(|e| ImportStop::Audit(e.into()))?;
            if out.import_id.is_none() {
                // An error keeps the audit log from counting an entry that
                // was not written.
                return Err(ImportStop::NothingNew(out));
            }
            Ok(out)
        },
    );
    let outcome = match stored {
        Ok(out) => out,
        Err(ImportStop::NothingNew(out)) => out,
        Err(ImportStop::Audit(AuditError::Store(e))) => {
            return Err(refused(e, text, source));
        }
        Err(ImportStop::Audit(e)) => return Err(e.into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(%source, by, records = records.len(), added = outcome.deployments_added, seconds, "history imported");
    Ok(ImportSummary {
        source: source.to_owned(),
        sha256: sha,
        records: records.len() as u64,
        import_id: outcome.import_id,
        deployments_added: outcome.deployments_added,
        incidents_added: outcome.incidents_added,
        incidents_resolved: outcome.incidents_resolved,
        unchanged: outcome.unchanged,
        seconds,
    })
}

/// A store refusal, with the record's line in the file.
fn refused(e: StoreError, text: &str, source: &str) -> ApiError {
    let record = match &e {
        StoreError::ImportConflict { record, .. } | StoreError::UnknownCause { record, .. } => {
            *record
        }
        _ => return e.into(),
    };
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .nth(record)
        .map_or(0, |(i, _)| i + 1);
    let message = e.to_string();
    // The store counts records; people count lines.
    let message = message
        .strip_prefix(&format!("record {record} "))
        .map_or(message.clone(), |rest| format!("line {line} {rest}"));
    ApiError::conflict(format!("{source}: {message}"))
}
