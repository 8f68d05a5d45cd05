//! Every validation error code of SOAP API Developer Guide: StatusCode reached through the REST API, with message shapes and `fields`.

use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use sfsync_emulator::store::ids::RecordId;

use crate::common::*;

fn assert_error(response: &Resp, status: StatusCode, code: &str, message: &str, fields: &[&str]) {
    assert_eq!(response.status, status, "{:?}", response.json);
    assert_eq!(
        response.json,
        json!([{"message": message, "errorCode": code, "fields": fields}])
    );
}

#[tokio::test]
async fn create_errors() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        &api.post("/sobjects/Account", json!({"Phone": "1"})).await,
        bad,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Name]",
        &["Name"],
    );
    assert_error(
        &api.post("/sobjects/Lead", json!({"FirstName": "x"})).await,
        bad,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [LastName, Company]",
        &["LastName", "Company"],
    );
    let long = "y".repeat(256);
    assert_error(
        &api.post("/sobjects/Account", json!({"Name": long})).await,
        bad,
        "STRING_TOO_LONG",
        &format!("Account Name: data value too large: {long} (max length=255)"),
        &["Name"],
    );
    assert_error(
        &api.post(
            "/sobjects/Opportunity",
            json!({"Name": "o", "StageName": "Dreaming", "CloseDate": "2024-01-01"}),
        )
        .await,
        bad,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Stage: bad value for restricted picklist field: Dreaming",
        &["StageName"],
    );
    assert_error(
        &api.post(
            "/sobjects/Widget__c",
            json!({"Name": "w", "Status__c": "Open", "Tags__c": "a;z"}),
        )
        .await,
        bad,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Tags: bad value for restricted picklist field: z",
        &["Tags__c"],
    );
    assert_error(
        &api.post(
            "/sobjects/Contact",
            json!({"LastName": "x", "Email": "not an email"}),
        )
        .await,
        bad,
        "INVALID_EMAIL_ADDRESS",
        "Email: invalid email address: not an email",
        &["Email"],
    );
    assert_error(
        &api.post("/sobjects/Account", json!({"Name": "x", "Bogus__c": 1}))
            .await,
        bad,
        "INVALID_FIELD",
        "No such column 'Bogus__c' on sobject of type Account",
        &[],
    );
    assert_error(
        &api.post(
            "/sobjects/Account",
            json!({"Name": "x", "Id": "001000000000000AAA"}),
        )
        .await,
        bad,
        "INVALID_FIELD",
        "The Id field should not be specified in the sobject data.",
        &[],
    );
    let not_createable = api
        .post(
            "/sobjects/Account",
            json!({"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        not_createable.error_code(),
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    assert_eq!(not_createable.json[0]["fields"], json!(["CreatedDate"]));
    assert_error(
        &api.post(
            "/sobjects/Account",
            json!({"Name": "x", "NumberOfEmployees": "many"}),
        )
        .await,
        bad,
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "Employees: value not of required type: many",
        &["NumberOfEmployees"],
    );
    assert_eq!(
        api.post(
            "/sobjects/Account",
            json!({"Name": "x", "AnnualRevenue": true})
        )
        .await
        .error_code(),
        "INVALID_TYPE_ON_FIELD_IN_RECORD"
    );
    assert_eq!(
        api.post(
            "/sobjects/Contact",
            json!({"LastName": "x", "Birthdate": "31/01/2024"})
        )
        .await
        .error_code(),
        "INVALID_TYPE_ON_FIELD_IN_RECORD"
    );
    let outside: Json = serde_json::from_str(
        r#"{"Name": "x", "Status__c": "Open", "Price__c": 123456789012345.0}"#,
    )
    .expect("json");
    assert_eq!(
        api.post("/sobjects/Widget__c", outside).await.error_code(),
        "NUMBER_OUTSIDE_VALID_RANGE"
    );
    assert_error(
        &api.post(
            "/sobjects/Widget__c",
            json!({"Name": "x", "Status__c": "Blocked"}),
        )
        .await,
        bad,
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Blocked widgets are not allowed",
        &["Status__c"],
    );
    let malformed = api
        .post(
            "/sobjects/Contact",
            json!({"LastName": "x", "AccountId": "NotReal"}),
        )
        .await;
    assert_error(
        &malformed,
        bad,
        "MALFORMED_ID",
        "Account ID: id value of incorrect type: NotReal",
        &["AccountId"],
    );
}

#[tokio::test]
async fn reference_and_uniqueness_errors() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let bad = StatusCode::BAD_REQUEST;
    let missing_account = RecordId::generate("001", 777_777).to_string();
    assert_error(
        &api.post(
            "/sobjects/Contact",
            json!({"LastName": "x", "AccountId": missing_account}),
        )
        .await,
        bad,
        "INVALID_CROSS_REFERENCE_KEY",
        "invalid cross reference id",
        &["AccountId"],
    );
    let contact = api.create("Contact", json!({"LastName": "c"})).await;
    assert_eq!(
        api.post(
            "/sobjects/Contact",
            json!({"LastName": "x", "AccountId": contact})
        )
        .await
        .error_code(),
        "INVALID_CROSS_REFERENCE_KEY",
        "an id of the wrong object"
    );
    let account = api.create("Account", json!({"Name": "a"})).await;
    assert_eq!(
        api.delete(&format!("/sobjects/Account/{account}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.post(
            "/sobjects/Contact",
            json!({"LastName": "x", "AccountId": account})
        )
        .await
        .error_code(),
        "INVALID_CROSS_REFERENCE_KEY",
        "a deleted record"
    );

    let first = api
        .create(
            "Widget__c",
            json!({"Name": "u", "Ext_Id__c": "Dup-1", "Code__c": "abc", "Status__c": "Open"}),
        )
        .await;
    let duplicate = api
        .post(
            "/sobjects/Widget__c",
            json!({"Name": "u", "Ext_Id__c": "dup-1", "Status__c": "Open"}),
        )
        .await;
    assert_error(
        &duplicate,
        bad,
        "DUPLICATE_VALUE",
        &format!("duplicate value found: Ext_Id__c duplicates value on record with id: {first}"),
        &["Ext_Id__c"],
    );
    // Code__c is case-sensitive: another case is a different value.
    api.create(
        "Widget__c",
        json!({"Name": "u", "Code__c": "ABC", "Status__c": "Open"}),
    )
    .await;
    assert_eq!(
        api.post(
            "/sobjects/Widget__c",
            json!({"Name": "u", "Code__c": "abc", "Status__c": "Open"})
        )
        .await
        .error_code(),
        "DUPLICATE_VALUE"
    );
    // After the holder is deleted, the value is free again.
    assert_eq!(
        api.delete(&format!("/sobjects/Widget__c/{first}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    api.create(
        "Widget__c",
        json!({"Name": "u", "Ext_Id__c": "DUP-1", "Status__c": "Open"}),
    )
    .await;
}

#[tokio::test]
async fn update_errors() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let id = api.create("Widget__c", widget("U-1")).await;
    assert_error(
        &api.patch(
            &format!("/sobjects/Widget__c/{id}"),
            json!({"Status__c": null}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Status__c]",
        &["Status__c"],
    );
    assert_eq!(
        api.patch(
            &format!("/sobjects/Widget__c/{id}"),
            json!({"IsDeleted": true})
        )
        .await
        .error_code(),
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    assert_eq!(
        api.patch(
            &format!("/sobjects/Widget__c/{id}"),
            json!({"Status__c": "Blocked"})
        )
        .await
        .error_code(),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    let missing = RecordId::generate(&id[..3], 999_999);
    assert_eq!(
        api.patch(
            &format!("/sobjects/Widget__c/{missing}"),
            json!({"Name": "x"})
        )
        .await
        .error_code(),
        "NOT_FOUND"
    );
    assert_eq!(
        api.delete(&format!("/sobjects/Widget__c/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let deleted = api
        .patch(&format!("/sobjects/Widget__c/{id}"), json!({"Name": "x"}))
        .await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    assert_eq!(deleted.error_code(), "ENTITY_IS_DELETED");
}
