//! Benchmark of fresh formula fields against the emulator, on a real cluster (fsync on): 10,000
//! Contacts under 100 Accounts, each Contact with a formula over its Account (`Account.Industry`).
//! Another user changes one Account's Industry at a time; measured per mode: the time from the
//! change to all of that Account's Contacts showing the new value in Postgres (p50, p99), and the API
//! calls the refresh spent per change (the mapping's `formula_api_calls`: watching and re-reading).
//! Modes: Account and Contact mapped and polled (`poll_seconds` 2), both on CDC, and Contact alone
//! (Account unmapped: watched by a light poll per read cycle).
//!
//! `cargo run --release -p sfsync-tests --bin bench_formulas` (after building the sidecar and the
//! emulator in release). Environment: `BENCH_CHILDREN` (10000), `BENCH_PARENTS` (100),
//! `BENCH_CHANGES` (20 per mode). Writes `bench/results/formulas.json`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::bench::{env_number, percentile, sidecar_env, wait_state};
use sfsync_tests::{Cluster, Emulator, Sidecar};
use tokio_postgres::Client;

const INDUSTRIES: [&str; 2] = ["Banking", "Energy"];

/// One mode's setting.
struct Mode {
    name: &'static str,
    account_mapped: bool,
    streaming: bool,
}

async fn formula_calls(client: &Client) -> i64 {
    client
        .query_one(
            "SELECT formula_api_calls FROM sfsync.mapping WHERE object_name = 'Contact'",
            &[],
        )
        .await
        .expect("formula_api_calls")
        .get(0)
}

/// Contacts of `account` not yet showing `industry`.
async fn stale(client: &Client, account: &str, industry: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM salesforce.contact
              WHERE accountid = $1 AND account_industry__c IS DISTINCT FROM $2",
            &[&account, &industry],
        )
        .await
        .expect("stale contacts")
        .get(0)
}

async fn run(
    cluster: &Cluster,
    emulator: &Emulator,
    mode: &Mode,
    accounts: &[String],
    changes: usize,
) -> Value {
    let db = cluster.database().await;
    let client = db.connect().await;
    let mut sidecar = Sidecar::start(&sidecar_env(emulator, &db, &[]));
    let options = json!({"poll_seconds": 2, "streaming": mode.streaming}).to_string();
    if mode.account_mapped {
        client
            .execute(
                "SELECT sfsync.create_mapping('Account', ARRAY['Name', 'Industry'], 'read_only', $1::text::jsonb)",
                &[&options],
            )
            .await
            .expect("map Account");
    }
    client
        .execute(
            "SELECT sfsync.create_mapping('Contact', ARRAY['LastName', 'AccountId', 'Account_Industry__c'], 'read_only', $1::text::jsonb)",
            &[&options],
        )
        .await
        .expect("map Contact");
    for object in ["Account", "Contact"]
        .iter()
        .filter(|object| mode.account_mapped || **object == "Contact")
    {
        wait_state(&client, object, "SYNCED", Duration::from_secs(600)).await;
    }
    // the watches start and the first light polls go by before anything is counted
    tokio::time::sleep(Duration::from_secs(5)).await;
    let calls_before = formula_calls(&client).await;
    let mut seconds = Vec::new();
    for change in 0..changes {
        let account = &accounts[change % accounts.len()];
        let industry = INDUSTRIES[(change / accounts.len() + 1) % 2];
        let industry = format!("{industry} {}", mode.name);
        let started = Instant::now();
        emulator
            .admin(
                Method::POST,
                "records",
                Some(json!({"object": "Account", "records": [{"Id": account, "Industry": industry}]})),
            )
            .await;
        let deadline = started + Duration::from_secs(120);
        while stale(&client, account, &industry).await > 0 {
            assert!(
                Instant::now() < deadline,
                "{}: the contacts of {account} never showed {industry}",
                mode.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seconds.push(started.elapsed().as_secs_f64());
    }
    let calls = formula_calls(&client).await - calls_before;
    sidecar.terminate(Duration::from_secs(30));
    seconds.sort_by(f64::total_cmp);
    let figures = json!({
        "changes": changes,
        "p50_seconds": percentile(&seconds, 0.5),
        "p99_seconds": percentile(&seconds, 0.99),
        "api_calls_per_parent_change": calls as f64 / changes as f64,
    });
    println!(
        "{:<28} parent change → fresh children p50 {:.2} s, p99 {:.2} s, {:.2} API calls per change",
        mode.name,
        figures["p50_seconds"].as_f64().unwrap_or(f64::NAN),
        figures["p99_seconds"].as_f64().unwrap_or(f64::NAN),
        figures["api_calls_per_parent_change"].as_f64().unwrap_or(f64::NAN)
    );
    figures
}

#[tokio::main]
async fn main() {
    let children = env_number("BENCH_CHILDREN", 10_000);
    let parents = env_number("BENCH_PARENTS", 100);
    let changes = env_number("BENCH_CHANGES", 20) as usize;
    let cluster = Cluster::start(true);
    let emulator = Emulator::start(&[]);
    emulator
        .admin(
            Method::POST,
            "objects/Contact/fields",
            Some(
                json!({"name": "Account_Industry__c", "type": "string", "length": 255,
                        "calculated": true, "calculatedFormula": "Account.Industry"}),
            ),
        )
        .await;
    emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Account", "count": parents, "fields": {"Industry": "Energy"}})),
        )
        .await;
    emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Contact", "count": children, "parent": {"field": "AccountId"}})),
        )
        .await;
    // the org's clock moves on and one more Contact is made: the polls' re-read window (which reads
    // the records just before the high-water mark again) no longer covers the seeded ones, so only
    // the formula refresh can bring their new values
    emulator
        .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 300})))
        .await;
    emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Contact", "count": 1, "fields": {"LastName": "Marker"}})),
        )
        .await;
    let accounts: Vec<String> = emulator
        .query("SELECT Id FROM Account ORDER BY Id")
        .await
        .iter()
        .filter_map(|record| record["Id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(accounts.len() as u64, parents, "the seeded accounts");

    let modes = [
        Mode {
            name: "polling",
            account_mapped: true,
            streaming: false,
        },
        Mode {
            name: "cdc",
            account_mapped: true,
            streaming: true,
        },
        Mode {
            name: "polling_unmapped_parent",
            account_mapped: false,
            streaming: false,
        },
    ];
    let mut results = json!({"children": children, "parents": parents});
    for mode in &modes {
        results[mode.name] = run(&cluster, &emulator, mode, &accounts, changes).await;
    }
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&directory).expect("bench/results");
    let path = directory.join("formulas.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).expect("json"))
        .expect("write results");
    println!("wrote {}", path.display());
}
