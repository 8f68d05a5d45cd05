//! Replay: resuming from a replay id after a disconnect without loss or duplicates, `-2`, invalid ids, and the
//! retention window measured on the org clock.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::bayeux_client::{record_ids, replay_id, Comet};
use crate::common::Emulator;
use crate::support::{create_accounts, create_as};

const INVALID: &str = "you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.";

#[tokio::test]
async fn resume_from_a_replay_id_without_loss_or_duplicates() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut first = Comet::new(&emulator.base, Some(&api.token));
    first.start("/data/AccountChangeEvent", json!(-1)).await;
    first.connect().await;
    let mut early = Vec::new();
    for i in 0..5 {
        early.push(
            create_as(
                &api,
                "app",
                "Account",
                json!({"Name": format!("Early {i}")}),
            )
            .await,
        );
    }
    let seen = first.events(5, Duration::from_secs(30)).await;
    let seen_ids: Vec<String> = seen.iter().flat_map(record_ids).collect();
    assert_eq!(seen_ids, early);
    let resume_from = replay_id(&seen[4]);
    let third = replay_id(&seen[2]);
    assert_eq!(first.disconnect().await["successful"], true);
    let (_, after_disconnect) = first.connect().await;
    assert_eq!(after_disconnect["error"], "403::Unknown client");

    // Written while nobody listens.
    let mut late = Vec::new();
    for chunk in 0..3 {
        let names: Vec<String> = (0..4).map(|i| format!("Late {chunk}-{i}")).collect();
        late.extend(create_accounts(&api, "app", &names).await);
    }
    let mut resumed = Comet::new(&emulator.base, Some(&api.token));
    // Some clients send the replay id as a string.
    resumed
        .start("/data/AccountChangeEvent", json!(resume_from.to_string()))
        .await;
    let events = resumed.events(late.len(), Duration::from_secs(30)).await;
    let ids: Vec<String> = events.iter().flat_map(record_ids).collect();
    assert_eq!(ids, late, "exactly the missed events, in order");
    assert!(events.iter().all(|e| replay_id(e) > resume_from));
    let (more, reply) = resumed.connect().await;
    assert!(more.is_empty(), "no duplicates: {more:#?}");
    assert_eq!(reply["successful"], true);

    let mut everything = Comet::new(&emulator.base, Some(&api.token));
    everything
        .start("/data/AccountChangeEvent", json!(-2))
        .await;
    let all = everything.events(17, Duration::from_secs(30)).await;
    let all_ids: Vec<String> = all.iter().flat_map(record_ids).collect();
    let expected: Vec<String> = early.iter().chain(late.iter()).cloned().collect();
    assert_eq!(all_ids, expected);
    assert_eq!(all_ids.iter().collect::<HashSet<_>>().len(), 17);

    let mut from_third = Comet::new(&emulator.base, Some(&api.token));
    from_third
        .start("/data/AccountChangeEvent", json!(third))
        .await;
    let rest = from_third.events(14, Duration::from_secs(30)).await;
    assert_eq!(
        rest.iter().flat_map(record_ids).collect::<Vec<_>>(),
        expected[3..]
    );
}

#[tokio::test]
async fn invalid_replay_ids_are_refused_as_documented() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    create_as(&api, "app", "Account", json!({"Name": "A"})).await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    assert_eq!(comet.handshake().await["successful"], true);
    for (replay, shown) in [
        (json!(999_999_999), "999999999"),
        (json!("abc"), "abc"),
        (json!(-3), "-3"),
    ] {
        let reply = comet
            .subscribe("/data/AccountChangeEvent", Some(replay))
            .await;
        assert_eq!(reply["successful"], false);
        assert_eq!(
            reply["error"],
            format!("400::The replayId {shown} {INVALID}"),
            "{reply}"
        );
        assert_eq!(reply["subscription"], "/data/AccountChangeEvent");
        assert_eq!(reply["channel"], "/meta/subscribe");
    }
}

async fn advance_hours(emulator: &Emulator, hours: i64) {
    let moved = emulator
        .admin(
            Method::POST,
            "/__emulator/clock",
            Some(json!({"advanceSeconds": hours * 3600})),
        )
        .await;
    assert_eq!(moved.status, reqwest::StatusCode::OK, "{:?}", moved.json);
}

/// Subscribes a fresh client from `replay`; returns the subscribe reply.
async fn subscribe_fresh(
    emulator: &Emulator,
    token: &str,
    replay: serde_json::Value,
) -> (Comet, serde_json::Value) {
    let mut comet = Comet::new(&emulator.base, Some(token));
    assert_eq!(comet.handshake().await["successful"], true);
    let reply = comet
        .subscribe("/data/AccountChangeEvent", Some(replay))
        .await;
    (comet, reply)
}

#[tokio::test]
async fn events_expire_after_72_hours_of_org_time() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "1"]);
    let api = emulator.login().await;
    let old = create_as(&api, "app", "Account", json!({"Name": "Old"})).await;
    let mut watcher = Comet::new(&emulator.base, Some(&api.token));
    watcher.start("/data/AccountChangeEvent", json!(-2)).await;
    let events = watcher.events(1, Duration::from_secs(30)).await;
    assert_eq!(record_ids(&events[0]), std::slice::from_ref(&old));
    let old_replay = replay_id(&events[0]);

    advance_hours(&emulator, 71).await;
    let (_, still) = subscribe_fresh(&emulator, &api.token, json!(old_replay)).await;
    assert_eq!(
        still["successful"], true,
        "71 h old: still retained: {still}"
    );

    advance_hours(&emulator, 2).await;
    let (_, expired) = subscribe_fresh(&emulator, &api.token, json!(old_replay)).await;
    assert_eq!(expired["successful"], false);
    assert_eq!(
        expired["error"],
        format!("400::The replayId {old_replay} {INVALID}")
    );
    let (mut all, reply) = subscribe_fresh(&emulator, &api.token, json!(-2)).await;
    assert_eq!(reply["successful"], true);
    let (first, _) = all.connect().await;
    assert!(
        first.is_empty(),
        "expired events are not replayed: {first:#?}"
    );
    let fresh = create_as(&api, "app", "Account", json!({"Name": "Fresh"})).await;
    let events = all.events(1, Duration::from_secs(30)).await;
    assert_eq!(record_ids(&events[0]), [fresh]);
}

#[tokio::test]
async fn retention_is_configurable() {
    let emulator = Emulator::start(&[
        "--cometd-timeout-seconds",
        "1",
        "--cdc-retention-hours",
        "1",
    ]);
    let api = emulator.login().await;
    create_as(&api, "app", "Account", json!({"Name": "Short-lived"})).await;
    let mut watcher = Comet::new(&emulator.base, Some(&api.token));
    watcher.start("/data/AccountChangeEvent", json!(-2)).await;
    let events = watcher.events(1, Duration::from_secs(30)).await;
    let replay = replay_id(&events[0]);
    advance_hours(&emulator, 2).await;
    let (_, expired) = subscribe_fresh(&emulator, &api.token, json!(replay)).await;
    assert_eq!(
        expired["error"],
        format!("400::The replayId {replay} {INVALID}")
    );
}
