//! Change Data Capture over CometD against the emulator: delivery, replay, re-handshake after the
//! server forgets the client, re-login after sessions expire, gap events and invalid replay ids.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sfsync_sidecar::salesforce::cometd::{
    ChangeType, ReplayFrom, StreamEvent, StreamingClient, StreamingError, StreamingOptions,
    Subscription,
};
use sfsync_sidecar::salesforce::{Backoff, NewRecord, SalesforceClient};
use sfsync_sidecar::shutdown::Shutdown;
use sfsync_tests::Emulator;
use support::{self as emulator, Clients};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const CHANNEL: &str = "/data/Part__ChangeEvent";
const PATIENCE: Duration = Duration::from_secs(30);

struct Stream {
    events: mpsc::Receiver<StreamEvent>,
    shutdown: Shutdown,
    task: JoinHandle<(Result<(), StreamingError>, StreamingClient)>,
}

fn options() -> StreamingOptions {
    StreamingOptions {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        ..StreamingOptions::default()
    }
}

fn start(client: &SalesforceClient, replay_from: ReplayFrom) -> Stream {
    let mut streaming = StreamingClient::new(
        client.clone(),
        vec![Subscription {
            channel: CHANNEL.to_string(),
            replay_from,
        }],
        options(),
    );
    let (sender, events) = mpsc::channel(100);
    let shutdown = Shutdown::new();
    let signal = shutdown.signal();
    let task = tokio::spawn(async move {
        let result = streaming.run(sender, signal).await;
        (result, streaming)
    });
    Stream {
        events,
        shutdown,
        task,
    }
}

impl Stream {
    async fn next(&mut self) -> StreamEvent {
        match tokio::time::timeout(PATIENCE, self.events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => {
                let outcome = (&mut self.task).await.map(|(result, _)| result);
                panic!("the stream ended: {outcome:?}");
            }
            Err(_) => panic!("no event within {PATIENCE:?}"),
        }
    }

    async fn stop(self) -> StreamingClient {
        self.shutdown.trigger();
        let (result, client) = tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("stops promptly")
            .expect("task");
        result.expect("a clean stop");
        client
    }
}

async fn create_part(client: &SalesforceClient, name: &str) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("Name".into(), json!(name));
    fields.insert("Status__c".into(), json!("New"));
    let results = client
        .create_records(
            &[NewRecord {
                object: "Part__c".into(),
                fields,
            }],
            false,
        )
        .await
        .expect("create");
    assert!(results[0].success, "{results:?}");
    results[0].id.clone().expect("id")
}

fn emulator() -> Emulator {
    emulator::start(&["--cometd-timeout-seconds", "5"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_events_arrive_with_their_header_and_origin() {
    let emulator = emulator();
    let client = emulator
        .client()
        .with_call_client("sfsync-cdc-test")
        .expect("name");
    let mut stream = start(&client, ReplayFrom::AllStored);
    let id = create_part(&client, "Bolt").await;

    let event = stream.next().await;
    assert_eq!(event.channel, CHANNEL);
    let header = event.header.as_ref().expect("a CDC header");
    assert_eq!(header.entity_name, "Part__c");
    assert_eq!(header.change_type, ChangeType::Create);
    assert_eq!(header.record_ids, std::slice::from_ref(&id));
    assert_eq!(header.origin_client(), Some("sfsync-cdc-test"));
    assert_eq!(event.payload["Name"], "Bolt");

    let mut fields = serde_json::Map::new();
    fields.insert("Status__c".into(), json!("Used"));
    client
        .update_records(
            &[sfsync_sidecar::salesforce::RecordUpdate {
                object: "Part__c".into(),
                id: id.clone(),
                fields,
            }],
            false,
        )
        .await
        .expect("update");
    let update = stream.next().await;
    let header = update.header.as_ref().expect("header");
    assert_eq!(header.change_type, ChangeType::Update);
    assert!(header
        .changed_fields
        .iter()
        .any(|field| field == "Status__c"));
    assert!(update.replay_id > event.replay_id);

    let streaming = stream.stop().await;
    assert_eq!(streaming.replay_ids().get(CHANNEL), Some(&update.replay_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_replay_id_resumes_after_it() {
    let emulator = emulator();
    let client = emulator.client();
    let mut stream = start(&client, ReplayFrom::AllStored);
    create_part(&client, "first").await;
    create_part(&client, "second").await;
    stream.next().await;
    let second = stream.next().await;
    stream.stop().await;

    create_part(&client, "third").await;
    let mut resumed = start(&client, ReplayFrom::After(second.replay_id));
    let third = resumed.next().await;
    assert_eq!(
        third.payload["Name"], "third",
        "nothing before the stored id is replayed"
    );
    resumed.stop().await;

    let mut stale = start(&client, ReplayFrom::After(second.replay_id + 1_000_000));
    let (result, _) = tokio::time::timeout(PATIENCE, &mut stale.task)
        .await
        .expect("fails promptly")
        .expect("task");
    match result {
        Err(StreamingError::InvalidReplayId {
            channel, message, ..
        }) => {
            assert_eq!(channel, CHANNEL);
            assert!(message.contains("replayId"), "{message}");
        }
        other => panic!("expected InvalidReplayId, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_client_rehandshakes_and_resubscribes_from_the_last_replay_id() {
    let emulator = emulator();
    let client = emulator.client();
    let mut stream = start(&client, ReplayFrom::AllStored);
    create_part(&client, "before").await;
    assert_eq!(stream.next().await.payload["Name"], "before");

    let (status, body) = emulator
        .request(Method::POST, "/__emulator/cometd/drop-clients", None)
        .await;
    assert_eq!(status, 200, "{body}");
    create_part(&client, "after").await;
    let event = stream.next().await;
    assert_eq!(
        event.payload["Name"], "after",
        "resumed after the last event, no repeat"
    );
    stream.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_log_in_again() {
    let emulator = emulator();
    let client = emulator.client();
    let mut stream = start(&client, ReplayFrom::AllStored);
    create_part(&client, "before").await;
    stream.next().await;
    let generation = client.session().token().await.expect("token").generation;

    let (status, _) = emulator
        .request(Method::POST, "/__emulator/expire-sessions", None)
        .await;
    assert_eq!(status, 200);
    // Written by "another app" through the admin API, so only the stream needs a new session. The
    // first may still ride on the connect that was waiting; the second needs a connect with a new token.
    for name in ["after", "later"] {
        let (status, body) = emulator
            .request(
                Method::POST,
                "/__emulator/records",
                Some(json!({"object": "Part__c", "records": [{"Name": name, "Status__c": "New"}]})),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
        let event = stream.next().await;
        assert_eq!(event.payload["Name"], name);
    }
    assert!(client.session().token().await.expect("token").generation > generation);
    stream.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_events_are_delivered_as_gaps() {
    let emulator = emulator();
    let client = emulator.client();
    let id = create_part(&client, "gappy").await;
    let mut stream = start(&client, ReplayFrom::NewEvents);
    // With -1 only later events come: wait until the subscription is live by writing until one arrives.
    let mut first = None;
    for attempt in 0..50 {
        create_part(&client, &format!("probe {attempt}")).await;
        if let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(300), stream.events.recv()).await
        {
            first = Some(event);
            break;
        }
    }
    assert!(first.is_some(), "the subscription never went live");
    while tokio::time::timeout(Duration::from_millis(300), stream.events.recv())
        .await
        .is_ok()
    {}

    let (status, body) = emulator
        .request(
            Method::POST,
            "/__emulator/cdc/gap",
            Some(json!({"object": "Part__c", "type": "GAP_UPDATE", "recordIds": [id]})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let event = stream.next().await;
    let header = event.header.expect("header");
    assert_eq!(header.change_type, ChangeType::GapUpdate);
    assert!(header.change_type.is_gap());
    assert_eq!(header.record_ids, [id]);
    stream.stop().await;
}
