//! Housekeeping: purges finished queue entries from `sfsync.change_archive` once they are older than
//! the retention (`SFSYNC_ARCHIVE_RETENTION_DAYS`), a few seconds after start and then hourly (an
//! indexed delete: cheap when there is nothing to purge).

use std::time::Duration;

use prometheus::{IntCounter, Registry};

use crate::db::queue::purge_archive;
use crate::runtime::RunContext;

const FIRST_PURGE_AFTER: Duration = Duration::from_secs(5);
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Housekeeping's metrics, registered before any worker starts (like the writer's and the reader's).
#[derive(Clone)]
pub struct HousekeepingMetrics {
    purged: IntCounter,
}

impl HousekeepingMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let purged = IntCounter::new(
            "sfsync_archive_purged_total",
            "Archived queue entries deleted after the retention (SFSYNC_ARCHIVE_RETENTION_DAYS)",
        )?;
        registry.register(Box::new(purged.clone()))?;
        Ok(Self { purged })
    }
}

/// Runs until shutdown. It cannot fail: a purge that fails is logged and tried again in an hour,
/// so there is no housekeeping error type to hand back.
pub async fn run(context: RunContext, metrics: HousekeepingMetrics) {
    let purged = metrics.purged;
    let retention_days = context.config.tuning.archive_retention_days;
    let mut shutdown = context.shutdown.signal();
    let mut wait = FIRST_PURGE_AFTER;
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = PURGE_EVERY;
        let result = async {
            let client = context.database.connect().await?;
            purge_archive(&client, retention_days).await
        }
        .await;
        match result {
            Ok(count) => {
                purged.inc_by(u64::try_from(count).unwrap_or(0));
                if count > 0 {
                    tracing::info!(count, retention_days, "purged archived queue entries");
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "cannot purge the queue archive; trying again in an hour")
            }
        }
    }
}
