//! Opening a sidecar's database session: the schema it serves and the Salesforce org it logged in
//! to, checked by the extension against the org bound to that schema (`sfsync._open_session`).
//! Every connection the sidecar uses for the queue protocol is opened this way first.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::DbError;

/// What a sidecar's sessions are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBinding {
    /// The schema (`SFSYNC_SCHEMA`) whose mappings this sidecar serves.
    pub schema: String,
    /// The org the sidecar's token belongs to (from the identity URL).
    pub org_id: String,
}

/// The org a schema is bound to after a session was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundOrg {
    /// The 18-character id of the bound org.
    pub org_id: String,
    /// The org bound before (None on first contact; another org after a rebind).
    pub previous_org_id: Option<String>,
}

/// Binds the connection's session to `binding.schema` after the extension has checked the org.
/// `rebind` moves the schema to `binding.org_id` when it was bound to another org.
pub async fn open_session(
    client: &Client,
    binding: &SessionBinding,
    rebind: bool,
) -> Result<BoundOrg, DbError> {
    let row = client
        .query_one(
            "SELECT org_id, previous_org_id FROM sfsync._open_session($1, $2, $3)",
            &[&binding.schema, &binding.org_id, &rebind],
        )
        .await
        .map_err(|source| refused_or_failed(binding, source))?;
    Ok(BoundOrg {
        org_id: row.get(0),
        previous_org_id: row.get(1),
    })
}

/// The org `schema` is bound to, if any (before first contact: none). Does not bind the session.
pub async fn org_binding(client: &Client, schema: &str) -> Result<Option<String>, DbError> {
    let row = client
        .query_opt("SELECT org_id FROM sfsync._org_binding($1)", &[&schema])
        .await
        .map_err(|source| DbError::Query {
            what: "reading the org bound to the schema",
            source,
        })?;
    Ok(row.map(|row| row.get(0)))
}

/// The extension refuses an org that differs from the schema's binding with
/// `object_not_in_prerequisite_state`, and a bad org id with `invalid_parameter_value`: both are
/// decisions to report, not failures to retry.
fn refused_or_failed(binding: &SessionBinding, source: tokio_postgres::Error) -> DbError {
    let refusal = source.as_db_error().filter(|error| {
        *error.code() == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
            || *error.code() == SqlState::INVALID_PARAMETER_VALUE
    });
    match refusal {
        Some(error) => DbError::SessionRefused {
            schema: binding.schema.clone(),
            reason: match error.hint() {
                Some(hint) => format!("{} ({hint})", error.message()),
                None => error.message().to_string(),
            },
        },
        None => DbError::Query {
            what: "opening the sidecar's session",
            source,
        },
    }
}
