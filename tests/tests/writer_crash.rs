//! Sidecars dying and sharing: `kill -9` several times during a 20,000-change drain, then a restart,
//! loses nothing and (with an upsert field) duplicates nothing; two sidecars draining one queue
//! duplicate nothing; SIGTERM gives unsent changes back and exits 0.

use serde_json::json;
use sfsync_tests::Sidecar;
use sfsync_tests::{World, WAIT};
use std::time::Duration;

async fn assert_each_once(world: &World, object: &str, key: &str, expected: usize) {
    let counts = world.org_counts(object, key).await;
    assert_eq!(counts.len(), expected, "{object}: every record landed");
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(duplicated.is_empty(), "{object}: duplicates {duplicated:?}");
}

#[tokio::test]
async fn kill_9_during_a_large_drain_loses_and_duplicates_nothing() {
    let world = World::writer()
        .env("SFSYNC_WRITE_CONCURRENCY", "4")
        .start()
        .await;
    world.map_accounts_and_contacts().await;
    // 12,000 accounts (a Bulk-sized backlog) and 8,000 contacts pointing at them.
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) SELECT 'Account ' || g, 'K-' || g FROM generate_series(1, 12000) g;
             INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c)
             SELECT 'Contact ' || g, 'K-' || (g % 12000 + 1), 'KC-' || g FROM generate_series(1, 8000) g;",
        )
        .await
        .expect("20,000 changes");
    let total = world.queued().await;
    assert_eq!(total, 20_000);

    let mut sidecar = Sidecar::start(&world.env);
    let mut kills = 0;
    let mut last_queued = total;
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    // Kill the sidecar whenever it has made some progress, until it has been killed four times.
    while kills < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = world.queued().await;
        let done = world
            .scalar("SELECT count(*) FROM sfsync.change_archive")
            .await;
        if queued == 0 {
            break;
        }
        if last_queued - queued >= 500 || (done > 0 && kills == 0 && queued < total) {
            sidecar.kill9();
            kills += 1;
            last_queued = queued;
            sidecar.restart();
        }
    }
    assert!(
        kills >= 2,
        "the sidecar was killed during the drain ({kills} times)"
    );
    world.drained("the drain to finish after the kills").await;
    assert_each_once(&world, "Account", "Ext_Id__c", 12_000).await;
    assert_each_once(&world, "Contact", "Ext_Id__c", 8_000).await;
    let without_sfid = world
        .scalar(
            "SELECT (SELECT count(*) FROM salesforce.account WHERE sfid IS NULL) + (SELECT count(*) FROM salesforce.contact WHERE sfid IS NULL)",
        )
        .await;
    assert_eq!(without_sfid, 0);
    let failed = world
        .scalar("SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'")
        .await;
    assert_eq!(failed, 0);
    // the children point at the right parents
    let records = world
        .org_records("Contact", "AccountId, Ext_Id__c", "Ext_Id__c")
        .await;
    let rows = world
        .sql
        .query(
            "SELECT c.ext_id__c, a.sfid FROM salesforce.contact c JOIN salesforce.account a ON a.ext_id__c = c.account__ext_id__c
              WHERE c.id % 97 = 0",
            &[],
        )
        .await
        .expect("sample");
    for row in rows {
        let ext: String = row.get(0);
        let parent: String = row.get(1);
        assert_eq!(
            records[&ext]["AccountId"].as_str(),
            Some(parent.as_str()),
            "{ext}"
        );
    }
}

#[tokio::test]
async fn two_sidecars_on_one_queue_duplicate_nothing() {
    let world = World::writer()
        .env("SFSYNC_WRITE_BATCH", "50")
        .start()
        .await;
    world.map_leads().await;
    world.map_accounts_by_ext_id().await;
    let _first = Sidecar::start(&world.env);
    let _second = Sidecar::start(&world.env);
    // changes keep arriving while both drain; leads have no upsert field, so only the queue's
    // leases keep them from being created twice
    for round in 0..10 {
        world
            .sql
            .batch_execute(&format!(
                "INSERT INTO salesforce.lead (lastname, company) SELECT 'Lead {round}-' || g, 'Co' FROM generate_series(1, 300) g;
                 INSERT INTO salesforce.account (name, ext_id__c) SELECT 'Acc {round}-' || g, 'T-{round}-' || g FROM generate_series(1, 200) g;
                 UPDATE salesforce.account SET name = name || '+' WHERE ext_id__c LIKE 'T-{round}-%' AND right(ext_id__c, 1) = '7';"
            ))
            .await
            .expect("changes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world.drained("both sidecars to drain the queue").await;
    assert_each_once(&world, "Lead", "LastName", 3_000).await;
    assert_each_once(&world, "Account", "Ext_Id__c", 2_000).await;
    let names = world
        .org_records("Account", "Name, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(names["T-3-17"]["Name"], "Acc 3-17+");
    let lost = world
        .scalar("SELECT count(*) FROM salesforce.lead WHERE sfid IS NULL")
        .await;
    assert_eq!(lost, 0);
}

#[tokio::test]
async fn sigterm_stops_claiming_gives_back_and_exits_0() {
    let world = World::writer().start().await;
    world.map_leads().await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.lead (lastname, company) SELECT 'Lead ' || g, 'Co' FROM generate_series(1, 5000) g")
        .await
        .expect("leads");
    // slow calls, so some are in flight when the signal comes
    world
        .emulator
        .admin(
            reqwest::Method::POST,
            "faults",
            Some(json!({"path": "/services/data/v62.0/composite", "latencyMs": 300})),
        )
        .await;
    let mut sidecar = Sidecar::start(&world.env);
    sfsync_tests::eventually(WAIT, "some leads to be written", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.change_archive")
            .await
            > 0
    })
    .await;
    let status = sidecar
        .terminate(WAIT)
        .expect("the sidecar exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    // nothing stays claimed by the stopped sidecar: every change is finished or back in the queue
    let held = world
        .scalar("SELECT count(*) FROM sfsync.change WHERE state = 'PENDING'")
        .await;
    assert_eq!(
        held, 0,
        "in-flight calls were finished and unsent changes given back"
    );
    world
        .emulator
        .admin(reqwest::Method::DELETE, "faults", None)
        .await;
    let _again = Sidecar::start(&world.env);
    world.drained("a new sidecar to finish the rest").await;
    assert_each_once(&world, "Lead", "LastName", 5_000).await;
}

#[tokio::test]
async fn leases_are_renewed_while_slow_calls_are_in_flight() {
    // Calls take longer than the lease: without renewal a second sidecar would claim the same
    // changes and create the leads (no upsert field) twice.
    let world = World::writer()
        .envs(&[
            ("SFSYNC_WRITE_LEASE_SECONDS", "5"),
            ("SFSYNC_WRITE_BATCH", "50"),
        ])
        .start()
        .await;
    world.map_leads().await;
    world
        .emulator
        .admin(
            reqwest::Method::POST,
            "faults",
            Some(json!({"path": "/services/data/v62.0/composite/sobjects", "method": "POST", "latencyMs": 8000, "count": 4})),
        )
        .await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.lead (lastname, company) SELECT 'Slow ' || g, 'Co' FROM generate_series(1, 400) g")
        .await
        .expect("leads");
    let mut first = Sidecar::start(&world.env);
    let mut second = Sidecar::start(&world.env);
    world.drained("the slow calls to finish").await;
    // stopping waits for calls still in flight, so every call either sidecar made has landed
    first.terminate(WAIT);
    second.terminate(WAIT);
    assert_each_once(&world, "Lead", "LastName", 400).await;
    let failed = world
        .scalar("SELECT count(*) FROM sfsync.change_archive WHERE state <> 'SUCCESS'")
        .await;
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn notify_wakes_the_writer_between_polls() {
    // A poll interval of a minute (and lease renewals every 20 s): only the NOTIFY can make the
    // write arrive within seconds.
    let world = World::writer()
        .envs(&[
            ("SFSYNC_POLL_MS", "60000"),
            ("SFSYNC_WRITE_LEASE_SECONDS", "60"),
        ])
        .start()
        .await;
    world.map_leads().await;
    let _sidecar = Sidecar::start(&world.env);
    // let the writer start, make its first (empty) poll and LISTEN
    tokio::time::sleep(Duration::from_secs(3)).await;
    world
        .sql
        .batch_execute("SET sfsync.notify = on; INSERT INTO salesforce.lead (lastname, company) VALUES ('Notified', 'Co')")
        .await
        .expect("insert with notify");
    sfsync_tests::eventually(
        Duration::from_secs(8),
        "the notified change to be written",
        || async { world.queued().await == 0 },
    )
    .await;
    assert_each_once(&world, "Lead", "LastName", 1).await;
}

/// An insert whose call reached Salesforce but whose answer did not (applied, then a 503 on every
/// attempt of the call) goes back to the queue; a delete of the row queued then must still delete
/// that record. Cancelling the pair as "deleted before it reached Salesforce" (in capture, or when
/// the writer merges the two) would leave the record in Salesforce, and the reader would bring the
/// deleted row back.
#[tokio::test]
async fn a_delete_after_an_interrupted_insert_deletes_the_record() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;
    world
        .emulator
        .admin(
            reqwest::Method::POST,
            "faults",
            // as many as the writer's attempts of one call: the change goes back to the queue
            Some(json!({"path": "/services/data/", "method": "PATCH", "status": 503, "errorCode": "SERVER_UNAVAILABLE",
                        "message": "applied, answer lost", "after": true, "count": 4})),
        )
        .await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Half sent', 'HALF-1')",
        )
        .await
        .unwrap();
    sfsync_tests::eventually(
        WAIT,
        "the insert to reach Salesforce unanswered",
        || async {
            world
                .org_counts("Account", "Ext_Id__c")
                .await
                .contains_key("HALF-1")
        },
    )
    .await;
    // hold the retry (the writer backs off at least a second), then queue the delete behind it
    world
        .sql
        .batch_execute("SELECT sfsync.pause('Account')")
        .await
        .unwrap();
    sfsync_tests::eventually(WAIT, "the insert to be back in the queue", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.change WHERE action = 'INSERT' AND state = 'NEW' AND attempts = 1")
            .await
            == 1
    })
    .await;
    world
        .sql
        .batch_execute("DELETE FROM salesforce.account WHERE ext_id__c = 'HALF-1'")
        .await
        .unwrap();
    assert_eq!(
        world.queued().await,
        2,
        "the delete waits behind the insert"
    );
    world
        .sql
        .batch_execute("SELECT sfsync.resume('Account')")
        .await
        .unwrap();
    world.drained("the insert and the delete").await;
    assert!(
        !world
            .org_counts("Account", "Ext_Id__c")
            .await
            .contains_key("HALF-1"),
        "the record created by the interrupted insert must be deleted"
    );
    let states = world.archive_states().await;
    assert_eq!(states.get("FAILED"), None, "{states:?}");
}
