//! Benchmark: starts the emulator in-process on loopback and measures Bulk API 2.0 over HTTP, printing records
//! per second: an ingest job (create, upload one CSV, close, poll until `JobComplete`) and a query job over seeded
//! records (create, poll, fetch every CSV page through `Sforce-Locator`).
//!
//! `cargo run --release -p sfsync-emulator --example bulk_bench [-- INGEST_RECORDS QUERY_RECORDS PAGE_SIZE]`

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value as Json};
use sfsync_emulator::config::Config;
use sfsync_emulator::server;

const API: &str = "/services/data/v62.0";

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn login(base: &str) -> Client {
        let http = reqwest::Client::new();
        let response: Json = http
            .post(format!("{base}/services/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "sfsync-emulator"),
                ("client_secret", "emulator-secret"),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        let token = response["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        Client {
            http,
            base: base.to_string(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API}{path}", self.base)
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    /// Polls a job until it is done; asserts it completed.
    async fn wait(&self, kind: &str, id: &str) -> Json {
        loop {
            let info = self
                .json(reqwest::Method::GET, &format!("/jobs/{kind}/{id}"), None)
                .await;
            match info["state"].as_str() {
                Some("JobComplete") => return info,
                Some("Failed") | Some("Aborted") => panic!("job {id} ended: {info}"),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
}

fn ingest_csv(records: usize) -> String {
    let mut csv = String::with_capacity(records * 96);
    csv.push_str("Name,BillingCity,AnnualRevenue,NumberOfEmployees,Industry,Description\n");
    for i in 0..records {
        csv.push_str(&format!(
            "Bench Account {i},Paris,{i},{},Banking,\"row {i}, with a comma\"\n",
            i % 1000
        ));
    }
    csv
}

/// Creates, uploads, closes and waits for an insert job; returns the seconds from create to `JobComplete`.
async fn ingest(client: &Client, records: usize) -> f64 {
    let csv = ingest_csv(records);
    let started = Instant::now();
    let job = client
        .json(
            reqwest::Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Account", "operation": "insert", "lineEnding": "LF"})),
        )
        .await;
    let id = job["id"].as_str().expect("job id").to_string();
    let upload = client
        .http
        .put(client.url(&format!("/jobs/ingest/{id}/batches")))
        .bearer_auth(&client.token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), reqwest::StatusCode::CREATED);
    client
        .json(
            reqwest::Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    let info = client.wait("ingest", &id).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(info["numberRecordsProcessed"], records);
    assert_eq!(info["numberRecordsFailed"], 0, "{info}");
    seconds
}

/// Creates a query job and fetches every page; returns (seconds, records, bytes).
async fn query(client: &Client, page_size: usize) -> (f64, usize, usize) {
    let started = Instant::now();
    let job = client
        .json(
            reqwest::Method::POST,
            "/jobs/query",
            Some(json!({"operation": "query",
                        "query": "SELECT Id, FirstName, LastName, Email, LeadSource, AccountId, SystemModstamp FROM Contact"})),
        )
        .await;
    let id = job["id"].as_str().expect("job id").to_string();
    client.wait("query", &id).await;
    let mut locator: Option<String> = None;
    let (mut records, mut bytes) = (0, 0);
    loop {
        let mut url = client.url(&format!("/jobs/query/{id}/results?maxRecords={page_size}"));
        if let Some(locator) = &locator {
            url.push_str(&format!("&locator={locator}"));
        }
        let response = client
            .http
            .get(url)
            .bearer_auth(&client.token)
            .send()
            .await
            .expect("results");
        assert!(response.status().is_success());
        let next = response
            .headers()
            .get("Sforce-Locator")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("null")
            .to_string();
        let page_records: usize = response
            .headers()
            .get("Sforce-NumberOfRecords")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("record count");
        let body = response.bytes().await.expect("page body");
        records += page_records;
        bytes += body.len();
        if next == "null" {
            break;
        }
        locator = Some(next);
    }
    (started.elapsed().as_secs_f64(), records, bytes)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let ingest_records: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let query_records: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let page_size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(250_000);
    let config = Config::parse_from([
        "sfsync-emulator",
        "--listen",
        "127.0.0.1:0",
        "--daily-api-limit",
        "100000000",
    ]);
    let running = server::start(config).await.expect("emulator starts");
    let client = Client::login(&running.base_url).await;

    let ingest_seconds = ingest(&client, ingest_records).await;

    let seed = client
        .http
        .post(format!("{}/__emulator/seed", running.base_url))
        .header("Content-Type", "application/json")
        .body(
            json!({"object": "Contact", "count": query_records, "fields": {"LeadSource": "Web"},
                   "parent": {"field": "AccountId"}})
            .to_string(),
        )
        .send()
        .await
        .expect("seed");
    assert!(seed.status().is_success(), "seed: {}", seed.status());
    let (query_seconds, records, bytes) = query(&client, page_size).await;
    assert_eq!(records, query_records);

    println!("bulk_bench (Bulk API 2.0 over HTTP on loopback)");
    println!(
        "  ingest insert: {ingest_records} records in {ingest_seconds:.2} s = {:>9.0} records/s (create, upload, close, poll to JobComplete)",
        ingest_records as f64 / ingest_seconds
    );
    println!(
        "  query:         {records} records ({:.0} MB of CSV, {page_size} per page) in {query_seconds:.2} s = {:>9.0} records/s (create, poll, fetch every page)",
        bytes as f64 / 1e6,
        records as f64 / query_seconds
    );
    running.shutdown().await.expect("shutdown");
}
