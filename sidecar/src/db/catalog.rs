//! Questions about the database itself: which database we are in and whether sfsync is installed.

use tokio_postgres::Client;

use super::DbError;

/// The version of the installed `sfsync` extension, or `None` when it is not installed.
pub async fn extension_version(client: &Client) -> Result<Option<String>, DbError> {
    let row = client
        .query_opt(
            "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'sfsync'",
            &[],
        )
        .await
        .map_err(|source| DbError::Query {
            what: "reading pg_extension",
            source,
        })?;
    Ok(row.map(|row| row.get(0)))
}

/// The name of the database the client is connected to.
pub async fn current_database(client: &Client) -> Result<String, DbError> {
    let row = client
        .query_one("SELECT pg_catalog.current_database()::text", &[])
        .await
        .map_err(|source| DbError::Query {
            what: "reading current_database()",
            source,
        })?;
    Ok(row.get(0))
}

/// The version of `sfsync`, or the typed "not installed" error naming the database.
pub async fn require_extension(client: &Client) -> Result<String, DbError> {
    match extension_version(client).await? {
        Some(version) => Ok(version),
        None => Err(DbError::ExtensionMissing {
            database: current_database(client).await?,
        }),
    }
}
