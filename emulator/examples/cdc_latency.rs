//! Measures how fast a REST write reaches CometD subscribers that are waiting in `/meta/connect`: the time from
//! sending `PATCH /sobjects/Account/{id}` to the connect response carrying its change event, over loopback HTTP.
//!
//! Then it measures catch-up: a new subscriber replaying (`-2`) a backlog of seeded change events.
//!
//! `cargo run --release -p sfsync-emulator --example cdc_latency -- [WRITES] [SUBSCRIBERS] [BACKLOG]` (defaults
//! 500, 1 and 100000; run it again with 50 subscribers to see the fan-out cost). The emulator runs in-process on
//! its own runtime.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value as Json};
use sfsync_emulator::config::Config;
use tokio::sync::mpsc;

const CHANNEL: &str = "/data/AccountChangeEvent";

fn argument(position: usize, default: usize) -> usize {
    std::env::args()
        .nth(position)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Starts the emulator on a runtime of its own (as a separate process would be) and returns its base URL.
fn start_emulator() -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("emulator runtime");
        runtime.block_on(async move {
            let config = Config::parse_from(["sfsync-emulator", "--listen", "127.0.0.1:0"]);
            let server = sfsync_emulator::server::start(config)
                .await
                .expect("emulator starts");
            sender.send(server.base_url.clone()).expect("report URL");
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().expect("emulator URL")
}

async fn login(http: &reqwest::Client, base: &str) -> String {
    let response: Json = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "sfsync-emulator"),
            ("client_secret", "emulator-secret"),
            ("username", "admin@sfsync.emulator"),
            ("password", "emulator-password"),
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

/// One subscriber: its own HTTP client (own connection), token and session cookie.
struct Subscriber {
    http: reqwest::Client,
    url: String,
    token: String,
    cookie: String,
    client_id: String,
}

impl Subscriber {
    async fn post(&mut self, messages: Json) -> Vec<Json> {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(messages.to_string());
        if !self.cookie.is_empty() {
            request = request.header("Cookie", &self.cookie);
        }
        let response = request.send().await.expect("CometD request");
        if let Some(cookie) = response.headers().get("set-cookie") {
            let text = cookie.to_str().expect("cookie");
            self.cookie = text.split(';').next().unwrap_or_default().to_string();
        }
        response.json().await.expect("CometD JSON")
    }

    async fn start(base: &str, token: &str, channel: &str, replay: i64) -> Subscriber {
        let mut subscriber = Subscriber {
            http: reqwest::Client::new(),
            url: format!("{base}/cometd/62.0"),
            token: token.to_string(),
            cookie: String::new(),
            client_id: String::new(),
        };
        let handshake = subscriber
            .post(json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}]))
            .await;
        subscriber.client_id = handshake[0]["clientId"]
            .as_str()
            .expect("handshake")
            .to_string();
        let subscribe = subscriber
            .post(
                json!([{"channel": "/meta/subscribe", "clientId": subscriber.client_id,
                           "subscription": channel, "ext": {"replay": {channel: replay}}}]),
            )
            .await;
        assert_eq!(subscribe[0]["successful"], true, "{subscribe:?}");
        subscriber
    }

    async fn connect(&mut self) -> Vec<Json> {
        let messages = json!([{"channel": "/meta/connect", "clientId": self.client_id,
                               "connectionType": "long-polling"}]);
        self.post(messages).await
    }

    /// Connects forever, reporting `(subscriber, Phone value, arrival)` for each event.
    async fn listen(
        mut self,
        index: usize,
        events: mpsc::UnboundedSender<(usize, String, Instant)>,
    ) {
        loop {
            let replies = self.connect().await;
            let arrived = Instant::now();
            for reply in replies {
                if reply["channel"] == CHANNEL {
                    let phone = reply["data"]["payload"]["Phone"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if events.send((index, phone, arrived)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean =
        samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64 * 1000.0;
    println!(
        "  {label:<28} p50 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms   mean {:>7.3} ms",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
        mean
    );
}

/// Seeds `backlog` Contacts with change events, then times a `-2` subscriber reading them all.
async fn catch_up(http: &reqwest::Client, base: &str, token: &str, backlog: usize) {
    let seeded = http
        .post(format!("{base}/__emulator/seed"))
        .json(&json!({"object": "Contact", "count": backlog, "changeEvents": true}))
        .send()
        .await
        .expect("seed");
    assert!(seeded.status().is_success());
    let channel = "/data/ContactChangeEvent";
    let started = Instant::now();
    let mut subscriber = Subscriber::start(base, token, channel, -2).await;
    let mut received = 0;
    let mut connects = 0;
    while received < backlog {
        let replies = subscriber.connect().await;
        connects += 1;
        received += replies.iter().filter(|r| r["channel"] == channel).count();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "catch-up: {received} retained events replayed with -2 in {seconds:.2} s ({:.0} events/s, {connects} connects)",
        received as f64 / seconds
    );
}

fn main() {
    let writes = argument(1, 500);
    let subscribers = argument(2, 1).max(1);
    let base = start_emulator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        let token = login(&http, &base).await;
        let created: Json = http
            .post(format!("{base}/services/data/v62.0/sobjects/Account"))
            .bearer_auth(&token)
            .json(&json!({"Name": "Latency"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("create JSON");
        let account = created["id"].as_str().expect("id").to_string();
        let (sender, mut receiver) = mpsc::unbounded_channel();
        for index in 0..subscribers {
            let mut subscriber = Subscriber::start(&base, &token, CHANNEL, -1).await;
            // The first connect returns at once (it only picks up the advice).
            subscriber.connect().await;
            tokio::spawn(subscriber.listen(index, sender.clone()));
        }
        let url = format!("{base}/services/data/v62.0/sobjects/Account/{account}");
        let mut rest = Vec::with_capacity(writes);
        let mut first = Vec::with_capacity(writes);
        let mut all = Vec::with_capacity(writes);
        for write in 0..writes {
            // Let every subscriber get back into a waiting connect.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let phone = format!("555-{write:05}");
            let sent = Instant::now();
            let response = http
                .patch(&url)
                .bearer_auth(&token)
                .header("Sforce-Call-Options", "client=latency")
                .json(&json!({"Phone": phone}))
                .send()
                .await
                .expect("PATCH");
            assert_eq!(response.status(), 204);
            rest.push(sent.elapsed());
            let mut arrivals: HashMap<usize, Instant> = HashMap::new();
            while arrivals.len() < subscribers {
                let (index, seen, at) = tokio::time::timeout(Duration::from_secs(30), receiver.recv())
                    .await
                    .expect("event within 30 s")
                    .expect("listeners alive");
                if seen == phone {
                    arrivals.insert(index, at);
                }
            }
            let earliest = arrivals.values().min().copied().unwrap_or(sent);
            let latest = arrivals.values().max().copied().unwrap_or(sent);
            first.push(earliest.duration_since(sent));
            all.push(latest.duration_since(sent));
        }
        println!("cdc_latency: {writes} REST writes, {subscribers} subscriber(s) waiting in /meta/connect on {CHANNEL}");
        report("REST PATCH round trip", rest);
        report("write -> event (first sub)", first);
        report("write -> event (every sub)", all);

        let backlog = argument(3, 100_000);
        if backlog > 0 {
            catch_up(&http, &base, &token, backlog).await;
        }
    });
}
