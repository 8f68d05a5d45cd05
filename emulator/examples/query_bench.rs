//! Benchmark: starts the emulator in-process on loopback, seeds narrow records, then pages through
//! `SELECT Id, Name, SystemModstamp FROM Narrow__c` with `batchSize=2000` over HTTP, following
//! `nextRecordsUrl`, and prints records per second (the client parses every page into typed records).
//!
//! `cargo run --release -p sfsync-emulator --example query_bench [-- RECORDS]` (default 1,000,000)

use std::time::Instant;

use clap::Parser;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use sfsync_emulator::config::Config;
use sfsync_emulator::server;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Page {
    total_size: usize,
    done: bool,
    next_records_url: Option<String>,
    records: Vec<Row>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Row {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "SystemModstamp")]
    system_modstamp: String,
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let response: Json = client
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
    response["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

async fn admin(client: &reqwest::Client, url: String, body: Json) -> Json {
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("admin call");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("admin JSON")
}

async fn page(client: &reqwest::Client, url: &str, token: &str) -> Page {
    let response = client
        .get(url)
        .bearer_auth(token)
        .header("Sforce-Query-Options", "batchSize=2000")
        .send()
        .await
        .expect("query call");
    assert!(response.status().is_success(), "{}", response.status());
    let bytes = response.bytes().await.expect("page body");
    serde_json::from_slice(&bytes).expect("page JSON")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = Config::parse_from([
        "sfsync-emulator",
        "--listen",
        "127.0.0.1:0",
        "--daily-api-limit",
        "100000000",
    ]);
    let running = server::start(config).await.expect("emulator starts");
    let base = running.base_url.clone();
    let client = reqwest::Client::new();
    admin(
        &client,
        format!("{base}/__emulator/objects"),
        json!({"name": "Narrow__c", "fields": []}),
    )
    .await;
    let started = Instant::now();
    admin(
        &client,
        format!("{base}/__emulator/seed"),
        json!({"object": "Narrow__c", "count": records}),
    )
    .await;
    let seed_seconds = started.elapsed().as_secs_f64();
    let token = login(&client, &base).await;

    let started = Instant::now();
    let mut url =
        format!("{base}/services/data/v62.0/query?q=SELECT+Id,Name,SystemModstamp+FROM+Narrow__c");
    let mut first_page_seconds = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let page = page(&client, &url, &token).await;
        first_page_seconds.get_or_insert(started.elapsed().as_secs_f64());
        assert_eq!(page.total_size, records);
        seen += page.records.len();
        pages += 1;
        match page.next_records_url {
            Some(next) => url = format!("{base}{next}"),
            None => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(seen, records);
    println!(
        "query_bench: {records} narrow records, SELECT Id, Name, SystemModstamp, batchSize=2000"
    );
    println!("  seed:       {seed_seconds:.2} s");
    println!(
        "  first page: {:.3} s (runs the query and snapshots {records} ids)",
        first_page_seconds.unwrap_or_default()
    );
    println!(
        "  paging:     {:>10.0} records/s ({pages} pages in {seconds:.2} s)",
        records as f64 / seconds
    );
    running.shutdown().await.expect("shutdown");
}
