//! Processing a closed ingest job: parse the upload, resolve its header, then write the rows in internal batches
//! of 10,000, each batch one store transaction (API kind `bulkapi`) in which every row succeeds or fails on its
//! own. The org lock is taken per batch, so other API calls interleave with a long job.

use std::sync::Arc;
use std::time::Instant;

use super::columns::{plan_columns, ColumnPlan};
use super::job::{IngestJob, IngestOperation, RowOutcome};
use super::rows::row_body;
use super::upload::parse_upload;
use crate::app::AppState;
use crate::bulk::job::JobState;
use crate::store::convert::convert_key_text;
use crate::store::{ApiKind, RecordError, RecordId, Transaction, UpsertError, WriteContext};

/// Rows per internal batch (and per `DailyBulkApiBatches` unit).
pub const BATCH_SIZE: usize = 10_000;

/// From this API version on, failed rows report the record id when it is known.
const FAILED_ID_SINCE: f64 = 53.0;

/// `CODE:message:fields`, `--` when the error names no field.
pub fn format_row_error(error: &RecordError) -> String {
    let fields = if error.fields.is_empty() {
        "--".to_string()
    } else {
        error.fields.join(",")
    };
    format!("{}:{}:{}", error.code, error.message, fields)
}

fn missing_argument(what: &str, call: &str) -> RecordError {
    RecordError::new(
        "MISSING_ARGUMENT",
        format!("{what} not specified in {call} call"),
        vec![],
    )
}

/// Where a batch finds each row's key.
struct RowKeys {
    /// The `Id` column.
    id_position: Option<usize>,
    /// Upsert: the key field's position in the object and in the CSV.
    upsert_key: Option<(usize, Option<usize>)>,
}

fn row_keys(
    transaction: &Transaction<'_>,
    job: &IngestJob,
    plan: &ColumnPlan,
) -> Result<RowKeys, RecordError> {
    let upsert_key = match (&job.external_id_field, job.operation) {
        (Some(field), IngestOperation::Upsert) => {
            let index = transaction.upsert_key_field(plan.object, field)?;
            Some((index, plan.position_of(field)))
        }
        _ => None,
    };
    Ok(RowKeys {
        id_position: plan.position_of("Id"),
        upsert_key,
    })
}

/// Runs one row; the caller rolls its changes back when it fails.
fn apply_row(
    transaction: &mut Transaction<'_>,
    job: &IngestJob,
    plan: &ColumnPlan,
    keys: &RowKeys,
    row: &csv::StringRecord,
) -> Result<(RecordId, bool), RecordError> {
    let id_text = keys.id_position.map(|p| &row[p]).unwrap_or_default();
    let object = plan.object;
    match job.operation {
        IngestOperation::Insert => {
            if !id_text.is_empty() {
                return Err(RecordError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    vec!["Id".into()],
                ));
            }
            let body = row_body(plan, row, keys.id_position);
            Ok((transaction.create(object, &body)?, true))
        }
        IngestOperation::Update => {
            if id_text.is_empty() {
                return Err(missing_argument("Id", "an update"));
            }
            let body = row_body(plan, row, keys.id_position);
            Ok((transaction.update(Some(object), id_text, &body)?, false))
        }
        IngestOperation::Delete | IngestOperation::HardDelete => {
            if id_text.is_empty() {
                return Err(missing_argument("Id", "a delete"));
            }
            let id = if job.operation == IngestOperation::Delete {
                transaction.delete(Some(object), id_text)?
            } else {
                transaction.hard_delete(Some(object), id_text)?
            };
            Ok((id, false))
        }
        IngestOperation::Upsert => {
            let Some((key_field, key_position)) = keys.upsert_key else {
                return Err(missing_argument("External ID field", "an upsert"));
            };
            let key_text = key_position.map(|p| &row[p]).unwrap_or_default();
            let is_id_key = key_field == transaction.org().object_at(object).schema.system.id;
            let body = row_body(plan, row, key_position);
            if key_text.is_empty() {
                if is_id_key {
                    // Upserting on Id without one inserts, as Salesforce does.
                    return Ok((transaction.create(object, &body)?, true));
                }
                let field = &transaction.org().object_at(object).schema.fields[key_field];
                return Err(RecordError::new(
                    "MISSING_ARGUMENT",
                    format!("{} not specified", field.name),
                    vec![field.name.to_string()],
                ));
            }
            let field = &transaction.org().object_at(object).schema.fields[key_field];
            let key = convert_key_text(field, key_text)?;
            let field_name = field.name.to_string();
            match transaction.upsert(object, key_field, &key, &body, false) {
                Ok(outcome) => Ok((outcome.id, outcome.created)),
                Err(UpsertError::Record(error)) => Err(error),
                Err(UpsertError::MultipleMatches(ids)) => {
                    let ids: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
                    Err(RecordError::new(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{field_name}: more than one record found for external id field: [{}]",
                            ids.join(", ")
                        ),
                        vec![field_name.clone()],
                    ))
                }
            }
        }
    }
}

/// The id a failed row reports: the error's record, else the row's own `Id` (from API 53.0 on).
fn failed_row_id(
    job: &IngestJob,
    keys: &RowKeys,
    row: &csv::StringRecord,
    error: &RecordError,
) -> Option<RecordId> {
    if job.identity.api_version_number < FAILED_ID_SINCE {
        return None;
    }
    error.id.or_else(|| {
        keys.id_position
            .and_then(|p| RecordId::parse(&row[p]))
            .filter(|_| job.operation != IngestOperation::Insert)
    })
}

/// Runs one batch of rows in one transaction and returns their outcomes.
fn run_batch(
    app: &AppState,
    job: &IngestJob,
    rows: &[csv::StringRecord],
    header: &csv::StringRecord,
) -> Result<Vec<RowOutcome>, String> {
    let mut org = app.org.write();
    let plan = plan_columns(&org, &job.identity.object, header).map_err(|e| e.to_string())?;
    let context = WriteContext {
        user: job.identity.created_by,
        origin_client: job.identity.origin_client.clone(),
        api: Some(ApiKind::Bulkapi),
        api_version: Some(job.identity.api_version.clone()),
    };
    let mut transaction = org.transaction(context);
    let keys = match row_keys(&transaction, job, &plan) {
        Ok(keys) => keys,
        Err(error) => return Err(format!("InvalidJob : {}", error.message)),
    };
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        let savepoint = transaction.savepoint();
        let outcome = match apply_row(&mut transaction, job, &plan, &keys, row) {
            Ok((id, created)) => RowOutcome::Succeeded { id, created },
            Err(error) => {
                transaction.rollback_to(savepoint);
                RowOutcome::Failed {
                    id: failed_row_id(job, &keys, row, &error),
                    error: format_row_error(&error),
                }
            }
        };
        outcomes.push(outcome);
    }
    transaction.commit();
    Ok(outcomes)
}

fn org_now(app: &AppState) -> i64 {
    app.org.read().clock.now_ms()
}

/// Ends the job as `Failed` with `message` (rows not yet processed stay unprocessed).
fn fail(app: &AppState, job: &IngestJob, message: String, started: Instant) {
    let now = org_now(app);
    let mut progress = job.progress.lock();
    if progress.state == JobState::InProgress {
        progress.state = JobState::Failed;
        progress.error_message = Some(message);
    }
    progress.system_modstamp = now;
    progress.total_processing_ms = started.elapsed().as_millis() as u64;
}

/// Processes a job that was closed with exactly one upload. Blocking: run it on a blocking thread.
pub fn process(app: &AppState, job: &IngestJob) {
    let started = Instant::now();
    let now = org_now(app);
    let upload = {
        let mut progress = job.progress.lock();
        if progress.cancelled || progress.state != JobState::UploadComplete {
            return;
        }
        progress.state = JobState::InProgress;
        progress.system_modstamp = now;
        std::mem::take(&mut progress.uploads)
    };
    let Some(bytes) = upload.first() else {
        return fail(
            app,
            job,
            "InvalidBatch : No data was uploaded for this job".to_string(),
            started,
        );
    };
    let data = match parse_upload(bytes, job.identity.dialect) {
        Ok(data) => Arc::new(data),
        Err(error) => return fail(app, job, error.to_string(), started),
    };
    drop(upload);
    job.progress.lock().data = Some(data.clone());
    for batch in data.rows.chunks(BATCH_SIZE) {
        if job.progress.lock().cancelled {
            break;
        }
        if !app.limits.try_spend_other("DailyBulkApiBatches", 1) {
            return fail(
                app,
                job,
                "ExceededQuota : The daily allocation of Bulk API batches (DailyBulkApiBatches) is used up"
                    .to_string(),
                started,
            );
        }
        let batch_started = Instant::now();
        let outcomes = match run_batch(app, job, batch, &data.header) {
            Ok(outcomes) => outcomes,
            Err(message) => return fail(app, job, message, started),
        };
        let active = batch_started.elapsed().as_millis() as u64;
        let now = org_now(app);
        let mut progress = job.progress.lock();
        progress.records_failed += outcomes
            .iter()
            .filter(|o| matches!(o, RowOutcome::Failed { .. }))
            .count() as u64;
        progress.outcomes.extend(outcomes);
        progress.api_active_ms += active;
        progress.total_processing_ms = started.elapsed().as_millis() as u64;
        progress.system_modstamp = now;
    }
    let now = org_now(app);
    let mut progress = job.progress.lock();
    if progress.state == JobState::InProgress {
        progress.state = JobState::JobComplete;
    }
    progress.system_modstamp = now;
    progress.total_processing_ms = started.elapsed().as_millis() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_errors_use_the_failed_results_format() {
        let error = RecordError::new(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            vec![],
        );
        assert_eq!(
            format_row_error(&error),
            "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"
        );
        let error = RecordError::new(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
            vec!["Name".into()],
        );
        assert_eq!(
            format_row_error(&error),
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name"
        );
    }
}
