//! Writes query records as JSON text directly (no `serde_json::Value` per record), byte for byte the same
//! document as [`super::CompiledQuery::json_record`] produces: query pages of thousands of records are
//! rendered this way.

use std::io::Write;

use chrono::{DateTime, Datelike, Timelike};

use super::plan::{OutputEntry, OutputNode};
use super::query::Render;
use super::schema::{ObjectMeta, RecordSource};
use super::value::{format_time, FieldValue};

/// Writes a JSON string (quoted and escaped).
fn write_str(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// `"2015-10-19T13:51:35.000+0000"` without going through chrono's format parser.
fn write_datetime(out: &mut Vec<u8>, millis: i64) {
    match DateTime::from_timestamp_millis(millis) {
        Some(moment) => {
            let _ = write!(
                out,
                "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000\"",
                moment.year(),
                moment.month(),
                moment.day(),
                moment.hour(),
                moment.minute(),
                moment.second(),
                moment.timestamp_subsec_millis()
            );
        }
        None => out.extend_from_slice(b"\"\""),
    }
}

/// Writes one value in its REST JSON encoding (SOAP API Developer Guide: field types).
pub fn write_value(out: &mut Vec<u8>, value: &FieldValue<'_>) {
    match value {
        FieldValue::Null => out.extend_from_slice(b"null"),
        FieldValue::Bool(true) => out.extend_from_slice(b"true"),
        FieldValue::Bool(false) => out.extend_from_slice(b"false"),
        FieldValue::Int(number) => {
            let _ = write!(out, "{number}");
        }
        FieldValue::Decimal(number) => {
            let _ = write!(out, "{number}");
        }
        FieldValue::Text(text) => write_str(out, text),
        FieldValue::Date(date) => {
            let _ = write!(
                out,
                "\"{:04}-{:02}-{:02}\"",
                date.year(),
                date.month(),
                date.day()
            );
        }
        FieldValue::DateTime(millis) => write_datetime(out, *millis),
        FieldValue::Time(millis) => write_str(out, &format_time(*millis)),
        FieldValue::Address(_) => {
            let _ = serde_json::to_writer(&mut *out, &value.to_json());
        }
    }
}

fn write_attributes(out: &mut Vec<u8>, object: &ObjectMeta, id: &str, api_version: &str) {
    out.extend_from_slice(b"{\"attributes\":{\"type\":");
    write_str(out, object.name());
    let _ = write!(
        out,
        ",\"url\":\"/services/data/v{api_version}/sobjects/{}/{id}\"}}",
        object.name()
    );
}

/// Writes a record (and its nested parents and children) following the output shape `node`.
pub fn write_node<S: RecordSource>(
    source: &S,
    object: &ObjectMeta,
    record: &S::Record,
    node: &OutputNode,
    render: &Render<'_>,
    out: &mut Vec<u8>,
) {
    let id = source.record_id(record);
    write_attributes(out, object, id, render.api_version);
    for entry in &node.entries {
        let key = match entry {
            OutputEntry::Value { key, .. }
            | OutputEntry::Parent { key, .. }
            | OutputEntry::Children { key, .. } => key,
        };
        out.push(b',');
        write_str(out, key);
        out.push(b':');
        match entry {
            OutputEntry::Value { step, .. } => match step.index_in(object) {
                Some(index) => write_value(out, &source.value(record, index)),
                None => out.extend_from_slice(b"null"),
            },
            OutputEntry::Parent {
                reference, node, ..
            } => {
                let parent = reference
                    .index_in(object)
                    .and_then(|index| source.parent(record, index));
                match parent {
                    Some(parent) => {
                        write_node(source, parent.object, parent.record, node, render, out)
                    }
                    None => out.extend_from_slice(b"null"),
                }
            }
            OutputEntry::Children { child, .. } => {
                match (child.rows(source, id, render.options), child.query.output()) {
                    (Some((child_object, rows)), Some(output)) => {
                        let _ = write!(
                            out,
                            "{{\"totalSize\":{},\"done\":true,\"records\":[",
                            rows.len()
                        );
                        for (position, row) in rows.iter().enumerate() {
                            if position > 0 {
                                out.push(b',');
                            }
                            write_node(source, child_object, row, output, render, out);
                        }
                        out.extend_from_slice(b"]}");
                    }
                    _ => out.extend_from_slice(b"null"),
                }
            }
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::super::memory_source::MemoryOrg;
    use super::super::{
        CompiledQuery, ExecuteOptions, FieldMeta, FieldType, ObjectMeta, QueryRows, Render,
    };
    use serde_json::json;

    #[test]
    fn written_records_equal_the_value_rendering() {
        let mut org = MemoryOrg::default();
        org.define(ObjectMeta::new(
            "Account",
            vec![
                FieldMeta::new("Id", FieldType::Id),
                FieldMeta::new("Name", FieldType::String),
                FieldMeta::new("Amount", FieldType::Currency),
                FieldMeta::new("Day", FieldType::Date),
                FieldMeta::new("At", FieldType::DateTime),
                FieldMeta::new("Flag", FieldType::Boolean),
                FieldMeta::new("Count", FieldType::Int),
                FieldMeta::new("BillingAddress", FieldType::Address),
            ],
        ));
        org.define(ObjectMeta::new(
            "Contact",
            vec![
                FieldMeta::new("Id", FieldType::Id),
                FieldMeta::new("LastName", FieldType::String),
                FieldMeta::reference("AccountId", "Account", &["Account"]),
            ],
        ));
        let account = org.insert(
            "Account",
            json!({"Name": "Quote \" and \\ back\nslash é", "Amount": "12.50", "Day": "2024-01-31",
                   "At": "2015-10-19T13:51:35.123Z", "Flag": true, "Count": 7,
                   "BillingAddress": {"city": "Paris"}}),
        );
        org.insert("Contact", json!({"LastName": "Doe", "AccountId": account}));
        org.insert("Contact", json!({"LastName": "Orphan"}));
        let now = chrono::DateTime::from_timestamp_millis(0).expect("epoch");
        for text in [
            "SELECT Id, Name, Amount, Day, At, Flag, Count, BillingAddress FROM Account",
            "SELECT LastName, Account.Name, Account.At, AccountId FROM Contact",
        ] {
            let query = CompiledQuery::compile(text, &org).expect("compiles");
            let options = ExecuteOptions {
                include_deleted: false,
                now,
            };
            let render = Render {
                api_version: "62.0",
                options: &options,
            };
            let result = query.execute(&org, &options);
            let QueryRows::Records(records) = &result.rows else {
                panic!("records expected");
            };
            for record in records {
                let mut written = Vec::new();
                query.write_json_record(&org, record, &render, &mut written);
                let parsed: serde_json::Value =
                    serde_json::from_slice(&written).expect("valid JSON");
                assert_eq!(parsed, query.json_record(&org, record, &render), "{text}");
                assert_eq!(
                    String::from_utf8(written).expect("utf-8"),
                    query.json_record(&org, record, &render).to_string()
                );
            }
        }
    }
}
