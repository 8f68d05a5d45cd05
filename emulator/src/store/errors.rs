//! Errors of the org store: schema problems and Salesforce record-level errors (SOAP API Developer Guide: StatusCode).

use thiserror::Error;

use super::ids::RecordId;

/// A bad object or field definition.
#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("field '{0}' has no type")]
    MissingFieldType(String),
    #[error("'{0}' is not a valid API name (letters, digits and '_' only)")]
    BadFieldName(String),
    #[error("reference field '{0}' needs referenceTo")]
    ReferenceWithoutTarget(String),
    #[error("field '{0}' is defined twice")]
    DuplicateField(String),
    #[error("object '{0}' has no Id field")]
    MissingIdField(String),
    #[error("object '{0}' already exists")]
    ObjectExists(String),
    #[error("object '{0}' does not exist")]
    UnknownObject(String),
    #[error("field '{field}' does not exist on '{object}'")]
    UnknownField { object: String, field: String },
    #[error("field '{0}' is a system field and cannot be removed")]
    SystemField(String),
    #[error("custom object names must end in __c: '{0}'")]
    NotCustomName(String),
    #[error("key prefix '{0}' must be 3 letters or digits and unused")]
    BadKeyPrefix(String),
    #[error("validation rule '{rule}': {reason}")]
    BadValidationRule { rule: String, reason: String },
    #[error("formula field '{field}': {reason}")]
    BadFormula { field: String, reason: String },
    #[error("roll-up summary field '{field}': {reason}")]
    BadRollup { field: String, reason: String },
    #[error("reference field '{field}' points at unknown object '{target}'")]
    UnknownReferenceTarget { field: String, target: String },
    #[error("reading object file {path}: {source}")]
    ObjectFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing object file {path}: {source}")]
    ObjectFileJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A Salesforce error about one record: `statusCode` in Collections results, `errorCode` in REST error arrays.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
    /// The record the error is about, when known (Collections results carry it).
    pub id: Option<RecordId>,
}

impl RecordError {
    pub fn new(code: &'static str, message: impl Into<String>, fields: Vec<String>) -> RecordError {
        RecordError {
            code,
            message: message.into(),
            fields,
            id: None,
        }
    }

    pub fn with_id(mut self, id: RecordId) -> RecordError {
        self.id = Some(id);
        self
    }

    /// The HTTP status a single-record REST call answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "NOT_FOUND" | "ENTITY_IS_DELETED" => 404,
            _ => 400,
        }
    }

    pub fn not_found() -> RecordError {
        RecordError::new("NOT_FOUND", "The requested resource does not exist", vec![])
    }

    pub fn entity_is_deleted() -> RecordError {
        RecordError::new("ENTITY_IS_DELETED", "entity is deleted", vec![])
    }

    /// `Account ID: id value of incorrect type: ...` with `fields:["Id"]`.
    pub fn malformed_id(label: &str, value: &str) -> RecordError {
        RecordError::new(
            "MALFORMED_ID",
            format!("{label} ID: id value of incorrect type: {value}"),
            vec!["Id".into()],
        )
    }

    pub fn invalid_field(message: impl Into<String>) -> RecordError {
        RecordError::new("INVALID_FIELD", message, vec![])
    }
}
