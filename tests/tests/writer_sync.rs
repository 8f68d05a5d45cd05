//! The writer end to end: inserts, updates and deletes made in Postgres reach the emulator exactly
//! (checked through its REST API), parents and children inserted together by external id, values in
//! Salesforce's forms, and the rows and the queue end in the states the README documents.

use serde_json::{json, Value};
use sfsync_tests::eventually;
use sfsync_tests::metric;
use sfsync_tests::{free_port, metrics, World, WAIT};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn inserts_updates_deletes_and_children_by_external_id_land_exactly() {
    let world = World::writer().start().await;
    world.map_accounts_and_contacts().await;

    // Before any sidecar runs: an insert deleted again (never sent), and a parent with its children
    // in one transaction, children referring to the parent only by its external id.
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Short-lived', 'A-GONE');
             DELETE FROM salesforce.account WHERE ext_id__c = 'A-GONE';
             BEGIN;
             INSERT INTO salesforce.contact (lastname, account__ext_id__c, ext_id__c, birthdate)
                  VALUES ('Early child', 'A-1', 'C-0', '1990-02-03');
             INSERT INTO salesforce.account (name, industry, annualrevenue, numberofemployees, ext_id__c)
                  VALUES ('Acme', 'Banking', 123456789012345, 42, 'A-1'), ('Globex', 'Energy', 10, 7, 'A-2');
             INSERT INTO salesforce.contact (firstname, lastname, email, account__ext_id__c, ext_id__c)
                  SELECT 'First ' || g, 'Child ' || g, 'c' || g || '@example.com',
                         CASE WHEN g % 2 = 0 THEN 'A-1' ELSE 'A-2' END, 'C-' || g
                    FROM generate_series(1, 30) g;
             COMMIT;",
        )
        .await
        .expect("initial data");
    let ignored = world
        .scalar("SELECT count(*) FROM sfsync.change_archive WHERE state = 'IGNORED'")
        .await;
    assert!(
        ignored >= 1,
        "the insert deleted before sync is IGNORED at once"
    );

    let port = free_port();
    let mut env = world.env.clone();
    env.push(("SFSYNC_HTTP_LISTEN".into(), format!("127.0.0.1:{port}")));
    let mut sidecar = sfsync_tests::Sidecar::start(&env);
    world.drained("the first changes to be written").await;

    // Then updates, an update merged with an insert, and deletes, while the sidecar runs.
    world
        .sql
        .batch_execute(
            "UPDATE salesforce.account SET annualrevenue = 99, industry = 'Retail' WHERE ext_id__c = 'A-2';
             UPDATE salesforce.contact SET email = NULL, firstname = 'Renamed' WHERE ext_id__c = 'C-1';
             DELETE FROM salesforce.contact WHERE ext_id__c IN ('C-29', 'C-30');
             BEGIN;
             INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Initech', 'A-3');
             UPDATE salesforce.account SET name = 'Initech 2' WHERE ext_id__c = 'A-3';
             COMMIT;
             UPDATE salesforce.contact SET account__ext_id__c = 'A-3' WHERE ext_id__c = 'C-2';",
        )
        .await
        .expect("changes");
    world.drained("updates and deletes to be written").await;

    let accounts = world
        .org_records(
            "Account",
            "Name, Industry, AnnualRevenue, NumberOfEmployees, Ext_Id__c",
            "Ext_Id__c",
        )
        .await;
    assert_eq!(accounts.len(), 3, "{accounts:?}");
    assert!(
        !accounts.contains_key("A-GONE"),
        "an insert deleted before sync never reaches Salesforce"
    );
    let acme = &accounts["A-1"];
    assert_eq!(
        (acme["Name"].as_str(), acme["Industry"].as_str()),
        (Some("Acme"), Some("Banking"))
    );
    assert_eq!(
        acme["AnnualRevenue"].to_string(),
        "123456789012345",
        "numbers arrive exactly"
    );
    assert_eq!(acme["NumberOfEmployees"].to_string(), "42");
    assert_eq!(accounts["A-2"]["AnnualRevenue"].to_string(), "99");
    assert_eq!(accounts["A-2"]["Industry"], "Retail");
    assert_eq!(
        accounts["A-3"]["Name"], "Initech 2",
        "insert + update sent as one create of the current row"
    );

    let contacts = world
        .org_records(
            "Contact",
            "FirstName, LastName, Email, AccountId, Birthdate, Ext_Id__c",
            "Ext_Id__c",
        )
        .await;
    assert_eq!(
        contacts.len(),
        29,
        "30 children + the early one - 2 deleted"
    );
    let account_id = |ext: &str| {
        accounts[ext]["Id"]
            .as_str()
            .expect("account id")
            .to_string()
    };
    for g in 1..=28 {
        let contact = &contacts[&format!("C-{g}")];
        let parent = if g == 2 {
            "A-3"
        } else if g % 2 == 0 {
            "A-1"
        } else {
            "A-2"
        };
        assert_eq!(
            contact["AccountId"].as_str(),
            Some(account_id(parent).as_str()),
            "C-{g}'s parent"
        );
    }
    assert_eq!(
        contacts["C-0"]["AccountId"].as_str(),
        Some(account_id("A-1").as_str()),
        "a child queued before its parent"
    );
    assert_eq!(contacts["C-0"]["Birthdate"], "1990-02-03");
    assert_eq!(contacts["C-1"]["FirstName"], "Renamed");
    assert_eq!(
        contacts["C-1"]["Email"],
        Value::Null,
        "a null clears the field"
    );
    assert_eq!(contacts["C-3"]["Email"], "c3@example.com");

    // Rows: every row has the sfid of its record; _hc_lastop says our write reached Salesforce
    // (or, once the reader has read it back, SYNCED); nothing is queued or failed.
    for (table, records) in [("account", &accounts), ("contact", &contacts)] {
        let rows = world
            .sql
            .query(
                &format!("SELECT ext_id__c, sfid, _hc_lastop, _hc_err FROM salesforce.{table}"),
                &[],
            )
            .await
            .expect("rows");
        assert_eq!(rows.len(), records.len(), "{table}: one row per record");
        for row in rows {
            let ext: String = row.get(0);
            let sfid: Option<String> = row.get(1);
            let lastop: Option<String> = row.get(2);
            let err: Option<String> = row.get(3);
            assert_eq!(
                sfid.as_deref(),
                records[&ext]["Id"].as_str(),
                "{table} {ext}: sfid"
            );
            assert!(
                matches!(lastop.as_deref(), Some("INSERTED" | "UPDATED" | "SYNCED")),
                "{table} {ext}: _hc_lastop {lastop:?}"
            );
            assert_eq!(err, None, "{table} {ext}");
        }
    }
    let states = world.archive_states().await;
    assert_eq!(states.get("FAILED"), None, "{states:?}");
    // 3 account inserts (one with a merged update), 31 contact inserts, 3 updates, 2 deletes
    assert_eq!(
        states.get("SUCCESS").copied().unwrap_or(0) + states.get("MERGED").copied().unwrap_or(0),
        40,
        "{states:?}"
    );
    assert!(
        states.get("MERGED").copied().unwrap_or(0) >= 1,
        "{states:?}"
    );

    let text = metrics(port).await;
    assert!(
        metric(
            &text,
            "sfsync_writer_records_total{object=\"Contact\",outcome=\"success\"}"
        )
        .unwrap_or(0.0)
            >= 31.0,
        "{text}"
    );
    assert!(
        text.contains("sfsync_writer_write_latency_seconds_bucket"),
        "{text}"
    );
    eventually(
        Duration::from_secs(30),
        "queue gauges to read zero",
        || async {
            metric(
                &metrics(port).await,
                "sfsync_writer_queue_depth{object=\"Account\"}",
            ) == Some(0.0)
        },
    )
    .await;

    let status = sidecar
        .terminate(WAIT)
        .expect("the sidecar stops on SIGTERM");
    assert!(
        status.success(),
        "SIGTERM ends the sidecar with exit 0: {status:?}"
    );
}

#[tokio::test]
async fn values_of_every_type_arrive_in_salesforce_form_and_writes_carry_the_instance() {
    let world = World::writer().start().await;
    world
        .define_object(json!({
            "name": "Sample__c",
            "fields": [
                {"name": "Key__c", "type": "string", "length": 40, "externalId": true, "unique": true},
                {"name": "Flag__c", "type": "boolean"},
                {"name": "Count__c", "type": "int", "digits": 9},
                {"name": "Ratio__c", "type": "double", "precision": 18, "scale": 6},
                {"name": "Money__c", "type": "currency", "precision": 18, "scale": 2},
                {"name": "Day__c", "type": "date"},
                {"name": "Moment__c", "type": "datetime"},
                {"name": "Clock__c", "type": "time"},
                {"name": "Tags__c", "type": "multipicklist", "picklistValues": [{"value": "a"}, {"value": "b"}]},
                {"name": "Notes__c", "type": "textarea", "length": 32768}
            ]
        }))
        .await;
    world
        .map_from_describe(
            "Sample__c",
            &[
                "Name",
                "Key__c",
                "Flag__c",
                "Count__c",
                "Ratio__c",
                "Money__c",
                "Day__c",
                "Moment__c",
                "Clock__c",
                "Tags__c",
                "Notes__c",
            ],
            json!({"upsert_field": "Key__c"}),
        )
        .await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.sample__c (name, key__c, flag__c, count__c, ratio__c, money__c, day__c, moment__c, clock__c, tags__c, notes__c)
             VALUES ('S', 'K-1', true, 123456789, 0.123456, 99999999999999.99, '2024-02-29',
                     '2024-01-31 13:51:35.12', '13:30:00', 'a;b', repeat('x', 1000))",
        )
        .await
        .expect("insert");
    world.drained("the sample to be written").await;
    let records = world
        .org_records("Sample__c", "Name, Flag__c, Count__c, Ratio__c, Money__c, Day__c, Moment__c, Clock__c, Tags__c, Notes__c, Key__c", "Key__c")
        .await;
    let sample = &records["K-1"];
    assert_eq!(sample["Flag__c"], true);
    assert_eq!(sample["Count__c"].to_string(), "123456789");
    assert_eq!(sample["Ratio__c"].to_string(), "0.123456");
    assert_eq!(sample["Money__c"].to_string(), "99999999999999.99");
    assert_eq!(sample["Day__c"], "2024-02-29");
    assert_eq!(sample["Moment__c"], "2024-01-31T13:51:35.120+0000");
    assert_eq!(sample["Clock__c"], "13:30:00.000Z");
    assert_eq!(sample["Tags__c"], "a;b");
    assert_eq!(sample["Notes__c"].as_str().map(str::len), Some(1000));

    // every write carried Sforce-Call-Options: client=sfsync-<instance id>
    let instance: String = world
        .sql
        .query_one("SELECT sfsync._instance_id()", &[])
        .await
        .expect("instance")
        .get(0);
    let changes = world
        .emulator
        .admin(reqwest::Method::GET, "changes?after=0&limit=100", None)
        .await;
    let clients: Vec<&str> = changes["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["client"].as_str())
        .collect();
    assert!(!clients.is_empty(), "{changes}");
    assert!(
        clients.iter().all(|c| *c == format!("sfsync-{instance}")),
        "{clients:?}"
    );
}

#[tokio::test]
async fn a_mapping_without_an_upsert_field_creates_by_collections_and_learns_the_sfid() {
    let world = World::writer().start().await;
    world
        .map_from_describe("Lead", &["LastName", "Company", "Email"], json!({}))
        .await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.lead (lastname, company, email)
             SELECT 'Lead ' || g, 'Co ' || g, 'l' || g || '@example.com' FROM generate_series(1, 450) g",
        )
        .await
        .expect("insert");
    world.drained("the leads to be written").await;
    let counts = world.org_counts("Lead", "LastName").await;
    assert_eq!(counts.len(), 450);
    assert!(
        counts.values().all(|&n| n == 1),
        "no duplicates without faults"
    );
    let rows = world
        .scalar("SELECT count(*) FROM salesforce.lead WHERE sfid IS NOT NULL")
        .await;
    assert_eq!(rows, 450);
    let calls: HashMap<String, u64> = world.api_calls().await;
    let creates = calls
        .iter()
        .filter(|(route, _)| route.starts_with("POST") && route.ends_with("/composite/sobjects"))
        .map(|(_, n)| *n)
        .sum::<u64>();
    assert!(
        (3..=10).contains(&creates),
        "450 inserts in a few Collections calls, not one each: {calls:?}"
    );
}

#[tokio::test]
async fn archived_changes_older_than_the_retention_are_purged() {
    let world = World::writer()
        .env("SFSYNC_ARCHIVE_RETENTION_DAYS", "7")
        .start()
        .await;
    world.map_leads().await;
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.lead (lastname, company) SELECT 'Old ' || g, 'Co' FROM generate_series(1, 5) g;
             INSERT INTO salesforce.lead (lastname, company) SELECT 'New ' || g, 'Co' FROM generate_series(1, 3) g;",
        )
        .await
        .expect("leads");
    let mut first = world.sidecar();
    world.drained("the leads to be written").await;
    first.terminate(WAIT);
    world
        .sql
        .batch_execute(
            "UPDATE sfsync.change_archive SET archived_at = now() - interval '8 days'
              WHERE record_id IN (SELECT id FROM salesforce.lead WHERE lastname LIKE 'Old %')",
        )
        .await
        .expect("age the archive");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM sfsync.change_archive")
            .await,
        8
    );
    // housekeeping purges shortly after start
    let _second = world.sidecar();
    eventually(
        Duration::from_secs(60),
        "the old archive entries to be purged",
        || async {
            world
                .scalar("SELECT count(*) FROM sfsync.change_archive")
                .await
                == 3
        },
    )
    .await;
}
