//! One incremental poll: `queryAll` of the records changed since a point (the high-water mark minus
//! the re-read window), oldest first, applied page by page through `_apply_records` (the merge skips
//! versions it already has); then, with a filter, the records changed since then that no longer
//! match it are removed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::protocol;
use super::soql::Selection;

const BATCH: u32 = 2_000;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Records Salesforce returned (re-read ones included).
    pub records: u64,
    /// Rows inserted, updated or deleted by the merge.
    pub changed: i64,
    /// Rows removed because their records left the filter.
    pub left_filter: i64,
}

/// Reads and applies everything changed since `since`.
pub async fn poll_once(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    skipped: &BTreeSet<String>,
    since: DateTime<Utc>,
) -> Result<PollReport, ReaderError> {
    let selection = Selection::new(
        &mapping.object_name,
        mapping.plan()?,
        skipped,
        mapping.filter.as_deref(),
    );
    let mut report = PollReport::default();
    let read_started = protocol::ReadStarted::now(client).await?;
    let mut pages = context
        .salesforce
        .query_all(&selection.changed_since(since), Some(BATCH));
    while let Some(page) = pages.next_page().await? {
        if page.records.is_empty() {
            continue;
        }
        report.records += page.records.len() as u64;
        let json = serde_json::to_string(&page.records).map_err(|source| ReaderError::Decode {
            what: "a page of records".to_string(),
            source,
        })?;
        report.changed += protocol::apply_records(client, mapping.id, &json, &read_started)
            .await?
            .changed();
    }
    if let Some(soql) = selection.left_filter_since(since) {
        let mut pages = context.salesforce.query_all(&soql, Some(BATCH));
        while let Some(page) = pages.next_page().await? {
            let ids: Vec<String> = page
                .records
                .iter()
                .filter_map(|record| record.get("Id").and_then(|id| id.as_str()))
                .map(str::to_string)
                .collect();
            report.left_filter += protocol::delete_records(client, mapping.id, &ids, true).await?;
        }
    }
    if report.records == 0 && report.left_filter == 0 {
        // Nothing was applied, so nothing touched last_read_at: record that we did read.
        protocol::set_reader_position(client, mapping.id, None, None).await?;
    }
    let object = mapping.object_name.as_str();
    context
        .metrics
        .records_read
        .with_label_values(&[object, "poll"])
        .inc_by(report.records);
    context
        .metrics
        .rows_deleted
        .with_label_values(&[object])
        .inc_by(report.left_filter.max(0) as u64);
    Ok(report)
}
