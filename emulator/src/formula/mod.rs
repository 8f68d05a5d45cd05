//! Formula fields (`calculated: true` with a `calculatedFormula`): checked when an object or field is defined,
//! never stored, and computed on every read (REST, SOQL, Bulk) through [`calculated_value`], the one place
//! all read paths use. See the README's "Formula fields" for the supported subset.

pub mod eval;
pub mod lexer;
pub mod parser;

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::store::value::format_time;
use crate::store::{FieldDef, FieldType, ObjectSchema, Org, Record, RecordId, SchemaError, Value};
use eval::{Context, FValue};
use parser::Expr;

/// Relationships a field reference may span (`A.B.C.D.E.Field`).
pub const MAX_RELATIONSHIPS: usize = 5;

/// How deep formulas referencing formula fields may nest before the value reads blank (guards cycles).
const MAX_NESTING: u8 = 10;

/// A formula that does not parse, with the 1-based character position of the problem when known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position.map(|p| format!("at position {p}: ")).unwrap_or_default())]
pub struct FormulaError {
    pub position: Option<usize>,
    pub message: String,
}

impl FormulaError {
    pub fn new(message: impl Into<String>) -> FormulaError {
        FormulaError {
            position: None,
            message: message.into(),
        }
    }

    pub fn at(position: usize, message: impl Into<String>) -> FormulaError {
        FormulaError {
            position: Some(position),
            message: message.into(),
        }
    }
}

/// Whether a field is a formula field.
pub fn is_formula(field: &FieldDef) -> bool {
    field.calculated && field.calculated_formula.is_some()
}

/// Checks a formula field when it is defined: the formula parses and every field reference resolves on
/// `schema` (the object being defined or changed, which may not be in the org yet) or, through relationships,
/// on the objects `lookup` finds.
pub fn check_field<'s>(
    field: &FieldDef,
    schema: &'s ObjectSchema,
    lookup: &dyn Fn(&str) -> Option<&'s ObjectSchema>,
) -> Result<(), SchemaError> {
    let Some(formula) = field
        .calculated_formula
        .as_deref()
        .filter(|_| field.calculated)
    else {
        return Ok(());
    };
    let bad = |error: FormulaError| SchemaError::BadFormula {
        field: field.name.to_string(),
        reason: error.to_string(),
    };
    if matches!(
        field.field_type,
        FieldType::Address | FieldType::Id | FieldType::Reference
    ) {
        return Err(bad(FormulaError::new(format!(
            "a formula field cannot have type {:?}",
            field.field_type
        ))));
    }
    let expr = parser::parse(formula).map_err(bad)?;
    let mut references = Vec::new();
    expr.fields(&mut references);
    for (path, position) in references {
        check_path(&path, position, schema, lookup, &field.name).map_err(bad)?;
    }
    Ok(())
}

fn check_path<'s>(
    path: &[String],
    position: usize,
    schema: &'s ObjectSchema,
    lookup: &dyn Fn(&str) -> Option<&'s ObjectSchema>,
    own_name: &str,
) -> Result<(), FormulaError> {
    let (last, relationships) = path.split_last().expect("paths have one segment at least");
    if relationships.len() > MAX_RELATIONSHIPS {
        return Err(FormulaError::at(
            position,
            format!(
                "'{}' spans {} relationships; at most {MAX_RELATIONSHIPS} are supported",
                path.join("."),
                relationships.len()
            ),
        ));
    }
    if relationships.is_empty() && last.eq_ignore_ascii_case(own_name) {
        return Err(FormulaError::at(
            position,
            format!("the formula refers to its own field '{last}'"),
        ));
    }
    let mut candidates: Vec<&ObjectSchema> = vec![schema];
    for relationship in relationships {
        let mut next = Vec::new();
        for object in &candidates {
            if let Some(index) = object.relationship_field(relationship) {
                for target in &object.fields[index].reference_to {
                    if target.eq_ignore_ascii_case(&schema.name) {
                        next.push(schema);
                    } else if let Some(found) = lookup(target) {
                        next.push(found);
                    }
                }
            }
        }
        if next.is_empty() {
            let names: Vec<&str> = candidates.iter().map(|o| &*o.name).collect();
            return Err(FormulaError::at(
                position,
                format!(
                    "unknown relationship '{relationship}' on {} in '{}' (use the lookup's relationship name, e.g. Account for AccountId, Parent__r for Parent__c)",
                    names.join("/"),
                    path.join(".")
                ),
            ));
        }
        candidates = next;
    }
    if candidates
        .iter()
        .any(|object| object.field_index(last).is_some())
    {
        return Ok(());
    }
    let names: Vec<&str> = candidates.iter().map(|o| &*o.name).collect();
    Err(FormulaError::at(
        position,
        format!(
            "unknown field '{last}' on {} in '{}'",
            names.join("/"),
            path.join(".")
        ),
    ))
}

/// The parsed formulas of every formula field, by object and field position; rebuilt on every schema change.
#[derive(Debug, Default)]
pub struct Formulas {
    by_object: Vec<Vec<Option<Arc<Expr>>>>,
    any: bool,
}

impl Formulas {
    pub fn build<'a>(schemas: impl Iterator<Item = &'a ObjectSchema>) -> Formulas {
        let mut any = false;
        let by_object = schemas
            .map(|schema| {
                let parsed: Vec<Option<Arc<Expr>>> = schema
                    .fields
                    .iter()
                    .map(|field| {
                        // Formulas were checked when defined; one that no longer parses reads blank.
                        field
                            .calculated_formula
                            .as_deref()
                            .filter(|_| field.calculated)
                            .and_then(|text| parser::parse(text).ok())
                            .map(Arc::new)
                    })
                    .collect();
                if parsed.iter().all(Option::is_none) {
                    return Vec::new();
                }
                any = true;
                parsed
            })
            .collect();
        Formulas { by_object, any }
    }

    /// Whether any object has a formula field.
    pub fn any(&self) -> bool {
        self.any
    }

    /// Whether the object at `object` has a formula field.
    pub fn object_has(&self, object: usize) -> bool {
        self.by_object.get(object).is_some_and(|f| !f.is_empty())
    }

    pub fn get(&self, object: usize, field: usize) -> Option<&Expr> {
        self.by_object.get(object)?.get(field)?.as_deref()
    }
}

/// The value of field `field` of `record` (an object `object` record, stored or not): the formula's result
/// when it is a formula field, converted to the field's type, and the stored value otherwise.
pub fn field_value<'r>(
    org: &Org,
    object: usize,
    record: &'r Record,
    field: usize,
) -> Cow<'r, Value> {
    field_value_at(org, object, record, field, 0)
}

/// The computed value of a formula field; `None` when `field` is not a formula field.
pub fn calculated_value(org: &Org, object: usize, record: &Record, field: usize) -> Option<Value> {
    calculated_at(org, object, record, field, 0)
}

fn field_value_at<'r>(
    org: &Org,
    object: usize,
    record: &'r Record,
    field: usize,
    depth: u8,
) -> Cow<'r, Value> {
    match calculated_at(org, object, record, field, depth) {
        Some(value) => Cow::Owned(value),
        None => Cow::Borrowed(record.get(field)),
    }
}

fn calculated_at(
    org: &Org,
    object: usize,
    record: &Record,
    field: usize,
    depth: u8,
) -> Option<Value> {
    let expr = org.formulas.get(object, field)?;
    if depth >= MAX_NESTING {
        return Some(Value::Null);
    }
    let context = RecordContext {
        org,
        object,
        record,
        depth,
    };
    let result = eval::evaluate(expr, &context);
    Some(to_field_value(
        result,
        &org.object_at(object).schema.fields[field],
    ))
}

/// The record with its formula fields filled in, for renderers that read values straight from a record.
pub fn with_calculated<'r>(org: &Org, object: usize, record: &'r Record) -> Cow<'r, Record> {
    if !org.formulas.object_has(object) {
        return Cow::Borrowed(record);
    }
    let mut filled = record.clone();
    for field in 0..org.object_at(object).schema.fields.len() {
        if let Some(value) = calculated_value(org, object, record, field) {
            filled.set(field, value);
        }
    }
    Cow::Owned(filled)
}

/// A record seen by a formula: fields by name, parents through the ids in lookup fields.
struct RecordContext<'o> {
    org: &'o Org,
    object: usize,
    record: &'o Record,
    depth: u8,
}

impl Context for RecordContext<'_> {
    fn field(&self, path: &[String]) -> FValue {
        let Some((last, relationships)) = path.split_last() else {
            return FValue::Null;
        };
        let mut object = self.object;
        let mut record = self.record;
        for relationship in relationships {
            let schema = &self.org.object_at(object).schema;
            let Some(lookup) = schema.relationship_field(relationship) else {
                return FValue::Null;
            };
            let Some(parent_id) = record.get(lookup).as_text().and_then(RecordId::parse) else {
                return FValue::Null;
            };
            let Some(position) = self.org.object_index_by_prefix(parent_id.key_prefix()) else {
                return FValue::Null;
            };
            match self.org.object_at(position).get(&parent_id) {
                Some(parent) if !parent.is_deleted() => {
                    object = position;
                    record = parent;
                }
                _ => return FValue::Null,
            }
        }
        let Some(field) = self.org.object_at(object).schema.field_index(last) else {
            return FValue::Null;
        };
        from_value(&field_value_at(
            self.org,
            object,
            record,
            field,
            self.depth + 1,
        ))
    }

    fn now_ms(&self) -> i64 {
        self.org.clock.now_ms()
    }
}

fn from_value(value: &Value) -> FValue {
    match value {
        Value::Null => FValue::Null,
        Value::Bool(b) => FValue::Bool(*b),
        Value::Int(i) => FValue::Number(Decimal::from(*i)),
        Value::Decimal(d) => FValue::Number(*d),
        Value::Text(t) => FValue::Text(t.to_string()),
        Value::Date(d) => FValue::Date(*d),
        Value::DateTime(ms) => FValue::DateTime(*ms),
        Value::Time(ms) => FValue::Text(format_time(*ms)),
    }
}

/// Converts a result to the field's declared type: numbers rounded half away from zero to the field's scale,
/// text blank when empty, booleans false when blank; a result of another type reads blank.
pub fn to_field_value(result: FValue, field: &FieldDef) -> Value {
    let round = |n: Decimal, scale: u32| {
        n.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
    };
    match field.field_type {
        FieldType::Boolean => Value::Bool(matches!(result, FValue::Bool(true))),
        _ if matches!(result, FValue::Null) => Value::Null,
        t if t.is_text() => match result.to_text() {
            text if text.is_empty() => Value::Null,
            text => Value::text(text),
        },
        FieldType::Double | FieldType::Currency | FieldType::Percent => match result {
            FValue::Number(n) => Value::Decimal(round(n, field.scale)),
            _ => Value::Null,
        },
        FieldType::Int => match result {
            FValue::Number(n) => {
                use rust_decimal::prelude::ToPrimitive;
                round(n, 0).to_i64().map_or(Value::Null, Value::Int)
            }
            _ => Value::Null,
        },
        FieldType::Date => match result {
            FValue::Date(d) => Value::Date(d),
            FValue::DateTime(ms) => DateTime::<Utc>::from_timestamp_millis(ms)
                .map_or(Value::Null, |at| Value::Date(at.date_naive())),
            _ => Value::Null,
        },
        FieldType::Datetime => match result {
            FValue::DateTime(ms) => Value::DateTime(ms),
            FValue::Date(d) => midnight(d).map_or(Value::Null, Value::DateTime),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

fn midnight(date: NaiveDate) -> Option<i64> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests;
