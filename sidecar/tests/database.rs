//! The Postgres connection factory against a real cluster serving TLS: `sslmode` from the URL is
//! honoured the way libpq does it, and verifying modes really check the certificate.

use sfsync_sidecar::db::{catalog, Database, DatabaseSettings};
use sfsync_tests::Cluster;

async fn connection_uses_tls(url: &str) -> Result<bool, String> {
    let settings = DatabaseSettings::parse(url).map_err(|error| error.to_string())?;
    let database = Database::new(settings, None).map_err(|error| error.to_string())?;
    let client = database
        .connect()
        .await
        .map_err(|error| sfsync_sidecar::error_chain(&error))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|error| error.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_honoured_with_rustls() {
    let cluster = Cluster::start_tls();
    let root = sfsync_tests::cluster::tls_certificate();
    let root = root.to_str().expect("utf-8 path");

    assert_eq!(
        connection_uses_tls(&cluster.url_with("postgres", "sslmode=disable")).await,
        Ok(false)
    );
    assert_eq!(
        connection_uses_tls(&cluster.url_with("postgres", "sslmode=require")).await,
        Ok(true),
        "require encrypts without checking the certificate, like libpq"
    );
    assert_eq!(
        connection_uses_tls(&cluster.url_with("postgres", "sslmode=prefer")).await,
        Ok(true)
    );
    let refused = connection_uses_tls(&cluster.url_with("postgres", "sslmode=verify-full")).await;
    let message = refused.expect_err("a self-signed certificate is not trusted");
    assert!(
        message.contains("cannot connect to database postgres"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert_eq!(
        connection_uses_tls(&cluster.url_with(
            "postgres",
            &format!("sslmode=verify-full&sslrootcert={root}")
        ))
        .await,
        Ok(true),
        "trusting the server's certificate makes verify-full pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_lookup_names_the_database() {
    let cluster = Cluster::start(false);
    let database = Database::new(
        DatabaseSettings::parse(&cluster.url_with("postgres", "sslmode=disable")).expect("url"),
        None,
    )
    .expect("database");
    let client = database.connect().await.expect("connect");
    assert_eq!(
        catalog::extension_version(&client).await.expect("query"),
        None
    );
    let error = catalog::require_extension(&client)
        .await
        .expect_err("missing");
    assert_eq!(
        error.to_string(),
        "extension sfsync is not installed in database postgres: run CREATE EXTENSION sfsync"
    );
    assert_eq!(
        catalog::current_database(&client).await.expect("query"),
        "postgres"
    );
}
