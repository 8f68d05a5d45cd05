//! Fields a real org computes itself: full names, Opportunity/Case closed flags, expected revenue, auto-numbers.

use rust_decimal::{Decimal, RoundingStrategy};

use super::object_store::Record;
use super::schema::ObjectSchema;
use super::value::Value;

fn text_of<'a>(schema: &ObjectSchema, record: &'a Record, name: &str) -> Option<&'a str> {
    schema
        .field_index(name)
        .and_then(|i| record.get(i).as_text())
}

fn set(schema: &ObjectSchema, record: &mut Record, name: &str, value: Value) {
    if let Some(index) = schema.field_index(name) {
        record.set(index, value);
    }
}

/// Recomputes derived fields after a write. `auto_number` is the object's counter, advanced on create.
pub fn apply(
    schema: &ObjectSchema,
    record: &mut Record,
    creating: bool,
    auto_number: &mut u64,
    now_ms: i64,
) {
    // Person objects: read-only Name = FirstName LastName.
    if let (Some(name), Some(_)) = (schema.field("Name"), schema.field_index("LastName")) {
        if !name.createable {
            let full = [
                text_of(schema, record, "FirstName"),
                text_of(schema, record, "LastName"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            set(
                schema,
                record,
                "Name",
                if full.is_empty() {
                    Value::Null
                } else {
                    Value::text(full)
                },
            );
        }
    }
    if creating {
        for (index, field) in schema.fields.iter().enumerate() {
            if field.auto_number && record.get(index).is_null() {
                *auto_number += 1;
                record.set(index, Value::text(format!("{:08}", *auto_number)));
            }
        }
    }
    match &*schema.name {
        "Opportunity" => {
            let stage = text_of(schema, record, "StageName")
                .unwrap_or_default()
                .to_string();
            let closed = stage.starts_with("Closed");
            set(schema, record, "IsClosed", Value::Bool(closed));
            set(schema, record, "IsWon", Value::Bool(stage == "Closed Won"));
            let category = match stage.as_str() {
                "Closed Won" => "Closed",
                "Closed Lost" => "Omitted",
                _ => "Pipeline",
            };
            set(schema, record, "ForecastCategory", Value::text(category));
            let number = |name: &str| match schema.field_index(name).map(|i| record.get(i)) {
                Some(Value::Decimal(d)) => Some(*d),
                _ => None,
            };
            let expected = match (number("Amount"), number("Probability")) {
                (Some(amount), Some(probability)) => Value::Decimal(
                    (amount * probability / Decimal::from(100))
                        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
                ),
                _ => Value::Null,
            };
            set(schema, record, "ExpectedRevenue", expected);
        }
        "Case" => {
            let closed = text_of(schema, record, "Status") == Some("Closed");
            let was_closed = schema
                .field_index("IsClosed")
                .and_then(|i| record.get(i).as_bool())
                .unwrap_or(false);
            set(schema, record, "IsClosed", Value::Bool(closed));
            if closed && !was_closed {
                set(schema, record, "ClosedDate", Value::DateTime(now_ms));
            } else if !closed {
                set(schema, record, "ClosedDate", Value::Null);
            }
        }
        "User" if text_of(schema, record, "UserType").is_none() => {
            set(schema, record, "UserType", Value::text("Standard"));
        }
        _ => {}
    }
}
