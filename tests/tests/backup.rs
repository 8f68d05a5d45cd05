//! Backups: a `pg_dump` (custom format) of a database in use — mappings, synced rows, a non-empty
//! queue — restored with `pg_restore` into a new database, where the sidecar continues where the
//! old one stopped: the queued changes reach Salesforce, nothing already sent is sent again, and
//! new changes get ids that collide with no restored one (the id sequences are in the dump).
//! A saved refresh token (`sfsync.credential`) is not in the dump.

use serde_json::Value;
use sfsync_tests::cluster::pg_command;
use sfsync_tests::{eventually, Cluster, Sidecar, TestDb};
use sfsync_tests::{World, WAIT};
use std::collections::HashMap;
use std::time::Duration;

/// Runs a Postgres client program against the shared cluster; panics with its output on failure.
fn pg_tool(binary: &str, args: &[&str]) {
    let cluster = Cluster::shared();
    let port = cluster.port.to_string();
    let output = pg_command(binary)
        .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{binary}: {e}"));
    assert!(
        output.status.success(),
        "{binary} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// SystemModstamp per key of the live records of `object`: a record written again gets a new one.
async fn modstamps(world: &World, object: &str, key: &str) -> HashMap<String, Value> {
    world
        .org_records(object, &format!("{key}, SystemModstamp"), key)
        .await
        .into_iter()
        .map(|(k, record)| (k, record["SystemModstamp"].clone()))
        .collect()
}

async fn count(sql: &tokio_postgres::Client, query: &str) -> i64 {
    sql.query_one(query, &[])
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .get(0)
}

/// Ids and states of the mappings, the queue and the archive.
async fn ids(sql: &tokio_postgres::Client) -> Vec<String> {
    sql.query(
        "SELECT 'change ' || id FROM sfsync.change UNION ALL
         SELECT 'archive ' || id || ' ' || state FROM sfsync.change_archive UNION ALL
         SELECT 'mapping ' || id || ' ' || object_name FROM sfsync.mapping ORDER BY 1",
        &[],
    )
    .await
    .expect("ids")
    .iter()
    .map(|row| row.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_dump_continues_where_the_sidecar_stopped() {
    let started = std::time::Instant::now();
    let world = World::writer().start().await;
    world.map_accounts_by_ext_id().await;
    // no upsert field: a change sent twice would create a second Lead
    world.map_leads().await;
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) SELECT 'Sent ' || g, 'B-' || g FROM generate_series(1, 3) g;
             INSERT INTO salesforce.lead (lastname, company) SELECT 'L-' || g, 'Initech' FROM generate_series(1, 3) g;",
        )
        .await
        .expect("first rows");
    let mut sidecar = world.sidecar();
    world.drained("the first changes to be written").await;
    assert!(sidecar.terminate(Duration::from_secs(30)).is_some());
    let sent_accounts = modstamps(&world, "Account", "Ext_Id__c").await;
    let sent_leads = modstamps(&world, "Lead", "LastName").await;
    assert_eq!((sent_accounts.len(), sent_leads.len()), (3, 3));

    // Written while no sidecar runs: the dump holds them queued.
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.account (name, ext_id__c) SELECT 'Queued ' || g, 'B-' || g FROM generate_series(4, 5) g;
             INSERT INTO salesforce.lead (lastname, company) SELECT 'L-' || g, 'Initech' FROM generate_series(4, 5) g;
             UPDATE salesforce.account SET name = 'Renamed 1' WHERE ext_id__c = 'B-1';",
        )
        .await
        .expect("queued rows");
    assert_eq!(world.queued().await, 5);
    let dumped_ids = ids(&world.sql).await;
    // a saved (rotated) refresh token: a backup must not bring it back (issue 16)
    world
        .sql
        .batch_execute(
            "INSERT INTO sfsync.credential (schema_name, rotated_from, refresh_token)
             VALUES ('salesforce', repeat('a', 64), '5AepNotInAnyBackup')",
        )
        .await
        .expect("a saved refresh token");

    let cluster = Cluster::shared();
    let dump = cluster.dir.join(format!("{}.dump", world.db.name));
    let dump = dump.to_str().expect("utf-8 path");
    pg_tool("pg_dump", &["-Fc", "-f", dump, "-d", &world.db.name]);
    let restored = TestDb {
        name: format!("{}_restored", world.db.name),
        url: cluster.url(&format!("{}_restored", world.db.name)),
    };
    pg_tool("createdb", &[&restored.name]);
    pg_tool(
        "pg_restore",
        &["--exit-on-error", "-d", &restored.name, dump],
    );
    let _ = std::fs::remove_file(dump);
    let sql = restored.connect().await;
    assert_eq!(ids(&sql).await, dumped_ids, "the restore keeps every id");
    assert_eq!(
        count(&sql, "SELECT count(*) FROM sfsync.credential").await,
        0,
        "no refresh token comes back from a backup"
    );

    // A new change after the restore: its id follows the restored ones, in the queue and the archive.
    let restored_max = count(
        &sql,
        "SELECT greatest((SELECT max(id) FROM sfsync.change), (SELECT max(id) FROM sfsync.change_archive))",
    )
    .await;
    sql.batch_execute(
        "INSERT INTO salesforce.account (name, ext_id__c) VALUES ('After restore', 'B-6')",
    )
    .await
    .expect("a write after the restore");
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM sfsync.change c JOIN sfsync.change_archive a USING (id)"
        )
        .await,
        0,
        "no new queue id repeats an archived one"
    );
    assert_eq!(
        count(
            &sql,
            &format!("SELECT count(*) FROM sfsync.change WHERE id > {restored_max}")
        )
        .await,
        1,
        "the change id sequence continues after the restored ids"
    );

    let mut env = world.env.clone();
    env.retain(|(key, _)| key != "DATABASE_URL");
    env.push(("DATABASE_URL".into(), restored.sidecar_url()));
    let _sidecar = Sidecar::start(&env);
    eventually(WAIT, "the restored queue to drain", || async {
        count(&sql, "SELECT count(*) FROM sfsync.change").await == 0
    })
    .await;
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'"
        )
        .await,
        0
    );

    let accounts = world.org_counts("Account", "Ext_Id__c").await;
    let leads = world.org_counts("Lead", "LastName").await;
    let expected = |prefix: &str, n: usize| -> HashMap<String, usize> {
        (1..=n).map(|i| (format!("{prefix}{i}"), 1)).collect()
    };
    assert_eq!(accounts, expected("B-", 6), "each account once");
    assert_eq!(
        leads,
        expected("L-", 5),
        "each lead once: nothing sent twice"
    );
    let after_accounts = modstamps(&world, "Account", "Ext_Id__c").await;
    let after_leads = modstamps(&world, "Lead", "LastName").await;
    for key in ["B-2", "B-3"] {
        assert_eq!(
            after_accounts[key], sent_accounts[key],
            "{key} was sent before the dump and not again"
        );
    }
    assert_ne!(
        after_accounts["B-1"], sent_accounts["B-1"],
        "B-1's queued rename was sent"
    );
    for key in ["L-1", "L-2", "L-3"] {
        assert_eq!(after_leads[key], sent_leads[key], "{key} not sent again");
    }
    let renamed = world
        .org_records("Account", "Name, Ext_Id__c", "Ext_Id__c")
        .await;
    assert_eq!(renamed["B-1"]["Name"], "Renamed 1");
    eprintln!("backup test took {:?}", started.elapsed());
}
