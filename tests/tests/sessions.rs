//! Tenant isolation enforced by the extension, over real connections as the sidecar's role (a login
//! role that is only a member of sfsync_agent): a session serves the one schema it opened, whatever
//! it asks for, and a schema accepts only the org it is bound to.

use sfsync_tests::{describe_fixture, Cluster, TestDb};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const ORG_ONE: &str = "00D000000000001EAA";
const ORG_TWO: &str = "00D8E0000000001UAA";

/// Account mapped read-write in `schema`, with `rows` rows queued for insert; returns the mapping id.
async fn queued_accounts(admin: &Client, schema: &str, rows: i32) -> i64 {
    let options = serde_json::json!({"schema": schema, "describe": describe_fixture("account")});
    let id: i64 = admin
        .query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name','Ext_Id__c'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .expect("create mapping")
        .get(0);
    admin
        .batch_execute(&format!(
            "INSERT INTO {schema}.account (name) SELECT '{schema} ' || g FROM generate_series(1, {rows}) g"
        ))
        .await
        .expect("insert rows");
    id
}

async fn sidecar_session(db: &TestDb, schema: &str, org: &str) -> Client {
    let client = sfsync_tests::connect(&db.sidecar_url()).await;
    client
        .query_one(
            "SELECT org_id FROM sfsync._open_session($1, $2)",
            &[&schema, &org],
        )
        .await
        .expect("open session");
    client
}

/// (change id, mapping id, lease token) of what a session claims.
async fn claim(
    client: &Client,
    mapping: Option<i64>,
) -> Result<Vec<(i64, i64, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT change_id, mapping_id, lease_token::text FROM sfsync._claim_changes(1000, 60, $1)",
            &[&mapping],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

fn code(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.code()
}

#[tokio::test]
async fn a_session_sees_claims_and_completes_only_its_own_schema() {
    let db = Cluster::shared().database().await;
    let admin = db.connect().await;
    let ours = queued_accounts(&admin, "salesforce", 5).await;
    let theirs = queued_accounts(&admin, "org2", 7).await;

    // Without a session the sidecar's role may not speak the protocol at all.
    let unbound = sfsync_tests::connect(&db.sidecar_url()).await;
    let error = claim(&unbound, None).await.expect_err("unbound claim");
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
    let error = unbound
        .query("SELECT * FROM sfsync.status()", &[])
        .await
        .expect_err("unbound status");
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
    // ...nor bind itself past the org check
    let error = unbound
        .query("SELECT sfsync._bind_session('org2')", &[])
        .await
        .expect_err("direct bind");
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );

    let one = sidecar_session(&db, "salesforce", ORG_ONE).await;
    let two = sidecar_session(&db, "org2", ORG_TWO).await;

    // The catalog and the queue tables: own mappings only, no direct queue reads.
    let visible: Vec<i64> = one
        .query("SELECT id FROM sfsync.mapping", &[])
        .await
        .expect("mappings")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(visible, vec![ours]);
    for table in ["change", "change_archive", "conflict", "org"] {
        let error = one
            .query(&format!("SELECT 1 FROM sfsync.{table}"), &[])
            .await
            .expect_err("queue table read");
        assert_eq!(
            code(&error),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{table}: {error}"
        );
    }
    let status = one
        .query("SELECT schema, org_id, pending FROM sfsync.status()", &[])
        .await
        .expect("status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].get::<_, String>(0), "salesforce");
    assert_eq!(
        status[0].get::<_, Option<String>>(1).as_deref(),
        Some(ORG_ONE)
    );
    assert_eq!(status[0].get::<_, i64>(2), 5);

    // Asking for the other schema's mapping is refused; claims hold only own changes.
    let error = claim(&one, Some(theirs))
        .await
        .expect_err("foreign mapping claim");
    assert!(
        error
            .as_db_error()
            .is_some_and(|e| e.message().contains("belongs to another schema")),
        "{error}"
    );
    // ...while the same call about its own mapping works (the refusals above are about scope)
    one.query("SELECT sfsync._create_stage($1)", &[&ours])
        .await
        .expect("own staging table");
    let claimed_one = claim(&one, None).await.expect("claim one");
    assert_eq!(claimed_one.len(), 5);
    assert!(claimed_one.iter().all(|(_, mapping, _)| *mapping == ours));
    let claimed_two = claim(&two, None).await.expect("claim two");
    assert_eq!(claimed_two.len(), 7);
    assert!(claimed_two.iter().all(|(_, mapping, _)| *mapping == theirs));

    // Another schema's lease can be neither renewed nor completed, even with its token.
    let (their_change, _, their_token) = claimed_two[0].clone();
    let renewed: i32 = one
        .query_one(
            "SELECT sfsync._renew_leases($1::text::uuid, 60)",
            &[&their_token],
        )
        .await
        .expect("renew")
        .get(0);
    assert_eq!(renewed, 0);
    let results = serde_json::json!([{"id": their_change, "token": their_token, "outcome": "SUCCESS",
                                      "sfid": "001000000000001AAA"}]);
    let answer: String = one
        .query_one(
            "SELECT sfsync._complete_changes($1::text::jsonb)::text",
            &[&results.to_string()],
        )
        .await
        .expect("complete")
        .get(0);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["applied"], 0, "{answer}");
    let state: String = admin
        .query_one(
            "SELECT state FROM sfsync.change WHERE id = $1",
            &[&their_change],
        )
        .await
        .expect("their change")
        .get(0);
    assert_eq!(
        state, "PENDING",
        "org2's change must still be org2's sidecar's to complete"
    );

    // Reader bookkeeping of another schema's mapping is refused too.
    for call in [
        "SELECT sfsync._set_reader_position($1, now())",
        "SELECT sfsync._acquire_reader($1, 'intruder')",
        "SELECT sfsync._set_progress($1, 1, 1)",
        "SELECT sfsync._in_flight($1, ARRAY['001000000000001AAA'])",
        "SELECT sfsync._create_stage($1)",
    ] {
        let error = one.query(call, &[&theirs]).await.expect_err(call);
        let db_error = error
            .as_db_error()
            .unwrap_or_else(|| panic!("{call}: {error}"));
        assert_eq!(
            db_error.code(),
            &SqlState::INSUFFICIENT_PRIVILEGE,
            "{call}: {db_error:?}"
        );
        assert!(
            db_error.message().contains("belongs to another schema"),
            "{call}: {db_error:?}"
        );
    }
    let depth = one
        .query("SELECT mapping_id FROM sfsync._queue_depth()", &[])
        .await
        .expect("depth");
    assert_eq!(
        depth
            .iter()
            .map(|row| row.get::<_, i64>(0))
            .collect::<Vec<_>>(),
        vec![ours]
    );

    // A bound session stays bound.
    let error = one
        .query(
            "SELECT * FROM sfsync._open_session('org2', $1)",
            &[&ORG_TWO],
        )
        .await
        .expect_err("second schema");
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
}

#[tokio::test]
async fn a_schema_accepts_only_the_org_it_is_bound_to() {
    let db = Cluster::shared().database().await;
    let admin = db.connect().await;
    let sidecar = sfsync_tests::connect(&db.sidecar_url()).await;

    // First contact binds (a 15-character id is stored in its 18-character form).
    let row = sidecar
        .query_one(
            "SELECT org_id, previous_org_id FROM sfsync._open_session('salesforce', '00D8E0000000001')",
            &[],
        )
        .await
        .expect("first contact");
    assert_eq!(row.get::<_, String>(0), ORG_TWO);
    assert_eq!(row.get::<_, Option<String>>(1), None);

    // Another org for that schema is refused, naming both orgs and what to do.
    let other = sfsync_tests::connect(&db.sidecar_url()).await;
    let error = other
        .query(
            "SELECT * FROM sfsync._open_session('salesforce', $1)",
            &[&ORG_ONE],
        )
        .await
        .expect_err("wrong org");
    let db_error = error.as_db_error().expect("database error");
    assert_eq!(db_error.code(), &SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
    assert!(
        db_error.message().contains(ORG_TWO) && db_error.message().contains(ORG_ONE),
        "{db_error:?}"
    );
    assert!(
        db_error
            .hint()
            .unwrap_or("")
            .contains("sfsync-sidecar rebind"),
        "{db_error:?}"
    );
    // ...and leaves the refused session unbound.
    let error = claim(&other, None).await.expect_err("still unbound");
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );

    // Bad ids are refused clearly.
    for bad in ["001000000000001AAA", "00D8E0000000001XXX", "not an id"] {
        let error = other
            .query(
                "SELECT * FROM sfsync._open_session('salesforce', $1)",
                &[&bad],
            )
            .await
            .expect_err(bad);
        assert_eq!(
            code(&error),
            Some(&SqlState::INVALID_PARAMETER_VALUE),
            "{bad}: {error}"
        );
    }

    // The explicit rebind moves the schema.
    let row = other
        .query_one(
            "SELECT org_id, previous_org_id FROM sfsync._open_session('salesforce', $1, true)",
            &[&ORG_ONE],
        )
        .await
        .expect("rebind");
    assert_eq!(row.get::<_, String>(0), ORG_ONE);
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some(ORG_TWO));

    // An admin binds a schema before first contact; the binding is listed in status().
    let before: Option<String> = admin
        .query_one("SELECT sfsync.bind_org($1, 'org2')", &[&ORG_TWO])
        .await
        .expect("bind_org")
        .get(0);
    assert_eq!(before, None);
    let refused = sfsync_tests::connect(&db.sidecar_url()).await;
    let error = refused
        .query(
            "SELECT * FROM sfsync._open_session('org2', $1)",
            &[&ORG_ONE],
        )
        .await
        .expect_err("pre-bound schema, other org");
    assert_eq!(
        code(&error),
        Some(&SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE),
        "{error}"
    );
    let bound: Vec<(String, String)> = admin
        .query("SELECT schema_name, org_id FROM sfsync.org ORDER BY 1", &[])
        .await
        .expect("org table")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        bound,
        vec![
            ("org2".to_string(), ORG_TWO.to_string()),
            ("salesforce".to_string(), ORG_ONE.to_string())
        ]
    );
}
