//! `sfsync-sidecar status`: the extension version, the queue, the Salesforce API usage, and one block per
//! mapping of the schema (`sfsync.status()`), with the fields Salesforce has gained since the table
//! was installed.

use sfsync_protocol::Access;

use super::check::usage_line;
use super::credentials::DatabaseTokenStore;
use super::CommandError;
use crate::config::Config;
use crate::db::session::{open_session, SessionBinding};
use crate::db::{catalog, Database};
use crate::metrics::SalesforceMetrics;
use crate::salesforce::SalesforceClient;

pub async fn status(config: Config) -> Result<(), CommandError> {
    let salesforce = SalesforceClient::from_config(
        &config,
        SalesforceMetrics::unregistered()?,
        DatabaseTokenStore::new(&config, false),
    )?;
    let token = salesforce
        .login()
        .await
        .map_err(crate::salesforce::SalesforceError::from)?;
    let database = Database::new(
        config.database.clone(),
        config.salesforce.ca_bundle.as_ref(),
    )?;
    let client = database.connect_unbound().await?;
    let version = catalog::require_supported_extension(&client).await?;
    println!(
        "extension   sfsync {version} in {}",
        database.settings().describe()
    );
    // the session sees this schema's mappings and queue only, once its org is checked
    let binding = SessionBinding {
        schema: config.schema.clone(),
        org_id: token.identity.org_id.clone(),
    };
    let bound = open_session(&client, &binding, false).await?;
    println!(
        "org         schema {} is bound to org {}",
        config.schema, bound.org_id
    );
    print_queue(&client).await?;
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
    print_mappings(&client, &salesforce, &config.schema).await
}

/// One block per mapping: state, counts, detail, and new Salesforce fields not mapped yet.
async fn print_mappings(
    client: &tokio_postgres::Client,
    salesforce: &SalesforceClient,
    schema: &str,
) -> Result<(), CommandError> {
    let rows = client
        .query(
            "SELECT s.object_name, s.table_name, s.access, s.state, s.state_detail, s.rows, s.pending,
                    s.failed, to_char(s.last_read_at, 'YYYY-MM-DD HH24:MI:SSOF'), m.describe::text,
                    to_char(s.last_write_at, 'YYYY-MM-DD HH24:MI:SSOF'), s.lag_seconds,
                    to_char(s.last_reconciled_at, 'YYYY-MM-DD HH24:MI:SSOF'), s.drift, s.drift_kinds::text,
                    s.dependent_fields::text, s.formula_api_calls, m.fresh_formulas
               FROM sfsync.status() s
               JOIN sfsync.mapping m ON m.schema_name = s.schema AND m.object_name = s.object_name
              WHERE s.schema = $1
              ORDER BY s.object_name",
            &[&schema],
        )
        .await
        .map_err(|source| crate::db::DbError::Query {
            what: "reading sfsync.status()",
            source,
        })?;
    if rows.is_empty() {
        println!("mappings    none in schema {schema}");
    }
    for row in rows {
        let object: String = row.get(0);
        let table: String = row.get(1);
        let access: String = row.get(2);
        let state: String = row.get(3);
        let detail: Option<String> = row.get(4);
        let count: Option<i64> = row.get(5);
        let pending: i64 = row.get(6);
        let failed: i64 = row.get(7);
        let last_read: Option<String> = row.get(8);
        let stored: Option<String> = row.get(9);
        println!(
            "mapping     {schema}.{table} ({object}, {access}) {state}: {} rows, {pending} pending, {failed} failed, last read {}",
            count.map_or_else(|| "?".to_string(), |count| count.to_string()),
            last_read.as_deref().unwrap_or("never"),
        );
        let last_write: Option<String> = row.get(10);
        let lag: Option<f64> = row.get(11);
        if access == Access::ReadWrite.as_str() {
            println!(
                "            last write {}, oldest queued change {}",
                last_write.as_deref().unwrap_or("never"),
                lag.map_or_else(|| "none".to_string(), |lag| format!("{lag:.0}s old")),
            );
        }
        let reconciled: Option<String> = row.get(12);
        let drift: Option<i64> = row.get(13);
        let kinds: Option<String> = row.get(14);
        println!(
            "            {}",
            reconciliation_line(reconciled, drift, kinds)
        );
        let dependent: Option<String> = row.get(15);
        if let Some(line) = dependent_fields_line(dependent, row.get(16), row.get(17)) {
            println!("            {line}");
        }
        if let Some(detail) = detail {
            println!("            {detail}");
        }
        let Some(stored) = stored else {
            continue;
        };
        let stored: Option<serde_json::Value> = serde_json::from_str(&stored).ok();
        match salesforce.describe_sobject(&object).await {
            Ok(live) => {
                let new = crate::reader::new_fields(stored.as_ref(), &live);
                if !new.is_empty() {
                    println!(
                        "            new in Salesforce since the table was installed (add with alter_mapping): {}",
                        new.join(", ")
                    );
                }
            }
            Err(error) => println!(
                "            cannot describe {object}: {}",
                crate::error_chain(&error)
            ),
        }
    }
    Ok(())
}

/// When the table was last reconciled with Salesforce and the drift that reconciliation found.
fn reconciliation_line(
    reconciled: Option<String>,
    drift: Option<i64>,
    kinds: Option<String>,
) -> String {
    let Some(reconciled) = reconciled else {
        return "never reconciled with Salesforce yet".to_string();
    };
    let kinds: serde_json::Map<String, serde_json::Value> = kinds
        .and_then(|kinds| serde_json::from_str(&kinds).ok())
        .unwrap_or_default();
    let per_kind: Vec<String> = ["missing", "vanished", "stale"]
        .iter()
        .filter_map(|kind| kinds.get(*kind).map(|count| format!("{kind} {count}")))
        .collect();
    format!(
        "reconciled {reconciled}: drift {} ({})",
        drift.unwrap_or(0),
        per_kind.join(", ")
    )
}

/// The mapped fields Salesforce computes from other records, what they read, and what keeping them
/// fresh has cost; `None` when there are none.
fn dependent_fields_line(dependent: Option<String>, calls: i64, fresh: bool) -> Option<String> {
    let fields: Vec<sfsync_protocol::DependentField> =
        serde_json::from_str(&dependent?).unwrap_or_default();
    if fields.is_empty() {
        return None;
    }
    let described: Vec<String> = fields
        .iter()
        .map(|field| {
            let mut reads = field.reads.clone();
            if field.volatile {
                reads.push("the clock".to_string());
            }
            format!("{} ({})", field.field, reads.join(", "))
        })
        .collect();
    Some(if fresh {
        format!(
            "computed from other records, kept fresh: {}; {calls} API calls so far",
            described.join(", ")
        )
    } else {
        format!(
            "computed from other records, not kept fresh (fresh_formulas is off): {}",
            described.join(", ")
        )
    })
}

/// The queue: changes waiting to be written, being written, and how old the oldest is.
async fn print_queue(client: &tokio_postgres::Client) -> Result<(), CommandError> {
    let depths = crate::db::queue::queue_depth(client).await?;
    let waiting: i64 = depths.iter().map(|depth| depth.queued).sum();
    let in_flight: i64 = depths.iter().map(|depth| depth.in_flight).sum();
    let oldest = depths
        .iter()
        .filter(|depth| depth.queued + depth.in_flight > 0)
        .map(|depth| depth.oldest_age_seconds)
        .fold(0.0, f64::max);
    let busy: Vec<String> = depths
        .iter()
        .filter(|depth| depth.queued + depth.in_flight > 0)
        .map(|depth| format!("{} {}+{}", depth.object, depth.queued, depth.in_flight))
        .collect();
    if busy.is_empty() {
        println!("queue       empty");
    } else {
        println!(
            "queue       {waiting} waiting, {in_flight} being written, oldest {oldest:.0}s ({})",
            busy.join(", ")
        );
    }
    Ok(())
}
