//! Schema changes, end to end: a field added in Salesforce and then mapped with `alter_mapping` is
//! back-filled for every row; a mapped field removed in Salesforce is named in `state_detail` while
//! the sync goes on without it; `sfsync-sidecar status` lists fields Salesforce gained.

use reqwest::Method;
use serde_json::json;
use sfsync_tests::Sidecar;
use sfsync_tests::World;

#[tokio::test]
async fn a_field_added_in_salesforce_and_mapped_is_back_filled() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "A"}, {"Name": "B"}, {"Name": "C"}]),
        )
        .await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 3).await;

    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Score__c", "type": "int", "digits": 6})),
        )
        .await;
    world
        .update(
            "Account",
            json!([{"Id": ids[0], "Score__c": 10}, {"Id": ids[1], "Score__c": 20}]),
        )
        .await;
    world
        .sql
        .execute(
            "SELECT sfsync.alter_mapping('Account', '{\"add_fields\": [\"Score__c\"]}')",
            &[],
        )
        .await
        .expect("alter_mapping");
    world
        .wait_count("salesforce.account", "score__c = 10", 1)
        .await;
    world
        .wait_count("salesforce.account", "score__c = 20", 1)
        .await;
    world
        .wait_text(
            "SELECT cardinality(backfill_fields)::text FROM sfsync.mapping",
            Some("0"),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    let (_, detail) = world.state("Account").await;
    assert_eq!(detail, None);
    // and it keeps syncing
    world
        .update("Account", json!([{"Id": ids[2], "Score__c": 30}]))
        .await;
    world
        .wait_count("salesforce.account", "score__c = 30", 1)
        .await;
}

#[tokio::test]
async fn a_mapped_field_removed_in_salesforce_does_not_stop_the_sync() {
    let world = World::reader().start().await;
    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Legacy__c", "type": "string", "length": 20})),
        )
        .await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "A", "Legacy__c": "old"}, {"Name": "B"}]),
        )
        .await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name", "Legacy__c"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world
        .wait_count("salesforce.account", "legacy__c = 'old'", 1)
        .await;

    world
        .emulator
        .admin(Method::DELETE, "objects/Account/fields/Legacy__c", None)
        .await;
    world
        .update("Account", json!([{"Id": ids[1], "Name": "B renamed"}]))
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[1]
            ),
            Some("B renamed"),
        )
        .await;
    let (state, detail) = world.state("Account").await;
    assert_eq!(state, "SYNCED");
    let detail = detail.expect("a detail naming the field");
    assert!(
        detail.contains("Legacy__c no longer exists in Salesforce Account"),
        "{detail}"
    );
    let created = world.create("Account", json!([{"Name": "C"}])).await;
    world
        .wait_count("salesforce.account", &format!("sfid = '{}'", created[0]), 1)
        .await;
}

#[tokio::test]
async fn status_lists_fields_salesforce_gained() {
    let world = World::reader().start().await;
    world.create("Account", json!([{"Name": "A"}])).await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 5}),
        )
        .await;
    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Brand_New__c", "type": "boolean"})),
        )
        .await;
    let output = Sidecar::command(&world.env, "status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "status failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("salesforce.account (Account, read_only) SYNCED: 1 rows"),
        "{stdout}"
    );
    assert!(stdout.contains("Brand_New__c"), "{stdout}");
}
