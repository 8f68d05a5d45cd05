//! Describing a mapped object, plus the parent objects its relationship external-id fields point at
//! (`Account.Ext_Id__c` needs Account's describe to type the column), as `_install_mapping` wants them.

use serde_json::{Map, Value};

use super::error::ReaderError;
use crate::salesforce::{SObjectDescribe, SalesforceClient};

/// An object's describe and the `{"Parent": <describe>}` map for its relationship fields.
pub struct Described {
    pub object: SObjectDescribe,
    pub parents: Option<Value>,
}

/// Describes `object`; with `fields` naming `Relationship.Field`, also every parent they reach.
pub async fn describe_with_parents(
    salesforce: &SalesforceClient,
    object: &str,
    fields: &[String],
) -> Result<Described, ReaderError> {
    let describe = salesforce.describe_sobject(object).await?;
    let mut parents = Map::new();
    for target in parent_objects(&describe, fields) {
        if parents.contains_key(&target) {
            continue;
        }
        let parent = salesforce.describe_sobject(&target).await?;
        parents.insert(target, parent.raw);
    }
    Ok(Described {
        object: describe,
        parents: (!parents.is_empty()).then_some(Value::Object(parents)),
    })
}

/// The objects that relationship fields (`Rel.Field`) of `fields` point at, without duplicates.
fn parent_objects(describe: &SObjectDescribe, fields: &[String]) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    for field in fields {
        let Some((relationship, _)) = field.split_once('.') else {
            continue;
        };
        let lookup = describe.fields.iter().find(|candidate| {
            candidate.field_type == "reference"
                && candidate
                    .relationship_name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(relationship))
        });
        // An unknown relationship is reported by _install_mapping, which names it.
        for target in lookup
            .map(|lookup| lookup.reference_to.clone())
            .unwrap_or_default()
        {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parents_come_from_the_relationship_names() {
        let describe = SObjectDescribe::from_json(json!({
            "name": "Contact",
            "fields": [
                {"name": "AccountId", "type": "reference", "relationshipName": "Account", "referenceTo": ["Account"]},
                {"name": "OwnerId", "type": "reference", "relationshipName": "Owner", "referenceTo": ["Group", "User"]},
                {"name": "Name", "type": "string"}
            ]
        }))
        .expect("describe");
        let fields = [
            "Name",
            "account.Ext_Id__c",
            "Account.Other__c",
            "Owner.Key__c",
            "Nope.X__c",
        ]
        .map(String::from);
        assert_eq!(
            parent_objects(&describe, &fields),
            ["Account", "Group", "User"]
        );
    }
}
