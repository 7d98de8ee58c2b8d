//! The audit entry: one leaf of the log. The leaf data is exactly the
//! entry's canonical JSON, so anyone can recompute a leaf hash from the
//! entry alone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{write_str, write_value};
use crate::hash::{Hash, leaf_hash};

/// Why bytes are not an audit entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("not an audit entry: {0}")]
    Json(String),
    #[error("entry time {0:?} is not an RFC 3339 time in UTC (ending in Z)")]
    Time(String),
    #[error("the entry is valid JSON but not in canonical form")]
    NotCanonical,
}

/// One recorded change: who did what to which subject, when, and the
/// change's details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The entry's index in the log, from 0.
    pub seq: u64,
    /// When, as RFC 3339 in UTC (`2026-05-01T12:00:00Z`).
    pub time: String,
    /// The principal or component that made the change.
    pub actor: String,
    /// What was done (`deployment.created`, `approval.granted`…).
    pub action: String,
    /// What it was done to (`deployment/42`, `token/ci`…).
    pub subject: String,
    /// Anything else worth keeping, as JSON.
    pub details: Value,
}

impl Entry {
    /// An entry at `time` (written as RFC 3339 UTC).
    pub fn new(
        seq: u64,
        time: jiff::Timestamp,
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        details: Value,
    ) -> Self {
        Self {
            seq,
            time: time.to_string(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        }
    }

    /// The canonical JSON: the log's leaf data for this entry.
    pub fn canonical_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        // The fields in byte order of their names.
        out.extend_from_slice(b"{\"action\":");
        write_str(&mut out, &self.action);
        out.extend_from_slice(b",\"actor\":");
        write_str(&mut out, &self.actor);
        out.extend_from_slice(b",\"details\":");
        write_value(&mut out, &self.details);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"subject\":");
        write_str(&mut out, &self.subject);
        out.extend_from_slice(b",\"time\":");
        write_str(&mut out, &self.time);
        out.push(b'}');
        out
    }

    /// The entry's leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.canonical_json())
    }

    /// The entry's time.
    pub fn timestamp(&self) -> Result<jiff::Timestamp, EntryError> {
        if !self.time.ends_with('Z') {
            return Err(EntryError::Time(self.time.clone()));
        }
        self.time
            .parse()
            .map_err(|_| EntryError::Time(self.time.clone()))
    }

    /// Parses an entry from any JSON form of it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry: Self =
            serde_json::from_slice(bytes).map_err(|e| EntryError::Json(e.to_string()))?;
        entry.timestamp()?;
        Ok(entry)
    }

    /// Parses an entry and checks that `bytes` are its canonical form, as
    /// log leaves must be.
    pub fn from_canonical_json(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry = Self::from_json(bytes)?;
        if entry.canonical_json() != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Entry {
        Entry::new(
            7,
            "2026-05-01T12:00:00Z".parse().unwrap(),
            "alice",
            "deployment.created",
            "deployment/42",
            json!({"version": "1.4.2", "env": "production", "weights": [5, 25]}),
        )
    }

    #[test]
    fn canonical_form_is_sorted_and_compact() {
        let bytes = sample().canonical_json();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"action":"deployment.created","actor":"alice","details":{"env":"production","version":"1.4.2","weights":[5,25]},"seq":7,"subject":"deployment/42","time":"2026-05-01T12:00:00Z"}"#
        );
    }

    #[test]
    fn round_trips_and_checks_canonical_form() {
        let e = sample();
        let bytes = e.canonical_json();
        assert_eq!(Entry::from_canonical_json(&bytes).unwrap(), e);
        assert_eq!(e.leaf_hash(), leaf_hash(&bytes));
        let pretty = serde_json::to_vec_pretty(&e).unwrap();
        assert_eq!(Entry::from_json(&pretty).unwrap(), e);
        assert_eq!(
            Entry::from_canonical_json(&pretty),
            Err(EntryError::NotCanonical)
        );
    }

    #[test]
    fn rejects_unknown_fields_and_bad_times() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["extra"] = json!(1);
        assert!(matches!(
            Entry::from_json(&serde_json::to_vec(&v).unwrap()),
            Err(EntryError::Json(_))
        ));
        let mut e = sample();
        e.time = "2026-05-01T14:00:00+02:00".into();
        assert_eq!(
            Entry::from_json(&e.canonical_json()),
            Err(EntryError::Time(e.time.clone()))
        );
        e.time = "yesterday".into();
        assert!(matches!(
            Entry::from_json(&e.canonical_json()),
            Err(EntryError::Time(_))
        ));
    }

    #[test]
    fn any_field_change_changes_the_leaf() {
        let base = sample().leaf_hash();
        let mut e = sample();
        e.seq += 1;
        assert_ne!(e.leaf_hash(), base);
        let mut e = sample();
        e.details["version"] = json!("1.4.3");
        assert_ne!(e.leaf_hash(), base);
        let mut e = sample();
        e.actor.push(' ');
        assert_ne!(e.leaf_hash(), base);
    }
}
