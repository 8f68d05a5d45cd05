//! The reader next to the writer, end to end: a Postgres update goes to Salesforce, comes back as a
//! change event and is recognised, so nothing loops (API usage stays flat at idle); an incoming
//! Salesforce value for a field with a queued local change is a conflict, resolved by the mapping's
//! policy and logged in `sfsync.conflict`.

use serde_json::json;
use sfsync_tests::World;
use std::time::Duration;

/// Holds the queued change of a record locked, so the writer (which claims with SKIP LOCKED) leaves
/// it queued while an incoming Salesforce value meets it; returns the open transaction's client.
async fn hold_queued_change(world: &World) -> tokio_postgres::Client {
    let holder = world.db.connect().await;
    holder.batch_execute("BEGIN").await.expect("begin");
    let locked = holder
        .query(
            "SELECT id FROM sfsync.change WHERE state = 'NEW' FOR UPDATE",
            &[],
        )
        .await
        .expect("lock the queued change");
    assert_eq!(locked.len(), 1, "one queued change");
    holder
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
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "Original"}])).await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_write",
            json!({"streaming": true, "poll_seconds": 3600}),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Changed in Postgres' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    world
        .until("the change reaches Salesforce", || async {
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
        "API usage must stay flat at idle: {:?}",
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
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "Original"}])).await;
    let mut sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_write",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 1).await;

    // the writer must not take the change before Salesforce's value arrives: stop it meanwhile
    sidecar.terminate(Duration::from_secs(30));
    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Local name' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    let holder = hold_queued_change(&world).await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Remote name"}]))
        .await;
    let _sidecar = world.sidecar();
    // the merge waits for our lock; release it once the reader is at it (seen waiting on the lock,
    // not after a fixed time: on a loaded machine the writer could take the change first)
    world
        .until("the reader's merge to wait for the held change", || async {
            world
                .count(
                    "pg_stat_activity",
                    "usename = 'sfsync_sidecar' AND wait_event_type = 'Lock'
                 AND (query LIKE '%sfsync._apply_records%' OR query LIKE '%sfsync._merge_stage%')",
                )
                .await
                >= 1
        })
        .await;
    holder.batch_execute("COMMIT").await.expect("commit");
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Remote name"),
        )
        .await;
    assert_eq!(
        world.count("sfsync.conflict", "policy = 'salesforce_wins' AND field = 'Name' AND incoming_value = '\"Remote name\"' AND local_value = '\"Local name\"'").await,
        1
    );
    world
        .until("the local change is dropped from the queue", || async {
            world.count("sfsync.change", "true").await == 0
        })
        .await;
    assert_eq!(
        world
            .count("sfsync.change_archive", "state = 'MERGED'")
            .await,
        1
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        salesforce_name(&world, &ids[0]).await,
        "Remote name",
        "nothing was sent"
    );
}

#[tokio::test]
async fn postgres_wins_keeps_the_local_value_and_sends_it() {
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "Original"}])).await;
    let mut sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_write",
            json!({"poll_seconds": 1, "conflict": "postgres_wins"}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 1).await;

    sidecar.terminate(Duration::from_secs(30));
    world
        .sql
        .execute(
            "UPDATE salesforce.account SET name = 'Local name' WHERE sfid = $1",
            &[&ids[0]],
        )
        .await
        .expect("local update");
    let holder = hold_queued_change(&world).await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "Remote name"}]))
        .await;
    let _sidecar = world.sidecar();
    tokio::time::sleep(Duration::from_secs(4)).await;
    holder.batch_execute("COMMIT").await.expect("commit");
    world.until("the conflict is logged", || async {
        world.count("sfsync.conflict", "policy = 'postgres_wins' AND field = 'Name' AND local_value = '\"Local name\"' AND incoming_value = '\"Remote name\"'").await >= 1
    })
    .await;
    world
        .until("the local value reaches Salesforce", || async {
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
