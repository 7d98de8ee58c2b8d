//! The audit routes: the log's entries, its verification, inclusion and
//! consistency proofs, the latest signed checkpoint and the verifier key,
//! the export bundle as one download, and the compliance report. Each parses, authorizes, calls the reads in
//! `operations/audit.rs` and answers a view of `zion_core::api`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{
    AuditEntryView, AuditKey, AuditVerification, CheckpointView, ConsistencyProof, ErrorBody,
    InclusionProof,
};
use zion_store::AuditFilter;

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

type AppState = State<Arc<App>>;

/// The audit routes, merged into the API router.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(entries))
        .routes(routes!(verify))
        .routes(routes!(proof))
        .routes(routes!(consistency))
        .routes(routes!(checkpoint))
        .routes(routes!(key))
        .routes(routes!(export))
        .routes(routes!(compliance))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EntriesQuery {
    /// Recorded since: `30d`, `24h` (ago), a date or an RFC 3339 time.
    since: Option<String>,
    /// Only entries of this action (`deployment.create`…).
    action: Option<String>,
    /// Only entries about this subject (`deployment/7`…).
    subject: Option<String>,
    /// From this 0-based index on.
    from: Option<u64>,
    /// At most this many (1,000 by default, 100,000 at most).
    limit: Option<usize>,
}

/// Entries, oldest first, each with its index and its canonical bytes as
/// text (what is hashed), plus the parsed entry.
#[utoipa::path(
    get,
    path = "/api/v1/audit/entries",
    params(EntriesQuery),
    responses(
        (status = 200, description = "The entries, oldest first", body = Vec<AuditEntryView>),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
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
        // No entry lies beyond the largest index the store can hold:
        // asking from past it is an empty answer, not a store error.
        from_index: q.from.map(|f| f.min(i64::MAX.unsigned_abs())),
        limit: Some(q.limit.unwrap_or(1000).min(100_000)),
    };
    Ok(Json(app.audit_entries(&filter)?))
}

/// Recomputes every leaf hash and the root, and checks every stored
/// checkpoint's signature and consistency. 200 either way; `ok` says.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    responses(
        (status = 200, description = "The verification, whether it passed (`ok`) or not", body = AuditVerification),
        crate::http::openapi::Refusals,
    )
)]
async fn verify(State(app): AppState, Auth(p): Auth) -> Result<Json<AuditVerification>, ApiError> {
    require(&p, Permission::Read, "verify the audit log")?;
    // Minutes of hashing must not hold a runtime thread.
    let out = tokio::task::spawn_blocking(move || app.verify_audit())
        .await
        .map_err(|e| ApiError::internal(format!("verification stopped: {e}")))??;
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ComplianceQuery {
    /// Over entries since: `30d`, `24h` (ago), a date or an RFC 3339 time.
    since: Option<String>,
}

/// The compliance report, from the audit entries alone, with the log's
/// verification.
#[utoipa::path(
    get,
    path = "/api/v1/compliance",
    params(ComplianceQuery),
    responses(
        (status = 200, description = "The compliance report", body = Object),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ProofQuery {
    /// The tree's size (the latest checkpoint's by default).
    size: Option<u64>,
}

/// An inclusion proof of entry `index` in the tree of `size` entries (the
/// latest checkpoint's size by default), with that checkpoint's note.
#[utoipa::path(
    get,
    path = "/api/v1/audit/proof/{index}",
    params(
        ("index" = u64, Path, description = "The entry's 0-based index"),
        ProofQuery,
    ),
    responses(
        (status = 200, description = "The inclusion proof, with the checkpoint at that size", body = InclusionProof),
        (status = 400, description = "The index or size is not valid, or the index is not in the tree", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No checkpoint at that size yet", body = ErrorBody),
    )
)]
async fn proof(
    State(app): AppState,
    Auth(p): Auth,
    Path(index): Path<u64>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    Ok(Json(app.audit_proof(index, q.size)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The older tree's size.
    old: u64,
    /// The newer tree's size.
    new: u64,
}

/// A consistency proof between two tree sizes, with both roots.
#[utoipa::path(
    get,
    path = "/api/v1/audit/consistency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The consistency proof, with both roots", body = ConsistencyProof),
        (status = 400, description = "The sizes are missing, not numbers, or not 0 < old <= new <= the log's size", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn consistency(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    Ok(Json(app.audit_consistency(q.old, q.new)?))
}

/// The latest signed checkpoint.
#[utoipa::path(
    get,
    path = "/api/v1/audit/checkpoint",
    responses(
        (status = 200, description = "The latest signed checkpoint", body = CheckpointView),
        crate::http::openapi::Refusals,
        (status = 404, description = "No checkpoint signed yet", body = ErrorBody),
    )
)]
async fn checkpoint(State(app): AppState, Auth(p): Auth) -> Result<Json<CheckpointView>, ApiError> {
    require(&p, Permission::Read, "read audit checkpoints")?;
    Ok(Json(app.audit_checkpoint()?))
}

/// The key that verifies the checkpoints.
#[utoipa::path(
    get,
    path = "/api/v1/audit/key",
    responses(
        (status = 200, description = "The verifier key and the log's origin", body = AuditKey),
        crate::http::openapi::Refusals,
    )
)]
async fn key(State(app): AppState, Auth(p): Auth) -> Result<Json<AuditKey>, ApiError> {
    require(&p, Permission::Read, "read the audit key")?;
    Ok(Json(AuditKey {
        origin: app.journal.audit.origin().to_string(),
        verifier_key: app.journal.audit.verifier_key(),
    }))
}

/// The export bundle as a tar archive, to download: `entries.jsonl`,
/// `checkpoint` and `verifier.key` in a folder `zion-audit-bundle`, which
/// `zion audit verify --bundle` checks once unpacked. The entries are the
/// ones the latest checkpoint covers.
#[utoipa::path(
    get,
    path = "/api/v1/audit/export",
    responses(
        (status = 200, description = "The bundle, as an attachment named `zion-audit-<size>.tar`", content_type = "application/x-tar", body = String),
        crate::http::openapi::Refusals,
        (status = 404, description = "No checkpoint signed yet", body = ErrorBody),
    )
)]
async fn export(State(app): AppState, Auth(p): Auth) -> Result<Response, ApiError> {
    require(&p, Permission::Read, "export the audit log")?;
    // Reading and packing every entry must not hold a runtime thread.
    let (size, archive) = tokio::task::spawn_blocking(move || app.audit_export())
        .await
        .map_err(|e| ApiError::internal(format!("the export stopped: {e}")))??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"zion-audit-{size}.tar\""),
            ),
        ],
        archive,
    )
        .into_response())
}
