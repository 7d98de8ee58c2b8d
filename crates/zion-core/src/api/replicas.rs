//! The replicas of Zion on one database, as `GET /api/v1/replicas`
//! (`zion replicas`) returns them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One replica of Zion (one `zion up`) that shares the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaView {
    /// Its id: its data directory's (`replica.id` there).
    pub id: String,
    /// Its last heartbeat, by the database's clock.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_heartbeat: Timestamp,
    /// Seconds since that heartbeat when the list was read.
    pub heartbeat_age_seconds: f64,
    /// Whether its heartbeat is younger than the lease time: a replica
    /// that is not live is counted out and its targets go to the others.
    pub live: bool,
    /// How many targets it holds the live lease of.
    pub targets: usize,
    /// Whether it is the replica that answered.
    pub answering: bool,
}
