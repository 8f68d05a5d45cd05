//! Incremental sync through Change Data Capture, end to end: with polling set to once an hour, changes
//! made in Salesforce by another client still arrive within seconds; gap events re-read records, an
//! overflow and an invalid replay id fall back to a poll, dropped CometD clients re-subscribe, and an
//! object without CDC is polled with a note in `state_detail`.

use reqwest::Method;
use serde_json::json;
use sfsync_tests::World;
use std::time::Duration;

/// Streaming on, polling practically off (the safety poll is every 300 s by default).
fn streaming() -> serde_json::Value {
    json!({"streaming": true, "poll_seconds": 3600})
}

/// After SYNCED, the worker subscribes and polls once more 5 s later; wait that out so later
/// changes can only arrive through events.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(8)).await;
}

#[tokio::test]
async fn changes_arrive_through_change_events() {
    let world = World::reader().start().await;
    let ids = world
        .create("Account", json!([{"Name": "One"}, {"Name": "Two"}]))
        .await;
    let _sidecar = world
        .synced("Account", &["Name", "Industry"], "read_only", streaming())
        .await;
    world.wait_count("salesforce.account", "true", 2).await;
    settle().await;

    world
        .update("Account", json!([{"Id": ids[0], "Industry": "Banking"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT industry FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Banking"),
        )
        .await;
    let created = world
        .create("Account", json!([{"Name": "Three", "Industry": "Energy"}]))
        .await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND industry = 'Energy'", created[0]),
            1,
        )
        .await;
    world.delete("Account", &[ids[1].clone()]).await;
    world
        .wait_count("salesforce.account", &format!("sfid = '{}'", ids[1]), 0)
        .await;
    world.undelete(&[ids[1].clone()]).await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND name = 'Two'", ids[1]),
            1,
        )
        .await;
    // the position is kept for a restart
    let replay = world
        .text("SELECT replay_id::text FROM sfsync.mapping")
        .await;
    assert!(
        replay.is_some_and(|id| id.parse::<i64>().unwrap_or(-1) > 0),
        "replay id stored"
    );
}

#[tokio::test]
async fn gap_events_re_read_and_an_overflow_polls() {
    let world = World::reader().start().await;
    world.create("Account", json!([{"Name": "Existing"}])).await;
    let _sidecar = world
        .synced("Account", &["Name"], "read_only", streaming())
        .await;
    settle().await;

    // seeded records make no change events: only the gap event tells about them
    let seeded = world
        .emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Account", "count": 3})),
        )
        .await;
    let first = seeded["firstId"].as_str().expect("firstId").to_string();
    let last = seeded["lastId"].as_str().expect("lastId").to_string();
    world
        .emulator
        .admin(
            Method::POST,
            "cdc/gap",
            Some(json!({"object": "Account", "type": "GAP_CREATE", "recordIds": [first, last]})),
        )
        .await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid IN ('{first}', '{last}')"),
            2,
        )
        .await;
    assert_eq!(
        world.count("salesforce.account", "true").await,
        3,
        "only the named records were read"
    );

    world
        .emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Account", "count": 5})),
        )
        .await;
    world
        .emulator
        .admin(
            Method::POST,
            "cdc/gap",
            Some(json!({"object": "Account", "type": "GAP_OVERFLOW"})),
        )
        .await;
    world.wait_count("salesforce.account", "true", 9).await;
}

#[tokio::test]
async fn an_invalid_replay_id_falls_back_to_a_poll_and_new_events() {
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "Before"}])).await;
    let mut sidecar = world
        .synced("Account", &["Name"], "read_only", streaming())
        .await;
    let exit = sidecar.terminate(Duration::from_secs(30));
    assert!(
        exit.is_some_and(|status| status.success()),
        "SIGTERM → exit 0: {exit:?}"
    );
    assert_eq!(
        world.text("SELECT reader_owner FROM sfsync.mapping").await,
        None,
        "a clean shutdown gives the reading lease up"
    );

    world
        .sql
        .execute("UPDATE sfsync.mapping SET replay_id = 987654321", &[])
        .await
        .expect("bogus replay id");
    world
        .update(
            "Account",
            json!([{"Id": ids[0], "Name": "Changed while down"}]),
        )
        .await;
    let _sidecar = world.sidecar();
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Changed while down"),
        )
        .await;
    settle().await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Changed after"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Changed after"),
        )
        .await;
    let replay: i64 = world
        .text("SELECT replay_id::text FROM sfsync.mapping")
        .await
        .and_then(|id| id.parse().ok())
        .expect("replay id");
    assert_ne!(replay, 987654321);
}

#[tokio::test]
async fn dropped_streaming_clients_subscribe_again() {
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "One"}])).await;
    let _sidecar = world
        .synced("Account", &["Name"], "read_only", streaming())
        .await;
    settle().await;
    world
        .emulator
        .admin(Method::POST, "cometd/drop-clients", None)
        .await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "After the drop"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("After the drop"),
        )
        .await;
    // and the new subscription delivers what follows
    world
        .update(
            "Account",
            json!([{"Id": ids[0], "Name": "Through the new subscription"}]),
        )
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Through the new subscription"),
        )
        .await;
}

#[tokio::test]
async fn an_object_without_change_data_capture_is_polled_with_a_note() {
    let world = World::reader()
        .emulator_args(&["--cdc-objects", "Contact"])
        .start()
        .await;
    let ids = world.create("Account", json!([{"Name": "One"}])).await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"streaming": true, "poll_seconds": 1}),
        )
        .await;
    world
        .until("a state_detail note about CDC", || async {
            world.state("Account").await.1.is_some_and(|detail| {
                detail.contains("Change Data Capture is not available for Account")
            })
        })
        .await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Polled"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Polled"),
        )
        .await;
}
