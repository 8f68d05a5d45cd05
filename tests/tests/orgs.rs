//! Several orgs in one database, end to end: two emulators (two orgs), one database with the schemas
//! `salesforce` and `org2`, two sidecars as sfsync_agent members. Inserts, updates and deletes land
//! only in their own org, under load and across kill -9 of either sidecar; reading back never mixes
//! the orgs; a sidecar logged in to the wrong org for its schema refuses to start; `rebind` moves a
//! schema on purpose.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{eventually, Cluster, Emulator, Sidecar};
use tokio_postgres::Client;

const ORG_TWO: &str = "00D000000000002EAA";
const ROWS: usize = 2_000;
const WAIT: Duration = Duration::from_secs(240);

struct Org {
    schema: &'static str,
    /// Prefix of the external ids of the rows inserted into this schema.
    prefix: &'static str,
    emulator: Emulator,
    env: Vec<(String, String)>,
}

impl Org {
    async fn start(
        schema: &'static str,
        prefix: &'static str,
        emulator_args: &[&str],
        database_url: &str,
    ) -> Org {
        let emulator = Emulator::start(emulator_args);
        emulator
            .admin(
                Method::POST,
                "objects/Account/fields",
                Some(json!({"name": "Ext_Id__c", "type": "string", "length": 40, "externalId": true, "unique": true})),
            )
            .await;
        let mut env = emulator.sidecar_env();
        env.push(("DATABASE_URL".into(), database_url.to_string()));
        env.push(("SFSYNC_SCHEMA".into(), schema.into()));
        // short leases so a killed sidecar's changes come back quickly
        env.push(("SFSYNC_WRITE_LEASE_SECONDS".into(), "6".into()));
        Org {
            schema,
            prefix,
            emulator,
            env,
        }
    }

    async fn org_id(&self) -> String {
        let rows = self.emulator.query("SELECT Id FROM Organization").await;
        rows[0]["Id"].as_str().expect("Organization Id").to_string()
    }

    /// Account mapped read-write in this org's schema, from this org's describe; polled often so
    /// records written in Salesforce come back quickly.
    async fn map_accounts(&self, sql: &Client) {
        let (status, describe) = self
            .emulator
            .rest(Method::GET, "sobjects/Account/describe", None)
            .await;
        assert_eq!(status, 200, "{describe}");
        let options = json!({"schema": self.schema, "upsert_field": "Ext_Id__c", "poll_seconds": 2, "describe": describe});
        sql.query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name','Ext_Id__c'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .expect("create mapping");
    }

    /// Every Account of the org (deleted ones too, as queryAll shows them).
    async fn accounts(&self) -> Vec<Value> {
        self.emulator
            .query("SELECT Id, Name, Ext_Id__c, IsDeleted FROM Account")
            .await
    }
}

async fn queued(sql: &Client) -> i64 {
    sql.query_one(
        "SELECT count(*) FROM sfsync.change WHERE state IN ('NEW', 'PENDING')",
        &[],
    )
    .await
    .expect("queue")
    .get(0)
}

/// Inserts ROWS rows in commits of 100.
async fn insert_load(url: String, schema: &'static str, prefix: &'static str) {
    let sql = sfsync_tests::connect(&url).await;
    for start in (1..=ROWS).step_by(100) {
        sql.batch_execute(&format!(
            "INSERT INTO {schema}.account (name, ext_id__c)
             SELECT '{schema} account ' || g, '{prefix}-' || g FROM generate_series({start}, {}) g",
            start + 99
        ))
        .await
        .expect("insert");
    }
}

/// Updates every tenth row and deletes every twentieth, one commit per row.
async fn change_load(url: String, schema: &'static str, prefix: &'static str) {
    let sql = sfsync_tests::connect(&url).await;
    for n in (10..=ROWS).step_by(10) {
        let statement = if n.is_multiple_of(20) {
            format!("DELETE FROM {schema}.account WHERE ext_id__c = '{prefix}-{n}'")
        } else {
            format!("UPDATE {schema}.account SET name = name || ' (updated)' WHERE ext_id__c = '{prefix}-{n}'")
        };
        sql.batch_execute(&statement)
            .await
            .expect("update or delete");
    }
}

/// What the org must hold: the rows written into its schema, none of the other's.
fn assert_holds_only_its_own(org: &Org, other: &Org, accounts: &[Value]) {
    let live: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["IsDeleted"] != json!(true))
        .collect();
    let ours: HashSet<String> = live
        .iter()
        .filter_map(|a| a["Ext_Id__c"].as_str())
        .filter(|id| id.starts_with(&format!("{}-", org.prefix)))
        .map(str::to_string)
        .collect();
    let foreign = accounts
        .iter()
        .filter(|a| {
            a["Ext_Id__c"]
                .as_str()
                .is_some_and(|id| id.starts_with(&format!("{}-", other.prefix)))
        })
        .count();
    assert_eq!(
        foreign, 0,
        "org of schema {} holds records of schema {}",
        org.schema, other.schema
    );
    let expected: HashSet<String> = (1..=ROWS)
        .filter(|n| !n.is_multiple_of(20))
        .map(|n| format!("{}-{n}", org.prefix))
        .collect();
    let mut missing: Vec<&String> = expected.difference(&ours).collect();
    let mut extra: Vec<&String> = ours.difference(&expected).collect();
    missing.sort();
    extra.sort();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "schema {}: records missing from its org {missing:?}, records that should not be there {extra:?}",
        org.schema
    );
    // one record per row: nothing was sent twice across the kills
    let with_prefix = live
        .iter()
        .filter(|a| {
            a["Ext_Id__c"]
                .as_str()
                .is_some_and(|id| id.starts_with(&format!("{}-", org.prefix)))
        })
        .count();
    assert_eq!(
        with_prefix,
        expected.len(),
        "schema {}: duplicates",
        org.schema
    );
    for a in &live {
        let Some(id) = a["Ext_Id__c"]
            .as_str()
            .and_then(|id| id.strip_prefix(&format!("{}-", org.prefix)))
        else {
            continue;
        };
        let n: usize = id.parse().unwrap();
        let name = a["Name"].as_str().unwrap_or_default();
        assert_eq!(
            name.ends_with("(updated)"),
            n.is_multiple_of(10),
            "schema {}: {name}",
            org.schema
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_orgs_in_one_database_never_mix() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let one = Org::start("salesforce", "ONE", &[], &db.sidecar_url()).await;
    let two = Org::start("org2", "TWO", &["--org-id", ORG_TWO], &db.sidecar_url()).await;
    let org_one = one.org_id().await;
    assert_eq!(two.org_id().await, ORG_TWO);
    assert_ne!(org_one, ORG_TWO);
    one.map_accounts(&sql).await;
    two.map_accounts(&sql).await;

    let mut sidecar_one = Sidecar::start(&one.env);
    let mut sidecar_two = Sidecar::start(&two.env);
    eventually(WAIT, "both schemas to be bound to their orgs", || async {
        sql.query("SELECT 1 FROM sfsync.org", &[])
            .await
            .map(|rows| rows.len())
            .unwrap_or(0)
            == 2
    })
    .await;
    let bound: Vec<(String, String)> = sql
        .query("SELECT schema_name, org_id FROM sfsync.org ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        bound,
        vec![
            ("org2".into(), ORG_TWO.into()),
            ("salesforce".into(), org_one.clone())
        ]
    );

    // Load in both schemas at once: inserts with a kill -9 of sidecar one while its changes are in
    // flight, then updates and deletes with a kill -9 of sidecar two. (A delete queued behind an
    // interrupted insert has its own test: writer_crash.rs.)
    let load_one = tokio::spawn(insert_load(db.url.clone(), "salesforce", "ONE"));
    let load_two = tokio::spawn(insert_load(db.url.clone(), "org2", "TWO"));
    eventually(WAIT, "org one's writes to be under way", || async {
        one.accounts().await.len() >= 200
    })
    .await;
    sidecar_one.kill9();
    sidecar_one.restart();
    load_one.await.expect("load one");
    load_two.await.expect("load two");
    eventually(WAIT, "both queues to drain", || async {
        queued(&sql).await == 0
    })
    .await;
    let load_one = tokio::spawn(change_load(db.url.clone(), "salesforce", "ONE"));
    let load_two = tokio::spawn(change_load(db.url.clone(), "org2", "TWO"));
    eventually(WAIT, "org two's deletes to be under way", || async {
        two.accounts()
            .await
            .iter()
            .filter(|a| a["IsDeleted"] == json!(true))
            .count()
            >= 20
    })
    .await;
    sidecar_two.kill9();
    sidecar_two.restart();
    load_one.await.expect("load one");
    load_two.await.expect("load two");
    eventually(WAIT, "both queues to drain", || async {
        queued(&sql).await == 0
    })
    .await;

    let failed: i64 = sql
        .query_one(
            "SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failed, 0, "no change may fail");
    let accounts_one = one.accounts().await;
    let accounts_two = two.accounts().await;
    assert_holds_only_its_own(&one, &two, &accounts_one);
    assert_holds_only_its_own(&two, &one, &accounts_two);

    // Each row's sfid is a record of its own org.
    for (org, accounts) in [(&one, &accounts_one), (&two, &accounts_two)] {
        let ids: HashSet<String> = accounts
            .iter()
            .filter_map(|a| a["Id"].as_str())
            .map(str::to_string)
            .collect();
        let sfids: Vec<String> = sql
            .query(
                &format!(
                    "SELECT sfid FROM {}.account WHERE ext_id__c LIKE '{}-%'",
                    org.schema, org.prefix
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(sfids.len(), ROWS - ROWS / 20, "schema {}: rows", org.schema);
        assert!(
            sfids.iter().all(|sfid| ids.contains(sfid)),
            "schema {}: an sfid of another org",
            org.schema
        );
    }

    // Reading back: a record written in each org by someone else arrives in its own schema only.
    one.emulator
        .write_as_other(
            "Account",
            json!([{"Name": "Written in org one", "Ext_Id__c": "ELSEWHERE-1"}]),
        )
        .await;
    two.emulator
        .write_as_other(
            "Account",
            json!([{"Name": "Written in org two", "Ext_Id__c": "ELSEWHERE-2"}]),
        )
        .await;
    eventually(
        WAIT,
        "each org's new record to be read into its schema",
        || async {
            let count = |schema: &str, name: &str| {
                format!("SELECT count(*) FROM {schema}.account WHERE name = '{name}'")
            };
            let mut found = Vec::new();
            for (schema, name) in [
                ("salesforce", "Written in org one"),
                ("org2", "Written in org two"),
            ] {
                found.push(
                    sql.query_one(&count(schema, name), &[])
                        .await
                        .unwrap()
                        .get::<_, i64>(0),
                );
            }
            found == vec![1, 1]
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (schema, name) in [
        ("salesforce", "Written in org two"),
        ("org2", "Written in org one"),
    ] {
        let count: i64 = sql
            .query_one(
                &format!("SELECT count(*) FROM {schema}.account WHERE name = '{name}'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 0, "schema {schema} read {name:?} from the other org");
    }
    for (schema, org) in [("salesforce", &one), ("org2", &two)] {
        let rows: i64 = sql
            .query_one(&format!("SELECT count(*) FROM {schema}.account"), &[])
            .await
            .unwrap()
            .get(0);
        let live = org
            .accounts()
            .await
            .iter()
            .filter(|a| a["IsDeleted"] != json!(true))
            .count() as i64;
        assert_eq!(rows, live, "schema {schema} mirrors its org exactly");
    }
    sidecar_one.terminate(Duration::from_secs(30));
    sidecar_two.terminate(Duration::from_secs(30));

    // A sidecar of schema `salesforce` that logs in to org two refuses to start, naming both orgs.
    let mut wrong = two.env.clone();
    wrong.retain(|(key, _)| key != "SFSYNC_SCHEMA");
    let (status, _, stderr) = Sidecar::command_with_timeout(&wrong, "run", Duration::from_secs(90));
    let status = status.expect("a sidecar with the wrong org must stop by itself");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&org_one) && stderr.contains(ORG_TWO),
        "{stderr}"
    );
    assert!(stderr.contains("sfsync-sidecar rebind"), "{stderr}");
    let check = Sidecar::command(&wrong, "check");
    assert!(!check.status.success());
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check_out
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("org") && l.contains(ORG_TWO)),
        "{check_out}"
    );
    let bound: String = sql
        .query_one(
            "SELECT org_id FROM sfsync.org WHERE schema_name = 'salesforce'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bound, org_one, "a refused sidecar changes no binding");

    // `rebind` moves the schema on purpose; status() shows the new binding.
    let rebind = Sidecar::command(&wrong, "rebind");
    let out = String::from_utf8_lossy(&rebind.stdout);
    assert!(
        rebind.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&rebind.stderr)
    );
    assert!(out.contains(&org_one) && out.contains(ORG_TWO), "{out}");
    let shown: String = sql
        .query_one(
            "SELECT org_id FROM sfsync.status() WHERE schema = 'salesforce'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, ORG_TWO);
}
