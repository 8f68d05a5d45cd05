//! The privilege model under attack, over real connections as real login roles: a member of
//! `sfsync_admin`, the sidecar's role (a member of `sfsync_agent`) and an application with DML on one
//! mapped table each try the paths a 0.1.0 review found to superuser, to other tables or to other
//! Salesforce records; every attempt must fail and leave nothing behind.

use sfsync_tests::{connect, describe_fixture, Cluster, TestDb};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// A login role of this database's own (roles are cluster-wide; tests run side by side), member of
/// `member_of` (or of nothing).
async fn login_role(
    db: &TestDb,
    superuser: &Client,
    name: &str,
    member_of: Option<&str>,
) -> Client {
    let role = format!("{name}_{}", db.name);
    let membership = member_of
        .map(|r| format!(" IN ROLE {r}"))
        .unwrap_or_default();
    superuser
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{membership};
             GRANT CONNECT ON DATABASE {} TO {role};",
            db.name
        ))
        .await
        .expect("create role");
    connect(&db.url_as(&role)).await
}

/// Account mapped read-write (with its table installed from the describe fixture), as an admin.
async fn map_account(admin: &Client) -> i64 {
    admin
        .query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name','Industry'], 'read_write', $1::text::jsonb)",
            &[&serde_json::json!({"describe": describe_fixture("account")}).to_string()],
        )
        .await
        .expect("create mapping")
        .get(0)
}

/// A connection as the sidecar's login role (a member of `sfsync_agent` only), its session bound to
/// schema `salesforce` and the emulator's default org.
async fn sidecar_session(db: &TestDb) -> Client {
    let sidecar = connect(&db.url_as(sfsync_tests::cluster::SIDECAR_ROLE)).await;
    sidecar
        .batch_execute("SELECT sfsync._open_session('salesforce', '00D8E0000000001UAA')")
        .await
        .expect("session");
    sidecar
}

fn code(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.as_db_error().map(|e| e.code())
}

fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| error.to_string())
}

async fn count(client: &Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

#[tokio::test]
async fn definer_code_runs_as_a_role_that_is_not_a_superuser() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let owner = sql
        .query_one(
            "SELECT rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, rolbypassrls,
                    (SELECT count(*) FROM pg_auth_members m WHERE m.roleid = r.oid)
               FROM pg_roles r WHERE rolname = 'sfsync_owner'",
            &[],
        )
        .await
        .expect("sfsync_owner exists");
    let flags: (bool, bool, bool, bool, bool, i64) = (
        owner.get(0),
        owner.get(1),
        owner.get(2),
        owner.get(3),
        owner.get(4),
        owner.get(5),
    );
    assert_eq!(
        flags,
        (false, false, false, false, false, 0),
        "sfsync_owner: no superuser, login, createrole, createdb, bypassrls or members"
    );
    let foreign_definers: Vec<String> = sql
        .query(
            "SELECT p.oid::regprocedure::text FROM pg_proc p
              WHERE p.pronamespace = 'sfsync'::regnamespace AND p.prosecdef
                AND p.proowner <> 'sfsync_owner'::regrole",
            &[],
        )
        .await
        .expect("definers")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        foreign_definers.is_empty(),
        "SECURITY DEFINER functions not owned by sfsync_owner: {foreign_definers:?}"
    );
    assert!(count(&sql, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'sfsync'::regnamespace AND prosecdef").await > 20);
    assert_eq!(
        count(&sql, "SELECT count(*) FROM pg_class WHERE relnamespace = 'sfsync'::regnamespace AND relkind = 'r' AND relowner <> 'sfsync_owner'::regrole").await,
        0,
        "sfsync's tables are owned by sfsync_owner"
    );
}

#[tokio::test]
async fn an_admin_cannot_reach_tables_sfsync_did_not_create() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let admin = login_role(&db, &sql, "admin", Some("sfsync_admin")).await;
    sql.batch_execute(
        "CREATE SCHEMA victim;
         CREATE TABLE victim.secrets (id bigint PRIMARY KEY, sfid varchar(18), payload text);
         INSERT INTO victim.secrets VALUES (1, NULL, 'only the superuser may see this');
         CREATE TABLE public.payroll (id bigint PRIMARY KEY, sfid varchar(18));",
    )
    .await
    .unwrap();

    // (1) naming an existing table it has no rights on is refused at create_mapping ...
    for (schema, table) in [("victim", "secrets"), ("public", "payroll")] {
        let options = serde_json::json!({"schema": schema, "table": table, "describe": describe_fixture("account")});
        let refused = admin
            .query_one(
                "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_write', $1::text::jsonb)",
                &[&options.to_string()],
            )
            .await
            .expect_err("adopting another role's table");
        assert_eq!(
            code(&refused),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{refused}"
        );
        let expected = match schema {
            // a schema sfsync_owner has no right on at all
            "victim" => "sfsync may not use schema victim".to_string(),
            _ => format!("{schema}.{table} already exists and sfsync may not adopt it: it is owned by postgres"),
        };
        assert!(
            message(&refused).contains(&expected),
            "{}",
            message(&refused)
        );
        // ... without a describe too (the table would be adopted later)
        let options = serde_json::json!({"schema": schema, "table": table});
        admin
            .query_one(
                "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_write', $1::text::jsonb)",
                &[&options.to_string()],
            )
            .await
            .expect_err("also without a describe");
    }
    assert_eq!(
        count(&sql, "SELECT count(*) FROM sfsync.mapping").await,
        0,
        "nothing left behind"
    );

    // A relation that takes a mapping's name after create_mapping is never adopted, changed or
    // dropped, even in a schema sfsync_owner may create tables in.
    sql.batch_execute("GRANT USAGE, CREATE ON SCHEMA victim TO sfsync_owner")
        .await
        .unwrap();
    let options = serde_json::json!({"schema": "victim", "table": "later"});
    admin
        .query_one(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_write', $1::text::jsonb)",
            &[&options.to_string()],
        )
        .await
        .expect("a mapping whose table does not exist yet");
    sql.batch_execute("CREATE TABLE victim.later (id bigint PRIMARY KEY, sfid varchar(18)); CREATE TRIGGER sfsync_capture BEFORE INSERT ON victim.later FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()")
        .await
        .unwrap();
    let refused = sql
        .query_one(
            "SELECT sfsync._install_mapping(id, $1::text::jsonb) FROM sfsync.mapping WHERE table_name = 'later'",
            &[&describe_fixture("account").to_string()],
        )
        .await
        .expect_err("installing into a table sfsync does not own");
    assert!(
        message(&refused).contains("may not adopt it"),
        "{}",
        message(&refused)
    );
    let refused = admin
        .batch_execute(
            "SELECT sfsync.drop_mapping('Account', drop_table => true, schema => 'victim')",
        )
        .await
        .expect_err("drop_table of a table sfsync does not own");
    assert_eq!(
        code(&refused),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{refused}"
    );
    admin
        .batch_execute("SELECT sfsync.drop_mapping('Account', schema => 'victim')")
        .await
        .expect("the mapping alone can go");
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM pg_class WHERE oid = 'victim.later'::regclass"
        )
        .await,
        1,
        "table kept"
    );
    assert_eq!(count(&sql, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'victim.later'::regclass AND tgname = 'sfsync_capture'").await, 1, "its trigger kept");
    assert_eq!(count(&sql, "SELECT count(*) FROM victim.secrets").await, 1);

    // (2a) the mapped schema and table are sfsync_owner's: the admin cannot drop, rename, alter or
    // replace them, or put triggers on them; it can use them and grant them on
    map_account(&admin).await;
    for attack in [
        "DROP TABLE salesforce.account",
        "ALTER TABLE salesforce.account RENAME TO account_old",
        "ALTER TABLE salesforce.account ADD COLUMN x text",
        "CREATE VIEW salesforce.account2 AS SELECT 1",
        "CREATE FUNCTION salesforce.f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
        "CREATE TRIGGER t BEFORE INSERT ON salesforce.account FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    ] {
        let refused = admin.batch_execute(attack).await.expect_err(attack);
        assert_eq!(code(&refused), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{attack}: {refused}");
    }
    admin
        .batch_execute("INSERT INTO salesforce.account (name) VALUES ('Acme'); GRANT SELECT ON salesforce.account TO PUBLIC")
        .await
        .expect("an admin uses the table and grants it on");
}

#[tokio::test]
async fn status_never_reads_a_relation_put_in_a_mapped_tables_place() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let admin = login_role(&db, &sql, "admin", Some("sfsync_admin")).await;
    map_account(&admin).await;
    // what the 0.1.0 attack did through the admin's own schema, done here by the only role that
    // still can (a superuser), to show status() checks what it reads
    sql.batch_execute(
        "CREATE TABLE public.calls (who text, superuser text);
         GRANT INSERT ON public.calls TO PUBLIC;
         CREATE FUNCTION public.spy() RETURNS bigint LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO public.calls VALUES (current_user, (SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user)); RETURN 1; END $$;
         ALTER TABLE salesforce.account RENAME TO account_kept;
         CREATE VIEW salesforce.account AS SELECT public.spy() AS id;
         GRANT SELECT ON salesforce.account TO PUBLIC;",
    )
    .await
    .unwrap();
    let detail: String = admin
        .query_one(
            "SELECT state_detail FROM sfsync.status() WHERE object_name = 'Account'",
            &[],
        )
        .await
        .expect("status still answers")
        .get(0);
    assert!(
        detail.contains("is not the table of the Account mapping") && detail.contains("view"),
        "{detail}"
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM public.calls").await,
        0,
        "the view's function never ran"
    );
    // the sidecar's protocol refuses to write through it too
    let sidecar = sidecar_session(&db).await;
    let refused = sidecar
        .query_one(
            "SELECT sfsync._apply_records(id, '[{\"Id\": \"001000000000001AAA\", \"Name\": \"x\"}]') FROM sfsync.mapping",
            &[],
        )
        .await
        .expect_err("applying into a view");
    assert_eq!(
        code(&refused),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{refused}"
    );
    assert_eq!(count(&sql, "SELECT count(*) FROM public.calls").await, 0);

    // a table of sfsync_owner's under the name, while the installed one lives on renamed, is not it
    sql.batch_execute(
        "DROP VIEW salesforce.account;
         CREATE TABLE salesforce.account (LIKE salesforce.account_kept);
         ALTER TABLE salesforce.account OWNER TO sfsync_owner;",
    )
    .await
    .unwrap();
    let detail: String = admin
        .query_one(
            "SELECT state_detail FROM sfsync.status() WHERE object_name = 'Account'",
            &[],
        )
        .await
        .expect("status")
        .get(0);
    assert!(
        detail.contains("the table sfsync installed is now salesforce.account_kept"),
        "{detail}"
    );
}

#[tokio::test]
async fn the_sidecars_role_cannot_run_code_through_its_staging_table() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let admin = login_role(&db, &sql, "admin", Some("sfsync_admin")).await;
    let mapping = map_account(&admin).await;
    let sidecar = sidecar_session(&db).await;
    sidecar
        .batch_execute(&format!(
            "CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; RETURN NULL; END $$;
             SELECT sfsync._create_stage({mapping});"
        ))
        .await
        .expect("a staging table");
    // (2b) the stage is sfsync_owner's: no trigger, rule or change of it by the sidecar's role
    for attack in [
        format!("CREATE TRIGGER t AFTER DELETE ON pg_temp.sfsync_stage_{mapping} FOR EACH ROW EXECUTE FUNCTION pg_temp.steal()"),
        format!("CREATE RULE r AS ON DELETE TO pg_temp.sfsync_stage_{mapping} DO ALSO NOTHING"),
        format!("ALTER TABLE pg_temp.sfsync_stage_{mapping} ADD COLUMN x text"),
        format!("DROP TABLE pg_temp.sfsync_stage_{mapping}"),
    ] {
        let refused = sidecar.batch_execute(&attack).await.expect_err(&attack);
        assert_eq!(code(&refused), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{attack}: {refused}");
    }
    sidecar
        .batch_execute(&format!(
            "INSERT INTO pg_temp.sfsync_stage_{mapping} (sfid, name) VALUES ('001000000000001AAA', 'Acme')"
        ))
        .await
        .expect("the sidecar fills it");
    let merged: String = sidecar
        .query_one(&format!("SELECT sfsync._merge_stage({mapping})::text"), &[])
        .await
        .expect("merge")
        .get(0);
    assert!(merged.contains("\"inserted\": 1"), "{merged}");

    // a staging table of its own, made before sfsync's (with a trigger), is refused, not merged
    let other = sidecar_session(&db).await;
    other
        .batch_execute(&format!(
            "CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ran as %', current_user; RETURN NULL; END $$;
             CREATE TEMP TABLE sfsync_stage_{mapping} (sfid text, name text);
             CREATE TRIGGER t AFTER DELETE ON pg_temp.sfsync_stage_{mapping} FOR EACH ROW EXECUTE FUNCTION pg_temp.steal();
             INSERT INTO pg_temp.sfsync_stage_{mapping} (sfid, name) VALUES ('001000000000002AAA', 'x'), ('001000000000002AAA', 'y');"
        ))
        .await
        .expect("its own temp table");
    for call in [
        format!("SELECT sfsync._merge_stage({mapping})"),
        format!("SELECT sfsync._create_stage({mapping})"),
    ] {
        let refused = other.batch_execute(&call).await.expect_err(&call);
        assert_eq!(
            code(&refused),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{call}: {refused}"
        );
        assert!(
            message(&refused).contains("is not a staging table made by sfsync._create_stage"),
            "{}",
            message(&refused)
        );
    }
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM salesforce.account WHERE sfid = '001000000000002AAA'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn triggers_on_mapped_tables_run_as_sfsync_owner_during_sync() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let admin = login_role(&db, &sql, "admin", Some("sfsync_admin")).await;
    let mapping = map_account(&admin).await;
    // (2c) a trigger on a mapped table (only a superuser can add one) sees sfsync_owner, not a
    // superuser, when the sync writes
    sql.batch_execute(
        "CREATE TABLE public.seen (who text, superuser text);
         GRANT INSERT ON public.seen TO sfsync_owner;
         CREATE FUNCTION public.record_writer() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO public.seen VALUES (current_user, (SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user)); RETURN NEW; END $$;
         CREATE TRIGGER record_writer AFTER INSERT OR UPDATE ON salesforce.account
             FOR EACH ROW EXECUTE FUNCTION public.record_writer();",
    )
    .await
    .unwrap();
    let sidecar = sidecar_session(&db).await;
    sidecar
        .batch_execute(&format!(
            "SELECT sfsync._apply_records({mapping}, '[{{\"Id\": \"001000000000001AAA\", \"Name\": \"Acme\"}}]');"
        ))
        .await
        .expect("apply");
    let seen = sql
        .query_one("SELECT who, superuser FROM public.seen", &[])
        .await
        .expect("the trigger ran once");
    assert_eq!(
        (seen.get::<_, String>(0), seen.get::<_, String>(1)),
        ("sfsync_owner".to_string(), "false".to_string())
    );
}

#[tokio::test]
async fn an_application_cannot_point_a_row_at_another_record() {
    let db = Cluster::shared().database().await;
    let sql = db.connect().await;
    let admin = login_role(&db, &sql, "admin", Some("sfsync_admin")).await;
    let mapping = map_account(&admin).await;
    let app = login_role(&db, &sql, "app", None).await;
    admin
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA salesforce TO app_{0}; GRANT SELECT, INSERT, UPDATE, DELETE ON salesforce.account TO app_{0}",
            db.name
        ))
        .await
        .expect("the admin grants the application its table");
    sql.batch_execute(
        "SET sfsync.origin = 'salesforce';
         INSERT INTO salesforce.account (sfid, name, _hc_lastop) VALUES ('001000000000001AAA', 'Ours', 'SYNCED');
         RESET sfsync.origin;",
    )
    .await
    .unwrap();
    let queued = count(&sql, "SELECT count(*) FROM sfsync.change").await;
    // (3) sfid is the sync's: another record's id (an Opportunity's, a Contact's) cannot be written
    for attack in [
        "UPDATE salesforce.account SET sfid = '003000000000009AAA' WHERE sfid = '001000000000001AAA'",
        "UPDATE salesforce.account SET sfid = NULL",
        "INSERT INTO salesforce.account (sfid, name) VALUES ('006000000000009AAA', 'Theirs')",
        "SET sfsync.origin = 'salesforce'",
    ] {
        let refused = app.batch_execute(attack).await.expect_err(attack);
        assert_eq!(code(&refused), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{attack}: {refused}");
    }
    let refused = app
        .batch_execute("UPDATE salesforce.account SET sfid = '003000000000009AAA'")
        .await
        .unwrap_err();
    assert!(
        message(&refused).contains("sfid of salesforce.account is written only by sfsync"),
        "{}",
        message(&refused)
    );
    // (16) a row's id is what its queued changes refer to
    app.batch_execute("UPDATE salesforce.account SET name = 'Renamed'")
        .await
        .expect("an ordinary update");
    let refused = app
        .batch_execute("UPDATE salesforce.account SET id = id + 1000")
        .await
        .expect_err("changing a row's id");
    assert_eq!(
        code(&refused),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{refused}"
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM sfsync.change").await,
        queued + 1,
        "only the ordinary update queued"
    );
    assert_eq!(
        count(&sql, &format!("SELECT count(*) FROM salesforce.account WHERE sfid = '001000000000001AAA' AND name = 'Renamed' AND EXISTS (SELECT 1 FROM sfsync.mapping WHERE id = {mapping})")).await,
        1,
        "the row still names its own record"
    );
}
