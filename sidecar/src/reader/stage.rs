//! Filling this session's staging table (`_create_stage`) before one `_merge_stage`: Bulk API CSV
//! pages are streamed in with `COPY` chunk by chunk; REST pages are inserted page by page. Memory
//! stays bounded by one chunk or one page.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use futures::{pin_mut, SinkExt, Stream, StreamExt};
use tokio_postgres::Client;

use super::error::ReaderError;
use super::protocol::{self, MergeMode, MergeOutcome, ReadStarted};
use super::soql::Selection;
use crate::salesforce::SalesforceError;

/// A staging table being filled.
pub struct StageWriter<'c> {
    client: &'c Client,
    mapping: i64,
    selection: Selection,
    insert_sql: String,
    copy_sql: String,
    /// The CSV header line of the first page: later pages repeat it (and it is skipped) or not.
    csv_header: Option<Bytes>,
    /// Fields left out of the query: the merge leaves their columns alone.
    absent: Vec<String>,
    /// Taken when the stage is opened, before anything is read into it.
    read_started: ReadStarted,
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl<'c> StageWriter<'c> {
    /// Creates (or empties) the staging table. `skipped` fields are left out, and the merge leaves
    /// their columns as they are.
    pub async fn open(
        client: &'c Client,
        mapping: i64,
        object: &str,
        skipped: &BTreeSet<String>,
        filter: Option<&str>,
    ) -> Result<StageWriter<'c>, ReaderError> {
        let read_started = ReadStarted::now(client).await?;
        let stage = protocol::create_stage(client, mapping).await?;
        if stage.columns.len() != stage.fields.len() {
            return Err(ReaderError::Unexpected(format!(
                "_create_stage returned {} columns but {} fields",
                stage.columns.len(),
                stage.fields.len()
            )));
        }
        let selection = Selection::from_pairs(
            object,
            stage
                .columns
                .iter()
                .cloned()
                .zip(stage.fields.iter().cloned()),
            skipped,
            filter,
        );
        let column_list = selection
            .columns
            .iter()
            .map(|(column, _)| quote_identifier(column))
            .collect::<Vec<_>>()
            .join(", ");
        let paths = selection
            .columns
            .iter()
            .map(|(_, field)| format!("r #>> '{{{}}}'", field.replace('\'', "").replace('.', ",")))
            .collect::<Vec<_>>()
            .join(", ");
        let insert_sql = format!(
            "INSERT INTO {} ({column_list}) SELECT {paths} FROM jsonb_array_elements($1::text::jsonb) r",
            stage.table
        );
        let copy_sql = format!(
            "COPY {} ({column_list}) FROM STDIN (FORMAT csv)",
            stage.table
        );
        Ok(StageWriter {
            client,
            mapping,
            selection,
            insert_sql,
            copy_sql,
            csv_header: None,
            absent: skipped.iter().cloned().collect(),
            read_started,
        })
    }

    /// The fields to SELECT, in the order the stage expects them.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Stages REST records (a JSON array).
    pub async fn insert_records(&self, records_json: &str) -> Result<u64, ReaderError> {
        self.client
            .execute(&self.insert_sql, &[&records_json])
            .await
            .map_err(ReaderError::query("staging Salesforce records"))
    }

    /// Streams one Bulk API CSV page (header row first) into the stage; returns the rows copied.
    pub async fn copy_csv_page(
        &mut self,
        body: impl Stream<Item = Result<Bytes, SalesforceError>>,
    ) -> Result<u64, ReaderError> {
        pin_mut!(body);
        let sink = self
            .client
            .copy_in::<_, Bytes>(self.copy_sql.as_str())
            .await
            .map_err(ReaderError::query("starting COPY into the staging table"))?;
        pin_mut!(sink);
        let mut first_line = BytesMut::new();
        let mut header_done = false;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if header_done {
                sink.send(chunk)
                    .await
                    .map_err(ReaderError::query("copying into the staging table"))?;
                continue;
            }
            first_line.extend_from_slice(&chunk);
            let Some(end) = first_line.iter().position(|&byte| byte == b'\n') else {
                continue;
            };
            header_done = true;
            let rest = first_line.split_off(end + 1).freeze();
            let line = first_line.split().freeze();
            let is_header = match &self.csv_header {
                None => {
                    self.csv_header = Some(line.clone());
                    true
                }
                Some(header) => *header == line,
            };
            if !is_header {
                sink.send(line)
                    .await
                    .map_err(ReaderError::query("copying into the staging table"))?;
            }
            if !rest.is_empty() {
                sink.send(rest)
                    .await
                    .map_err(ReaderError::query("copying into the staging table"))?;
            }
        }
        if !header_done && !first_line.is_empty() {
            // A body without a line break is a lone header (an empty page) or one unterminated row.
            let line = first_line.freeze();
            let is_header = match &self.csv_header {
                None => {
                    self.csv_header = Some(line.clone());
                    true
                }
                Some(header) => header.strip_suffix(b"\n") == Some(&line[..]),
            };
            if !is_header {
                sink.send(line)
                    .await
                    .map_err(ReaderError::query("copying into the staging table"))?;
            }
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(ReaderError::query("finishing COPY into the staging table"))
    }

    /// `_merge_stage`: applies everything staged at once; the columns of fields left out of the
    /// query keep their values.
    pub async fn merge(self, mode: MergeMode) -> Result<MergeOutcome, ReaderError> {
        protocol::merge_stage(
            self.client,
            self.mapping,
            mode,
            &self.absent,
            &self.read_started,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("name"), "\"name\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }
}
