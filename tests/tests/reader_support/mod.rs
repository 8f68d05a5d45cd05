//! Shared set-up for the reader's end-to-end tests: a database with the extension, an emulator and
//! sidecars as real processes, and helpers to compare Postgres rows with Salesforce records.
#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{eventually, Cluster, Emulator, Sidecar, TestDb};
use std::time::Duration;
use tokio_postgres::Client;

/// Generous: tests run on a busy 2-core machine.
pub const WAIT: Duration = Duration::from_secs(90);

/// One test's world: its own database, emulator and sidecar environment.
pub struct World {
    pub db: TestDb,
    pub sql: Client,
    pub emulator: Emulator,
    pub env: Vec<(String, String)>,
}

impl World {
    /// A fresh database and emulator; `env` is added to the sidecar environment.
    pub async fn start(emulator_args: &[&str], env: &[(&str, &str)]) -> World {
        let db = Cluster::shared().database().await;
        let sql = db.connect().await;
        let emulator = Emulator::start(emulator_args);
        let mut sidecar_env = emulator.sidecar_env();
        sidecar_env.push(("DATABASE_URL".into(), db.sidecar_url()));
        sidecar_env.push(("SFSYNC_REREAD_SECONDS".into(), "5".into()));
        for (key, value) in env {
            sidecar_env.retain(|(existing, _)| existing != key);
            sidecar_env.push((key.to_string(), value.to_string()));
        }
        World {
            db,
            sql,
            emulator,
            env: sidecar_env,
        }
    }

    pub fn sidecar(&self) -> Sidecar {
        Sidecar::start(&self.env)
    }

    /// `sfsync.create_mapping(...)` returning the mapping id.
    pub async fn map(&self, object: &str, fields: &[&str], access: &str, options: Value) -> i64 {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        self.sql
            .query_one(
                "SELECT sfsync.create_mapping($1, $2, $3, $4::text::jsonb)",
                &[&object, &fields, &access, &options.to_string()],
            )
            .await
            .unwrap_or_else(|e| panic!("create_mapping {object}: {e}"))
            .get(0)
    }

    /// State and detail of a mapping.
    pub async fn state(&self, object: &str) -> (String, Option<String>) {
        let row = self
            .sql
            .query_one(
                "SELECT state, state_detail FROM sfsync.mapping WHERE lower(object_name) = lower($1)",
                &[&object],
            )
            .await
            .expect("mapping row");
        (row.get(0), row.get(1))
    }

    /// Waits for `state`; panics with the last state and detail otherwise.
    pub async fn wait_state(&self, object: &str, wanted: &str) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (state, detail) = self.state(object).await;
            if state == wanted {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("{object} never reached {wanted}: state {state}, detail {detail:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `SELECT count(*)` with a WHERE clause (or `true`).
    pub async fn count(&self, table: &str, condition: &str) -> i64 {
        self.sql
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE {condition}"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
            .get(0)
    }

    /// Waits until `SELECT count(*) FROM table WHERE condition` is `expected` (a failing query,
    /// e.g. on a column that is not there yet, counts as "not yet").
    pub async fn wait_count(&self, table: &str, condition: &str, expected: i64) {
        let query = format!("SELECT count(*) FROM {table} WHERE {condition}");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let count = match self.sql.query_one(&query, &[]).await {
                Ok(row) => Ok(row.get::<_, i64>(0)),
                Err(error) => Err(error.to_string()),
            };
            if count == Ok(expected) {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for: {query} = {expected} (last: {count:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One text value (`NULL` → None).
    pub async fn text(&self, query: &str) -> Option<String> {
        self.sql
            .query_opt(query, &[])
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .and_then(|row| row.get(0))
    }

    /// Waits until `query` returns `expected` as text (a failing query counts as "not yet").
    pub async fn wait_text(&self, query: &str, expected: Option<&str>) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let value = match self.sql.query_opt(query, &[]).await {
                Ok(row) => Ok(row.and_then(|row| row.get::<_, Option<String>>(0))),
                Err(error) => Err(error.to_string()),
            };
            if value
                .as_ref()
                .is_ok_and(|value| value.as_deref() == expected)
            {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for {query} = {expected:?} (last: {value:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates records as another client; returns their ids.
    pub async fn create(&self, object: &str, records: Value) -> Vec<String> {
        let results = self.emulator.write_as_other(object, records).await;
        results_ids(&results)
    }

    /// Updates (records with `Id`) as another client.
    pub async fn update(&self, object: &str, records: Value) {
        let results = self.emulator.write_as_other(object, records).await;
        results_ids(&results);
    }

    /// Deletes as another client (to the recycle bin).
    pub async fn delete(&self, object: &str, ids: &[String]) {
        let records: Vec<Value> = ids.iter().map(|id| json!({"Id": id})).collect();
        let results = self
            .emulator
            .admin(
                Method::POST,
                "records",
                Some(json!({"object": object, "operation": "delete", "records": records})),
            )
            .await;
        results_ids(&results);
    }

    pub async fn undelete(&self, ids: &[String]) {
        let results = self
            .emulator
            .admin(Method::POST, "undelete", Some(json!({"ids": ids})))
            .await;
        results_ids(&results);
    }

    /// Defines a custom object in the emulator.
    pub async fn define_object(&self, describe: Value) {
        self.emulator
            .admin(Method::POST, "objects", Some(describe))
            .await;
    }

    /// API calls the sidecar made so far (the emulator's usage counter).
    pub async fn api_usage(&self) -> u64 {
        let stats = self.emulator.admin(Method::GET, "stats", None).await;
        stats["apiUsage"]
            .as_u64()
            .or_else(|| stats["apiUsage"]["used"].as_u64())
            .or_else(|| stats["apiUsage"]["Used"].as_u64())
            .unwrap_or_else(|| panic!("no apiUsage in {stats}"))
    }

    /// API calls per route, from the emulator's stats.
    pub async fn api_calls(&self) -> Value {
        self.emulator.admin(Method::GET, "stats", None).await["apiCalls"].clone()
    }
}

pub use sfsync_tests::emulator::result_ids as results_ids;

/// A value as Postgres prints it, from a Salesforce REST value of `sf_type`.
pub fn expected_text(sf_type: &str, value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(match sf_type {
            "datetime" => {
                // 2020-01-01T00:00:00.000+0000 → 2020-01-01 00:00:00 (fraction only when non-zero)
                let (date, rest) = text.split_once('T').expect("datetime");
                format!("{date} {}", trim_fraction(&rest[..12]))
            }
            "time" => trim_fraction(text.trim_end_matches('Z')),
            _ => text.clone(),
        }),
        other => Some(other.to_string()),
    }
}

/// `13:51:00.250` → `13:51:00.25`, `13:51:00.000` → `13:51:00` (as Postgres prints times).
fn trim_fraction(time: &str) -> String {
    match time.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => time.to_string(),
    }
}

/// Compares every row of `table` with the Salesforce records of `soql`, column by column (`columns`:
/// (column, field, sf type)). Returns how many records were compared.
pub async fn assert_same_rows(
    world: &World,
    table: &str,
    soql: &str,
    columns: &[(&str, &str, &str)],
) -> usize {
    let records = world.emulator.query(soql).await;
    let live: Vec<&Value> = records.iter().filter(|r| r["IsDeleted"] != true).collect();
    let select = columns
        .iter()
        .map(|(column, _, _)| format!("{column}::text"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = world
        .sql
        .query(&format!("SELECT sfid, {select} FROM {table}"), &[])
        .await
        .expect("select rows");
    assert_eq!(
        rows.len(),
        live.len(),
        "{table}: row count differs from Salesforce"
    );
    let by_sfid: std::collections::HashMap<String, &tokio_postgres::Row> = rows
        .iter()
        .map(|row| (row.get::<_, String>(0), row))
        .collect();
    for record in &live {
        let id = record["Id"].as_str().expect("Id");
        let row = by_sfid
            .get(id)
            .unwrap_or_else(|| panic!("{table}: no row for {id}"));
        for (index, (column, field, sf_type)) in columns.iter().enumerate() {
            let value =
                field.split('.').fold(
                    *record,
                    |value, key| if value.is_null() { value } else { &value[key] },
                );
            let expected = expected_text(sf_type, value);
            let actual: Option<String> = row.get(index + 1);
            assert_eq!(actual, expected, "{table} {id} column {column} ({field})");
        }
    }
    live.len()
}

/// Polls until `check` holds.
pub async fn until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(WAIT, what, check).await;
}
