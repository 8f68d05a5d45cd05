//! The large-load path: one Bulk API 2.0 `queryAll` job whose CSV result pages are streamed into the
//! staging table with `COPY`, the next page requested while the current one is being copied.

use std::time::Duration;

use tokio_postgres::Client;

use super::error::ReaderError;
use super::progress::Progress;
use super::stage::StageWriter;
use crate::salesforce::bulk::{PollOptions, QueryJobRequest, QueryOperation};
use crate::salesforce::{Backoff, SalesforceClient};

/// Records per result page (`maxRecords`): pages are streamed, so this only bounds the work one
/// request represents, not memory.
const PAGE_RECORDS: u64 = 100_000;

/// Runs the query job for the stage's fields and copies every result page into the stage.
pub async fn fill(
    salesforce: &SalesforceClient,
    client: &Client,
    stage: &mut StageWriter<'_>,
    progress: &mut Progress,
) -> Result<(), ReaderError> {
    let soql = stage.selection().everything();
    let job = salesforce
        .bulk_query_create(&QueryJobRequest::new(&soql, QueryOperation::QueryAll))
        .await?;
    let options = PollOptions {
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        ..PollOptions::default()
    };
    let info = match salesforce.bulk_query_wait(&job.id, options).await {
        Ok(info) => info,
        Err(error) => {
            if let Err(abort) = salesforce.bulk_query_abort(&job.id).await {
                tracing::debug!(job = %job.id, error = %abort, "could not abort the query job");
            }
            return Err(error.into());
        }
    };
    tracing::info!(job = %info.id, records = ?info.number_records_processed, "Bulk API query job complete");
    let mut results = salesforce.bulk_query_results(&info, Some(PAGE_RECORDS));
    let mut page = results.next_page().await?;
    while let Some(current) = page {
        let (copied, next) = tokio::join!(
            stage.copy_csv_page(current.into_byte_stream()),
            results.next_page()
        );
        progress.advance(client, copied?).await?;
        page = next?;
    }
    Ok(())
}
