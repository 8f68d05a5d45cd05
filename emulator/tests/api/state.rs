//! `--state`: the whole org survives a SIGTERM and a restart.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn state_file_round_trip_across_a_restart() {
    let dir = TempDir::new("state");
    let state = dir.0.join("org.json");
    let state_arg = state.to_str().expect("path").to_string();
    let emulator = Emulator::start(&["--state", &state_arg]);
    let api = emulator.login().await;
    let kept = api.create("Widget__c", json!({"Name": "kept", "Ext_Id__c": "K-1", "Status__c": "Open", "Price__c": 12345678901234.56})).await;
    let binned = api.create("Account", json!({"Name": "binned"})).await;
    api.delete(&format!("/sobjects/Account/{binned}")).await;
    emulator
        .admin(
            Method::POST,
            "/__emulator/objects/Widget__c/fields",
            Some(json!({"name": "Added__c", "type": "string", "length": 5})),
        )
        .await;
    api.patch(
        &format!("/sobjects/Widget__c/{kept}"),
        json!({"Added__c": "hello"}),
    )
    .await;
    let before = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let last_seq = before["lastSeq"].as_u64().expect("seq");
    let status = emulator.terminate();
    assert!(status.success(), "SIGTERM exits 0");
    assert!(state.exists());

    let emulator = Emulator::start(&["--state", &state_arg]);
    let api = emulator.login().await;
    let widget = api.get(&format!("/sobjects/Widget__c/{kept}")).await.json;
    assert_eq!(widget["Added__c"], "hello");
    assert_eq!(widget["Price__c"].to_string(), "12345678901234.56");
    assert_eq!(
        api.get(&format!("/sobjects/Account/{binned}"))
            .await
            .error_code(),
        "ENTITY_IS_DELETED"
    );
    let restored = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [binned]})),
        )
        .await;
    assert_eq!(
        restored.json[0]["success"], true,
        "the recycle bin survived"
    );
    let after = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    assert_eq!(
        after["events"].as_array().expect("events").len(),
        before["events"].as_array().expect("events").len() + 1
    );
    assert!(
        after["lastSeq"].as_u64().expect("seq") > last_seq,
        "sequence numbers continue"
    );
    let duplicate = api
        .post(
            "/sobjects/Widget__c",
            json!({"Name": "d", "Ext_Id__c": "k-1", "Status__c": "Open"}),
        )
        .await;
    assert_eq!(
        duplicate.error_code(),
        "DUPLICATE_VALUE",
        "indexes are rebuilt"
    );
    let next = api.create("Widget__c", widget_body()).await;
    assert_ne!(next, kept);
    assert_eq!(
        api.get(&format!("/sobjects/Widget__c/{next}")).await.status,
        StatusCode::OK
    );
}

fn widget_body() -> serde_json::Value {
    widget("K-2")
}
