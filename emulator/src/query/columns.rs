//! `GET /query?q=...&columns=true`: the columns a query selects instead of its rows. Salesforce does not list
//! this variant among the query resource's parameters, but real orgs answer it (the Developer Console's query
//! editor and the Salesforce CLI's `sf data query` rely on it); the shape here is the one those orgs return:
//! `{"columnMetadata":[...],"entityName","groupBy","idSelected","keyPrefix"}`, one entry per SELECT item,
//! parents with the columns read through them in `joinColumns`.

use serde_json::{json, Value as Json};

use super::pages::soql_error;
use crate::http::error::ApiError;
use crate::soql::{ColumnNode, CompiledQuery};
use crate::store::{FieldType, Org};

/// The Apex type a field's values have, as the column metadata names it.
fn apex_type(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::Id | FieldType::Reference => "Id",
        FieldType::Boolean => "Boolean",
        FieldType::Int => "Integer",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "Decimal",
        FieldType::Date => "Date",
        FieldType::Datetime => "Datetime",
        FieldType::Time => "Time",
        FieldType::Address => "Address",
        FieldType::String
        | FieldType::Textarea
        | FieldType::Email
        | FieldType::Phone
        | FieldType::Url
        | FieldType::Picklist
        | FieldType::Multipicklist
        | FieldType::Combobox => "String",
    }
}

fn column_json(org: &Org, column: &ColumnNode) -> Json {
    let field = column
        .field
        .as_ref()
        .and_then(|(object, index)| org.object(object)?.schema.fields.get(*index));
    let is_parent = !column.children.is_empty();
    let (apex, field_type) = match (field, is_parent, column.aggregate) {
        (Some(field), false, _) => (json!(apex_type(field.field_type)), Some(field.field_type)),
        (_, false, true) => (json!("Integer"), Some(FieldType::Int)),
        _ => (Json::Null, None),
    };
    let is = |check: fn(FieldType) -> bool| field_type.is_some_and(check);
    json!({
        "aggregate": column.aggregate,
        "apexType": apex,
        "booleanType": is(|t| t == FieldType::Boolean),
        "columnName": column.name,
        "custom": field.is_some_and(|f| f.custom),
        "displayName": column.display,
        "foreignKeyName": if is_parent { field.map(|f| json!(&*f.name)).unwrap_or(Json::Null) } else { Json::Null },
        "insertable": !is_parent && field.is_some_and(|f| f.createable),
        "joinColumns": column.children.iter().map(|child| column_json(org, child)).collect::<Vec<_>>(),
        "numberType": is(|t| matches!(t, FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent)),
        "textType": is(|t| matches!(
            t,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::Multipicklist
                | FieldType::Combobox
        )),
        "updatable": !is_parent && field.is_some_and(|f| f.updateable),
    })
}

/// The column metadata of `text`, compiled as `query` would compile it (same errors).
pub fn describe_columns(org: &Org, text: &str) -> Result<Json, ApiError> {
    let query = CompiledQuery::compile(text, &org.soql).map_err(soql_error)?;
    let columns = query.column_tree();
    let object = org.object(query.object_name());
    let aggregate = columns.iter().any(|column| column.aggregate);
    let id_selected = columns
        .iter()
        .any(|column| column.children.is_empty() && column.name.eq_ignore_ascii_case("Id"));
    Ok(json!({
        "columnMetadata": columns.iter().map(|column| column_json(org, column)).collect::<Vec<_>>(),
        "entityName": query.object_name(),
        "groupBy": aggregate,
        "idSelected": id_selected,
        "keyPrefix": object.map(|store| store.schema.key_prefix.clone()),
    }))
}
