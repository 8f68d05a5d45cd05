//! Faults injected through the emulator's admin API while the writer drains: 503s, locked rows,
//! responses lost after Salesforce applied the call, expired sessions and a window of
//! REQUEST_LIMIT_EXCEEDED. Every change lands, and with an upsert field exactly once.

use reqwest::Method;
use serde_json::json;
use sfsync_tests::eventually;
use sfsync_tests::metric;
use sfsync_tests::{free_port, metrics, World, WAIT};
use std::time::Duration;

const COMPOSITE: &str = "/services/data/v62.0/composite/sobjects";

/// Every account and contact exists once in the org and children point at the right parents.
async fn assert_exactly_once(world: &World, accounts: usize, contacts: usize) {
    let counts = world.org_counts("Account", "Ext_Id__c").await;
    assert_eq!(counts.len(), accounts, "every account landed");
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated accounts: {duplicated:?}");
    let counts = world.org_counts("Contact", "Ext_Id__c").await;
    assert_eq!(counts.len(), contacts, "every contact landed");
    assert!(counts.values().all(|&n| n == 1), "duplicated contacts");
    let orphans = world
        .scalar(
            "SELECT count(*) FROM salesforce.contact c JOIN salesforce.account a ON a.ext_id__c = c.account__ext_id__c
              WHERE c.sfid IS NULL OR a.sfid IS NULL",
        )
        .await;
    assert_eq!(orphans, 0, "every row has its sfid");
    let records = world
        .org_records("Contact", "AccountId, Ext_Id__c", "Ext_Id__c")
        .await;
    let parents: std::collections::HashMap<String, String> = world
        .sql
        .query(
            "SELECT c.ext_id__c, a.sfid FROM salesforce.contact c JOIN salesforce.account a ON a.ext_id__c = c.account__ext_id__c",
            &[],
        )
        .await
        .expect("parents")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (ext, account) in parents {
        assert_eq!(
            records[&ext]["AccountId"].as_str(),
            Some(account.as_str()),
            "{ext}'s parent"
        );
    }
    let failed = world
        .scalar("SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'")
        .await;
    assert_eq!(failed, 0, "transient faults never fail a change");
}

async fn insert_accounts_and_contacts(
    world: &World,
    accounts: usize,
    contacts_per_account: usize,
    prefix: &str,
) {
    world
        .sql
        .batch_execute(&format!(
            "INSERT INTO salesforce.account (name, annualrevenue, ext_id__c)
             SELECT 'Account ' || g, g, '{prefix}A-' || g FROM generate_series(1, {accounts}) g;
             INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c)
             SELECT 'Contact ' || g || '/' || k, '{prefix}A-' || g, '{prefix}C-' || g || '-' || k
               FROM generate_series(1, {accounts}) g, generate_series(1, {contacts_per_account}) k;"
        ))
        .await
        .expect("insert accounts and contacts");
}

#[tokio::test]
async fn unavailable_locked_lost_and_expired_calls_lose_nothing_and_duplicate_nothing() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;
    insert_accounts_and_contacts(&world, 1500, 1, "").await;
    world
        .fault(
            json!({"path": COMPOSITE, "method": "PATCH", "status": 500, "after": true, "count": 4}),
        )
        .await;
    world.fault(json!({"path": COMPOSITE, "status": 400, "errorCode": "UNABLE_TO_LOCK_ROW", "count": 4}),
    )
    .await;
    world
        .fault(json!({"path": "/services/data/", "status": 503, "probability": 0.1}))
        .await;
    let _sidecar = world.sidecar();

    // expire every session a few times while the queue drains
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        world
            .emulator
            .admin(Method::POST, "expire-sessions", None)
            .await;
    }
    // updates on top, while faults continue
    world
        .sql
        .batch_execute("UPDATE salesforce.account SET name = name || ' (updated)' WHERE annualrevenue % 10 = 0")
        .await
        .expect("updates");
    world
        .drained("every change to land despite the faults")
        .await;
    world.emulator.admin(Method::DELETE, "faults", None).await;

    assert_exactly_once(&world, 1500, 1500).await;
    let updated = world
        .org_records("Account", "Name, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(updated["A-10"]["Name"], "Account 10 (updated)");
    assert_eq!(updated["A-11"]["Name"], "Account 11");
    let calls = world.api_calls().await;
    let upserts = calls
        .get("PATCH /services/data/{version}/composite/sobjects/{object}/{field}")
        .copied()
        .unwrap_or(0);
    assert!(
        upserts >= 15,
        "Collections upserts carried the inserts: {calls:?}"
    );
}

#[tokio::test]
async fn bulk_jobs_survive_failures_and_lost_responses() {
    let world = World::writer()
        .env("SFSYNC_BULK_THRESHOLD", "2000")
        .start()
        .await;
    world.map_accounts_and_contacts().await;
    insert_accounts_and_contacts(&world, 4000, 1, "B").await;
    // a job whose close is applied but answered with an error, and 10% unavailable on ingest calls
    world.fault(json!({"path": "/services/data/v62.0/jobs/ingest/", "method": "PATCH", "status": 500, "after": true, "count": 1})).await;
    world
        .fault(
            json!({"path": "/services/data/v62.0/jobs/ingest", "status": 503, "probability": 0.1}),
        )
        .await;
    let _sidecar = world.sidecar();
    world.drained("the bulk backlog to land").await;
    world.emulator.admin(Method::DELETE, "faults", None).await;
    assert_exactly_once(&world, 4000, 4000).await;
    let calls = world.api_calls().await;
    let jobs = calls
        .get("POST /services/data/{version}/jobs/ingest")
        .copied()
        .unwrap_or(0);
    assert!(
        jobs >= 2,
        "Bulk API 2.0 ingest jobs carried the backlog: {calls:?}"
    );
}

#[tokio::test]
async fn a_request_limit_window_pauses_writing_until_calls_are_freed() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;
    let port = free_port();
    let mut env = world.env.clone();
    env.push(("SFSYNC_HTTP_LISTEN".into(), format!("127.0.0.1:{port}")));
    let _sidecar = sfsync_tests::Sidecar::start(&env);
    insert_accounts_and_contacts(&world, 50, 1, "L1").await;
    world.drained("the first rows to land").await;

    // The org's allowance is spent: writing pauses instead of failing changes.
    world
        .emulator
        .admin(
            Method::PUT,
            "limits",
            Some(json!({"DailyApiRequests": {"Max": 100000, "Remaining": 0}})),
        )
        .await;
    insert_accounts_and_contacts(&world, 300, 1, "L2").await;
    eventually(WAIT, "the writer to report the pause", || async {
        metric(&metrics(port).await, "sfsync_writer_paused ") == Some(1.0)
    })
    .await;
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200, "a paused writer is healthy");
    let body = health.text().await.expect("healthz body");
    // Which guard stops it depends on which call meets the spent allowance first: a write
    // refused with REQUEST_LIMIT_EXCEEDED, or any call (the reader's poll too) whose
    // Sforce-Limit-Info header shows the allowance used up, which the budget check then
    // refuses to dip into. Both are a pause, never a failed change.
    assert!(
        body.contains("writer: paused (request_limit_exceeded)")
            || body.contains("writer: paused (api_reserve)"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        world.queued().await > 0,
        "nothing is written while the allowance is spent"
    );
    let attempts = world
        .scalar("SELECT coalesce(max(attempts), 0)::bigint FROM sfsync.change")
        .await;
    assert!(
        attempts <= 2,
        "a paused writer does not burn attempts: {attempts}"
    );

    // Calls are freed: writing resumes by itself.
    world
        .emulator
        .admin(
            Method::PUT,
            "limits",
            Some(json!({"DailyApiRequests": {"Max": 100000, "Remaining": 90000}})),
        )
        .await;
    world.drained("writing to resume").await;
    assert_exactly_once(&world, 350, 350).await;
    let text = metrics(port).await;
    assert_eq!(metric(&text, "sfsync_writer_paused "), Some(0.0), "{text}");
    // the pause was counted, under whichever guard stopped the writer (see above)
    let pauses = |text: &str, reason: &str| {
        metric(
            text,
            &format!("sfsync_writer_pauses_total{{reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert!(
        pauses(&text, "request_limit_exceeded") + pauses(&text, "api_reserve") >= 1.0,
        "{text}"
    );
    let reserve_pauses_before = pauses(&text, "api_reserve");

    // The reserve is never spent: with 10% reserved, 95% used pauses writing too.
    world
        .emulator
        .admin(
            Method::PUT,
            "limits",
            Some(json!({"DailyApiRequests": {"Max": 100000, "Remaining": 5000}})),
        )
        .await;
    // The first write after the change cannot know it (usage arrives with each response)...
    world
        .sql
        .batch_execute("UPDATE salesforce.account SET name = 'touch' WHERE ext_id__c = 'L1A-1'")
        .await
        .expect("touch");
    world.drained("the write that learns the usage").await;
    // ...the next ones can.
    world
        .sql
        .batch_execute("UPDATE salesforce.account SET name = 'held' WHERE ext_id__c = 'L1A-2'")
        .await
        .expect("held");
    eventually(WAIT, "the reserve to pause writing", || async {
        pauses(&metrics(port).await, "api_reserve") > reserve_pauses_before
    })
    .await;
    assert!(
        world.queued().await > 0,
        "the change waits while only the reserve is left"
    );
    let used_before = world.emulator.admin(Method::GET, "stats", None).await["apiUsage"]["used"]
        .as_u64()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used_after = world.emulator.admin(Method::GET, "stats", None).await["apiUsage"]["used"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        used_after - used_before <= 6,
        "only probes while at the reserve: {used_before} → {used_after}"
    );
    world
        .emulator
        .admin(
            Method::PUT,
            "limits",
            Some(json!({"DailyApiRequests": {"Max": 100000, "Remaining": 90000}})),
        )
        .await;
    world
        .drained("writing to resume after the reserve freed")
        .await;
    let accounts = world
        .org_records("Account", "Name, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(
        (
            accounts["L1A-1"]["Name"].as_str(),
            accounts["L1A-2"]["Name"].as_str()
        ),
        (Some("touch"), Some("held"))
    );
}
