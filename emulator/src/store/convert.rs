//! Turns a JSON write body into typed field assignments, applying the per-field checks of SOAP API Developer Guide: field types and SOAP API Developer Guide: StatusCode.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value as Json};

use super::errors::RecordError;
use super::ids::RecordId;
use super::schema::{FieldDef, FieldType};
use super::value::{parse_date, parse_datetime, parse_time, Value};
use super::Org;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Update,
}

/// Field position and its new value.
pub type Assignments = Vec<(usize, Value)>;

fn type_error(field: &FieldDef, json: &Json) -> RecordError {
    let shown = match json {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    RecordError::new(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        format!("{}: value not of required type: {shown}", field.label),
        vec![field.name.to_string()],
    )
}

fn range_error(field: &FieldDef, shown: &str) -> RecordError {
    RecordError::new(
        "NUMBER_OUTSIDE_VALID_RANGE",
        format!(
            "{}: value outside of valid range on numeric field: {shown}",
            field.label
        ),
        vec![field.name.to_string()],
    )
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn is_valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !text.chars().any(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Parses an exact decimal from JSON number text (plain or scientific).
fn parse_decimal(text: &str) -> Option<Decimal> {
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// Converts one JSON value for `field`, checking type, length, picklist and e-mail rules. References are only
/// checked for shape here; [`check_reference`] verifies the target.
pub fn convert_value(field: &FieldDef, json: &Json) -> Result<Value, RecordError> {
    if json.is_null() {
        return Ok(if field.field_type == FieldType::Boolean {
            Value::Bool(false)
        } else {
            Value::Null
        });
    }
    let name = || vec![field.name.to_string()];
    match field.field_type {
        t if t.is_text() => {
            let text = match json {
                Json::String(s) => s.clone(),
                // Salesforce's JSON reader turns numbers and booleans given for text fields into text.
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                _ => return Err(type_error(field, json)),
            };
            convert_text(field, text)
        }
        FieldType::Id | FieldType::Reference => {
            let Json::String(text) = json else {
                return Err(type_error(field, json));
            };
            if text.is_empty() {
                return Ok(Value::Null);
            }
            match RecordId::parse(text) {
                Some(id) => Ok(Value::text(id.as_str())),
                None => Err(RecordError::new(
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {text}", field.label),
                    name(),
                )),
            }
        }
        FieldType::Boolean => match json {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            _ => Err(type_error(field, json)),
        },
        FieldType::Int => {
            let Json::Number(number) = json else {
                return Err(type_error(field, json));
            };
            let text = number.to_string();
            let decimal = parse_decimal(&text).ok_or_else(|| type_error(field, json))?;
            if !decimal.fract().is_zero() {
                return Err(type_error(field, json));
            }
            let digits = if field.digits == 0 {
                18
            } else {
                field.digits.min(18)
            };
            let limit = Decimal::from(10i64.pow(digits));
            if decimal.abs() >= limit {
                return Err(range_error(field, &text));
            }
            let int = decimal.trunc().mantissa() / 10i128.pow(decimal.scale());
            Ok(Value::Int(int as i64))
        }
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            let Json::Number(number) = json else {
                return Err(type_error(field, json));
            };
            let text = number.to_string();
            let decimal = parse_decimal(&text).ok_or_else(|| range_error(field, &text))?;
            let rounded =
                decimal.round_dp_with_strategy(field.scale, RoundingStrategy::MidpointAwayFromZero);
            let integer_digits = field.precision.saturating_sub(field.scale).min(28);
            if integer_digits > 0
                && rounded.trunc().abs()
                    >= Decimal::from_i128_with_scale(10i128.pow(integer_digits), 0)
            {
                return Err(range_error(field, &text));
            }
            Ok(Value::Decimal(rounded))
        }
        FieldType::Date => match json {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => parse_date(s)
                .map(Value::Date)
                .ok_or_else(|| type_error(field, json)),
            _ => Err(type_error(field, json)),
        },
        FieldType::Datetime => match json {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => parse_datetime(s)
                .map(Value::DateTime)
                .ok_or_else(|| type_error(field, json)),
            _ => Err(type_error(field, json)),
        },
        FieldType::Time => match json {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => parse_time(s)
                .map(Value::Time)
                .ok_or_else(|| type_error(field, json)),
            _ => Err(type_error(field, json)),
        },
        _ => Err(type_error(field, json)),
    }
}

/// Text rules: empty means null, multipicklists are normalised, lengths, restricted picklists, e-mails.
fn convert_text(field: &FieldDef, text: String) -> Result<Value, RecordError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let name = || vec![field.name.to_string()];
    let text = if field.field_type == FieldType::Multipicklist {
        let mut parts: Vec<&str> = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        parts.join(";")
    } else {
        text
    };
    let length = text.chars().count();
    if field.length > 0 && length > field.length as usize {
        return Err(RecordError::new(
            "STRING_TOO_LONG",
            format!(
                "{}: data value too large: {} (max length={})",
                field.label, text, field.length
            ),
            name(),
        ));
    }
    if field.restricted_picklist {
        let allowed = |value: &str| {
            field
                .picklist_values
                .iter()
                .any(|p| p.active && p.value == value)
        };
        let bad = if field.field_type == FieldType::Multipicklist {
            text.split(';')
                .find(|part| !allowed(part))
                .map(str::to_string)
        } else {
            (!allowed(&text)).then(|| text.clone())
        };
        if let Some(bad) = bad {
            return Err(RecordError::new(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                format!(
                    "{}: bad value for restricted picklist field: {bad}",
                    field.label
                ),
                name(),
            ));
        }
    }
    if field.field_type == FieldType::Email && !is_valid_email(&text) {
        return Err(RecordError::new(
            "INVALID_EMAIL_ADDRESS",
            format!("{}: invalid email address: {text}", field.label),
            name(),
        ));
    }
    Ok(Value::Text(text.into_boxed_str()))
}

/// Checks that a reference value points at a live record of one of the field's target objects.
pub fn check_reference(org: &Org, field: &FieldDef, value: &Value) -> Result<(), RecordError> {
    let Some(text) = value.as_text() else {
        return Ok(());
    };
    let bad = || {
        RecordError::new(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            vec![field.name.to_string()],
        )
    };
    let id = RecordId::parse(text).ok_or_else(bad)?;
    let object = org.object_by_prefix(id.key_prefix()).ok_or_else(bad)?;
    if !field
        .reference_to
        .iter()
        .any(|target| target.eq_ignore_ascii_case(&object.schema.name))
    {
        return Err(bad());
    }
    match object.get(&id) {
        Some(record) if !record.is_deleted() => Ok(()),
        _ => Err(bad()),
    }
}

/// Resolves `"Account": {"Ext_Id__c": "A-1"}` to the id of the one live Account with that external id.
fn resolve_relationship(
    org: &Org,
    field: &FieldDef,
    body: &Map<String, Json>,
) -> Result<Value, RecordError> {
    let target_name = body
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Json::as_str)
        .or_else(|| field.reference_to.first().map(String::as_str))
        .unwrap_or_default();
    let target = org.object(target_name).ok_or_else(|| {
        RecordError::new(
            "INVALID_TYPE",
            format!("sObject type '{target_name}' is not supported."),
            vec![],
        )
    })?;
    let keys: Vec<(&String, &Json)> = body
        .iter()
        .filter(|(k, _)| k.as_str() != "attributes")
        .collect();
    let [(key_name, key_json)] = keys.as_slice() else {
        return Err(RecordError::invalid_field(format!(
            "The relationship {} must name exactly one external ID field",
            field.relationship_name.as_deref().unwrap_or_default()
        )));
    };
    let key_index = target.schema.field_index(key_name).ok_or_else(|| {
        RecordError::invalid_field(format!(
            "No such column '{key_name}' on sobject of type {}",
            target.schema.name
        ))
    })?;
    let key_field = &target.schema.fields[key_index];
    if !(key_field.external_id || key_field.id_lookup) {
        return Err(RecordError::invalid_field(format!(
            "Field {} on {} is not an external ID or indexed field",
            key_field.name, target.schema.name
        )));
    }
    let key_value = convert_value(key_field, key_json)?;
    let shown = key_value.display_text();
    let matches = if key_field.field_type == FieldType::Id {
        key_value
            .as_text()
            .and_then(RecordId::parse)
            .filter(|id| target.get(id).is_some_and(|r| !r.is_deleted()))
            .into_iter()
            .collect()
    } else {
        target.find_by_key(key_index, &key_value)
    };
    match matches.as_slice() {
        [id] => Ok(Value::text(id.as_str())),
        [] => Err(RecordError::new(
            "INVALID_FIELD",
            format!("Foreign key external ID: {shown} not found for field {} in entity {}", key_field.name, target.schema.name),
            vec![],
        )),
        _ => Err(RecordError::new(
            "DUPLICATE_EXTERNAL_ID",
            format!(
                "Foreign key external ID: {shown} matched more than one record for field {} in entity {}",
                key_field.name, target.schema.name
            ),
            vec![field.name.to_string()],
        )),
    }
}

/// Converts a write body (`attributes` ignored) into assignments for `object`, in body order.
pub fn prepare_assignments(
    org: &Org,
    object: usize,
    body: &Map<String, Json>,
    mode: WriteMode,
) -> Result<Assignments, RecordError> {
    let schema = &org.object_at(object).schema;
    let mut assignments = Vec::with_capacity(body.len());
    let mut not_writable = Vec::new();
    for (key, json) in body {
        if key == "attributes" {
            continue;
        }
        let Some(index) = schema.field_index(key) else {
            if let (Some(reference), Json::Object(inner)) = (schema.relationship_field(key), json) {
                let field = &schema.fields[reference];
                let writable = if mode == WriteMode::Create {
                    field.createable
                } else {
                    field.updateable
                };
                if !writable {
                    not_writable.push(field.name.to_string());
                    continue;
                }
                assignments.push((reference, resolve_relationship(org, field, inner)?));
                continue;
            }
            return Err(RecordError::invalid_field(format!(
                "No such column '{key}' on sobject of type {}",
                schema.name
            )));
        };
        let field = &schema.fields[index];
        if index == schema.system.id {
            if mode == WriteMode::Create {
                return Err(RecordError::invalid_field(
                    "The Id field should not be specified in the sobject data.",
                ));
            }
            continue;
        }
        let writable = if mode == WriteMode::Create {
            field.createable
        } else {
            field.updateable
        };
        if !writable {
            not_writable.push(field.name.to_string());
            continue;
        }
        let value = convert_value(field, json)?;
        if field.field_type == FieldType::Reference {
            check_reference(org, field, &value)?;
        }
        assignments.push((index, value));
    }
    if !not_writable.is_empty() {
        return Err(RecordError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                not_writable.join(", ")
            ),
            not_writable,
        ));
    }
    Ok(assignments)
}

/// Converts a key value given as URL text (upsert by external id) for `field`.
pub fn convert_key_text(field: &FieldDef, text: &str) -> Result<Value, RecordError> {
    let json = match field.field_type {
        FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => text
            .parse::<serde_json::Number>()
            .map(Json::Number)
            .unwrap_or_else(|_| Json::String(text.into())),
        FieldType::Boolean => text
            .parse::<bool>()
            .map(Json::Bool)
            .unwrap_or_else(|_| Json::String(text.into())),
        _ => Json::String(text.into()),
    };
    convert_value(field, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::FieldSpec;

    fn def(json: Json) -> FieldDef {
        serde_json::from_value::<FieldSpec>(json)
            .expect("spec")
            .into_def()
            .expect("def")
    }

    #[test]
    fn emails_and_lengths() {
        assert!(is_valid_email("a.b@example.com"));
        assert!(!is_valid_email("not an email"));
        assert!(!is_valid_email("a@b"));
        let field = def(serde_json::json!({"name": "Code__c", "type": "string", "length": 3}));
        assert_eq!(
            convert_value(&field, &Json::String("abcd".into())).map_err(|e| e.code),
            Err("STRING_TOO_LONG")
        );
        assert_eq!(
            convert_value(&field, &Json::String(String::new())),
            Ok(Value::Null)
        );
    }

    #[test]
    fn numbers_are_exact_and_range_checked() {
        let field = def(
            serde_json::json!({"name": "Amt__c", "type": "currency", "precision": 16, "scale": 2}),
        );
        let big: Json = serde_json::from_str("12345678901234.56").expect("json");
        assert_eq!(
            convert_value(&field, &big),
            Ok(Value::Decimal("12345678901234.56".parse().expect("dec")))
        );
        let too_big: Json = serde_json::from_str("123456789012345.5").expect("json");
        assert_eq!(
            convert_value(&field, &too_big).map_err(|e| e.code),
            Err("NUMBER_OUTSIDE_VALID_RANGE")
        );
        assert_eq!(
            convert_value(&field, &Json::String("12".into())).map_err(|e| e.code),
            Err("INVALID_TYPE_ON_FIELD_IN_RECORD")
        );
    }
}
