//! `sfsync-sidecar rebind`: binds the configured schema to the org this sidecar logs in to, when it
//! was bound to another (a refreshed sandbox gets a new org id). The only way a sidecar moves a
//! schema to another org; `run` refuses instead.

use super::credentials::DatabaseTokenStore;
use super::CommandError;
use crate::config::Config;
use crate::db::session::{open_session, org_binding, SessionBinding};
use crate::db::Database;
use crate::metrics::SalesforceMetrics;
use crate::salesforce::{SalesforceClient, SalesforceError};

pub async fn rebind(config: Config) -> Result<(), CommandError> {
    let database = Database::new(
        config.database.clone(),
        config.salesforce.ca_bundle.as_ref(),
    )?;
    let client = database.connect_unbound().await?;
    // read before the login: a login that rotates its refresh token saves it, and that save
    // already binds the schema to the new org (see DatabaseTokenStore)
    let before = org_binding(&client, &config.schema).await?;
    let salesforce = SalesforceClient::from_config(
        &config,
        SalesforceMetrics::unregistered()?,
        DatabaseTokenStore::new(&config, true),
    )?;
    let token = salesforce.login().await.map_err(SalesforceError::from)?;
    let binding = SessionBinding {
        schema: config.schema.clone(),
        org_id: token.identity.org_id.clone(),
    };
    let bound = open_session(&client, &binding, true).await?;
    match before {
        Some(previous) if previous != bound.org_id => println!(
            "schema {} was bound to org {previous}; now bound to org {}",
            config.schema, bound.org_id
        ),
        Some(_) => println!(
            "schema {} is bound to org {} already",
            config.schema, bound.org_id
        ),
        None => println!("schema {} bound to org {}", config.schema, bound.org_id),
    }
    Ok(())
}
