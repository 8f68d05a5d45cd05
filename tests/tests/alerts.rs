//! Webhook alerts end to end: a local HTTP receiver (its first answer a 500, so the retry is proven)
//! gets each kind exactly once — a change Salesforce refuses, the API reserve reached, a change
//! queued longer than the lag threshold, a mapping entering and leaving ERROR, drift found by a
//! reconciliation — and neither the bodies nor the sidecar's output carry the webhook's token or
//! the Salesforce credentials.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{eventually, free_port, metric, metrics, Sidecar, World, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Looks like a Slack hook's token: it must never leave the sidecar's configuration.
const WEBHOOK_TOKEN: &str = "SECRETTOKEN9f3a";
const HOOK_PATH: &str = "/hooks/T000/SECRETTOKEN9f3a";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: Option<String>,
    body: String,
    /// What the receiver answered.
    status: u16,
}

/// A minimal HTTP/1.1 server on 127.0.0.1: answers the very first request 500, the others 200,
/// and keeps everything it was sent.
#[derive(Clone)]
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, kept).await;
                });
            }
        });
        Receiver { port, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The bodies answered 200, parsed.
    fn accepted(&self) -> Vec<Value> {
        self.received()
            .iter()
            .filter(|request| request.status == 200)
            .map(|request| serde_json::from_str(&request.body).expect("a JSON body"))
            .collect()
    }

    fn accepted_of(&self, kind: &str) -> Vec<Value> {
        self.accepted()
            .into_iter()
            .filter(|alert| alert["kind"] == kind)
            .collect()
    }
}

/// Reads one request (headers, then `Content-Length` bytes), answers it and closes the connection.
async fn serve(mut stream: TcpStream, kept: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        data.extend_from_slice(&chunk[..read]);
        if let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut content_length = 0usize;
    let mut content_type = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "content-type" => content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    while data.len() < header_end + content_length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..read]);
    }
    let body = String::from_utf8_lossy(&data[header_end..]).to_string();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let status = {
        let mut received = kept.lock().expect("lock");
        let status = if received.is_empty() { 500 } else { 200 };
        received.push(Received {
            path,
            content_type,
            body,
            status,
        });
        status
    };
    let reason = if status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    stream
        .write_all(
            format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    stream.shutdown().await
}

async fn wait_for_alert(receiver: &Receiver, kind: &str, object: Option<&str>) -> Value {
    let wanted = object.map(|object| json!(object)).unwrap_or(Value::Null);
    eventually(WAIT, &format!("a {kind} alert"), || async {
        receiver
            .accepted_of(kind)
            .iter()
            .any(|alert| alert["object"] == wanted)
    })
    .await;
    receiver
        .accepted_of(kind)
        .into_iter()
        .find(|alert| alert["object"] == wanted)
        .expect("the alert")
}

/// Sets the org's remaining daily API calls (of 100,000).
async fn set_remaining(world: &World, remaining: u64) {
    world
        .emulator
        .admin(
            Method::PUT,
            "limits",
            Some(json!({"DailyApiRequests": {"Max": 100000, "Remaining": remaining}})),
        )
        .await;
}

#[tokio::test]
async fn each_kind_of_alert_reaches_the_webhook_once_without_secrets() {
    let receiver = Receiver::start().await;
    let http_port = free_port();
    let webhook = format!("http://127.0.0.1:{}{HOOK_PATH}", receiver.port);
    let world = World::writer()
        .env("SFSYNC_ALERT_WEBHOOK_URL", &webhook)
        .env("SFSYNC_ALERT_LAG_SECONDS", "4")
        .env("SFSYNC_HTTP_LISTEN", &format!("127.0.0.1:{http_port}"))
        .env("RUST_LOG", "info")
        .start()
        .await;
    world
        .define_object(json!({
            "name": "Gadget__c",
            "fields": [
                {"name": "Code__c", "type": "string", "length": 40, "externalId": true, "unique": true}
            ],
            "validationRules": [
                {"name": "No_Bad_Names", "errorMessage": "Bad names are not allowed", "errorDisplayField": "Name",
                 "condition": "Name = 'Bad'"}
            ]
        }))
        .await;
    // polled hourly: while the API reserve is reached below, this mapping's reader stays idle
    world
        .map_from_describe(
            "Gadget__c",
            &["Name", "Code__c"],
            json!({"upsert_field": "Code__c"}),
        )
        .await;
    let sidecar = Sidecar::start_capturing(&world.env);
    world.wait_state("Gadget__c", "SYNCED").await;

    // 1. A change Salesforce refuses. The receiver's first answer is a 500: the alert comes again.
    world
        .sql
        .batch_execute("INSERT INTO salesforce.gadget__c (name, code__c) VALUES ('Bad', 'G-BAD')")
        .await
        .expect("insert");
    let failed = wait_for_alert(&receiver, "changes_failed", Some("Gadget__c")).await;
    let failure_announced = Instant::now();
    let first = &receiver.received()[0];
    assert_eq!(first.status, 500);
    assert_eq!(
        serde_json::from_str::<Value>(&first.body).expect("JSON")["kind"],
        "changes_failed",
        "the refused delivery was retried"
    );
    assert_eq!(failed["schema"], "salesforce");
    assert_eq!(failed["details"]["count"], 1, "{failed}");
    let error = &failed["details"]["errors"][0];
    assert_eq!(
        error["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "{failed}"
    );
    assert_eq!(error["message"], "Bad names are not allowed", "{failed}");
    assert_eq!(error["fields"], json!(["Name"]), "{failed}");
    assert_eq!(error["action"], "INSERT", "{failed}");
    assert!(error["record_id"].is_i64(), "{failed}");
    let text = failed["text"].as_str().expect("text");
    assert!(
        text.starts_with("sfsync (salesforce): 1 change to Gadget__c refused by Salesforce"),
        "{text}"
    );
    assert!(
        chrono_like(&failed["at"]),
        "`at` is an RFC 3339 time: {failed}"
    );

    // 2. The org's allowance spent (so the reserve reached): writing pauses...
    set_remaining(&world, 0).await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.gadget__c (name, code__c) VALUES ('Good 1', 'G-1')")
        .await
        .expect("insert");
    let reserve = wait_for_alert(&receiver, "api_reserve", None).await;
    let figures = &reserve["details"];
    let (used, limit, reserved) = (
        figures["used"].as_u64().unwrap_or(0),
        figures["limit"].as_u64().unwrap_or(0),
        figures["reserve"].as_u64().unwrap_or(0),
    );
    assert!(limit > 0 && reserved > 0, "{reserve}");
    assert!(used >= limit - reserved, "{reserve}");

    // 3. ...and the change waits: queue lag past SFSYNC_ALERT_LAG_SECONDS.
    let lag = wait_for_alert(&receiver, "queue_lag", Some("Gadget__c")).await;
    assert_eq!(lag["details"]["threshold_seconds"], 4, "{lag}");
    assert!(
        lag["details"]["oldest_seconds"].as_u64().unwrap_or(0) >= 4,
        "{lag}"
    );
    assert_eq!(lag["details"]["pending"], 1, "{lag}");
    assert_eq!(world.queued().await, 1, "the change waited");
    set_remaining(&world, 90000).await;
    world.drained("writing to resume").await;

    // 4. A mapping in ERROR (a field Salesforce does not have), then out of it once the field exists.
    world
        .map(
            "Account",
            &["Name", "Alert_Flag__c"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    let broken = wait_for_alert(&receiver, "mapping_error", Some("Account")).await;
    let detail = broken["details"]["state_detail"].as_str().unwrap_or("");
    assert!(detail.contains("Alert_Flag__c"), "{broken}");
    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Alert_Flag__c", "type": "string", "length": 20})),
        )
        .await;
    let recovered = wait_for_alert(&receiver, "mapping_recovered", Some("Account")).await;
    assert_eq!(
        recovered["details"]["previous_state"], "ERROR",
        "{recovered}"
    );
    assert_eq!(recovered["details"]["state"], "SYNCED", "{recovered}");
    world.wait_state("Account", "SYNCED").await;

    // 5. Drift: a row of a record that never existed, written behind sfsync's back, found by a
    //    requested reconciliation.
    world
        .sql
        .batch_execute(
            "BEGIN; SET LOCAL sfsync.origin = 'salesforce';
             INSERT INTO salesforce.account (sfid, name, systemmodstamp)
             VALUES ('001000000000900AAA', 'ghost', now() AT TIME ZONE 'UTC' - interval '1 hour');
             COMMIT",
        )
        .await
        .expect("write behind sfsync's back");
    world
        .sql
        .execute("SELECT sfsync.reconcile('Account')", &[])
        .await
        .expect("reconcile");
    let drift = wait_for_alert(&receiver, "drift", Some("Account")).await;
    assert_eq!(drift["details"]["found"], 1, "{drift}");
    assert_eq!(drift["details"]["kinds"]["vanished"], 1, "{drift}");

    // Two more looks go by, and the failures' minute is over (the watcher reads failures again
    // with an overlap: a failure counted twice would be held and sent once that minute is out):
    // nothing is announced twice.
    let quiet_until =
        (failure_announced + Duration::from_secs(75)).max(Instant::now() + Duration::from_secs(12));
    tokio::time::sleep_until(quiet_until.into()).await;
    let accepted = receiver.accepted();
    for kind in [
        "changes_failed",
        "api_reserve",
        "queue_lag",
        "mapping_error",
        "mapping_recovered",
        "drift",
    ] {
        let count = accepted
            .iter()
            .filter(|alert| alert["kind"] == kind)
            .count();
        assert_eq!(count, 1, "{kind} alerts: {accepted:#?}");
    }
    assert_eq!(accepted.len(), 6, "{accepted:#?}");
    for alert in &accepted {
        let text = alert["text"].as_str().expect("text");
        assert!(text.starts_with("sfsync (salesforce): "), "{alert}");
        assert!(!text.contains('\n'), "{alert}");
        assert!(alert["details"].is_object(), "{alert}");
    }
    for request in receiver.received() {
        assert_eq!(request.path, HOOK_PATH);
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
    }
    let text = metrics(http_port).await;
    assert_eq!(
        metric(&text, "sfsync_alerts_sent_total{kind=\"changes_failed\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "sfsync_alerts_dropped_total"),
        Some(0.0),
        "{text}"
    );

    // No secret anywhere: neither in what the webhook got nor in what the sidecar printed.
    let credentials = world.emulator.credentials();
    let secrets = [
        WEBHOOK_TOKEN,
        credentials.client_secret.as_str(),
        credentials.password.as_str(),
    ];
    let output = sidecar.output();
    assert!(
        output.contains("alerts go to the configured webhook"),
        "the sidecar ran with alerts on (and logged at info): {output}"
    );
    for secret in secrets {
        for request in receiver.received() {
            assert!(!request.body.contains(secret), "a body carries a secret");
        }
        assert!(
            !output.contains(secret),
            "the sidecar's output carries a secret"
        );
    }
}

/// `2026-12-04T18:51:47.123Z`-shaped.
fn chrono_like(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[4] == b'-'
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
}
