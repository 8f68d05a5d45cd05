//! Fresh formula and roll-up fields end to end: values Salesforce computes from other records change
//! there without their own record's `SystemModstamp` moving (the emulator computes them as Salesforce
//! does), and the sidecar keeps them fresh in Postgres: a Contact formula over a mapped Account and
//! one over an unmapped parent object, with polling (and a queued local change on the same row
//! surviving), a formula on `TODAY()` on its schedule, and `Invoice__c` roll-ups (SUM and COUNT of
//! `Invoice_Line__c`) and a cross-object formula with CDC. `status()` lists the fields and what
//! keeping them fresh cost.

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{Sidecar, World};

/// A text formula, as a describe shows one.
fn formula(name: &str, formula: &str) -> Value {
    json!({"name": name, "type": "string", "length": 255, "calculated": true, "calculatedFormula": formula})
}

async fn add_field(world: &World, object: &str, spec: Value) {
    world
        .emulator
        .admin(
            Method::POST,
            &format!("objects/{object}/fields"),
            Some(spec),
        )
        .await;
}

/// `Region__c` (never mapped) and, on Contact, a lookup to it and formulas over Account, the region
/// and the clock.
async fn contact_formulas(world: &World) {
    world
        .define_object(json!({"name": "Region__c", "fields": [{"name": "Code__c", "type": "string", "length": 10}]}))
        .await;
    add_field(
        world,
        "Contact",
        json!({"name": "Region__c", "type": "reference", "referenceTo": ["Region__c"], "relationshipName": "Region__r"}),
    )
    .await;
    add_field(
        world,
        "Contact",
        formula("Account_Industry__c", "Account.Industry"),
    )
    .await;
    add_field(
        world,
        "Contact",
        formula(
            "Region_Label__c",
            "Region__r.Name & ' (' & Region__r.Code__c & ')'",
        ),
    )
    .await;
    add_field(
        world,
        "Contact",
        json!({"name": "Days_Since_Birth__c", "type": "double", "precision": 18, "scale": 0,
               "calculated": true, "calculatedFormula": "TODAY() - Birthdate"}),
    )
    .await;
}

/// The contact's computed columns: industry, region label, days since birth.
async fn contact_values(world: &World, id: &str) -> (Option<String>, Option<String>, Option<i64>) {
    let row = world
        .sql
        .query_one(
            "SELECT account_industry__c, region_label__c, days_since_birth__c::int8 FROM salesforce.contact WHERE sfid = $1",
            &[&id],
        )
        .await
        .expect("the contact's row");
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until the contact's computed columns are `wanted`.
async fn wait_contact(world: &World, id: &str, wanted: (Option<&str>, Option<&str>, Option<i64>)) {
    world
        .until(&format!("contact {id} to show {wanted:?}"), || async {
            let (industry, region, days) = contact_values(world, id).await;
            (industry.as_deref(), region.as_deref(), days) == wanted
        })
        .await;
}

/// Moves the org's clock a minute on and has another user create a marker record of each of
/// `objects`: the high-water marks move past the records made so far, so no poll's re-read window
/// reads them again and only the refresh can bring their computed values.
async fn move_past(world: &World, objects: &[(&str, Value)]) {
    world
        .emulator
        .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 60})))
        .await;
    for (object, marker) in objects {
        world.create(object, json!([marker])).await;
    }
}

/// The org's current value of a contact's days since birth (the org clock decides `TODAY()`).
async fn org_days(world: &World, id: &str) -> i64 {
    let records = world
        .emulator
        .query(&format!(
            "SELECT Days_Since_Birth__c FROM Contact WHERE Id = '{id}'"
        ))
        .await;
    records[0]["Days_Since_Birth__c"]
        .as_f64()
        .expect("a number") as i64
}

/// The emulator's `SystemModstamp` of a record.
async fn org_stamp(world: &World, object: &str, id: &str) -> String {
    let records = world
        .emulator
        .query(&format!(
            "SELECT SystemModstamp FROM {object} WHERE Id = '{id}'"
        ))
        .await;
    records[0]["SystemModstamp"]
        .as_str()
        .expect("a stamp")
        .to_string()
}

#[tokio::test]
async fn formulas_over_mapped_and_unmapped_parents_stay_fresh_with_polling() {
    let world = World::reader().start().await;
    contact_formulas(&world).await;
    let account = world
        .create("Account", json!([{"Name": "Acme", "Industry": "Energy"}]))
        .await
        .remove(0);
    let region = world
        .create("Region__c", json!([{"Name": "North", "Code__c": "N"}]))
        .await
        .remove(0);
    let contacts = world
        .create(
            "Contact",
            json!([
                {"LastName": "One", "AccountId": account, "Region__c": region, "Birthdate": "2000-01-01"},
                {"LastName": "Two", "AccountId": account, "Region__c": region, "Birthdate": "2000-01-01"}
            ]),
        )
        .await;
    move_past(&world, &[("Contact", json!({"LastName": "Marker"}))]).await;
    let sidecar = world.sidecar();
    world
        .map(
            "Account",
            &["Name", "Industry"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world
        .map(
            "Contact",
            &[
                "LastName",
                "Birthdate",
                "AccountId",
                "Region__c",
                "Account_Industry__c",
                "Region_Label__c",
                "Days_Since_Birth__c",
            ],
            "read_write",
            json!({"poll_seconds": 1, "formula_refresh_seconds": 60}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    world.wait_state("Contact", "SYNCED").await;
    let (industry, region_label, days) = contact_values(&world, &contacts[0]).await;
    assert_eq!(
        (industry.as_deref(), region_label.as_deref()),
        (Some("Energy"), Some("North (N)"))
    );
    let days = days.expect("days since birth");

    // what the sidecar learned, in status()
    world
        .until("status() to list the dependent fields", || async {
            world
                .text("SELECT dependent_fields::text FROM sfsync.status() WHERE object_name = 'Contact'")
                .await
                .is_some_and(|text| text.contains("Region_Label__c"))
        })
        .await;
    let fields: Value = serde_json::from_str(
        &world
            .text(
                "SELECT dependent_fields::text FROM sfsync.status() WHERE object_name = 'Contact'",
            )
            .await
            .expect("dependent fields"),
    )
    .expect("json");
    let by_name = |name: &str| -> Value {
        fields
            .as_array()
            .expect("an array")
            .iter()
            .find(|field| field["field"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {fields}"))
    };
    assert_eq!(
        by_name("Account_Industry__c")["objects"],
        json!(["Account"])
    );
    assert_eq!(by_name("Region_Label__c")["objects"], json!(["Region__c"]));
    assert_eq!(
        by_name("Region_Label__c")["reads"],
        json!(["Region__r.Code__c", "Region__r.Name"])
    );
    assert_eq!(by_name("Days_Since_Birth__c")["volatile"], json!(true));

    // a local change to the first contact, held in the queue while Salesforce refuses writes
    world
        .fault(json!({"path": "/services/data/v62.0/composite", "status": 503}))
        .await;
    world.fault(json!({"path": "/services/data/v62.0/sobjects/Contact", "method": "PATCH", "status": 503})).await;
    world
        .sql
        .execute(
            "UPDATE salesforce.contact SET lastname = 'Changed here' WHERE sfid = $1",
            &[&contacts[0]],
        )
        .await
        .expect("local change");
    let stamp_before = org_stamp(&world, "Contact", &contacts[1]).await;

    // another user changes both parents
    world
        .update("Account", json!([{"Id": account, "Industry": "Banking"}]))
        .await;
    world
        .update(
            "Region__c",
            json!([{"Id": region, "Name": "South", "Code__c": "S"}]),
        )
        .await;
    for contact in &contacts {
        wait_contact(
            &world,
            contact,
            (Some("Banking"), Some("South (S)"), Some(days)),
        )
        .await;
    }
    assert_eq!(
        org_stamp(&world, "Contact", &contacts[1]).await,
        stamp_before,
        "the contacts themselves did not change in Salesforce"
    );
    assert_eq!(
        world
            .text(&format!(
                "SELECT lastname FROM salesforce.contact WHERE sfid = '{}'",
                contacts[0]
            ))
            .await
            .as_deref(),
        Some("Changed here"),
        "the refresh left the local change alone"
    );
    assert_eq!(
        world
            .scalar(
                "SELECT count(*) FROM sfsync.change WHERE \"values\"->>'lastname' = 'Changed here'"
            )
            .await,
        1,
        "the local change is still queued"
    );

    // the queued change still lands once Salesforce takes writes again
    world.emulator.admin(Method::DELETE, "faults", None).await;
    world.drained("the local change to land").await;
    let records = world
        .emulator
        .query(&format!(
            "SELECT LastName FROM Contact WHERE Id = '{}'",
            contacts[0]
        ))
        .await;
    assert_eq!(records[0]["LastName"], "Changed here");

    // TODAY(): two days later in the org, re-read on the formula_refresh_seconds schedule
    world
        .emulator
        .admin(
            Method::POST,
            "clock",
            Some(json!({"advanceSeconds": 2 * 86_400})),
        )
        .await;
    let later = org_days(&world, &contacts[1]).await;
    assert!(
        later >= days + 2,
        "the org's TODAY() moved on: {days} → {later}"
    );
    wait_contact(
        &world,
        &contacts[1],
        (Some("Banking"), Some("South (S)"), Some(later)),
    )
    .await;

    let calls = world
        .scalar("SELECT formula_api_calls FROM sfsync.status() WHERE object_name = 'Contact'")
        .await;
    assert!(calls > 0, "the refresh's calls are counted apart");
    let account_calls = world
        .scalar("SELECT formula_api_calls FROM sfsync.status() WHERE object_name = 'Account'")
        .await;
    assert_eq!(account_calls, 0, "Account has no dependent fields");
    let output = Sidecar::command(&world.env, "status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "status failed: {stdout}");
    assert!(
        stdout.contains(
            "computed from other records, kept fresh: Account_Industry__c (Account.Industry)"
        ) && stdout.contains("API calls so far"),
        "{stdout}"
    );
    drop(sidecar);
}

#[tokio::test]
async fn rollups_and_formulas_stay_fresh_with_cdc() {
    let world = World::reader().start().await;
    world
        .define_object(json!({"name": "Invoice__c", "fields": [{"name": "Note__c", "type": "string", "length": 40}]}))
        .await;
    world
        .define_object(json!({"name": "Invoice_Line__c", "fields": [
            {"name": "Invoice__c", "type": "reference", "referenceTo": ["Invoice__c"],
             "relationshipOrder": 0, "cascadeDelete": true},
            {"name": "Amount__c", "type": "currency", "precision": 16, "scale": 2}
        ]}))
        .await;
    add_field(
        &world,
        "Invoice__c",
        json!({"name": "Total__c", "type": "currency", "precision": 18, "scale": 2,
               "rollup": {"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                          "operation": "SUM", "field": "Amount__c"}}),
    )
    .await;
    add_field(
        &world,
        "Invoice__c",
        json!({"name": "Lines__c", "type": "double", "precision": 18, "scale": 0,
               "rollup": {"childObject": "Invoice_Line__c", "relationshipField": "Invoice__c",
                          "operation": "COUNT"}}),
    )
    .await;
    add_field(
        &world,
        "Contact",
        formula("Account_Industry__c", "Account.Industry"),
    )
    .await;
    let invoices = world
        .create("Invoice__c", json!([{"Name": "A"}, {"Name": "B"}]))
        .await;
    let account = world
        .create("Account", json!([{"Name": "Acme", "Industry": "Energy"}]))
        .await
        .remove(0);
    let contact = world
        .create(
            "Contact",
            json!([{"LastName": "One", "AccountId": account}]),
        )
        .await
        .remove(0);
    move_past(
        &world,
        &[
            ("Invoice__c", json!({"Name": "Marker"})),
            ("Contact", json!({"LastName": "Marker"})),
        ],
    )
    .await;
    let sidecar = world.sidecar();
    let streaming = json!({"streaming": true, "poll_seconds": 2});
    world
        .map(
            "Invoice__c",
            &["Name", "Total__c", "Lines__c"],
            "read_only",
            streaming.clone(),
        )
        .await;
    world
        .map(
            "Account",
            &["Name", "Industry"],
            "read_only",
            streaming.clone(),
        )
        .await;
    world
        .map(
            "Contact",
            &["LastName", "AccountId", "Account_Industry__c"],
            "read_only",
            streaming,
        )
        .await;
    for object in ["Invoice__c", "Account", "Contact"] {
        world.wait_state(object, "SYNCED").await;
    }
    let totals = |id: String| {
        let world = &world;
        async move {
            world
                .text(&format!(
                    "SELECT total__c::text || ' ' || lines__c::int8 FROM salesforce.invoice__c WHERE sfid = '{id}'"
                ))
                .await
        }
    };
    let wait_totals = |id: String, wanted: &'static str| {
        let world = &world;
        async move {
            world
                .until(&format!("invoice {id} to total {wanted}"), || async {
                    totals(id.clone()).await.as_deref() == Some(wanted)
                })
                .await
        }
    };
    wait_totals(invoices[0].clone(), "0.00 0").await;

    // lines added, changed, moved and deleted in Salesforce by another user
    let lines = world
        .create(
            "Invoice_Line__c",
            json!([
                {"Name": "l1", "Invoice__c": invoices[0], "Amount__c": 40.5},
                {"Name": "l2", "Invoice__c": invoices[0], "Amount__c": 10},
                {"Name": "l3", "Invoice__c": invoices[1], "Amount__c": 7}
            ]),
        )
        .await;
    wait_totals(invoices[0].clone(), "50.50 2").await;
    wait_totals(invoices[1].clone(), "7.00 1").await;
    world
        .update(
            "Invoice_Line__c",
            json!([{"Id": lines[1], "Amount__c": 20}]),
        )
        .await;
    wait_totals(invoices[0].clone(), "60.50 2").await;
    world.delete("Invoice_Line__c", &[lines[0].clone()]).await;
    wait_totals(invoices[0].clone(), "20.00 1").await;

    // a parent changed: the contact's formula follows within seconds
    world
        .update("Account", json!([{"Id": account, "Industry": "Banking"}]))
        .await;
    world
        .wait_text(
            &format!("SELECT account_industry__c FROM salesforce.contact WHERE sfid = '{contact}'"),
            Some("Banking"),
        )
        .await;

    let invoice_calls = world
        .scalar("SELECT formula_api_calls FROM sfsync.status() WHERE object_name = 'Invoice__c'")
        .await;
    assert!(invoice_calls > 0, "roll-up refreshes are counted");
    let fields = world
        .text("SELECT dependent_fields::text FROM sfsync.status() WHERE object_name = 'Invoice__c'")
        .await
        .expect("dependent fields");
    assert!(
        fields.contains("\"rollup\"") && fields.contains("Invoice_Line__c.Amount__c"),
        "{fields}"
    );
    drop(sidecar);
}
