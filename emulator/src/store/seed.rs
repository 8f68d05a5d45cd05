//! Fast generated records for `POST /__emulator/seed`: valid per schema, deterministic-looking values, optional
//! constant fields and children spread over existing parents.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::convert::{check_reference, convert_value};
use super::errors::RecordError;
use super::ids::RecordId;
use super::schema::{FieldDef, FieldType};
use super::transaction::WriteContext;
use super::value::Value;
use super::Org;

/// The seed request body.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedRequest {
    pub object: String,
    pub count: usize,
    /// Constant values for every generated record (JSON, as in a create body).
    #[serde(default)]
    pub fields: Map<String, Json>,
    /// A reference field whose values are spread round-robin over the live records of its target object.
    #[serde(default)]
    pub parent: Option<SeedParent>,
    /// Also append the creations to the change log (off by default: seeded data is "already there", and a
    /// million CDC events would cost a lot of memory).
    #[serde(default)]
    pub change_events: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedParent {
    pub field: String,
}

/// What was seeded.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub created: usize,
    pub first_id: Option<RecordId>,
    pub last_id: Option<RecordId>,
}

/// Value of a generated field for record number `n` (1-based, unique within the object).
fn generated(object: &str, field: &FieldDef, n: u64) -> Value {
    let text = |s: String| {
        let limit = field.length.max(1) as usize;
        Value::text(s.chars().take(limit).collect::<String>())
    };
    match field.field_type {
        FieldType::Email => text(format!("user{n}@example.com")),
        FieldType::Phone => text(format!("+1 415 555 {:04}", n % 10_000)),
        FieldType::Url => text(format!("https://example.com/{n}")),
        FieldType::Picklist | FieldType::Multipicklist | FieldType::Combobox => field
            .picklist_values
            .iter()
            .filter(|p| p.active)
            .nth(
                n as usize
                    % field
                        .picklist_values
                        .iter()
                        .filter(|p| p.active)
                        .count()
                        .max(1),
            )
            .map(|p| Value::text(p.value.as_str()))
            .unwrap_or_else(|| text(format!("Value {n}"))),
        t if t.is_text() => {
            let stem = if field.external_id || field.unique {
                // Unique values must stay unique after truncation to the field length.
                let long = format!("{}-{n:07}", object.trim_end_matches("__c"));
                if long.chars().count() <= field.length as usize {
                    long
                } else {
                    n.to_string()
                }
            } else if field.name_field || &*field.name == "Name" || &*field.name == "LastName" {
                format!(
                    "{} {n:06}",
                    object.trim_end_matches("__c").replace('_', " ")
                )
            } else {
                format!("{} {n}", field.label)
            };
            text(stem)
        }
        FieldType::Boolean => Value::Bool(n.is_multiple_of(2)),
        FieldType::Int => {
            let limit = 10u64.pow(field.digits.clamp(1, 9));
            Value::Int((n % limit) as i64)
        }
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            let integer_digits = field.precision.saturating_sub(field.scale).clamp(1, 12);
            let limit = 10u64.pow(integer_digits);
            Value::Decimal(Decimal::new(((n * 37) % limit) as i64, 0))
        }
        FieldType::Date => {
            let base = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
            Value::Date(base + chrono::Duration::days((n % 3650) as i64))
        }
        FieldType::Datetime => Value::DateTime(1_577_836_800_000 + (n as i64 % 100_000) * 60_000),
        FieldType::Time => Value::Time(((n % 86_400) * 1000) as u32),
        _ => Value::Null,
    }
}

/// Creates `count` records in one transaction.
pub fn seed(
    org: &mut Org,
    request: &SeedRequest,
    context: WriteContext,
) -> Result<SeedResult, RecordError> {
    let object = org.object_index(&request.object).ok_or_else(|| {
        RecordError::new(
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", request.object),
            vec![],
        )
    })?;
    let schema = org.object_at(object).schema.clone();
    let mut constants = Vec::new();
    for (name, json) in &request.fields {
        let index = schema.field_index(name).ok_or_else(|| {
            RecordError::invalid_field(format!(
                "No such column '{name}' on sobject of type {}",
                schema.name
            ))
        })?;
        let field = &schema.fields[index];
        let value = convert_value(field, json)?;
        if field.field_type == FieldType::Reference {
            check_reference(org, field, &value)?;
        }
        constants.push((index, value));
    }
    let mut parents: Vec<RecordId> = Vec::new();
    let mut parent_field = None;
    if let Some(parent) = &request.parent {
        let index = schema
            .field_index(&parent.field)
            .filter(|i| schema.fields[*i].field_type == FieldType::Reference)
            .ok_or_else(|| {
                RecordError::invalid_field(format!(
                    "{} is not a reference field of {}",
                    parent.field, schema.name
                ))
            })?;
        for target in &schema.fields[index].reference_to {
            if let Some(store) = org.object(target) {
                parents.extend(store.iter_live().map(|r| r.id));
            }
        }
        if parents.is_empty() {
            return Err(RecordError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                format!(
                    "no live records to spread {} over",
                    schema.fields[index].name
                ),
                vec![schema.fields[index].name.to_string()],
            ));
        }
        parent_field = Some(index);
    }
    // Generate required fields, name fields, unique/external-id fields and a few common ones.
    let generated_fields: Vec<usize> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.createable
                && f.is_stored()
                && f.field_type != FieldType::Reference
                && !constants.iter().any(|(c, _)| c == i)
                && (!f.nillable
                    || f.name_field
                    || f.external_id
                    || f.unique
                    || matches!(&*f.name, "Email" | "Phone" | "FirstName"))
                && !(f.defaulted_on_create && f.nillable)
        })
        .map(|(i, _)| i)
        .collect();
    let required_references: Vec<usize> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.createable
                && !f.nillable
                && !f.defaulted_on_create
                && f.field_type == FieldType::Reference
                && Some(*i) != parent_field
        })
        .map(|(i, _)| i)
        .collect();
    let mut required_parents = Vec::new();
    for index in &required_references {
        let ids: Vec<RecordId> = schema.fields[*index]
            .reference_to
            .iter()
            .filter_map(|t| org.object(t))
            .flat_map(|s| s.iter_live().map(|r| r.id))
            .collect();
        if ids.is_empty() {
            return Err(RecordError::new(
                "REQUIRED_FIELD_MISSING",
                format!(
                    "Required fields are missing: [{}]",
                    schema.fields[*index].name
                ),
                vec![schema.fields[*index].name.to_string()],
            ));
        }
        required_parents.push((*index, ids));
    }
    let start_serial = org.object_at(object).id_serial;
    let mut transaction = org.transaction(context);
    if !request.change_events {
        transaction.skip_change_log();
    }
    let mut first_id = None;
    let mut last_id = None;
    for k in 0..request.count {
        let n = start_serial + k as u64 + 1;
        let mut assignments: Vec<(usize, Value)> = constants.clone();
        for index in &generated_fields {
            assignments.push((*index, generated(&schema.name, &schema.fields[*index], n)));
        }
        if let Some(index) = parent_field {
            assignments.push((index, Value::text(parents[k % parents.len()].as_str())));
        }
        for (index, ids) in &required_parents {
            assignments.push((*index, Value::text(ids[k % ids.len()].as_str())));
        }
        let id = transaction.create_values(object, assignments)?;
        first_id.get_or_insert(id);
        last_id = Some(id);
    }
    transaction.commit();
    Ok(SeedResult {
        created: request.count,
        first_id,
        last_id,
    })
}
