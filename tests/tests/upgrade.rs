//! Upgrading sfsync in place, 0.1.0 → 0.2.0, as a user does it: a database in use with the 0.1.0
//! extension (an adopted Heroku Connect table, read-only and read-write mappings, a paused one,
//! queued, in-flight, failed and archived changes, conflicts) is refused by the 0.2.0 sidecar with a
//! message saying what to run; after `ALTER EXTENSION sfsync UPDATE` its catalog equals a fresh 0.2.0
//! install's with the same mappings (tests/sql/catalog_snapshot.sql), every mapping, row and change
//! is still there with its id, and the 0.2.0 sidecar drains the queue and syncs both ways.

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::binaries::binary;
use sfsync_tests::catalog;
use sfsync_tests::{eventually, Cluster, Emulator, Sidecar};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The release the upgrade starts from (its frozen install script is sql/sfsync--0.1.0.sql).
const FROM_VERSION: &str = "0.1.0";
/// The version the sources build, which `ALTER EXTENSION sfsync UPDATE` goes to.
const TO_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Generous: tests run on a busy 2-core machine next to other builds.
const WAIT: Duration = Duration::from_secs(120);
/// The in-flight change's lease when the upgrade starts: long enough to still hold during the
/// upgrade, short enough that the new sidecar takes the change over soon after.
const IN_FLIGHT_LEASE_SECONDS: i32 = 20;

/// The emulator's describes of the mapped objects (the same for both installs).
struct Describes {
    account: Value,
    contact: Value,
    opportunity: Value,
}

async fn describe(emulator: &Emulator, object: &str) -> Value {
    let (status, describe) = emulator
        .rest(Method::GET, &format!("sobjects/{object}/describe"), None)
        .await;
    assert_eq!(status, 200, "describe {object}: {describe}");
    describe
}

async fn create_mapping(sql: &Client, object: &str, fields: &[&str], access: &str, options: Value) {
    let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    sql.query_one(
        "SELECT sfsync.create_mapping($1, $2, $3, $4::text::jsonb)",
        &[&object, &fields, &access, &options.to_string()],
    )
    .await
    .unwrap_or_else(|e| panic!("create_mapping {object}: {e}"));
}

/// The mappings both installs get, in the same order (so with the same ids): Account adopted from a
/// Heroku Connect-style table holding `adopted` rows (sfid, name, external id), read-write with an
/// upsert field; Contact read-only; Opportunity read-write and paused. `handed_over`: the superuser
/// hands the schema and table over to sfsync_owner first, as 0.2.0 requires before it adopts a table
/// (0.1.0 adopted it as it was; its upgrade does the same hand-over).
async fn create_mappings(
    sql: &Client,
    describes: &Describes,
    adopted: &[(String, &str, &str)],
    handed_over: bool,
) {
    sql.batch_execute(
        "CREATE SCHEMA salesforce;
         CREATE TABLE salesforce.account (id serial PRIMARY KEY, sfid varchar(18), name varchar(255),
                                          ext_id__c varchar(40), _hc_lastop varchar(32), _hc_err text);",
    )
    .await
    .expect("the Heroku Connect-style table");
    if handed_over {
        sql.batch_execute(
            "GRANT USAGE, CREATE ON SCHEMA salesforce TO sfsync_owner;
             ALTER TABLE salesforce.account OWNER TO sfsync_owner;",
        )
        .await
        .expect("hand the Heroku Connect table over to sfsync");
    }
    for (sfid, name, ext_id) in adopted {
        sql.execute(
            "INSERT INTO salesforce.account (sfid, name, ext_id__c, _hc_lastop) VALUES ($1, $2, $3, 'SYNCED')",
            &[sfid, name, ext_id],
        )
        .await
        .expect("an adopted row");
    }
    create_mapping(
        sql,
        "Account",
        &["Name", "Ext_Id__c"],
        "read_write",
        json!({"upsert_field": "Ext_Id__c", "poll_seconds": 1, "describe": describes.account}),
    )
    .await;
    create_mapping(
        sql,
        "Contact",
        &["LastName", "Email"],
        "read_only",
        json!({"poll_seconds": 1, "describe": describes.contact}),
    )
    .await;
    create_mapping(
        sql,
        "Opportunity",
        &["Name", "StageName", "CloseDate"],
        "read_write",
        json!({"poll_seconds": 3600, "describe": describes.opportunity}),
    )
    .await;
    sql.batch_execute("SELECT sfsync.pause('Opportunity')")
        .await
        .expect("pause");
}

async fn mapping_id(sql: &Client, object: &str) -> i64 {
    sql.query_one(
        "SELECT id FROM sfsync.mapping WHERE object_name = $1",
        &[&object],
    )
    .await
    .expect("mapping id")
    .get(0)
}

/// Columns of `sfsync.mapping` that 0.2.0 adds (`table_oid`, filled in; the reconciliation's and the
/// dependent fields', at their defaults or learned by the sidecar): left out of the comparison,
/// checked on their own.
const ADDED_MAPPING_COLUMNS: &str =
    "'table_oid' - 'reconcile_seconds' - 'last_reconciled_at' - 'reconcile_requested_at' - 'fresh_formulas'
     - 'formula_refresh_seconds' - 'dependencies' - 'formula_api_calls' - 'formula_rows_refreshed'
     - 'formulas_refreshed_at'";

/// A table's rows as JSON text (ids included), in a fixed order: what must survive unchanged (but
/// the columns of `ADDED_MAPPING_COLUMNS`).
async fn rows(sql: &Client, table: &str) -> Vec<String> {
    sql.query(
        &format!("SELECT (to_jsonb(t) - {ADDED_MAPPING_COLUMNS})::text FROM {table} t ORDER BY 1"),
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("{table}: {e}"))
    .iter()
    .map(|row| row.get(0))
    .collect()
}

async fn all_rows(sql: &Client) -> Vec<(&'static str, Vec<String>)> {
    let mut all = Vec::new();
    for table in [
        "sfsync.instance",
        "sfsync.mapping",
        "sfsync.change",
        "sfsync.change_archive",
        "sfsync.conflict",
        "salesforce.account",
        "salesforce.contact",
        "salesforce.opportunity",
    ] {
        all.push((table, rows(sql, table).await));
    }
    all
}

async fn count(sql: &Client, query: &str) -> i64 {
    sql.query_one(query, &[])
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .get(0)
}

/// Runs a one-shot subcommand; (success, stdout + stderr).
fn one_shot(env: &[(String, String)], subcommand: &str) -> (bool, String) {
    let output = Sidecar::command(env, subcommand);
    (output.status.success(), text(&output))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `sfsync-sidecar run` until it exits by itself, or `None` (killed) after `timeout`.
fn run_until_exit(env: &[(String, String)], timeout: Duration) -> Option<Output> {
    let mut child = Command::new(binary("sfsync-sidecar"))
        .arg("run")
        .envs(env.iter().cloned())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sfsync-sidecar run");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if child.try_wait().expect("poll the sidecar").is_some() {
            return Some(child.wait_with_output().expect("sidecar output"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_install_equals_a_fresh_one_and_keeps_syncing() {
    let started = Instant::now();
    let emulator = Emulator::start(&[]);
    emulator.add_external_id("Account", "Ext_Id__c").await;
    let describes = Describes {
        account: describe(&emulator, "Account").await,
        contact: describe(&emulator, "Contact").await,
        opportunity: describe(&emulator, "Opportunity").await,
    };
    // Records a Heroku Connect database already holds, and a contact the 0.1.0 sidecar read.
    let adopted_ids = emulator.create_as_other(
        "Account",
        json!([{"Name": "Adopted 1", "Ext_Id__c": "H-1"}, {"Name": "Adopted 2", "Ext_Id__c": "H-2"}]),
    )
    .await;
    let contact_ids = emulator
        .create_as_other(
            "Contact",
            json!([{"LastName": "Read before", "Email": "before@example.com"}]),
        )
        .await;

    // A database in use with 0.1.0, in a cluster of its own: the roles are cluster-wide and must be
    // the ones the 0.1.0 install made.
    let old_cluster = Cluster::start(false);
    let old = old_cluster.database_at(Some(FROM_VERSION)).await;
    let sql = old.connect().await;
    create_mappings(
        &sql,
        &describes,
        &[
            (adopted_ids[0].clone(), "Adopted 1", "H-1"),
            (adopted_ids[1].clone(), "Adopted 2", "H-2"),
        ],
        false,
    )
    .await;
    let account = mapping_id(&sql, "Account").await;
    let contact = mapping_id(&sql, "Contact").await;
    sql.execute(
        "SELECT sfsync._apply_records($1, $2::text::jsonb)",
        &[
            &contact,
            &json!([{"Id": contact_ids[0], "SystemModstamp": "2024-01-31T13:00:00.000+0000",
                     "LastName": "Read before", "Email": "before@example.com"}])
            .to_string(),
        ],
    )
    .await
    .expect("a contact read by the 0.1.0 sidecar");
    sql.batch_execute(
        "INSERT INTO salesforce.account (name, ext_id__c)
              VALUES ('Failed before', 'A-1'), ('In flight', 'A-2'), ('Queued 3', 'A-3'), ('Queued 4', 'A-4');
         INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Short-lived', 'A-GONE');
         DELETE FROM salesforce.account WHERE ext_id__c = 'A-GONE';
         UPDATE salesforce.account SET name = 'Local name' WHERE ext_id__c = 'H-1';
         INSERT INTO salesforce.opportunity (name, stagename, closedate)
              VALUES ('Paused deal', 'Prospecting', '2030-01-31');",
    )
    .await
    .expect("local writes");
    // Salesforce changed H-1 too while its local change was queued: a conflict (Salesforce wins)
    emulator
        .write_as_other(
            "Account",
            json!([{"Id": adopted_ids[0], "Name": "Remote name"}]),
        )
        .await;
    sql.execute(
        "SELECT sfsync._apply_records($1, $2::text::jsonb)",
        &[
            &account,
            &json!([{"Id": adopted_ids[0], "SystemModstamp": "2024-01-31T14:00:00.000+0000",
                     "Name": "Remote name", "Ext_Id__c": "H-1"}])
            .to_string(),
        ],
    )
    .await
    .expect("an incoming value meeting a queued change");
    assert_eq!(count(&sql, "SELECT count(*) FROM sfsync.conflict").await, 1);
    // A-1 is claimed and fails for good; A-2 is claimed and still in flight when the upgrade runs.
    let claimed = sql
        .query(
            "SELECT change_id, lease_token::text FROM sfsync._claim_changes(1, 60, $1)",
            &[&account],
        )
        .await
        .expect("claim A-1");
    assert_eq!(claimed.len(), 1, "one change of one record");
    let (failed_id, token): (i64, String) = (claimed[0].get(0), claimed[0].get(1));
    sql.execute(
        "SELECT sfsync._complete_changes($1::text::jsonb)",
        &[&json!([{"id": failed_id, "token": token, "outcome": "FAILED",
                   "error": {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "rejected before the upgrade"}}])
            .to_string()],
    )
    .await
    .expect("A-1 fails");
    let in_flight = sql
        .query(
            "SELECT change_id FROM sfsync._claim_changes(1, $1, $2)",
            &[&IN_FLIGHT_LEASE_SECONDS, &account],
        )
        .await
        .expect("claim A-2");
    assert_eq!(in_flight.len(), 1);
    let states: Vec<String> = sql
        .query(
            "SELECT state || ' ' || count(*) FROM (SELECT state FROM sfsync.change UNION ALL
                                                  SELECT state FROM sfsync.change_archive) s
              GROUP BY state ORDER BY state",
            &[],
        )
        .await
        .expect("states")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for state in ["FAILED", "IGNORED", "NEW", "PENDING"] {
        assert!(
            states.iter().any(|s| s.starts_with(state)),
            "the 0.1.0 database has {state} changes: {states:?}"
        );
    }
    let before = all_rows(&sql).await;

    // The 0.2.0 sidecar refuses the 0.1.0 extension, saying what to run, and touches nothing.
    let mut env = emulator.sidecar_env();
    env.push(("DATABASE_URL".into(), old.sidecar_url()));
    env.push(("SFSYNC_WRITE_LEASE_SECONDS".into(), "6".into()));
    let refusal = format!(
        "extension sfsync {FROM_VERSION} is installed in database {}, but sfsync-sidecar {TO_VERSION} runs only against sfsync {TO_VERSION}: install the sfsync {TO_VERSION} extension files and run ALTER EXTENSION sfsync UPDATE TO '{TO_VERSION}' in database {}",
        old.name, old.name
    );
    let (ok, out) = one_shot(&env, "check");
    assert!(!ok, "check fails on {FROM_VERSION}: {out}");
    assert!(
        out.lines()
            .any(|line| line.starts_with("FAIL  database") && line.contains(&refusal)),
        "check names both versions and what to run: {out}"
    );
    let (ok, out) = one_shot(&env, "status");
    assert!(!ok, "status refuses {FROM_VERSION}: {out}");
    assert!(out.contains(&refusal), "{out}");
    let refused = run_until_exit(&env, Duration::from_secs(30))
        .expect("run exits by itself on an unsupported extension version");
    assert!(
        !refused.status.success(),
        "run exits non-zero: {}",
        text(&refused)
    );
    assert!(text(&refused).contains(&refusal), "{}", text(&refused));
    assert_eq!(
        all_rows(&sql).await,
        before,
        "the refused sidecar changed nothing"
    );

    // The upgrade.
    sql.batch_execute("ALTER EXTENSION sfsync UPDATE")
        .await
        .expect("ALTER EXTENSION sfsync UPDATE");
    let version: String = sql
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'sfsync'",
            &[],
        )
        .await
        .expect("version")
        .get(0);
    assert_eq!(version, TO_VERSION);

    // (b) every mapping, row and change is still there, with its id and everything else
    assert_eq!(all_rows(&sql).await, before, "the upgrade changed data");
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM sfsync.mapping
              WHERE table_oid IS DISTINCT FROM to_regclass(format('%I.%I', schema_name, table_name))"
        )
        .await,
        0,
        "the upgrade recorded every mapped table"
    );
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM sfsync.mapping
              WHERE reconcile_seconds <> 21600 OR last_reconciled_at IS NOT NULL OR reconcile_requested_at IS NOT NULL"
        )
        .await,
        0,
        "upgraded mappings are reconciled on the default schedule, never yet"
    );
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM sfsync.mapping
              WHERE NOT fresh_formulas OR formula_refresh_seconds <> 3600 OR formula_rows_refreshed <> 0"
        )
        .await,
        0,
        "upgraded mappings keep dependent fields fresh, on the default schedule"
    );

    // (a) the catalog equals a fresh install's with the same mappings (another cluster: its roles
    // are made by the 0.2.0 install script)
    let fresh_cluster = Cluster::start(false);
    let fresh = fresh_cluster.database_at(None).await;
    let fresh_sql = fresh.connect().await;
    create_mappings(&fresh_sql, &describes, &[], true).await;
    let upgraded = catalog::snapshot(&sql).await;
    let installed = catalog::snapshot(&fresh_sql).await;
    assert!(
        upgraded.len() > 200,
        "the snapshot sees the catalog: {} objects",
        upgraded.len()
    );
    if let Some(diff) = catalog::diff(
        &format!("upgraded from {FROM_VERSION}"),
        &upgraded,
        &format!("fresh {TO_VERSION} install"),
        &installed,
    ) {
        panic!("the upgraded catalog differs from a fresh install's:\n{diff}");
    }
    drop(fresh_sql);
    drop(fresh_cluster);

    // (c) the 0.2.0 sidecar accepts the database, drains the queue and syncs both ways
    let (ok, out) = one_shot(&env, "check");
    assert!(
        out.lines().any(|line| line.starts_with("ok    database")
            && line.contains(&format!("sfsync {TO_VERSION} installed"))),
        "check accepts {TO_VERSION}: {out}"
    );
    assert!(ok, "{out}");
    let _sidecar = Sidecar::start(&env);
    sql.batch_execute(
        "SELECT sfsync.resume('Opportunity'); SELECT sfsync.retry_failed('Account');",
    )
    .await
    .expect("resume and retry");
    eventually(WAIT, "the queue to drain", || async {
        count(&sql, "SELECT count(*) FROM sfsync.change").await == 0
    })
    .await;
    let accounts = emulator
        .query("SELECT Id, Name, Ext_Id__c FROM Account WHERE IsDeleted = false")
        .await;
    let mut ext_ids: Vec<&str> = accounts
        .iter()
        .filter_map(|record| record["Ext_Id__c"].as_str())
        .collect();
    ext_ids.sort_unstable();
    assert_eq!(
        ext_ids,
        ["A-1", "A-2", "A-3", "A-4", "H-1", "H-2"],
        "each queued, in-flight and retried change reached Salesforce once; the IGNORED one never: {accounts:?}"
    );
    for record in &accounts {
        let ext_id = record["Ext_Id__c"].as_str().unwrap_or_default();
        let sfid: Option<String> = sql
            .query_one(
                "SELECT sfid::text FROM salesforce.account WHERE ext_id__c = $1",
                &[&ext_id],
            )
            .await
            .unwrap_or_else(|e| panic!("{ext_id}: {e}"))
            .get(0);
        assert_eq!(sfid.as_deref(), record["Id"].as_str(), "{ext_id}");
    }
    let deals = emulator
        .query("SELECT Id FROM Opportunity WHERE Name = 'Paused deal'")
        .await;
    assert_eq!(
        deals.len(),
        1,
        "the paused mapping's change was sent after resume"
    );
    assert_eq!(
        count(
            &sql,
            &format!("SELECT count(*) FROM sfsync.change_archive WHERE id = {failed_id} AND state = 'FAILED'")
        )
        .await,
        0,
        "the change that failed before the upgrade was retried"
    );

    let read_after = emulator
        .create_as_other(
            "Contact",
            json!([{"LastName": "Read after", "Email": "after@example.com"}]),
        )
        .await;
    eventually(WAIT, "a Salesforce contact to reach Postgres", || async {
        count(
            &sql,
            &format!(
                "SELECT count(*) FROM salesforce.contact WHERE sfid = '{}' AND lastname = 'Read after'",
                read_after[0]
            ),
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        count(
            &sql,
            &format!(
                "SELECT count(*) FROM salesforce.contact WHERE sfid = '{}'",
                contact_ids[0]
            )
        )
        .await,
        1,
        "the contact read before the upgrade is kept"
    );
    eprintln!("upgrade test took {:?}", started.elapsed());
}

/// `run` waits for a database it cannot reach (the gate retries), and stops cleanly on SIGTERM.
#[tokio::test]
async fn run_waits_for_an_unreachable_database() {
    let emulator = Emulator::start(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut env = emulator.sidecar_env();
    env.push((
        "DATABASE_URL".into(),
        format!("postgres://postgres@127.0.0.1:{port}/nowhere?sslmode=disable&connect_timeout=2"),
    ));
    let mut sidecar = Sidecar::start(&env);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(sidecar.is_running(), "run keeps waiting for the database");
    let status = sidecar
        .terminate(Duration::from_secs(20))
        .expect("stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}
