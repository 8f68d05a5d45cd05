//! `sfsync-sidecar check` and `status` as a user runs them: clear failures (non-zero exit) for a wrong
//! password, an unreachable database, a missing extension and a mapping in ERROR; warnings for
//! read-write mappings without an upsert field; `status` shows the queue and every mapping.

use sfsync_tests::{free_port, World};
use sfsync_tests::{Cluster, Sidecar};

fn run(env: &[(String, String)], subcommand: &str) -> (bool, String) {
    let output = Sidecar::command(env, subcommand);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn check_passes_with_warnings_and_fails_clearly_on_every_problem() {
    let world = World::writer().start().await;
    world.map_accounts_by_ext_id().await;
    world.map_leads().await;

    let (ok, text) = run(&world.env, "check");
    assert!(ok, "a healthy set-up passes: {text}");
    assert!(text.contains("ok    database"), "{text}");
    assert!(text.contains("ok    salesforce"), "{text}");
    assert!(
        text.lines().any(|line| line.starts_with("WARN  mapping")
            && line.contains("salesforce.Lead")
            && line.contains("without an upsert field")),
        "the mapping without an upsert field is named: {text}"
    );
    assert!(
        !text
            .lines()
            .any(|line| line.contains("salesforce.Account") && line.starts_with("WARN")),
        "{text}"
    );

    let (ok, text) = run(&world.env_with(&[("SFSYNC_PASSWORD", "wrong")]), "check");
    assert!(!ok, "a wrong password fails: {text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("FAIL  salesforce")),
        "{text}"
    );
    assert!(
        text.contains("authentication failure"),
        "Salesforce's reason is shown: {text}"
    );

    let dead = format!(
        "postgres://postgres@127.0.0.1:{}/nowhere?sslmode=disable&connect_timeout=3",
        free_port()
    );
    let (ok, text) = run(&world.env_with(&[("DATABASE_URL", &dead)]), "check");
    assert!(!ok, "an unreachable database fails: {text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("FAIL  database") && line.contains("cannot connect")),
        "{text}"
    );

    let admin = sfsync_tests::connect(&Cluster::shared().url("postgres")).await;
    let bare = format!("bare_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE DATABASE {bare}"))
        .await
        .expect("create database");
    let bare_url = format!("{}?sslmode=disable", Cluster::shared().url(&bare));
    let (ok, text) = run(&world.env_with(&[("DATABASE_URL", &bare_url)]), "check");
    assert!(!ok, "a database without the extension fails: {text}");
    assert!(
        text.contains("not installed") && text.contains("CREATE EXTENSION sfsync"),
        "{text}"
    );

    world
        .sql
        .batch_execute("SELECT sfsync._set_state(id, 'ERROR', 'mapped fields disappeared from Salesforce: Company') FROM sfsync.mapping WHERE object_name = 'Lead'")
        .await
        .expect("put the mapping in ERROR");
    let (ok, text) = run(&world.env, "check");
    assert!(!ok, "a mapping in ERROR fails the check: {text}");
    assert!(
        text.contains(
            "salesforce.Lead is in ERROR: mapped fields disappeared from Salesforce: Company"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn status_shows_the_queue_and_each_mapping() {
    let world = World::writer().start().await;
    world.map_accounts_by_ext_id().await;
    world
        .sql
        .batch_execute("INSERT INTO salesforce.account (name, ext_id__c) SELECT 'A' || g, 'S-' || g FROM generate_series(1, 25) g")
        .await
        .expect("insert");
    let (ok, text) = run(&world.env, "status");
    assert!(ok, "{text}");
    assert!(
        text.contains("queue       25 waiting, 0 being written"),
        "{text}"
    );
    assert!(
        text.contains("mapping     salesforce.account (Account, read_write)"),
        "{text}"
    );
    assert!(text.contains("25 pending"), "{text}");
    assert!(text.contains("last write never"), "{text}");

    let _sidecar = world.sidecar();
    world.drained("the accounts to be written").await;
    let (ok, text) = run(&world.env, "status");
    assert!(ok, "{text}");
    assert!(text.contains("queue       empty"), "{text}");
    assert!(text.contains("0 pending, 0 failed"), "{text}");
    assert!(!text.contains("last write never"), "{text}");
}

#[tokio::test]
async fn check_warns_when_database_url_sets_no_sslmode() {
    let world = World::writer().start().await;
    world.map_accounts_by_ext_id().await;
    let warning = "WARN  database    DATABASE_URL sets no sslmode";

    let (ok, text) = run(&world.env, "check");
    assert!(ok, "{text}");
    assert!(
        !text.contains(warning),
        "an explicit sslmode=disable is a choice: {text}"
    );

    let without = world.db.sidecar_url().replace("?sslmode=disable", "");
    assert!(!without.contains("sslmode"), "{without}");
    let (ok, text) = run(&world.env_with(&[("DATABASE_URL", &without)]), "check");
    assert!(ok, "a warning does not fail the check: {text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with(warning) && line.contains("sslmode=verify-full")),
        "the warning says what to set: {text}"
    );

    // a libpq key=value string is read the same way
    let url = url_parts(&world.db.sidecar_url());
    let key_value = format!(
        "host=127.0.0.1 port={} user=sfsync_sidecar dbname={}",
        url.0, url.1
    );
    let (_, text) = run(&world.env_with(&[("DATABASE_URL", &key_value)]), "check");
    assert!(text.contains(warning), "{text}");
    let (_, text) = run(
        &world.env_with(&[("DATABASE_URL", &format!("{key_value} sslmode=disable"))]),
        "check",
    );
    assert!(!text.contains(warning), "{text}");
}

/// (port, database) of a `postgres://user@127.0.0.1:port/db?...` URL.
fn url_parts(url: &str) -> (String, String) {
    let rest = url.split_once("127.0.0.1:").expect("host").1;
    let (port, rest) = rest.split_once('/').expect("port");
    let database = rest.split('?').next().expect("database");
    (port.to_string(), database.to_string())
}
