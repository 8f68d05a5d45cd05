//! The queue protocol over real connections to a real cluster: what one rolled-back pg_test cannot
//! show (commit visibility, concurrent claimers, SKIP LOCKED, lease expiry, ordering under load).

use sfsync_tests::{describe_fixture, Cluster, TestDb};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::Client;

async fn account_mapping(db: &TestDb, options: &str) -> (Client, i64) {
    let client = db.connect().await;
    let mut options: serde_json::Value = serde_json::from_str(options).unwrap();
    options["describe"] = describe_fixture("account");
    let row = client
        .query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name','Industry','AnnualRevenue','Ext_Id__c'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .expect("create mapping");
    (client, row.get(0))
}

#[derive(Debug, Clone)]
struct Claimed {
    change_id: i64,
    record_id: i64,
    token: String,
    action: String,
    values: Option<String>,
}

async fn claim(client: &Client, batch: i32, lease_seconds: i32) -> Vec<Claimed> {
    client
        .query(
            "SELECT change_id, record_id, lease_token::text, action, \"values\"::text FROM sfsync._claim_changes($1, $2)",
            &[&batch, &lease_seconds],
        )
        .await
        .expect("claim")
        .iter()
        .map(|r| Claimed { change_id: r.get(0), record_id: r.get(1), token: r.get(2), action: r.get(3), values: r.get(4) })
        .collect()
}

async fn complete(client: &Client, claimed: &[Claimed], outcome: &str) -> serde_json::Value {
    let results: Vec<serde_json::Value> = claimed
        .iter()
        .map(|c| {
            let sfid = format!("001{:012}AAA", c.record_id);
            serde_json::json!({"id": c.change_id, "token": c.token, "outcome": outcome, "sfid": sfid})
        })
        .collect();
    let row = client
        .query_one(
            "SELECT sfsync._complete_changes($1::text::jsonb)::text",
            &[&serde_json::Value::from(results).to_string()],
        )
        .await
        .expect("complete");
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_change() {
    let db = Cluster::shared().database().await;
    let (client, _) = account_mapping(&db, "{}").await;
    client
        .batch_execute("INSERT INTO salesforce.account (name) SELECT 'acct ' || g FROM generate_series(1, 2000) g")
        .await
        .unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        workers.push(tokio::spawn(async move {
            let client = sfsync_tests::cluster::connect(&url).await;
            let mut seen = Vec::new();
            loop {
                let claimed = claim(&client, 50, 60).await;
                if claimed.is_empty() {
                    break;
                }
                assert!(claimed.iter().all(|c| c.action == "INSERT"));
                seen.extend(claimed.iter().map(|c| c.change_id));
                complete(&client, &claimed, "SUCCESS").await;
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a change was handed out twice");
    assert_eq!(unique.len(), 2000, "every change was handed out");
    let left: i64 = client
        .query_one("SELECT count(*) FROM sfsync.change", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let lastops: i64 = client
        .query_one("SELECT count(*) FROM salesforce.account WHERE _hc_lastop = 'INSERTED' AND sfid IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lastops, 2000);
}

#[tokio::test]
async fn uncommitted_changes_are_invisible_and_rollbacks_leave_nothing() {
    let db = Cluster::shared().database().await;
    let (sidecar, _) = account_mapping(&db, "{}").await;
    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.batch_execute("INSERT INTO salesforce.account (name) VALUES ('not yet')")
        .await
        .unwrap();
    assert!(
        claim(&sidecar, 10, 60).await.is_empty(),
        "an uncommitted change was claimed"
    );
    tx.commit().await.unwrap();
    assert_eq!(claim(&sidecar, 10, 60).await.len(), 1);

    let tx = app.transaction().await.unwrap();
    tx.batch_execute("INSERT INTO salesforce.account (name) VALUES ('never')")
        .await
        .unwrap();
    tx.batch_execute("UPDATE salesforce.account SET industry = 'Energy'")
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let queued: i64 = sidecar
        .query_one(
            "SELECT count(*) FROM sfsync.change WHERE state = 'NEW'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let archived: i64 = sidecar
        .query_one("SELECT count(*) FROM sfsync.change_archive", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        (queued, archived),
        (0, 0),
        "a rolled-back transaction left queue entries"
    );
    assert!(claim(&sidecar, 10, 60).await.is_empty());
}

#[tokio::test]
async fn an_expired_lease_is_claimable_again_and_the_stale_holder_is_fenced() {
    let db = Cluster::shared().database().await;
    let (client, _) = account_mapping(&db, "{}").await;
    client
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('leased')")
        .await
        .unwrap();
    // a lease long enough to outlast the next statement on a busy machine
    let stale = claim(&client, 10, 4).await;
    assert_eq!(stale.len(), 1);
    assert!(
        claim(&client, 10, 60).await.is_empty(),
        "leased: not claimable"
    );
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let other = db.connect().await;
    let fresh = claim(&other, 10, 60).await;
    assert_eq!(
        fresh.len(),
        1,
        "the expired lease makes the change claimable"
    );
    assert_eq!(fresh[0].change_id, stale[0].change_id);
    assert_ne!(fresh[0].token, stale[0].token);
    let outcome = complete(&client, &stale, "FAILED").await;
    assert_eq!(outcome["applied"], 0);
    assert_eq!(outcome["ignored"], serde_json::json!([stale[0].change_id]));
    let outcome = complete(&other, &fresh, "SUCCESS").await;
    assert_eq!(outcome["applied"], 1);
    let row = client
        .query_one("SELECT _hc_lastop, _hc_err FROM salesforce.account", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("INSERTED"));
    assert_eq!(
        row.get::<_, Option<String>>(1),
        None,
        "the stale failure never reached the row"
    );
}

#[tokio::test]
async fn per_record_order_holds_under_concurrent_writers() {
    let db = Cluster::shared().database().await;
    let (client, _) = account_mapping(&db, "{}").await;
    client
        .batch_execute(
            "SET sfsync.origin = 'salesforce';
             INSERT INTO salesforce.account (sfid, name, annualrevenue, _hc_lastop)
               SELECT '001' || lpad(g::text, 12, '0') || 'AAA', 'r' || g, 0, 'SYNCED' FROM generate_series(1, 20) g;
             RESET sfsync.origin;",
        )
        .await
        .unwrap();
    // 8 writers each bump every record 25 times, while 2 claimers drain concurrently
    let mut writers = Vec::new();
    for _ in 0..8 {
        let url = db.url.clone();
        writers.push(tokio::spawn(async move {
            let c = sfsync_tests::cluster::connect(&url).await;
            // one row per statement, records in a different order per writer (OLTP-style)
            let mut order: Vec<i64> = (1..=20).collect();
            for round in 0..25 {
                order.rotate_left(round % 7 + 1);
                for id in &order {
                    c.execute("UPDATE salesforce.account SET annualrevenue = annualrevenue + 1 WHERE id = $1", &[id]).await.unwrap();
                }
            }
        }));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut drainers = Vec::new();
    for _ in 0..2 {
        let url = db.url.clone();
        let done = done.clone();
        drainers.push(tokio::spawn(async move {
            let c = sfsync_tests::cluster::connect(&url).await;
            // per record, the annualrevenue values in the order they were handed out
            let mut sent: Vec<(i64, i64, u64)> = Vec::new();
            loop {
                let claimed = claim(&c, 7, 60).await;
                if claimed.is_empty() {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for ch in &claimed {
                    let v: serde_json::Value =
                        serde_json::from_str(ch.values.as_deref().unwrap()).unwrap();
                    let revenue = v["annualrevenue"].to_string().parse::<u64>().unwrap();
                    sent.push((ch.record_id, ch.change_id, revenue));
                }
                complete(&c, &claimed, "SUCCESS").await;
            }
            sent
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut by_record: HashMap<i64, Vec<(i64, u64)>> = HashMap::new();
    for d in drainers {
        for (record, change, revenue) in d.await.unwrap() {
            by_record.entry(record).or_default().push((change, revenue));
        }
    }
    assert_eq!(by_record.len(), 20);
    for (record, mut sent) in by_record {
        sent.sort();
        let revenues: Vec<u64> = sent.iter().map(|s| s.1).collect();
        assert_eq!(
            revenues,
            (1..=200).collect::<Vec<u64>>(),
            "record {record}: changes out of order or lost"
        );
    }
}

#[tokio::test]
async fn apply_while_a_local_change_is_queued_follows_the_policy() {
    for (policy, expected_industry, expected_pending) in [
        ("salesforce_wins", "Technology", 0_i64),
        ("postgres_wins", "Energy", 1),
    ] {
        let db = Cluster::shared().database().await;
        let (sidecar, mapping) = account_mapping(
            &db,
            &format!(r#"{{"upsert_field": "Ext_Id__c", "conflict": "{policy}"}}"#),
        )
        .await;
        let record = serde_json::json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:00:00.000+0000", "Name": "Acme", "Industry": "Banking", "Ext_Id__c": "A-1"}]);
        sidecar
            .execute(
                "SELECT sfsync._apply_records($1, $2::text::jsonb)",
                &[&mapping, &record.to_string()],
            )
            .await
            .unwrap();
        let app = db.connect().await;
        app.batch_execute("UPDATE salesforce.account SET industry = 'Energy'")
            .await
            .unwrap();
        let incoming = serde_json::json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T14:00:00.000+0000", "Name": "Acme", "Industry": "Technology", "Ext_Id__c": "A-1"}]);
        sidecar
            .execute(
                "SELECT sfsync._apply_records($1, $2::text::jsonb)",
                &[&mapping, &incoming.to_string()],
            )
            .await
            .unwrap();
        let industry: String = app
            .query_one("SELECT industry FROM salesforce.account", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(industry, expected_industry, "{policy}");
        let pending: i64 = app
            .query_one(
                "SELECT count(*) FROM sfsync.change WHERE state = 'NEW'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(pending, expected_pending, "{policy}");
        let conflicts: i64 = app
            .query_one(
                "SELECT count(*) FROM sfsync.conflict WHERE policy = $1",
                &[&policy],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(conflicts, 1, "{policy}");
    }
}

#[tokio::test]
async fn extension_lifecycle_keeps_user_data_and_works_in_a_second_database() {
    let db = Cluster::shared().database().await;
    let (client, _) = account_mapping(&db, "{}").await;
    client
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('precious')")
        .await
        .unwrap();
    client
        .batch_execute("DROP EXTENSION sfsync CASCADE")
        .await
        .unwrap();
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM salesforce.account WHERE name = 'precious'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        kept, 1,
        "DROP EXTENSION ... CASCADE must keep mapped tables and their rows"
    );
    // the capture triggers went with the extension; the table is a plain table again
    client
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('after')")
        .await
        .unwrap();
    client
        .batch_execute("CREATE EXTENSION sfsync")
        .await
        .unwrap();
    // a second database in the same cluster (roles already exist)
    let second = Cluster::shared().database().await;
    let c2 = second.connect().await;
    let roles: i64 = c2
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('sfsync_admin', 'sfsync_agent')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 2);
}

/// Account (upsert on Ext_Id__c) and Contact referring to its Account by `Account.Ext_Id__c`.
async fn account_and_contact_mappings(db: &TestDb) -> Client {
    let (client, _) = account_mapping(db, r#"{"upsert_field": "Ext_Id__c"}"#).await;
    let options = serde_json::json!({
        "upsert_field": "Ext_Id__c",
        "describe": describe_fixture("contact"),
        "parents": {"Account": describe_fixture("account")},
    });
    client
        .execute(
            "SELECT sfsync.create_mapping('Contact', ARRAY['LastName','AccountId','Account.Ext_Id__c','Ext_Id__c'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .expect("create the Contact mapping");
    client
}

fn ids(claimed: &[Claimed]) -> HashSet<i64> {
    claimed.iter().map(|c| c.change_id).collect()
}

async fn last_change(client: &Client) -> i64 {
    client
        .query_one("SELECT max(id) FROM sfsync.change", &[])
        .await
        .unwrap()
        .get(0)
}

/// The demo's case, at the protocol: an Account gets its external id in one commit and a Contact
/// referring to it by that id is inserted in the next. While the Account's change is in flight with
/// one sidecar, no other claim hands out the Contact; once it finished, the Contact is claimable.
#[tokio::test]
async fn a_child_waits_for_the_in_flight_change_that_gives_its_parent_the_external_id() {
    let db = Cluster::shared().database().await;
    let client = account_and_contact_mappings(&db).await;
    client
        .batch_execute(
            "BEGIN; SET LOCAL sfsync.origin = 'salesforce';
             INSERT INTO salesforce.account (name, sfid, _hc_lastop) VALUES ('Acme', '001000000000001AAA', 'SYNCED');
             COMMIT",
        )
        .await
        .unwrap();
    client
        .batch_execute("UPDATE salesforce.account SET ext_id__c = 'ACME-1'")
        .await
        .unwrap();
    let parent_change = last_change(&client).await;
    client
        .batch_execute("INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c) VALUES ('Lovelace', 'acme-1', 'C-1')")
        .await
        .unwrap();
    let child_change = last_change(&client).await;

    let first = db.connect().await;
    let second = db.connect().await;
    // one sidecar claims only the parent (a claim limited to its mapping)...
    let account_id: i64 = client
        .query_one(
            "SELECT id FROM sfsync.mapping WHERE object_name = 'Account'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let parent: Vec<Claimed> = first
        .query(
            "SELECT change_id, record_id, lease_token::text, action, \"values\"::text FROM sfsync._claim_changes(10, 60, $1)",
            &[&account_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Claimed { change_id: r.get(0), record_id: r.get(1), token: r.get(2), action: r.get(3), values: r.get(4) })
        .collect();
    assert_eq!(ids(&parent), HashSet::from([parent_change]));
    // ...and while it is in flight, no claim (another sidecar's, or its own next one) hands out the child
    assert!(
        claim(&second, 10, 60).await.is_empty(),
        "the child waits for its parent's change"
    );
    assert!(
        claim(&first, 10, 60).await.is_empty(),
        "also for the sidecar holding the parent"
    );
    complete(&first, &parent, "SUCCESS").await;
    let child = claim(&second, 10, 60).await;
    assert_eq!(
        ids(&child),
        HashSet::from([child_change]),
        "the parent's change finished: the child goes"
    );
}

/// Parent and child queued together come out of one claim (the sidecar orders them); a child whose
/// parent's change is itself held back behind an in-flight change of the same parent record waits too.
#[tokio::test]
async fn children_come_with_their_parents_or_wait_for_them() {
    let db = Cluster::shared().database().await;
    let client = account_and_contact_mappings(&db).await;
    client
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1');
             INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c) VALUES ('Child', 'A-1', 'C-1');",
        )
        .await
        .unwrap();
    let together = claim(&client, 10, 60).await;
    assert_eq!(
        together.len(),
        2,
        "the parent's insert and the child come out together: {together:?}"
    );
    complete(&client, &together, "SUCCESS").await;

    // an in-flight rename of the account holds back its next change, which gives it a new external id
    client
        .batch_execute("UPDATE salesforce.account SET name = 'Acme 2'")
        .await
        .unwrap();
    let rename = claim(&client, 10, 60).await;
    assert_eq!(rename.len(), 1);
    client
        .batch_execute(
            "UPDATE salesforce.account SET ext_id__c = 'A-2';
             INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c) VALUES ('Second', 'A-2', 'C-2');",
        )
        .await
        .unwrap();
    assert!(
        claim(&client, 10, 60).await.is_empty(),
        "the key's change waits behind the rename, and the child behind it"
    );
    complete(&client, &rename, "SUCCESS").await;
    let next = claim(&client, 10, 60).await;
    assert_eq!(
        next.len(),
        2,
        "the external id change and its child come out together: {next:?}"
    );
}

/// Children waiting for a parent never stop unrelated changes queued after them from going out.
#[tokio::test]
async fn waiting_children_do_not_hold_up_unrelated_changes() {
    let db = Cluster::shared().database().await;
    let client = account_and_contact_mappings(&db).await;
    client
        .batch_execute("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Parent', 'P-1')")
        .await
        .unwrap();
    let parent = claim(&client, 10, 60).await;
    assert_eq!(parent.len(), 1);
    client
        .batch_execute(
            "INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c)
                  SELECT 'child ' || g, 'P-1', 'C-' || g FROM generate_series(1, 450) g;
             INSERT INTO salesforce.account (name) VALUES ('Unrelated');",
        )
        .await
        .unwrap();
    let unrelated = last_change(&client).await;
    let claimed = claim(&client, 200, 60).await;
    assert_eq!(
        ids(&claimed),
        HashSet::from([unrelated]),
        "only the unrelated change goes out"
    );
    complete(&client, &parent, "SUCCESS").await;
    let children = claim(&client, 500, 60).await;
    assert_eq!(children.len(), 450, "the parent landed: every child goes");
}

/// A DELETE of a row whose INSERT was sent but came back to the queue (RETRY: the answer was lost,
/// the record may exist) waits behind the INSERT; only an INSERT never sent is cancelled with it.
#[tokio::test]
async fn a_delete_behind_a_returned_insert_is_queued_not_cancelled() {
    let db = Cluster::shared().database().await;
    let (client, _) = account_mapping(&db, "{}").await;
    client
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('Sent once'), ('Never sent')")
        .await
        .unwrap();
    let claimed = claim(&client, 1, 60).await;
    assert_eq!(claimed.len(), 1);
    let answer = complete(&client, &claimed, "RETRY").await;
    assert_eq!(answer["applied"], 1, "{answer}");
    client
        .batch_execute("DELETE FROM salesforce.account")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT record_id, action, state FROM sfsync.change ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let queued: Vec<(i64, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let sent_once = claimed[0].record_id;
    assert_eq!(
        queued,
        vec![
            (sent_once, "INSERT".to_string(), "NEW".to_string()),
            (sent_once, "DELETE".to_string(), "NEW".to_string())
        ],
        "the returned insert keeps its delete behind it; the never-sent pair is cancelled"
    );
}
