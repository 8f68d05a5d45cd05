//! From the queue's `to_jsonb` values (keyed by column) to Salesforce record bodies (keyed by field):
//! datetimes and times get Salesforce's `...Z` form with milliseconds, relationship columns become
//! `"Account": {"Ext_Id__c": "A-1"}`, everything else passes through with its exact JSON.

use serde_json::{Map, Value};

use super::mapping::{PlannedColumn, WriteMapping};
use crate::salesforce::Record;

/// A column's value in the form Salesforce accepts for the column's field type.
pub fn salesforce_value(column: &PlannedColumn, value: &Value) -> Value {
    match (column.sf_type.as_str(), value) {
        ("datetime", Value::String(text)) => Value::String(datetime(text)),
        ("time", Value::String(text)) => Value::String(time(text)),
        _ => value.clone(),
    }
}

/// `2024-01-31T13:51:35.12` (a UTC `timestamp` as `to_jsonb` renders it) → `2024-01-31T13:51:35.120Z`.
/// Text that already carries a zone is left alone.
pub fn datetime(text: &str) -> String {
    let Some((date, clock)) = text.split_once('T') else {
        return text.to_string();
    };
    if has_zone(clock) {
        return text.to_string();
    }
    format!("{date}T{}Z", clock_with_millis(clock))
}

/// `13:30:00` → `13:30:00.000Z`.
pub fn time(text: &str) -> String {
    if has_zone(text) {
        return text.to_string();
    }
    format!("{}Z", clock_with_millis(text))
}

fn has_zone(clock: &str) -> bool {
    clock.ends_with('Z') || clock.contains('+') || clock.rfind('-').is_some()
}

/// `HH:MM:SS[.f…]` with exactly three fraction digits (extra digits are cut: Salesforce keeps ms).
fn clock_with_millis(clock: &str) -> String {
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut millis: String = fraction.chars().take(3).collect();
    while millis.len() < 3 {
        millis.push('0');
    }
    format!("{whole}.{millis}")
}

/// Which columns a body is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Insertable columns with a value (nulls are left out: Salesforce applies its defaults).
    Create,
    /// The given updatable columns, nulls included (a null clears the field).
    Update,
}

/// Builds a Salesforce body from `source` (column → value) for the columns `wanted` (all columns of
/// the plan for creates). Unknown, system and non-writable columns are skipped.
pub fn record_body<'a>(
    mapping: &WriteMapping,
    kind: BodyKind,
    wanted: impl Iterator<Item = &'a str>,
    source: &Map<String, Value>,
) -> Record {
    let mut body = Record::new();
    let mut cleared_references: Vec<String> = Vec::new();
    for name in wanted {
        let Some(column) = mapping.column(name) else {
            continue;
        };
        let writable = match kind {
            BodyKind::Create => column.insertable,
            BodyKind::Update => column.updatable,
        };
        if column.system || !writable {
            continue;
        }
        let value = source.get(name).unwrap_or(&Value::Null);
        if value.is_null() && kind == BodyKind::Create {
            continue;
        }
        match (&column.relationship, column.relationship_key_field()) {
            (Some(relationship), Some(key_field)) => {
                if value.is_null() {
                    // Clearing the parent by external id means clearing the lookup field itself.
                    if let Some(reference_field) = &column.reference_field {
                        cleared_references.push(reference_field.clone());
                    }
                    continue;
                }
                let entry = body
                    .entry(relationship.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(parent) = entry {
                    parent.insert(key_field.to_string(), salesforce_value(column, value));
                }
            }
            _ => {
                body.insert(column.field.clone(), salesforce_value(column, value));
            }
        }
    }
    // A parent given by external id wins over the same lookup given as an id: Salesforce refuses both.
    for column in mapping.columns.iter().filter(|c| c.relationship.is_some()) {
        if let (Some(relationship), Some(reference_field)) =
            (&column.relationship, &column.reference_field)
        {
            if body.contains_key(relationship) {
                body.remove(reference_field);
            }
        }
    }
    for reference_field in cleared_references {
        if !body.contains_key(&reference_field) {
            body.insert(reference_field, Value::Null);
        }
    }
    body
}

/// A JSON scalar as plain text (strings unquoted, numbers with their exact digits).
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::mapping::tests::{account, contact};
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn datetimes_and_times_get_milliseconds_and_a_zone() {
        assert_eq!(
            datetime("2024-01-31T13:51:35.12"),
            "2024-01-31T13:51:35.120Z"
        );
        assert_eq!(datetime("2024-01-31T13:51:35"), "2024-01-31T13:51:35.000Z");
        assert_eq!(
            datetime("2024-01-31T13:51:35.123456"),
            "2024-01-31T13:51:35.123Z"
        );
        assert_eq!(
            datetime("2024-01-31T13:51:35.000Z"),
            "2024-01-31T13:51:35.000Z"
        );
        assert_eq!(
            datetime("2024-01-31T13:51:35+02:00"),
            "2024-01-31T13:51:35+02:00"
        );
        assert_eq!(time("13:30:00"), "13:30:00.000Z");
        assert_eq!(time("13:30:00.5"), "13:30:00.500Z");
        assert_eq!(time("13:30:00.000Z"), "13:30:00.000Z");
    }

    #[test]
    fn create_bodies_nest_relationships_skip_nulls_and_keep_exact_numbers() {
        let contact = contact();
        let source: Map<String, Value> = serde_json::from_str(
            r#"{"id": 7, "sfid": null, "lastname": "Smith", "birthdate": "1990-02-03", "accountid": "001000000000001AAA",
                "account__ext_id__c": "A-1", "ext_id__c": "C-1", "lastseen__c": "2024-01-31T13:51:35.12",
                "opens__c": "08:00:00", "_hc_lastop": "PENDING"}"#,
        )
        .expect("json");
        let names: Vec<String> = contact.columns.iter().map(|c| c.column.clone()).collect();
        let body = record_body(
            &contact,
            BodyKind::Create,
            names.iter().map(String::as_str),
            &source,
        );
        assert_eq!(
            Value::Object(body),
            json!({"LastName": "Smith", "Birthdate": "1990-02-03", "Account": {"Ext_Id__c": "A-1"},
                   "Ext_Id__c": "C-1", "LastSeen__c": "2024-01-31T13:51:35.120Z", "Opens__c": "08:00:00.000Z"})
        );

        let account = account();
        let source: Map<String, Value> = serde_json::from_str(
            r#"{"name": "Acme", "annualrevenue": 12345678901234567890.12, "ext_id__c": null}"#,
        )
        .expect("json");
        let body = record_body(
            &account,
            BodyKind::Create,
            ["name", "annualrevenue", "ext_id__c"].into_iter(),
            &source,
        );
        assert_eq!(
            serde_json::to_string(&body).expect("serialises"),
            r#"{"Name":"Acme","AnnualRevenue":12345678901234567890.12}"#
        );
    }

    #[test]
    fn update_bodies_send_nulls_and_clear_lookups_given_by_external_id() {
        let contact = contact();
        let source = map(
            json!({"lastname": "Jones", "birthdate": null, "account__ext_id__c": null, "sfid": "003x"}),
        );
        let body = record_body(
            &contact,
            BodyKind::Update,
            [
                "lastname",
                "birthdate",
                "account__ext_id__c",
                "sfid",
                "unknown",
            ]
            .into_iter(),
            &source,
        );
        assert_eq!(
            Value::Object(body),
            json!({"LastName": "Jones", "Birthdate": null, "AccountId": null})
        );
    }

    #[test]
    fn scalars_render_as_text() {
        assert_eq!(scalar_text(&json!("A-1")).as_deref(), Some("A-1"));
        assert_eq!(scalar_text(&json!(12)).as_deref(), Some("12"));
        assert_eq!(scalar_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar_text(&Value::Null), None);
    }
}
