//! The writer's side of the queue protocol (`docs/protocol.md`): claim, renew, complete and purge,
//! plus the queue figures `status`, metrics and the Bulk decision read. JSON crosses the wire as text
//! so numbers keep their exact digits.

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};
use sfsync_protocol::{Access, ChangeResult, MappingState};
use tokio_postgres::Client;

use super::DbError;

/// Prepares a connection for the queue protocol. JIT is turned off: the queue functions steer the
/// planner away from sequential scans, which inflates cost estimates past `jit_above_cost`, and JIT
/// compilation then adds ~50 ms to every call (more than a claim of 200 changes costs).
pub async fn prepare_session(client: &Client) -> Result<(), DbError> {
    client
        .batch_execute("SET jit = off")
        .await
        .map_err(query_error("preparing the queue session"))
}

/// Prepares the connection that claims: as [`prepare_session`], and each claim is planned with its
/// real arguments. The statements inside `_claim_changes` are cached per connection; after a few
/// claims of an empty queue Postgres settles on a generic plan that turns the first claim of a large
/// backlog into a quadratic scan (18 s instead of 60 ms for 1,600 of 40,000 queued changes).
pub async fn prepare_claim_session(client: &Client) -> Result<(), DbError> {
    prepare_session(client).await?;
    client
        .batch_execute("SET plan_cache_mode = force_custom_plan")
        .await
        .map_err(query_error("preparing the claim session"))
}

/// One row of `sfsync._claim_changes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRow {
    pub change_id: i64,
    pub mapping_id: i64,
    pub record_id: i64,
    pub action: String,
    pub sfid: Option<String>,
    pub values: Option<Map<String, Value>>,
    pub old: Option<Map<String, Value>>,
    pub record: Option<Map<String, Value>>,
    pub attempts: i32,
    pub lease_token: String,
    /// `created_at` as seconds since the Unix epoch (the database's clock).
    pub created_at_epoch: f64,
}

fn query_error(what: &'static str) -> impl Fn(tokio_postgres::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

fn json_object(
    what: &'static str,
    text: Option<String>,
) -> Result<Option<Map<String, Value>>, DbError> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<Value>(&text).map_err(|source| DbError::Decode { what, source })? {
        Value::Object(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        _ => Ok(None),
    }
}

/// Claims up to `batch` records' worth of changes (optionally of one mapping) under a fresh lease.
pub async fn claim_changes(
    client: &Client,
    batch: i32,
    lease_seconds: i32,
    mapping: Option<i64>,
) -> Result<Vec<ClaimedRow>, DbError> {
    let rows = client
        .query(
            "SELECT change_id, mapping_id, record_id, action, sfid::text, \"values\"::text, old::text,
                    record::text, attempts, lease_token::text,
                    extract(epoch FROM created_at)::float8
               FROM sfsync._claim_changes($1, $2, $3)",
            &[&batch, &lease_seconds, &mapping],
        )
        .await
        .map_err(query_error("claiming changes (sfsync._claim_changes)"))?;
    rows.into_iter()
        .map(|row| {
            Ok(ClaimedRow {
                change_id: row.get(0),
                mapping_id: row.get(1),
                record_id: row.get(2),
                action: row.get(3),
                sfid: row.get(4),
                values: json_object("a claimed change's values", row.get(5))?,
                old: json_object("a claimed change's old values", row.get(6))?,
                record: json_object("a claimed change's record", row.get(7))?,
                attempts: row.get(8),
                lease_token: row.get(9),
                created_at_epoch: row.get(10),
            })
        })
        .collect()
}

/// Extends the lease of every change held under `token`; returns how many are still held.
pub async fn renew_leases(
    client: &Client,
    token: &str,
    lease_seconds: i32,
) -> Result<i32, DbError> {
    let row = client
        .query_one(
            "SELECT sfsync._renew_leases($1::text::uuid, $2)",
            &[&token, &lease_seconds],
        )
        .await
        .map_err(query_error("renewing leases (sfsync._renew_leases)"))?;
    Ok(row.get(0))
}

/// What `_complete_changes` reports: how many results it applied and which it ignored (fenced).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub applied: i64,
    pub ignored: Vec<i64>,
}

/// Whether the parent a child of `mapping` refers to (`object`'s external id `field` = `value`) has a
/// change queued or in flight (`sfsync._parent_pending`).
pub async fn parent_is_pending(
    client: &Client,
    mapping: i64,
    object: &str,
    field: &str,
    value: &str,
) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT sfsync._parent_pending($1, $2, $3, $4)",
            &[&mapping, &object, &field, &value],
        )
        .await
        .map_err(query_error(
            "asking whether a parent is on its way (sfsync._parent_pending)",
        ))?;
    Ok(row.get(0))
}

/// Records per-change results (`[{"id","token","outcome",...}]`, see the protocol).
pub async fn complete_changes(
    client: &Client,
    results: &[ChangeResult],
    max_attempts: i32,
) -> Result<Completion, DbError> {
    let text = serde_json::to_string(results).map_err(|source| DbError::Decode {
        what: "the change results for sfsync._complete_changes",
        source,
    })?;
    let row = client
        .query_one(
            "SELECT sfsync._complete_changes($1::text::jsonb, $2)::text",
            &[&text, &max_attempts],
        )
        .await
        .map_err(query_error("completing changes (sfsync._complete_changes)"))?;
    let summary: Value =
        serde_json::from_str(row.get::<_, &str>(0)).map_err(|source| DbError::Decode {
            what: "the result of sfsync._complete_changes",
            source,
        })?;
    Ok(Completion {
        applied: summary["applied"]
            .as_i64()
            .or_else(|| summary["applied"].to_string().parse().ok())
            .unwrap_or(0),
        ignored: summary["ignored"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_i64().or_else(|| id.to_string().parse().ok()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Deletes archived changes older than `retention_days`; returns how many went.
pub async fn purge_archive(client: &Client, retention_days: u32) -> Result<i64, DbError> {
    let days = i32::try_from(retention_days).unwrap_or(i32::MAX);
    let row = client
        .query_one(
            "SELECT sfsync._purge_archive(make_interval(days => $1))",
            &[&days],
        )
        .await
        .map_err(query_error("purging the archive (sfsync._purge_archive)"))?;
    Ok(row.get(0))
}

/// This database's instance id, for `Sforce-Call-Options: client=sfsync-<id>`.
pub async fn instance_id(client: &Client) -> Result<String, DbError> {
    let row = client
        .query_one("SELECT sfsync._instance_id()", &[])
        .await
        .map_err(query_error("reading sfsync._instance_id()"))?;
    Ok(row.get(0))
}

/// Queue figures of one mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDepth {
    pub mapping_id: i64,
    pub schema: String,
    pub object: String,
    pub queued: i64,
    pub in_flight: i64,
    pub oldest_age_seconds: f64,
}

/// Per mapping of the session's schema (every mapping, so drained ones read zero): changes waiting
/// (NEW) and being written (PENDING), and the age of the oldest of them.
pub async fn queue_depth(client: &Client) -> Result<Vec<QueueDepth>, DbError> {
    let rows = client
        .query(
            "SELECT mapping_id, schema_name, object_name, queued, in_flight, oldest_age_seconds
               FROM sfsync._queue_depth()",
            &[],
        )
        .await
        .map_err(query_error("reading the queue depth"))?;
    Ok(rows
        .into_iter()
        .map(|row| QueueDepth {
            mapping_id: row.get(0),
            schema: row.get(1),
            object: row.get(2),
            queued: row.get(3),
            in_flight: row.get(4),
            oldest_age_seconds: row.get(5),
        })
        .collect())
}

/// Queued work of one mapping that Bulk API 2.0 could carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub mapping_id: i64,
    /// Queued INSERTs whose values carry `upsert_column` (zero without one).
    pub creates_with_external_id: i64,
    /// Queued UPDATEs and DELETEs of records that have an sfid.
    pub changes_by_id: i64,
}

/// The backlog of each mapping with queued changes. `upsert_columns` pairs mapping ids with the
/// column of their upsert field.
pub async fn backlog(
    client: &Client,
    upsert_columns: &[(i64, String)],
) -> Result<Vec<Backlog>, DbError> {
    let mapping_ids: Vec<i64> = upsert_columns.iter().map(|(id, _)| *id).collect();
    let columns: Vec<String> = upsert_columns
        .iter()
        .map(|(_, column)| column.clone())
        .collect();
    let rows = client
        .query(
            "SELECT mapping_id, creates_with_external_id, changes_by_id
               FROM sfsync._backlog($1::bigint[], $2::text[])",
            &[&mapping_ids, &columns],
        )
        .await
        .map_err(query_error("measuring the queue backlog"))?;
    Ok(rows
        .into_iter()
        .map(|row| Backlog {
            mapping_id: row.get(0),
            creates_with_external_id: row.get(1),
            changes_by_id: row.get(2),
        })
        .collect())
}

/// One row of `sfsync.status()`.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingStatus {
    pub schema: String,
    pub object_name: String,
    pub table_name: String,
    pub access: Access,
    pub state: MappingState,
    pub state_detail: Option<String>,
    pub rows: Option<i64>,
    pub pending: i64,
    pub failed: i64,
    pub last_read_at: Option<String>,
    pub last_write_at: Option<String>,
    pub lag_seconds: Option<f64>,
}

/// Every mapping's status, as the extension reports it.
pub async fn mapping_status(client: &Client) -> Result<Vec<MappingStatus>, DbError> {
    let rows = client
        .query(
            "SELECT schema, object_name, table_name, access, state, state_detail, rows, pending, failed,
                    to_char(last_read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    to_char(last_write_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    lag_seconds
               FROM sfsync.status()",
            &[],
        )
        .await
        .map_err(query_error("reading sfsync.status()"))?;
    let word = |what: &'static str| move |source| DbError::UnknownWord { what, source };
    rows.into_iter()
        .map(|row| {
            Ok(MappingStatus {
                schema: row.get(0),
                object_name: row.get(1),
                table_name: row.get(2),
                access: row
                    .get::<_, String>(3)
                    .parse()
                    .map_err(word("a mapping's access in sfsync.status()"))?,
                state: row
                    .get::<_, String>(4)
                    .parse()
                    .map_err(word("a mapping's state in sfsync.status()"))?,
                state_detail: row.get(5),
                rows: row.get(6),
                pending: row.get(7),
                failed: row.get(8),
                last_read_at: row.get(9),
                last_write_at: row.get(10),
                lag_seconds: row.get(11),
            })
        })
        .collect()
}

/// Runs a database step again when Postgres aborted it for a deadlock or a serialization failure
/// (it did nothing, so running it again is safe), up to `attempts` times.
pub async fn retry_conflicts<T, F, Fut>(attempts: u32, mut step: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Err(error) if error.is_retryable_conflict() && attempt + 1 < attempts => {
                attempt += 1;
                let pause = Duration::from_millis(10 * u64::from(attempt))
                    + Duration::from_micros(rand::random::<u64>() % 20_000);
                tracing::debug!(error = %crate::error_chain(&error), attempt, "database conflict; running the step again");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}
