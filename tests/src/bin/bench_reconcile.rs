//! Benchmark of reconciliation against the emulator, on a real cluster (fsync on): an object of
//! 1,000,000 records written over 20 hours of the org's clock, loaded by the sidecar, then
//! - without drift: API calls and seconds of one reconciliation;
//! - with 1 % scattered drift (a third each: rows deleted in Postgres, rows aged in Postgres, records
//!   deleted in Salesforce without a trace and purged): calls, seconds, drift found and repaired, and
//!   the drift a second reconciliation still finds (must be 0).
//!
//! `cargo run --release -p sfsync-tests --bin bench_reconcile` (after building the sidecar and the
//! emulator in release). Environment: `BENCH_RECORDS` (1000000). Writes
//! `bench/results/reconcile.json`.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::bench::{env_number, sidecar_env, wait_state};
use sfsync_tests::{Cluster, Emulator, Sidecar};
use tokio_postgres::Client;

const OBJECT: &str = "Narrow__c";
/// Hours of the org's clock the records are spread over.
const HOURS: u64 = 20;

/// One reconciliation's figures.
struct Run {
    api_calls: i64,
    /// The emulator's count of API calls over the same time (the sidecar polls hourly, so little
    /// else is counted).
    api_calls_seen: u64,
    seconds: f64,
    found: Value,
    repaired: Value,
}

fn api_used(stats: &Value) -> u64 {
    stats["apiUsage"]["used"].as_u64().unwrap_or(0)
}

async fn reconcile(client: &Client, emulator: &Emulator) -> Run {
    let before: i64 = client
        .query_one(
            "SELECT coalesce(max(id), 0) FROM sfsync.reconciliation",
            &[],
        )
        .await
        .expect("reconciliations")
        .get(0);
    let calls_before = api_used(&emulator.admin(Method::GET, "stats", None).await);
    client
        .execute("SELECT sfsync.reconcile($1)", &[&OBJECT])
        .await
        .expect("reconcile");
    let deadline = std::time::Instant::now() + Duration::from_secs(1800);
    loop {
        let row = client
            .query_opt(
                "SELECT api_calls, extract(epoch FROM finished_at - started_at)::float8, found::text,
                        repaired::text, error
                   FROM sfsync.reconciliation WHERE id > $1 AND finished_at IS NOT NULL",
                &[&before],
            )
            .await
            .expect("reconciliation");
        if let Some(row) = row {
            let error: Option<String> = row.get(4);
            assert!(error.is_none(), "the reconciliation failed: {error:?}");
            let calls_after = api_used(&emulator.admin(Method::GET, "stats", None).await);
            return Run {
                api_calls: i64::from(row.get::<_, i32>(0)),
                api_calls_seen: calls_after - calls_before,
                seconds: row.get(1),
                found: serde_json::from_str(row.get(2)).expect("found"),
                repaired: serde_json::from_str(row.get(3)).expect("repaired"),
            };
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reconciliation finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn figures(run: &Run) -> Value {
    json!({
        "api_calls": run.api_calls,
        "api_calls_seen_by_salesforce": run.api_calls_seen,
        "seconds": run.seconds,
        "found": run.found,
        "repaired": run.repaired,
    })
}

#[tokio::main]
async fn main() {
    let records = env_number("BENCH_RECORDS", 1_000_000);
    let cluster = Cluster::start(true);
    let emulator = Emulator::start(&[]);
    emulator
        .admin(
            Method::POST,
            "objects",
            Some(json!({"name": OBJECT, "fields": [
                {"name": "Amount__c", "type": "currency", "precision": 16, "scale": 2},
                {"name": "Code__c", "type": "string", "length": 20, "externalId": true}
            ]})),
        )
        .await;
    // records written over HOURS hours, as an object filled over time is
    let per_hour = records.div_ceil(HOURS);
    let mut left = records;
    while left > 0 {
        let chunk = left.min(per_hour);
        emulator
            .admin(
                Method::POST,
                "seed",
                Some(json!({"object": OBJECT, "count": chunk, "fields": {"Amount__c": 12.5}})),
            )
            .await;
        emulator
            .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 3600})))
            .await;
        left -= chunk;
    }

    let db = cluster.database().await;
    let client = db.connect().await;
    let mut sidecar = Sidecar::start(&sidecar_env(&emulator, &db, &[]));
    client
        .execute(
            "SELECT sfsync.create_mapping($1, ARRAY['Name','Amount__c','Code__c'], 'read_only', '{\"poll_seconds\": 3600}')",
            &[&OBJECT],
        )
        .await
        .expect("create mapping");
    wait_state(&client, OBJECT, "SYNCED", Duration::from_secs(1800)).await;
    eprintln!("loaded {records} records");
    // the first poll and delete sweep after the load go by before anything is counted
    tokio::time::sleep(Duration::from_secs(5)).await;

    let clean = reconcile(&client, &emulator).await;
    println!(
        "reconcile {records} records without drift: {} API calls ({} seen by Salesforce), {:.2} s, found {}",
        clean.api_calls, clean.api_calls_seen, clean.seconds, clean.found
    );

    // 1 % drift, scattered over the whole object: a third each kind
    let table = format!("salesforce.{}", OBJECT.to_lowercase());
    let every = 300;
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL sfsync.origin = 'salesforce';
             DELETE FROM {table} WHERE id % {every} = 0;
             UPDATE {table} SET amount__c = 0, systemmodstamp = systemmodstamp - interval '1 day' WHERE id % {every} = 100;
             COMMIT"
        ))
        .await
        .expect("local drift");
    let gone: Vec<String> = client
        .query(
            &format!("SELECT sfid FROM {table} WHERE id % {every} = 200"),
            &[],
        )
        .await
        .expect("ids")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for chunk in gone.chunks(2_000) {
        let records: Vec<Value> = chunk.iter().map(|id| json!({"Id": id})).collect();
        emulator
            .admin(
                Method::POST,
                "records",
                Some(json!({"object": OBJECT, "operation": "delete", "records": records, "silent": true})),
            )
            .await;
    }
    emulator.admin(Method::POST, "purge", None).await;
    let drifted = reconcile(&client, &emulator).await;
    println!(
        "reconcile with 1 % scattered drift: {} API calls, {:.2} s, found {}, repaired {}",
        drifted.api_calls, drifted.seconds, drifted.found, drifted.repaired
    );
    let after = reconcile(&client, &emulator).await;
    let left: u64 = ["missing", "vanished", "stale"]
        .iter()
        .map(|kind| after.found[kind].as_u64().unwrap_or(0))
        .sum();
    println!(
        "reconcile after the repair: {} API calls, {:.2} s, drift left {left}",
        after.api_calls, after.seconds
    );
    assert_eq!(left, 0, "drift left after the repair: {}", after.found);
    sidecar.terminate(Duration::from_secs(30));

    let results = json!({
        "records": records,
        "no_drift": figures(&clean),
        "drift_1_percent": figures(&drifted),
        "after_repair": figures(&after),
        "drift_left_after_repair": left,
        "goal_no_drift_api_calls": 20,
    });
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&directory).expect("bench/results");
    let path = directory.join("reconcile.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).expect("json"))
        .expect("write results");
    println!("wrote {}", path.display());
}
