//! sObject Collections against REST API Developer Guide: sObject Collections: per-record results in order, allOrNone, upsert, delete, retrieve, limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;

fn rolled_back() -> Json {
    json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]})
}

async fn count(emulator: &Emulator, object: &str) -> u64 {
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    stats["records"][object]["live"].as_u64().expect("count")
}

#[tokio::test]
async fn create_mixed_types_in_request_order() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let response = api
        .post(
            "/composite/sobjects",
            json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "Name": "example.com", "BillingCity": "San Francisco"},
                {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Name": "with id"},
                {"Name": "no type"}
            ]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let results = response.json.as_array().expect("array");
    assert_eq!(results.len(), 5);
    assert!(results[0]["id"].as_str().expect("id").starts_with("001"));
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[0]["errors"], json!([]));
    assert!(results[1]["id"].as_str().expect("id").starts_with("003"));
    assert_eq!(
        results[2],
        json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]})
    );
    assert_eq!(
        results[3]["errors"][0]["statusCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    assert_eq!(results[4]["errors"][0]["statusCode"], "INVALID_TYPE");
    assert_eq!(count(&emulator, "Account").await, 1);
    assert_eq!(count(&emulator, "Contact").await, 1);
}

#[tokio::test]
async fn all_or_none_rolls_everything_back() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let existing = api.create("Account", json!({"Name": "Before"})).await;
    let response = api
        .post(
            "/composite/sobjects",
            json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Account"}},
                {"attributes": {"type": "Account"}, "Name": "C"}
            ]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json,
        json!([rolled_back(), {"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]}, rolled_back()])
    );
    assert_eq!(count(&emulator, "Account").await, 1);

    let update = api
        .patch(
            "/composite/sobjects",
            json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "id": existing, "Name": "Changed"},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Name": "Missing"}
            ]}),
        )
        .await;
    assert_eq!(
        update.json[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(update.json[0]["id"], existing.as_str());
    assert_eq!(update.json[1]["success"], false);
    assert_eq!(
        api.get(&format!("/sobjects/Account/{existing}")).await.json["Name"],
        "Before"
    );
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    assert_eq!(
        changes["events"].as_array().expect("events").len(),
        1,
        "rolled-back work never reaches the change log"
    );
}

#[tokio::test]
async fn update_upsert_delete_and_retrieve() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let a = api.create("Account", json!({"Name": "A"})).await;
    let b = api.create("Account", json!({"Name": "B"})).await;
    let update = api
        .patch(
            "/composite/sobjects",
            json!({"records": [
                {"attributes": {"type": "Account"}, "id": a, "Name": "A2"},
                {"attributes": {"type": "Account"}, "id": "bogus", "Name": "x"},
                {"attributes": {"type": "Account"}, "Name": "no id"},
                {"attributes": {"type": "Account"}, "id": b, "NumberOfEmployees": 5}
            ]}),
        )
        .await;
    assert_eq!(
        update.json[0],
        json!({"id": a, "success": true, "errors": []})
    );
    assert_eq!(update.json[1]["errors"][0]["statusCode"], "MALFORMED_ID");
    assert_eq!(
        update.json[2]["errors"][0]["statusCode"],
        "MISSING_ARGUMENT"
    );
    assert_eq!(update.json[3]["success"], true);

    let upsert = api
        .patch(
            "/composite/sobjects/Widget__c/Ext_Id__c",
            json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Widget__c"}, "Ext_Id__c": "C-1", "Name": "one", "Status__c": "Open"},
                {"attributes": {"type": "Widget__c"}, "Ext_Id__c": "C-2", "Name": "two", "Status__c": "Open"}
            ]}),
        )
        .await;
    assert_eq!(upsert.json[0]["created"], true);
    let again = api
        .patch(
            "/composite/sobjects/Widget__c/Ext_Id__c",
            json!({"records": [
                {"attributes": {"type": "Widget__c"}, "Ext_Id__c": "C-1", "Name": "one again"},
                {"attributes": {"type": "Widget__c"}, "Ext_Id__c": "C-3", "Name": "three", "Status__c": "Open"}
            ]}),
        )
        .await;
    assert_eq!(
        again.json[0],
        json!({"id": upsert.json[0]["id"], "success": true, "errors": [], "created": false})
    );
    assert_eq!(again.json[1]["created"], true);

    let retrieve = api
        .get(&format!(
            "/composite/sobjects/Account?ids={a},{b},001000000000009AAA&fields=Id,Name"
        ))
        .await;
    assert_eq!(retrieve.status, StatusCode::OK);
    assert_eq!(retrieve.json[0]["Name"], "A2");
    assert_eq!(retrieve.json[1]["Id"], b.as_str());
    assert!(retrieve.json[2].is_null());
    let posted = api
        .post(
            "/composite/sobjects/Account",
            json!({"ids": [b], "fields": ["Name", "NumberOfEmployees"]}),
        )
        .await;
    assert_eq!(posted.json[0]["NumberOfEmployees"], 5);

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/composite/sobjects?ids={a},{b}&allOrNone=false"),
            None,
        )
        .await;
    assert_eq!(
        deleted.json,
        json!([{"id": a, "success": true, "errors": []}, {"id": b, "success": true, "errors": []}])
    );
    let twice = api
        .call(
            Method::DELETE,
            &format!("/composite/sobjects?ids={a}"),
            None,
        )
        .await;
    assert_eq!(
        twice.json[0]["errors"][0]["statusCode"],
        "ENTITY_IS_DELETED"
    );
    assert_eq!(twice.json[0]["id"], a.as_str());
}

#[tokio::test]
async fn more_than_200_records_is_refused_and_one_call_is_one_transaction() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let records: Vec<Json> = (0..201)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("A{i}")}))
        .collect();
    let too_many = api
        .post("/composite/sobjects", json!({"records": records}))
        .await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_many.error_code(), "EXCEEDED_ID_LIMIT");
    let records: Vec<Json> = (0..200)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("A{i}")}))
        .collect();
    let created = api
        .post("/composite/sobjects", json!({"records": records}))
        .await;
    assert_eq!(created.json.as_array().expect("results").len(), 200);
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let events = changes["events"].as_array().expect("events");
    assert_eq!(events.len(), 200);
    assert!(events
        .iter()
        .all(|e| e["transactionKey"] == events[0]["transactionKey"]
            && e["commitTimestamp"] == events[0]["commitTimestamp"]));
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase"
    );
    assert!(
        seqs.windows(2).any(|w| w[1] - w[0] > 1),
        "sequence numbers are not contiguous"
    );
    assert_eq!(events[199]["sequenceNumber"], 200);
}
