//! Renders records as REST JSON: `attributes`, then fields in describe order, address compounds as objects.

use serde_json::{json, Map, Value as Json};

use super::object_store::Record;
use super::schema::{FieldType, ObjectSchema};

/// `/services/data/v62.0/sobjects/Account/001...`
pub fn record_url(version: &str, object: &str, id: &str) -> String {
    format!("/services/data/v{version}/sobjects/{object}/{id}")
}

/// The value of field `index` as JSON (address compounds built from their components; null when all are null).
pub fn field_json(schema: &ObjectSchema, record: &Record, index: usize) -> Json {
    let field = &schema.fields[index];
    if field.field_type == FieldType::Address {
        let mut address = Map::new();
        let mut any = false;
        for (key, component) in schema.address_components(&field.name) {
            let value = component
                .map(|i| {
                    let f = &schema.fields[i];
                    record.get(i).to_json(f.field_type, f.scale)
                })
                .unwrap_or(Json::Null);
            any |= !value.is_null();
            address.insert(key.to_string(), value);
        }
        return if any {
            Json::Object(address)
        } else {
            Json::Null
        };
    }
    record.get(index).to_json(field.field_type, field.scale)
}

/// The record as REST returns it; `fields` limits and orders the fields (all, in describe order, when `None`).
pub fn record_json(
    schema: &ObjectSchema,
    record: &Record,
    version: &str,
    fields: Option<&[usize]>,
) -> Json {
    let mut map = Map::new();
    map.insert(
        "attributes".into(),
        json!({"type": &*schema.name, "url": record_url(version, &schema.name, record.id.as_str())}),
    );
    match fields {
        Some(indexes) => {
            for index in indexes {
                map.insert(
                    schema.fields[*index].name.to_string(),
                    field_json(schema, record, *index),
                );
            }
        }
        None => {
            for index in 0..schema.fields.len() {
                map.insert(
                    schema.fields[index].name.to_string(),
                    field_json(schema, record, index),
                );
            }
        }
    }
    Json::Object(map)
}

/// Resolves a comma-separated `fields` list; `Err(name)` names the first unknown field.
pub fn resolve_field_list(schema: &ObjectSchema, list: &str) -> Result<Vec<usize>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| schema.field_index(name).ok_or_else(|| name.to_string()))
        .collect()
}
