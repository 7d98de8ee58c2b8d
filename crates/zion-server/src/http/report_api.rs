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
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zion_core::audit::AuditAction;
use zion_core::delivery::{
    DeploymentRecord, IncidentRecord, Names, Report, ReportQuery, build_report, own_id,
    record_of_deployment,
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
    let since = match q.since.as_deref() {
        Some(t) => bound(t, now, &tz, Edge::Start, "since")?,
        None => now - jiff::SignedDuration::from_hours(30 * 24),
    };
    let until = match q.until.as_deref() {
        Some(t) => bound(t, now, &tz, Edge::End, "until")?,
        None => now,
    };
    if until <= since {
        return Err(ApiError::bad_request(format!(
            "the period is empty: until ({until}) must be after since ({since})"
        )));
    }
    // The report lists every day of its period (a table row and a bar
    // each): a period of centuries is a mistake, and would cost memory.
    const MOST_DAYS: i64 = 20 * 366;
    let days = until.duration_since(since).as_secs() / 86_400;
    if days > MOST_DAYS {
        return Err(ApiError::bad_request(format!(
            "the period spans {days} days, more than the {MOST_DAYS} (20 years) a report covers; narrow --since or --until"
        )));
    }
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

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// `30d` (ago), an RFC 3339 time, or a date in the report's zone: its
/// first instant for `since`, the first instant of the next day for `until`
/// (so `--until 2026-10-31` includes that day).
fn bound(
    text: &str,
    now: Timestamp,
    tz: &TimeZone,
    edge: Edge,
    what: &str,
) -> Result<Timestamp, ApiError> {
    if let Ok(d) = zion_core::duration::parse_duration(text) {
        let span =
            jiff::SignedDuration::try_from(d).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return now
            .checked_sub(span)
            .map_err(|e| ApiError::bad_request(format!("{what} `{}`: {e}", excerpt(text))));
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let day = match edge {
            Edge::Start => Some(date),
            Edge::End => date.tomorrow().ok(),
        };
        if let Some(z) = day.and_then(|d| d.to_zoned(tz.clone()).ok()) {
            return Ok(z.timestamp());
        }
    }
    Err(ApiError::bad_request(format!(
        "{what} `{}` is neither a duration (30d, 12h), a date (2026-11-01) nor an RFC 3339 time",
        excerpt(text)
    )))
}

/// Reads every record the report needs and builds it.
pub(crate) fn build(app: &App, query: &ReportQuery) -> Result<Report, ApiError> {
    let spec = app.spec();
    let production = |env: &str| {
        spec.environment(env)
            .map_or_else(|| looks_like_production(env), |e| e.production)
    };
    let mut names = Names::new();
    let mut deployments: Vec<DeploymentRecord> = Vec::new();
    let mut incidents: Vec<IncidentRecord> = Vec::new();

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
        if !d.phase.is_terminal() {
            continue;
        }
        // Events are read only where they add something.
        let events = if d.phase == zion_core::deployment::Phase::RolledBack
            || d.gate.approvals_required > 0
        {
            app.store.events(d.id)?
        } else {
            Vec::new()
        };
        // The gates in force when it was admitted; deployments recorded
        // before Zion kept them are judged by the environment's gates now.
        let gates = d.gate.quality_gates.as_ref().or_else(|| {
            spec.environment(&d.environment)
                .and_then(|e| e.gates.as_ref())
                .filter(|_| d.evidence.is_some() && d.gate.break_glass.is_none())
        });
        if let Some(r) =
            record_of_deployment(d, &events, production(&d.environment), gates, &mut names)
        {
            deployments.push(r);
        }
    }
    for i in app.store.incidents(&IncidentFilter {
        service: query.service.clone(),
        environment: query.environment.clone(),
        open_only: false,
    })? {
        incidents.push(IncidentRecord {
            id: format!("incident #{}", i.id),
            service: names.get(&i.service),
            environment: names.get(&i.environment),
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
            // The controller opens one when a production rollout rolls
            // back, to hold features until someone looks; service was
            // restored by the rollback itself, so it is not evidence of a
            // longer outage (the rollback already counts as a failure).
            caused_by: i
                .deployment_id
                .filter(|_| i.opened_by != zion_core::rollout::CONTROLLER)
                .map(own_id),
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
    let mut production_of: std::collections::HashMap<String, bool> = Default::default();
    app.store.scan_imported_deployments(&filter, &mut |row| {
        let env = names.get(row.environment);
        let prod = *production_of
            .entry(row.environment.to_owned())
            .or_insert_with(|| production(row.environment));
        let mut r = DeploymentRecord::new(
            row.external_id,
            names.get(row.service),
            env,
            prod,
            row.kind,
            zion_core::delivery::DeploymentResult::from_phase(row.result.phase())
                .unwrap_or(zion_core::delivery::DeploymentResult::Failed),
            row.started_at,
            row.finished_at,
        );
        r.committed_at = row.committed_at;
        deployments.push(r);
    })?;
    // An incident filed on one service may blame another's deployment: the
    // filters keep an incident that blames someone, whatever its own
    // target, so the blamed deployment still counts as a failure.
    let every_target = HistoryFilter {
        service: None,
        environment: None,
        ..filter.clone()
    };
    for i in app.store.imported_incidents(&every_target)? {
        let own_target = query.service.as_ref().is_none_or(|s| *s == i.service)
            && query
                .environment
                .as_ref()
                .is_none_or(|e| *e == i.environment);
        if !own_target && i.caused_by.is_none() {
            continue;
        }
        incidents.push(IncidentRecord {
            id: i.external_id,
            service: names.get(&i.service),
            environment: names.get(&i.environment),
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
            caused_by: i.caused_by,
        });
    }

    let mut report = build_report(&deployments, &incidents, query);
    drop(deployments);
    report.refusals = refusals(app, query)?;
    report.audit = Some(audit_summary(app)?);
    Ok(report)
}

/// The requests the policy refused in the period, from the audit log.
fn refusals(
    app: &App,
    query: &ReportQuery,
) -> Result<Option<zion_core::delivery::PolicyRefusals>, ApiError> {
    let refused = crate::http::audit_api::facts(
        app,
        &zion_store::AuditFilter {
            since: Some(query.since),
            action: Some(AuditAction::DeploymentRefused.to_string()),
            ..Default::default()
        },
    )?;
    Ok(zion_core::delivery::count_refusals(&refused, query))
}

/// For environments the spec does not name (imported history): the usual
/// names of an environment that serves users.
fn looks_like_production(env: &str) -> bool {
    matches!(
        env.to_ascii_lowercase().as_str(),
        "production" | "prod" | "live"
    )
}

/// The log's verification, flattened for the report's audit section.
fn audit_summary(app: &App) -> Result<Value, ApiError> {
    let v = crate::http::audit_api::verify_grown(app)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "verified".into(),
        json!(if v["ok"] == true { "yes" } else { "NO" }),
    );
    for key in [
        "entries",
        "root",
        "checkpoints",
        "error",
        "index",
        "verified_from_entry",
        "last_full_verification",
    ] {
        if !v[key].is_null() {
            let name = if key == "index" {
                "first_bad_entry"
            } else {
                key
            };
            out.insert(name.into(), v[key].clone());
        }
    }
    if let Some(c) = v["latest_checkpoint"].as_object() {
        out.insert("latest_checkpoint_size".into(), c["size"].clone());
        out.insert("latest_checkpoint_root".into(), c["root"].clone());
    }
    Ok(Value::Object(out))
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
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Admin, "import delivery history")?;
    let source = q.source.unwrap_or_else(|| "(unnamed)".to_owned());
    let by = p.name.clone();
    tokio::task::spawn_blocking(move || import_blocking(&app, &body, &source, &by))
        .await
        .map_err(|e| ApiError::internal(format!("the import stopped: {e}")))?
        .map(Json)
}

fn import_blocking(app: &App, body: &[u8], source: &str, by: &str) -> Result<Value, ApiError> {
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
    Ok(json!({
        "source": source,
        "sha256": sha,
        "records": records.len(),
        "import_id": outcome.import_id,
        "deployments_added": outcome.deployments_added,
        "incidents_added": outcome.incidents_added,
        "incidents_resolved": outcome.incidents_resolved,
        "unchanged": outcome.unchanged,
        "seconds": seconds,
    }))
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
