//! The reader's side of the extension protocol (`docs/protocol.md`, "Reader"): one typed call per
//! SQL function. JSON travels as text so numbers keep their exact digits.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sfsync_protocol::MappingState;
use tokio_postgres::Client;

use super::error::ReaderError;

/// What `_merge_stage` and `_apply_records` report.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct MergeOutcome {
    #[serde(default)]
    pub inserted: i64,
    #[serde(default)]
    pub updated: i64,
    #[serde(default)]
    pub deleted: i64,
    #[serde(default)]
    pub conflicts: i64,
}

impl MergeOutcome {
    pub fn changed(&self) -> i64 {
        self.inserted + self.updated + self.deleted
    }
}

/// What `_create_stage` returns: the staging table and its columns with their SOQL fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Stage {
    pub table: String,
    pub columns: Vec<String>,
    pub fields: Vec<String>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, ReaderError> {
    serde_json::from_str(text).map_err(|source| ReaderError::Decode {
        what: what.to_string(),
        source,
    })
}

pub async fn set_state(
    client: &Client,
    mapping: i64,
    state: MappingState,
    detail: Option<&str>,
) -> Result<(), ReaderError> {
    client
        .execute(
            "SELECT sfsync._set_state($1, $2, $3)",
            &[&mapping, &state.as_str(), &detail],
        )
        .await
        .map_err(ReaderError::query("setting the mapping state"))?;
    Ok(())
}

/// `_install_mapping`: creates or alters the table from the describe; returns nothing the reader
/// needs (it reads the stored plan back).
pub async fn install_mapping(
    client: &Client,
    mapping: i64,
    describe: &Value,
    parents: Option<&Value>,
) -> Result<(), ReaderError> {
    let describe = describe.to_string();
    let parents = parents.map(Value::to_string);
    client
        .execute(
            "SELECT sfsync._install_mapping($1, $2::text::jsonb, $3::text::jsonb)",
            &[&mapping, &describe, &parents],
        )
        .await
        .map_err(ReaderError::query("installing the mapping"))?;
    Ok(())
}

pub async fn set_progress(
    client: &Client,
    mapping: i64,
    expected: i64,
    done: i64,
) -> Result<(), ReaderError> {
    client
        .execute(
            "SELECT sfsync._set_progress($1, $2, $3)",
            &[&mapping, &expected, &done],
        )
        .await
        .map_err(ReaderError::query("recording load progress"))?;
    Ok(())
}

/// When a Salesforce read began, on the database's clock (the clock the queue's completions are
/// stamped with): the merge does not bring back a row whose DELETE reached Salesforce since then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStarted(String);

impl ReadStarted {
    /// Taken just before the read is sent to Salesforce.
    pub async fn now(client: &Client) -> Result<ReadStarted, ReaderError> {
        let row = client
            .query_one("SELECT pg_catalog.clock_timestamp()::text", &[])
            .await
            .map_err(ReaderError::query("reading the database clock"))?;
        Ok(ReadStarted(row.get(0)))
    }
}

/// `_create_stage`: this session's (empty) staging table.
pub async fn create_stage(client: &Client, mapping: i64) -> Result<Stage, ReaderError> {
    let row = client
        .query_one("SELECT sfsync._create_stage($1)::text", &[&mapping])
        .await
        .map_err(ReaderError::query("creating the staging table"))?;
    decode("the staging table description", row.get(0))
}

/// `_merge_stage(mapping, 'apply' | 'reload', absent fields, read started)`: the columns of
/// `absent` fields (not queried, e.g. removed in Salesforce) are left as they are.
pub async fn merge_stage(
    client: &Client,
    mapping: i64,
    mode: MergeMode,
    absent: &[String],
    read_started: &ReadStarted,
) -> Result<MergeOutcome, ReaderError> {
    let row = client
        .query_one(
            "SELECT sfsync._merge_stage($1, $2, $3, $4::text::timestamptz)::text",
            &[&mapping, &mode.as_str(), &absent, &read_started.0],
        )
        .await
        .map_err(ReaderError::query("merging the staged records"))?;
    decode("the merge result", row.get(0))
}

/// `_apply_records`: `records_json` is a JSON array of REST records, read from Salesforce by a
/// request sent after `read_started`.
pub async fn apply_records(
    client: &Client,
    mapping: i64,
    records_json: &str,
    read_started: &ReadStarted,
) -> Result<MergeOutcome, ReaderError> {
    let row = client
        .query_one(
            "SELECT sfsync._apply_records($1, $2::text::jsonb, 'apply', NULL, $3::text::timestamptz)::text",
            &[&mapping, &records_json, &read_started.0],
        )
        .await
        .map_err(ReaderError::query("applying Salesforce records"))?;
    decode("the apply result", row.get(0))
}

/// `_delete_records`: rows whose records were deleted (or, with `hard`, left the filter).
pub async fn delete_records(
    client: &Client,
    mapping: i64,
    sfids: &[String],
    hard: bool,
) -> Result<i64, ReaderError> {
    if sfids.is_empty() {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT sfsync._delete_records($1, $2, $3)",
            &[&mapping, &sfids, &hard],
        )
        .await
        .map_err(ReaderError::query("deleting rows of deleted records"))?;
    Ok(row.get(0))
}

/// `_set_reader_position`: `None` keeps the stored value; always touches `last_read_at`.
pub async fn set_reader_position(
    client: &Client,
    mapping: i64,
    hwm: Option<DateTime<Utc>>,
    replay_id: Option<i64>,
) -> Result<(), ReaderError> {
    set_position(client, mapping, hwm, replay_id, None).await
}

/// `_set_reader_position` for the getDeleted sweep: how far it has covered.
pub async fn set_sweep_position(
    client: &Client,
    mapping: i64,
    swept_at: DateTime<Utc>,
) -> Result<(), ReaderError> {
    set_position(client, mapping, None, None, Some(swept_at)).await
}

async fn set_position(
    client: &Client,
    mapping: i64,
    hwm: Option<DateTime<Utc>>,
    replay_id: Option<i64>,
    swept_at: Option<DateTime<Utc>>,
) -> Result<(), ReaderError> {
    let seconds = |time: DateTime<Utc>| time.timestamp_millis() as f64 / 1000.0;
    let hwm_seconds = hwm.map(seconds);
    let swept_seconds = swept_at.map(seconds);
    client
        .execute(
            "SELECT sfsync._set_reader_position($1, to_timestamp($2::float8), $3, to_timestamp($4::float8))",
            &[&mapping, &hwm_seconds, &replay_id, &swept_seconds],
        )
        .await
        .map_err(ReaderError::query("storing the reader position"))?;
    Ok(())
}

/// `_finish_reload`: `requested_at` is the request this reload served; a later one is kept.
pub async fn finish_reload(
    client: &Client,
    mapping: i64,
    requested_at: Option<DateTime<Utc>>,
) -> Result<(), ReaderError> {
    // exact to the microsecond: a value rounded down would look older than the stored request
    let requested_micros = requested_at.map(|time| time.timestamp_micros());
    client
        .execute(
            "SELECT sfsync._finish_reload($1, 'epoch'::timestamptz + $2::int8 * interval '1 microsecond')",
            &[&mapping, &requested_micros],
        )
        .await
        .map_err(ReaderError::query("finishing the reload"))?;
    Ok(())
}

/// `_finish_backfill`.
pub async fn finish_backfill(
    client: &Client,
    mapping: i64,
    fields: &[String],
) -> Result<(), ReaderError> {
    client
        .execute(
            "SELECT sfsync._finish_backfill($1, $2)",
            &[&mapping, &fields],
        )
        .await
        .map_err(ReaderError::query("finishing the back-fill"))?;
    Ok(())
}

/// `_acquire_reader`: take or renew the reading lease; `true` when we hold it.
pub async fn acquire_reader(
    client: &Client,
    mapping: i64,
    owner: &str,
    lease_seconds: i32,
) -> Result<bool, ReaderError> {
    let row = client
        .query_one(
            "SELECT sfsync._acquire_reader($1, $2, $3)",
            &[&mapping, &owner, &lease_seconds],
        )
        .await
        .map_err(ReaderError::query("taking the reading lease"))?;
    Ok(row.get(0))
}

/// `_release_reader`.
pub async fn release_reader(client: &Client, mapping: i64, owner: &str) -> Result<(), ReaderError> {
    client
        .execute("SELECT sfsync._release_reader($1, $2)", &[&mapping, &owner])
        .await
        .map_err(ReaderError::query("releasing the reading lease"))?;
    Ok(())
}

/// `_set_dependencies`: what the mapping's dependent fields read.
pub async fn set_dependencies(
    client: &Client,
    mapping: i64,
    dependencies: &sfsync_protocol::Dependencies,
) -> Result<(), ReaderError> {
    let json = serde_json::to_string(dependencies).map_err(|source| ReaderError::Decode {
        what: "the dependent fields".to_string(),
        source,
    })?;
    client
        .execute(
            "SELECT sfsync._set_dependencies($1, $2::text::jsonb)",
            &[&mapping, &json],
        )
        .await
        .map_err(ReaderError::query("storing the dependent fields"))?;
    Ok(())
}

/// `_changed_rows`: `(sfid, systemmodstamp)` of a mapping's rows changed since `since`, oldest first.
pub async fn changed_rows(
    client: &Client,
    mapping: i64,
    since: DateTime<Utc>,
    limit: i32,
) -> Result<Vec<(String, DateTime<Utc>)>, ReaderError> {
    let rows = client
        .query(
            "SELECT sfid, (extract(epoch FROM systemmodstamp) * 1000)::int8
               FROM sfsync._changed_rows($1, $2::text::timestamptz, $3)",
            &[&mapping, &since.to_rfc3339(), &limit],
        )
        .await
        .map_err(ReaderError::query("reading which parent rows changed"))?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let stamp =
                chrono::TimeZone::timestamp_millis_opt(&Utc, row.get::<_, i64>(1)).single()?;
            Some((row.get::<_, String>(0), stamp))
        })
        .collect())
}

/// `_refresh_fields`: applies re-read computed values; returns the rows that changed.
pub async fn refresh_fields(
    client: &Client,
    mapping: i64,
    records_json: &str,
) -> Result<i64, ReaderError> {
    let row = client
        .query_one(
            "SELECT sfsync._refresh_fields($1, $2::text::jsonb)",
            &[&mapping, &records_json],
        )
        .await
        .map_err(ReaderError::query(
            "applying re-read formula and roll-up values",
        ))?;
    Ok(row.get(0))
}

/// `_count_formula_calls`: adds to the mapping's totals of what keeping them fresh cost.
pub async fn count_formula_calls(
    client: &Client,
    mapping: i64,
    calls: u64,
    rows: i64,
) -> Result<(), ReaderError> {
    let calls = i64::try_from(calls).unwrap_or(i64::MAX);
    client
        .execute(
            "SELECT sfsync._count_formula_calls($1, $2, $3)",
            &[&mapping, &calls, &rows.max(0)],
        )
        .await
        .map_err(ReaderError::query(
            "counting the formula refresh's API calls",
        ))?;
    Ok(())
}

/// How `_merge_stage` treats rows whose records were not staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Upsert what was staged.
    Apply,
    /// Also delete rows whose records were not staged (never rows without sfid or with queued changes).
    Reload,
}

impl MergeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::Apply => "apply",
            MergeMode::Reload => "reload",
        }
    }
}
