//! Turns one CSV row into the JSON write body the store's transactions take, following Salesforce's CSV rules:
//! an empty value leaves the field alone (ignored on update, unset on insert), `#N/A` sets it to null, booleans
//! accept `true/false/1/0/yes/no`, numbers keep their exact digits, dates may carry a `Z` or an offset.

use serde_json::{json, Map, Value as Json};

use super::columns::{Column, ColumnPlan};
use crate::store::FieldType;

/// The CSV value that sets a field to null.
pub const NULL_MARKER: &str = "#N/A";

/// The JSON a CSV value stands for in a field of `field_type`. Text the type cannot take stays a string, so the
/// store reports the same `INVALID_TYPE_ON_FIELD_IN_RECORD` it reports for REST.
pub fn cell_json(field_type: FieldType, text: &str) -> Json {
    match field_type {
        FieldType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Json::Bool(true),
            "false" | "0" | "no" => Json::Bool(false),
            _ => Json::String(text.to_string()),
        },
        FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => text
            .parse::<serde_json::Number>()
            .map(Json::Number)
            .unwrap_or_else(|_| Json::String(text.to_string())),
        FieldType::Date => Json::String(strip_date_zone(text).to_string()),
        _ => Json::String(text.to_string()),
    }
}

/// `1940-06-07Z` and `1940-06-07+02:00` name the date `1940-06-07` (the Bulk API's date format allows a zone).
fn strip_date_zone(text: &str) -> &str {
    match (text.get(..10), text.get(10..)) {
        (Some(date), Some(zone))
            if zone == "Z"
                || (zone.len() == 6
                    && (zone.starts_with('+') || zone.starts_with('-'))
                    && zone.as_bytes()[3] == b':') =>
        {
            date
        }
        _ => text,
    }
}

/// Builds the write body of `row`, leaving out the columns at `skip` (the row key).
pub fn row_body(
    plan: &ColumnPlan,
    row: &csv::StringRecord,
    skip: Option<usize>,
) -> Map<String, Json> {
    let mut body = Map::with_capacity(plan.columns.len());
    for (position, (column, text)) in plan.columns.iter().zip(row.iter()).enumerate() {
        if Some(position) == skip || text.is_empty() {
            continue;
        }
        let is_null = text == NULL_MARKER;
        match column {
            Column::Field { name, field_type } => {
                let value = if is_null {
                    Json::Null
                } else {
                    cell_json(*field_type, text)
                };
                body.insert(name.clone(), value);
            }
            Column::Relationship {
                reference_field,
                relationship,
                parent_type,
                key_field,
            } => {
                if is_null {
                    body.insert(reference_field.clone(), Json::Null);
                    continue;
                }
                let mut parent = Map::new();
                if let Some(parent_type) = parent_type {
                    parent.insert("attributes".into(), json!({"type": parent_type}));
                }
                parent.insert(key_field.clone(), Json::String(text.to_string()));
                body.insert(relationship.clone(), Json::Object(parent));
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::ingest::columns::plan_columns;
    use crate::store::Org;

    #[test]
    fn cells_become_typed_json() {
        assert_eq!(cell_json(FieldType::Boolean, "TRUE"), Json::Bool(true));
        assert_eq!(cell_json(FieldType::Boolean, "0"), Json::Bool(false));
        assert_eq!(cell_json(FieldType::Boolean, "maybe"), json!("maybe"));
        assert_eq!(
            cell_json(FieldType::Currency, "12345678901234.56").to_string(),
            "12345678901234.56"
        );
        assert_eq!(cell_json(FieldType::Int, "12x"), json!("12x"));
        assert_eq!(
            cell_json(FieldType::Date, "1940-06-07Z"),
            json!("1940-06-07")
        );
        assert_eq!(
            cell_json(FieldType::Date, "1940-06-07+02:00"),
            json!("1940-06-07")
        );
        assert_eq!(cell_json(FieldType::String, "007"), json!("007"));
    }

    #[test]
    fn empty_is_left_out_and_na_is_null() {
        let org = Org::new("admin@x").expect("org");
        let plan = plan_columns(
            &org,
            "Contact",
            ["Id", "LastName", "Phone", "Account.Name", "ReportsTo.Email"],
        )
        .expect("plan");
        let row = csv::StringRecord::from(vec!["003x", "Smith", "", "Acme", "#N/A"]);
        let body = row_body(&plan, &row, plan.position_of("Id"));
        assert_eq!(
            Json::Object(body),
            json!({"LastName": "Smith", "Account": {"Name": "Acme"}, "ReportsToId": null})
        );
    }
}
