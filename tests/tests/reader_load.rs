//! The reader's control loop and initial loads, end to end: a mapping created in SQL is described,
//! installed and loaded by a real sidecar from the emulator, with exact values and types, through
//! REST below the Bulk threshold and through a Bulk API 2.0 query above it.

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{assert_same_rows, World};

/// A custom object with one field of every mappable type.
fn gizmo() -> Value {
    json!({
        "name": "Gizmo__c",
        "label": "Gizmo",
        "fields": [
            {"name": "Ext_Id__c", "type": "string", "length": 40, "externalId": true, "unique": true},
            {"name": "Notes__c", "type": "textarea", "length": 255},
            {"name": "Long_Notes__c", "type": "textarea", "length": 32768},
            {"name": "Contact_Email__c", "type": "email"},
            {"name": "Phone__c", "type": "phone"},
            {"name": "Site__c", "type": "url"},
            {"name": "Color__c", "type": "picklist", "picklistValues": [{"value": "Red"}, {"value": "Green"}]},
            {"name": "Tags__c", "type": "multipicklist", "picklistValues": [{"value": "a"}, {"value": "b"}, {"value": "c"}]},
            {"name": "Active__c", "type": "boolean"},
            {"name": "Quantity__c", "type": "int", "digits": 6},
            {"name": "Ratio__c", "type": "double", "precision": 18, "scale": 4},
            {"name": "Price__c", "type": "currency", "precision": 16, "scale": 2},
            {"name": "Discount__c", "type": "percent", "precision": 5, "scale": 2},
            {"name": "Ship_Date__c", "type": "date"},
            {"name": "Shipped_At__c", "type": "datetime"},
            {"name": "Ship_Time__c", "type": "time"},
            {"name": "Account__c", "type": "reference", "referenceTo": ["Account"], "relationshipName": "Account__r"}
        ]
    })
}

const GIZMO_COLUMNS: &[(&str, &str, &str)] = &[
    ("name", "Name", "string"),
    ("ext_id__c", "Ext_Id__c", "string"),
    ("notes__c", "Notes__c", "textarea"),
    ("long_notes__c", "Long_Notes__c", "textarea"),
    ("contact_email__c", "Contact_Email__c", "email"),
    ("phone__c", "Phone__c", "phone"),
    ("site__c", "Site__c", "url"),
    ("color__c", "Color__c", "picklist"),
    ("tags__c", "Tags__c", "multipicklist"),
    ("active__c", "Active__c", "boolean"),
    ("quantity__c", "Quantity__c", "int"),
    ("ratio__c", "Ratio__c", "double"),
    ("price__c", "Price__c", "currency"),
    ("discount__c", "Discount__c", "percent"),
    ("ship_date__c", "Ship_Date__c", "date"),
    ("shipped_at__c", "Shipped_At__c", "datetime"),
    ("ship_time__c", "Ship_Time__c", "time"),
    ("account__c", "Account__c", "reference"),
    ("account__r__ext_id__c", "Account__r.Ext_Id__c", "string"),
    ("systemmodstamp", "SystemModstamp", "datetime"),
];

#[tokio::test]
async fn a_new_mapping_is_described_installed_and_loaded_with_exact_values() {
    let world = World::reader().start().await;
    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Ext_Id__c", "type": "string", "length": 20, "externalId": true, "unique": true})),
        )
        .await;
    world.define_object(gizmo()).await;
    let accounts = world
        .create(
            "Account",
            json!([{"Name": "Acme", "Ext_Id__c": "A-1"}, {"Name": "Globex", "Ext_Id__c": "A-2"}]),
        )
        .await;
    let mut gizmos = Vec::new();
    for n in 0..30 {
        gizmos.push(json!({
            "Name": format!("Gizmo {n} — ünïcödé, \"quoted\", comma"),
            "Ext_Id__c": format!("G-{n}"),
            "Notes__c": if n % 3 == 0 { Value::Null } else { json!(format!("line one\nline two {n}")) },
            "Long_Notes__c": "x".repeat(300 + n),
            "Contact_Email__c": format!("g{n}@example.com"),
            "Phone__c": "+1 415 555 0100",
            "Site__c": "https://example.com/a?b=c",
            "Color__c": if n % 2 == 0 { "Red" } else { "Green" },
            "Tags__c": "a;c",
            "Active__c": n % 2 == 0,
            "Quantity__c": n * 1000,
            "Ratio__c": 1234567.0625,
            "Price__c": 12345678901234.99,
            "Discount__c": 12.5,
            "Ship_Date__c": "2024-02-29",
            "Shipped_At__c": format!("2024-01-31T13:51:{:02}.250Z", n),
            "Ship_Time__c": "13:30:00.000Z",
            "Account__c": accounts[n % 2],
        }));
    }
    world.create("Gizmo__c", Value::Array(gizmos)).await;

    let mut sidecar = world.sidecar();
    let fields: Vec<&str> = GIZMO_COLUMNS
        .iter()
        .map(|(_, field, _)| *field)
        .filter(|field| *field != "SystemModstamp")
        .collect();
    world
        .map("Gizmo__c", &fields, "read_only", json!({"poll_seconds": 1}))
        .await;
    world.wait_state("Gizmo__c", "SYNCED").await;

    let soql = format!(
        "SELECT Id, IsDeleted, {} FROM Gizmo__c",
        GIZMO_COLUMNS
            .iter()
            .map(|(_, f, _)| *f)
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(
        assert_same_rows(&world, "salesforce.gizmo__c", &soql, GIZMO_COLUMNS).await,
        30
    );
    // exact types, as the type map (README, *Concepts*) maps them
    let types = world
        .text(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name) FROM information_schema.columns
              WHERE table_schema = 'salesforce' AND table_name = 'gizmo__c'
                AND column_name IN ('price__c', 'shipped_at__c', 'long_notes__c', 'active__c', 'quantity__c', 'ship_time__c')",
        )
        .await;
    assert_eq!(
        types.as_deref(),
        Some("active__c boolean, long_notes__c text, price__c numeric, quantity__c integer, ship_time__c time without time zone, shipped_at__c timestamp without time zone")
    );
    let status = world
        .text("SELECT state || ' ' || rows FROM sfsync.status() WHERE object_name = 'Gizmo__c'")
        .await;
    assert_eq!(status.as_deref(), Some("SYNCED 30"));
    assert_eq!(
        world
            .text("SELECT load_done::text FROM sfsync.mapping WHERE object_name = 'Gizmo__c'")
            .await
            .as_deref(),
        Some("30")
    );
    assert!(sidecar.is_running());
}

#[tokio::test]
async fn an_unknown_field_puts_the_mapping_in_error_with_a_precise_detail() {
    let world = World::reader().start().await;
    let _sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name", "No_Such_Field__c"],
            "read_only",
            json!({}),
        )
        .await;
    world.wait_state("Account", "ERROR").await;
    let (_, detail) = world.state("Account").await;
    let detail = detail.expect("a detail");
    assert!(detail.starts_with("describe failed"), "{detail}");
    assert!(detail.contains("No_Such_Field__c"), "{detail}");
}

#[tokio::test]
async fn fifty_thousand_accounts_with_contacts_load_through_bulk() {
    let world = World::reader().start().await;
    world
        .emulator
        .admin(
            Method::POST,
            "objects/Account/fields",
            Some(json!({"name": "Ext_Id__c", "type": "string", "length": 20, "externalId": true, "unique": true})),
        )
        .await;
    world
        .emulator
        .admin(Method::POST, "seed", Some(json!({"object": "Account", "count": 50_000, "fields": {"Industry": "Banking", "AnnualRevenue": 1250000.5}})))
        .await;
    world
        .emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Contact", "count": 50_000, "parent": {"field": "AccountId"}})),
        )
        .await;

    let _sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name", "Phone", "Industry", "AnnualRevenue", "Ext_Id__c"],
            "read_only",
            json!({}),
        )
        .await;
    world
        .map(
            "Contact",
            &[
                "FirstName",
                "LastName",
                "Email",
                "AccountId",
                "Account.Ext_Id__c",
            ],
            "read_only",
            json!({}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    world.wait_state("Contact", "SYNCED").await;

    let account_columns = [
        ("name", "Name", "string"),
        ("phone", "Phone", "phone"),
        ("industry", "Industry", "picklist"),
        ("annualrevenue", "AnnualRevenue", "currency"),
        ("ext_id__c", "Ext_Id__c", "string"),
        ("systemmodstamp", "SystemModstamp", "datetime"),
        ("isdeleted", "IsDeleted", "boolean"),
    ];
    let compared = assert_same_rows(
        &world,
        "salesforce.account",
        "SELECT Id, IsDeleted, SystemModstamp, Name, Phone, Industry, AnnualRevenue, Ext_Id__c FROM Account",
        &account_columns,
    )
    .await;
    assert_eq!(compared, 50_000);
    let contact_columns = [
        ("firstname", "FirstName", "string"),
        ("lastname", "LastName", "string"),
        ("email", "Email", "email"),
        ("accountid", "AccountId", "reference"),
        ("account__ext_id__c", "Account.Ext_Id__c", "string"),
    ];
    let compared = assert_same_rows(
        &world,
        "salesforce.contact",
        "SELECT Id, IsDeleted, FirstName, LastName, Email, AccountId, Account.Ext_Id__c FROM Contact",
        &contact_columns,
    )
    .await;
    assert_eq!(compared, 50_000);

    // above the threshold the load went through Bulk API 2.0 query jobs
    let calls = world.api_calls().await;
    let bulk_jobs: u64 = calls
        .iter()
        .filter(|(route, _)| route.starts_with("POST") && route.contains("jobs/query"))
        .map(|(_, count)| *count)
        .sum();
    assert_eq!(bulk_jobs, 2, "one query job per mapping: {calls:?}");
    assert_eq!(
        world.text("SELECT load_expected || '/' || load_done FROM sfsync.mapping WHERE object_name = 'Contact'").await.as_deref(),
        Some("50000/50000")
    );
}

#[tokio::test]
async fn a_load_the_bulk_api_refuses_is_read_through_rest() {
    let world = World::reader()
        .env("SFSYNC_LOAD_BULK_THRESHOLD", "100")
        .start()
        .await;
    world
        .emulator
        .admin(
            Method::POST,
            "seed",
            Some(json!({"object": "Account", "count": 250})),
        )
        .await;
    world
        .emulator
        .admin(
            Method::POST,
            "faults",
            Some(
                json!({"path": "/services/data/v62.0/jobs/query", "method": "POST", "status": 400,
                        "errorCode": "INVALIDJOB", "message": "refused by the test"}),
            ),
        )
        .await;
    let _sidecar = world
        .synced("Account", &["Name"], "read_only", json!({}))
        .await;
    assert_eq!(world.count("salesforce.account", "true").await, 250);
    let calls = world.api_calls().await;
    let rest_pages: u64 = calls
        .iter()
        .filter(|(route, _)| route.starts_with("GET") && route.contains("queryAll"))
        .map(|(_, count)| *count)
        .sum();
    assert!(rest_pages >= 1, "read through REST: {calls:?}");
}
