//! Comparing Postgres rows with Salesforce records: a REST value as Postgres prints it, and every row
//! of a synced table against the org's records, column by column.

use crate::World;
use serde_json::Value;

/// A value as Postgres prints it, from a Salesforce REST value of `sf_type`.
pub fn expected_text(sf_type: &str, value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(match sf_type {
            "datetime" => {
                // 2020-01-01T00:00:00.000+0000 → 2020-01-01 00:00:00 (fraction only when non-zero)
                let (date, rest) = text.split_once('T').expect("datetime");
                format!("{date} {}", trim_fraction(&rest[..12]))
            }
            "time" => trim_fraction(text.trim_end_matches('Z')),
            _ => text.clone(),
        }),
        other => Some(other.to_string()),
    }
}

/// `13:51:00.250` → `13:51:00.25`, `13:51:00.000` → `13:51:00` (as Postgres prints times).
fn trim_fraction(time: &str) -> String {
    match time.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => time.to_string(),
    }
}

/// Compares every row of `table` with the Salesforce records of `soql`, column by column (`columns`:
/// (column, field, sf type)). Returns how many records were compared.
pub async fn assert_same_rows(
    world: &World,
    table: &str,
    soql: &str,
    columns: &[(&str, &str, &str)],
) -> usize {
    let records = world.emulator.query(soql).await;
    let live: Vec<&Value> = records.iter().filter(|r| r["IsDeleted"] != true).collect();
    let select = columns
        .iter()
        .map(|(column, _, _)| format!("{column}::text"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = world
        .sql
        .query(&format!("SELECT sfid, {select} FROM {table}"), &[])
        .await
        .expect("select rows");
    assert_eq!(
        rows.len(),
        live.len(),
        "{table}: row count differs from Salesforce"
    );
    let by_sfid: std::collections::HashMap<String, &tokio_postgres::Row> = rows
        .iter()
        .map(|row| (row.get::<_, String>(0), row))
        .collect();
    for record in &live {
        let id = record["Id"].as_str().expect("Id");
        let row = by_sfid
            .get(id)
            .unwrap_or_else(|| panic!("{table}: no row for {id}"));
        for (index, (column, field, sf_type)) in columns.iter().enumerate() {
            let value =
                field.split('.').fold(
                    *record,
                    |value, key| if value.is_null() { value } else { &value[key] },
                );
            let expected = expected_text(sf_type, value);
            let actual: Option<String> = row.get(index + 1);
            assert_eq!(actual, expected, "{table} {id} column {column} ({field})");
        }
    }
    live.len()
}
