//! A mapping's **dependent fields**: mapped fields whose values Salesforce computes from other
//! records (cross-object formulas, roll-up summaries) or from the clock (`TODAY()`, `NOW()`), and
//! which records to watch to keep them fresh. The reader learns them from the describe and the
//! Tooling API and stores them in `sfsync.mapping.dependencies` (`sfsync._set_dependencies`);
//! `sfsync.status()` lists the fields.
//!
//! Such a value changes without its own record's `SystemModstamp` moving, so neither polling nor
//! change events bring it: the reader re-reads it when a watched record changes.

use serde::{Deserialize, Serialize};

/// What a mapping's dependent fields read and what to watch for them.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// A fingerprint of what this was learned from (the mapped computed fields and their formulas):
    /// the reader learns again only when it changes.
    #[serde(default)]
    pub signature: String,
    /// The mapped fields that depend on other records or on the clock, in plan order.
    #[serde(default)]
    pub fields: Vec<DependentField>,
    /// Parent objects: when one of their records changes, the mapped records pointing at it are
    /// re-read.
    #[serde(default)]
    pub parents: Vec<ParentWatch>,
    /// Detail objects of roll-ups: when one of their records changes or is deleted, its master is
    /// re-read.
    #[serde(default)]
    pub children: Vec<ChildWatch>,
}

impl Dependencies {
    /// Whether any field reads the clock (and is re-read on the `formula_refresh_seconds` schedule).
    pub fn has_volatile(&self) -> bool {
        self.fields.iter().any(|field| field.volatile)
    }

    /// The API names of the dependent fields.
    pub fn field_names(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|field| field.field.clone())
            .collect()
    }
}

/// How Salesforce computes a dependent field.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// A formula field (`calculatedFormula` in the describe).
    Formula,
    /// A roll-up summary field (Tooling API `CustomField.Metadata.summaryOperation`).
    Rollup,
}

/// One dependent mapped field.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DependentField {
    /// The field's API name on the mapped object.
    pub field: String,
    pub kind: DependencyKind,
    /// What it reads on other records: `Account.Industry`, `Account.Owner.Name` for a formula;
    /// `Invoice_Line__c.Amount__c` (or just `Invoice_Line__c` for a COUNT) for a roll-up.
    #[serde(default)]
    pub reads: Vec<String>,
    /// The objects those are fields of.
    #[serde(default)]
    pub objects: Vec<String>,
    /// Reads `TODAY()` or `NOW()`: changes with the clock alone.
    #[serde(default)]
    pub volatile: bool,
}

/// A parent object some formulas read through lookups.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ParentWatch {
    /// The parent object (`Account`; `User` for `Account.Owner.Name`).
    pub object: String,
    /// The SOQL path, from the mapped object, of the lookup holding the parent's id: `AccountId`,
    /// or `Account.OwnerId` two lookups away.
    pub key: String,
    /// The dependent fields that read it.
    pub fields: Vec<String>,
}

/// A detail object whose records roll up into the mapped (master) object.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChildWatch {
    /// The detail object (`Invoice_Line__c`).
    pub object: String,
    /// Its master-detail field naming the master record (`Invoice__c`).
    pub master_field: String,
    /// The roll-up fields that summarize it.
    pub fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_the_catalog_stores_it() {
        let text = r#"{"fields":[{"field":"Account_Industry__c","kind":"formula","reads":["Account.Industry"],
            "objects":["Account"],"volatile":false},{"field":"Age__c","kind":"formula","volatile":true}],
            "parents":[{"object":"Account","key":"AccountId","fields":["Account_Industry__c"]}],
            "children":[]}"#;
        let parsed: Dependencies = serde_json::from_str(text).expect("parses");
        assert!(parsed.has_volatile());
        assert_eq!(parsed.field_names(), ["Account_Industry__c", "Age__c"]);
        assert_eq!(parsed.fields[0].kind, DependencyKind::Formula);
        let again: Dependencies =
            serde_json::from_str(&serde_json::to_string(&parsed).expect("serializes"))
                .expect("parses");
        assert_eq!(again, parsed);
    }
}
