//! The audit routes: the log's entries, its verification, inclusion and
//! consistency proofs, the latest signed checkpoint and the verifier key,
//! and the compliance report. Each parses, authorizes, calls the reads in
//! `operations/audit.rs` and answers a view of `zion_core::api`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use zion_core::api::{
    AuditEntryView, AuditKey, AuditVerification, CheckpointView, ConsistencyProof, InclusionProof,
};
use zion_store::AuditFilter;

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

type AppState = State<Arc<App>>;

/// The audit routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/audit/entries", get(entries))
        .route("/api/v1/audit/verify", get(verify))
        .route("/api/v1/audit/proof/{index}", get(proof))
        .route("/api/v1/audit/consistency", get(consistency))
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/key", get(key))
        .route("/api/v1/compliance", get(compliance))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    since: Option<String>,
    action: Option<String>,
    subject: Option<String>,
    from: Option<u64>,
    limit: Option<usize>,
}

/// Entries, oldest first, each with its index and its canonical bytes as
/// text (what is hashed), plus the parsed entry.
async fn entries(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    require(&p, Permission::Read, "read the audit log")?;
    let since = q
        .since
        .as_deref()
        .map(|t| crate::http::api::parse_since(t, app.clock.now()))
        .transpose()?;
    let filter = AuditFilter {
        since,
        action: q.action,
        subject: q.subject,
        from_index: q.from,
        limit: Some(q.limit.unwrap_or(1000).min(100_000)),
    };
    Ok(Json(app.audit_entries(&filter)?))
}

/// Recomputes every leaf hash and the root, and checks every stored
/// checkpoint's signature and consistency. 200 either way; `ok` says.
async fn verify(State(app): AppState, Auth(p): Auth) -> Result<Json<AuditVerification>, ApiError> {
    require(&p, Permission::Read, "verify the audit log")?;
    // Minutes of hashing must not hold a runtime thread.
    let out = tokio::task::spawn_blocking(move || app.verify_audit())
        .await
        .map_err(|e| ApiError::internal(format!("verification stopped: {e}")))??;
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplianceQuery {
    since: Option<String>,
}

/// The compliance report, from the audit entries alone, with the log's
/// verification.
async fn compliance(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ComplianceQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read the compliance report")?;
    let since = q
        .since
        .as_deref()
        .map(|t| crate::http::api::parse_since(t, app.clock.now()))
        .transpose()?;
    let report = tokio::task::spawn_blocking(move || app.compliance(since))
        .await
        .map_err(|e| ApiError::internal(format!("the report stopped: {e}")))??;
    // Answered as a map, its keys in the order of their names, as this
    // body has always been written (the report's structs list them in the
    // order the report reads).
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofQuery {
    size: Option<u64>,
}

/// An inclusion proof of entry `index` in the tree of `size` entries (the
/// latest checkpoint's size by default), with that checkpoint's note.
async fn proof(
    State(app): AppState,
    Auth(p): Auth,
    Path(index): Path<u64>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    Ok(Json(app.audit_proof(index, q.size)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// A consistency proof between two tree sizes, with both roots.
async fn consistency(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    Ok(Json(app.audit_consistency(q.old, q.new)?))
}

/// The latest signed checkpoint.
async fn checkpoint(State(app): AppState, Auth(p): Auth) -> Result<Json<CheckpointView>, ApiError> {
    require(&p, Permission::Read, "read audit checkpoints")?;
    Ok(Json(app.audit_checkpoint()?))
}

/// The key that verifies the checkpoints.
async fn key(State(app): AppState, Auth(p): Auth) -> Result<Json<AuditKey>, ApiError> {
    require(&p, Permission::Read, "read the audit key")?;
    Ok(Json(AuditKey {
        origin: app.journal.audit.origin().to_string(),
        verifier_key: app.journal.audit.verifier_key(),
    }))
}
