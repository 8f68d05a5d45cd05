//! The writer: Postgres → Salesforce. Claims queued changes (`sfsync._claim_changes`), merges each
//! record's changes into one write, orders parents before children, sends them through sObject
//! Collections (or Bulk API 2.0 for large backlogs) with `Sforce-Call-Options: client=sfsync-<id>`,
//! and records every record's outcome (`sfsync._complete_changes`).

pub mod bulk;
mod catalog_refresh;
mod claimer;
pub mod collections;
pub mod convert;
mod dispatcher;
mod gauges;
mod leases;
pub mod mapping;
pub mod metrics;
pub mod operation;
pub mod outcome;
mod pause_gate;
mod queue_link;
mod route;
pub mod schedule;
mod shipment;

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub use dispatcher::{WriterSettings, HEALTH_PART};
pub use metrics::WriterMetrics;

use thiserror::Error;

use crate::db::queue::instance_id;
use crate::db::{ClientPool, Database, DbError};
use crate::runtime::RunContext;
use crate::salesforce::bulk::PollOptions;
use crate::salesforce::{Backoff, ClientBuildError};
use crate::shutdown::ShutdownSignal;

impl WriterSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let tuning = &config.tuning;
        Self {
            schema: config.schema.clone(),
            write_batch: tuning.write_batch,
            concurrency: tuning.write_concurrency,
            bulk_threshold: tuning.bulk_threshold,
            poll_interval: tuning.poll_interval,
            lease: tuning.write_lease,
            limit_probe_interval: tuning.limit_probe_interval,
        }
    }
}

/// Why the writer stopped before shutdown; everything else (Salesforce or Postgres trouble) is
/// retried inside the writer.
#[derive(Debug, Error)]
pub enum WriterError {
    #[error("cannot set up the writer's Salesforce client")]
    ClientBuild(#[from] ClientBuildError),
}

/// Runs the writer until shutdown. `metrics` are registered by the caller before any worker starts.
pub async fn run(context: RunContext, metrics: WriterMetrics) -> Result<(), WriterError> {
    let mut shutdown = context.shutdown.signal();
    let Some(instance) = wait_for_instance_id(&context.database, &mut shutdown).await else {
        return Ok(());
    };
    let call_client = sfsync_protocol::echo_client(&instance);
    let salesforce = context.salesforce.with_call_client(&call_client)?;
    tracing::info!(client = %call_client, "writer started");

    let settings = WriterSettings::from_config(&context.config);
    let pool = ClientPool::new(context.database.clone(), settings.concurrency + 2);
    let shipments = Arc::new(shipment::ShipmentContext {
        salesforce: salesforce.clone(),
        pool: pool.clone(),
        metrics: metrics.clone(),
        bulk_poll: PollOptions {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            timeout: Duration::from_secs(2 * 3600),
        },
        call_backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(8)),
    });
    let gauges =
        tokio::spawn(gauges::run(pool, metrics, context.shutdown.signal()).in_current_span());
    dispatcher::Dispatcher::new(
        settings,
        context.database.clone(),
        salesforce,
        shipments,
        context.health.clone(),
        context.shutdown.signal(),
    )
    .run()
    .await;
    gauges.abort();
    Ok(())
}

/// The instance id names this database in `Sforce-Call-Options`; without the database nothing can be
/// written anyway, so this waits (with backoff) until it can be read or shutdown is requested.
async fn wait_for_instance_id(
    database: &Database,
    shutdown: &mut ShutdownSignal,
) -> Option<String> {
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut attempt = 0;
    loop {
        let result: Result<String, DbError> = async {
            let client = database.connect().await?;
            instance_id(&client).await
        }
        .await;
        match result {
            Ok(instance) => return Some(instance),
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "writer: cannot read the sfsync instance id; retrying");
            }
        }
        tokio::select! {
            _ = shutdown.triggered() => return None,
            _ = tokio::time::sleep(backoff.delay(attempt)) => {}
        }
        attempt = attempt.saturating_add(1);
    }
}
