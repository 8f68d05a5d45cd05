//! Validation rule conditions, written as SOQL boolean expressions (`Amount__c < 0 AND ISBLANK(Reason__c)`) and
//! run by the SOQL evaluator. Rules are compiled once per schema version (see [`crate::query::catalog`]); this
//! module checks a rule when an object is defined and finds the first rule a record breaks.

use chrono::{DateTime, Utc};

use super::object_store::Record;
use super::schema::{ObjectSchema, ValidationRuleSpec};
use super::Org;
use crate::query::source::OrgSource;
use crate::soql::SoqlError;

/// Why a condition cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error("{}: {}", .0.code, .0.message.trim_start())]
    Soql(#[from] SoqlError),
}

/// Compiles a condition when a rule is defined, so a bad rule is refused up front. `schema` may be an object
/// that is not in `org` yet.
pub fn check_condition(condition: &str, schema: &ObjectSchema, org: &Org) -> Result<(), RuleError> {
    org.soql.check_condition(condition, schema)?;
    Ok(())
}

/// The first active rule of the object at `object` whose condition holds for `record` (which may not be
/// stored yet), evaluated at the org's current time. Rules that no longer compile never match.
pub fn first_broken_rule<'o>(
    org: &'o Org,
    object: usize,
    record: &Record,
) -> Option<&'o ValidationRuleSpec> {
    let rules = org.soql.rules_at(object);
    if rules.is_empty() {
        return None;
    }
    let now = DateTime::<Utc>::from_timestamp_millis(org.clock.now_ms()).unwrap_or_default();
    let source = OrgSource::new(org);
    let schema = &org.object_at(object).schema;
    rules
        .iter()
        .filter(|rule| {
            rule.condition
                .as_ref()
                .is_some_and(|condition| condition.evaluate(&source, record, now))
        })
        .find_map(|rule| schema.validation_rules.get(rule.rule))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{ObjectSpec, Value};

    fn org_with_rules(conditions: &[&str]) -> (Org, usize) {
        let mut org = Org::new("admin@example.com").expect("org");
        let rules: Vec<_> = conditions
            .iter()
            .enumerate()
            .map(|(n, condition)| json!({"name": format!("R{n}"), "errorMessage": format!("rule {n}"), "condition": condition}))
            .collect();
        let spec: ObjectSpec = serde_json::from_value(json!({
            "name": "Deal__c",
            "fields": [
                {"name": "Amount__c", "type": "currency", "precision": 16, "scale": 2},
                {"name": "Stage__c", "type": "picklist", "picklistValues": [{"value": "Open"}, {"value": "Won"}]},
                {"name": "Reason__c", "type": "string"},
                {"name": "Account__c", "type": "reference", "referenceTo": ["Account"]}
            ],
            "validationRules": rules
        }))
        .expect("spec");
        let index = org.define_object(spec).expect("defines");
        (org, index)
    }

    fn record(org: &Org, object: usize, values: &[(&str, Value)]) -> Record {
        let schema = &org.object_at(object).schema;
        let mut record = Record {
            id: crate::store::RecordId::generate(&schema.key_prefix, 0),
            values: vec![Value::Null; schema.fields.len()],
            deleted_at: None,
            listing: Default::default(),
        };
        for (name, value) in values {
            let index = schema.field_index(name).expect("field exists");
            record.set(index, value.clone());
        }
        record
    }

    fn broken(org: &Org, object: usize, values: &[(&str, Value)]) -> Option<String> {
        let record = record(org, object, values);
        first_broken_rule(org, object, &record).map(|rule| rule.name.clone())
    }

    #[test]
    fn the_three_original_forms_still_work() {
        let (org, deal) =
            org_with_rules(&["ISBLANK(Reason__c)", "Stage__c != 'Open'", "Amount__c = -5"]);
        let reason = ("Reason__c", Value::text("because"));
        let open = ("Stage__c", Value::text("open"));
        assert_eq!(
            broken(&org, deal, std::slice::from_ref(&open)),
            Some("R0".into())
        );
        assert_eq!(
            broken(
                &org,
                deal,
                &[reason.clone(), ("Stage__c", Value::text("Won"))]
            ),
            Some("R1".into())
        );
        let minus_five = ("Amount__c", Value::Decimal((-5).into()));
        assert_eq!(
            broken(&org, deal, &[reason.clone(), open.clone(), minus_five]),
            Some("R2".into())
        );
        assert_eq!(broken(&org, deal, &[reason, open]), None);
    }

    #[test]
    fn and_or_comparisons_and_isblank() {
        let (org, deal) = org_with_rules(&[
            "(Amount__c < 0 OR Amount__c >= 1000000) AND (ISBLANK(Reason__c) OR Stage__c = 'Won')",
        ]);
        let amount = |n: i64| ("Amount__c", Value::Decimal(n.into()));
        assert_eq!(broken(&org, deal, &[amount(-1)]), Some("R0".into()));
        assert_eq!(broken(&org, deal, &[amount(5)]), None);
        assert_eq!(
            broken(
                &org,
                deal,
                &[amount(2_000_000), ("Reason__c", Value::text("x"))]
            ),
            None
        );
        assert_eq!(
            broken(
                &org,
                deal,
                &[
                    amount(2_000_000),
                    ("Reason__c", Value::text("x")),
                    ("Stage__c", Value::text("Won"))
                ]
            ),
            Some("R0".into())
        );
        // A null amount is neither < 0 nor >= 1,000,000.
        assert_eq!(broken(&org, deal, &[]), None);
    }

    #[test]
    fn conditions_follow_lookups() {
        let (mut org, deal) = org_with_rules(&["Account__r.Name = 'Blocked'"]);
        let account = org.object_index("Account").expect("Account");
        let mut transaction = org.transaction(crate::store::WriteContext {
            user: org.users.admin,
            origin_client: None,
            api: None,
            api_version: None,
        });
        let body = json!({"Name": "Blocked"});
        let id = transaction
            .create(account, body.as_object().expect("object"))
            .expect("creates");
        transaction.commit();
        let link = ("Account__c", Value::text(id.as_str()));
        assert_eq!(broken(&org, deal, &[link]), Some("R0".into()));
    }

    #[test]
    fn bad_conditions_are_refused_when_defined() {
        let mut org = Org::new("admin@example.com").expect("org");
        let spec: ObjectSpec = serde_json::from_value(json!({
            "name": "Bad__c",
            "fields": [{"name": "Amount__c", "type": "double"}],
            "validationRules": [{"name": "R", "errorMessage": "m", "condition": "Nope__c = 1"}]
        }))
        .expect("spec");
        let error = org.define_object(spec).expect_err("refused");
        assert!(error.to_string().contains("Nope__c"), "{error}");
    }
}
