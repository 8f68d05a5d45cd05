//! Shared set-up for the writer's end-to-end tests: a database with the extension, an emulator whose
//! Account and Contact carry external ids, mappings created from the emulator's own describes (so
//! these tests do not depend on the reader), and helpers to compare the queue, the rows and the org.
#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{eventually, Cluster, Emulator, Sidecar, TestDb};
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::Client;

/// Generous: tests run on a busy 2-core machine next to other engineers' builds.
pub const WAIT: Duration = Duration::from_secs(120);

pub struct World {
    pub db: TestDb,
    pub sql: Client,
    pub emulator: Emulator,
    pub env: Vec<(String, String)>,
}

impl World {
    /// A fresh database and emulator (with `emulator_args`); `env` overrides the sidecar environment.
    pub async fn start(emulator_args: &[&str], env: &[(&str, &str)]) -> World {
        let db = Cluster::shared().database().await;
        let sql = db.connect().await;
        let emulator = Emulator::start(emulator_args);
        let mut sidecar_env = emulator.sidecar_env();
        sidecar_env.push(("DATABASE_URL".into(), db.sidecar_url()));
        // short leases so a killed sidecar's changes come back quickly; fast limit probes
        sidecar_env.push(("SFSYNC_WRITE_LEASE_SECONDS".into(), "6".into()));
        sidecar_env.push(("SFSYNC_LIMIT_PROBE_SECONDS".into(), "1".into()));
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

    /// Adds an external id field to a standard object of the emulator.
    pub async fn add_external_id(&self, object: &str, field: &str) {
        self.emulator.add_external_id(object, field).await;
    }

    /// Account with an `Ext_Id__c` upsert field, mapping Name and Ext_Id__c.
    pub async fn map_accounts_by_ext_id(&self) -> i64 {
        self.add_external_id("Account", "Ext_Id__c").await;
        self.map(
            "Account",
            &["Name", "Ext_Id__c"],
            json!({"upsert_field": "Ext_Id__c"}),
        )
        .await
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

    /// A read-write mapping created from the emulator's describe (the table exists at once).
    pub async fn map(&self, object: &str, fields: &[&str], mut options: Value) -> i64 {
        options["describe"] = self.describe(object).await;
        // the writer is under test here: keep the reader's polling out of the way
        if options.get("poll_seconds").is_none() {
            options["poll_seconds"] = json!(3600);
        }
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        self.sql
            .query_one(
                "SELECT sfsync.create_mapping($1, $2, 'read_write', $3::text::jsonb)",
                &[&object, &fields, &options.to_string()],
            )
            .await
            .unwrap_or_else(|e| panic!("create_mapping {object}: {e}"))
            .get(0)
    }

    /// Account (Ext_Id__c upsert) and Contact (Ext_Id__c upsert, parent by Account.Ext_Id__c).
    pub async fn map_accounts_and_contacts(&self) {
        self.add_external_id("Account", "Ext_Id__c").await;
        self.add_external_id("Contact", "Ext_Id__c").await;
        self.map(
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
        self.map(
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

    pub async fn count(&self, sql: &str) -> i64 {
        self.sql
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// Changes not yet finished (NEW or PENDING).
    pub async fn queued(&self) -> i64 {
        self.count("SELECT count(*) FROM sfsync.change").await
    }

    /// Waits until the queue is empty.
    pub async fn drained(&self, what: &str) {
        let timeout = WAIT;
        eventually(timeout, what, || async { self.queued().await == 0 }).await;
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

    /// Every record of `object` in the org (deleted ones excluded), by its `key` field.
    pub async fn org_records(
        &self,
        object: &str,
        fields: &str,
        key: &str,
    ) -> HashMap<String, Value> {
        let records = self
            .emulator
            .query(&format!(
                "SELECT Id, {fields} FROM {object} WHERE IsDeleted = false"
            ))
            .await;
        let mut by_key = HashMap::new();
        for record in records {
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
        let records = self
            .emulator
            .query(&format!(
                "SELECT Id, {key} FROM {object} WHERE IsDeleted = false"
            ))
            .await;
        let mut counts = HashMap::new();
        for record in records {
            let key_value = record[key].as_str().unwrap_or("<null>").to_string();
            *counts.entry(key_value).or_insert(0) += 1;
        }
        counts
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

/// A free loopback port for `SFSYNC_HTTP_LISTEN`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The sidecar's `/metrics` text.
pub async fn metrics(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}
