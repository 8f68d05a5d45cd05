//! The dashboard's admin connection (`SFSYNC_DASHBOARD_DATABASE_URL`, a login role in
//! `sfsync_admin`): every action goes through the SQL API here. The sidecar's own `sfsync_agent`
//! connection is never used for an action; without this connection the dashboard is read-only.

use serde_json::Value;
use thiserror::Error;
use tokio_postgres::Client;

use crate::db::{Database, DatabaseSettings, DbError};
use crate::tls::CaBundle;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("the dashboard is read-only: set SFSYNC_DASHBOARD_DATABASE_URL to a role in sfsync_admin to act")]
    ReadOnly,
    #[error("cannot open the admin connection")]
    Connect(#[source] DbError),
    /// The SQL API refused: its message is meant for the person who asked (an unknown field, a
    /// mapping that already exists...).
    #[error("{message}")]
    Refused { message: String },
    #[error("the admin action failed")]
    Failed(#[source] tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for AdminError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(refusal) => AdminError::Refused {
                message: refusal.message().to_string(),
            },
            None => AdminError::Failed(error),
        }
    }
}

/// Opens a connection per action: actions are rare, and a dropped connection cannot go stale.
#[derive(Clone)]
pub struct Admin {
    database: Database,
    schema: String,
}

impl Admin {
    pub fn new(
        settings: DatabaseSettings,
        extra_roots: Option<&CaBundle>,
        schema: String,
    ) -> Result<Self, DbError> {
        Ok(Self {
            database: Database::new(settings, extra_roots)?,
            schema,
        })
    }

    async fn connect(&self) -> Result<Client, AdminError> {
        self.database
            .connect_unbound()
            .await
            .map_err(AdminError::Connect)
    }

    /// `sfsync.pause(object, schema)`.
    pub async fn pause(&self, object: &str) -> Result<(), AdminError> {
        let client = self.connect().await?;
        client
            .query_one("SELECT sfsync.pause($1, $2)", &[&object, &self.schema])
            .await?;
        Ok(())
    }

    /// `sfsync.resume(object, schema)`.
    pub async fn resume(&self, object: &str) -> Result<(), AdminError> {
        let client = self.connect().await?;
        client
            .query_one("SELECT sfsync.resume($1, $2)", &[&object, &self.schema])
            .await?;
        Ok(())
    }

    /// `sfsync.reload(object, schema)`.
    pub async fn reload(&self, object: &str) -> Result<(), AdminError> {
        let client = self.connect().await?;
        client
            .execute("SELECT sfsync.reload($1, $2)", &[&object, &self.schema])
            .await?;
        Ok(())
    }

    /// `sfsync.retry(ids)`: how many went back to the queue.
    pub async fn retry(&self, change_ids: &[i64]) -> Result<i64, AdminError> {
        let client = self.connect().await?;
        let row = client
            .query_one("SELECT count(*) FROM sfsync.retry($1)", &[&change_ids])
            .await?;
        Ok(row.get(0))
    }

    /// `sfsync.ignore(ids)`: how many were marked IGNORED.
    pub async fn ignore(&self, change_ids: &[i64]) -> Result<i64, AdminError> {
        let client = self.connect().await?;
        let row = client
            .query_one("SELECT sfsync.ignore($1)", &[&change_ids])
            .await?;
        let ignored: i32 = row.get(0);
        Ok(i64::from(ignored))
    }

    /// `sfsync.create_mapping(object, fields, access, options)` in the sidecar's schema.
    pub async fn create_mapping(
        &self,
        object: &str,
        fields: &[String],
        access: &str,
        mut options: Value,
    ) -> Result<i64, AdminError> {
        options["schema"] = Value::String(self.schema.clone());
        let client = self.connect().await?;
        let row = client
            .query_one(
                "SELECT sfsync.create_mapping($1, $2, $3, $4::text::jsonb)",
                &[&object, &fields, &access, &options.to_string()],
            )
            .await?;
        Ok(row.get(0))
    }
}
