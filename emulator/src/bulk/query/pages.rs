//! Result pages of a query job: `locator` is the base64 of a row offset (Salesforce's `MTAwMDA` is `10000`),
//! `maxRecords` bounds a page (the rest of the result when absent). A page's CSV is rendered lazily, a chunk of
//! rows at a time under a short read lock, and streamed; every page starts with the header row.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use futures_util::StreamExt as _;
use thiserror::Error;

use super::job::QueryJob;
use super::run::current_query;
use crate::app::SharedState;
use crate::query::source::OrgSource;
use crate::soql::{format_date, format_time, FieldValue, SoqlError};
use crate::store::value::format_datetime_z;
use crate::store::RecordId;

/// Rows rendered per chunk (one read-lock hold).
pub const CHUNK_ROWS: usize = 5_000;

const MEGABYTE: u64 = 1024 * 1024;

/// Why a chunk could not be rendered (the stream ends with this error).
#[derive(Debug, Error)]
pub enum PageError {
    #[error("the query no longer compiles: {0}")]
    Query(#[from] SoqlError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// `MTAwMDA` for row 10,000.
pub fn encode_locator(offset: usize) -> String {
    STANDARD_NO_PAD.encode(offset.to_string())
}

/// The row offset of a locator (with or without base64 padding).
pub fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = STANDARD_NO_PAD
        .decode(locator)
        .or_else(|_| STANDARD.decode(locator))
        .ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Rows `[start, end)` of the result, and the offset of the next page if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWindow {
    pub start: usize,
    pub end: usize,
    pub next: Option<usize>,
}

pub fn page_window(total: usize, start: usize, max_records: Option<usize>) -> PageWindow {
    let start = start.min(total);
    let end = match max_records {
        Some(max) => start.saturating_add(max).min(total),
        None => total,
    };
    PageWindow {
        start,
        end,
        next: (end < total).then_some(end),
    }
}

/// Writes one value as its Bulk CSV text: empty for null, datetimes in the `...000Z` form of Bulk results.
fn write_value(
    writer: &mut csv::Writer<Vec<u8>>,
    value: &FieldValue<'_>,
) -> Result<(), csv::Error> {
    match value {
        FieldValue::Null => writer.write_field(""),
        FieldValue::Text(text) => writer.write_field(text),
        FieldValue::Bool(flag) => writer.write_field(if *flag { "true" } else { "false" }),
        FieldValue::Int(number) => writer.write_field(number.to_string()),
        FieldValue::Decimal(number) => writer.write_field(number.to_string()),
        FieldValue::Date(date) => writer.write_field(format_date(*date)),
        FieldValue::DateTime(millis) => writer.write_field(format_datetime_z(*millis)),
        FieldValue::Time(millis) => writer.write_field(format_time(*millis)),
        FieldValue::Address(_) => writer.write_field(value.to_csv_text()),
    }
}

/// Renders the rows of `ids` (records since hard-deleted are skipped), after the header when asked.
fn render_chunk(
    app: &SharedState,
    job: &QueryJob,
    ids: &[RecordId],
    with_header: bool,
) -> Result<Vec<u8>, PageError> {
    let mut writer = job
        .identity
        .dialect
        .writer(Vec::with_capacity(ids.len() * 64));
    let org = app.org.read();
    let query = current_query(&org, job)?;
    if with_header {
        writer.write_record(query.columns())?;
    }
    let source = OrgSource::new(&org);
    for id in ids {
        let Some((_, record)) = org.find_record(id) else {
            continue;
        };
        for value in query.flat_row(&source, record) {
            write_value(&mut writer, &value)?;
        }
        writer.write_record(None::<&[u8]>)?;
    }
    drop(org);
    writer
        .into_inner()
        .map_err(|error| PageError::Csv(csv::Error::from(error.into_error())))
}

/// Counts newly served result rows against `DailyBulkV2QueryFileStorageMB` (each row once, whole megabytes).
fn count_storage(app: &SharedState, job: &QueryJob, start: usize, end: usize, bytes: usize) {
    let mut progress = job.progress.lock();
    if start != progress.counted_rows {
        return;
    }
    progress.counted_rows = end;
    progress.result_bytes += bytes as u64;
    let needed = progress.result_bytes.div_ceil(MEGABYTE);
    if needed > progress.storage_mb_spent {
        let more = needed - progress.storage_mb_spent;
        progress.storage_mb_spent = needed;
        drop(progress);
        // An exhausted allowance does not stop an already finished job.
        let _ = app
            .limits
            .try_spend_other("DailyBulkV2QueryFileStorageMB", more);
    }
}

/// The streamed CSV body of rows `[window.start, window.end)` of `ids`.
pub fn page_body(
    app: SharedState,
    job: Arc<QueryJob>,
    ids: Arc<Vec<RecordId>>,
    window: PageWindow,
) -> Body {
    let chunk_starts: Vec<usize> = if window.start == window.end {
        vec![window.start]
    } else {
        (window.start..window.end).step_by(CHUNK_ROWS).collect()
    };
    let chunks = futures_util::stream::iter(chunk_starts).map(move |start| {
        let end = (start + CHUNK_ROWS).min(window.end);
        let bytes = render_chunk(&app, &job, &ids[start..end], start == window.start)?;
        count_storage(&app, &job, start, end, bytes.len());
        Ok::<Bytes, PageError>(Bytes::from(bytes))
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_are_base64_offsets() {
        assert_eq!(encode_locator(10_000), "MTAwMDA");
        assert_eq!(decode_locator("MTAwMDA"), Some(10_000));
        assert_eq!(decode_locator("MTAwMDA="), Some(10_000));
        assert_eq!(decode_locator("not a locator!"), None);
    }

    #[test]
    fn windows() {
        assert_eq!(
            page_window(25, 0, Some(10)),
            PageWindow {
                start: 0,
                end: 10,
                next: Some(10)
            }
        );
        assert_eq!(
            page_window(25, 20, Some(10)),
            PageWindow {
                start: 20,
                end: 25,
                next: None
            }
        );
        assert_eq!(
            page_window(25, 0, None),
            PageWindow {
                start: 0,
                end: 25,
                next: None
            }
        );
        assert_eq!(
            page_window(0, 0, Some(5)),
            PageWindow {
                start: 0,
                end: 0,
                next: None
            }
        );
    }
}
