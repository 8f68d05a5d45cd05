//! Formula fields against a real org store: definition checks (parse errors with positions, unknown fields and
//! relationships refused with nothing changed), values across relationships, type conversion, non-writability.

use serde_json::{json, Map, Value as Json};

use super::*;
use crate::store::{ApiKind, FieldSpec, ObjectSpec, WriteContext};

fn context(org: &Org) -> WriteContext {
    WriteContext {
        user: org.users.admin,
        origin_client: None,
        api: Some(ApiKind::Rest),
        api_version: Some("62.0".into()),
    }
}

fn body(value: Json) -> Map<String, Json> {
    value.as_object().expect("object").clone()
}

fn create(org: &mut Org, object: &str, value: Json) -> RecordId {
    let index = org.object_index(object).expect("object");
    let mut transaction = org.transaction(context(org));
    let id = transaction.create(index, &body(value)).expect("creates");
    transaction.commit();
    id
}

fn formula_field(name: &str, field_type: &str, formula: &str) -> FieldSpec {
    serde_json::from_value(json!({
        "name": name, "type": field_type, "calculated": true, "calculatedFormula": formula, "scale": 2
    }))
    .expect("spec")
}

fn read(org: &Org, object: &str, id: RecordId, field: &str) -> Value {
    let index = org.object_index(object).expect("object");
    let store = org.object_at(index);
    let position = store.schema.field_index(field).expect("field");
    field_value(org, index, store.get(&id).expect("record"), position).into_owned()
}

#[test]
fn values_follow_relationships_and_convert_to_the_field_type() {
    let mut org = Org::new("admin@example.com").expect("org");
    for (name, field_type, formula) in [
        (
            "Label__c",
            "string",
            "Account.Industry & \" / \" & TEXT(Account.NumberOfEmployees)",
        ),
        ("Owner_Name__c", "string", "Account.Owner.Name"),
        ("Big__c", "boolean", "Account.NumberOfEmployees > 100"),
        ("Half__c", "currency", "Account.NumberOfEmployees / 3"),
        ("Blank__c", "double", "Account.AnnualRevenue * 2"),
        ("Today__c", "date", "TODAY()"),
        (
            "Mixed__c",
            "string",
            "IF(ISBLANK(Account.Industry), 'none', CASE(Account.Industry, 'Energy', 'E', 'other'))",
        ),
    ] {
        org.add_field("Contact", formula_field(name, field_type, formula))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let account = create(
        &mut org,
        "Account",
        json!({"Name": "Acme", "Industry": "Energy", "NumberOfEmployees": 250}),
    );
    let contact = create(
        &mut org,
        "Contact",
        json!({"LastName": "Doe", "AccountId": account.as_str()}),
    );
    assert_eq!(
        read(&org, "Contact", contact, "Label__c"),
        Value::text("Energy / 250")
    );
    assert_eq!(
        read(&org, "Contact", contact, "Owner_Name__c"),
        Value::text("Admin Emulator")
    );
    assert_eq!(read(&org, "Contact", contact, "Big__c"), Value::Bool(true));
    assert_eq!(
        read(&org, "Contact", contact, "Half__c"),
        Value::Decimal("83.33".parse().unwrap())
    );
    assert_eq!(read(&org, "Contact", contact, "Blank__c"), Value::Null);
    assert!(matches!(
        read(&org, "Contact", contact, "Today__c"),
        Value::Date(_)
    ));
    assert_eq!(read(&org, "Contact", contact, "Mixed__c"), Value::text("E"));
    // Nothing is stored: the record's own slot stays null.
    let index = org.object_index("Contact").unwrap();
    let position = org.object_at(index).schema.field_index("Label__c").unwrap();
    assert!(org
        .object_at(index)
        .get(&contact)
        .unwrap()
        .get(position)
        .is_null());

    let orphan = create(&mut org, "Contact", json!({"LastName": "Solo"}));
    assert_eq!(
        read(&org, "Contact", orphan, "Label__c"),
        Value::text(" / ")
    );
    assert_eq!(read(&org, "Contact", orphan, "Big__c"), Value::Bool(false));
    assert_eq!(
        read(&org, "Contact", orphan, "Mixed__c"),
        Value::text("none")
    );

    let field = org.object_at(index).schema.field("Label__c").unwrap();
    assert!(!field.createable && !field.updateable && field.calculated);
    let mut transaction = org.transaction(context(&org));
    let error = transaction
        .update(
            Some(index),
            contact.as_str(),
            &body(json!({"Label__c": "x"})),
        )
        .unwrap_err();
    assert_eq!(error.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
}

#[test]
fn formulas_may_use_formula_fields_and_self_lookups() {
    let mut org = Org::new("admin@example.com").expect("org");
    let spec: ObjectSpec = serde_json::from_value(json!({
        "name": "Node__c",
        "fields": [
            {"name": "Parent__c", "type": "reference", "referenceTo": ["Node__c"]},
            {"name": "Weight__c", "type": "double", "scale": 1},
            {"name": "Double__c", "type": "double", "scale": 1, "calculated": true, "calculatedFormula": "Weight__c * 2"},
            {"name": "Path__c", "type": "string", "calculated": true,
             "calculatedFormula": "Parent__r.Parent__r.Name & '>' & Parent__r.Name & '>' & Name & ' ' & TEXT(Parent__r.Double__c)"}
        ]
    }))
    .expect("spec");
    org.define_object(spec).expect("defines");
    let root = create(&mut org, "Node__c", json!({"Name": "root", "Weight__c": 1}));
    let mid = create(
        &mut org,
        "Node__c",
        json!({"Name": "mid", "Parent__c": root.as_str(), "Weight__c": 2.5}),
    );
    let leaf = create(
        &mut org,
        "Node__c",
        json!({"Name": "leaf", "Parent__c": mid.as_str()}),
    );
    assert_eq!(
        read(&org, "Node__c", mid, "Double__c"),
        Value::Decimal("5.0".parse().unwrap())
    );
    assert_eq!(
        read(&org, "Node__c", leaf, "Path__c"),
        Value::text("root>mid>leaf 5")
    );
    assert_eq!(read(&org, "Node__c", leaf, "Double__c"), Value::Null);
}

fn refused(org: &mut Org, spec: FieldSpec) -> String {
    let before = org.object("Contact").unwrap().schema.fields.len();
    let error = org
        .add_field("Contact", spec)
        .expect_err("refused")
        .to_string();
    assert_eq!(org.object("Contact").unwrap().schema.fields.len(), before);
    error
}

#[test]
fn bad_formulas_are_refused_naming_the_field_and_the_cause() {
    let mut org = Org::new("admin@example.com").expect("org");
    let error = refused(
        &mut org,
        formula_field("F__c", "string", "Account.Industry & "),
    );
    assert_eq!(
        error,
        "formula field 'F__c': at position 20: expected a value, found the end of the formula"
    );
    let error = refused(&mut org, formula_field("F__c", "string", "Account.Nope__c"));
    assert!(
        error.contains("'F__c'")
            && error.contains("position 1")
            && error.contains("unknown field 'Nope__c' on Account"),
        "{error}"
    );
    let error = refused(
        &mut org,
        formula_field("F__c", "string", "1 & AccountId.Name"),
    );
    assert!(
        error.contains("position 5")
            && error.contains("unknown relationship 'AccountId' on Contact"),
        "{error}"
    );
    let error = refused(&mut org, formula_field("F__c", "string", "Nope__c"));
    assert!(
        error.contains("unknown field 'Nope__c' on Contact"),
        "{error}"
    );
    let error = refused(&mut org, formula_field("F__c", "string", "F__c & 'x'"));
    assert!(error.contains("refers to its own field"), "{error}");
    let error = refused(&mut org, formula_field("F__c", "string", "BOGUS(1)"));
    assert!(error.contains("unknown function BOGUS"), "{error}");
    let error = refused(
        &mut org,
        formula_field(
            "F__c",
            "string",
            "Account.Owner.CreatedBy.CreatedBy.CreatedBy.CreatedBy.Name",
        ),
    );
    assert!(error.contains("at most 5"), "{error}");
    assert!(org
        .add_field(
            "Contact",
            formula_field(
                "F__c",
                "string",
                "Account.Owner.CreatedBy.CreatedBy.CreatedBy.Name"
            )
        )
        .is_ok());

    let before = org.objects().count();
    let spec: ObjectSpec = serde_json::from_value(json!({
        "name": "Bad__c",
        "fields": [{"name": "F__c", "type": "string", "calculated": true, "calculatedFormula": "IF(1, 2)"}]
    }))
    .expect("spec");
    let error = org.define_object(spec).expect_err("refused").to_string();
    assert!(
        error.contains("'F__c'") && error.contains("IF takes 3 arguments"),
        "{error}"
    );
    assert_eq!(org.objects().count(), before);
}

#[test]
fn formula_fields_survive_a_state_file_round_trip() {
    let mut org = Org::new("admin@example.com").expect("org");
    org.add_field(
        "Contact",
        formula_field("Label__c", "string", "Account.Name & '!'"),
    )
    .expect("adds");
    let account = create(&mut org, "Account", json!({"Name": "Acme"}));
    let contact = create(
        &mut org,
        "Contact",
        json!({"LastName": "Doe", "AccountId": account.as_str()}),
    );
    let path =
        std::env::temp_dir().join(format!("sfsync-formula-state-{}.json", std::process::id()));
    crate::store::persist::save(&org, &path).expect("saves");
    let loaded = crate::store::persist::load(&path, org.org_id);
    let _ = std::fs::remove_file(&path);
    let loaded = loaded.expect("loads");
    assert_eq!(
        read(&loaded, "Contact", contact, "Label__c"),
        Value::text("Acme!")
    );
    let field = loaded
        .object("Contact")
        .unwrap()
        .schema
        .field("Label__c")
        .unwrap();
    assert!(!field.createable && !field.updateable);
}
