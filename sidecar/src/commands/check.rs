//! `sfsync-sidecar check`: configuration, database (extension installed, its version), Salesforce
//! login (org, user, API usage), mapping warnings. One line per finding; non-zero exit on any problem.
//! An extension version the sidecar does not support fails the database line, and the mappings are
//! then not read (their catalog may differ).

use sfsync_protocol::MappingState;

use super::credentials::DatabaseTokenStore;
use super::CommandError;
use crate::auth::{AccessToken, AuthError};
use crate::config::{ApiReserve, Config};
use crate::db::queue::MappingStatus;
use crate::db::session::{open_session, SessionBinding};
use crate::db::{catalog, Database};
use crate::error_chain;
use crate::metrics::SalesforceMetrics;
use crate::salesforce::SalesforceClient;

/// Collects the lines `check` prints and whether any failed.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
}

impl Report {
    fn ok(&self, topic: &str, detail: impl AsRef<str>) {
        print_line("ok", topic, detail.as_ref());
    }

    fn warn(&self, topic: &str, detail: impl AsRef<str>) {
        print_line("WARN", topic, detail.as_ref());
    }

    fn fail(&mut self, topic: &str, detail: impl Into<String>) {
        let detail = detail.into();
        print_line("FAIL", topic, &detail);
        self.failures.push(format!("{topic}: {detail}"));
    }
}

/// `println!` would panic when stdout is closed (`check | head -1`); the exit code must still tell.
fn print_line(verdict: &str, topic: &str, detail: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{verdict:<5} {topic:<11} {detail}");
}

/// The connection string's TLS is left to libpq's default: said once, with what to do about it.
const SSL_MODE_WARNING: &str = "DATABASE_URL sets no sslmode: the default (prefer) encrypts only if the server offers TLS and verifies no certificate; set sslmode=verify-full (with sslrootcert) for a remote database, or sslmode=disable for a local one";

pub async fn check(config: Config) -> Result<(), CommandError> {
    let mut report = Report::default();
    report.ok(
        "config",
        format!(
            "schema {}, auth {}, login {}, API v{}",
            config.schema,
            config.salesforce.auth.flow_name(),
            config.salesforce.login_url,
            config.salesforce.api_version
        ),
    );
    // the login comes first: the database's org check needs the org it names
    let salesforce = SalesforceClient::from_config(
        &config,
        SalesforceMetrics::unregistered()?,
        DatabaseTokenStore::new(&config, false),
    )?;
    let login = salesforce.login().await;
    let org_id = login
        .as_ref()
        .ok()
        .map(|token| token.identity.org_id.clone());
    check_database(&config, &mut report, org_id).await;
    check_salesforce(&config, &salesforce, login, &mut report).await;
    match report.failures.len() {
        0 => Ok(()),
        1 => Err(CommandError::ChecksFailed(format!(
            "check failed: {}",
            report.failures[0]
        ))),
        count => Err(CommandError::ChecksFailed(format!(
            "{count} checks failed: {}",
            report.failures.join("; ")
        ))),
    }
}

async fn check_database(config: &Config, report: &mut Report, org_id: Option<String>) {
    let database = match Database::new(
        config.database.clone(),
        config.salesforce.ca_bundle.as_ref(),
    ) {
        Ok(database) => database,
        Err(error) => return report.fail("database", error_chain(&error)),
    };
    // about the connection string, so said whether or not the database answers
    if !database.settings().ssl_mode_given {
        report.warn("database", SSL_MODE_WARNING);
    }
    let client = match database.connect_unbound().await {
        Ok(client) => client,
        Err(error) => return report.fail("database", error_chain(&error)),
    };
    match catalog::require_supported_extension(&client).await {
        Ok(version) => report.ok(
            "database",
            format!(
                "sfsync {version} installed in {}",
                database.settings().describe()
            ),
        ),
        Err(error) => return report.fail("database", error_chain(&error)),
    }
    let Some(org_id) = org_id else {
        return report.warn(
            "org",
            "not checked, and neither are the mappings: the Salesforce login failed",
        );
    };
    if !check_org(config, &client, org_id, report).await {
        return;
    }
    match crate::db::queue::mapping_status(&client).await {
        Ok(mappings) => check_mappings(&mappings, report),
        Err(error) => report.fail("mappings", error_chain(&error)),
    }
}

/// Opens the schema's session as `run` does: the extension checks the org the login names against the
/// org bound to the schema (binding it on first contact). Returns whether the session is open.
async fn check_org(
    config: &Config,
    client: &tokio_postgres::Client,
    org_id: String,
    report: &mut Report,
) -> bool {
    let binding = SessionBinding {
        schema: config.schema.clone(),
        org_id,
    };
    match open_session(client, &binding, false).await {
        Ok(bound) => {
            let how = if bound.previous_org_id.is_none() {
                " (bound now: first contact)"
            } else {
                ""
            };
            report.ok(
                "org",
                format!(
                    "schema {} is bound to org {}{how}",
                    config.schema, bound.org_id
                ),
            );
            true
        }
        Err(error) => {
            report.fail("org", error_chain(&error));
            false
        }
    }
}

/// One line per mapping problem from `sfsync.status()`: a mapping in ERROR fails the check; a
/// warning in `state_detail` (e.g. a read-write mapping without an upsert field, whose inserts can
/// be duplicated by a crash between Salesforce's commit and ours) is reported; then the queue.
fn check_mappings(mappings: &[MappingStatus], report: &mut Report) {
    if mappings.is_empty() {
        report.warn(
            "mappings",
            "no mappings yet (create one with sfsync.create_mapping)",
        );
        return;
    }
    for mapping in mappings {
        let name = format!("{}.{}", mapping.schema, mapping.object_name);
        let detail = mapping.state_detail.as_deref().unwrap_or("");
        if mapping.state == MappingState::Error {
            report.fail("mapping", format!("{name} is in ERROR: {detail}"));
            continue;
        }
        for warning in detail
            .split("; ")
            .filter(|part| part.starts_with("warning:"))
        {
            report.warn(
                "mapping",
                format!("{name}: {}", warning.trim_start_matches("warning:").trim()),
            );
        }
    }
    let pending: i64 = mappings.iter().map(|mapping| mapping.pending).sum();
    let failed: i64 = mappings.iter().map(|mapping| mapping.failed).sum();
    let line = format!(
        "{} mappings ({}), {pending} changes queued, {failed} failed",
        mappings.len(),
        mappings
            .iter()
            .map(|mapping| format!("{} {}", mapping.object_name, mapping.state))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if failed > 0 {
        report.warn(
            "mappings",
            format!("{line} (see _trigger_log_archive; retry with sfsync.retry_failed())"),
        );
    } else {
        report.ok("mappings", line);
    }
}

async fn check_salesforce(
    config: &Config,
    salesforce: &SalesforceClient,
    login: Result<std::sync::Arc<AccessToken>, AuthError>,
    report: &mut Report,
) {
    let token = match login {
        Ok(token) => token,
        Err(error) => return report.fail("salesforce", error_chain(&error)),
    };
    report.ok(
        "salesforce",
        format!(
            "logged in with {}: org {}, user {}, instance {}",
            config.salesforce.auth.flow_name(),
            token.identity.org_id,
            token.identity.user_id,
            token.instance_url
        ),
    );
    let limits_error = salesforce.limits().await.err();
    match (salesforce.api_usage(), limits_error) {
        (Some(usage), None) => report.ok(
            "api",
            usage_line(usage.used, usage.max, config.tuning.api_reserve),
        ),
        (Some(usage), Some(error)) => report.warn(
            "api",
            format!(
                "{} (from Sforce-Limit-Info; /limits failed: {})",
                usage_line(usage.used, usage.max, config.tuning.api_reserve),
                error_chain(&error)
            ),
        ),
        (None, Some(error)) => report.fail("api", error_chain(&error)),
        (None, None) => report.warn("api", "Salesforce reported no API usage"),
    }
}

pub(crate) fn usage_line(used: u64, max: u64, reserve: ApiReserve) -> String {
    let reserved = reserve.calls_out_of(max);
    format!(
        "{used} of {max} daily API calls used, {} remaining ({reserved} reserved)",
        max.saturating_sub(used)
    )
}
