//! Reconciliation end to end: drift of every kind made on purpose (rows deleted, aged or invented in
//! Postgres behind sfsync's back, a late commit behind the high-water mark, a delete without a trace
//! then purged, hard deletes after the delete log's retention expired while no sidecar ran, a filter
//! widened while no sidecar ran) is found with the right count per kind and repaired, and shown in
//! `status()`, `sfsync-sidecar status` and the metrics; a reconciliation without drift reports 0
//! within its call budget; a queued local change is never overwritten or deleted by a repair.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{free_port, metric, metrics, Sidecar, World};

/// Without drift a reconciliation costs one `COUNT()` per range: at most this many calls.
const NO_DRIFT_BUDGET: i64 = 20;

/// The last finished reconciliation: reason, found, repaired, skipped, api calls, error.
async fn last_reconciliation(world: &World) -> Option<Value> {
    world
        .text(
            "SELECT jsonb_build_object('reason', reason, 'found', found, 'repaired', repaired,
                                       'skipped', skipped, 'api_calls', api_calls, 'error', error)::text
               FROM sfsync.reconciliation WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .await
        .map(|text| serde_json::from_str(&text).expect("json"))
}

/// Requests a reconciliation and waits for it to finish; returns it.
async fn reconcile(world: &World, object: &str) -> Value {
    let before = world
        .scalar("SELECT coalesce(max(id), 0) FROM sfsync.reconciliation")
        .await;
    world
        .sql
        .execute("SELECT sfsync.reconcile($1)", &[&object])
        .await
        .expect("reconcile");
    world
        .until("the reconciliation to finish", || async {
            world
                .scalar(&format!(
                    "SELECT count(*) FROM sfsync.reconciliation WHERE id > {before} AND finished_at IS NOT NULL"
                ))
                .await
                == 1
        })
        .await;
    last_reconciliation(world).await.expect("a reconciliation")
}

/// `sfid → name` of the table, and of the org's live records.
async fn both_sides(world: &World) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let rows = world
        .sql
        .query(
            "SELECT sfid, coalesce(name, '') FROM salesforce.account WHERE sfid IS NOT NULL",
            &[],
        )
        .await
        .expect("rows");
    let table = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let org = world
        .emulator
        .query("SELECT Id, Name FROM Account WHERE IsDeleted = false")
        .await
        .iter()
        .map(|record| {
            (
                record["Id"].as_str().unwrap_or_default().to_string(),
                record["Name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (table, org)
}

fn kinds(missing: u64, vanished: u64, stale: u64) -> Value {
    json!({"missing": missing, "vanished": vanished, "stale": stale})
}

/// Moves the org's clock a minute on and has another user create one more Account: the high-water
/// mark moves past the records made so far, so no poll's re-read window reads them again (drift made
/// in them stays until a reconciliation finds it).
async fn move_past(world: &World, rows_after: i64) {
    move_past_with(
        world,
        "Account",
        json!({"Name": "Marker"}),
        "name = 'Marker'",
    )
    .await;
    world
        .wait_count("salesforce.account", "true", rows_after)
        .await;
}

/// [`move_past`] for any object: `marker` is created, `seen` finds its row.
async fn move_past_with(world: &World, object: &str, marker: Value, seen: &str) {
    world
        .emulator
        .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 60})))
        .await;
    world.create(object, json!([marker])).await;
    world
        .wait_count(&format!("salesforce.{}", object.to_lowercase()), seen, 1)
        .await;
}

/// Writes in Postgres as the sync would (capture off): drift no trigger records.
async fn behind_sfsyncs_back(world: &World, statements: &str) {
    world
        .sql
        .batch_execute(&format!(
            "BEGIN; SET LOCAL sfsync.origin = 'salesforce'; {statements}; COMMIT"
        ))
        .await
        .expect("write behind sfsync's back");
}

#[tokio::test]
async fn drift_of_every_kind_is_found_counted_and_repaired() {
    let port = free_port();
    let world = World::reader()
        .env("SFSYNC_HTTP_LISTEN", &format!("127.0.0.1:{port}"))
        .start()
        .await;
    let names: Vec<Value> = (1..=40)
        .map(|n| json!({"Name": format!("Account {n}")}))
        .collect();
    let ids = world.create("Account", Value::Array(names)).await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 40).await;
    move_past(&world, 41).await;

    // A reconciliation of a table in sync finds nothing, within the budget.
    let clean = reconcile(&world, "Account").await;
    assert_eq!(clean["error"], Value::Null, "{clean}");
    assert_eq!(clean["found"], kinds(0, 0, 0), "{clean}");
    assert_eq!(clean["reason"], "requested");
    let calls = clean["api_calls"].as_i64().unwrap();
    assert!(
        (1..=NO_DRIFT_BUDGET).contains(&calls),
        "a reconciliation without drift took {calls} calls"
    );

    // Postgres behind sfsync's back: 3 rows deleted (missing), 2 aged with a wrong name (stale),
    // 2 rows of records that never existed (vanished).
    behind_sfsyncs_back(
        &world,
        &format!(
            "DELETE FROM salesforce.account WHERE sfid IN ('{}', '{}', '{}');
             UPDATE salesforce.account SET name = 'wrong', systemmodstamp = systemmodstamp - interval '1 day'
              WHERE sfid IN ('{}', '{}');
             INSERT INTO salesforce.account (sfid, name, systemmodstamp)
             VALUES ('001000000000900AAA', 'ghost 1', now() AT TIME ZONE 'UTC' - interval '1 hour'),
                    ('001000000000901AAA', 'ghost 2', now() AT TIME ZONE 'UTC' - interval '2 hours')",
            ids[0], ids[1], ids[2], ids[3], ids[4]
        ),
    )
    .await;
    // Salesforce behind the reader's back: a record committed late, stamped an hour ago (behind the
    // high-water mark and the re-read window, no change event), and a record deleted without a
    // trace in the delete log and purged from the recycle bin.
    let an_hour_ago = world
        .text("SELECT to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
        .await
        .expect("a time");
    let late = world
        .emulator
        .admin(
            Method::POST,
            "records",
            Some(json!({"object": "Account", "records": [{"Name": "Late commit"}], "systemModstamp": an_hour_ago})),
        )
        .await;
    assert_eq!(late[0]["success"], true, "{late}");
    let silent = world
        .emulator
        .admin(
            Method::POST,
            "records",
            Some(json!({"object": "Account", "operation": "delete", "records": [{"Id": ids[5]}], "silent": true})),
        )
        .await;
    assert_eq!(silent[0]["success"], true, "{silent}");
    world.emulator.admin(Method::POST, "purge", None).await;
    // a few polls go by: none of this drift is seen by incremental reads
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (table, org) = both_sides(&world).await;
    assert_ne!(table, org, "the drift is there before the reconciliation");

    let found = reconcile(&world, "Account").await;
    assert_eq!(found["error"], Value::Null, "{found}");
    assert_eq!(found["found"], kinds(4, 3, 2), "{found}");
    assert_eq!(found["repaired"], kinds(4, 3, 2), "{found}");
    assert_eq!(found["skipped"], 0);
    let (table, org) = both_sides(&world).await;
    assert_eq!(table, org, "after the repair the table matches Salesforce");
    assert_eq!(table.len(), 41 - 1 + 1);

    // status() shows it, and the next reconciliation finds nothing.
    let status = world
        .text("SELECT drift::text || ' ' || drift_kinds::text || ' ' || (last_reconciled_at IS NOT NULL)::text FROM sfsync.status()")
        .await;
    assert_eq!(
        status.as_deref(),
        Some(r#"9 {"stale": 2, "missing": 4, "vanished": 3} true"#)
    );
    let output = Sidecar::command(&world.env, "status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "status failed: {stdout}");
    assert!(
        stdout.contains("drift 9 (missing 4, vanished 3, stale 2)"),
        "{stdout}"
    );
    let text = metrics(port).await;
    for (kind, count) in [("missing", 4.0), ("vanished", 3.0), ("stale", 2.0)] {
        assert_eq!(
            metric(
                &text,
                &format!(r#"sfsync_reconcile_drift_records{{object="Account",kind="{kind}"}}"#)
            ),
            Some(count),
            "{text}"
        );
    }
    assert_eq!(
        metric(
            &text,
            r#"sfsync_reconcile_runs_total{object="Account",outcome="ok"}"#
        ),
        Some(2.0)
    );

    let again = reconcile(&world, "Account").await;
    assert_eq!(again["found"], kinds(0, 0, 0), "{again}");
    assert!(again["api_calls"].as_i64().unwrap() <= NO_DRIFT_BUDGET);
}

#[tokio::test]
async fn hard_deletes_after_the_retention_are_found_when_the_sidecar_comes_back() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "Keep 1"}, {"Name": "Keep 2"}, {"Name": "Purge 1"}, {"Name": "Purge 2"}]),
        )
        .await;
    let mut sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 4).await;
    sidecar
        .terminate(Duration::from_secs(30))
        .expect("the sidecar stops on SIGTERM");

    // While no sidecar runs: two records deleted and purged, then more than the 15 days getDeleted
    // keeps go by.
    world.delete("Account", &ids[2..4]).await;
    world.emulator.admin(Method::POST, "purge", None).await;
    world
        .emulator
        .admin(
            Method::POST,
            "clock",
            Some(json!({"advanceSeconds": 16 * 24 * 3600})),
        )
        .await;

    let _sidecar = world.sidecar();
    world
        .until("a reconciliation after the retention expired", || async {
            world
                .scalar("SELECT count(*) FROM sfsync.reconciliation WHERE reason = 'retention' AND finished_at IS NOT NULL")
                .await
                >= 1
        })
        .await;
    let found = world
        .text("SELECT found::text FROM sfsync.reconciliation WHERE reason = 'retention' ORDER BY id LIMIT 1")
        .await;
    let found: Value = serde_json::from_str(found.as_deref().unwrap()).unwrap();
    assert_eq!(found, kinds(0, 2, 0));
    world.wait_count("salesforce.account", "true", 2).await;
    let (table, org) = both_sides(&world).await;
    assert_eq!(table, org);
}

#[tokio::test]
async fn a_repair_never_overwrites_or_deletes_a_queued_local_change() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "Edited here"}, {"Name": "Deleted there"}, {"Name": "Plain"}]),
        )
        .await;
    let mapping = world
        .map(
            "Account",
            &["Name"],
            "read_write",
            json!({"poll_seconds": 1}),
        )
        .await;
    let mut sidecar = world.sidecar();
    world.wait_state("Account", "SYNCED").await;
    world.wait_count("salesforce.account", "true", 3).await;
    move_past(&world, 4).await;
    sidecar
        .terminate(Duration::from_secs(30))
        .expect("the sidecar stops on SIGTERM");
    // local edits, queued while no sidecar runs
    world
        .sql
        .batch_execute(&format!(
            "UPDATE salesforce.account SET name = 'Mine' WHERE sfid IN ('{}', '{}')",
            ids[0], ids[1]
        ))
        .await
        .expect("local edits");
    // the same rows drift: one aged (stale), the other's record deleted silently in Salesforce
    behind_sfsyncs_back(
        &world,
        &format!(
            "UPDATE salesforce.account SET systemmodstamp = systemmodstamp - interval '1 day' WHERE sfid = '{}'",
            ids[0]
        ),
    )
    .await;
    world
        .emulator
        .admin(
            Method::POST,
            "records",
            Some(json!({"object": "Account", "operation": "delete", "records": [{"Id": ids[1]}], "silent": true})),
        )
        .await;
    world.emulator.admin(Method::POST, "purge", None).await;
    // The writer must not send the edits before the reconciliation looked at the rows: keep it
    // from Salesforce by refusing its writes.
    world
        .emulator
        .admin(
            Method::POST,
            "faults",
            Some(json!({"path": "/services/data/", "method": "PATCH", "status": 503})),
        )
        .await;
    let _sidecar = world.sidecar();
    let found = reconcile(&world, "Account").await;
    assert_eq!(found["error"], Value::Null, "{found}");
    assert_eq!(found["found"], kinds(0, 1, 1), "{found}");
    assert_eq!(found["skipped"], 2, "{found}");
    assert_eq!(found["repaired"], kinds(0, 0, 0), "{found}");
    let queued = world
        .scalar(&format!(
            "SELECT count(*) FROM sfsync.change WHERE mapping_id = {mapping} AND action = 'UPDATE'"
        ))
        .await;
    assert_eq!(queued, 2, "both local changes are still queued");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM salesforce.account WHERE name = 'Mine'")
            .await,
        2,
        "neither row was overwritten or removed"
    );
}

#[tokio::test]
async fn a_filter_widened_while_no_sidecar_ran_is_reconciled_with_the_right_count() {
    let world = World::reader().start().await;
    world
        .create(
            "Contact",
            json!([
                {"LastName": "Web 1", "LeadSource": "Web"},
                {"LastName": "Web 2", "LeadSource": "Web"},
                {"LastName": "Phone 1", "LeadSource": "Phone Inquiry"},
                {"LastName": "Phone 2", "LeadSource": "Phone Inquiry"},
                {"LastName": "Phone 3", "LeadSource": "Phone Inquiry"},
                {"LastName": "Other", "LeadSource": "Other"}
            ]),
        )
        .await;
    let mut sidecar = world
        .synced(
            "Contact",
            &["LastName", "LeadSource"],
            "read_only",
            json!({"poll_seconds": 1, "filter": "LeadSource = 'Web'"}),
        )
        .await;
    world.wait_count("salesforce.contact", "true", 2).await;
    move_past_with(
        &world,
        "Contact",
        json!({"LastName": "Web marker", "LeadSource": "Web"}),
        "lastname = 'Web marker'",
    )
    .await;
    sidecar
        .terminate(Duration::from_secs(30))
        .expect("the sidecar stops on SIGTERM");
    world
        .sql
        .execute(
            "SELECT sfsync.alter_mapping('Contact', $1::text::jsonb)",
            &[&json!({"filter": "LeadSource IN ('Web', 'Phone Inquiry')"}).to_string()],
        )
        .await
        .expect("widen the filter");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM sfsync.mapping WHERE reconcile_requested_at IS NOT NULL AND NOT reload_requested")
            .await,
        1,
        "a changed filter asks for a reconciliation, not a reload"
    );

    let _sidecar = world.sidecar();
    world
        .until("the reconciliation the filter asked for", || async {
            world
                .scalar("SELECT count(*) FROM sfsync.reconciliation WHERE finished_at IS NOT NULL")
                .await
                == 1
        })
        .await;
    let run = last_reconciliation(&world).await.expect("a reconciliation");
    assert_eq!(run["reason"], "requested");
    assert_eq!(run["found"], kinds(3, 0, 0), "{run}");
    assert_eq!(run["repaired"], kinds(3, 0, 0), "{run}");
    world.wait_count("salesforce.contact", "true", 6).await;
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM salesforce.contact WHERE leadsource = 'Other'")
            .await,
        0
    );
}
