//! What the alert watcher reads: each mapping's health from `sfsync.status()` and the changes that
//! failed since a point in time from `sfsync._failures_since` (`sql/monitoring.sql`). Times cross
//! the wire as whole microseconds since the Unix epoch, so a cursor handed back is exactly the
//! database's value (a float or a formatted text could round it and read a failure twice).

use serde_json::{Map, Value};
use sfsync_protocol::MappingState;
use tokio_postgres::Client;

use super::DbError;

/// How many errors `_failures_since` returns per mapping: an alert quotes at most this many.
pub const ERRORS_PER_MAPPING: i32 = 3;

/// One mapping's health, as `sfsync.status()` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingHealth {
    pub object_name: String,
    pub state: MappingState,
    pub state_detail: Option<String>,
    pub pending: i64,
    /// Age of the oldest queued change, in seconds; None when nothing is queued.
    pub lag_seconds: Option<f64>,
    /// Drift found by the last reconciliation that finished without error, in all.
    pub drift: Option<i64>,
    /// The same, per kind (`{"missing": 4, "stale": 2, ...}`).
    pub drift_kinds: Option<Map<String, Value>>,
    /// When that reconciliation finished, in microseconds since the epoch.
    pub last_reconciled_at: Option<i64>,
}

/// One mapping's changes that became FAILED after the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingFailures {
    pub object_name: String,
    pub failed: i64,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    /// The oldest few failures (`{"change_id","sfid","record_id","action","code","message","fields"}`).
    pub errors: Vec<Value>,
}

fn query_error(what: &'static str) -> impl Fn(tokio_postgres::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

/// The database's clock now, in microseconds since the epoch: where the first failure read starts
/// (failures older than the sidecar's start were someone else's to announce).
pub async fn database_now(client: &Client) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
            &[],
        )
        .await
        .map_err(query_error("reading the database clock"))?;
    Ok(row.get(0))
}

/// Every mapping of the session's schema.
pub async fn mapping_health(client: &Client) -> Result<Vec<MappingHealth>, DbError> {
    let rows = client
        .query(
            "SELECT object_name, state, state_detail, pending, lag_seconds, drift, drift_kinds::text,
                    (extract(epoch FROM last_reconciled_at) * 1000000)::bigint
               FROM sfsync.status()",
            &[],
        )
        .await
        .map_err(query_error("reading sfsync.status() for alerts"))?;
    rows.into_iter()
        .map(|row| {
            let kinds: Option<String> = row.get(6);
            Ok(MappingHealth {
                object_name: row.get(0),
                state: row
                    .get::<_, String>(1)
                    .parse()
                    .map_err(|source| DbError::UnknownWord {
                        what: "a mapping's state in sfsync.status()",
                        source,
                    })?,
                state_detail: row.get(2),
                pending: row.get(3),
                lag_seconds: row.get(4),
                drift: row.get(5),
                drift_kinds: kinds
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|source| DbError::Decode {
                        what: "drift_kinds of sfsync.status()",
                        source,
                    })?,
                last_reconciled_at: row.get(7),
            })
        })
        .collect()
}

/// Changes that became FAILED strictly after `since` (microseconds since the epoch), per mapping.
pub async fn failures_since(client: &Client, since: i64) -> Result<Vec<MappingFailures>, DbError> {
    let rows = client
        .query(
            "SELECT object_name, failed,
                    (extract(epoch FROM first_failed_at) * 1000000)::bigint,
                    (extract(epoch FROM last_failed_at) * 1000000)::bigint,
                    errors::text
               FROM sfsync._failures_since('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2)
              ORDER BY object_name",
            &[&since, &ERRORS_PER_MAPPING],
        )
        .await
        .map_err(query_error("reading sfsync._failures_since()"))?;
    rows.into_iter()
        .map(|row| {
            let errors: Option<String> = row.get(4);
            let errors = match errors {
                Some(text) => serde_json::from_str(&text).map_err(|source| DbError::Decode {
                    what: "errors of sfsync._failures_since()",
                    source,
                })?,
                None => Vec::new(),
            };
            Ok(MappingFailures {
                object_name: row.get(0),
                failed: row.get(1),
                first_failed_at: row.get(2),
                last_failed_at: row.get(3),
                errors,
            })
        })
        .collect()
}
