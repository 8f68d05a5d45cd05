//! The rotated refresh token of a schema's sidecar, kept by the extension in `sfsync.credential`
//! (owner only) and reached only through `sfsync._saved_refresh_token` and
//! `sfsync._save_refresh_token`, which act on the schema the calling session is bound to.

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::DbError;

/// A text parameter that never prints: tokio-postgres logs every parameter with `Debug` at debug
/// level, and the token must not reach the log even with `RUST_LOG=debug`.
struct Redacted<'a>(&'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("***")
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// The token saved for the session's schema, if it was rotated from the configured token whose
/// SHA-256 (hex) is `configured_sha256`. The session must be bound (`open_session`).
pub async fn saved_refresh_token(
    client: &Client,
    configured_sha256: &str,
) -> Result<Option<String>, DbError> {
    let row = client
        .query_one(
            "SELECT sfsync._saved_refresh_token($1)",
            &[&configured_sha256],
        )
        .await
        .map_err(|source| DbError::Query {
            what: "reading the saved refresh token (sfsync._saved_refresh_token)",
            source,
        })?;
    Ok(row.get(0))
}

/// Saves `token` as the session schema's refresh token, rotated from the configured token whose
/// SHA-256 (hex) is `configured_sha256`. The session must be bound (`open_session`).
pub async fn save_refresh_token(
    client: &Client,
    configured_sha256: &str,
    token: &str,
) -> Result<(), DbError> {
    client
        .execute(
            "SELECT sfsync._save_refresh_token($1, $2)",
            &[&configured_sha256, &Redacted(token)],
        )
        .await
        .map_err(|source| DbError::Query {
            what: "saving the rotated refresh token (sfsync._save_refresh_token)",
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn the_token_parameter_prints_as_stars() {
        let parameter = Redacted("5AepSecretRefreshToken");
        assert_eq!(format!("{parameter:?}"), "***");
    }
}
