//! Initial loads, reloads and back-fills: count the records, then stage them all (Bulk API 2.0 query
//! at or above the threshold, REST `queryAll` pages below it) and merge once.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::bulk_load;
use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::progress::Progress;
use super::protocol::{MergeMode, MergeOutcome};
use super::stage::StageWriter;
use crate::salesforce::SalesforceError;

/// REST `queryAll` page size (the largest Salesforce honours).
const REST_BATCH: u32 = 2_000;

/// What a load did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// When reading began (by our clock): changes from here on are picked up by polling or CDC.
    pub started_at: DateTime<Utc>,
    pub merge: MergeOutcome,
}

/// A Bulk API failure that REST may not have: the job failed, or its creation was refused as a
/// bad request (not a limit, a session or a network problem).
fn bulk_refused(error: &SalesforceError) -> bool {
    match error {
        SalesforceError::BulkJobFailed { .. } => true,
        SalesforceError::Api { status, errors, .. } => {
            *status == 400
                && !errors
                    .iter()
                    .any(|error| error.error_code == "REQUEST_LIMIT_EXCEEDED")
        }
        _ => false,
    }
}

/// Stages every record through REST `queryAll` pages.
async fn rest_fill(
    context: &ReaderContext,
    client: &Client,
    stage: &StageWriter<'_>,
    progress: &mut Progress,
) -> Result<(), ReaderError> {
    let soql = stage.selection().everything();
    let mut pages = context.salesforce.query_all(&soql, Some(REST_BATCH));
    while let Some(page) = pages.next_page().await? {
        if page.records.is_empty() {
            continue;
        }
        let json = serde_json::to_string(&page.records).map_err(|source| ReaderError::Decode {
            what: "a page of records".to_string(),
            source,
        })?;
        let staged = stage.insert_records(&json).await?;
        progress.advance(client, staged).await?;
    }
    Ok(())
}

/// Reads every record of `mapping` (that matches its filter) and merges them with `mode`.
pub async fn load(
    context: &ReaderContext,
    client: &Client,
    mapping: &Mapping,
    skipped: &BTreeSet<String>,
    mode: MergeMode,
    purpose: &str,
) -> Result<LoadReport, ReaderError> {
    let started_at = Utc::now();
    let started = Instant::now();
    let filter = mapping.filter.as_deref();
    let expected = context
        .salesforce
        .count(
            &mapping.object_name,
            filter.map(|f| format!("({f})")).as_deref(),
            false,
        )
        .await?;
    let used_bulk = expected >= context.tuning.load_bulk_threshold;
    tracing::info!(
        mapping = %mapping.label(),
        expected,
        via = if used_bulk { "Bulk API 2.0" } else { "REST queryAll" },
        "{purpose} started"
    );
    let mut stage =
        StageWriter::open(client, mapping.id, &mapping.object_name, skipped, filter).await?;
    let label = format!("{purpose} of {}", mapping.object_name);
    let mut progress = Progress::start(mapping.id, label.clone(), expected);
    if used_bulk {
        match bulk_load::fill(&context.salesforce, client, &mut stage, &mut progress).await {
            Ok(()) => {}
            Err(ReaderError::Salesforce(error)) if bulk_refused(&error) => {
                // Some queries Bulk API 2.0 refuses (or fails) are fine over REST: read them there.
                tracing::warn!(
                    mapping = %mapping.label(),
                    error = %crate::error_chain(&error),
                    "the Bulk API query failed; reading through REST queryAll instead"
                );
                stage =
                    StageWriter::open(client, mapping.id, &mapping.object_name, skipped, filter)
                        .await?;
                progress = Progress::start(mapping.id, label, expected);
                rest_fill(context, client, &stage, &mut progress).await?;
            }
            Err(error) => return Err(error),
        }
    } else {
        rest_fill(context, client, &stage, &mut progress).await?;
    }
    let records = progress.done();
    let merge = stage.merge(mode).await?;
    progress.finish(client).await?;
    let seconds = started.elapsed().as_secs_f64();
    context
        .metrics
        .records_read
        .with_label_values(&[mapping.object_name.as_str(), "load"])
        .inc_by(records);
    tracing::info!(
        mapping = %mapping.label(),
        records,
        inserted = merge.inserted,
        updated = merge.updated,
        deleted = merge.deleted,
        conflicts = merge.conflicts,
        seconds = format!("{seconds:.1}"),
        rate = format!("{:.0}/s", records as f64 / seconds.max(0.001)),
        "{purpose} finished"
    );
    Ok(LoadReport { started_at, merge })
}
