//! `POST /composite` (REST API Developer Guide: Composite and Composite Graph): references between subrequests, every kind of subrequest, allOrNone rollback,
//! request validation and API accounting.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{Api, Emulator};
use crate::support::query;

const BASE: &str = "/services/data/v62.0";

async fn composite(api: &Api, all_or_none: bool, requests: Json) -> Vec<Json> {
    let response = api
        .post(
            "/composite",
            json!({"allOrNone": all_or_none, "collateSubrequests": false, "compositeRequest": requests}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    response.json["compositeResponse"]
        .as_array()
        .expect("compositeResponse")
        .clone()
}

fn statuses(results: &[Json]) -> Vec<u64> {
    results
        .iter()
        .map(|result| result["httpStatusCode"].as_u64().expect("status"))
        .collect()
}

async fn count(api: &Api, text: &str) -> Json {
    query(api, text).await.json["totalSize"].clone()
}

#[tokio::test]
async fn references_chain_every_kind_of_subrequest() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let results = composite(
        &api,
        false,
        json!([
            {"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": "NewAccount",
             "body": {"Name": "Composite Co", "NumberOfEmployees": 12}},
            {"method": "GET", "url": format!("{BASE}/sobjects/Account/@{{NewAccount.id}}?fields=Name,NumberOfEmployees"),
             "referenceId": "ReadAccount"},
            {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "NewContact",
             "body": {"LastName": "Ref", "AccountId": "@{NewAccount.id}", "Description": "employees: @{ReadAccount.NumberOfEmployees}"}},
            {"method": "GET", "url": format!("{BASE}/query?q=SELECT+Id,LastName,Account.Name+FROM+Contact+WHERE+AccountId='@{{NewAccount.id}}'"),
             "referenceId": "Contacts"},
            {"method": "PATCH", "url": format!("{BASE}/sobjects/Contact/@{{Contacts.records[0].Id}}"),
             "referenceId": "Rename", "body": {"FirstName": "@{Contacts.records[0].Account.Name}"}},
            {"method": "PATCH", "url": format!("{BASE}/sobjects/Widget__c/Ext_Id__c/C-1"), "referenceId": "Upsert",
             "body": {"Name": "Upserted", "Status__c": "Open", "Account__c": "@{NewAccount.id}"}},
            {"method": "POST", "url": format!("{BASE}/composite/sobjects"), "referenceId": "Many",
             "body": {"allOrNone": false, "records": [
                 {"attributes": {"type": "Contact"}, "LastName": "Many 1", "AccountId": "@{NewAccount.id}"},
                 {"attributes": {"type": "Contact"}, "LastName": "Many 2"}]}},
            {"method": "GET", "url": format!("{BASE}/composite/sobjects/Contact?ids=@{{Many[0].id}},@{{Many[1].id}}&fields=LastName"),
             "referenceId": "Retrieve"},
            {"method": "DELETE", "url": format!("{BASE}/sobjects/Contact/@{{Many[1].id}}"), "referenceId": "Delete"},
            {"method": "GET", "url": format!("{BASE}/queryAll?q=SELECT+COUNT()+FROM+Contact+WHERE+IsDeleted=true"),
             "referenceId": "Deleted"}
        ]),
    )
    .await;
    assert_eq!(
        statuses(&results),
        [201, 200, 201, 200, 204, 201, 200, 200, 204, 200],
        "{results:#?}"
    );
    let account = results[0]["body"]["id"].as_str().expect("account id");
    assert_eq!(
        results[0]["httpHeaders"],
        json!({"Location": format!("{BASE}/sobjects/Account/{account}")})
    );
    assert_eq!(results[1]["body"]["NumberOfEmployees"], json!(12));
    assert_eq!(results[1]["httpHeaders"], json!({}));
    assert_eq!(results[3]["body"]["totalSize"], json!(1));
    assert_eq!(results[5]["body"]["created"], json!(true));
    assert_eq!(results[7]["body"][1]["LastName"], json!("Many 2"));
    assert_eq!(results[9]["body"]["totalSize"], json!(1));
    for result in &results {
        assert!(result["referenceId"].is_string());
    }
    // Everything was committed.
    let contact = query(
        &api,
        "SELECT FirstName, Description, Account.Name FROM Contact WHERE LastName = 'Ref'",
    )
    .await;
    assert_eq!(
        contact.json["records"][0]["FirstName"],
        json!("Composite Co")
    );
    assert_eq!(
        contact.json["records"][0]["Description"],
        json!("employees: 12")
    );
    assert_eq!(
        count(
            &api,
            "SELECT COUNT() FROM Widget__c WHERE Account__r.Name = 'Composite Co'"
        )
        .await,
        json!(1)
    );
}

#[tokio::test]
async fn all_or_none_rolls_back_everything() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let changes_before = emulator
        .admin(
            Method::GET,
            "/__emulator/changes?after=0&limit=100000",
            None,
        )
        .await;
    let results = composite(
        &api,
        true,
        json!([
            {"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": "NewAccount",
             "body": {"Name": "Rolled Back"}},
            {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "NewContact",
             "body": {"LastName": "Ok", "AccountId": "@{NewAccount.id}"}},
            {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "badContact",
             "body": {"LastName": "Bad", "Email": "Not a real email address"}},
            {"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": "After",
             "body": {"Name": "Never"}}
        ]),
    )
    .await;
    assert_eq!(statuses(&results), [400, 400, 400, 400]);
    let halted = json!([{"message": "The transaction was rolled back since another operation in the same transaction failed.",
                          "errorCode": "PROCESSING_HALTED"}]);
    for position in [0, 1, 3] {
        assert_eq!(results[position]["body"], halted, "{position}");
    }
    assert_eq!(
        results[2]["body"][0]["errorCode"],
        json!("INVALID_EMAIL_ADDRESS")
    );
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(0));
    assert_eq!(count(&api, "SELECT COUNT() FROM Contact").await, json!(0));
    let changes_after = emulator
        .admin(
            Method::GET,
            "/__emulator/changes?after=0&limit=100000",
            None,
        )
        .await;
    assert_eq!(
        changes_before.json, changes_after.json,
        "nothing reached the change log"
    );

    // Without allOrNone the failure stays local: the others are committed, in one transaction.
    let results = composite(
        &api,
        false,
        json!([
            {"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": "A",
             "body": {"Name": "Kept"}},
            {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "B",
             "body": {"LastName": "Bad", "Email": "nope"}},
            {"method": "PATCH", "url": format!("{BASE}/sobjects/Contact/@{{B.id}}"), "referenceId": "C",
             "body": {"LastName": "Depends on B"}},
            {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "D",
             "body": {"LastName": "Kept too", "AccountId": "@{A.id}"}}
        ]),
    )
    .await;
    assert_eq!(statuses(&results), [201, 400, 400, 201]);
    assert_eq!(
        results[2]["body"][0]["errorCode"],
        json!("PROCESSING_HALTED")
    );
    assert!(results[2]["body"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("@{B.id}"));
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(1));
    assert_eq!(count(&api, "SELECT COUNT() FROM Contact").await, json!(1));
}

/// A composite allOrNone overrides a nested Collections call's allOrNone=false.
#[tokio::test]
async fn all_or_none_applies_to_nested_collections() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let requests = json!([
        {"method": "POST", "url": format!("{BASE}/composite/sobjects"), "referenceId": "newAccounts",
         "body": {"allOrNone": false, "records": [
             {"attributes": {"type": "Account"}, "Name": "Northern Trail Outfitters"},
             {"attributes": {"type": "Account"}}]}},
        {"method": "POST", "url": format!("{BASE}/sobjects/Contact"), "referenceId": "newContact",
         "body": {"FirstName": "John", "LastName": "Smith"}}
    ]);
    let results = composite(&api, true, requests.clone()).await;
    assert_eq!(statuses(&results), [200, 400]);
    assert_eq!(results[0]["body"][0]["success"], json!(false));
    assert_eq!(
        results[0]["body"][0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        results[1]["body"][0]["errorCode"],
        json!("PROCESSING_HALTED")
    );
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(0));
    assert_eq!(count(&api, "SELECT COUNT() FROM Contact").await, json!(0));
    // With the outer flag off the inner one decides: one account and the contact are created.
    let results = composite(&api, false, requests).await;
    assert_eq!(statuses(&results), [200, 201]);
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(1));
    assert_eq!(count(&api, "SELECT COUNT() FROM Contact").await, json!(1));
}

#[tokio::test]
async fn malformed_requests_are_refused_whole() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let create = |reference: &str| {
        json!({"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": reference,
               "body": {"Name": reference}})
    };
    let too_many: Vec<Json> = (0..26).map(|n| create(&format!("r{n}"))).collect();
    let cases = [
        (
            json!({"compositeRequest": too_many}),
            "LIMIT_EXCEEDED",
            "at most 25",
        ),
        (
            json!({"compositeRequest": [create("bad-id")]}),
            "INVALID_INPUT",
            "bad-id",
        ),
        (
            json!({"compositeRequest": [create("same"), create("same")]}),
            "INVALID_INPUT",
            "Duplicate",
        ),
        (
            json!({"compositeRequest": [{"method": "POST", "url": "/x"}]}),
            "INVALID_INPUT",
            "referenceId",
        ),
        (
            json!({"compositeRequest": [{"method": "post", "url": "/x", "referenceId": "a"}]}),
            "INVALID_INPUT",
            "method",
        ),
        (
            json!({"compositeRequest": [{"method": "GET", "url": format!("{BASE}/limits"), "referenceId": "a",
                                      "httpHeaders": {"Authorization": "Bearer x"}}]}),
            "INVALID_INPUT",
            "Authorization",
        ),
        (
            json!({"allOrNone": true}),
            "JSON_PARSER_ERROR",
            "compositeRequest",
        ),
    ];
    for (body, code, text) in cases {
        let response = api.post("/composite", body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{code}");
        assert_eq!(response.error_code(), code, "{}", response.json);
        assert!(
            response.json[0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(text),
            "{}",
            response.json
        );
    }
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(0));
    // Exactly 25 is fine.
    let twenty_five: Vec<Json> = (0..25).map(|n| create(&format!("r{n}"))).collect();
    let results = composite(&api, false, Json::Array(twenty_five)).await;
    assert_eq!(results.len(), 25);
    assert_eq!(count(&api, "SELECT COUNT() FROM Account").await, json!(25));
}

#[tokio::test]
async fn a_composite_request_is_one_api_call() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let usage = |resp: &crate::common::Resp| {
        resp.header("Sforce-Limit-Info")
            .and_then(|value| value.strip_prefix("api-usage="))
            .and_then(|value| value.split('/').next())
            .and_then(|used| used.parse::<u64>().ok())
            .expect("api usage")
    };
    let before = api.get("/limits").await;
    let response = api
        .post(
            "/composite",
            json!({"compositeRequest": [
                {"method": "POST", "url": format!("{BASE}/sobjects/Account"), "referenceId": "a", "body": {"Name": "x"}},
                {"method": "GET", "url": format!("{BASE}/query?q=SELECT+Id+FROM+Account"), "referenceId": "b"},
                {"method": "GET", "url": format!("{BASE}/sobjects/Account/@{{a.id}}"), "referenceId": "c"}
            ]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(usage(&response), usage(&before) + 1);
    let stats = emulator.admin(Method::GET, "/__emulator/stats", None).await;
    let calls = &stats.json["apiCalls"];
    assert_eq!(
        calls["POST /services/data/{version}/composite"],
        json!(1),
        "{calls}"
    );
    assert!(
        calls
            .get("POST /services/data/{version}/sobjects/{object}")
            .is_none(),
        "{calls}"
    );
    // Unknown resources answer 404 inside the composite response, not for the whole request.
    let results = composite(
        &api,
        false,
        json!([{"method": "GET", "url": format!("{BASE}/nothing/here"), "referenceId": "x"},
               {"method": "PUT", "url": format!("{BASE}/sobjects/Account"), "referenceId": "y"}]),
    )
    .await;
    assert_eq!(statuses(&results), [404, 405]);
}
