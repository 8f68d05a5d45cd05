//! Incremental sync by polling, end to end: updates, deletes, undeletes and hard deletes made in
//! Salesforce by another client reach Postgres; records moving in and out of the filter follow;
//! a filter changed while no sidecar runs is applied by the next one; a reload keeps row ids and local
//! rows.

use reqwest::Method;
use serde_json::json;
use sfsync_tests::World;

#[tokio::test]
async fn updates_deletes_and_undeletes_follow_through_polling() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "One"}, {"Name": "Two"}, {"Name": "Three"}]),
        )
        .await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name", "NumberOfEmployees"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 3).await;

    world
        .update(
            "Account",
            json!([{"Id": ids[0], "Name": "One (renamed)", "NumberOfEmployees": 42}]),
        )
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name || ' ' || numberofemployees FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("One (renamed) 42"),
        )
        .await;
    let created = world.create("Account", json!([{"Name": "Four"}])).await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND _hc_lastop = 'SYNCED'", created[0]),
            1,
        )
        .await;

    world.delete("Account", &[ids[1].clone()]).await;
    world
        .wait_count("salesforce.account", &format!("sfid = '{}'", ids[1]), 0)
        .await;
    world.undelete(&[ids[1].clone()]).await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND name = 'Two'", ids[1]),
            1,
        )
        .await;
    world.wait_count("salesforce.account", "true", 4).await;
    let (state, detail) = world.state("Account").await;
    assert_eq!((state.as_str(), detail), ("SYNCED", None));
}

#[tokio::test]
async fn hard_deletes_are_found_by_the_delete_sweep() {
    let world = World::reader().start().await;
    let ids = world
        .create("Account", json!([{"Name": "Keep"}, {"Name": "Purge me"}]))
        .await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1, "keep_deleted": true}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 2).await;
    // Deleted and purged at once: queryAll never returns it again, only getDeleted knows.
    world.delete("Account", &[ids[1].clone()]).await;
    world.emulator.admin(Method::POST, "purge", None).await;
    // getDeleted only covers finished minutes of the org clock
    world
        .emulator
        .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 120})))
        .await;
    // keep_deleted: the row stays, marked
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND isdeleted", ids[1]),
            1,
        )
        .await;
    world
        .wait_count(
            "salesforce.account",
            &format!("sfid = '{}' AND NOT isdeleted", ids[0]),
            1,
        )
        .await;
}

#[tokio::test]
async fn records_moving_in_and_out_of_the_filter_follow() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Contact",
            json!([
                {"LastName": "Web 1", "LeadSource": "Web"},
                {"LastName": "Web 2", "LeadSource": "Web"},
                {"LastName": "Phone 1", "LeadSource": "Phone Inquiry"},
                {"LastName": "Phone 2", "LeadSource": "Phone Inquiry"}
            ]),
        )
        .await;
    let _sidecar = world
        .synced(
            "Contact",
            &["LastName", "LeadSource"],
            "read_only",
            json!({"poll_seconds": 1, "filter": "LeadSource = 'Web'"}),
        )
        .await;
    world.wait_count("salesforce.contact", "true", 2).await;
    assert_eq!(
        world
            .count("salesforce.contact", "leadsource <> 'Web'")
            .await,
        0
    );

    // in: Phone 1 becomes Web; out: Web 1 becomes Phone
    world
        .update(
            "Contact",
            json!([{"Id": ids[2], "LeadSource": "Web"}, {"Id": ids[0], "LeadSource": "Phone Inquiry"}]),
        )
        .await;
    world
        .wait_count("salesforce.contact", &format!("sfid = '{}'", ids[2]), 1)
        .await;
    world
        .wait_count("salesforce.contact", &format!("sfid = '{}'", ids[0]), 0)
        .await;
    world.wait_count("salesforce.contact", "true", 2).await;

    // changing the filter reloads the table with the new one
    world
        .sql
        .execute("SELECT sfsync.alter_mapping('Contact', '{\"filter\": \"LeadSource = ''Phone Inquiry''\"}')", &[])
        .await
        .expect("alter filter");
    world
        .wait_count("salesforce.contact", "leadsource = 'Phone Inquiry'", 2)
        .await;
    world.wait_count("salesforce.contact", "true", 2).await;
}

#[tokio::test]
async fn a_filter_changed_while_no_sidecar_runs_is_applied_when_one_starts() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Contact",
            json!([
                {"LastName": "Web 1", "LeadSource": "Web"},
                {"LastName": "Phone 1", "LeadSource": "Phone Inquiry"},
                {"LastName": "Phone 2", "LeadSource": "Phone Inquiry"}
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
    world.wait_count("salesforce.contact", "true", 1).await;
    // a later change moves the high-water mark well past the Phone records, so no incremental poll
    // (re-read window included) would ever bring them in: only a reload can
    world
        .emulator
        .admin(Method::POST, "clock", Some(json!({"advanceSeconds": 600})))
        .await;
    world
        .update(
            "Contact",
            json!([{"Id": ids[0], "LastName": "Web 1 (later)"}]),
        )
        .await;
    world
        .wait_count("salesforce.contact", "lastname = 'Web 1 (later)'", 1)
        .await;
    sidecar
        .terminate(std::time::Duration::from_secs(30))
        .expect("the sidecar stops on SIGTERM");

    world
        .sql
        .execute("SELECT sfsync.alter_mapping('Contact', '{\"filter\": \"LeadSource = ''Phone Inquiry''\"}')", &[])
        .await
        .expect("alter filter");
    let _sidecar = world.sidecar();
    world
        .wait_count("salesforce.contact", "leadsource = 'Phone Inquiry'", 2)
        .await;
    world.wait_count("salesforce.contact", "true", 2).await;
    world.wait_state("Contact", "SYNCED").await;
}

#[tokio::test]
async fn a_reload_keeps_row_ids_and_local_rows() {
    let world = World::reader().start().await;
    let ids = world
        .create(
            "Account",
            json!([{"Name": "A"}, {"Name": "B"}, {"Name": "C"}]),
        )
        .await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 3600}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 3).await;
    let before = world
        .text("SELECT string_agg(sfid || '=' || id, ',' ORDER BY sfid) FROM salesforce.account")
        .await;
    world
        .sql
        .execute(
            "INSERT INTO salesforce.account (name) VALUES ('local only')",
            &[],
        )
        .await
        .expect("local row");

    // changed in Salesforce and not polled for an hour: only the reload brings them
    world
        .update("Account", json!([{"Id": ids[0], "Name": "A2"}]))
        .await;
    world.delete("Account", &[ids[2].clone()]).await;
    world.emulator.admin(Method::POST, "purge", None).await;
    world
        .sql
        .execute("SELECT sfsync.reload('Account')", &[])
        .await
        .expect("reload");
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("A2"),
        )
        .await;
    world
        .wait_count("salesforce.account", &format!("sfid = '{}'", ids[2]), 0)
        .await;
    world.wait_state("Account", "SYNCED").await;
    assert_eq!(
        world
            .text("SELECT reload_requested::text FROM sfsync.mapping")
            .await
            .as_deref(),
        Some("false")
    );
    let after = world
        .text(&format!(
            "SELECT string_agg(sfid || '=' || id, ',' ORDER BY sfid) FROM salesforce.account WHERE sfid <> '{}' OR sfid IS NULL",
            ids[2]
        ))
        .await;
    let kept: Vec<&str> = before
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|pair| !pair.starts_with(&ids[2]))
        .collect();
    assert_eq!(
        after.as_deref(),
        Some(kept.join(",").as_str()),
        "row ids are stable across the reload"
    );
    assert_eq!(
        world
            .count("salesforce.account", "sfid IS NULL AND name = 'local only'")
            .await,
        1
    );
}
