//! Parents before children across commits: the `make demo` case. An Account gets its external id in
//! one commit and a Contact referring to it by that id is inserted in the next, while the Account's
//! change is still on its way to Salesforce. The Contact must wait for it, not be refused.

use reqwest::Method;
use serde_json::json;
use sfsync_tests::eventually;
use sfsync_tests::{World, WAIT};

#[tokio::test]
async fn a_child_committed_after_its_parent_gets_an_external_id_waits_for_that_change() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('Acme')")
        .await
        .unwrap();
    world.drained("the account to reach Salesforce").await;
    let account_sfid: String = world
        .sql
        .query_one("SELECT sfid FROM salesforce.account", &[])
        .await
        .unwrap()
        .get(0);

    // The update that gives the account its external id is slow to land: the first write call
    // from now on waits 1.5 s in Salesforce before it is applied.
    world
        .emulator
        .admin(
            Method::POST,
            "faults",
            Some(json!({"path": "/services/data/", "method": "PATCH", "latencyMs": 1500, "count": 1})),
        )
        .await;
    world
        .sql
        .batch_execute("UPDATE salesforce.account SET ext_id__c = 'ACME-1'")
        .await
        .unwrap();
    eventually(WAIT, "the account's update to be in flight", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.change WHERE state = 'PENDING'")
            .await
            == 1
    })
    .await;
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.contact (firstname, lastname, email, account__ext_id__c, ext_id__c)
             VALUES ('Ada', 'Lovelace', 'ada@example.com', 'ACME-1', 'DEMO-ADA')",
        )
        .await
        .unwrap();
    world.drained("the contact to reach Salesforce").await;

    let row = world
        .sql
        .query_one(
            "SELECT sfid, _hc_lastop, _hc_err FROM salesforce.contact WHERE ext_id__c = 'DEMO-ADA'",
            &[],
        )
        .await
        .unwrap();
    let sfid: Option<String> = row.get(0);
    let lastop: Option<String> = row.get(1);
    let err: Option<String> = row.get(2);
    assert!(sfid.is_some(), "the contact got its sfid");
    assert_eq!(lastop.as_deref(), Some("INSERTED"), "error: {err:?}");
    // sent once, after its parent: never refused on the way
    let history = world
        .sql
        .query(
            "SELECT a.state, a.attempts, a.sf_result FROM sfsync.change_archive a
               JOIN sfsync.mapping m ON m.id = a.mapping_id
              WHERE m.object_name = 'Contact' ORDER BY a.id",
            &[],
        )
        .await
        .unwrap();
    let history: Vec<(String, i32, Option<String>)> = history
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        history,
        [("SUCCESS".to_string(), 1, None)],
        "the contact went out once, after its parent's change"
    );
    let contact = world
        .org_records("Contact", "AccountId, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(
        contact["DEMO-ADA"]["AccountId"].as_str(),
        Some(account_sfid.as_str()),
        "the contact points at the account"
    );
}

/// The fallback for a parent that overtook its child the other way round (the child committed first):
/// Salesforce refuses the child, the sidecar (an `sfsync_agent` member, which may not read mapped
/// tables) asks the extension whether the parent is on its way, and the child is tried again and lands.
#[tokio::test]
async fn a_child_refused_while_its_parent_is_on_its_way_is_tried_again() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;
    world
        .sql
        .batch_execute("SELECT sfsync.pause('Account')")
        .await
        .unwrap();
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c) VALUES ('Early', 'LATE-1', 'C-EARLY');
             INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Late parent', 'LATE-1');",
        )
        .await
        .unwrap();
    eventually(WAIT, "Salesforce to refuse the contact once", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.change c JOIN sfsync.mapping m ON m.id = c.mapping_id WHERE m.object_name = 'Contact' AND c.sf_result = 'INVALID_FIELD'")
            .await
            == 1
    })
    .await;
    world
        .sql
        .batch_execute("SELECT sfsync.resume('Account')")
        .await
        .unwrap();
    world.drained("both to land").await;
    let failed = world
        .scalar("SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'")
        .await;
    assert_eq!(failed, 0, "nothing failed for good");
    let lastop: String = world
        .sql
        .query_one("SELECT _hc_lastop FROM salesforce.contact", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lastop, "INSERTED");
}
