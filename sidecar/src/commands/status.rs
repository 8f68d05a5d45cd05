//! `sfsync-sidecar status`: the extension version and the Salesforce API usage. Per-mapping rows
//! are added once the extension's `sfsync.status()` exists.

use super::check::usage_line;
use super::CommandError;
use crate::config::Config;
use crate::db::{catalog, Database};
use crate::metrics::SalesforceMetrics;
use crate::salesforce::SalesforceClient;

pub async fn status(config: Config) -> Result<(), CommandError> {
    let database = Database::new(
        config.database.clone(),
        config.salesforce.ca_bundle.as_ref(),
    )?;
    let client = database.connect().await?;
    let version = catalog::require_extension(&client).await?;
    println!(
        "extension   sfsync {version} in {}",
        database.settings().describe()
    );

    let salesforce = SalesforceClient::from_config(&config, SalesforceMetrics::unregistered()?)?;
    let token = salesforce
        .login()
        .await
        .map_err(crate::salesforce::SalesforceError::from)?;
    println!(
        "salesforce  org {}, user {}, instance {}",
        token.identity.org_id, token.identity.user_id, token.instance_url
    );
    let limits = salesforce.limits().await?;
    match limits.daily_api_requests().or(salesforce.api_usage()) {
        Some(usage) => println!(
            "api         {}",
            usage_line(usage.used, usage.max, config.tuning.api_reserve)
        ),
        None => println!("api         usage not reported"),
    }
    Ok(())
}
