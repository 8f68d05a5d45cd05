//! Single-record REST, describe, versions and value encodings against REST API Developer Guide: Versions–2.8.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};
use sfsync_emulator::store::ids::RecordId;

use crate::common::*;

#[tokio::test]
async fn versions_list_needs_no_token_and_costs_nothing() {
    let emulator = Emulator::start(&[]);
    let response = send(
        &emulator.http(),
        Method::GET,
        &format!("{}/services/data/", emulator.base),
        None,
        None,
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let versions = response.json.as_array().expect("array");
    assert_eq!(
        versions[0],
        json!({"label": "Winter '11", "url": "/services/data/v20.0", "version": "20.0"})
    );
    assert!(versions.contains(
        &json!({"label": "Summer '19", "url": "/services/data/v46.0", "version": "46.0"})
    ));
    assert!(versions.contains(
        &json!({"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"})
    ));
    assert!(response.header("sforce-limit-info").is_none());
    let api = emulator.login().await;
    let resources = api.get("/").await;
    assert_eq!(resources.json["sobjects"], "/services/data/v62.0/sobjects");
    assert_eq!(
        resources.header("sforce-limit-info"),
        Some("api-usage=1/1000000")
    );
    assert_eq!(
        api.call_version("99.0", Method::GET, "/limits", None)
            .await
            .error_code(),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn create_read_update_delete_round_trip() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let created = api.post("/sobjects/Account/", json!({"Name": "Express Logistics and Transport", "BillingCity": "San Francisco", "BillingState": "CA", "AnnualRevenue": 1500000})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json["id"].as_str().expect("id").to_string();
    assert_eq!(
        created.json,
        json!({"id": id, "success": true, "errors": []})
    );
    assert_eq!(
        created.header("location"),
        Some(format!("/services/data/v62.0/sobjects/Account/{id}").as_str())
    );
    let parsed = RecordId::parse(&id).expect("valid 18-char id with checksum");
    assert_eq!(parsed.key_prefix(), "001");
    assert_eq!(parsed.as_str(), id);

    let record = api.get(&format!("/sobjects/Account/{id}")).await;
    assert_eq!(record.status, StatusCode::OK);
    let body = &record.json;
    assert_eq!(
        body["attributes"],
        json!({"type": "Account", "url": format!("/services/data/v62.0/sobjects/Account/{id}")})
    );
    assert_eq!(body["Id"], id.as_str());
    assert_eq!(body["IsDeleted"], false);
    assert_eq!(body["AnnualRevenue"].to_string(), "1500000");
    for field in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        assert!(
            is_rest_datetime(body[field].as_str().expect("datetime")),
            "{field}: {}",
            body[field]
        );
    }
    assert!(body["OwnerId"].as_str().expect("owner").starts_with("005"));
    assert_eq!(body["CreatedById"], body["OwnerId"]);
    assert_eq!(
        body["BillingAddress"],
        json!({"city": "San Francisco", "country": null, "geocodeAccuracy": null, "latitude": null, "longitude": null,
               "postalCode": null, "state": "CA", "street": null})
    );
    assert!(body["ShippingAddress"].is_null());

    let selected = api
        .get(&format!(
            "/sobjects/account/{}?fields=Name,BillingCity",
            &id[..15]
        ))
        .await;
    assert_eq!(selected.status, StatusCode::OK);
    assert_eq!(
        selected
            .json
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>(),
        ["attributes", "Name", "BillingCity"]
    );

    let updated = api
        .patch(
            &format!("/sobjects/Account/{id}"),
            json!({"Phone": "555-0100", "BillingCity": null}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT);
    assert_eq!(updated.json, Json::Null);
    let via_post = api
        .call(
            Method::POST,
            &format!("/sobjects/Account/{id}?_HttpMethod=PATCH"),
            Some(json!({"Website": "https://example.com"})),
        )
        .await;
    assert_eq!(via_post.status, StatusCode::NO_CONTENT);
    let after = api.get(&format!("/sobjects/Account/{id}")).await.json;
    assert_eq!(after["Phone"], "555-0100");
    assert_eq!(after["Website"], "https://example.com");
    assert!(after["BillingCity"].is_null());
    assert!(after["SystemModstamp"].as_str() > body["SystemModstamp"].as_str());

    assert_eq!(
        api.delete(&format!("/sobjects/Account/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = api.get(&format!("/sobjects/Account/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone.json,
        json!([{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}])
    );
    assert_eq!(
        api.delete(&format!("/sobjects/Account/{id}"))
            .await
            .error_code(),
        "ENTITY_IS_DELETED"
    );

    let never = api
        .get(&format!(
            "/sobjects/Account/{}",
            RecordId::generate("001", 999_999)
        ))
        .await;
    assert_eq!(never.status, StatusCode::NOT_FOUND);
    assert_eq!(
        never.json,
        json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}])
    );
    let contact_id = RecordId::generate("003", 1);
    let wrong_object = api.get(&format!("/sobjects/Account/{contact_id}")).await;
    assert_eq!(wrong_object.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong_object.json,
        json!([{"message": format!("Account ID: id value of incorrect type: {contact_id}"), "errorCode": "MALFORMED_ID", "fields": ["Id"]}])
    );
    assert_eq!(
        api.get("/sobjects/Nope__c/001000000000000")
            .await
            .error_code(),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn post_to_id_creates_from_37() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let created = api
        .post("/sobjects/Account/Id", json!({"Name": "Via Id"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let old = api
        .call_version(
            "36.0",
            Method::POST,
            "/sobjects/Account/Id",
            Some(json!({"Name": "Too old"})),
        )
        .await;
    assert_eq!(old.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn upsert_status_codes_depend_on_the_api_version() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let body = json!({"Name": "Up", "Status__c": "Open"});
    let created = api
        .patch("/sobjects/Widget__c/Ext_Id__c/W-1", body.clone())
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json["id"].as_str().expect("id").to_string();
    assert_eq!(
        created.json,
        json!({"id": id, "success": true, "errors": [], "created": true})
    );
    let updated = api
        .patch("/sobjects/Widget__c/Ext_Id__c/w-1", json!({"Name": "Up 2"}))
        .await;
    assert_eq!(
        updated.status,
        StatusCode::OK,
        "external ids match case-insensitively"
    );
    assert_eq!(
        updated.json,
        json!({"id": id, "success": true, "errors": [], "created": false})
    );

    let old_created = api
        .call_version(
            "45.0",
            Method::PATCH,
            "/sobjects/Widget__c/Ext_Id__c/W-2",
            Some(body.clone()),
        )
        .await;
    assert_eq!(old_created.status, StatusCode::CREATED);
    assert!(old_created.json.get("created").is_none());
    let old_updated = api
        .call_version(
            "45.0",
            Method::PATCH,
            "/sobjects/Widget__c/Ext_Id__c/W-2",
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(old_updated.status, StatusCode::NO_CONTENT);

    // Legacy_Key__c is an external id that is not unique: two matches give 300 with the record URLs.
    let a = api
        .create(
            "Widget__c",
            json!({"Name": "A", "Legacy_Key__c": "L-1", "Status__c": "Open"}),
        )
        .await;
    let b = api
        .create(
            "Widget__c",
            json!({"Name": "B", "Legacy_Key__c": "L-1", "Status__c": "Open"}),
        )
        .await;
    let several = api
        .patch(
            "/sobjects/Widget__c/Legacy_Key__c/L-1",
            json!({"Name": "C"}),
        )
        .await;
    assert_eq!(several.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        several.json,
        json!([
            format!("/services/data/v62.0/sobjects/Widget__c/{a}"),
            format!("/services/data/v62.0/sobjects/Widget__c/{b}")
        ])
    );

    let not_external = api
        .patch("/sobjects/Widget__c/Notes__c/x", json!({"Name": "C"}))
        .await;
    assert_eq!(not_external.status, StatusCode::NOT_FOUND);
    assert_eq!(not_external.error_code(), "NOT_FOUND");

    let by_id = api
        .patch(
            &format!("/sobjects/Widget__c/Id/{id}"),
            json!({"Name": "By Id"}),
        )
        .await;
    assert_eq!(by_id.status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/sobjects/Widget__c/{id}")).await.json["Name"],
        "By Id"
    );
    let read_by_key = api.get("/sobjects/Widget__c/Ext_Id__c/W-1").await;
    assert_eq!(read_by_key.json["Id"], id.as_str());
    let update_only = api
        .call(
            Method::PATCH,
            "/sobjects/Widget__c/Ext_Id__c/W-404?updateOnly=true",
            Some(json!({"Name": "n"})),
        )
        .await;
    assert_eq!(update_only.error_code(), "NOT_FOUND");
}

#[tokio::test]
async fn every_field_type_round_trips_exactly() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let account = api.create("Account", json!({"Name": "Parent"})).await;
    let body: Json = serde_json::from_str(&format!(
        r#"{{"Name": "All types", "Ext_Id__c": "T-1", "Code__c": "Ab1", "Notes__c": "short",
            "Long_Notes__c": "{long}", "Contact_Email__c": "a.b@example.com", "Phone__c": "+1 415 555 0100",
            "Site__c": "https://example.com/x", "Color__c": "Red", "Size__c": "XL", "Tags__c": "b;a;b",
            "Shape__c": "Square", "Active__c": true, "Quantity__c": 123456, "Ratio__c": 0.1234,
            "Price__c": 12345678901234.56, "Discount__c": 12.5, "Ship_Date__c": "2024-01-31",
            "Shipped_At__c": "2024-01-31T10:20:30+02:00", "Ship_Time__c": "13:30:00.000Z",
            "Account__c": "{account}", "Status__c": "Open"}}"#,
        long = "x".repeat(20_000),
    ))
    .expect("body");
    let id = api.create("Widget__c", body).await;
    let record = api.get(&format!("/sobjects/Widget__c/{id}")).await.json;
    assert_eq!(record["Price__c"].to_string(), "12345678901234.56");
    assert_eq!(record["Ratio__c"].to_string(), "0.1234");
    assert_eq!(record["Discount__c"].to_string(), "12.50");
    assert_eq!(record["Quantity__c"].to_string(), "123456");
    assert_eq!(record["Tags__c"], "b;a");
    assert_eq!(
        record["Size__c"], "XL",
        "unrestricted picklists take any value"
    );
    assert_eq!(record["Ship_Date__c"], "2024-01-31");
    assert_eq!(record["Shipped_At__c"], "2024-01-31T08:20:30.000+0000");
    assert_eq!(record["Ship_Time__c"], "13:30:00.000Z");
    assert_eq!(record["Active__c"], true);
    assert_eq!(record["Account__c"], account.as_str());
    assert_eq!(record["Long_Notes__c"].as_str().map(str::len), Some(20_000));
    let defaulted = api.create("Widget__c", widget("T-2")).await;
    let defaulted = api
        .get(&format!("/sobjects/Widget__c/{defaulted}"))
        .await
        .json;
    assert_eq!(
        defaulted["Color__c"], "Green",
        "picklist default applied on create"
    );
    assert_eq!(defaulted["Active__c"], false, "booleans default to false");
}

#[tokio::test]
async fn describe_shapes() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let global = api.get("/sobjects/").await.json;
    assert_eq!(global["encoding"], "UTF-8");
    assert_eq!(global["maxBatchSize"], 200);
    let account = global["sobjects"]
        .as_array()
        .expect("sobjects")
        .iter()
        .find(|o| o["name"] == "Account")
        .expect("Account")
        .clone();
    for key in [
        "name",
        "label",
        "keyPrefix",
        "labelPlural",
        "custom",
        "layoutable",
        "activateable",
        "urls",
        "searchable",
        "updateable",
        "createable",
        "deprecatedAndHidden",
        "customSetting",
        "deletable",
        "feedEnabled",
        "mergeable",
        "queryable",
        "replicateable",
        "retrieveable",
        "undeletable",
        "triggerable",
    ] {
        assert!(
            account.get(key).is_some(),
            "global describe entry lacks {key}"
        );
    }
    assert_eq!(
        account["urls"]["rowTemplate"],
        "/services/data/v62.0/sobjects/Account/{ID}"
    );
    let widget_entry = global["sobjects"]
        .as_array()
        .expect("sobjects")
        .iter()
        .find(|o| o["name"] == "Widget__c")
        .expect("Widget");
    assert!(widget_entry["keyPrefix"]
        .as_str()
        .expect("prefix")
        .starts_with("a0"));
    assert_eq!(widget_entry["custom"], true);

    let describe = api.get("/sobjects/account/describe").await.json;
    assert_eq!(describe["name"], "Account");
    assert_eq!(describe["keyPrefix"], "001");
    let reference_keys: Vec<&str> = vec![
        "aggregatable",
        "autoNumber",
        "byteLength",
        "calculated",
        "calculatedFormula",
        "cascadeDelete",
        "caseSensitive",
        "compoundFieldName",
        "controllerName",
        "createable",
        "custom",
        "defaultValue",
        "defaultValueFormula",
        "defaultedOnCreate",
        "dependentPicklist",
        "deprecatedAndHidden",
        "digits",
        "displayLocationInDecimal",
        "encrypted",
        "externalId",
        "extraTypeInfo",
        "filterable",
        "filteredLookupInfo",
        "groupable",
        "highScaleNumber",
        "htmlFormatted",
        "idLookup",
        "inlineHelpText",
        "label",
        "length",
        "mask",
        "maskType",
        "name",
        "nameField",
        "namePointing",
        "nillable",
        "permissionable",
        "picklistValues",
        "precision",
        "queryByDistance",
        "referenceTargetField",
        "referenceTo",
        "relationshipName",
        "relationshipOrder",
        "restrictedDelete",
        "restrictedPicklist",
        "scale",
        "soapType",
        "sortable",
        "type",
        "unique",
        "updateable",
        "writeRequiresMasterRead",
    ];
    let fields = describe["fields"].as_array().expect("fields");
    for field in fields {
        let keys: Vec<&str> = field
            .as_object()
            .expect("field")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, reference_keys, "field {}", field["name"]);
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .expect(name)
            .clone()
    };
    assert_eq!(field("Name")["nillable"], false);
    assert_eq!(field("Name")["length"], 255);
    assert_eq!(field("BillingCity")["compoundFieldName"], "BillingAddress");
    assert_eq!(field("BillingAddress")["type"], "address");
    assert_eq!(field("BillingAddress")["createable"], false);
    assert_eq!(field("AnnualRevenue")["type"], "currency");
    assert_eq!(field("AnnualRevenue")["soapType"], "xsd:double");
    assert_eq!(field("OwnerId")["relationshipName"], "Owner");
    assert_eq!(field("Id")["soapType"], "tns:ID");
    assert_eq!(field("Description")["length"], 32000);
    assert!(describe["childRelationships"]
        .as_array()
        .expect("children")
        .iter()
        .any(|c| c["childSObject"] == "Contact" && c["relationshipName"] == "Contacts"));

    let user = api.get("/sobjects/User/describe").await.json;
    assert!(!user["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .any(|f| f["name"] == "IsDeleted"));
    let lead = api.get("/sobjects/Lead/describe").await.json;
    let status = lead["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Status")
        .expect("Status")
        .clone();
    assert_eq!(status["defaultedOnCreate"], true);
    assert_eq!(status["nillable"], false);
    // If-Modified-Since: 304 when nothing changed since, the full answer after a schema change.
    let global_url = format!("{}/services/data/v62.0/sobjects", api.base);
    let since =
        |at: chrono::DateTime<chrono::Utc>| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let later = since(chrono::Utc::now() + chrono::Duration::seconds(5));
    let earlier = since(chrono::Utc::now() - chrono::Duration::days(1));
    let status = |when: String| {
        let request = api
            .http
            .get(&global_url)
            .bearer_auth(&api.token)
            .header("If-Modified-Since", when);
        async move { request.send().await.expect("sent").status() }
    };
    assert_eq!(status(later.clone()).await, StatusCode::NOT_MODIFIED);
    assert_eq!(status(earlier).await, StatusCode::OK);
    assert_eq!(
        status("Mon, 30 Nov 2020 08:34:54 MST".into()).await,
        StatusCode::OK
    );

    let basic = api.get("/sobjects/Contact").await.json;
    assert_eq!(basic["objectDescribe"]["keyPrefix"], "003");
}

#[tokio::test]
async fn relationship_by_external_id_in_a_write_body() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let widget_id = api.create("Widget__c", widget("W-9")).await;
    let gadget = api
        .create(
            "Gadget__c",
            json!({"Name": "G", "Widget__r": {"Ext_Id__c": "W-9"}}),
        )
        .await;
    assert_eq!(
        api.get(&format!("/sobjects/Gadget__c/{gadget}")).await.json["Widget__c"],
        widget_id.as_str()
    );
    let missing = api
        .post(
            "/sobjects/Gadget__c",
            json!({"Name": "G", "Widget__r": {"Ext_Id__c": "W-404"}}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error_code(), "INVALID_FIELD");
    assert_eq!(
        missing.json[0]["message"],
        "Foreign key external ID: W-404 not found for field Ext_Id__c in entity Widget__c"
    );
    let contact = api
        .create("Contact", json!({"LastName": "Doe", "FirstName": "Jane"}))
        .await;
    let contact = api.get(&format!("/sobjects/Contact/{contact}")).await.json;
    assert_eq!(contact["Name"], "Jane Doe", "full name is derived");
}
