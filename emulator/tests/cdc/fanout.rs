//! Many subscribers at once: fifty clients each receive every event, in the same order, with the same replay ids.

use std::time::Duration;

use serde_json::json;

use crate::bayeux_client::{record_ids, replay_id, Comet};
use crate::common::Emulator;
use crate::support::create_accounts;

const CLIENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_each_receive_every_event() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "10"]);
    let api = emulator.login().await;
    let mut listeners = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut comet = Comet::new(&emulator.base, Some(&api.token));
        comet.start("/data/AccountChangeEvent", json!(-1)).await;
        comet.connect().await;
        listeners.push(comet);
    }
    let tasks: Vec<_> = listeners
        .into_iter()
        .map(|mut comet| {
            tokio::spawn(async move {
                let events = comet.events(20, Duration::from_secs(90)).await;
                events
                    .iter()
                    .map(|e| (replay_id(e), record_ids(e)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut created = Vec::new();
    for chunk in 0..4 {
        let names: Vec<String> = (0..5).map(|i| format!("Fan {chunk}-{i}")).collect();
        created.extend(create_accounts(&api, "app", &names).await);
    }
    let mut first: Option<Vec<(u64, Vec<String>)>> = None;
    for task in tasks {
        let received = task.await.expect("listener finished");
        assert_eq!(received.len(), 20);
        let ids: Vec<String> = received.iter().flat_map(|(_, ids)| ids.clone()).collect();
        assert_eq!(ids, created);
        match &first {
            None => first = Some(received),
            Some(first) => assert_eq!(&received, first, "every client sees the same stream"),
        }
    }
}
