//! Questions about the database itself: which database we are in, whether sfsync is installed, and
//! whether it is a version this sidecar speaks to (the version gate).

use tokio_postgres::Client;

use super::DbError;

/// The extension versions this sidecar runs against. The sidecar calls the extension's SQL API
/// (`sfsync._claim_changes`, the catalog tables...), which may change between versions, so each
/// sidecar release names the versions it was tested with and refuses any other. A release adds a
/// version here only when the sidecar works unchanged against it (see docs/releasing.md).
pub const SUPPORTED_EXTENSION_VERSIONS: &[&str] = &["0.2.0"];

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

/// The installed version of `sfsync` when it is one of [`SUPPORTED_EXTENSION_VERSIONS`]; otherwise
/// the typed error naming both versions and what to run.
pub async fn require_supported_extension(client: &Client) -> Result<String, DbError> {
    let installed = require_extension(client).await?;
    if SUPPORTED_EXTENSION_VERSIONS.contains(&installed.as_str()) {
        return Ok(installed);
    }
    Err(unsupported(
        current_database(client).await?,
        installed,
        SUPPORTED_EXTENSION_VERSIONS,
    ))
}

/// The "wrong version" error. An older extension is upgraded in place; a newer one needs the
/// sidecar release built for it (an extension is never downgraded).
fn unsupported(database: String, installed: String, supported: &[&str]) -> DbError {
    let newest = supported
        .iter()
        .copied()
        .max_by(|a, b| compare_versions(a, b))
        .unwrap_or("?");
    let remedy = if compare_versions(&installed, newest).is_lt() {
        format!(
            "install the sfsync {newest} extension files and run ALTER EXTENSION sfsync UPDATE TO '{newest}' in database {database}"
        )
    } else {
        format!("install the sfsync-sidecar release made for sfsync {installed}")
    };
    DbError::UnsupportedExtensionVersion {
        database,
        installed,
        sidecar: env!("CARGO_PKG_VERSION"),
        supported: supported.join(", "),
        remedy,
    }
}

/// Orders dotted versions numerically (`0.10.0` after `0.9.0`); a part that is not a number
/// compares as text, which is enough for the versions sfsync ships.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| {
        v.split('.')
            .map(|part| (part.parse::<u64>().ok(), part.to_string()))
            .collect::<Vec<_>>()
    };
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_extension_is_told_to_update_a_newer_one_to_change_the_sidecar() {
        let older = unsupported("app".into(), "0.1.0".into(), &["0.2.0"]).to_string();
        assert!(
            older.contains("sfsync 0.1.0 is installed in database app"),
            "{older}"
        );
        assert!(older.contains("runs only against sfsync 0.2.0"), "{older}");
        assert!(
            older.contains("ALTER EXTENSION sfsync UPDATE TO '0.2.0'"),
            "{older}"
        );
        let newer = unsupported("app".into(), "0.10.0".into(), &["0.2.0", "0.9.1"]).to_string();
        assert!(
            newer.contains("runs only against sfsync 0.2.0, 0.9.1"),
            "{newer}"
        );
        assert!(
            newer.contains("sidecar release made for sfsync 0.10.0"),
            "{newer}"
        );
        assert!(!newer.contains("ALTER EXTENSION"), "{newer}");
    }
}
