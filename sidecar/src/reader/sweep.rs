//! The getDeleted sweep: hard deletes (and purged records) never show up in `queryAll`, so every few
//! polls the delete log is read from where the last sweep stopped. When Salesforce no longer has the
//! log that far back, deletes may have been missed and the mapping needs a reconciliation.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::protocol;

/// getDeleted reaches 15 days back; stay a little inside that.
const REACH: TimeDelta = TimeDelta::minutes(15 * 24 * 60 - 10);
/// Each sweep starts this much before where the last one stopped (clock skew, minute truncation).
const OVERLAP: TimeDelta = TimeDelta::minutes(2);
/// How far past our clock the window may end (Salesforce stops at its own current minute).
const END_AHEAD: TimeDelta = TimeDelta::minutes(10);
/// `_delete_records` calls take at most this many ids.
const DELETE_CHUNK: usize = 10_000;

/// Where the next sweep starts.
#[derive(Debug, Clone)]
pub struct DeleteSweep {
    cursor: DateTime<Utc>,
    /// The last sweep's window was refused: its possible loss is already reported.
    refused: bool,
}

/// What one sweep found.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub deleted_in_salesforce: usize,
    pub rows_deleted: i64,
    /// The delete log no longer reaches back to the last sweep: reconcile to be exact.
    pub deletes_may_be_lost: bool,
}

impl DeleteSweep {
    /// Sweeps start at `since`: the moment from which this mapping needs to learn about deletes.
    pub fn since(since: DateTime<Utc>) -> Self {
        Self {
            cursor: since,
            refused: false,
        }
    }

    /// Deletes up to this moment have been applied.
    pub fn covered(&self) -> DateTime<Utc> {
        self.cursor
    }

    pub async fn run(
        &mut self,
        context: &ReaderContext,
        client: &Client,
        mapping: &Mapping,
    ) -> Result<SweepReport, ReaderError> {
        let now = Utc::now();
        let mut report = SweepReport::default();
        let mut start = self.cursor - OVERLAP;
        if start < now - REACH {
            start = now - REACH;
            report.deletes_may_be_lost = true;
        }
        // An end in the future lets Salesforce cover up to its own clock (latestDateCovered).
        let result = match context
            .salesforce
            .get_deleted(&mapping.object_name, start, now + END_AHEAD)
            .await
        {
            Ok(result) => result,
            Err(error) if error.error_codes().contains(&"INVALID_REPLICATION_DATE") => {
                // Salesforce no longer keeps the log from our start (by its clock, which decides):
                // deletes since then may have been missed. Report it once, however often the
                // window is refused again until Salesforce's clock and ours agree on a start.
                tracing::warn!(
                    mapping = %mapping.label(),
                    error = %crate::error_chain(&error),
                    "getDeleted refused the window; sweeping from now on"
                );
                report.deletes_may_be_lost = !self.refused;
                self.refused = true;
                self.cursor = now;
                return Ok(report);
            }
            Err(error) => return Err(error.into()),
        };
        if result
            .earliest_date_available
            .is_some_and(|earliest| earliest > start)
        {
            report.deletes_may_be_lost = true;
        }
        self.refused = false;
        report.deleted_in_salesforce = result.deleted_records.len();
        let ids: Vec<String> = result
            .deleted_records
            .into_iter()
            .map(|record| record.id)
            .collect();
        for chunk in ids.chunks(DELETE_CHUNK) {
            report.rows_deleted +=
                protocol::delete_records(client, mapping.id, chunk, false).await?;
        }
        context
            .metrics
            .rows_deleted
            .with_label_values(&[mapping.object_name.as_str()])
            .inc_by(report.rows_deleted.max(0) as u64);
        self.cursor = result.latest_date_covered.max(start);
        Ok(report)
    }
}
