//! `GET /tooling/query?q=` for `CustomField` (Tooling API Developer Guide: CustomField): the custom fields of every
//! object, with `Metadata` (CustomFieldMetadata) describing roll-up summaries as a real org does. The subset:
//! `SELECT <fields> FROM CustomField [WHERE Field = 'value' [AND ...]]`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value as Json};

use crate::app::SharedState;
use crate::http::context::ApiContext;
use crate::http::error::{json_response, ApiError};
use crate::store::rollup::RollupSpec;
use crate::store::{FieldDef, FieldType, Org, RecordId};

const COLUMNS: [&str; 5] = [
    "Id",
    "DeveloperName",
    "TableEnumOrId",
    "FullName",
    "Metadata",
];

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", message)
}

/// A parsed `SELECT ... FROM CustomField WHERE ...`: the columns (canonical names) and `Field = 'value'` pairs.
#[derive(Debug, PartialEq)]
struct ToolingQuery {
    columns: Vec<&'static str>,
    conditions: Vec<(&'static str, String)>,
}

fn column(name: &str) -> Result<&'static str, ApiError> {
    COLUMNS
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!("No such column '{name}' on entity 'CustomField'."),
            )
        })
}

fn parse(text: &str) -> Result<ToolingQuery, ApiError> {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .trim_start()
        .strip_prefix("select ")
        .ok_or_else(|| malformed("unexpected token: expected SELECT"))?;
    let start = text.len() - rest.len();
    let from = lower
        .find(" from ")
        .ok_or_else(|| malformed("unexpected token: expected FROM"))?;
    let columns = text[start..from]
        .split(',')
        .map(|c| column(c.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let after = text[from + 6..].trim();
    let (object, filter) = match after.find(char::is_whitespace) {
        Some(at) => (&after[..at], after[at..].trim()),
        None => (after, ""),
    };
    if !object.eq_ignore_ascii_case("CustomField") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_TYPE",
            format!("sObject type '{object}' is not supported."),
        ));
    }
    let mut conditions = Vec::new();
    if !filter.is_empty() {
        let condition = filter
            .get(..6)
            .filter(|w| w.eq_ignore_ascii_case("where "))
            .map(|_| &filter[6..])
            .ok_or_else(|| malformed(format!("unexpected token: '{filter}'")))?;
        for part in split_and(condition) {
            let (field, value) = part
                .split_once('=')
                .ok_or_else(|| malformed(format!("unsupported condition: '{part}'")))?;
            let value = value.trim();
            let quoted = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| malformed(format!("expected a quoted value in '{part}'")))?;
            conditions.push((column(field.trim())?, quoted.to_string()));
        }
    }
    Ok(ToolingQuery {
        columns,
        conditions,
    })
}

/// Splits on ` AND ` (any case) outside quotes.
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted
            && text
                .get(i..i + 5)
                .is_some_and(|w| w.eq_ignore_ascii_case(" and "))
        {
            parts.push(text[start..i].trim());
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    parts.push(text[start..].trim());
    parts
}

/// Metadata API type names of describe types.
fn metadata_type(field: &FieldDef) -> &'static str {
    if field.rollup.is_some() {
        return "Summary";
    }
    match field.field_type {
        FieldType::Reference if field.is_master_detail() => "MasterDetail",
        FieldType::Reference => "Lookup",
        FieldType::Textarea if field.length > 255 => "LongTextArea",
        FieldType::Textarea => "TextArea",
        FieldType::Email => "Email",
        FieldType::Phone => "Phone",
        FieldType::Url => "Url",
        FieldType::Picklist => "Picklist",
        FieldType::Multipicklist => "MultiselectPicklist",
        FieldType::Boolean => "Checkbox",
        FieldType::Int | FieldType::Double => "Number",
        FieldType::Currency => "Currency",
        FieldType::Percent => "Percent",
        FieldType::Date => "Date",
        FieldType::Datetime => "DateTime",
        FieldType::Time => "Time",
        _ => "Text",
    }
}

/// `summaryFilterItems` of a filter made of `Field op value` conditions joined by AND; empty for anything else.
fn filter_items(child: &str, filter: &str) -> Vec<Json> {
    const OPERATORS: [(&str, &str); 7] = [
        ("!=", "notEqual"),
        ("<>", "notEqual"),
        ("<=", "lessOrEqual"),
        (">=", "greaterOrEqual"),
        ("=", "equals"),
        ("<", "lessThan"),
        (">", "greaterThan"),
    ];
    let mut items = Vec::new();
    for part in split_and(filter) {
        let Some((field, operation, value)) = OPERATORS.iter().find_map(|(op, name)| {
            part.split_once(op)
                .map(|(field, value)| (field.trim(), *name, value.trim()))
        }) else {
            return Vec::new();
        };
        let simple_field =
            !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(text) if !text.contains('\'') => text.to_string(),
            Some(_) => return Vec::new(),
            None if !value.is_empty() && !value.contains(char::is_whitespace) => value.to_string(),
            None => return Vec::new(),
        };
        if !simple_field {
            return Vec::new();
        }
        items.push(
            json!({"field": format!("{child}.{field}"), "operation": operation, "value": value}),
        );
    }
    items
}

fn metadata(field: &FieldDef) -> Json {
    let mut map = Map::new();
    map.insert("label".into(), json!(field.label));
    map.insert("type".into(), json!(metadata_type(field)));
    let rollup: Option<&RollupSpec> = field.rollup.as_ref();
    map.insert(
        "summaryForeignKey".into(),
        json!(rollup.map(|r| format!("{}.{}", r.child_object, r.relationship_field))),
    );
    map.insert(
        "summarizedField".into(),
        json!(rollup.and_then(|r| r.field.as_ref().map(|f| format!("{}.{f}", r.child_object)))),
    );
    map.insert(
        "summaryOperation".into(),
        json!(rollup.map(|r| r.operation.metadata_name())),
    );
    map.insert(
        "summaryFilterItems".into(),
        json!(rollup
            .map(|r| r
                .filter
                .as_deref()
                .map(|f| filter_items(&r.child_object, f))
                .unwrap_or_default())
            .unwrap_or_default()),
    );
    Json::Object(map)
}

/// The rows: every custom field of every object, with the values of the query's columns.
fn rows(org: &Org, query: &ToolingQuery, version: &str) -> Result<Json, ApiError> {
    let mut records = Vec::new();
    let mut serial = 0u64;
    for store in org.objects() {
        let object = &store.schema.name;
        for field in &store.schema.fields {
            serial += 1;
            if !field.custom || !field.name.ends_with("__c") {
                continue;
            }
            let id = RecordId::generate("00N", serial);
            let developer_name = field.name.trim_end_matches("__c").to_string();
            let value = |column: &str| -> Json {
                match column {
                    "Id" => json!(id.as_str()),
                    "DeveloperName" => json!(developer_name),
                    "TableEnumOrId" => json!(object.as_ref()),
                    "FullName" => json!(format!("{object}.{}", field.name)),
                    _ => metadata(field),
                }
            };
            let matches = query
                .conditions
                .iter()
                .all(|(column, wanted)| match value(column) {
                    Json::String(text) if *column == "Id" => {
                        crate::soql::widen_id(wanted).is_some_and(|wide| wide == text)
                    }
                    Json::String(text) => text.eq_ignore_ascii_case(wanted),
                    _ => false,
                });
            if !matches {
                continue;
            }
            let mut record = Map::new();
            record.insert(
                "attributes".into(),
                json!({"type": "CustomField",
                       "url": format!("/services/data/v{version}/tooling/sobjects/CustomField/{}", id.as_str())}),
            );
            for column in &query.columns {
                record.insert((*column).into(), value(column));
            }
            records.push(Json::Object(record));
        }
    }
    let single_row_only = query
        .columns
        .iter()
        .any(|c| *c == "Metadata" || *c == "FullName");
    if single_row_only && records.len() > 1 {
        return Err(malformed(format!(
            "When retrieving results with Metadata or FullName fields, the query qualifications must specify no \
             more than one row for retrieval. Result size: {}",
            records.len()
        )));
    }
    Ok(json!({
        "size": records.len(),
        "totalSize": records.len(),
        "done": true,
        "queryLocator": null,
        "entityTypeName": "CustomField",
        "records": records,
    }))
}

/// `GET /tooling/query?q=SELECT ... FROM CustomField ...`.
pub async fn query(
    State(app): State<SharedState>,
    Extension(api): Extension<ApiContext>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = params.get("q").map(String::as_str).unwrap_or_default();
    let query = parse(text)?;
    let org = app.org.read();
    let body = rows(&org, &query, &api.version)?;
    drop(org);
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_into_columns_and_equalities() {
        let query = parse(
            "SELECT Id, developername, Metadata FROM CustomField WHERE TableEnumOrId = 'Invoice__c' \
             and DeveloperName = 'A and B'",
        )
        .expect("parses");
        assert_eq!(query.columns, vec!["Id", "DeveloperName", "Metadata"]);
        assert_eq!(
            query.conditions,
            vec![
                ("TableEnumOrId", "Invoice__c".to_string()),
                ("DeveloperName", "A and B".to_string())
            ]
        );
        assert!(parse("SELECT Nope FROM CustomField").is_err());
        assert!(parse("SELECT Id FROM CustomObject").is_err());
        assert!(parse("SELECT Id FROM CustomField WHERE DeveloperName LIKE 'x'").is_err());
    }

    #[test]
    fn simple_filters_become_filter_items() {
        assert_eq!(
            filter_items("Line__c", "Amount__c >= 100 AND Kind__c = 'Big'"),
            vec![
                json!({"field": "Line__c.Amount__c", "operation": "greaterOrEqual", "value": "100"}),
                json!({"field": "Line__c.Kind__c", "operation": "equals", "value": "Big"})
            ]
        );
        assert!(filter_items("Line__c", "Amount__c > 1 OR Kind__c = 'x'").is_empty());
        assert!(filter_items("Line__c", "(Amount__c > 1)").is_empty());
    }
}
