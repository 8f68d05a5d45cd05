//! Benchmark: starts the emulator in-process on loopback and drives sObject Collections create and update with
//! several concurrent clients, printing records per second.
//!
//! `cargo run --release -p sfsync-emulator --example collections_bench [-- RECORDS CLIENTS]`

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use serde_json::{json, Value as Json};
use sfsync_emulator::config::Config;
use sfsync_emulator::server;

const BATCH: usize = 200;

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

/// Sends `batches` Collections calls built by `body`, split over `clients` concurrent tasks; returns the ids.
async fn drive<F>(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    batches: Vec<Vec<Json>>,
    clients: usize,
    body: F,
) -> Vec<String>
where
    F: Fn(&[Json]) -> Json + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let queue = Arc::new(tokio::sync::Mutex::new(batches));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, token, method, queue, body) = (
            client.clone(),
            url.to_string(),
            token.to_string(),
            method.clone(),
            queue.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let Some(batch) = queue.lock().await.pop() else {
                    break;
                };
                let response = client
                    .request(method.clone(), &url)
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(body(&batch).to_string())
                    .send()
                    .await
                    .expect("collections call");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                let results: Vec<Json> = response.json().await.expect("results");
                for result in results {
                    assert_eq!(result["success"], true, "{result}");
                    ids.push(result["id"].as_str().expect("id").to_string());
                }
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.expect("client task"));
    }
    ids
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let records: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let config = Config::parse_from([
        "sfsync-emulator",
        "--listen",
        "127.0.0.1:0",
        "--daily-api-limit",
        "100000000",
    ]);
    let running = server::start(config).await.expect("emulator starts");
    let base = running.base_url.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let token = login(&client, &base).await;
    let url = format!("{base}/services/data/v62.0/composite/sobjects");

    let create_batches: Vec<Vec<Json>> = (0..records)
        .map(|i| {
            json!({"attributes": {"type": "Account"}, "Name": format!("Bench Account {i}"), "BillingCity": "Paris",
                   "AnnualRevenue": i, "NumberOfEmployees": i % 1000, "Industry": "Banking"})
        })
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[Json]>::to_vec)
        .collect();
    let started = Instant::now();
    let ids = drive(
        &client,
        &url,
        &token,
        reqwest::Method::POST,
        create_batches,
        clients,
        |batch| json!({"allOrNone": false, "records": batch}),
    )
    .await;
    let create_seconds = started.elapsed().as_secs_f64();
    assert_eq!(ids.len(), records);

    let update_batches: Vec<Vec<Json>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"attributes": {"type": "Account"}, "id": id, "Phone": format!("+33 1 {i:08}"), "NumberOfEmployees": i % 7}))
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[Json]>::to_vec)
        .collect();
    let started = Instant::now();
    let updated = drive(
        &client,
        &url,
        &token,
        reqwest::Method::PATCH,
        update_batches,
        clients,
        |batch| json!({"allOrNone": false, "records": batch}),
    )
    .await;
    let update_seconds = started.elapsed().as_secs_f64();
    assert_eq!(updated.len(), records);

    println!("collections_bench: {records} records, {clients} concurrent clients, {BATCH} records per call");
    println!(
        "  create: {:>10.0} records/s ({create_seconds:.2} s)",
        records as f64 / create_seconds
    );
    println!(
        "  update: {:>10.0} records/s ({update_seconds:.2} s)",
        records as f64 / update_seconds
    );
    running.shutdown().await.expect("shutdown");
}
