//! Golden tests: the examples Salesforce documents for SOQL queries, the replication API and composite requests,
//! reproduced against the emulator (ids and dates differ; keys, order, shapes and texts must not).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Emulator};
use crate::support::{call, get_absolute};

fn keys(value: &Json) -> Vec<&str> {
    value
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn is_locator_url(url: &str, version: &str, offset: usize) -> bool {
    let Some(rest) = url.strip_prefix(&format!("/services/data/v{version}/query/")) else {
        return false;
    };
    let Some((locator, tail)) = rest.rsplit_once('-') else {
        return false;
    };
    locator.len() == 18
        && locator.starts_with("01g")
        && locator.chars().all(|c| c.is_ascii_alphanumeric())
        && tail == offset.to_string()
}

/// REST API Developer Guide: Query and QueryAll: `GET /query/?q=SELECT+Name,Id+FROM+Account` over 3,214 accounts in v63.0.
#[tokio::test]
async fn query_response_shape_and_paging_example() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Account", "count": 3214})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{}", seeded.json);
    let first = api
        .call_version(
            "63.0",
            Method::GET,
            "/query/?q=SELECT+Name,Id+FROM+Account",
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(
        first.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(
        keys(&first.json),
        ["totalSize", "done", "nextRecordsUrl", "records"]
    );
    assert_eq!(first.json["totalSize"], json!(3214));
    assert_eq!(first.json["done"], json!(false));
    let next = first.json["nextRecordsUrl"].as_str().expect("next url");
    assert!(is_locator_url(next, "63.0", 2000), "{next}");
    let records = first.json["records"].as_array().expect("records");
    assert_eq!(records.len(), 2000);
    let record = &records[0];
    assert_eq!(keys(record), ["attributes", "Name", "Id"]);
    let id = record["Id"].as_str().expect("id");
    assert_eq!(
        record["attributes"],
        json!({"type": "Account", "url": format!("/services/data/v63.0/sobjects/Account/{id}")})
    );
    let second = get_absolute(&api, next, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    assert_eq!(keys(&second.json), ["totalSize", "done", "records"]);
    assert_eq!(second.json["totalSize"], json!(3214));
    assert_eq!(second.json["done"], json!(true));
    assert_eq!(second.json["records"].as_array().map(Vec::len), Some(1214));
}

/// REST API Developer Guide: Query and QueryAll: the empty-query error body, verbatim.
#[tokio::test]
async fn empty_query_error_body() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    for path in ["/query/?q=", "/query", "/queryAll/?q=%20"] {
        let response = api.get(path).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            response.json,
            json!([{"message": "SOQL statements cannot be empty or null", "errorCode": "MALFORMED_QUERY"}]),
            "{path}"
        );
    }
}

/// REST API Developer Guide: Query and QueryAll: `INVALID_FIELD` with the query echoed and a caret, verbatim.
#[tokio::test]
async fn invalid_field_error_body() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let response = api.get("/query?q=SELECT+Foo+FROM+Account").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json,
        json!([{"message": "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                "errorCode": "INVALID_FIELD"}])
    );
}

async fn replication(api: &Api, kind: &str, start: &str, end: &str) -> crate::common::Resp {
    let encoded = serde_urlencoded::to_string([("start", start), ("end", end)]).expect("encodes");
    call(
        api,
        Method::GET,
        &format!("/sobjects/Account/{kind}/?{encoded}"),
        None,
    )
    .await
}

fn minute_before_and_after() -> (String, String) {
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%S+00:00");
    let end = (now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%S+00:00");
    (start.to_string(), end.to_string())
}

/// REST API Developer Guide: sObject Get Updated and Get Deleted: the getUpdated and getDeleted response shapes.
#[tokio::test]
async fn replication_response_shapes() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let kept = api.create("Account", json!({"Name": "Kept"})).await;
    let gone = api.create("Account", json!({"Name": "Gone"})).await;
    let deleted = api.delete(&format!("/sobjects/Account/{gone}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Records changed in the current minute are covered once the minute is over: ask for a window ending now.
    let (start, end) = minute_before_and_after();
    let updated = replication(&api, "updated", &start, &end).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(keys(&updated.json), ["ids", "latestDateCovered"]);
    let covered = updated.json["latestDateCovered"].as_str().expect("covered");
    assert!(covered.ends_with(":00.000+0000"), "{covered}");
    let deleted = replication(&api, "deleted", &start, &end).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.json);
    assert_eq!(
        keys(&deleted.json),
        [
            "deletedRecords",
            "earliestDateAvailable",
            "latestDateCovered"
        ]
    );
    for key in ["earliestDateAvailable", "latestDateCovered"] {
        let text = deleted.json[key].as_str().expect("date");
        assert!(text.ends_with(":00.000+0000"), "{key} {text}");
    }
    let _ = kept;
}

/// REST API Developer Guide: Composite and Composite Graph: a successful create and a failed create as composite subresults.
#[tokio::test]
async fn composite_subresult_examples() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let response = api
        .post(
            "/composite",
            json!({"allOrNone": false, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "refAccount",
                 "body": {"Name": "Sample Account"}},
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "badContact",
                 "body": {"LastName": "Smith", "Email": "Not a real email address", "AccountId": "@{refAccount.id}"}}
            ]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    assert_eq!(keys(&response.json), ["compositeResponse"]);
    let results = response.json["compositeResponse"]
        .as_array()
        .expect("array");
    let id = results[0]["body"]["id"].as_str().expect("id");
    assert!(id.starts_with("001"));
    assert_eq!(
        results[0],
        json!({"body": {"id": id, "success": true, "errors": []},
               "httpHeaders": {"Location": format!("/services/data/v62.0/sobjects/Account/{id}")},
               "httpStatusCode": 201, "referenceId": "refAccount"})
    );
    assert_eq!(
        results[1],
        json!({"body": [{"message": "Email: invalid email address: Not a real email address",
                         "errorCode": "INVALID_EMAIL_ADDRESS", "fields": ["Email"]}],
               "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "badContact"})
    );
}
