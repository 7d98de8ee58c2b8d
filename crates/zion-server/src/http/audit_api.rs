//! The audit routes: the log's entries, its verification, inclusion and
//! consistency proofs, the latest signed checkpoint and the verifier key.
//! Everything here is read from the store, so a row altered in the
//! database file is seen as it is.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use zion_audit::hash::to_hex;
use zion_audit::{LogVerifier, VerifiedPrefix, consistency_proof, inclusion_proof, root_at};
use zion_store::AuditFilter;

use crate::app::App;
use crate::audit::StoreNodes;
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
) -> Result<Json<Value>, ApiError> {
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
    let list: Vec<Value> = app
        .store
        .audit_entries(&filter)?
        .into_iter()
        .map(|e| {
            let text = String::from_utf8_lossy(&e.entry).to_string();
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            json!({ "index": e.index, "canonical": text, "entry": parsed })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Recomputes every leaf hash and the root, and checks every stored
/// checkpoint's signature and consistency. 200 either way; `ok` says.
async fn verify(State(app): AppState, Auth(p): Auth) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "verify the audit log")?;
    let app2 = app.clone();
    // Minutes of hashing must not hold a runtime thread.
    let out = tokio::task::spawn_blocking(move || verify_blocking(&app2))
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
    let app2 = app.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let v = verify_blocking(&app2)?;
        let integrity = zion_core::compliance::Integrity {
            ok: v["ok"] == true,
            error: v["error"].as_str().map(str::to_string),
            entries: v["entries"].as_u64().unwrap_or(0),
            checkpoint_size: v["latest_checkpoint"]["size"].as_u64(),
            checkpoint_root: v["latest_checkpoint"]["root"].as_str().map(str::to_string),
        };
        // Only the period's entries are read (by the indexed time): the
        // report judges nothing before `since`.
        let facts = facts(
            &app2,
            &AuditFilter {
                since,
                ..AuditFilter::default()
            },
        )?;
        let report = zion_core::compliance::report(&facts, since, integrity);
        Ok(serde_json::to_value(report).unwrap_or_default())
    })
    .await
    .map_err(|e| ApiError::internal(format!("the report stopped: {e}")))??;
    Ok(Json(out))
}

/// The entries `filter` selects, parsed for the reports that read them
/// (an entry that does not parse is the verifier's to report, not theirs;
/// an action this version does not know is read as none).
pub(crate) fn facts(
    app: &App,
    filter: &AuditFilter,
) -> Result<Vec<zion_core::compliance::Fact>, ApiError> {
    Ok(app
        .store
        .audit_entries(filter)?
        .into_iter()
        .filter_map(|e| {
            let x = zion_audit::Entry::from_json(&e.entry).ok()?;
            Some(zion_core::compliance::Fact {
                index: e.index,
                time: x.timestamp().ok()?,
                actor: x.actor,
                action: x.action.parse().ok(),
                subject: x.subject,
                details: x.details,
            })
        })
        .collect())
}

/// Verifies the whole log, from entry 0: every entry, every checkpoint.
pub(crate) fn verify_blocking(app: &App) -> Result<Value, ApiError> {
    let (generation, _) = app.journal.audit.verified();
    verify_from(app, None, generation)
}

/// Verifies what was appended since the last successful verification, or
/// the whole log when there was none since the start (or the log shrank).
/// For the delivery report, which would otherwise re-verify a log of
/// millions of entries on every request; `zion audit verify` is always full.
pub(crate) fn verify_grown(app: &App) -> Result<Value, ApiError> {
    let (generation, last) = app.journal.audit.verified();
    verify_from(app, last, generation)
}

/// What one verification read: its outcome (with the first bad entry on
/// failure), the prefix to resume from next, where it started, and how
/// many checkpoints are kept.
type Read = (
    Result<zion_audit::VerifyReport, (zion_audit::VerifyError, Option<u64>)>,
    Option<VerifiedPrefix>,
    u64,
    usize,
);

/// Verifies from `prefix` (from entry 0 without one), reading the
/// checkpoints and the entries in one snapshot of the store, so that an
/// append committing meanwhile is seen whole or not at all.
fn verify_from(
    app: &App,
    prefix: Option<(VerifiedPrefix, Timestamp)>,
    generation: u64,
) -> Result<Value, ApiError> {
    let verifier = app.journal.audit.verifier();
    let mut result: Option<Read> = None;
    let mut prefix = prefix;
    app.store.audit_snapshot(&mut |snap| {
        let stored = snap.checkpoints()?;
        // A log whose checkpoints shrank below the prefix is read again
        // from the start.
        let latest = stored.last().map_or(0, |c| c.size);
        if prefix.as_ref().is_some_and(|(p, _)| p.size() > latest) {
            prefix = None;
        }
        let notes: Vec<&str> = stored.iter().map(|c| c.note.as_str()).collect();
        let from = prefix.as_ref().map_or(0, |(p, _)| p.size());
        let started = match &prefix {
            Some((p, _)) => LogVerifier::resume(&verifier, p, &notes),
            None => LogVerifier::new(&verifier, &notes),
        };
        let mut v = match started {
            Ok(v) => v,
            Err(e) => {
                let index = e.first_bad_index();
                result = Some((Err((e, index)), None, from, stored.len()));
                return Ok(());
            }
        };
        let mut failure = None;
        snap.scan(
            from,
            &mut |e, leaf| match v.push(e.index, &e.entry, leaf.as_ref()) {
                Ok(()) => true,
                Err(err) => {
                    failure = Some((err, e.index));
                    false
                }
            },
        )?;
        result = Some(match failure {
            Some((err, index)) => {
                let first_bad = err.first_bad_index().unwrap_or(index);
                (Err((err, Some(first_bad))), None, from, stored.len())
            }
            None => match v.finish_resumable() {
                Ok((report, next)) => (Ok(report), next, from, stored.len()),
                Err(err) => {
                    let index = err.first_bad_index();
                    (Err((err, index)), None, from, stored.len())
                }
            },
        });
        Ok(())
    })?;
    let Some((outcome, next, from, kept)) = result else {
        return Err(ApiError::internal("the audit log could not be read"));
    };
    match outcome {
        Ok(report) => {
            let full_at = prefix.map_or_else(|| app.clock.now(), |(_, at)| at);
            app.journal
                .audit
                .verification_succeeded(generation, next.map(|n| (n, full_at)));
            Ok(json!({
                "ok": true,
                "entries": report.entries,
                "root": to_hex(&report.root),
                "checkpoints": kept,
                "latest_checkpoint": report.latest.map(|c| json!({"size": c.size(), "root": c.root_hex()})),
                "verified_from_entry": from,
                "last_full_verification": full_at,
            }))
        }
        Err((err, index)) => {
            app.journal.audit.verification_failed();
            Ok(json!({ "ok": false, "error": err.to_string(), "index": index }))
        }
    }
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
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    let checkpoints = app.store.audit_checkpoints()?;
    let Some(latest) = checkpoints.last() else {
        return Err(ApiError::not_found("the audit log is empty"));
    };
    let size = q.size.unwrap_or(latest.size);
    let Some(cp) = checkpoints.iter().find(|c| c.size == size) else {
        let kept: Vec<String> = checkpoints
            .iter()
            .rev()
            .take(5)
            .map(|c| c.size.to_string())
            .collect();
        return Err(ApiError::not_found(format!(
            "no signed checkpoint is kept at size {size}: Zion keeps the latest ({}) and the first signed in each hour (the latest kept: {}); pass one of those to --size",
            latest.size,
            kept.join(", ")
        )));
    };
    if index >= size {
        return Err(ApiError::bad_request(format!(
            "entry {index} is not in a tree of {size} entries (indexes start at 0)"
        )));
    }
    let reader = StoreNodes(app.store.as_ref());
    let hashes =
        inclusion_proof(&reader, index, size).map_err(|e| ApiError::internal(e.to_string()))?;
    let leaf = app
        .store
        .audit_nodes(&[(0, index)])?
        .pop()
        .flatten()
        .ok_or_else(|| ApiError::internal(format!("the leaf hash of entry {index} is missing")))?;
    Ok(Json(json!({
        "index": index,
        "tree_size": size,
        "leaf_hash": to_hex(&leaf),
        "proof": hashes.iter().map(to_hex).collect::<Vec<_>>(),
        "checkpoint": cp.note,
    })))
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
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read audit proofs")?;
    let size = app.store.audit_size()?;
    if q.old > q.new || q.new > size {
        return Err(ApiError::bad_request(format!(
            "need OLD ≤ NEW ≤ {size} (the log's size); got {} and {}",
            q.old, q.new
        )));
    }
    let reader = StoreNodes(app.store.as_ref());
    let internal = |e: zion_audit::TreeError<String>| ApiError::internal(e.to_string());
    let hashes = consistency_proof(&reader, q.old, q.new).map_err(internal)?;
    let old_root = root_at(&reader, q.old).map_err(ApiError::internal)?;
    let new_root = root_at(&reader, q.new).map_err(ApiError::internal)?;
    // The roots above are the stored tree's; the signed notes at those
    // sizes, where kept, are what a verifier should check the proof against.
    let checkpoints = app.store.audit_checkpoints()?;
    let signed = |size: u64| {
        checkpoints
            .iter()
            .find(|c| c.size == size)
            .map(|c| c.note.clone())
    };
    Ok(Json(json!({
        "old_size": q.old,
        "new_size": q.new,
        "old_root": to_hex(&old_root),
        "new_root": to_hex(&new_root),
        "proof": hashes.iter().map(to_hex).collect::<Vec<_>>(),
        "old_checkpoint": signed(q.old),
        "new_checkpoint": signed(q.new),
    })))
}

/// The latest signed checkpoint.
async fn checkpoint(State(app): AppState, Auth(p): Auth) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read audit checkpoints")?;
    let Some(c) = app.store.audit_checkpoints()?.pop() else {
        return Err(ApiError::not_found(
            "the audit log is empty: nothing is signed yet",
        ));
    };
    Ok(Json(
        json!({ "size": c.size, "signed_at": c.signed_at, "note": c.note }),
    ))
}

/// The key that verifies the checkpoints.
async fn key(State(app): AppState, Auth(p): Auth) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read the audit key")?;
    Ok(Json(json!({
        "origin": app.journal.audit.origin(),
        "verifier_key": app.journal.audit.verifier_key(),
    })))
}
