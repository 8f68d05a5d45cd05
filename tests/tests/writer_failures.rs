//! Records Salesforce refuses: the failure (Salesforce's code, message and fields) lands on that row
//! and its queue entry only; once fixed, `sfsync.retry_failed()` sends it again and it is synced once.

use serde_json::{json, Value};
use sfsync_tests::World;

async fn gadget_world() -> World {
    let world = World::writer().start().await;
    world
        .define_object(json!({
            "name": "Gadget__c",
            "fields": [
                {"name": "Code__c", "type": "string", "length": 40, "externalId": true, "unique": true},
                {"name": "Status__c", "type": "picklist", "restrictedPicklist": true,
                 "picklistValues": [{"value": "New"}, {"value": "Done"}]}
            ],
            "validationRules": [
                {"name": "No_Bad_Names", "errorMessage": "Bad names are not allowed", "errorDisplayField": "Name",
                 "condition": "Name = 'Bad'"}
            ]
        }))
        .await;
    world
        .map_from_describe(
            "Gadget__c",
            &["Name", "Code__c", "Status__c"],
            json!({"upsert_field": "Code__c"}),
        )
        .await;
    world
}

#[tokio::test]
async fn a_refused_record_fails_alone_and_is_sent_once_after_a_fix_and_retry() {
    let world = gadget_world().await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.gadget__c (name, code__c, status__c)
             SELECT 'Gadget ' || g, 'G-' || g, 'New' FROM generate_series(1, 20) g;
             INSERT INTO salesforce.gadget__c (name, code__c, status__c) VALUES ('Bad', 'G-BAD', 'New'), ('Odd', 'G-ODD', 'Purple');",
        )
        .await
        .expect("insert");
    world.drained("the gadgets to be written or refused").await;

    let rows = world
        .sql
        .query(
            "SELECT code__c, sfid, _hc_lastop, _hc_err FROM salesforce.gadget__c ORDER BY id",
            &[],
        )
        .await
        .expect("rows");
    for row in &rows {
        let code: String = row.get(0);
        let sfid: Option<String> = row.get(1);
        let lastop: Option<String> = row.get(2);
        let err: Option<String> = row.get(3);
        match code.as_str() {
            "G-BAD" | "G-ODD" => {
                assert_eq!(
                    (sfid.as_deref(), lastop.as_deref()),
                    (None, Some("FAILED")),
                    "{code}"
                );
                let err: Value = serde_json::from_str(err.as_deref().expect("_hc_err"))
                    .expect("_hc_err is JSON");
                if code == "G-BAD" {
                    assert_eq!(err["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION", "{err}");
                    assert_eq!(err["message"], "Bad names are not allowed", "{err}");
                    assert_eq!(err["fields"], json!(["Name"]), "{err}");
                } else {
                    assert_eq!(
                        err["code"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        "{err}"
                    );
                    assert_eq!(err["fields"], json!(["Status__c"]), "{err}");
                }
                assert!(err["at"].is_string(), "{err}");
            }
            _ => {
                assert!(sfid.is_some(), "{code} synced");
                assert_eq!(err, None, "{code}: the neighbours' failures are not theirs");
            }
        }
    }
    let archived = world
        .sql
        .query(
            "SELECT sf_result, sf_message FROM salesforce._trigger_log_archive WHERE state = 'FAILED' ORDER BY id",
            &[],
        )
        .await
        .expect("trigger log");
    let failures: Vec<(Option<String>, Option<String>)> =
        archived.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        failures,
        [
            (
                Some("FIELD_CUSTOM_VALIDATION_EXCEPTION".into()),
                Some("Bad names are not allowed".into())
            ),
            (
                Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".into()),
                failures[1].1.clone()
            ),
        ]
    );
    let status = world
        .sql
        .query_one(
            "SELECT pending, failed FROM sfsync.status() WHERE object_name = 'Gadget__c'",
            &[],
        )
        .await
        .expect("status");
    assert_eq!((status.get::<_, i64>(0), status.get::<_, i64>(1)), (0, 2));
    assert_eq!(world.org_counts("Gadget__c", "Code__c").await.len(), 20);

    // Fix the rows, then retry: each is sent once more, as it is now.
    world
        .sql
        .batch_execute(
            "UPDATE salesforce.gadget__c SET name = 'Good now' WHERE code__c = 'G-BAD';
             UPDATE salesforce.gadget__c SET status__c = 'Done' WHERE code__c = 'G-ODD';
             SELECT sfsync.retry_failed('Gadget__c');",
        )
        .await
        .expect("fix and retry");
    world.drained("the fixed gadgets to be written").await;
    let counts = world.org_counts("Gadget__c", "Code__c").await;
    assert_eq!(counts.len(), 22);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let records = world
        .org_records("Gadget__c", "Name, Status__c, Code__c", "Code__c")
        .await;
    assert_eq!(records["G-BAD"]["Name"], "Good now");
    assert_eq!(records["G-ODD"]["Status__c"], "Done");
    let fixed = world
        .scalar("SELECT count(*) FROM salesforce.gadget__c WHERE sfid IS NOT NULL AND _hc_err IS NULL AND _hc_lastop <> 'FAILED'")
        .await;
    assert_eq!(fixed, 22);
    let failed: i64 = world
        .sql
        .query_one(
            "SELECT failed FROM sfsync.status() WHERE object_name = 'Gadget__c'",
            &[],
        )
        .await
        .expect("status")
        .get(0);
    assert_eq!(failed, 0, "retried failures no longer count");
}

#[tokio::test]
async fn updates_and_deletes_of_records_gone_from_salesforce_fail_or_finish() {
    let world = gadget_world().await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute("INSERT INTO salesforce.gadget__c (name, code__c) VALUES ('One', 'G-1'), ('Two', 'G-2')")
        .await
        .expect("insert");
    world.drained("the gadgets to be written").await;
    // The reader's start-up poll is done (the next one is an hour away), so it does not see the
    // deletes below before the writer does.
    sfsync_tests::eventually(sfsync_tests::WAIT, "the reader's first poll", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.mapping WHERE last_read_at IS NOT NULL")
            .await
            == 1
    })
    .await;
    // Someone deletes both records in Salesforce; locally one is updated, the other deleted.
    let ids: Vec<String> = world
        .sql
        .query(
            "SELECT sfid FROM salesforce.gadget__c ORDER BY code__c",
            &[],
        )
        .await
        .expect("sfids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    world
        .emulator
        .admin(reqwest::Method::POST, "records", Some(json!({"object": "Gadget__c", "operation": "delete", "records": [{"Id": ids[0]}, {"Id": ids[1]}]})))
        .await;
    world
        .sql
        .batch_execute(
            "UPDATE salesforce.gadget__c SET name = 'One again' WHERE code__c = 'G-1';
             DELETE FROM salesforce.gadget__c WHERE code__c = 'G-2';",
        )
        .await
        .expect("local changes");
    world.drained("the changes to finish").await;
    let update: (Option<String>, Option<String>) = {
        let row = world
            .sql
            .query_one(
                "SELECT state, sf_result FROM sfsync.change_archive WHERE action = 'UPDATE'",
                &[],
            )
            .await
            .expect("update entry");
        (row.get(0), row.get(1))
    };
    assert_eq!(
        update,
        (Some("FAILED".into()), Some("ENTITY_IS_DELETED".into()))
    );
    let delete: String = world
        .sql
        .query_one(
            "SELECT state FROM sfsync.change_archive WHERE action = 'DELETE'",
            &[],
        )
        .await
        .expect("delete entry")
        .get(0);
    assert_eq!(
        delete, "SUCCESS",
        "deleting what is already deleted is done"
    );
}

/// A role of an application: no superuser, no sfsync role, just its tables.
async fn application_role(world: &World) -> String {
    let role = format!("app_{}", std::process::id());
    world
        .sql
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT USAGE ON SCHEMA salesforce TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA salesforce TO {role};"
        ))
        .await
        .expect("application role");
    role
}

#[tokio::test]
async fn a_change_carrying_another_objects_id_fails_alone_and_is_never_sent() {
    let world = World::writer().start().await;
    world.map_accounts_by_ext_id().await;
    let contacts = world
        .emulator
        .create_as_other(
            "Contact",
            json!([{"LastName": "Untouched", "Email": "one@example.com"},
                   {"LastName": "Undeleted", "Email": "two@example.com"}]),
        )
        .await;
    let _sidecar = world.sidecar();
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) VALUES ('One', 'A-1'), ('Two', 'A-2'), ('Three', 'A-3')",
        )
        .await
        .expect("insert");
    world.drained("the accounts to be written").await;
    // The reader's start-up poll is done (the next one is an hour away): it does not meet the
    // planted ids below.
    sfsync_tests::eventually(sfsync_tests::WAIT, "the reader's first poll", || async {
        world
            .scalar("SELECT count(*) FROM sfsync.mapping WHERE last_read_at IS NOT NULL")
            .await
            == 1
    })
    .await;

    // Contacts' ids planted in two Account rows the way only the sync itself writes sfids (an
    // application's sfid write is refused by the extension): as superuser, with the sync's origin.
    world
        .sql
        .execute("SET sfsync.origin = 'salesforce'", &[])
        .await
        .expect("origin");
    for (contact, key) in [(&contacts[0], "A-1"), (&contacts[1], "A-3")] {
        world
            .sql
            .execute(
                "UPDATE salesforce.account SET sfid = $1 WHERE ext_id__c = $2",
                &[contact, &key],
            )
            .await
            .expect("plant the sfid");
    }
    world
        .sql
        .batch_execute("RESET sfsync.origin")
        .await
        .expect("reset origin");
    assert_eq!(world.queued().await, 0, "planting was not captured");

    // An application updates one of them and a good row, and deletes the other, in one transaction.
    let role = application_role(&world).await;
    world
        .sql
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE {role};
             UPDATE salesforce.account SET name = name || ' renamed' WHERE ext_id__c IN ('A-1', 'A-2');
             DELETE FROM salesforce.account WHERE ext_id__c = 'A-3';
             COMMIT;"
        ))
        .await
        .expect("the application's changes");
    world.drained("the changes to be written or refused").await;

    // the Contacts are as they were: neither updated nor deleted
    let org_contacts = world
        .org_records("Contact", "LastName, LastModifiedById", "LastName")
        .await;
    assert_eq!(org_contacts.len(), 2, "{org_contacts:?}");
    for contact in &contacts {
        assert!(
            org_contacts
                .values()
                .any(|record| record["Id"] == contact.as_str()),
            "{contact} is still there: {org_contacts:?}"
        );
    }
    let (lastop, err): (Option<String>, Option<String>) = world
        .sql
        .query_one(
            "SELECT _hc_lastop, _hc_err FROM salesforce.account WHERE ext_id__c = 'A-1'",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .expect("row A-1");
    let message = format!(
        "sfid {} is not an Account id (key prefix 001); the change was not sent",
        contacts[0]
    );
    assert_eq!(lastop.as_deref(), Some("FAILED"));
    let err: Value = serde_json::from_str(err.as_deref().expect("_hc_err")).expect("JSON");
    assert_eq!(err["code"], "WRONG_OBJECT_ID", "{err}");
    assert_eq!(err["message"], message.as_str(), "{err}");
    let failed: Vec<(String, Option<String>, Option<String>)> = world
        .sql
        .query(
            "SELECT action, sf_result, sf_message FROM salesforce._trigger_log_archive
              WHERE state = 'FAILED' ORDER BY id",
            &[],
        )
        .await
        .expect("trigger log")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        failed,
        [
            (
                "UPDATE".to_string(),
                Some("WRONG_OBJECT_ID".to_string()),
                Some(message)
            ),
            (
                "DELETE".to_string(),
                Some("WRONG_OBJECT_ID".to_string()),
                Some(format!(
                    "sfid {} is not an Account id (key prefix 001); the change was not sent",
                    contacts[1]
                ))
            ),
        ]
    );

    // the good change of the same transaction went through
    let accounts = world
        .org_records("Account", "Name, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(accounts["A-2"]["Name"], "Two renamed");
    assert_eq!(
        accounts["A-1"]["Name"], "One",
        "A-1's record was not touched either"
    );
    let ok = world
        .scalar("SELECT count(*) FROM salesforce.account WHERE ext_id__c = 'A-2' AND _hc_err IS NULL AND _hc_lastop <> 'FAILED'")
        .await;
    assert_eq!(ok, 1);
}
