//! Benchmark of the sidecar's writer against the emulator, on a real cluster (fsync on):
//! - drain: 100,000 changes (50,000 inserts with an external id + 50,000 updates of synced records)
//!   committed in one transaction while the sidecar runs, timed from that commit to an empty queue,
//!   with the sidecar's defaults (Bulk API 2.0 for the backlog) and with Collections only; records/s
//!   and API calls per 1,000 changes (every `/services/data` call in `/__emulator/stats`, the
//!   reader's included), next to a baseline that claims through the same protocol and sends one REST
//!   call per change. The sidecar is started before the changes commit and its reader has made its
//!   start-up poll (poll_seconds is an hour here), so the figures are the writer's: with a short
//!   poll interval the reader also reads every written record back, which costs Postgres time too;
//! - latency: single-row commits at 20/s for 30 s, commit → record created in Salesforce, p50/p99,
//!   for the sidecar and for the baseline loop.
//!
//! How latency is measured: the bench notes the wall clock right after each single-row INSERT
//! commits, and afterwards reads each record's `CreatedDate` (the emulator's commit time, in ms, from
//! the same clock on this machine) with one SOQL query. Nothing polls Salesforce while the samples are
//! taken, so the measurement does not add load or delay.
//!
//! `cargo run --release -p sfsync-tests --bin bench_writer` (after building the sidecar and the
//! emulator in release with the same target dir). Environment: `BENCH_CHANGES` (100000; half inserts,
//! half updates), `BENCH_BASELINE_CHANGES` (100000), `BENCH_LATENCY_SECONDS` (30), `BENCH_RATE` (20).
//! Prints figures and writes `bench/results/writer.json`.

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::bench::{env_number, percentile};
use sfsync_tests::{Cluster, Emulator, Sidecar, World};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_postgres::Client;

const WRITE_ROUTES: [&str; 2] = ["/composite/sobjects", "/jobs/ingest"];

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `2024-01-31T13:51:35.120+0000` → milliseconds since the epoch.
fn salesforce_ms(text: &str) -> f64 {
    let (date, rest) = text.split_once('T').expect("a datetime");
    let mut date_parts = date
        .split('-')
        .map(|p| p.parse::<i64>().expect("date part"));
    let (year, month, day) = (
        date_parts.next().unwrap(),
        date_parts.next().unwrap(),
        date_parts.next().unwrap(),
    );
    let clock = &rest[..12];
    let hours: f64 = clock[0..2].parse().expect("hours");
    let minutes: f64 = clock[3..5].parse().expect("minutes");
    let seconds: f64 = clock[6..12].parse().expect("seconds");
    // days from civil (Howard Hinnant's algorithm)
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    ((days as f64 * 86400.0) + hours * 3600.0 + minutes * 60.0 + seconds) * 1000.0
}

/// API calls per route (only `/services/data` routes: what counts against the org's allowance).
async fn api_calls(emulator: &Emulator) -> HashMap<String, u64> {
    let stats = emulator.admin(Method::GET, "stats", None).await;
    stats["apiCalls"]
        .as_object()
        .map(|calls| {
            calls
                .iter()
                .filter(|(route, _)| route.contains("/services/data/"))
                .map(|(route, count)| (route.clone(), count.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

struct CallDelta {
    total: u64,
    writes: u64,
}

fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> CallDelta {
    let mut total = 0;
    let mut writes = 0;
    for (route, count) in after {
        let used = count - before.get(route).copied().unwrap_or(0);
        total += used;
        if WRITE_ROUTES.iter().any(|w| route.contains(w)) {
            writes += used;
        }
    }
    CallDelta { total, writes }
}

async fn queued(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM sfsync.change", &[])
        .await
        .expect("queue")
        .get(0)
}

async fn wait_drained(client: &Client, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if queued(client).await == 0 {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not drain in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An emulator with `synced` Account records also present (synced) in Postgres.
async fn world(cluster: &Cluster, synced: u64) -> World {
    // no preset: the sidecar's own defaults are what is measured
    let world = World::builder().start_in(cluster).await;
    world.add_external_id("Account", "Ext_Id__c").await;
    let mut left = synced;
    while left > 0 {
        let chunk = left.min(100_000);
        world
            .emulator
            .admin(
                Method::POST,
                "seed",
                Some(json!({"object": "Account", "count": chunk})),
            )
            .await;
        left -= chunk;
    }
    // read-write from the emulator's describe, polling hourly
    world
        .map_from_describe(
            "Account",
            &["Name", "AnnualRevenue", "NumberOfEmployees", "Ext_Id__c"],
            json!({"upsert_field": "Ext_Id__c"}),
        )
        .await;
    // the reader loads the synced records; then the sidecar stops so the queue can be filled
    let mut sidecar = Sidecar::start(&world.env);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let row = world
            .sql
            .query_one(
                "SELECT state, (SELECT count(*) FROM salesforce.account) FROM sfsync.mapping",
                &[],
            )
            .await
            .expect("state");
        let (state, rows): (String, i64) = (row.get(0), row.get(1));
        if state == "SYNCED" && rows as u64 == synced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the initial load did not finish: {state}, {rows} rows"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sidecar.terminate(Duration::from_secs(30));
    world
}

/// Waits until no other session of the database has been seen running a statement (other than the
/// writer's empty polls) for two seconds: a stopped sidecar's last statements may still be
/// finishing, and a started one's reader reads back what was written since its last poll, page by
/// page.
async fn wait_quiet(world: &World) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut quiet_since = Instant::now();
    loop {
        let busy: i64 = world
            .sql
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    AND state <> 'idle' AND query NOT LIKE '%sfsync._claim_changes%'",
                &[],
            )
            .await
            .expect("activity")
            .get(0);
        if busy > 0 {
            quiet_since = Instant::now();
        }
        if quiet_since.elapsed() >= Duration::from_secs(2) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Queues `inserts` inserts (new external ids with `prefix`) and an update of `updates` synced rows,
/// all in one transaction; returns when it has committed.
async fn queue_changes(world: &World, inserts: u64, updates: u64, prefix: &str) -> Instant {
    wait_quiet(world).await;
    world
        .sql
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO salesforce.account (name, annualrevenue, numberofemployees, ext_id__c)
             SELECT 'New ' || g, g * 10, g % 1000, '{prefix}-' || g FROM generate_series(1, {inserts}) g;
             UPDATE salesforce.account SET name = 'Upd {prefix} ' || id, annualrevenue = id
              WHERE id IN (SELECT id FROM salesforce.account WHERE sfid IS NOT NULL ORDER BY id LIMIT {updates});
             COMMIT;"
        ))
        .await
        .expect("queue changes");
    Instant::now()
}

struct Drain {
    changes: u64,
    seconds: f64,
    calls: CallDelta,
}

impl Drain {
    fn rate(&self) -> f64 {
        self.changes as f64 / self.seconds
    }
    fn per_thousand(&self) -> f64 {
        self.calls.total as f64 * 1000.0 / self.changes as f64
    }
    fn json(&self) -> Value {
        json!({"changes": self.changes, "seconds": self.seconds, "records_per_second": self.rate(),
               "api_calls": self.calls.total, "write_api_calls": self.calls.writes,
               "api_calls_per_1000_changes": self.per_thousand()})
    }
}

/// The sidecar runs first (its reader's start-up poll done, so the reader is idle), then the
/// changes commit at once; the drain is timed from that commit to an empty queue.
async fn drain_with_sidecar(
    world: &World,
    changes: u64,
    prefix: &str,
    extra: &[(&str, &str)],
) -> Drain {
    let mut sidecar = Sidecar::start(&world.env_with(extra));
    wait_reader_idle(world).await;
    let before = api_calls(&world.emulator).await;
    let committed = queue_changes(world, changes / 2, changes - changes / 2, prefix).await;
    let finished = wait_drained(&world.sql, Duration::from_secs(1800)).await;
    let seconds = finished.duration_since(committed).as_secs_f64();
    let after = api_calls(&world.emulator).await;
    sidecar.terminate(Duration::from_secs(30));
    let failed: i64 = world
        .sql
        .query_one(
            "SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'",
            &[],
        )
        .await
        .expect("failed")
        .get(0);
    assert_eq!(failed, 0, "no change failed");
    Drain {
        changes,
        seconds,
        calls: delta(&before, &after),
    }
}

/// Waits until the started sidecar's reader has read back everything written before it started
/// (its high-water mark reached the org's latest SystemModstamp; it polls again only after
/// `poll_seconds`, an hour here) and the database is quiet.
async fn wait_reader_idle(world: &World) {
    let latest = world
        .emulator
        .query("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")
        .await;
    let latest_ms = latest
        .first()
        .and_then(|record| record["SystemModstamp"].as_str())
        .map(salesforce_ms)
        .unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let hwm: Option<f64> = world
            .sql
            .query_one(
                "SELECT (extract(epoch FROM max(hwm)) * 1000)::float8 FROM sfsync.mapping",
                &[],
            )
            .await
            .expect("hwm")
            .get(0);
        if hwm.is_some_and(|hwm| hwm >= latest_ms) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reader did not catch up: hwm {hwm:?}, latest {latest_ms}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_quiet(world).await;
}

/// The baseline writer: claims through the same protocol, one REST call per change, in one loop.
struct Baseline {
    sql: Client,
    emulator_url: String,
    http: reqwest::Client,
    token: String,
}

impl Baseline {
    async fn new(world: &World) -> Baseline {
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(&world.emulator.ca_file).expect("ca"))
                .expect("ca pem");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .expect("http client");
        let token: Value = http
            .post(format!("{}/services/oauth2/token", world.emulator.url))
            .form(&[
                ("grant_type", "password"),
                ("client_id", sfsync_tests::emulator::CLIENT_ID),
                ("client_secret", sfsync_tests::emulator::CLIENT_SECRET),
                ("username", sfsync_tests::emulator::USERNAME),
                ("password", sfsync_tests::emulator::PASSWORD),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        Baseline {
            sql: world.db.connect().await,
            emulator_url: world.emulator.url.clone(),
            http,
            token: token["access_token"].as_str().expect("token").to_string(),
        }
    }

    /// Claims up to 200 changes and writes each with its own call; returns how many it handled.
    async fn round(&self) -> usize {
        let rows = self
            .sql
            .query(
                "SELECT change_id, action, sfid::text, record::text, lease_token::text FROM sfsync._claim_changes(200, 60)",
                &[],
            )
            .await
            .expect("claim");
        let mut results = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.get(0);
            let action: String = row.get(1);
            let sfid: Option<String> = row.get(2);
            let record: Value =
                serde_json::from_str(row.get::<_, Option<&str>>(3).unwrap_or("null"))
                    .expect("record");
            let token: String = row.get(4);
            let base = format!(
                "{}/services/data/v{}/sobjects/Account",
                self.emulator_url,
                sfsync_tests::emulator::API_VERSION
            );
            let body = json!({"Name": record["name"], "AnnualRevenue": record["annualrevenue"],
                              "NumberOfEmployees": record["numberofemployees"]});
            let (request, new_sfid) = match (action.as_str(), sfid) {
                ("UPDATE", Some(sfid)) => (
                    self.http.patch(format!("{base}/{sfid}")).json(&body),
                    Some(sfid),
                ),
                _ => {
                    let ext = record["ext_id__c"]
                        .as_str()
                        .expect("external id")
                        .to_string();
                    (
                        self.http
                            .patch(format!("{base}/Ext_Id__c/{ext}"))
                            .json(&body),
                        None,
                    )
                }
            };
            let response = request
                .bearer_auth(&self.token)
                .header("Sforce-Call-Options", "client=baseline")
                .send()
                .await
                .expect("call");
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            assert!(
                status.is_success(),
                "baseline call failed: {status} {answer}"
            );
            let sfid = new_sfid.or_else(|| answer["id"].as_str().map(str::to_string));
            results.push(json!({"id": id, "token": token, "outcome": "SUCCESS", "sfid": sfid}));
        }
        if !results.is_empty() {
            self.sql
                .execute(
                    "SELECT sfsync._complete_changes($1::text::jsonb)",
                    &[&Value::Array(results).to_string()],
                )
                .await
                .expect("complete");
        }
        rows.len()
    }
}

async fn drain_with_baseline(world: &World, changes: u64, prefix: &str) -> Drain {
    let baseline = Baseline::new(world).await;
    let before = api_calls(&world.emulator).await;
    let started = queue_changes(world, changes / 2, changes - changes / 2, prefix).await;
    while baseline.round().await > 0 {}
    let seconds = started.elapsed().as_secs_f64();
    let after = api_calls(&world.emulator).await;
    Drain {
        changes,
        seconds,
        calls: delta(&before, &after),
    }
}

/// Inserts one row per commit at `rate` per second for `seconds`; returns the commit times by
/// external id.
async fn commit_singles(
    world: &World,
    prefix: &str,
    rate: u64,
    seconds: u64,
) -> HashMap<String, f64> {
    let app = world.db.connect().await;
    let statement = app
        .prepare("INSERT INTO salesforce.account (name, ext_id__c) VALUES ($1, $2)")
        .await
        .expect("prepare");
    let mut committed = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0..rate * seconds {
        ticker.tick().await;
        let ext = format!("{prefix}-{n}");
        app.execute(&statement, &[&format!("Latency {n}"), &ext])
            .await
            .expect("insert");
        committed.insert(ext, now_ms());
    }
    committed
}

/// Commit → CreatedDate for every sample, sorted.
async fn latencies(world: &World, prefix: &str, committed: &HashMap<String, f64>) -> Vec<f64> {
    wait_drained(&world.sql, Duration::from_secs(300)).await;
    let records = world
        .emulator
        .query(&format!(
            "SELECT Ext_Id__c, CreatedDate FROM Account WHERE Ext_Id__c LIKE '{prefix}-%'"
        ))
        .await;
    let mut samples: Vec<f64> = records
        .iter()
        .filter_map(|record| {
            let commit = committed.get(record["Ext_Id__c"].as_str()?)?;
            Some(salesforce_ms(record["CreatedDate"].as_str()?) - commit)
        })
        .collect();
    assert_eq!(
        samples.len(),
        committed.len(),
        "every sample reached Salesforce"
    );
    samples.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    samples
}

fn latency_json(samples: &[f64]) -> Value {
    json!({"p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99),
           "max_ms": percentile(samples, 1.0), "samples": samples.len()})
}

#[tokio::main]
async fn main() {
    let changes = env_number("BENCH_CHANGES", 100_000);
    let baseline_changes = env_number("BENCH_BASELINE_CHANGES", 100_000);
    let latency_seconds = env_number("BENCH_LATENCY_SECONDS", 30);
    let rate = env_number("BENCH_RATE", 20);
    let cluster = Cluster::start(true);
    let synced = changes.max(baseline_changes) / 2 + 1;
    let world = world(&cluster, synced).await;
    eprintln!("set up: {synced} synced accounts");

    let bulk = drain_with_sidecar(&world, changes, "BULK", &[]).await;
    println!(
        "drain (sidecar, defaults: Bulk API 2.0 for the backlog): {} changes in {:.1} s = {:.0} records/s, {} API calls ({:.2} per 1,000 changes)",
        bulk.changes, bulk.seconds, bulk.rate(), bulk.calls.total, bulk.per_thousand()
    );
    let collections = drain_with_sidecar(
        &world,
        changes,
        "COLL",
        &[("SFSYNC_BULK_THRESHOLD", "100000000")],
    )
    .await;
    println!(
        "drain (sidecar, sObject Collections only):               {} changes in {:.1} s = {:.0} records/s, {} API calls ({:.2} per 1,000 changes)",
        collections.changes, collections.seconds, collections.rate(), collections.calls.total, collections.per_thousand()
    );
    let baseline = drain_with_baseline(&world, baseline_changes, "BASE").await;
    println!(
        "drain (baseline, one REST call per change):              {} changes in {:.1} s = {:.0} records/s, {} API calls ({:.2} per 1,000 changes)",
        baseline.changes, baseline.seconds, baseline.rate(), baseline.calls.total, baseline.per_thousand()
    );

    // Latency: the sidecar idles, then single-row commits arrive at `rate` per second.
    let mut sidecar = Sidecar::start(&world.env);
    wait_reader_idle(&world).await;
    let committed = commit_singles(&world, "LAT", rate, latency_seconds).await;
    let sidecar_latency = latencies(&world, "LAT", &committed).await;
    sidecar.terminate(Duration::from_secs(30));
    println!(
        "latency (sidecar) commit → created in Salesforce at {rate}/s: p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        percentile(&sidecar_latency, 0.5),
        percentile(&sidecar_latency, 0.99),
        sidecar_latency.len()
    );

    // The baseline loop polls the queue as often as the sidecar does (every 50 ms).
    let baseline_loop = Baseline::new(&world).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let poller = tokio::spawn(async move {
        while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
            if baseline_loop.round().await == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let committed = commit_singles(&world, "BLAT", rate, latency_seconds).await;
    let baseline_latency = latencies(&world, "BLAT", &committed).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    poller.await.expect("baseline loop");
    println!(
        "latency (baseline) commit → created in Salesforce at {rate}/s: p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        percentile(&baseline_latency, 0.5),
        percentile(&baseline_latency, 0.99),
        baseline_latency.len()
    );

    let results = json!({
        "summary": {
            "records_per_second": bulk.rate(),
            "records_per_second_collections_only": collections.rate(),
            "records_per_second_baseline": baseline.rate(),
            "throughput_vs_baseline": bulk.rate() / baseline.rate(),
            "api_calls_per_1000_changes": bulk.per_thousand(),
            "api_calls_per_1000_changes_collections_only": collections.per_thousand(),
            "api_calls_per_1000_changes_baseline": baseline.per_thousand(),
            "latency_p50_ms": percentile(&sidecar_latency, 0.5),
            "latency_p99_ms": percentile(&sidecar_latency, 0.99),
            "latency_p50_ms_baseline": percentile(&baseline_latency, 0.5),
            "latency_p99_ms_baseline": percentile(&baseline_latency, 0.99),
        },
        "drain": {"bulk": bulk.json(), "collections_only": collections.json(), "baseline": baseline.json()},
        "latency": {"rate_per_second": rate, "seconds": latency_seconds,
                    "sidecar": latency_json(&sidecar_latency), "baseline": latency_json(&baseline_latency),
                    "method": "wall clock right after each single-row INSERT commits vs the record's CreatedDate (emulator, same clock), read once after the run"},
        "goals": {"records_per_second": 10_000, "api_calls_per_1000_changes": 6, "latency_p50_ms": 100},
    });
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&directory).expect("bench/results");
    let path = directory.join("writer.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).expect("json"))
        .expect("write results");
    println!("written to {}", path.display());
    drop(world);
}
