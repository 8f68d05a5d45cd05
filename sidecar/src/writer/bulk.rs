//! Sends a large batch of upserts (by external id), updates or deletes (by id) as one Bulk API 2.0
//! ingest job, and maps the job's result rows back to the writes (by external id or by Id: Bulk does
//! not keep the upload's order).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use serde_json::Value;

use super::collections::record_outcome;
use super::operation::{Write, WriteKind};
use super::outcome::{WriteError, WriteOutcome};
use super::schedule::Batch;
use crate::salesforce::bulk::{
    BulkRowError, IngestJobRequest, IngestOperation, IngestOutcome, PollOptions,
};
use crate::salesforce::{RecordError, RecordResult, SalesforceClient, SalesforceError};

/// Bulk API 2.0's way of saying "set this field to null" (an empty cell leaves it alone).
const NULL_MARKER: &str = "#N/A";

/// The CSV of a batch and the column that identifies each row in the results.
#[derive(Debug)]
pub struct IngestUpload {
    pub request: IngestJobRequest,
    pub csv: Bytes,
    pub key_column: String,
    /// Per write, in batch order: the text of its key column.
    pub keys: Vec<String>,
}

fn cell(value: &Value, null: &str) -> String {
    match value {
        Value::Null => null.to_string(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        other => other.to_string(),
    }
}

/// Flattens a body into CSV columns: `"Account": {"Ext_Id__c": "A-1"}` becomes `Account.Ext_Id__c`.
fn flatten(fields: &crate::salesforce::Record) -> Vec<(String, &Value)> {
    let mut flat = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        match value {
            Value::Object(parent) => {
                for (key, inner) in parent {
                    flat.push((format!("{name}.{key}"), inner));
                }
            }
            other => flat.push((name.clone(), other)),
        }
    }
    flat
}

/// Builds the job request and CSV for `batch` (upserts, updates or deletes of one mapping).
pub fn build_upload(batch: &Batch) -> Result<IngestUpload, SalesforceError> {
    const OPERATION: &str = "bulk_ingest_upload";
    let object = batch.mapping.object.clone();
    let (operation, key_column, null) = match batch.kind {
        WriteKind::Upsert => {
            let field = batch.mapping.upsert_field_name().ok_or_else(|| {
                SalesforceError::InvalidArgument {
                    operation: OPERATION,
                    reason: format!("mapping of {object} has no upsert field"),
                }
            })?;
            (IngestOperation::Upsert, field.to_string(), "")
        }
        WriteKind::Update => (IngestOperation::Update, "Id".to_string(), NULL_MARKER),
        WriteKind::Delete => (IngestOperation::Delete, "Id".to_string(), NULL_MARKER),
        WriteKind::Create => {
            return Err(SalesforceError::InvalidArgument {
                operation: OPERATION,
                reason: "inserts without an external id never go through Bulk".to_string(),
            })
        }
    };
    let rows: Vec<Vec<(String, &Value)>> = batch
        .writes
        .iter()
        .map(|waiting| match &waiting.operation.write {
            Write::Upsert { fields, .. } => flatten(fields),
            Write::Update { fields, .. } => flatten(fields),
            _ => Vec::new(),
        })
        .collect();
    let mut headers: Vec<String> = vec![key_column.clone()];
    for row in &rows {
        for (name, _) in row {
            if !headers
                .iter()
                .any(|header| header.eq_ignore_ascii_case(name))
            {
                headers.push(name.clone());
            }
        }
    }
    let position: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(index, header)| (header.to_ascii_lowercase(), index))
        .collect();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let csv_error = |error: csv::Error| SalesforceError::Csv {
        operation: OPERATION,
        source: error,
    };
    writer.write_record(&headers).map_err(csv_error)?;
    let mut keys = Vec::with_capacity(rows.len());
    for (waiting, row) in batch.writes.iter().zip(&rows) {
        let mut cells = vec![String::new(); headers.len()];
        for (name, value) in row {
            if let Some(&index) = position.get(&name.to_ascii_lowercase()) {
                cells[index] = cell(value, null);
            }
        }
        let key = match &waiting.operation.write {
            Write::Upsert { key, .. } => key.clone(),
            Write::Update { sfid, .. } | Write::Delete { sfid } => sfid.clone(),
            Write::Create { .. } => String::new(),
        };
        cells[0] = key.clone();
        keys.push(key);
        writer.write_record(&cells).map_err(csv_error)?;
    }
    let csv = writer
        .into_inner()
        .map_err(|error| SalesforceError::InvalidArgument {
            operation: OPERATION,
            reason: format!("cannot finish the CSV: {error}"),
        })?;
    let mut request = IngestJobRequest::new(&object, operation);
    if operation == IngestOperation::Upsert {
        request.external_id_field_name = Some(key_column.clone());
    }
    Ok(IngestUpload {
        request,
        csv: Bytes::from(csv),
        key_column,
        keys,
    })
}

/// Runs the job and returns one outcome per write, in batch order.
pub async fn send(
    client: &SalesforceClient,
    batch: &Batch,
    poll: PollOptions,
) -> Result<Vec<WriteOutcome>, SalesforceError> {
    let upload = build_upload(batch)?;
    let outcome = client
        .bulk_ingest_run(&upload.request, upload.csv.clone(), poll)
        .await?;
    tracing::debug!(
        job_id = %outcome.job.id,
        object = %batch.mapping.object,
        records = batch.writes.len(),
        failed = outcome.failed.len(),
        "bulk ingest job finished"
    );
    Ok(map_results(batch, &upload, &outcome))
}

/// Matches result rows to writes by key; a row Salesforce did not report is retried.
pub fn map_results(
    batch: &Batch,
    upload: &IngestUpload,
    outcome: &IngestOutcome,
) -> Vec<WriteOutcome> {
    // Writes per key (several writes may share a key; results are handed out in order).
    let mut by_key: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (index, key) in upload.keys.iter().enumerate() {
        by_key
            .entry(key.to_lowercase())
            .or_default()
            .push_back(index);
    }
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; batch.writes.len()];
    let key_index = |columns: &[String]| {
        columns
            .iter()
            .position(|column| column.eq_ignore_ascii_case(&upload.key_column))
    };
    fn assign(
        by_key: &mut HashMap<String, VecDeque<usize>>,
        outcomes: &mut [Option<WriteOutcome>],
        key: &str,
        outcome: WriteOutcome,
    ) {
        if let Some(index) = by_key
            .get_mut(&key.to_lowercase())
            .and_then(VecDeque::pop_front)
        {
            outcomes[index] = Some(outcome);
        }
    }
    if let Some(column) = key_index(&outcome.successful_columns) {
        for row in &outcome.successful {
            if let Some(key) = row.values.get(column) {
                let success = WriteOutcome::Success {
                    sfid: Some(row.id.clone()),
                };
                assign(&mut by_key, &mut outcomes, key, success);
            }
        }
    }
    if let Some(column) = key_index(&outcome.failed_columns) {
        for row in &outcome.failed {
            let Some(key) = row.values.get(column) else {
                continue;
            };
            let Some(&index) = by_key
                .get(&key.to_lowercase())
                .and_then(|queue| queue.front())
            else {
                continue;
            };
            let failure = failed_row_outcome(&batch.writes[index].operation.write, &row.error);
            assign(&mut by_key, &mut outcomes, key, failure);
        }
    }
    let unprocessed_key = outcome
        .unprocessed
        .headers
        .iter()
        .position(|header| header.eq_ignore_ascii_case(&upload.key_column));
    if let Some(column) = unprocessed_key {
        for row in &outcome.unprocessed.rows {
            if let Some(key) = row.get(column) {
                let retry = WriteOutcome::Retry {
                    error: WriteError::new(
                        "BULK_UNPROCESSED",
                        "the Bulk job did not process this row",
                    ),
                    after: None,
                };
                assign(&mut by_key, &mut outcomes, key, retry);
            }
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| WriteOutcome::Retry {
                error: WriteError::new(
                    "BULK_RESULT_MISSING",
                    "the Bulk job reported no result for this row",
                ),
                after: None,
            })
        })
        .collect()
}

/// A failed row's outcome, with the same rules as a Collections result.
fn failed_row_outcome(write: &Write, error: &BulkRowError) -> WriteOutcome {
    record_outcome(
        write,
        RecordResult {
            id: None,
            success: false,
            created: None,
            errors: vec![RecordError {
                status_code: error.status_code.clone(),
                message: error.message.clone(),
                fields: error.fields.clone(),
            }],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::bulk::{CsvTable, IngestFailure, IngestSuccess, JobInfo};
    use crate::writer::mapping::tests::contact;
    use crate::writer::operation::Operation;
    use crate::writer::schedule::Waiting;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Instant;

    fn waiting(id: i64, write: Write) -> Waiting {
        Waiting {
            seq: id as u64,
            operation: Operation {
                mapping: Arc::new(contact()),
                record_id: id,
                write,
                carrier: id,
                merged: vec![],
                token: "t".into(),
                oldest_created_at: 0.0,
                needs: vec![],
                provides: vec![],
            },
            bulk: true,
            since: Instant::now(),
        }
    }

    fn fields(value: Value) -> crate::salesforce::Record {
        value.as_object().cloned().expect("object")
    }

    fn upsert_batch() -> Batch {
        Batch {
            mapping: Arc::new(contact()),
            kind: WriteKind::Upsert,
            bulk: true,
            writes: vec![
                waiting(
                    1,
                    Write::Upsert {
                        key: "C-1".into(),
                        fields: fields(
                            json!({"LastName": "Smith, \"Jr\"", "Account": {"Ext_Id__c": "A-1"}, "Ext_Id__c": "C-1"}),
                        ),
                    },
                ),
                waiting(
                    2,
                    Write::Upsert {
                        key: "C-2".into(),
                        fields: fields(
                            json!({"LastName": "Jones", "Ext_Id__c": "C-2", "Birthdate": "1990-01-02"}),
                        ),
                    },
                ),
                waiting(
                    3,
                    Write::Upsert {
                        key: "C-3".into(),
                        fields: fields(json!({"LastName": "Lee", "Ext_Id__c": "C-3"})),
                    },
                ),
            ],
        }
    }

    #[test]
    fn upserts_become_a_csv_keyed_by_the_external_id() {
        let upload = build_upload(&upsert_batch()).expect("builds");
        assert_eq!(upload.request.operation, IngestOperation::Upsert);
        assert_eq!(
            upload.request.external_id_field_name.as_deref(),
            Some("Ext_Id__c")
        );
        assert_eq!(
            String::from_utf8(upload.csv.to_vec()).expect("utf-8"),
            "Ext_Id__c,LastName,Account.Ext_Id__c,Birthdate\nC-1,\"Smith, \"\"Jr\"\"\",A-1,\nC-2,Jones,,1990-01-02\nC-3,Lee,,\n"
        );
        assert_eq!(upload.keys, ["C-1", "C-2", "C-3"]);
    }

    #[test]
    fn updates_mark_nulls_and_deletes_carry_only_the_id() {
        let batch = Batch {
            mapping: Arc::new(contact()),
            kind: WriteKind::Update,
            bulk: true,
            writes: vec![waiting(
                1,
                Write::Update {
                    sfid: "003000000000001AAA".into(),
                    fields: fields(json!({"LastName": "X", "Birthdate": null})),
                },
            )],
        };
        let upload = build_upload(&batch).expect("builds");
        assert_eq!(
            String::from_utf8(upload.csv.to_vec()).expect("utf-8"),
            "Id,LastName,Birthdate\n003000000000001AAA,X,#N/A\n"
        );
        let batch = Batch {
            mapping: Arc::new(contact()),
            kind: WriteKind::Delete,
            bulk: true,
            writes: vec![waiting(
                1,
                Write::Delete {
                    sfid: "003000000000001AAA".into(),
                },
            )],
        };
        let upload = build_upload(&batch).expect("builds");
        assert_eq!(
            String::from_utf8(upload.csv.to_vec()).expect("utf-8"),
            "Id\n003000000000001AAA\n"
        );
    }

    #[test]
    fn results_are_matched_back_by_key_whatever_their_order() {
        let batch = upsert_batch();
        let upload = build_upload(&batch).expect("builds");
        let job: JobInfo =
            serde_json::from_value(json!({"id": "750x", "state": "JobComplete"})).expect("job");
        let outcome = IngestOutcome {
            job,
            successful_columns: vec!["Ext_Id__c".into(), "LastName".into()],
            successful: vec![IngestSuccess {
                id: "003000000000002AAA".into(),
                created: true,
                values: vec!["c-2".into(), "Jones".into()],
            }],
            failed_columns: vec!["Ext_Id__c".into(), "LastName".into()],
            failed: vec![IngestFailure {
                id: None,
                error: BulkRowError::parse(
                    "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName",
                ),
                values: vec!["C-1".into(), "".into()],
            }],
            unprocessed: CsvTable::default(),
        };
        let outcomes = map_results(&batch, &upload, &outcome);
        assert!(
            matches!(&outcomes[0], WriteOutcome::Failed(error) if error.code == "REQUIRED_FIELD_MISSING" && error.fields == ["LastName"])
        );
        assert_eq!(
            outcomes[1],
            WriteOutcome::Success {
                sfid: Some("003000000000002AAA".into())
            }
        );
        assert!(
            matches!(&outcomes[2], WriteOutcome::Retry { .. }),
            "no result: retried"
        );
    }
}
