//! One end-to-end test's world: its own database (in the test binary's shared cluster), its own
//! emulator and the environment of the sidecars it starts, built by [`WorldBuilder`], with the
//! helpers the reader's and writer's scenarios share (mappings, states, counts, records written as
//! another client, the org's records and API usage, the change queue).
//!
//! `World::writer()` and `World::reader()` are the presets the writer's and reader's tests were
//! written against; `World::builder()` has neither's defaults.

use crate::{eventually, Cluster, Emulator, Sidecar, TestDb};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Generous: tests run on a busy 2-core machine next to other engineers' builds. The writer's
/// preset waits this long; tests use it for their own `eventually`.
pub const WAIT: Duration = Duration::from_secs(120);

/// How long the reader's preset waits for a state, a count or a value.
const READER_WAIT: Duration = Duration::from_secs(90);

/// A test's database, emulator and sidecar environment.
pub struct World {
    pub db: TestDb,
    /// As the superuser: set-up and inspection.
    pub sql: Client,
    pub emulator: Emulator,
    /// The environment every sidecar of this world starts with.
    pub env: Vec<(String, String)>,
    /// How long the `wait_*` helpers, [`World::drained`] and [`World::until`] wait.
    wait: Duration,
}

/// `env` with `pairs` set (each replaces an entry of the same name).
pub fn with_env(env: &[(String, String)], pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    for (key, value) in pairs {
        env.retain(|(existing, _)| existing != key);
        env.push((key.to_string(), value.to_string()));
    }
    env
}

/// What a [`World`] starts with: emulator arguments, sidecar environment (later entries win) and
/// the time the waiting helpers allow.
#[derive(Clone)]
pub struct WorldBuilder {
    emulator_args: Vec<String>,
    env: Vec<(String, String)>,
    wait: Duration,
}

impl WorldBuilder {
    /// Extra arguments for `sfsync-emulator` (`--cdc-objects Contact`, `--daily-api-limit 1000`...).
    pub fn emulator_args(mut self, args: &[&str]) -> WorldBuilder {
        self.emulator_args
            .extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// Sets a sidecar environment variable, replacing the preset's or an earlier one.
    pub fn env(self, key: &str, value: &str) -> WorldBuilder {
        self.envs(&[(key, value)])
    }

    /// [`WorldBuilder::env`] for each pair.
    pub fn envs(mut self, pairs: &[(&str, &str)]) -> WorldBuilder {
        self.env = with_env(&self.env, pairs);
        self
    }

    /// How long the waiting helpers wait before they fail the test.
    pub fn wait(mut self, wait: Duration) -> WorldBuilder {
        self.wait = wait;
        self
    }

    /// A fresh database in the test binary's shared cluster and a fresh emulator; the sidecar
    /// environment is the emulator's (password flow, its CA), the database as the sidecar's role,
    /// then this builder's.
    pub async fn start(self) -> World {
        self.start_in(Cluster::shared()).await
    }

    /// As [`WorldBuilder::start`], in `cluster` (a benchmark's durable one).
    pub async fn start_in(self, cluster: &Cluster) -> World {
        let db = cluster.database().await;
        let sql = db.connect().await;
        let args: Vec<&str> = self.emulator_args.iter().map(String::as_str).collect();
        let emulator = Emulator::start(&args);
        let mut base = emulator.sidecar_env();
        base.push(("DATABASE_URL".into(), db.sidecar_url()));
        let pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let env = with_env(&base, &pairs);
        World {
            db,
            sql,
            emulator,
            env,
            wait: self.wait,
        }
    }
}

impl World {
    /// No preset: the emulator's and the sidecar's own defaults.
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            emulator_args: Vec::new(),
            env: Vec::new(),
            wait: WAIT,
        }
    }

    /// The writer's tests: short write leases so a killed sidecar's changes come back quickly, and
    /// fast limit probes.
    pub fn writer() -> WorldBuilder {
        World::builder()
            .env("SFSYNC_WRITE_LEASE_SECONDS", "6")
            .env("SFSYNC_LIMIT_PROBE_SECONDS", "1")
    }

    /// The reader's tests: a short re-read interval.
    pub fn reader() -> WorldBuilder {
        World::builder()
            .env("SFSYNC_REREAD_SECONDS", "5")
            .wait(READER_WAIT)
    }

    /// This world's sidecar environment with `pairs` set.
    pub fn env_with(&self, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        with_env(&self.env, pairs)
    }

    /// Starts a sidecar with this world's environment; it runs until dropped.
    pub fn sidecar(&self) -> Sidecar {
        Sidecar::start(&self.env)
    }

    /// The reader's usual opening: a sidecar running, a mapping created, the mapping `SYNCED`.
    /// Returns the sidecar (keep it alive for the rest of the test).
    pub async fn synced(
        &self,
        object: &str,
        fields: &[&str],
        access: &str,
        options: Value,
    ) -> Sidecar {
        let sidecar = self.sidecar();
        self.map(object, fields, access, options).await;
        self.wait_state(object, "SYNCED").await;
        sidecar
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

    /// A read-write mapping created from the emulator's describe, so the table exists at once and
    /// the test does not depend on the reader. Polls hourly unless `options` say otherwise: the
    /// writer is under test, the reader's polling stays out of the way.
    pub async fn map_from_describe(
        &self,
        object: &str,
        fields: &[&str],
        mut options: Value,
    ) -> i64 {
        options["describe"] = self.describe(object).await;
        if options.get("poll_seconds").is_none() {
            options["poll_seconds"] = json!(3600);
        }
        self.map(object, fields, "read_write", options).await
    }

    /// Account with an `Ext_Id__c` upsert field, mapping Name and Ext_Id__c.
    pub async fn map_accounts_by_ext_id(&self) -> i64 {
        self.add_external_id("Account", "Ext_Id__c").await;
        self.map_from_describe(
            "Account",
            &["Name", "Ext_Id__c"],
            json!({"upsert_field": "Ext_Id__c"}),
        )
        .await
    }

    /// Lead with LastName and Company and no upsert field: only the queue's leases keep a lead from
    /// being created twice.
    pub async fn map_leads(&self) -> i64 {
        self.map_from_describe("Lead", &["LastName", "Company"], json!({}))
            .await
    }

    /// Account (Ext_Id__c upsert) and Contact (Ext_Id__c upsert, parent by Account.Ext_Id__c).
    pub async fn map_accounts_and_contacts(&self) {
        self.add_external_id("Account", "Ext_Id__c").await;
        self.add_external_id("Contact", "Ext_Id__c").await;
        self.map_from_describe(
            "Account",
            &[
                "Name",
                "Industry",
                "AnnualRevenue",
                "NumberOfEmployees",
                "Ext_Id__c",
            ],
            json!({"upsert_field": "Ext_Id__c"}),
        )
        .await;
        self.map_from_describe(
            "Contact",
            &[
                "FirstName",
                "LastName",
                "Email",
                "Birthdate",
                "AccountId",
                "Account.Ext_Id__c",
                "Ext_Id__c",
            ],
            json!({"upsert_field": "Ext_Id__c"}),
        )
        .await;
    }

    /// Adds a unique external id text field to an object of the emulator.
    pub async fn add_external_id(&self, object: &str, field: &str) {
        self.emulator.add_external_id(object, field).await;
    }

    /// Injects a fault into the emulator (`POST /__emulator/faults`).
    pub async fn fault(&self, spec: Value) {
        self.emulator
            .admin(Method::POST, "faults", Some(spec))
            .await;
    }

    /// Defines a custom object in the emulator.
    pub async fn define_object(&self, describe: Value) {
        self.emulator
            .admin(Method::POST, "objects", Some(describe))
            .await;
    }

    /// The emulator's describe of `object`.
    pub async fn describe(&self, object: &str) -> Value {
        let (status, describe) = self
            .emulator
            .rest(Method::GET, &format!("sobjects/{object}/describe"), None)
            .await;
        assert_eq!(status, 200, "describe {object}: {describe}");
        describe
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
        let deadline = Instant::now() + self.wait;
        loop {
            let (state, detail) = self.state(object).await;
            if state == wanted {
                return;
            }
            if Instant::now() > deadline {
                panic!("{object} never reached {wanted}: state {state}, detail {detail:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `SELECT count(*)` with a WHERE clause (or `true`).
    pub async fn count(&self, table: &str, condition: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table} WHERE {condition}"))
            .await
    }

    /// The one bigint value of `sql` (a count, a `max(...)::bigint`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.sql
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// Waits until `SELECT count(*) FROM table WHERE condition` is `expected` (a failing query,
    /// e.g. on a column that is not there yet, counts as "not yet").
    pub async fn wait_count(&self, table: &str, condition: &str, expected: i64) {
        let query = format!("SELECT count(*) FROM {table} WHERE {condition}");
        let deadline = Instant::now() + self.wait;
        loop {
            let count = match self.sql.query_one(&query, &[]).await {
                Ok(row) => Ok(row.get::<_, i64>(0)),
                Err(error) => Err(error.to_string()),
            };
            if count == Ok(expected) {
                return;
            }
            if Instant::now() > deadline {
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
        let deadline = Instant::now() + self.wait;
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
            if Instant::now() > deadline {
                panic!("timed out waiting for {query} = {expected:?} (last: {value:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `check` until it holds, for as long as this world waits.
    pub async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(self.wait, what, check).await;
    }

    /// Creates records as another client (not the sidecar's own writes); returns their ids.
    pub async fn create(&self, object: &str, records: Value) -> Vec<String> {
        self.emulator.create_as_other(object, records).await
    }

    /// Updates (records with `Id`) as another client.
    pub async fn update(&self, object: &str, records: Value) {
        self.emulator.create_as_other(object, records).await;
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
        crate::emulator::result_ids(&results);
    }

    /// Undeletes from the recycle bin as another client.
    pub async fn undelete(&self, ids: &[String]) {
        let results = self
            .emulator
            .admin(Method::POST, "undelete", Some(json!({"ids": ids})))
            .await;
        crate::emulator::result_ids(&results);
    }

    /// Changes not yet finished (NEW or PENDING).
    pub async fn queued(&self) -> i64 {
        self.scalar("SELECT count(*) FROM sfsync.change").await
    }

    /// Waits until the queue is empty.
    pub async fn drained(&self, what: &str) {
        self.until(what, || async { self.queued().await == 0 })
            .await;
    }

    /// Archived entries by state.
    pub async fn archive_states(&self) -> HashMap<String, i64> {
        self.sql
            .query(
                "SELECT state, count(*) FROM sfsync.change_archive GROUP BY state",
                &[],
            )
            .await
            .expect("archive states")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// `Id` and `fields` of the live (not deleted) records of `object` in the org.
    async fn org_live(&self, object: &str, fields: &str) -> Vec<Value> {
        self.emulator
            .query(&format!(
                "SELECT Id, {fields} FROM {object} WHERE IsDeleted = false"
            ))
            .await
    }

    /// Every record of `object` in the org (deleted ones excluded), by its `key` field.
    pub async fn org_records(
        &self,
        object: &str,
        fields: &str,
        key: &str,
    ) -> HashMap<String, Value> {
        let mut by_key = HashMap::new();
        for record in self.org_live(object, fields).await {
            let key_value = record[key]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| record[key].to_string());
            assert!(
                by_key.insert(key_value.clone(), record).is_none(),
                "{object}: two records with {key} = {key_value}"
            );
        }
        by_key
    }

    /// Live records of `object` per value of `key` (duplicates show up as counts above 1).
    pub async fn org_counts(&self, object: &str, key: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for record in self.org_live(object, key).await {
            let key_value = record[key].as_str().unwrap_or("<null>").to_string();
            *counts.entry(key_value).or_insert(0) += 1;
        }
        counts
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

    /// API calls per route so far, from `/__emulator/stats`.
    pub async fn api_calls(&self) -> HashMap<String, u64> {
        let stats = self.emulator.admin(Method::GET, "stats", None).await;
        stats["apiCalls"]
            .as_object()
            .map(|calls| {
                calls
                    .iter()
                    .map(|(route, count)| (route.clone(), count.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
