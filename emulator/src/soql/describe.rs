//! Builds [`ObjectMeta`] from a describe JSON document (`GET /sobjects/{Name}/describe`, REST API Developer Guide: sObject Describe), so
//! the store can derive the engine's metadata from the same files it serves.

use serde_json::Value;

use super::schema::{FieldMeta, FieldType, ObjectMeta};

/// Why a describe document could not be turned into metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    #[error("the describe document has no \"name\" string")]
    MissingObjectName,
    #[error("object {object}: the describe document has no \"fields\" array")]
    MissingFields { object: String },
    #[error("object {object}: field #{position} has no \"name\" string")]
    MissingFieldName { object: String, position: usize },
    #[error("object {object}: field {field} has type {field_type:?}, which the SOQL engine does not know")]
    UnknownFieldType {
        object: String,
        field: String,
        field_type: String,
    },
}

impl ObjectMeta {
    /// Reads `name` and `fields[]` (`name`, `type`, `filterable`, `sortable`, `custom`,
    /// `referenceTo`, `relationshipName`) of a describe document. Missing flags take the defaults
    /// of [`FieldMeta::new`]. Field order is kept: it is the index order records are read by.
    pub fn from_describe(describe: &Value) -> Result<ObjectMeta, DescribeError> {
        let object = describe["name"]
            .as_str()
            .ok_or(DescribeError::MissingObjectName)?;
        let fields = describe["fields"]
            .as_array()
            .ok_or_else(|| DescribeError::MissingFields {
                object: object.to_string(),
            })?;
        let mut metas = Vec::with_capacity(fields.len());
        for (position, field) in fields.iter().enumerate() {
            let name = field["name"]
                .as_str()
                .ok_or_else(|| DescribeError::MissingFieldName {
                    object: object.to_string(),
                    position,
                })?;
            let type_name = field["type"].as_str().unwrap_or("string");
            let field_type = FieldType::from_describe(type_name).ok_or_else(|| {
                DescribeError::UnknownFieldType {
                    object: object.to_string(),
                    field: name.to_string(),
                    field_type: type_name.to_string(),
                }
            })?;
            let mut meta = FieldMeta::new(name, field_type);
            if let Some(filterable) = field["filterable"].as_bool() {
                meta.filterable = filterable;
            }
            if let Some(sortable) = field["sortable"].as_bool() {
                meta.sortable = sortable;
            }
            if let Some(custom) = field["custom"].as_bool() {
                meta.custom = custom;
            }
            if let Some(targets) = field["referenceTo"].as_array() {
                meta.reference_to = targets
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            meta.relationship_name = field["relationshipName"].as_str().map(str::to_string);
            metas.push(meta);
        }
        Ok(ObjectMeta::new(object, metas))
    }
}
