//! Subqueries and semi-joins over the in-memory org, whose [`RecordSource::children`] is the trait's scanning
//! default (the store indexes instead): the same shapes as over HTTP, and compile errors with their carets.

use chrono::DateTime;
use serde_json::{json, Value};

use super::memory_source::MemoryOrg;
use super::*;

fn org() -> MemoryOrg {
    let mut org = MemoryOrg::default();
    let contacts = ChildRelationshipMeta {
        name: "Contacts".into(),
        child_object: "Contact".into(),
        field: "AccountId".into(),
    };
    org.define(
        ObjectMeta::new(
            "Account",
            vec![
                FieldMeta::new("Id", FieldType::Id),
                FieldMeta::new("Name", FieldType::String),
            ],
        )
        .with_child_relationships(vec![contacts]),
    );
    org.define(ObjectMeta::new(
        "Contact",
        vec![
            FieldMeta::new("Id", FieldType::Id),
            FieldMeta::new("LastName", FieldType::String),
            FieldMeta::reference("AccountId", "Account", &["Account"]),
        ],
    ));
    let acme = org.insert("Account", json!({"Name": "Acme"}));
    org.insert("Account", json!({"Name": "Globex"}));
    org.insert("Contact", json!({"LastName": "Roe", "AccountId": acme}));
    org.insert("Contact", json!({"LastName": "Doe", "AccountId": acme}));
    org.insert("Contact", json!({"LastName": "Poe"}));
    org
}

fn run(org: &MemoryOrg, text: &str) -> Value {
    let query = CompiledQuery::compile(text, org).expect("compiles");
    let options = ExecuteOptions {
        include_deleted: false,
        now: DateTime::from_timestamp_millis(0).expect("epoch"),
    };
    let render = Render {
        api_version: "62.0",
        options: &options,
    };
    let result = query.execute(org, &options);
    let records = query.json_records(org, &result, &render);
    // Both renderings give the same document, children included.
    if let QueryRows::Records(rows) = &result.rows {
        for (row, value) in rows.iter().zip(&records) {
            let mut written = Vec::new();
            query.write_json_record(org, row, &render, &mut written);
            assert_eq!(
                String::from_utf8(written).expect("utf-8"),
                value.to_string()
            );
        }
    }
    Value::Array(records)
}

#[test]
fn children_nest_under_the_relationship_or_are_null() {
    let org = org();
    let records = run(
        &org,
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name",
    );
    let acme = &records[0]["Contacts"];
    assert_eq!(acme["totalSize"], 2);
    assert_eq!(acme["done"], true);
    assert_eq!(acme["records"][0]["LastName"], "Doe");
    assert_eq!(acme["records"][1]["attributes"]["type"], "Contact");
    assert_eq!(records[1]["Contacts"], Value::Null);
}

#[test]
fn semi_and_anti_joins_filter_by_the_inner_ids() {
    let org = org();
    let names = |text: &str| -> Vec<Value> {
        run(&org, text)
            .as_array()
            .expect("records")
            .iter()
            .map(|record| record["Name"].clone())
            .collect()
    };
    assert_eq!(
        names("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Roe')"),
        [json!("Acme")]
    );
    assert_eq!(
        names("SELECT Name FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)"),
        [json!("Globex")]
    );
}

#[test]
fn refusals_point_at_the_subquery() {
    let org = org();
    let error = |text: &str| CompiledQuery::compile(text, &org).expect_err(text);
    let unknown = error("SELECT Name, (SELECT LastName FROM Kids) FROM Account");
    assert_eq!(unknown.code, SoqlErrorCode::InvalidType);
    assert!(
        unknown.message.contains("ERROR at Row:1:Column:36\nDidn't understand relationship 'Kids' in FROM part of query call"),
        "{}",
        unknown.message
    );
    let or =
        error("SELECT Name FROM Account WHERE Name = 'x' OR Id IN (SELECT AccountId FROM Contact)");
    assert!(
        or.message
            .contains("Column:53\nSemi join sub-selects are not allowed with the 'OR' operator"),
        "{}",
        or.message
    );
    let condition =
        CompiledCondition::compile("Id IN (SELECT AccountId FROM Contact)", "Account", &org);
    assert!(condition.is_err(), "validation rules take no subqueries");
}
