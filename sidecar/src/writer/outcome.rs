//! What became of a write, and the per-change results `_complete_changes` takes: the carrier gets the
//! write's outcome, merged changes become MERGED (or are released with it on RETRY). The entries are
//! the contract's [`ChangeResult`]s (`db::queue::complete_changes` sends them as JSON).

use std::time::Duration;

use sfsync_protocol::{ChangeResult, Outcome, ResultError};

use super::operation::Operation;
use crate::salesforce::{RecordError, SalesforceError};

/// Salesforce's error for one record, as stored on the queue entry and in `_hc_err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl WriteError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Salesforce's errors for one record, joined (usually there is one).
    pub fn from_record_errors(errors: &[RecordError]) -> Self {
        let Some(first) = errors.first() else {
            return Self::new(
                "UNKNOWN_ERROR",
                "Salesforce reported a failure without an error",
            );
        };
        let mut fields: Vec<String> = Vec::new();
        for error in errors {
            for field in &error.fields {
                if !fields.contains(field) {
                    fields.push(field.clone());
                }
            }
        }
        Self {
            code: first.status_code.clone(),
            message: errors
                .iter()
                .map(|error| error.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            fields,
        }
    }

    /// A whole call's error, for every record it carried.
    pub fn from_call_error(error: &SalesforceError) -> Self {
        let code = error
            .error_codes()
            .first()
            .map(|code| code.to_string())
            .unwrap_or_else(|| call_error_code(error).to_string());
        Self::new(code, crate::error_chain(error))
    }

    /// The "parent given by external id does not exist (yet)" error.
    pub fn is_missing_foreign_key(&self) -> bool {
        self.code == "INVALID_FIELD" && self.message.contains("Foreign key external ID")
    }

    fn to_result_error(&self) -> ResultError {
        ResultError {
            code: self.code.clone(),
            message: self.message.clone(),
            fields: self.fields.clone(),
        }
    }
}

fn call_error_code(error: &SalesforceError) -> &'static str {
    match error {
        SalesforceError::Transport { .. } => "CONNECTION_ERROR",
        SalesforceError::Auth(_) => "LOGIN_FAILED",
        SalesforceError::BudgetExhausted { .. } => "API_RESERVE_REACHED",
        SalesforceError::UnexpectedStatus { .. } => "UNEXPECTED_RESPONSE",
        SalesforceError::BulkJobFailed { .. } | SalesforceError::BulkJobTimedOut { .. } => {
            "BULK_JOB_FAILED"
        }
        _ => "SFSYNC_ERROR",
    }
}

/// What became of one write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Success {
        sfid: Option<String>,
    },
    Failed(WriteError),
    /// Transient: released for a later claim (after `after`, or the queue's own backoff).
    Retry {
        error: WriteError,
        after: Option<Duration>,
    },
}

impl WriteOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            WriteOutcome::Success { .. } => "success",
            WriteOutcome::Failed(_) => "failed",
            WriteOutcome::Retry { .. } => "retry",
        }
    }
}

/// The `_complete_changes` entries for an operation and its outcome.
pub fn change_results(operation: &Operation, outcome: &WriteOutcome) -> Vec<ChangeResult> {
    let mut results = Vec::with_capacity(1 + operation.merged.len());
    let merged = |results: &mut Vec<ChangeResult>| {
        results.extend(
            operation
                .merged
                .iter()
                .map(|id| ChangeResult::new(*id, &operation.token, Outcome::Merged)),
        )
    };
    match outcome {
        WriteOutcome::Success { sfid } => {
            results.push(
                ChangeResult::new(operation.carrier, &operation.token, Outcome::Success)
                    .with_sfid(sfid.clone()),
            );
            merged(&mut results);
        }
        WriteOutcome::Failed(error) => {
            results.push(
                ChangeResult::new(operation.carrier, &operation.token, Outcome::Failed)
                    .with_error(error.to_result_error()),
            );
            merged(&mut results);
        }
        WriteOutcome::Retry { error, after } => {
            for id in operation.change_ids() {
                results.push(retry_result(id, &operation.token, error, *after));
            }
        }
    }
    results
}

/// One RETRY entry (`after = None`: the queue's exponential backoff with jitter).
pub fn retry_result(
    id: i64,
    token: &str,
    error: &WriteError,
    after: Option<Duration>,
) -> ChangeResult {
    ChangeResult::new(id, token, Outcome::Retry)
        .with_error(error.to_result_error())
        .with_retry_after(after.map(|after| after.as_secs_f64()))
}

/// IGNORED entries for changes that need no write.
pub fn ignored_results(change_ids: &[i64], token: &str, reason: &str) -> Vec<ChangeResult> {
    let error = WriteError::new("NOTHING_TO_SEND", reason).to_result_error();
    change_ids
        .iter()
        .map(|id| ChangeResult::new(*id, token, Outcome::Ignored).with_error(error.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::mapping::tests::account;
    use crate::writer::operation::Write;
    use serde_json::json;
    use std::sync::Arc;

    fn operation() -> Operation {
        Operation {
            mapping: Arc::new(account()),
            record_id: 1,
            write: Write::Delete {
                sfid: "001000000000001AAA".into(),
            },
            carrier: 3,
            merged: vec![1, 2],
            token: "t".into(),
            oldest_created_at: 0.0,
            needs: vec![],
            provides: vec![],
        }
    }

    #[test]
    fn carriers_get_the_outcome_and_merged_changes_follow() {
        let results = change_results(
            &operation(),
            &WriteOutcome::Success {
                sfid: Some("001x".into()),
            },
        );
        assert_eq!(
            serde_json::to_value(&results).expect("results serialise"),
            json!([{"id": 3, "token": "t", "outcome": "SUCCESS", "sfid": "001x"},
                   {"id": 1, "token": "t", "outcome": "MERGED"}, {"id": 2, "token": "t", "outcome": "MERGED"}])
        );
        let failure = WriteError {
            code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
            message: "Name may not be Bad".into(),
            fields: vec!["Name".into()],
        };
        let results = change_results(&operation(), &WriteOutcome::Failed(failure));
        let results = serde_json::to_value(&results).expect("results serialise");
        assert_eq!(results[0]["outcome"], "FAILED");
        assert_eq!(results[0]["error"]["fields"], json!(["Name"]));
        assert_eq!(results[1]["outcome"], "MERGED");
    }

    #[test]
    fn a_retry_releases_every_change_of_the_record() {
        let error = WriteError::new("UNABLE_TO_LOCK_ROW", "locked");
        let results = change_results(
            &operation(),
            &WriteOutcome::Retry {
                error,
                after: Some(Duration::from_millis(1500)),
            },
        );
        assert_eq!(results.len(), 3);
        assert!(results
            .iter()
            .all(|r| r.outcome == Outcome::Retry && r.retry_after_seconds == Some(1.5)));
    }

    #[test]
    fn record_errors_are_joined_and_foreign_key_misses_recognised() {
        let errors: Vec<RecordError> = serde_json::from_value(json!([
            {"statusCode": "INVALID_FIELD", "message": "Foreign key external ID: A-1 not found for field Ext_Id__c in entity Account", "fields": []}
        ]))
        .expect("errors");
        let error = WriteError::from_record_errors(&errors);
        assert!(error.is_missing_foreign_key());
        assert_eq!(error.code, "INVALID_FIELD");
    }
}
