//! Benchmark of the sidecar's reader against the emulator, on a real cluster (fsync on):
//! - load: initial load of 1,000,000 narrow records (records/s, the sidecar's peak RSS from VmHWM),
//!   next to a plain `COPY` of the same rows (exported once as CSV through a Bulk API query) into an
//!   equivalent table;
//! - cdc: Salesforce write → Postgres row visible, p50/p99, and idle API calls per hour while
//!   streaming (measured over a few minutes, extrapolated);
//! - polling: the same latency with a 2 s poll interval.
//!
//! `cargo run --release -p sfsync-tests --bin bench_reader` (after building the sidecar and the
//! emulator in release with the same target dir). Environment: `BENCH_RECORDS` (1000000),
//! `BENCH_CDC_SAMPLES` (200), `BENCH_POLL_SAMPLES` (30), `BENCH_IDLE_SECONDS` (330). Prints figures
//! and writes `bench/results/reader.json`.

use futures::SinkExt;
use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::bench::{env_number, percentile, sidecar_env, wait_state};
use sfsync_tests::{Cluster, Emulator, Sidecar};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// VmHWM (peak resident set) of a process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Exports the object's rows as Bulk API CSV pages (header in every page).
async fn export_csv(emulator: &Emulator, soql: &str) -> Vec<bytes::Bytes> {
    let (status, job) = emulator
        .rest(
            Method::POST,
            "jobs/query",
            Some(json!({"operation": "queryAll", "query": soql})),
        )
        .await;
    assert_eq!(status, 200, "query job: {job}");
    let id = job["id"].as_str().expect("job id").to_string();
    loop {
        let (_, info) = emulator
            .rest(Method::GET, &format!("jobs/query/{id}"), None)
            .await;
        if info["state"] == "JobComplete" {
            break;
        }
        assert!(info["state"] != "Failed", "{info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut pages = Vec::new();
    let mut locator: Option<String> = None;
    loop {
        let path = match &locator {
            None => format!("jobs/query/{id}/results?maxRecords=100000"),
            Some(locator) => format!("jobs/query/{id}/results?maxRecords=100000&locator={locator}"),
        };
        let (status, headers, body) = emulator.get_raw(&path).await;
        assert_eq!(status, 200);
        pages.push(body);
        match headers.get("Sforce-Locator").and_then(|v| v.to_str().ok()) {
            Some(next) if next != "null" && !next.is_empty() => locator = Some(next.to_string()),
            _ => break,
        }
    }
    pages
}

struct LoadFigures {
    records: u64,
    seconds: f64,
    peak_rss_mb: f64,
    copy_seconds: f64,
}

async fn bench_load(cluster: &Cluster, emulator: &Emulator, records: u64) -> LoadFigures {
    emulator
        .admin(
            Method::POST,
            "objects",
            Some(json!({"name": "Narrow__c", "fields": [
                {"name": "Amount__c", "type": "currency", "precision": 16, "scale": 2},
                {"name": "Code__c", "type": "string", "length": 20, "externalId": true},
                {"name": "Flag__c", "type": "boolean"}
            ]})),
        )
        .await;
    let started = Instant::now();
    let mut left = records;
    while left > 0 {
        let chunk = left.min(250_000);
        emulator
            .admin(
                Method::POST,
                "seed",
                Some(json!({"object": "Narrow__c", "count": chunk, "fields": {"Flag__c": true, "Amount__c": 12345.67}})),
            )
            .await;
        left -= chunk;
    }
    eprintln!(
        "seeded {records} Narrow__c records in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let db = cluster.database().await;
    let client = db.connect().await;
    let env = sidecar_env(emulator, &db, &[]);
    let mut sidecar = Sidecar::start(&env);
    let pid = sidecar.pid().expect("sidecar pid");
    client
        .execute(
            "SELECT sfsync.create_mapping('Narrow__c', ARRAY['Name','Amount__c','Code__c','Flag__c'], 'read_only', '{\"poll_seconds\": 3600}')",
            &[],
        )
        .await
        .expect("create mapping");
    let loading = wait_state(&client, "Narrow__c", "LOADING", Duration::from_secs(120)).await;
    let synced = wait_state(&client, "Narrow__c", "SYNCED", Duration::from_secs(1800)).await;
    let seconds = synced.duration_since(loading).as_secs_f64();
    let peak = peak_rss_mb(pid);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM salesforce.narrow__c", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows as u64, records, "every record loaded");
    sidecar.terminate(Duration::from_secs(30));
    eprintln!(
        "loaded {records} records in {seconds:.1}s ({:.0}/s), sidecar peak RSS {peak:.0} MB",
        records as f64 / seconds
    );

    // the baseline: the same rows as CSV, COPYed into an equivalent table
    let pages = export_csv(
        emulator,
        "SELECT Id, IsDeleted, SystemModstamp, Name, Amount__c, Code__c, Flag__c FROM Narrow__c",
    )
    .await;
    client
        .batch_execute(
            "CREATE TABLE public.narrow_copy (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sfid varchar(18) UNIQUE,
                 isdeleted boolean, systemmodstamp timestamp, name varchar(80), amount__c numeric(16,2), code__c varchar(20),
                 flag__c boolean, _hc_lastop varchar(32), _hc_err text);
             CREATE INDEX ON public.narrow_copy (systemmodstamp)",
        )
        .await
        .expect("baseline table");
    let copy_started = Instant::now();
    for page in pages {
        let sink = client
            .copy_in::<_, bytes::Bytes>(
                "COPY public.narrow_copy (sfid, isdeleted, systemmodstamp, name, amount__c, code__c, flag__c) FROM STDIN \
                 (FORMAT csv, HEADER true, FORCE_NULL (isdeleted, systemmodstamp, name, amount__c, code__c, flag__c))",
            )
            .await
            .expect("copy");
        futures::pin_mut!(sink);
        sink.send(page).await.expect("copy data");
        sink.as_mut().finish().await.expect("copy finish");
    }
    let copy_seconds = copy_started.elapsed().as_secs_f64();
    LoadFigures {
        records,
        seconds,
        peak_rss_mb: peak,
        copy_seconds,
    }
}

/// Writes a new Name as another client and times until Postgres shows it. Between samples it
/// waits a random time up to `pause`, so writes land at every phase of a poll interval.
async fn latency_samples(
    emulator: &Emulator,
    client: &Client,
    id: &str,
    samples: usize,
    pause: Duration,
) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(samples);
    for n in 0..samples {
        let name = format!("Latency {n} {}", rand::random::<u32>());
        let started = Instant::now();
        emulator
            .write_as_other("Account", json!([{"Id": id, "Name": name}]))
            .await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let current: Option<String> = client
                .query_opt(
                    "SELECT name FROM salesforce.account WHERE sfid = $1",
                    &[&id],
                )
                .await
                .expect("select")
                .and_then(|row| row.get(0));
            if current.as_deref() == Some(name.as_str()) {
                break;
            }
            assert!(Instant::now() < deadline, "the change never arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(pause.mul_f64(rand::random::<f64>())).await;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    latencies
}

fn api_used(stats: &Value) -> u64 {
    stats["apiUsage"]["used"].as_u64().unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let records = env_number("BENCH_RECORDS", 1_000_000);
    let cdc_samples = env_number("BENCH_CDC_SAMPLES", 200) as usize;
    let poll_samples = env_number("BENCH_POLL_SAMPLES", 30) as usize;
    let idle_seconds = env_number("BENCH_IDLE_SECONDS", 330);
    let cluster = Cluster::start(true);

    // --- load ---
    let emulator = Emulator::start(&[]);
    let load = bench_load(&cluster, &emulator, records).await;
    drop(emulator);
    let load_rate = load.records as f64 / load.seconds;
    let copy_rate = load.records as f64 / load.copy_seconds;
    println!(
        "load     {} records in {:.1}s = {:.0} records/s, sidecar peak RSS {:.0} MB; plain COPY {:.1}s = {:.0} records/s (load/COPY time {:.2}x)",
        load.records, load.seconds, load_rate, load.peak_rss_mb, load.copy_seconds, copy_rate, load.seconds / load.copy_seconds
    );

    // --- CDC latency and idle API usage ---
    let emulator = Emulator::start(&[]);
    let ids = sfsync_tests_ids(
        emulator
            .write_as_other("Account", json!([{"Name": "Latency"}, {"Name": "Polling"}]))
            .await,
    );
    let db = cluster.database().await;
    let client = db.connect().await;
    let mut sidecar = Sidecar::start(&sidecar_env(&emulator, &db, &[]));
    client
        .execute("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"streaming\": true, \"poll_seconds\": 3600}')", &[])
        .await
        .expect("mapping");
    wait_state(&client, "Account", "SYNCED", Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let cdc = latency_samples(
        &emulator,
        &client,
        &ids[0],
        cdc_samples,
        Duration::from_millis(40),
    )
    .await;
    println!(
        "cdc      write → row visible: p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        percentile(&cdc, 0.5),
        percentile(&cdc, 0.99),
        cdc.len()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = api_used(&emulator.admin(Method::GET, "stats", None).await);
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let after = api_used(&emulator.admin(Method::GET, "stats", None).await);
    let idle_per_hour = (after - before) as f64 * 3600.0 / idle_seconds as f64;
    println!("idle     {} API calls in {idle_seconds}s while streaming = {idle_per_hour:.0} per hour per mapping", after - before);
    sidecar.terminate(Duration::from_secs(30));
    drop(client);

    // --- polling latency ---
    let db = cluster.database().await;
    let client = db.connect().await;
    let mut sidecar = Sidecar::start(&sidecar_env(
        &emulator,
        &db,
        &[("SFSYNC_REREAD_SECONDS", "5")],
    ));
    client
        .execute("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"poll_seconds\": 2}')", &[])
        .await
        .expect("mapping");
    wait_state(&client, "Account", "SYNCED", Duration::from_secs(120)).await;
    let polling = latency_samples(
        &emulator,
        &client,
        &ids[1],
        poll_samples,
        Duration::from_secs(2),
    )
    .await;
    println!(
        "polling  write → row visible with a 2 s interval: p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        percentile(&polling, 0.5),
        percentile(&polling, 0.99),
        polling.len()
    );
    sidecar.terminate(Duration::from_secs(30));

    let results = json!({
        "load": {
            "records": load.records,
            "seconds": load.seconds,
            "records_per_second": load_rate,
            "peak_rss_mb": load.peak_rss_mb,
            "copy_seconds": load.copy_seconds,
            "copy_records_per_second": copy_rate,
            "time_vs_copy": load.seconds / load.copy_seconds,
            "goal_records_per_second": 70_000,
            "goal_peak_rss_mb": 150,
        },
        "cdc": {
            "p50_ms": percentile(&cdc, 0.5),
            "p99_ms": percentile(&cdc, 0.99),
            "samples": cdc.len(),
            "idle_api_calls_per_hour": idle_per_hour,
            "idle_measured_seconds": idle_seconds,
            "goal_p50_ms": 200,
        },
        "idle_api_calls_per_hour": idle_per_hour,
        "polling": {
            "poll_seconds": 2,
            "p50_ms": percentile(&polling, 0.5),
            "p99_ms": percentile(&polling, 0.99),
            "samples": polling.len(),
        },
    });
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&directory).expect("bench/results");
    let path = directory.join("reader.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).expect("json"))
        .expect("write results");
    println!("wrote {}", path.display());
}

fn sfsync_tests_ids(results: Value) -> Vec<String> {
    results
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}
