//! The audit routes' bodies (`/api/v1/audit/…`): the log's entries, its
//! verification, proofs, the latest checkpoint and the verifier key.
//!
//! Each struct lists its fields in the order of their names: the order
//! these bodies had on the wire when they were built as JSON maps, kept so
//! that no byte of the API changed when they were typed. The signed bytes
//! themselves are never re-encoded here: an entry travels as its canonical
//! text, beside its parsed fields.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of the log, as `GET /api/v1/audit/entries` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryView {
    /// The entry's canonical JSON, as stored: what is hashed and signed.
    pub canonical: String,
    /// Its fields; None when the stored bytes are not an entry (a row
    /// altered in the database, which verification reports).
    pub entry: Option<AuditEntryFields>,
    /// Its 0-based index in the log.
    pub index: u64,
}

/// What one audit entry says (the fields of `zion_audit::Entry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryFields {
    /// The audit action's name (`deployment.create`…).
    pub action: String,
    pub actor: String,
    /// Free-form, as recorded.
    pub details: Value,
    pub seq: u64,
    pub subject: String,
    /// RFC 3339 UTC, as signed (kept as text: it is part of the signed bytes).
    pub time: String,
}

/// `GET /api/v1/audit/verify`: the log verified from entry 0, or where it
/// failed. Both answers carry `ok`, so a reader can tell them apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum AuditVerification {
    Verified(Verified),
    Failed(VerificationFailed),
}

/// Every entry and every kept checkpoint verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verified {
    /// How many signed checkpoints are kept.
    pub checkpoints: usize,
    pub entries: u64,
    /// When the log was last verified from entry 0.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_full_verification: Timestamp,
    pub latest_checkpoint: Option<TreeHead>,
    /// Always true.
    pub ok: bool,
    /// The tree's root, hex.
    pub root: String,
    /// Where this verification started (0 for a full one).
    pub verified_from_entry: u64,
}

/// The log does not verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationFailed {
    pub error: String,
    /// The first bad entry, when one is to blame.
    pub index: Option<u64>,
    /// Always false.
    pub ok: bool,
}

impl AuditVerification {
    /// A clean verification.
    pub fn verified(v: Verified) -> Self {
        AuditVerification::Verified(Verified { ok: true, ..v })
    }

    /// A failed verification, at `index` when one entry is to blame.
    pub fn failed(error: String, index: Option<u64>) -> Self {
        AuditVerification::Failed(VerificationFailed {
            error,
            index,
            ok: false,
        })
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, AuditVerification::Verified(_))
    }
}

/// A signed tree head: its size and root (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeHead {
    pub root: String,
    pub size: u64,
}

/// `GET /api/v1/audit/proof/{index}`: an inclusion proof, with the signed
/// note of the tree it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    /// The signed checkpoint at `tree_size`.
    pub checkpoint: String,
    pub index: u64,
    pub leaf_hash: String,
    /// The audit path, hex, leaf to root.
    pub proof: Vec<String>,
    pub tree_size: u64,
}

/// `GET /api/v1/audit/consistency`: a consistency proof between two tree
/// sizes, with both roots and the signed notes at those sizes, where kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub new_checkpoint: Option<String>,
    pub new_root: String,
    pub new_size: u64,
    pub old_checkpoint: Option<String>,
    pub old_root: String,
    pub old_size: u64,
    pub proof: Vec<String>,
}

/// `GET /api/v1/audit/checkpoint`: the latest signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointView {
    /// The signed note, as a verifier reads it.
    pub note: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub signed_at: Timestamp,
    pub size: u64,
}

/// `GET /api/v1/audit/key`: the key that verifies the checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKey {
    pub origin: String,
    pub verifier_key: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_verifications_read_back_as_written() {
        let ok = json!({
            "checkpoints": 2, "entries": 7, "last_full_verification": "2026-01-02T03:04:05Z",
            "latest_checkpoint": null, "ok": true, "root": "ab", "verified_from_entry": 0
        });
        let v: AuditVerification = serde_json::from_value(ok.clone()).unwrap();
        assert!(v.is_ok());
        assert_eq!(serde_json::to_value(&v).unwrap(), ok);
        let bad = json!({ "error": "entry 3 was altered", "index": 3, "ok": false });
        let v: AuditVerification = serde_json::from_value(bad.clone()).unwrap();
        assert!(!v.is_ok());
        assert_eq!(serde_json::to_value(&v).unwrap(), bad);
        let none = AuditVerification::failed("no checkpoint".into(), None);
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"error":"no checkpoint","index":null,"ok":false}"#
        );
    }

    #[test]
    fn fields_are_written_in_the_order_of_their_names() {
        let key = AuditKey {
            origin: "zion/test".into(),
            verifier_key: "k".into(),
        };
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"{"origin":"zion/test","verifier_key":"k"}"#
        );
        let e = AuditEntryView {
            canonical: "{}".into(),
            entry: None,
            index: 0,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"canonical":"{}","entry":null,"index":0}"#
        );
    }
}
