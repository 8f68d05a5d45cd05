//! The admin API: seeding, undelete, purge, clock, writes as another user, schema drift, reset, CDC selection.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn seed_spreads_children_over_parents() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let seeded = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Account", "count": 2000})),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{:?}", seeded.json);
    assert_eq!(seeded.json["created"], 2000);
    let contacts = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Contact", "count": 3000, "fields": {"LeadSource": "Web"}, "parent": {"field": "AccountId"}})),
        )
        .await;
    assert_eq!(contacts.status, StatusCode::OK, "{:?}", contacts.json);
    let last = contacts.json["lastId"].as_str().expect("last id");
    let contact = api.get(&format!("/sobjects/Contact/{last}")).await.json;
    assert_eq!(contact["LeadSource"], "Web");
    assert!(contact["AccountId"]
        .as_str()
        .expect("parent")
        .starts_with("001"));
    assert!(contact["LastName"]
        .as_str()
        .expect("name")
        .starts_with("Contact "));
    let widgets = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Widget__c", "count": 500})),
        )
        .await;
    assert_eq!(widgets.status, StatusCode::OK, "{:?}", widgets.json);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(stats["records"]["Contact"]["live"], 3000);
    assert_eq!(stats["records"]["Widget__c"]["live"], 500);
    let bad = emulator
        .admin(
            Method::POST,
            "/__emulator/seed",
            Some(json!({"object": "Nope", "count": 1})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn undelete_purge_and_clock() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let a = api.create("Account", json!({"Name": "A"})).await;
    let b = api.create("Account", json!({"Name": "B"})).await;
    api.delete(&format!("/sobjects/Account/{a}")).await;
    api.delete(&format!("/sobjects/Account/{b}")).await;
    let restored = emulator
        .admin(
            Method::POST,
            "/__emulator/undelete",
            Some(json!({"ids": [a, b.clone() + "x"]})),
        )
        .await;
    assert_eq!(restored.json[0]["success"], true);
    assert_eq!(restored.json[1]["success"], false);
    assert_eq!(
        api.get(&format!("/sobjects/Account/{a}")).await.json["IsDeleted"],
        false
    );
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let types: Vec<&str> = changes["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["changeType"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["CREATE", "CREATE", "DELETE", "DELETE", "UNDELETE"]);

    let purged = emulator
        .admin(Method::POST, "/__emulator/purge", None)
        .await;
    assert_eq!(purged.json["purged"], 1);
    assert_eq!(
        api.get(&format!("/sobjects/Account/{b}"))
            .await
            .error_code(),
        "NOT_FOUND"
    );

    let c = api.create("Account", json!({"Name": "C"})).await;
    api.delete(&format!("/sobjects/Account/{c}")).await;
    let before = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(before["records"]["Account"]["deleted"], 1);
    let moved = emulator
        .admin(
            Method::POST,
            "/__emulator/clock",
            Some(json!({"advanceSeconds": 16 * 86400})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    let after = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(
        after["records"]["Account"]["deleted"], 0,
        "the recycle bin keeps records 15 days"
    );
    assert_eq!(after["deleteLog"], 0);
    let fresh = api.create("Account", json!({"Name": "D"})).await;
    let created = api.get(&format!("/sobjects/Account/{fresh}")).await.json["CreatedDate"]
        .as_str()
        .expect("date")
        .to_string();
    assert!(
        created.as_str() > before["now"].as_str().expect("now"),
        "records are stamped with the org clock"
    );
}

#[tokio::test]
async fn writes_as_another_user_carry_the_client_and_count_no_api_call() {
    let emulator = Emulator::start(&[]);
    let written = emulator
        .admin(
            Method::POST,
            "/__emulator/records",
            Some(json!({"object": "Account", "client": "other-app", "records": [{"Name": "From elsewhere"}]})),
        )
        .await;
    assert_eq!(written.json[0]["success"], true);
    let id = written.json[0]["id"].as_str().expect("id").to_string();
    let updated = emulator
        .admin(
            Method::POST,
            "/__emulator/records",
            Some(json!({"object": "Account", "user": USERNAME, "api": "bulkapi", "records": [{"Id": id, "Phone": "1"}]})),
        )
        .await;
    assert_eq!(updated.json[0]["success"], true);
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(stats["apiUsage"]["used"], 0);
    let changes = emulator
        .admin(Method::GET, "/__emulator/changes", None)
        .await
        .json;
    let events = changes["events"].as_array().expect("events");
    assert_eq!(events[0]["client"], "other-app");
    assert_eq!(events[0]["api"], "rest");
    assert_eq!(events[1]["api"], "bulkapi");
    assert_ne!(events[0]["commitUser"], events[1]["commitUser"]);
    assert_eq!(
        events[1]["changedFields"],
        json!(["Phone", "LastModifiedDate", "LastModifiedById"])
    );

    let api = emulator.login().await;
    let own = api
        .http
        .post(format!("{}/services/data/v62.0/sobjects/Account", api.base))
        .bearer_auth(&api.token)
        .header("Sforce-Call-Options", "client=sfsync-test1")
        .header("Content-Type", "application/json")
        .body(json!({"Name": "mine"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(own.status(), StatusCode::CREATED);
    let changes = emulator
        .admin(
            Method::GET,
            &format!("/__emulator/changes?after={}", events[1]["seq"]),
            None,
        )
        .await
        .json;
    assert_eq!(changes["events"][0]["client"], "sfsync-test1");
}

#[tokio::test]
async fn schema_drift_and_new_objects_at_run_time() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let id = api.create("Widget__c", widget("S-1")).await;
    let added = emulator
        .admin(
            Method::POST,
            "/__emulator/objects/Widget__c/fields",
            Some(json!({"name": "Weight__c", "type": "double", "precision": 10, "scale": 3})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.json);
    assert!(api.get(&format!("/sobjects/Widget__c/{id}")).await.json["Weight__c"].is_null());
    api.patch(
        &format!("/sobjects/Widget__c/{id}"),
        json!({"Weight__c": 1.5}),
    )
    .await;
    assert_eq!(
        api.get(&format!("/sobjects/Widget__c/{id}")).await.json["Weight__c"].to_string(),
        "1.500"
    );
    let removed = emulator
        .admin(
            Method::DELETE,
            "/__emulator/objects/Widget__c/fields/Notes__c",
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    let describe = api.get("/sobjects/Widget__c/describe").await.json;
    let names: Vec<&str> = describe["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"Weight__c") && !names.contains(&"Notes__c"));
    assert_eq!(
        api.get(&format!("/sobjects/Widget__c/{id}")).await.json["Ext_Id__c"],
        "S-1",
        "values stay in their fields"
    );
    assert_eq!(
        emulator
            .admin(
                Method::DELETE,
                "/__emulator/objects/Widget__c/fields/Id",
                None
            )
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let defined = emulator
        .admin(
            Method::POST,
            "/__emulator/objects",
            Some(json!({"name": "Thing__c", "fields": [{"name": "Size__c", "type": "int"}]})),
        )
        .await;
    assert_eq!(defined.status, StatusCode::CREATED, "{:?}", defined.json);
    let thing = api
        .create("Thing__c", json!({"Name": "t", "Size__c": 3}))
        .await;
    assert_eq!(
        &thing[..3],
        defined.json["keyPrefix"].as_str().expect("prefix")
    );
    let duplicate = emulator
        .admin(
            Method::POST,
            "/__emulator/objects",
            Some(json!({"name": "Thing__c", "fields": []})),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    let bad_rule = emulator
        .admin(Method::POST, "/__emulator/objects", Some(json!({"name": "Bad__c", "fields": [],
            "validationRules": [{"name": "r", "errorMessage": "m", "condition": "Missing__c = 1"}]})))
        .await;
    assert_eq!(bad_rule.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reset_and_cdc_selection() {
    let emulator = Emulator::start(&["--cdc-objects", "Account,Contact"]);
    let api = emulator.login().await;
    api.create("Account", json!({"Name": "A"})).await;
    assert_eq!(
        emulator
            .admin(Method::GET, "/__emulator/cdc", None)
            .await
            .json,
        json!({"objects": ["Account", "Contact"]})
    );
    let set = emulator
        .admin(
            Method::PUT,
            "/__emulator/cdc",
            Some(json!({"objects": ["Widget__c"]})),
        )
        .await;
    assert_eq!(set.json, json!({"objects": ["Widget__c"]}));
    assert_eq!(
        emulator
            .admin(Method::POST, "/__emulator/reset", None)
            .await
            .status,
        StatusCode::OK
    );
    let stats = emulator
        .admin(Method::GET, "/__emulator/stats", None)
        .await
        .json;
    assert_eq!(stats["records"]["Account"]["live"], 0);
    assert_eq!(
        stats["records"]["User"]["live"], 2,
        "the built-in users stay"
    );
    assert_eq!(stats["apiUsage"]["used"], 0);
    assert_eq!(
        api.get("/sobjects/Widget__c/describe").await.status,
        StatusCode::OK,
        "objects stay defined, sessions stay valid"
    );
}
