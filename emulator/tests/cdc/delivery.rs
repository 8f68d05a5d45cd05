//! One session receives the changes of every write path (REST, sObject Collections, composite, Bulk API 2.0 ingest,
//! the admin writer, seeding with change events) in commit order, grouped as Salesforce groups them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::bayeux_client::{change_type, header, record_ids, replay_id, Comet};
use crate::common::Emulator;
use crate::support::{bulk_ingest, call_as, create_accounts, create_as};

fn summary(event: &Json) -> (String, String, usize, String) {
    let header = header(event);
    (
        header["entityName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        change_type(event).to_string(),
        record_ids(event).len(),
        header["changeOrigin"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn one_session_sees_every_write_path_in_commit_order() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/ChangeEvents", json!(-1)).await;
    comet.connect().await;

    let solo = create_as(&api, "app-rest", "Account", json!({"Name": "Solo"})).await;
    let names: Vec<String> = (1..=3).map(|i| format!("Batch {i}")).collect();
    let batch = create_accounts(&api, "app-coll", &names).await;
    let update: Vec<Json> = batch
        .iter()
        .map(|id| json!({"attributes": {"type": "Account"}, "id": id, "Phone": "555"}))
        .collect();
    let updated = call_as(
        &api,
        "app-coll",
        Method::PATCH,
        "/composite/sobjects",
        Some(json!({"allOrNone": true, "records": update})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.json);
    let composite = call_as(
        &api,
        "app-composite",
        Method::POST,
        "/composite",
        Some(json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "parent",
             "body": {"Name": "Composite parent"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "child",
             "body": {"LastName": "Composite child", "AccountId": "@{parent.id}"}}
        ]})),
    )
    .await;
    assert_eq!(composite.status, StatusCode::OK, "{:?}", composite.json);
    let parent = composite.json["compositeResponse"][0]["body"]["id"]
        .as_str()
        .expect("parent id")
        .to_string();
    let info = bulk_ingest(
        &api,
        "app-bulk",
        "Widget__c",
        "insert",
        "Name,Ext_Id__c,Status__c\nOne,B-1,Open\nTwo,B-2,Open\n",
    )
    .await;
    assert_eq!(info["numberRecordsProcessed"], 2);
    let admin_write = emulator
        .admin(
            Method::POST,
            "/__emulator/records",
            Some(json!({"object": "Account", "records": [{"Id": solo, "Phone": "999"}], "client": "other-app"})),
        )
        .await;
    assert_eq!(admin_write.status, StatusCode::OK, "{:?}", admin_write.json);
    let deleted = call_as(
        &api,
        "app-coll",
        Method::DELETE,
        &format!("/composite/sobjects?ids={}&allOrNone=true", batch.join(",")),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.json);
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Contact", "count": 2, "changeEvents": true})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{:?}", seeded.json);

    let events = comet.events(13, Duration::from_secs(60)).await;
    let summaries: Vec<(String, String, usize, String)> = events.iter().map(summary).collect();
    let rest = "com/salesforce/api/rest/62.0;client=app-rest".to_string();
    let coll = "com/salesforce/api/rest/62.0;client=app-coll".to_string();
    let bulk = "com/salesforce/api/bulkapi/62.0;client=app-bulk".to_string();
    let composite = "com/salesforce/api/rest/62.0;client=app-composite".to_string();
    let expected = vec![
        ("Account".into(), "CREATE".into(), 1, rest),
        ("Account".into(), "CREATE".into(), 1, coll.clone()),
        ("Account".into(), "CREATE".into(), 1, coll.clone()),
        ("Account".into(), "CREATE".into(), 1, coll.clone()),
        ("Account".into(), "UPDATE".into(), 3, coll.clone()),
        ("Account".into(), "CREATE".into(), 1, composite.clone()),
        ("Contact".into(), "CREATE".into(), 1, composite),
        ("Widget__c".into(), "CREATE".into(), 1, bulk.clone()),
        ("Widget__c".into(), "CREATE".into(), 1, bulk),
        (
            "Account".into(),
            "UPDATE".into(),
            1,
            "com/salesforce/api/rest/64.0;client=other-app".into(),
        ),
        ("Account".into(), "DELETE".into(), 3, coll),
        ("Contact".into(), "CREATE".into(), 1, String::new()),
        ("Contact".into(), "CREATE".into(), 1, String::new()),
    ];
    assert_eq!(summaries[..13], expected[..], "{events:#?}");
    assert_eq!(events.len(), 13, "{events:#?}");

    let replay_ids: Vec<u64> = events.iter().map(replay_id).collect();
    assert!(
        replay_ids.windows(2).all(|w| w[0] < w[1]),
        "replay ids increase: {replay_ids:?}"
    );
    let stamps: Vec<i64> = events
        .iter()
        .map(|e| header(e)["commitTimestamp"].as_i64().expect("stamp"))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(record_ids(&events[4]), batch, "one grouped UPDATE");
    assert_eq!(events[4]["data"]["payload"]["Phone"], "555");
    assert_eq!(record_ids(&events[10]), batch, "one grouped DELETE");
    let other_user = header(&events[9])["commitUser"].clone();
    assert_ne!(other_user, header(&events[0])["commitUser"]);
    // Same transaction, same key; different transactions, different keys.
    assert_eq!(
        header(&events[1])["transactionKey"],
        header(&events[3])["transactionKey"]
    );
    assert_eq!(header(&events[3])["sequenceNumber"], 3);
    assert_ne!(
        header(&events[0])["transactionKey"],
        header(&events[1])["transactionKey"]
    );
    // A composite request is one transaction: its changes share a key, in subrequest order.
    assert_eq!(record_ids(&events[5]), std::slice::from_ref(&parent));
    assert_eq!(events[6]["data"]["payload"]["AccountId"], json!(parent));
    assert_eq!(
        header(&events[5])["transactionKey"],
        header(&events[6])["transactionKey"]
    );
    assert_eq!(header(&events[6])["sequenceNumber"], 2);
}

#[tokio::test]
async fn subscriptions_on_several_channels_share_one_connect_in_commit_order() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    let contact_channel = comet
        .subscribe("/data/ContactChangeEvent", Some(json!("-1")))
        .await;
    assert_eq!(contact_channel["successful"], true, "{contact_channel}");
    comet.connect().await;
    let account = create_as(&api, "app", "Account", json!({"Name": "A"})).await;
    let contact = create_as(&api, "app", "Contact", json!({"LastName": "C"})).await;
    create_as(
        &api,
        "app",
        "Widget__c",
        json!({"Name": "W", "Status__c": "Open"}),
    )
    .await;
    let account_again = api
        .patch(
            &format!("/sobjects/Account/{account}"),
            json!({"Phone": "1"}),
        )
        .await;
    assert_eq!(account_again.status, StatusCode::NO_CONTENT);
    let events = comet.events(3, Duration::from_secs(30)).await;
    let seen: Vec<(String, Vec<String>)> = events
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap_or_default().to_string(),
                record_ids(e),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "/data/AccountChangeEvent".to_string(),
                vec![account.clone()]
            ),
            ("/data/ContactChangeEvent".to_string(), vec![contact]),
            ("/data/AccountChangeEvent".to_string(), vec![account]),
        ]
    );

    let unsubscribed = comet
        .send(
            json!([{"channel": "/meta/unsubscribe", "clientId": comet.client_id, "id": "u1",
                      "subscription": "/data/ContactChangeEvent"}]),
        )
        .await;
    assert_eq!(
        unsubscribed.1[0]["successful"], true,
        "{:?}",
        unsubscribed.1
    );
    create_as(&api, "app", "Contact", json!({"LastName": "Unseen"})).await;
    let last = create_as(&api, "app", "Account", json!({"Name": "Seen"})).await;
    let events = comet.events(1, Duration::from_secs(30)).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(record_ids(&events[0]), [last]);
}
