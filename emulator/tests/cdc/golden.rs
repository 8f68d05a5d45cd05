//! Golden tests from the documented examples (Streaming API Developer Guide: CometD and Bayeux, Change Data Capture Developer Guide: change event message, Change Data Capture Developer Guide: ChangeEventHeader fields): handshake, subscribe and connect replies, and
//! change events of each kind.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::bayeux_client::{change_type, header, replay_id, Comet};
use crate::common::Emulator;
use crate::support::{call_as, create_as, field};

fn is_schema_id(text: &str) -> bool {
    text.len() == 22
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_uuid_shaped(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `2020-12-15T23:09:18.000Z`
fn is_cdc_datetime(text: &str) -> bool {
    text.len() == 24
        && text.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
        && text.as_bytes()[19] == b'.'
}

fn keys(value: &Json) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn handshake_subscribe_connect_and_update_event_match_the_documentation() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let account = create_as(&api, "golden", "Account", json!({"Name": "Golden"})).await;

    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    let handshake = comet.handshake().await;
    let client_id = handshake["clientId"]
        .as_str()
        .expect("clientId")
        .to_string();
    assert_eq!(client_id.len(), 26);
    assert_eq!(
        handshake.to_string(),
        json!({"ext":{"replay":true,"payload.format":true},"minimumVersion":"1.0","clientId":client_id,
               "supportedConnectionTypes":["long-polling"],"channel":"/meta/handshake","id":"1","version":"1.0",
               "successful":true,"reestablish":false})
        .to_string()
    );
    assert!(
        comet
            .cookies
            .iter()
            .any(|(name, _)| name == "BAYEUX_BROWSER"),
        "the handshake sets the session cookie"
    );

    let subscribe = comet
        .subscribe("/data/AccountChangeEvent", Some(json!(-1)))
        .await;
    assert_eq!(
        subscribe.to_string(),
        json!({"clientId":client_id,"channel":"/meta/subscribe","id":"2","subscription":"/data/AccountChangeEvent",
               "successful":true})
        .to_string()
    );

    let (events, first) = comet.connect().await;
    assert!(events.is_empty());
    assert_eq!(
        first.to_string(),
        json!({"clientId":client_id,"channel":"/meta/connect","id":"3","successful":true,
               "advice":{"interval":0,"timeout":110000,"reconnect":"retry"}})
        .to_string()
    );

    // A connect that is already waiting when the write commits.
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let response = call_as(
            &api,
            "golden",
            Method::PATCH,
            &format!("/sobjects/Account/{account}"),
            Some(json!({"Fax": "4155551212"})),
        )
        .await;
        assert_eq!(response.status, StatusCode::NO_CONTENT);
    };
    let ((events, reply), ()) = tokio::join!(comet.connect(), write);
    assert_eq!(reply["successful"], true);
    assert_eq!(
        reply["advice"],
        json!({"interval":0,"timeout":110000,"reconnect":"retry"})
    );
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(keys(event), ["channel", "data"]);
    assert_eq!(event["channel"], "/data/AccountChangeEvent");
    assert_eq!(keys(&event["data"]), ["event", "payload", "schema"]);
    assert!(is_schema_id(
        event["data"]["schema"].as_str().expect("schema")
    ));
    assert!(replay_id(event) > 0);
    let payload = &event["data"]["payload"];
    assert_eq!(
        keys(payload),
        ["ChangeEventHeader", "Fax", "LastModifiedDate"]
    );
    assert_eq!(payload["Fax"], "4155551212");
    let modified = payload["LastModifiedDate"].as_str().expect("datetime");
    assert!(is_cdc_datetime(modified), "{modified}");
    let rest_modified = field(&api, "Account", &account, "LastModifiedDate").await;
    assert_eq!(
        rest_modified.as_str().map(|t| t.replace("+0000", "Z")),
        Some(modified.to_string())
    );
    let header = header(event);
    assert_eq!(
        keys(header),
        [
            "changeOrigin",
            "changeType",
            "changedFields",
            "commitNumber",
            "commitTimestamp",
            "commitUser",
            "entityName",
            "recordIds",
            "sequenceNumber",
            "transactionKey"
        ]
    );
    assert_eq!(header["entityName"], "Account");
    assert_eq!(header["changeType"], "UPDATE");
    assert_eq!(header["changedFields"], json!(["Fax", "LastModifiedDate"]));
    assert_eq!(
        header["changeOrigin"],
        "com/salesforce/api/rest/62.0;client=golden"
    );
    assert_eq!(header["recordIds"], json!([account]));
    assert_eq!(header["sequenceNumber"], 1);
    assert!(is_uuid_shaped(
        header["transactionKey"].as_str().expect("key")
    ));
    assert!(header["commitNumber"].as_u64().is_some_and(|n| n > 0));
    let commit_user = field(&api, "Account", &account, "LastModifiedById").await;
    assert_eq!(header["commitUser"], commit_user);
    let modified_ms = chrono::DateTime::parse_from_rfc3339(modified)
        .expect("parses")
        .timestamp_millis();
    assert_eq!(header["commitTimestamp"].as_i64(), Some(modified_ms));
}

#[tokio::test]
async fn create_update_delete_undelete_payloads() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/ChangeEvents", json!(-1)).await;
    comet.connect().await;

    let account = create_as(
        &api,
        "app",
        "Account",
        json!({"Name": "Acme", "Phone": "555-0100", "BillingCity": "Paris", "BillingStreet": "1 Rue"}),
    )
    .await;
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    let created = &events[0]["data"]["payload"];
    assert_eq!(change_type(&events[0]), "CREATE");
    assert_eq!(header(&events[0])["changedFields"], json!([]));
    assert_eq!(created["Name"], "Acme");
    assert_eq!(created["Phone"], "555-0100");
    assert_eq!(
        created["BillingAddress"],
        json!({"Street": "1 Rue", "City": "Paris"})
    );
    for present in [
        "OwnerId",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
    ] {
        assert!(created.get(present).is_some(), "CREATE carries {present}");
    }
    for absent in ["Id", "IsDeleted", "SystemModstamp", "BillingCity", "Fax"] {
        assert!(created.get(absent).is_none(), "CREATE omits {absent}");
    }
    assert!(is_cdc_datetime(
        created["CreatedDate"].as_str().expect("date")
    ));
    let schema = events[0]["data"]["schema"].clone();

    let patched = call_as(
        &api,
        "app",
        Method::PATCH,
        &format!("/sobjects/Account/{account}"),
        Some(json!({"BillingCity": "Lyon", "Phone": null})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT);
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    let updated = &events[0]["data"]["payload"];
    assert_eq!(change_type(&events[0]), "UPDATE");
    assert_eq!(
        header(&events[0])["changedFields"],
        json!(["BillingAddress.City", "Phone", "LastModifiedDate"])
    );
    assert_eq!(updated["BillingAddress"], json!({"City": "Lyon"}));
    assert_eq!(updated["Phone"], Json::Null);
    assert!(
        updated.get("Name").is_none(),
        "UPDATE carries only changed fields"
    );
    assert_eq!(events[0]["data"]["schema"], schema, "schema id is stable");

    let contact = create_as(
        &api,
        "app",
        "Contact",
        json!({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account}),
    )
    .await;
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    assert_eq!(events[0]["channel"], "/data/ChangeEvents");
    assert_eq!(header(&events[0])["entityName"], "Contact");
    assert_eq!(
        events[0]["data"]["payload"]["Name"],
        json!({"FirstName": "Ada", "LastName": "Lovelace"})
    );
    assert_eq!(events[0]["data"]["payload"]["AccountId"], account);
    assert_ne!(events[0]["data"]["schema"], schema);
    assert_eq!(header(&events[0])["recordIds"], json!([contact]));

    let deleted = api.delete(&format!("/sobjects/Account/{account}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    assert_eq!(change_type(&events[0]), "DELETE");
    assert_eq!(header(&events[0])["changedFields"], json!([]));
    assert_eq!(keys(&events[0]["data"]["payload"]), ["ChangeEventHeader"]);
    assert_eq!(
        header(&events[0])["changeOrigin"],
        "com/salesforce/api/rest/62.0",
        "no Sforce-Call-Options: no client="
    );

    let undeleted = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [account]})),
        )
        .await;
    assert_eq!(undeleted.json[0]["success"], true, "{:?}", undeleted.json);
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    assert_eq!(change_type(&events[0]), "UNDELETE");
    assert_eq!(events[0]["data"]["payload"]["Name"], "Acme");
    assert_eq!(
        events[0]["data"]["payload"]["BillingAddress"],
        json!({"Street": "1 Rue", "City": "Lyon"})
    );
    assert!(header(&events[0])["changeOrigin"]
        .as_str()
        .is_some_and(|o| o.starts_with("com/salesforce/api/soap/")));
}

#[tokio::test]
async fn custom_object_channel_and_typed_values() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/Widget__ChangeEvent", json!(-1)).await;
    comet.connect().await;
    let widget = create_as(
        &api,
        "app",
        "Widget__c",
        json!({"Name": "W", "Ext_Id__c": "W-1", "Status__c": "Open", "Price__c": 12.5, "Quantity__c": 3,
               "Ship_Date__c": "2024-01-31", "Shipped_At__c": "2024-01-31T10:20:30Z", "Ship_Time__c": "13:30:00.000Z",
               "Tags__c": "b;a", "Active__c": true}),
    )
    .await;
    let events = comet.events(1, std::time::Duration::from_secs(30)).await;
    let event = &events[0];
    assert_eq!(event["channel"], "/data/Widget__ChangeEvent");
    assert_eq!(header(event)["entityName"], "Widget__c");
    assert_eq!(header(event)["recordIds"], json!([widget]));
    let payload = &event["data"]["payload"];
    assert_eq!(payload["Price__c"].to_string(), "12.50");
    assert_eq!(payload["Quantity__c"], 3);
    assert_eq!(payload["Ship_Date__c"], "2024-01-31");
    assert_eq!(payload["Shipped_At__c"], "2024-01-31T10:20:30.000Z");
    assert_eq!(payload["Ship_Time__c"], "13:30:00.000Z");
    assert_eq!(
        payload["Tags__c"],
        field(&api, "Widget__c", &widget, "Tags__c").await
    );
    assert_eq!(payload["Active__c"], true);
    assert_eq!(
        payload["Color__c"], "Green",
        "defaults are part of the created record"
    );
}

#[tokio::test]
async fn an_idle_connect_returns_after_the_long_poll_timeout() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "1"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    let (_, first) = comet.connect().await;
    assert_eq!(first["advice"]["timeout"], 1000);
    let started = std::time::Instant::now();
    let (events, reply) = comet.connect().await;
    assert!(events.is_empty());
    assert_eq!(reply["successful"], true);
    assert_eq!(
        reply["advice"],
        json!({"interval":0,"timeout":1000,"reconnect":"retry"})
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the connect waited for events"
    );
}
