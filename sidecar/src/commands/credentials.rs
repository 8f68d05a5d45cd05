//! The database as the login's [`RefreshTokenStore`]: the glue between `auth` (which must not know
//! about Postgres) and `db`. Each call opens a connection of its own and binds its session to the
//! schema, because the functions keep to the session's schema and logins come before the workers'
//! sessions exist. Logins are rare (every session lifetime, or after a 401), so the connection is
//! not kept.

use std::sync::Arc;

use crate::auth::{RefreshTokenStore, StoreError, StoreFuture};
use crate::config::{Config, Secret};
use crate::db::session::{open_session, org_binding, SessionBinding};
use crate::db::{credential, Database, DatabaseSettings};
use crate::tls::CaBundle;

/// Keeps the schema's rotated refresh token in `sfsync.credential`.
pub struct DatabaseTokenStore {
    settings: DatabaseSettings,
    ca_bundle: Option<CaBundle>,
    schema: String,
    /// `sfsync-sidecar rebind`: a save binds the schema to the org the login names, as the command
    /// is about to do anyway (without it the save would be refused for naming another org).
    rebind: bool,
}

impl DatabaseTokenStore {
    pub fn new(config: &Config, rebind: bool) -> Arc<Self> {
        Arc::new(Self {
            settings: config.database.clone(),
            ca_bundle: config.salesforce.ca_bundle.clone(),
            schema: config.schema.clone(),
            rebind,
        })
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let database = Database::new(self.settings.clone(), self.ca_bundle.as_ref())?;
        Ok(database.connect_unbound().await?)
    }
}

impl RefreshTokenStore for DatabaseTokenStore {
    /// Before the login there is no org of our own to name: the session is opened with the org the
    /// schema is bound to, which only lets this connection read that schema's token. A schema not
    /// bound yet has had no sidecar, hence no saved token. The login that follows is checked
    /// against the binding as always (`open_session` in `run`, `check`, `status`).
    fn load<'a>(&'a self, configured_sha256: &'a str) -> StoreFuture<'a, Option<Secret<String>>> {
        Box::pin(async move {
            let client = self.connect().await?;
            let Some(org_id) = org_binding(&client, &self.schema).await? else {
                return Ok(None);
            };
            let binding = SessionBinding {
                schema: self.schema.clone(),
                org_id,
            };
            open_session(&client, &binding, false).await?;
            let saved = credential::saved_refresh_token(&client, configured_sha256).await?;
            Ok(saved.map(Secret::new))
        })
    }

    /// The session is opened with the org of the login that returned the token, exactly as the
    /// sidecar's own sessions are: on first contact this binds the schema, and a token of another
    /// org than the bound one is refused (that login would be refused a moment later anyway).
    fn save<'a>(
        &'a self,
        org_id: &'a str,
        configured_sha256: &'a str,
        token: &'a Secret<String>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.connect().await?;
            let binding = SessionBinding {
                schema: self.schema.clone(),
                org_id: org_id.to_string(),
            };
            open_session(&client, &binding, self.rebind).await?;
            credential::save_refresh_token(&client, configured_sha256, token.expose()).await?;
            Ok(())
        })
    }
}
