//! One entry of `sfsync._complete_changes(p_results jsonb, ...)`: what became of one claimed change.
//!
//! `[{"id", "token", "outcome", "sfid"?, "error"?: {"code","message","fields"},
//! "retry_after_seconds"?}]` (docs/protocol.md, *Writer*); optional keys are left out when unset.

use serde::{Deserialize, Serialize};

use crate::states::Outcome;

/// The result of one change, under the lease token it was claimed with.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ChangeResult {
    /// `sfsync.change.id`.
    pub id: i64,
    /// The claim's `lease_token`; a result whose token no longer holds the lease is ignored.
    pub token: String,
    pub outcome: Outcome,
    /// The record's id, for a create or upsert that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sfid: Option<String>,
    /// Salesforce's error (FAILED, RETRY) or why nothing was sent (IGNORED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResultError>,
    /// RETRY: release the change for this long (else the queue's backoff with jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<f64>,
}

/// An error as stored on the queue entry (`sf_result`, `sf_message`, `sf_error`) and in `_hc_err`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ResultError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl ChangeResult {
    /// A result with only an outcome (MERGED, or SUCCESS of an update).
    pub fn new(id: i64, token: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            id,
            token: token.into(),
            outcome,
            sfid: None,
            error: None,
            retry_after_seconds: None,
        }
    }

    pub fn with_sfid(mut self, sfid: Option<String>) -> Self {
        self.sfid = sfid;
        self
    }

    pub fn with_error(mut self, error: ResultError) -> Self {
        self.error = Some(error);
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<f64>) -> Self {
        self.retry_after_seconds = seconds;
        self
    }

    /// The JSON `_complete_changes` takes for this result.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a change result serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_serialize_to_what_complete_changes_takes() {
        let success = ChangeResult::new(3, "t", Outcome::Success).with_sfid(Some("001x".into()));
        assert_eq!(
            success.to_json(),
            json!({"id": 3, "token": "t", "outcome": "SUCCESS", "sfid": "001x"})
        );
        assert_eq!(
            ChangeResult::new(1, "t", Outcome::Merged).to_json(),
            json!({"id": 1, "token": "t", "outcome": "MERGED"})
        );
        let error = ResultError {
            code: "UNABLE_TO_LOCK_ROW".into(),
            message: "locked".into(),
            fields: vec!["Name".into()],
        };
        let retry = ChangeResult::new(2, "t", Outcome::Retry)
            .with_error(error)
            .with_retry_after(Some(1.5));
        assert_eq!(
            retry.to_json(),
            json!({"id": 2, "token": "t", "outcome": "RETRY", "retry_after_seconds": 1.5,
                   "error": {"code": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": ["Name"]}})
        );
        let read: ChangeResult = serde_json::from_value(retry.to_json()).expect("reads");
        assert_eq!(read, retry);
    }
}
