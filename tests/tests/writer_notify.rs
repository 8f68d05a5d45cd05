//! `NOTIFY sfsync_changes` is a wake-up, not work (issue 16, item 10): any role may notify the
//! channel, so a flood of notifications must cost the writer a few claims and no memory, and a real
//! change notified afterwards must still wake it.

use sfsync_tests::{eventually, metric};
use sfsync_tests::{free_port, metrics, World, WAIT};

/// Notifications in the flood: one transaction, each payload different (Postgres folds identical
/// notifications of a transaction into one).
const FLOOD: u64 = 100_000;

async fn counter(port: u16, selector: &str) -> f64 {
    metric(&metrics(port).await, selector).unwrap_or(0.0)
}

#[tokio::test]
async fn a_flood_of_notifications_costs_a_few_claims_and_a_real_change_still_wakes_the_writer() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // the poll comes once a minute (the longest allowed): claims come from wake-ups
    let world = World::writer()
        .envs(&[("SFSYNC_HTTP_LISTEN", &listen), ("SFSYNC_POLL_MS", "60000")])
        .start()
        .await;
    world.map_accounts_by_ext_id().await;
    let _sidecar = world.sidecar();

    // any role may notify: the flood comes from one that is not the sidecar's
    let notifier = format!("notifier_{}", std::process::id());
    world
        .sql
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {notifier} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ))
        .await
        .expect("create the notifying role");
    let outsider = sfsync_tests::connect(&world.db.url.replacen(
        "postgres://postgres@",
        &format!("postgres://{notifier}@"),
        1,
    ))
    .await;
    let is_agent: bool = outsider
        .query_one(
            "SELECT pg_has_role(current_user, 'sfsync_agent', 'MEMBER')",
            &[],
        )
        .await
        .expect("membership")
        .get(0);
    assert!(!is_agent);

    // the writer listens once it has counted a notification
    eventually(WAIT, "the writer to listen", || async {
        outsider
            .batch_execute("NOTIFY sfsync_changes, 'hello'")
            .await
            .expect("notify");
        counter(port, "sfsync_writer_notifications_total").await >= 1.0
    })
    .await;
    let notified = counter(port, "sfsync_writer_notifications_total").await;
    let claims_before = counter(port, "sfsync_writer_claims_total").await;
    outsider
        .batch_execute(&format!(
            "SELECT pg_notify('sfsync_changes', 'flood ' || g) FROM generate_series(1, {FLOOD}) g"
        ))
        .await
        .expect("flood");
    eventually(WAIT, "the writer to receive the whole flood", || async {
        counter(port, "sfsync_writer_notifications_total").await >= notified + FLOOD as f64
    })
    .await;
    let claims = counter(port, "sfsync_writer_claims_total").await - claims_before;
    eprintln!("{FLOOD} notifications: {claims} claims");
    assert!(
        claims < 100.0,
        "{FLOOD} notifications made the writer claim {claims} times"
    );

    // A real change, notified as the extension does with sfsync.notify on, wakes the writer: it is
    // written without a poll in between (if a poll happened to come first, try again).
    let mut woken = false;
    for attempt in 1..=3 {
        let polls = counter(port, "sfsync_writer_wakeups_total{cause=\"poll\"}").await;
        world
            .sql
            .batch_execute(&format!(
                "SET sfsync.notify = on;
                 INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Woken {attempt}', 'W-{attempt}');
                 RESET sfsync.notify;"
            ))
            .await
            .expect("insert");
        world.drained("the notified change to be written").await;
        if counter(port, "sfsync_writer_wakeups_total{cause=\"poll\"}").await == polls {
            woken = true;
            break;
        }
    }
    assert!(woken, "the change was written only after a poll");
    let written = world
        .scalar("SELECT count(*) FROM salesforce.account WHERE sfid IS NOT NULL")
        .await;
    assert!(written >= 1);
}
