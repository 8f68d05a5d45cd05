//! Formula fields end to end: computed on REST GET, SOQL SELECT and WHERE and Bulk query results; following a
//! parent changed by another user without touching the child (no SystemModstamp change, no change event);
//! bad formulas refused with a 400 and nothing changed; writes to a formula field refused.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;

const LABEL: &str = "Account.Industry & \" / \" & TEXT(Account.NumberOfEmployees)";

async fn add_label_field(emulator: &Emulator) {
    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/objects/Contact/fields",
            Some(
                json!({"name": "Account_Label__c", "type": "string", "length": 255,
                        "calculated": true, "calculatedFormula": LABEL}),
            ),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
}

async fn query(api: &Api, soql: &str) -> Json {
    api.query_json(soql, false).await
}

/// How many change events name `id`; none of them may carry the formula field.
async fn contact_events(emulator: &Emulator, id: &str) -> usize {
    let (_, events) = emulator.events_for(id).await;
    for event in &events {
        assert!(event["values"].get("Account_Label__c").is_none(), "{event}");
        assert!(
            !event["changedFields"]
                .as_array()
                .expect("changedFields")
                .contains(&json!("Account_Label__c")),
            "{event}"
        );
    }
    events.len()
}

#[tokio::test]
async fn formula_values_are_computed_on_every_read() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    add_label_field(&emulator).await;
    let describe = api.get("/sobjects/Contact/describe").await.json;
    let field = describe["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Account_Label__c")
        .expect("described")
        .clone();
    assert_eq!(field["calculated"], true);
    assert_eq!(field["calculatedFormula"], LABEL);
    assert_eq!(
        (field["createable"].clone(), field["updateable"].clone()),
        (json!(false), json!(false))
    );

    let acme = api
        .create(
            "Account",
            json!({"Name": "Acme", "Industry": "Energy", "NumberOfEmployees": 250}),
        )
        .await;
    let other = api
        .create(
            "Account",
            json!({"Name": "Globex", "Industry": "Banking", "NumberOfEmployees": 10}),
        )
        .await;
    let doe = api
        .create("Contact", json!({"LastName": "Doe", "AccountId": acme}))
        .await;
    api.create("Contact", json!({"LastName": "Roe", "AccountId": other}))
        .await;

    let read = api.get(&format!("/sobjects/Contact/{doe}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json["Account_Label__c"], "Energy / 250");
    let fields = api
        .get(&format!("/sobjects/Contact/{doe}?fields=Account_Label__c"))
        .await;
    assert_eq!(fields.json["Account_Label__c"], "Energy / 250");
    let soql = query(
        &api,
        &format!("SELECT Id, Account_Label__c FROM Contact WHERE Id = '{doe}'"),
    )
    .await;
    assert_eq!(soql["records"][0]["Account_Label__c"], "Energy / 250");
    let stamp_before = read.json["SystemModstamp"].clone();
    let events_before = contact_events(&emulator, &doe).await;
    assert_eq!(events_before, 1, "the create event");

    // Another user changes the parent: the child's formula follows on the next read, and the child is untouched.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let write = emulator
        .admin(
            Method::POST,
            "/__emulator/records",
            Some(json!({"object": "Account", "records": [{"Id": acme, "Industry": "Chemicals"}]})),
        )
        .await;
    assert_eq!(write.status, StatusCode::OK, "{}", write.json);
    assert_eq!(write.json[0]["success"], true, "{}", write.json);
    let read = api.get(&format!("/sobjects/Contact/{doe}")).await;
    assert_eq!(read.json["Account_Label__c"], "Chemicals / 250");
    assert_eq!(read.json["SystemModstamp"], stamp_before);
    assert_eq!(contact_events(&emulator, &doe).await, events_before);
    let collection = api
        .get(&format!(
            "/composite/sobjects/Contact?ids={doe}&fields=Account_Label__c"
        ))
        .await;
    assert_eq!(collection.json[0]["Account_Label__c"], "Chemicals / 250");

    // WHERE and ORDER BY see computed values.
    let filtered = query(
        &api,
        "SELECT LastName FROM Contact WHERE Account_Label__c = 'Banking / 10'",
    )
    .await;
    assert_eq!(filtered["totalSize"], 1, "{filtered}");
    assert_eq!(filtered["records"][0]["LastName"], "Roe");
    let liked = query(
        &api,
        "SELECT LastName FROM Contact WHERE Account_Label__c LIKE 'Chem%' ORDER BY Account_Label__c",
    )
    .await;
    assert_eq!(liked["totalSize"], 1, "{liked}");
    assert_eq!(liked["records"][0]["LastName"], "Doe");

    // Bulk API 2.0 query results carry the computed value.
    let job = api
        .post(
            "/jobs/query",
            json!({"operation": "query",
                   "query": "SELECT LastName, Account_Label__c FROM Contact WHERE Account_Label__c != null ORDER BY LastName"}),
        )
        .await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.json);
    let job = job.json["id"].as_str().expect("job id").to_string();
    for _ in 0..200 {
        let info = api.get(&format!("/jobs/query/{job}")).await.json;
        if info["state"] == "JobComplete" {
            break;
        }
        assert_ne!(info["state"], "Failed", "{info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let csv = api
        .http
        .get(format!(
            "{}/services/data/v{VERSION}/jobs/query/{job}/results",
            api.base
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("results")
        .text()
        .await
        .expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        vec![
            "\"LastName\",\"Account_Label__c\"",
            "\"Doe\",\"Chemicals / 250\"",
            "\"Roe\",\"Banking / 10\""
        ],
        "{csv}"
    );
}

#[tokio::test]
async fn writes_to_formula_fields_are_refused() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    add_label_field(&emulator).await;
    let created = api
        .post(
            "/sobjects/Contact",
            json!({"LastName": "Doe", "Account_Label__c": "x"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST, "{}", created.json);
    assert_eq!(created.error_code(), "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(created.json[0]["fields"], json!(["Account_Label__c"]));
    let doe = api.create("Contact", json!({"LastName": "Doe"})).await;
    let updated = api
        .patch(
            &format!("/sobjects/Contact/{doe}"),
            json!({"Account_Label__c": "x"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::BAD_REQUEST, "{}", updated.json);
    assert_eq!(updated.error_code(), "INVALID_FIELD_FOR_INSERT_UPDATE");
    // Without an account the formula reads " / " (text blanks concatenate as empty text).
    let read = api.get(&format!("/sobjects/Contact/{doe}")).await;
    assert_eq!(read.json["Account_Label__c"], " / ");
}

#[tokio::test]
async fn bad_formulas_are_refused_with_nothing_changed() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let fields_before = api.get("/sobjects/Contact/describe").await.json["fields"]
        .as_array()
        .expect("fields")
        .len();
    for (formula, expected) in [
        (
            "Account.Industry & ",
            "formula field 'Bad__c': at position 20: expected a value, found the end of the formula",
        ),
        (
            "Account.Nope__c",
            "formula field 'Bad__c': at position 1: unknown field 'Nope__c' on Account in 'Account.Nope__c'",
        ),
    ] {
        let response = emulator
            .admin(
                Method::POST,
                "/__emulator/objects/Contact/fields",
                Some(json!({"name": "Bad__c", "type": "string", "calculated": true, "calculatedFormula": formula})),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.json);
        assert!(
            response.json.to_string().contains(expected),
            "{formula}: {}",
            response.json
        );
    }
    let fields_after = api.get("/sobjects/Contact/describe").await.json["fields"]
        .as_array()
        .expect("fields")
        .len();
    assert_eq!(fields_after, fields_before);

    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/objects",
            Some(json!({"name": "Gizmo__c", "fields": [
                {"name": "Parent__c", "type": "reference", "referenceTo": ["Account"]},
                {"name": "Label__c", "type": "string", "calculated": true, "calculatedFormula": "Parent__c.Name"}
            ]})),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.json
    );
    let message = response.json.to_string();
    assert!(
        message.contains("'Label__c'") && message.contains("unknown relationship 'Parent__c'"),
        "{message}"
    );
    assert_eq!(
        api.get("/sobjects/Gizmo__c/describe").await.status,
        StatusCode::NOT_FOUND
    );
    // The same object with the relationship name works.
    let response = emulator
        .admin(
            Method::POST,
            "/__emulator/objects",
            Some(json!({"name": "Gizmo__c", "fields": [
                {"name": "Parent__c", "type": "reference", "referenceTo": ["Account"]},
                {"name": "Label__c", "type": "string", "calculated": true, "calculatedFormula": "Parent__r.Name"}
            ]})),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json);
    let acme = api.create("Account", json!({"Name": "Acme"})).await;
    let gizmo = api
        .create("Gizmo__c", json!({"Name": "g", "Parent__c": acme}))
        .await;
    let read = api.get(&format!("/sobjects/Gizmo__c/{gizmo}")).await;
    assert_eq!(read.json["Label__c"], "Acme");
}
