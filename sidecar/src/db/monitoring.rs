//! What the alert watcher reads: each mapping's state (`sfsync.mapping`) and queue
//! (`sfsync._queue_depth()`, what the writer's gauges read), the drift of the last reconciliation
//! (`sfsync.status()`, read only after a reconciliation: it counts the rows of every mapped table) and
//! the changes that failed since a point in time (`sfsync._failures_since`, `sql/monitoring.sql`). Times cross
//! the wire as whole microseconds since the Unix epoch, so a cursor handed back is exactly the
//! database's value (a float or a formatted text could round it and read a failure twice).

use std::collections::HashMap;

use serde_json::{Map, Value};
use sfsync_protocol::MappingState;
use tokio_postgres::Client;

use super::DbError;

/// The most errors `_failures_since` lists per mapping.
pub const MAX_ERRORS_PER_MAPPING: i32 = 100;

/// One mapping's health.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingHealth {
    pub object_name: String,
    pub state: MappingState,
    pub state_detail: Option<String>,
    pub pending: i64,
    /// Age of the oldest queued change, in seconds; None when nothing is queued.
    pub lag_seconds: Option<f64>,
    /// Drift found by the last reconciliation that finished without error (see [`Drift`]).
    pub drift: Drift,
    /// When that reconciliation finished, in microseconds since the epoch.
    pub last_reconciled_at: Option<i64>,
}

/// What the last reconciliation found, as `sfsync.status()` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drift {
    /// In all.
    pub found: Option<i64>,
    /// Per kind (`{"missing": 4, "stale": 2, ...}`).
    pub kinds: Option<Map<String, Value>>,
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

/// Every mapping of the session's schema, with its drift left at the default (see [`drift`]).
pub async fn mapping_health(client: &Client) -> Result<Vec<MappingHealth>, DbError> {
    let rows = client
        .query(
            "SELECT q.object_name, m.state, m.state_detail, q.queued + q.in_flight,
                    CASE WHEN q.queued + q.in_flight > 0 THEN q.oldest_age_seconds END,
                    (extract(epoch FROM m.last_reconciled_at) * 1000000)::bigint
               FROM sfsync._queue_depth() q
               JOIN sfsync.mapping m ON m.id = q.mapping_id",
            &[],
        )
        .await
        .map_err(query_error(
            "reading the mappings' state and queue for alerts",
        ))?;
    rows.into_iter()
        .map(|row| {
            Ok(MappingHealth {
                object_name: row.get(0),
                state: row
                    .get::<_, String>(1)
                    .parse()
                    .map_err(|source| DbError::UnknownWord {
                        what: "a mapping's state in sfsync.mapping",
                        source,
                    })?,
                state_detail: row.get(2),
                pending: row.get(3),
                lag_seconds: row.get(4),
                drift: Drift::default(),
                last_reconciled_at: row.get(5),
            })
        })
        .collect()
}

/// Each mapping's drift (by object name), from `sfsync.status()`.
pub async fn drift(client: &Client) -> Result<HashMap<String, Drift>, DbError> {
    let rows = client
        .query(
            "SELECT object_name, drift, drift_kinds::text FROM sfsync.status()",
            &[],
        )
        .await
        .map_err(query_error("reading the drift in sfsync.status()"))?;
    rows.into_iter()
        .map(|row| {
            let kinds: Option<String> = row.get(2);
            let kinds = kinds
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|source| DbError::Decode {
                    what: "drift_kinds of sfsync.status()",
                    source,
                })?;
            Ok((
                row.get(0),
                Drift {
                    found: row.get(1),
                    kinds,
                },
            ))
        })
        .collect()
}

/// Changes that became FAILED strictly after `since` (microseconds since the epoch), per mapping,
/// with the first `per_mapping` of them listed.
pub async fn failures_since(
    client: &Client,
    since: i64,
    per_mapping: i32,
) -> Result<Vec<MappingFailures>, DbError> {
    let rows = client
        .query(
            "SELECT object_name, failed,
                    (extract(epoch FROM first_failed_at) * 1000000)::bigint,
                    (extract(epoch FROM last_failed_at) * 1000000)::bigint,
                    errors::text
               FROM sfsync._failures_since('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2)
              ORDER BY object_name",
            &[&since, &per_mapping],
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
