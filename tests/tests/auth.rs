//! Logins end to end: no secret reaches any output when the token endpoint answers with something
//! that does not parse (issue 16, item 5), and a refresh token rotated by Salesforce survives
//! restarts in the database while a newly configured token still wins (item 8).

use reqwest::Method;
use serde_json::{json, Value};
use sfsync_tests::{eventually, Sidecar};
use sfsync_tests::{free_port, metrics, World, WAIT};
use std::time::Duration;

/// Secrets of the secret test, each distinctive enough that finding it anywhere means it leaked.
const CLIENT_SECRET: &str = "cs-Secret-4f9a1c7e52";
const PASSWORD: &str = "pw-Secret-83b2d6a1f0";
const DB_PASSWORD: &str = "db-Secret-5e7d21c9b4";
const BAD_ACCESS_TOKEN: &str = "00D8E0000000001!ARbadAccess-Secret-9c3e77";
const BAD_REFRESH_TOKEN: &str = "5AepBadRefresh-Secret-1d7f0e42";

/// A one-shot subcommand: whether it succeeded, and stdout + stderr.
fn one_shot(env: &[(String, String)], subcommand: &str) -> (bool, String) {
    let output = Sidecar::command(env, subcommand);
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

async fn fetch(url: &str) -> String {
    match reqwest::get(url).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A fresh refresh token for the emulator's user (what a web-server flow would hand out).
async fn new_refresh_token(world: &World) -> String {
    world
        .emulator
        .admin(Method::POST, "refresh-tokens", Some(json!({})))
        .await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

async fn state_detail(world: &World) -> String {
    world
        .sql
        .query_one(
            "SELECT coalesce(state_detail, '') FROM sfsync.mapping WHERE object_name = 'Account'",
            &[],
        )
        .await
        .expect("state_detail")
        .get(0)
}

/// Every error text the queue holds: the changes' and archive's messages and the rows' `_hc_err`.
async fn queue_messages(world: &World) -> String {
    world
        .sql
        .query_one(
            "SELECT concat_ws(E'\\n',
                 (SELECT string_agg(concat_ws(' ', sf_result, sf_message, sf_error::text), E'\\n') FROM sfsync.change),
                 (SELECT string_agg(concat_ws(' ', sf_result, sf_message, sf_error::text), E'\\n') FROM sfsync.change_archive),
                 (SELECT string_agg(_hc_err, E'\\n') FROM salesforce.account))",
            &[],
        )
        .await
        .expect("queue messages")
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

#[tokio::test]
async fn no_secret_reaches_any_output_when_the_token_response_does_not_parse() {
    let mut world = World::writer()
        .emulator_args(&[
            "--client-secret",
            CLIENT_SECRET,
            "--password",
            PASSWORD,
            // the login that works rotates the refresh token: the saved token is a secret too
            "--refresh-token-rotation",
        ])
        .start()
        .await;
    world.add_external_id("Account", "Ext_Id__c").await;
    world
        .map_from_describe(
            "Account",
            &["Name", "Ext_Id__c"],
            // the reader polls every second, so it meets the failing login too
            json!({"upsert_field": "Ext_Id__c", "poll_seconds": 1}),
        )
        .await;
    let refresh_token = new_refresh_token(&world).await;
    let database_url = world.db.sidecar_url().replacen(
        "postgres://sfsync_sidecar@",
        &format!("postgres://sfsync_sidecar:{DB_PASSWORD}@"),
        1,
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    world.env = world.env_with(&[
        ("SFSYNC_AUTH", "refresh_token"),
        ("SFSYNC_REFRESH_TOKEN", &refresh_token),
        ("SFSYNC_CLIENT_SECRET", CLIENT_SECRET),
        ("SFSYNC_PASSWORD", PASSWORD),
        ("DATABASE_URL", &database_url),
        ("SFSYNC_HTTP_LISTEN", &listen),
        // every log line the sidecar can write (tokio-postgres logs SQL parameters at debug)
        ("RUST_LOG", "debug"),
    ]);
    let secrets = [
        CLIENT_SECRET,
        PASSWORD,
        DB_PASSWORD,
        refresh_token.as_str(),
        BAD_ACCESS_TOKEN,
        BAD_REFRESH_TOKEN,
    ];
    // A 200 whose body breaks off after the tokens: the first characters are all secret.
    let broken = format!(
        r#"{{"access_token":"{BAD_ACCESS_TOKEN}","refresh_token":"{BAD_REFRESH_TOKEN}","signature":"x","scope":"id api refresh_token","instance_url":"{}","id":"{}/id/00D8E0000000001UAA/"#,
        world.emulator.url, world.emulator.url
    );
    let fault = json!({"path": "/services/oauth2/token", "body": broken});
    let mut outputs: Vec<(String, String)> = Vec::new();

    world
        .emulator
        .admin(Method::POST, "faults", Some(fault.clone()))
        .await;
    for flow in ["refresh_token", "password"] {
        let (ok, text) = one_shot(&world.env_with(&[("SFSYNC_AUTH", flow)]), "check");
        assert!(
            !ok,
            "check fails with a token response that does not parse: {text}"
        );
        assert!(
            text.lines().any(|line| line.starts_with("FAIL  salesforce")
                && line.contains("is not shown because it may hold tokens")),
            "check says what is wrong with the answer: {text}"
        );
        outputs.push((format!("check ({flow})"), text));
    }
    let (ok, text) = one_shot(&world.env, "status");
    assert!(!ok, "{text}");
    outputs.push(("status before run".into(), text));

    // `run` while the login fails: it waits and logs why
    let mut sidecar = Sidecar::start_capturing(&world.env);
    eventually(WAIT, "run to report the failing login", || async {
        sidecar
            .output()
            .contains("cannot open the schema's session yet")
    })
    .await;
    // the login works again: the sidecar starts, writes a row
    world.emulator.admin(Method::DELETE, "faults", None).await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Before', 'S-1')")
        .await
        .expect("insert");
    eventually(WAIT, "the first row to be written", || async {
        world
            .scalar("SELECT count(*) FROM salesforce.account WHERE sfid IS NOT NULL")
            .await
            == 1
    })
    .await;
    // the session ends and every new login gets the broken answer: reader, writer and health say so
    world
        .emulator
        .admin(Method::POST, "faults", Some(fault))
        .await;
    world
        .emulator
        .admin(Method::POST, "expire-sessions", None)
        .await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('After', 'S-2')")
        .await
        .expect("insert");
    let healthz_url = format!("http://127.0.0.1:{port}/healthz");
    eventually(
        WAIT,
        "the failed login in state_detail and /healthz",
        || async {
            state_detail(&world).await.contains("token endpoint")
                && fetch(&healthz_url).await.contains("login")
        },
    )
    .await;
    eventually(
        WAIT,
        "the failed write to be recorded on its change",
        || async { queue_messages(&world).await.contains("token endpoint") },
    )
    .await;
    outputs.push(("state_detail".into(), state_detail(&world).await));
    outputs.push(("/healthz".into(), fetch(&healthz_url).await));
    outputs.push(("/metrics".into(), metrics(port).await));
    outputs.push(("queue messages".into(), queue_messages(&world).await));
    let (ok, text) = one_shot(&world.env, "status");
    assert!(!ok, "{text}");
    outputs.push(("status during run".into(), text));
    let (_, text) = one_shot(&world.env, "check");
    outputs.push(("check during run".into(), text));
    sidecar.terminate(Duration::from_secs(40));
    let log = sidecar.output();
    assert!(
        log.contains("it is not shown because it may hold tokens"),
        "the log reports the failure: {log}"
    );

    let (_, rotated) = saved_token(&world)
        .await
        .expect("the working login rotated the configured token");
    assert!(
        log.contains("executing statement") && log.contains("saved the rotated refresh token"),
        "the log has the SQL parameters and the save"
    );
    outputs.push(("run's stdout and stderr".into(), log));

    for (place, text) in &outputs {
        for secret in secrets.iter().copied().chain([rotated.as_str()]) {
            assert!(
                !text.contains(secret),
                "{place} shows the secret {secret:?}:\n{text}"
            );
        }
    }
}

/// `rotated_from` and `refresh_token` of the schema's saved token (read as the table's owner).
async fn saved_token(world: &World) -> Option<(String, String)> {
    world
        .sql
        .query_opt(
            "SELECT rotated_from, refresh_token FROM sfsync.credential WHERE schema_name = 'salesforce'",
            &[],
        )
        .await
        .expect("sfsync.credential")
        .map(|row| (row.get(0), row.get(1)))
}

async fn sha256(world: &World, text: &str) -> String {
    world
        .sql
        .query_one(
            "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
            &[&text],
        )
        .await
        .expect("sha256")
        .get(0)
}

/// Inserts an account and waits until the sidecar has written it.
async fn written(world: &World, key: &str) {
    world
        .sql
        .execute(
            "INSERT INTO salesforce.account (name, ext_id__c) VALUES ($1, $1)",
            &[&key],
        )
        .await
        .expect("insert");
    eventually(WAIT, &format!("account {key} to be written"), || async {
        world
            .sql
            .query_one(
                "SELECT count(*) FROM salesforce.account WHERE ext_id__c = $1 AND sfid IS NOT NULL",
                &[&key],
            )
            .await
            .expect("count")
            .get::<_, i64>(0)
            == 1
    })
    .await;
}

/// The emulator's answer to presenting `refresh_token` (an OAuth error code, or "ok").
async fn present(world: &World, refresh_token: &str) -> String {
    let answer: Value = world
        .emulator
        .http()
        .post(format!("{}/services/oauth2/token", world.emulator.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", sfsync_tests::emulator::CLIENT_ID),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    answer["error"].as_str().unwrap_or("ok").to_string()
}

async fn rotating_world() -> (World, String) {
    let mut world = World::writer()
        .emulator_args(&["--refresh-token-rotation"])
        .start()
        .await;
    world.map_accounts_by_ext_id().await;
    let configured = new_refresh_token(&world).await;
    world.env = world.env_with(&[
        ("SFSYNC_AUTH", "refresh_token"),
        ("SFSYNC_REFRESH_TOKEN", &configured),
    ]);
    (world, configured)
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_in_the_database_across_restarts() {
    let (world, t0) = rotating_world().await;
    let from_t0 = sha256(&world, &t0).await;
    let mut sidecar = world.sidecar();
    written(&world, "R-1").await;
    let (rotated_from, t1) = saved_token(&world)
        .await
        .expect("the rotated token is saved");
    assert_eq!(rotated_from, from_t0);
    assert_ne!(t1, t0, "the first login rotated the configured token");

    // A second rotation (the session expires, the writer logs in again with T1): the chain still
    // names the configured token it started from.
    world
        .emulator
        .admin(Method::POST, "expire-sessions", None)
        .await;
    written(&world, "R-2").await;
    let (rotated_from, t2) = saved_token(&world).await.expect("saved");
    assert_eq!(
        rotated_from, from_t0,
        "rotated_from stays the configured token's"
    );
    assert_ne!(t2, t1);

    // `check` next to `run` logs in too: it takes the saved token and saves its successor, and the
    // running sidecar's next login takes that one from the database (not the one it had).
    let (ok, text) = one_shot(&world.env, "check");
    assert!(ok, "{text}");
    let (_, t3) = saved_token(&world).await.expect("saved");
    assert_ne!(t3, t2);
    world
        .emulator
        .admin(Method::POST, "expire-sessions", None)
        .await;
    written(&world, "R-3").await;
    let (_, t4) = saved_token(&world).await.expect("saved");
    assert_ne!(t4, t3);

    // Restarted with T0 still configured, the sidecar logs in with the saved token and syncs.
    assert!(sidecar.terminate(Duration::from_secs(40)).is_some());
    let _sidecar = world.sidecar();
    written(&world, "R-4").await;
    let (rotated_from, t5) = saved_token(&world).await.expect("saved");
    assert_eq!(rotated_from, from_t0);
    assert_ne!(
        t5, t4,
        "the restarted sidecar presented the saved token, which rotated"
    );

    // The sidecar's role cannot read the table; the functions need a bound session.
    let agent = sfsync_tests::connect(&world.db.sidecar_url()).await;
    let error = agent
        .query("SELECT refresh_token FROM sfsync.credential", &[])
        .await
        .expect_err("the table is its owner's alone");
    assert!(
        error
            .as_db_error()
            .is_some_and(|e| e.message().contains("permission denied")),
        "{error:?}"
    );
    let error = agent
        .query("SELECT sfsync._saved_refresh_token($1)", &[&from_t0])
        .await
        .expect_err("an unbound session is refused");
    assert!(
        error
            .as_db_error()
            .is_some_and(|e| e.message().contains("not bound to a schema")),
        "{error:?}"
    );
    // a session of another schema (same org) does not see this schema's token; this schema's does
    let saved = |schema: &'static str| {
        let url = world.db.sidecar_url();
        let from_t0 = from_t0.clone();
        async move {
            let agent = sfsync_tests::connect(&url).await;
            agent
                .query(
                    "SELECT * FROM sfsync._open_session($1, $2)",
                    &[&schema, &"00D8E0000000001UAA"],
                )
                .await
                .expect("open the session");
            agent
                .query_one("SELECT sfsync._saved_refresh_token($1)", &[&from_t0])
                .await
                .expect("read the saved token")
                .get::<_, Option<String>>(0)
        }
    };
    assert_eq!(saved("other_org").await, None);
    assert_eq!(saved("salesforce").await, Some(t5));
    // and what the test relies on: the configured token is long retired
    assert_eq!(present(&world, &t0).await, "invalid_grant");
}

#[tokio::test]
async fn a_newly_configured_refresh_token_wins_over_the_saved_one() {
    let (mut world, t0) = rotating_world().await;
    let mut sidecar = world.sidecar();
    written(&world, "N-1").await;
    assert!(sidecar.terminate(Duration::from_secs(40)).is_some());
    let (_, saved) = saved_token(&world)
        .await
        .expect("the rotated token is saved");
    // The operator configures a new token (the old chain is revoked: presenting the retired T0
    // makes Salesforce revoke every token rotated from it, the saved one included).
    let t9 = new_refresh_token(&world).await;
    assert_eq!(present(&world, &t0).await, "invalid_grant");
    assert_eq!(
        present(&world, &saved).await,
        "invalid_grant",
        "the saved token is dead now"
    );
    world.env = world.env_with(&[("SFSYNC_REFRESH_TOKEN", &t9)]);
    let _sidecar = world.sidecar();
    written(&world, "N-2").await;
    let (rotated_from, token) = saved_token(&world).await.expect("saved");
    assert_eq!(rotated_from, sha256(&world, &t9).await);
    assert_ne!(token, t9, "T9 was presented and rotated");
    assert_ne!(token, saved);
}
