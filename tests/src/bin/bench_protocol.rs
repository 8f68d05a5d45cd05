//! Benchmark of the extension's sidecar protocol on a real cluster (fsync on): the claim + complete
//! round trip for a batch of 200 changes, and the apply rate of Salesforce records (REST JSON through
//! `_apply_records`, and a staged CSV load through `_merge_stage`). Prints figures and writes
//! `bench/results/protocol.json`.

use futures::SinkExt;
use serde_json::{json, Value};
use sfsync_tests::{describe_fixture, Cluster};
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn records(count: usize, offset: usize, name_suffix: &str) -> Value {
    Value::Array(
        (0..count)
            .map(|i| {
                let n = offset + i;
                json!({
                    "attributes": {"type": "Account", "url": format!("/services/data/v62.0/sobjects/Account/001{n:012}AAA")},
                    "Id": format!("001{n:012}AAA"), "IsDeleted": false,
                    "SystemModstamp": format!("2024-01-31T13:{:02}:{:02}.000+0000", (n / 60) % 60, n % 60),
                    "Name": format!("Account {n}{name_suffix}"), "Industry": "Banking",
                    "AnnualRevenue": 1000 + n, "Ext_Id__c": format!("E-{n}")
                })
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() {
    let cluster = Cluster::start(true);
    let db = cluster.database().await;
    let client = db.connect().await;
    let options = json!({"upsert_field": "Ext_Id__c", "describe": describe_fixture("account")});
    let mapping: i64 = client
        .query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name','Industry','AnnualRevenue','Ext_Id__c'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .unwrap()
        .get(0);

    // claim + complete round trips, 200 changes each
    let rounds = 50;
    client
        .batch_execute(&format!(
            "INSERT INTO salesforce.account (name, industry, ext_id__c) SELECT 'a' || g, 'Energy', 'X-' || g FROM generate_series(1, {}) g",
            rounds * 200
        ))
        .await
        .unwrap();
    let mut round_trips = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let claimed = client
            .query("SELECT change_id, lease_token::text, record_id FROM sfsync._claim_changes(200, 60)", &[])
            .await
            .unwrap();
        let results: Vec<Value> = claimed
            .iter()
            .map(|r| {
                let record: i64 = r.get(2);
                json!({"id": r.get::<_, i64>(0), "token": r.get::<_, String>(1), "outcome": "SUCCESS", "sfid": format!("001{record:012}ZZZ")})
            })
            .collect();
        assert_eq!(results.len(), 200);
        client
            .execute(
                "SELECT sfsync._complete_changes($1::text::jsonb)",
                &[&Value::Array(results).to_string()],
            )
            .await
            .unwrap();
        round_trips.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    round_trips.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let claim_complete = json!({
        "batch": 200, "rounds": rounds,
        "p50_ms": percentile(&round_trips, 0.5), "p99_ms": percentile(&round_trips, 0.99),
        "changes_per_second": 200.0 / (percentile(&round_trips, 0.5) / 1000.0),
    });
    println!(
        "claim + complete of 200 changes: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.99)
    );

    // _apply_records: 10,000 new records, then the same 10,000 changed
    let mut apply = serde_json::Map::new();
    for (label, suffix) in [("insert", ""), ("update", " (renamed)")] {
        let batch = records(10_000, 100_000, suffix).to_string();
        let started = Instant::now();
        client
            .execute(
                "SELECT sfsync._apply_records($1, $2::text::jsonb)",
                &[&mapping, &batch],
            )
            .await
            .unwrap();
        let rate = 10_000.0 / started.elapsed().as_secs_f64();
        println!("_apply_records 10,000 records ({label}): {rate:.0} records/s");
        apply.insert(
            label.into(),
            json!({"records": 10_000, "records_per_second": rate}),
        );
    }

    // staged load: COPY 200,000 CSV rows into the stage, then one merge
    let stage: Value = serde_json::from_str(
        &client
            .query_one("SELECT sfsync._create_stage($1)::text", &[&mapping])
            .await
            .unwrap()
            .get::<_, String>(0),
    )
    .unwrap();
    let columns: Vec<String> = stage["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let fields: Vec<String> = stage["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let rows = 200_000;
    let mut csv = String::with_capacity(rows * 100);
    csv.push_str(&fields.join(","));
    csv.push('\n');
    for n in 0..rows {
        let id = format!("001{:012}BBB", n);
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                csv.push(',');
            }
            let value = match field.as_str() {
                "Id" => id.clone(),
                "IsDeleted" => "false".into(),
                "SystemModstamp" => "2024-02-01T10:00:00.000Z".into(),
                "Name" => format!("\"Loaded, {n}\""),
                "Industry" => "Energy".into(),
                "AnnualRevenue" => (n * 7).to_string(),
                "Ext_Id__c" => format!("L-{n}"),
                _ => String::new(),
            };
            csv.push_str(&value);
        }
        csv.push('\n');
    }
    let started = Instant::now();
    let sink = client
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)",
            stage["table"].as_str().unwrap(),
            columns.join(", ")
        ))
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(csv)).await.unwrap();
    sink.finish().await.unwrap();
    let copied = started.elapsed().as_secs_f64();
    client
        .execute("SELECT sfsync._merge_stage($1, 'apply')", &[&mapping])
        .await
        .unwrap();
    let total = started.elapsed().as_secs_f64();
    println!(
        "staged load of {rows} rows: COPY {:.0} rows/s, COPY + merge {:.0} rows/s",
        rows as f64 / copied,
        rows as f64 / total
    );
    let staged = json!({"rows": rows, "copy_rows_per_second": rows as f64 / copied, "copy_and_merge_rows_per_second": rows as f64 / total});

    let out = json!({"claim_complete": claim_complete, "apply_records": apply, "staged_load": staged, "fsync": true});
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("protocol.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
}
