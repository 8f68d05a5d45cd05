//! Learning a mapping's dependent fields: formulas from the describe's `calculatedFormula` (with the
//! formula fields they use in turn), roll-up summaries from the Tooling API's `CustomField.Metadata`
//! (`summaryForeignKey`, `summarizedField`, `summaryOperation`); every lookup a formula follows
//! becomes a parent to watch, every roll-up's detail object a child to watch.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sfsync_protocol::{ChildWatch, Dependencies, DependencyKind, DependentField, ParentWatch};

use super::references::{references, References};
use crate::reader::catalog::ColumnPlan;
use crate::reader::error::ReaderError;
use crate::salesforce::{SObjectDescribe, SalesforceClient};

/// Formula fields using formula fields are followed this deep (Salesforce stops cycles too).
const MAX_NESTING: usize = 10;
/// Salesforce formulas reach at most this many lookups away.
const MAX_HOPS: usize = 5;

/// What learning found, and the API calls it spent (describes of objects between lookups, Tooling
/// queries).
pub struct Learned {
    pub dependencies: Dependencies,
    pub api_calls: u64,
}

/// A fingerprint of what the dependencies are learned from: the mapped computed fields and their
/// formulas. Equal fingerprints need no learning again.
pub fn signature(describe: &SObjectDescribe, plan: &[ColumnPlan]) -> String {
    let mut text = String::new();
    for field in computed_fields(describe, plan) {
        text.push_str(&field.name);
        text.push('=');
        text.push_str(field.calculated_formula.as_deref().unwrap_or("(roll-up?)"));
        text.push('\n');
    }
    // FNV-1a: stable across builds, unlike std's hasher
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The mapped fields Salesforce computes (`calculated`), in plan order.
fn computed_fields<'d>(
    describe: &'d SObjectDescribe,
    plan: &[ColumnPlan],
) -> Vec<&'d crate::salesforce::FieldDescribe> {
    plan.iter()
        .filter(|column| !column.system && column.relationship.is_none())
        .filter_map(|column| describe.field(&column.field))
        .filter(|field| field.calculated)
        .collect()
}

/// Learns which mapped fields of `describe`'s object depend on other records or the clock.
pub async fn learn(
    salesforce: &SalesforceClient,
    describe: &SObjectDescribe,
    plan: &[ColumnPlan],
) -> Result<Learned, ReaderError> {
    let mut learner = Learner {
        salesforce,
        describes: BTreeMap::new(),
        api_calls: 0,
    };
    let mut dependencies = Dependencies {
        signature: signature(describe, plan),
        ..Dependencies::default()
    };
    let mut parents: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut children: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for field in computed_fields(describe, plan) {
        match field.calculated_formula.as_deref().map(str::trim) {
            Some(formula) if !formula.is_empty() => {
                let found = formula_references(describe, formula, &mut BTreeSet::new(), 0);
                let mut objects = BTreeSet::new();
                for path in &found.across {
                    for (object, key) in learner.hops(describe, path).await? {
                        objects.insert(object.clone());
                        parents
                            .entry((object, key))
                            .or_default()
                            .insert(field.name.clone());
                    }
                }
                if found.across.is_empty() && !found.volatile {
                    // reads only its own record: fresh whenever the record is
                    continue;
                }
                dependencies.fields.push(DependentField {
                    field: field.name.clone(),
                    kind: DependencyKind::Formula,
                    reads: found.across.into_iter().collect(),
                    objects: objects.into_iter().collect(),
                    volatile: found.volatile,
                });
            }
            _ => {
                let Some(rollup) = learner.rollup(&describe.name, &field.name).await? else {
                    continue;
                };
                children
                    .entry((rollup.child.clone(), rollup.master_field.clone()))
                    .or_default()
                    .insert(field.name.clone());
                dependencies.fields.push(DependentField {
                    field: field.name.clone(),
                    kind: DependencyKind::Rollup,
                    reads: vec![rollup.summarized.unwrap_or_else(|| rollup.child.clone())],
                    objects: vec![rollup.child],
                    volatile: false,
                });
            }
        }
    }
    dependencies.parents = parents
        .into_iter()
        .map(|((object, key), fields)| ParentWatch {
            object,
            key,
            fields: fields.into_iter().collect(),
        })
        .collect();
    dependencies.children = children
        .into_iter()
        .map(|((object, master_field), fields)| ChildWatch {
            object,
            master_field,
            fields: fields.into_iter().collect(),
        })
        .collect();
    Ok(Learned {
        dependencies,
        api_calls: learner.api_calls,
    })
}

/// The references of `formula` and of the formula fields of the same record it uses.
fn formula_references(
    describe: &SObjectDescribe,
    formula: &str,
    visited: &mut BTreeSet<String>,
    depth: usize,
) -> References {
    let mut found = references(formula);
    if depth >= MAX_NESTING {
        return found;
    }
    for local in found.local.clone() {
        let Some(field) = describe.field(&local) else {
            continue;
        };
        let Some(nested) = field.calculated_formula.as_deref() else {
            continue;
        };
        if !visited.insert(field.name.to_ascii_lowercase()) {
            continue;
        }
        let inner = formula_references(describe, nested, visited, depth + 1);
        found.across.extend(inner.across);
        found.volatile |= inner.volatile;
    }
    found
}

/// A roll-up summary field's definition.
struct Rollup {
    child: String,
    master_field: String,
    summarized: Option<String>,
}

struct Learner<'a> {
    salesforce: &'a SalesforceClient,
    /// Describes of objects between lookups, by lower-case name.
    describes: BTreeMap<String, SObjectDescribe>,
    api_calls: u64,
}

impl Learner<'_> {
    /// The parents a cross-object path reads, each with the SOQL path (from the mapped object) of the
    /// lookup holding its id: `Account.Owner.Name` → `(Account, AccountId)`, `(User, Account.OwnerId)`.
    async fn hops(
        &mut self,
        start: &SObjectDescribe,
        path: &str,
    ) -> Result<Vec<(String, String)>, ReaderError> {
        let segments: Vec<&str> = path.split('.').collect();
        let relationships = &segments[..segments.len().saturating_sub(1)];
        let mut found = Vec::new();
        let mut current = start.clone();
        let mut prefix = String::new();
        for (hop, relationship) in relationships.iter().enumerate().take(MAX_HOPS) {
            let Some(lookup) = current.fields.iter().find(|field| {
                field.field_type == "reference"
                    && field
                        .relationship_name
                        .as_deref()
                        .is_some_and(|name| name.eq_ignore_ascii_case(relationship))
            }) else {
                tracing::warn!(object = %current.name, relationship, path, "a formula follows a relationship the describe does not show; it is not watched");
                break;
            };
            let key = format!("{prefix}{}", lookup.name);
            for target in &lookup.reference_to {
                found.push((target.clone(), key.clone()));
            }
            let [target] = lookup.reference_to.as_slice() else {
                // a polymorphic lookup (Owner: User or Group): what lies beyond is not followed
                break;
            };
            prefix = format!(
                "{prefix}{}.",
                lookup.relationship_name.as_deref().unwrap_or(relationship)
            );
            if hop + 1 < relationships.len() {
                current = self.describe(target).await?;
            }
        }
        Ok(found)
    }

    async fn describe(&mut self, object: &str) -> Result<SObjectDescribe, ReaderError> {
        let key = object.to_ascii_lowercase();
        if let Some(describe) = self.describes.get(&key) {
            return Ok(describe.clone());
        }
        self.api_calls += 1;
        let describe = self.salesforce.describe_sobject(object).await?;
        self.describes.insert(key, describe.clone());
        Ok(describe)
    }

    /// The roll-up definition of a computed custom field without a formula, from the Tooling API
    /// (one row per query: Salesforce refuses `Metadata` for more). `None`: not a roll-up, or the
    /// org does not let this user read field metadata (said in the log).
    async fn rollup(&mut self, object: &str, field: &str) -> Result<Option<Rollup>, ReaderError> {
        let Some(developer_name) = field
            .strip_suffix("__c")
            .or_else(|| field.strip_suffix("__C"))
        else {
            return Ok(None);
        };
        let clean = |text: &str| -> String {
            text.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let soql = format!(
            "SELECT Id, Metadata FROM CustomField WHERE TableEnumOrId = '{}' AND DeveloperName = '{}'",
            clean(object),
            clean(developer_name)
        );
        self.api_calls += 1;
        let records = match self.salesforce.tooling_query(&soql).await {
            Ok(records) => records,
            Err(error) if error.is_transient() => return Err(error.into()),
            Err(error) => {
                tracing::warn!(object, field, error = %error, "cannot read the field's metadata from the Tooling API; if it is a roll-up summary it is not kept fresh");
                return Ok(None);
            }
        };
        Ok(records
            .first()
            .and_then(|record| record.get("Metadata"))
            .and_then(rollup_from_metadata))
    }
}

/// A roll-up from `CustomFieldMetadata` (`type` `Summary`; `summaryForeignKey`
/// `Child__c.Master__c`; `summarizedField` `Child__c.Amount__c`, absent for COUNT).
fn rollup_from_metadata(metadata: &Value) -> Option<Rollup> {
    if metadata.get("type").and_then(Value::as_str) != Some("Summary") {
        return None;
    }
    let (child, master_field) = metadata
        .get("summaryForeignKey")
        .and_then(Value::as_str)?
        .split_once('.')?;
    Some(Rollup {
        child: child.to_string(),
        master_field: master_field.to_string(),
        summarized: metadata
            .get("summarizedField")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact() -> SObjectDescribe {
        SObjectDescribe::from_json(json!({
            "name": "Contact",
            "fields": [
                {"name": "Id", "type": "id"},
                {"name": "AccountId", "type": "reference", "relationshipName": "Account", "referenceTo": ["Account"]},
                {"name": "Industry__c", "type": "string", "calculated": true, "calculatedFormula": "Account.Industry"},
                {"name": "Label__c", "type": "string", "calculated": true, "calculatedFormula": "Name & ' ' & Industry__c"},
                {"name": "Age__c", "type": "double", "calculated": true, "calculatedFormula": "TODAY() - Birthdate"},
                {"name": "Upper__c", "type": "string", "calculated": true, "calculatedFormula": "Name & '!'"},
                {"name": "Name", "type": "string"}
            ]
        }))
        .expect("describe")
    }

    #[test]
    fn formulas_read_through_the_formula_fields_they_use() {
        let describe = contact();
        let label = describe
            .field("Label__c")
            .and_then(|f| f.calculated_formula.clone())
            .expect("formula");
        let found = formula_references(&describe, &label, &mut BTreeSet::new(), 0);
        assert_eq!(
            found.across.into_iter().collect::<Vec<_>>(),
            ["Account.Industry"]
        );
        let upper = formula_references(&describe, "Name & '!'", &mut BTreeSet::new(), 0);
        assert!(upper.across.is_empty() && !upper.volatile);
    }

    #[test]
    fn a_rollup_comes_from_summary_metadata_only() {
        let rollup = rollup_from_metadata(
            &json!({"type": "Summary", "summaryForeignKey": "Invoice_Line__c.Invoice__c",
            "summarizedField": "Invoice_Line__c.Amount__c", "summaryOperation": "sum"}),
        )
        .expect("a roll-up");
        assert_eq!(
            (rollup.child.as_str(), rollup.master_field.as_str()),
            ("Invoice_Line__c", "Invoice__c")
        );
        assert_eq!(
            rollup.summarized.as_deref(),
            Some("Invoice_Line__c.Amount__c")
        );
        let count = rollup_from_metadata(
            &json!({"type": "Summary", "summaryForeignKey": "Line__c.Invoice__c",
            "summaryOperation": "count"}),
        )
        .expect("a roll-up");
        assert_eq!(count.summarized, None);
        assert!(rollup_from_metadata(&json!({"type": "Number"})).is_none());
    }

    #[test]
    fn the_signature_follows_the_formulas() {
        let plan = |fields: &[&str]| -> Vec<ColumnPlan> {
            fields
                .iter()
                .map(|field| {
                    serde_json::from_value(json!({"column": field.to_ascii_lowercase(), "field": field, "sf_type": "string"}))
                        .expect("plan")
                })
                .collect()
        };
        let describe = contact();
        let before = signature(&describe, &plan(&["Name", "Industry__c"]));
        assert_eq!(
            before,
            signature(&describe, &plan(&["Name", "Industry__c"]))
        );
        assert_ne!(before, signature(&describe, &plan(&["Name", "Age__c"])));
        let mut changed = describe.raw.clone();
        changed["fields"][2]["calculatedFormula"] = json!("Account.Name");
        let changed = SObjectDescribe::from_json(changed).expect("describe");
        assert_ne!(before, signature(&changed, &plan(&["Name", "Industry__c"])));
    }
}
