//! What can go wrong while reading, and how the worker should react: retry soon (transient) or put
//! the mapping in state ERROR with a detail that says exactly what is wrong.

use std::time::Duration;

use thiserror::Error;

use crate::db::DbError;
use crate::salesforce::cometd::StreamingError;
use crate::salesforce::SalesforceError;

#[derive(Debug, Error)]
pub enum ReaderError {
    #[error(transparent)]
    Connect(#[from] DbError),
    #[error("{what}")]
    Query {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot decode {what}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    #[error("Change Data Capture")]
    Streaming(#[from] StreamingError),
    #[error("the table of {object} is not installed yet")]
    NotInstalled { object: String },
    #[error("{0}")]
    Unexpected(String),
}

impl ReaderError {
    /// A `map_err` helper for database calls.
    pub fn query(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> ReaderError {
        move |source| ReaderError::Query { what, source }
    }

    /// Worth retrying soon without bothering anyone: network, 5xx, lock contention, a lost
    /// database connection.
    pub fn is_transient(&self) -> bool {
        match self {
            ReaderError::Connect(_) => true,
            ReaderError::Query { source, .. } => {
                use tokio_postgres::error::SqlState;
                source.is_closed()
                    || source.code().is_none()
                    || source.code().is_some_and(|code| {
                        *code == SqlState::T_R_DEADLOCK_DETECTED
                            || *code == SqlState::T_R_SERIALIZATION_FAILURE
                            || *code == SqlState::LOCK_NOT_AVAILABLE
                            || *code == SqlState::ADMIN_SHUTDOWN
                            // two mappings installing at once race to create their schema
                            || *code == SqlState::UNIQUE_VIOLATION
                    })
            }
            ReaderError::Salesforce(error) => error.is_transient(),
            ReaderError::Streaming(StreamingError::Salesforce(error)) => error.is_transient(),
            _ => false,
        }
    }

    /// The database connection is unusable: open a new one.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            ReaderError::Connect(_) => true,
            ReaderError::Query { source, .. } => source.is_closed(),
            _ => false,
        }
    }

    /// For API-limit errors: how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ReaderError::Salesforce(error) => error.retry_after(),
            _ => None,
        }
    }

    /// Salesforce said a field in our query does not exist (`INVALID_FIELD`): the schema drifted.
    pub fn is_invalid_field(&self) -> bool {
        match self {
            ReaderError::Salesforce(error) => error.error_codes().contains(&"INVALID_FIELD"),
            _ => false,
        }
    }

    /// One line for `state_detail`: the Postgres message (with its detail and hint) for database
    /// errors, the whole source chain otherwise.
    pub fn detail(&self) -> String {
        if let ReaderError::Query { what, source } = self {
            if let Some(db) = source.as_db_error() {
                let mut text = format!("{what}: {}", db.message());
                if let Some(detail) = db.detail() {
                    text.push_str(&format!(" ({detail})"));
                }
                if let Some(hint) = db.hint() {
                    text.push_str(&format!("; hint: {hint}"));
                }
                return text;
            }
        }
        crate::error_chain(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::RestError;

    #[test]
    fn invalid_field_is_recognised() {
        let error = ReaderError::Salesforce(SalesforceError::Api {
            operation: "query_all",
            status: 400,
            errors: vec![RestError {
                message: "No such column 'Foo__c' on entity 'Account'".into(),
                error_code: "INVALID_FIELD".into(),
                fields: vec![],
            }],
        });
        assert!(error.is_invalid_field());
        assert!(!error.is_transient());
        assert!(
            error.detail().contains("No such column 'Foo__c'"),
            "{}",
            error.detail()
        );
    }

    #[test]
    fn server_errors_are_transient() {
        let error = ReaderError::Salesforce(SalesforceError::UnexpectedStatus {
            operation: "query_all",
            status: 503,
            body: String::new(),
        });
        assert!(error.is_transient());
    }
}
