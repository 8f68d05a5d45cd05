//! The reader next to the writer, end to end: a Postgres update goes to Salesforce, comes back as a
//! change event and is recognised, so nothing loops (API usage stays flat at idle); an incoming
//! Salesforce value for a field with a queued local change is a conflict, resolved by the mapping's
//! policy and logged in `sfsync.conflict`.

mod reader_support;

use reader_support::{until, World};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

/// Makes every write of the writer fail transiently, so local changes stay queued.
async fn block_writes(world: &World) {
    for path in [
        "/services/data/v62.0/composite",
        "/services/data/v62.0/sobjects",
    ] {
        for method in ["PATCH", "POST"] {
            world
                .emulator
                .admin(
                    Method::POST,
                    "faults",
                    Some(json!({"path": path, "method": method, "status": 503, "errorCode": "SERVER_UNAVAILABLE",
                                "message": "blocked by the test"})),
                )
                .await;
        }
    }
}

async fn salesforce_name(world: &World, id: &str) -> String {
    let records = world
        .emulator
        .query(&format!("SELECT Name FROM Account WHERE Id = '{id}'"))
        .await;
    records[0]["Name"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_postgres_update_round_trip_does_not_loop() {
    let world = World::start(&[], &[]).await;
    let ids = world.create("Account", json!([{"Name": "Original"}])).await;
    let _sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name"],
            "read_write",
            json!({"streaming": true, "poll_seconds": 3600}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Changed in Postgres' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    until("the change reaches Salesforce", || async {
        salesforce_name(&world, &ids[0]).await == "Changed in Postgres"
    })
    .await;
    // the echo comes back through CDC and settles the row
    world
        .wait_text(
            &format!(
                "SELECT _hc_lastop FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("SYNCED"),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = world.api_usage().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = world.api_usage().await;
    assert_eq!(
        after,
        before,
        "API usage must stay flat at idle: {}",
        world.api_calls().await
    );
    assert_eq!(
        world.count("sfsync.change", "true").await,
        0,
        "nothing queued again"
    );
    assert_eq!(
        world
            .count("sfsync.change_archive", "state = 'SUCCESS'")
            .await,
        1
    );
    assert_eq!(
        world.count("sfsync.conflict", "true").await,
        0,
        "an echo is no conflict"
    );
}

#[tokio::test]
async fn salesforce_wins_applies_the_incoming_value_and_logs_the_conflict() {
    let world = World::start(&[], &[]).await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "Original", "Industry": "Energy"}]),
        )
        .await;
    let _sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name", "Industry"],
            "read_write",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    world.wait_count("salesforce.account", "true", 1).await;

    block_writes(&world).await;
    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Local name' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Remote name"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Remote name"),
        )
        .await;
    until("the conflict is logged", || async {
        world.count("sfsync.conflict", "policy = 'salesforce_wins' AND field = 'Name' AND incoming_value = '\"Remote name\"'").await >= 1
    })
    .await;
    world.emulator.admin(Method::DELETE, "faults", None).await;
    until("the local change is dropped from the queue", || async {
        world.count("sfsync.change", "true").await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(salesforce_name(&world, &ids[0]).await, "Remote name");
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Remote name"),
        )
        .await;
}

#[tokio::test]
async fn postgres_wins_keeps_the_local_value_and_sends_it() {
    let world = World::start(&[], &[]).await;
    let ids = world.create("Account", json!([{"Name": "Original"}])).await;
    let _sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name"],
            "read_write",
            json!({"poll_seconds": 1, "conflict": "postgres_wins"}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    world.wait_count("salesforce.account", "true", 1).await;

    block_writes(&world).await;
    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Local name' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Remote name"}]))
        .await;
    until("the conflict is logged", || async {
        world
            .count(
                "sfsync.conflict",
                "policy = 'postgres_wins' AND field = 'Name' AND local_value = '\"Local name\"'",
            )
            .await
            >= 1
    })
    .await;
    assert_eq!(
        world
            .text(&format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ))
            .await
            .as_deref(),
        Some("Local name")
    );
    world.emulator.admin(Method::DELETE, "faults", None).await;
    until("the local value reaches Salesforce", || async {
        salesforce_name(&world, &ids[0]).await == "Local name"
    })
    .await;
    world
        .wait_text(
            &format!(
                "SELECT name || ' ' || _hc_lastop FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Local name SYNCED"),
        )
        .await;
}
