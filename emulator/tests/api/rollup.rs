//! Master-detail relationships and roll-up summary fields end to end: `Invoice__c` is the master of
//! `Invoice_Line__c`; its roll-ups follow lines added, changed, moved, deleted and undeleted without moving the
//! master's SystemModstamp or publishing a change for it; lines are deleted (and undeleted) with their invoice;
//! writes to roll-up fields and bad definitions are refused.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;

async fn define(emulator: &Emulator, spec: Json) -> Resp {
    emulator
        .admin(Method::POST, "/__emulator/objects", Some(spec))
        .await
}

async fn add_field(emulator: &Emulator, object: &str, spec: Json) -> Resp {
    emulator
        .admin(
            Method::POST,
            &format!("/__emulator/objects/{object}/fields"),
            Some(spec),
        )
        .await
}

/// Invoice__c, Invoice_Line__c (master-detail Invoice__c) and the roll-ups Total__c (SUM of Amount__c),
/// Lines__c (COUNT) and Big_Lines__c (COUNT of lines with Amount__c >= 100).
async fn invoices(emulator: &Emulator) {
    let response = define(
        emulator,
        json!({"name": "Invoice__c", "fields": [{"name": "Note__c", "type": "string"}]}),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
    let response = define(
        emulator,
        json!({"name": "Invoice_Line__c", "fields": [
            {"name": "Invoice__c", "type": "reference", "referenceTo": ["Invoice__c"],
             "relationshipOrder": 0, "cascadeDelete": true},
            {"name": "Amount__c", "type": "currency", "precision": 16, "scale": 2}
        ]}),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
    for spec in [
        json!({"name": "Total__c", "type": "currency", "precision": 18, "scale": 2,
               "rollup": {"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                          "operation": "SUM", "field": "Amount__c"}}),
        json!({"name": "Lines__c", "type": "double", "precision": 18, "scale": 0,
               "rollup": {"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                          "operation": "COUNT"}}),
        json!({"name": "Big_Lines__c", "type": "double", "precision": 18, "scale": 0,
               "rollup": {"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                          "operation": "COUNT", "filter": "Amount__c >= 100"}}),
    ] {
        let response = add_field(emulator, "Invoice__c", spec).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
    }
}

/// How many change events name `id`.
async fn events_for(emulator: &Emulator, id: &str) -> usize {
    emulator.events_for(id).await.1.len()
}

async fn query(api: &Api, soql: &str) -> Json {
    api.query_json(soql, false).await
}

/// (Total__c, Lines__c, Big_Lines__c, SystemModstamp, LastModifiedDate) of an invoice.
async fn totals(api: &Api, invoice: &str) -> (f64, f64, f64, Json, Json) {
    let read = api.get(&format!("/sobjects/Invoice__c/{invoice}")).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.json);
    let j = read.json;
    (
        j["Total__c"].as_f64().expect("Total__c"),
        j["Lines__c"].as_f64().expect("Lines__c"),
        j["Big_Lines__c"].as_f64().expect("Big_Lines__c"),
        j["SystemModstamp"].clone(),
        j["LastModifiedDate"].clone(),
    )
}

async fn undelete(emulator: &Emulator, id: &str) {
    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [id]})),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    assert_eq!(response.json[0]["success"], true, "{}", response.json);
}

#[tokio::test]
async fn rollups_follow_their_details_without_touching_the_master() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    invoices(&emulator).await;

    let describe = api.get("/sobjects/Invoice__c/describe").await.json;
    let total = describe["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Total__c")
        .expect("described")
        .clone();
    assert_eq!(total["calculated"], true);
    assert_eq!(total["type"], "currency");
    assert_eq!(
        (total["createable"].clone(), total["updateable"].clone()),
        (json!(false), json!(false))
    );
    assert!(total.get("rollup").is_none(), "{total}");
    let line_describe = api.get("/sobjects/Invoice_Line__c/describe").await.json;
    let master = line_describe["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Invoice__c")
        .expect("described")
        .clone();
    assert_eq!(master["relationshipOrder"], 0);
    assert_eq!(master["cascadeDelete"], true);
    assert_eq!(master["nillable"], false);

    let a = api.create("Invoice__c", json!({"Name": "A"})).await;
    let b = api.create("Invoice__c", json!({"Name": "B"})).await;
    let (t, n, big, stamp_a, modified_a) = totals(&api, &a).await;
    assert_eq!((t, n, big), (0.0, 0.0, 0.0));
    let events_a = events_for(&emulator, &a).await;
    assert_eq!(events_a, 1, "the create event");
    let stamp_b = totals(&api, &b).await.3;

    tokio::time::sleep(Duration::from_millis(5)).await;
    let l1 = api
        .create(
            "Invoice_Line__c",
            json!({"Name": "l1", "Invoice__c": a, "Amount__c": 40.5}),
        )
        .await;
    let l2 = api
        .create(
            "Invoice_Line__c",
            json!({"Name": "l2", "Invoice__c": a, "Amount__c": 150}),
        )
        .await;
    let (t, n, big, stamp, modified) = totals(&api, &a).await;
    assert_eq!((t, n, big), (190.5, 2.0, 1.0));
    assert_eq!((stamp, modified), (stamp_a.clone(), modified_a.clone()));

    // Change a line.
    let changed = api
        .patch(
            &format!("/sobjects/Invoice_Line__c/{l1}"),
            json!({"Amount__c": 100}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.json);
    let (t, n, big, _, _) = totals(&api, &a).await;
    assert_eq!((t, n, big), (250.0, 2.0, 2.0));

    // Move a line to the other invoice: both follow.
    let moved = api
        .patch(
            &format!("/sobjects/Invoice_Line__c/{l2}"),
            json!({"Invoice__c": b}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::NO_CONTENT, "{}", moved.json);
    let (t, n, big, _, _) = totals(&api, &a).await;
    assert_eq!((t, n, big), (100.0, 1.0, 1.0));
    let (t, n, big, stamp, _) = totals(&api, &b).await;
    assert_eq!((t, n, big), (150.0, 1.0, 1.0));
    assert_eq!(stamp, stamp_b);

    // SOQL SELECT and WHERE read the stored values.
    let soql = query(
        &api,
        "SELECT Name, Total__c FROM Invoice__c WHERE Lines__c = 1 AND Total__c > 120",
    )
    .await;
    assert_eq!(soql["totalSize"], 1, "{soql}");
    assert_eq!(soql["records"][0]["Name"], "B");
    assert_eq!(soql["records"][0]["Total__c"].as_f64(), Some(150.0));

    // Delete and undelete a line.
    let deleted = api.delete(&format!("/sobjects/Invoice_Line__c/{l1}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let (t, n, big, _, _) = totals(&api, &a).await;
    assert_eq!((t, n, big), (0.0, 0.0, 0.0));
    undelete(&emulator, &l1).await;
    let (t, n, big, stamp, modified) = totals(&api, &a).await;
    assert_eq!((t, n, big), (100.0, 1.0, 1.0));
    assert_eq!((stamp, modified), (stamp_a, modified_a));
    assert_eq!(
        events_for(&emulator, &a).await,
        events_a,
        "no change event for the master"
    );
    assert_eq!(events_for(&emulator, &b).await, 1);
}

#[tokio::test]
async fn details_need_their_master_and_go_with_it() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    invoices(&emulator).await;
    let missing = api
        .post(
            "/sobjects/Invoice_Line__c",
            json!({"Name": "orphan", "Amount__c": 1}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.json);
    assert_eq!(missing.error_code(), "REQUIRED_FIELD_MISSING");
    assert_eq!(missing.json[0]["fields"], json!(["Invoice__c"]));

    let a = api.create("Invoice__c", json!({"Name": "A"})).await;
    let keep = api.create("Invoice__c", json!({"Name": "Keep"})).await;
    let l1 = api
        .create(
            "Invoice_Line__c",
            json!({"Name": "l1", "Invoice__c": a, "Amount__c": 1}),
        )
        .await;
    let l2 = api
        .create(
            "Invoice_Line__c",
            json!({"Name": "l2", "Invoice__c": a, "Amount__c": 2}),
        )
        .await;
    let other = api
        .create(
            "Invoice_Line__c",
            json!({"Name": "o", "Invoice__c": keep, "Amount__c": 5}),
        )
        .await;
    let cleared = api
        .patch(
            &format!("/sobjects/Invoice_Line__c/{l1}"),
            json!({"Invoice__c": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::BAD_REQUEST, "{}", cleared.json);
    assert_eq!(cleared.error_code(), "REQUIRED_FIELD_MISSING");

    let deleted = api.delete(&format!("/sobjects/Invoice__c/{a}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for line in [&l1, &l2] {
        let read = api.get(&format!("/sobjects/Invoice_Line__c/{line}")).await;
        assert_eq!(read.status, StatusCode::NOT_FOUND, "{line}");
    }
    let all = query(&api, "SELECT Id FROM Invoice_Line__c").await;
    assert_eq!(all["totalSize"], 1, "{all}");
    assert_eq!(all["records"][0]["Id"], other.as_str());
    // One transaction: the master's and the details' delete events share a transaction key.
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let deletes: Vec<&Json> = changes["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["changeType"] == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 3, "{changes}");
    assert!(
        deletes
            .iter()
            .all(|e| e["transactionKey"] == deletes[0]["transactionKey"]),
        "{changes}"
    );

    // Undeleting the master brings back the details deleted with it.
    undelete(&emulator, &a).await;
    let back = query(
        &api,
        &format!("SELECT Id FROM Invoice_Line__c WHERE Invoice__c = '{a}'"),
    )
    .await;
    assert_eq!(back["totalSize"], 2, "{back}");
    let (t, n, _, _, _) = totals(&api, &a).await;
    assert_eq!((t, n), (3.0, 2.0));
}

#[tokio::test]
async fn writes_to_rollups_and_bad_definitions_are_refused() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    invoices(&emulator).await;
    let created = api
        .post("/sobjects/Invoice__c", json!({"Name": "A", "Total__c": 5}))
        .await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST, "{}", created.json);
    assert_eq!(created.error_code(), "INVALID_FIELD_FOR_INSERT_UPDATE");
    let a = api.create("Invoice__c", json!({"Name": "A"})).await;
    let updated = api
        .patch(&format!("/sobjects/Invoice__c/{a}"), json!({"Lines__c": 3}))
        .await;
    assert_eq!(updated.status, StatusCode::BAD_REQUEST, "{}", updated.json);
    assert_eq!(updated.error_code(), "INVALID_FIELD_FOR_INSERT_UPDATE");

    // A lookup that is not master-detail, for the relationship check.
    let response = add_field(
        &emulator,
        "Invoice_Line__c",
        json!({"name": "Other__c", "type": "reference", "referenceTo": ["Invoice__c"]}),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
    let fields_before = api.get("/sobjects/Invoice__c/describe").await.json["fields"]
        .as_array()
        .expect("fields")
        .len();
    let rollup = |changes: Json| {
        let mut spec = json!({"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                              "operation": "SUM", "field": "Amount__c"});
        for (key, value) in changes.as_object().expect("object") {
            spec[key] = value.clone();
        }
        json!({"name": "Bad__c", "type": "currency", "rollup": spec})
    };
    for (spec, expected) in [
        (
            rollup(json!({"childObject": "Nope__c"})),
            "unknown child object 'Nope__c'",
        ),
        (
            rollup(json!({"relationshipField": "Other__c"})),
            "Invoice_Line__c.Other__c is not a master-detail field pointing at Invoice__c",
        ),
        (
            rollup(json!({"field": "Nope__c"})),
            "unknown field 'Nope__c' on Invoice_Line__c",
        ),
        (
            rollup(json!({"field": "Name"})),
            "cannot be summarized by Sum",
        ),
        (
            rollup(json!({"filter": "Amount__c >"})),
            "roll-up summary field 'Bad__c': filter:",
        ),
    ] {
        let response = add_field(&emulator, "Invoice__c", spec.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{spec}: {}",
            response.json
        );
        assert!(
            response.json.to_string().contains(expected),
            "{spec}: {}",
            response.json
        );
    }
    let fields_after = api.get("/sobjects/Invoice__c/describe").await.json["fields"]
        .as_array()
        .expect("fields")
        .len();
    assert_eq!(fields_after, fields_before);
    // An object defined with a roll-up on an unknown child is refused too.
    let response = define(
        &emulator,
        json!({"name": "Order__c", "fields": [{"name": "Total__c", "type": "double",
               "rollup": {"childObject": "Order_Line__c", "relationshipField": "Order__c", "operation": "COUNT"}}]}),
    )
    .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.json
    );
    assert_eq!(
        api.get("/sobjects/Order__c/describe").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn tooling(api: &Api, soql: &str) -> Resp {
    let encoded = serde_urlencoded::to_string([("q", soql)]).expect("encodes");
    api.get(&format!("/tooling/query?{encoded}")).await
}

#[tokio::test]
async fn the_tooling_api_serves_rollup_definitions() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    invoices(&emulator).await;
    let response = tooling(
        &api,
        "SELECT Id, DeveloperName, TableEnumOrId, Metadata FROM CustomField \
         WHERE TableEnumOrId = 'Invoice__c' AND DeveloperName = 'Total'",
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let body = response.json;
    assert_eq!(body["size"], 1, "{body}");
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["done"], true);
    assert_eq!(body["entityTypeName"], "CustomField");
    let record = &body["records"][0];
    assert_eq!(record["attributes"]["type"], "CustomField");
    let id = record["Id"].as_str().expect("id");
    assert!(id.starts_with("00N") && id.len() == 18, "{id}");
    assert_eq!(record["DeveloperName"], "Total");
    assert_eq!(record["TableEnumOrId"], "Invoice__c");
    let metadata = &record["Metadata"];
    assert_eq!(metadata["type"], "Summary");
    assert_eq!(metadata["label"], "Total");
    assert_eq!(metadata["summaryForeignKey"], "Invoice_Line__c.Invoice__c");
    assert_eq!(metadata["summarizedField"], "Invoice_Line__c.Amount__c");
    assert_eq!(metadata["summaryOperation"], "sum");
    assert_eq!(metadata["summaryFilterItems"], json!([]));

    let filtered = tooling(
        &api,
        "SELECT Metadata FROM CustomField WHERE DeveloperName = 'Big_Lines'",
    )
    .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.json);
    let metadata = &filtered.json["records"][0]["Metadata"];
    assert_eq!(metadata["summaryOperation"], "count");
    assert_eq!(metadata["summarizedField"], Json::Null);
    assert_eq!(
        metadata["summaryFilterItems"],
        json!([{"field": "Invoice_Line__c.Amount__c", "operation": "greaterOrEqual", "value": "100"}])
    );

    // Without Metadata many rows may come back; with it, more than one row is refused.
    let listed = tooling(
        &api,
        "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Invoice__c'",
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert_eq!(listed.json["totalSize"], 4, "{}", listed.json);
    let refused = tooling(
        &api,
        "SELECT Id, Metadata FROM CustomField WHERE TableEnumOrId = 'Invoice__c'",
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.json);
    assert_eq!(refused.error_code(), "MALFORMED_QUERY");
    assert!(
        refused.json[0]["message"]
            .as_str()
            .expect("message")
            .contains("no more than one row"),
        "{}",
        refused.json
    );
}
