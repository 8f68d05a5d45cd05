//! The SOQL the reader sends: full reads, incremental reads on `SystemModstamp`, the "left the
//! filter" check and reads by id. Field lists come from the column plan, in plan order, without
//! fields that disappeared from Salesforce.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::catalog::ColumnPlan;
use crate::salesforce::datetime::format_soql;

/// The fields one mapping reads, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub object: String,
    /// `(column, field)` pairs that are read.
    pub columns: Vec<(String, String)>,
    pub filter: Option<String>,
}

impl Selection {
    /// The plan's columns minus `skipped` fields (compared case-insensitively).
    pub fn new(
        object: &str,
        plan: &[ColumnPlan],
        skipped: &BTreeSet<String>,
        filter: Option<&str>,
    ) -> Self {
        Self::from_pairs(
            object,
            plan.iter()
                .map(|column| (column.column.clone(), column.field.clone())),
            skipped,
            filter,
        )
    }

    /// Like [`new`](Self::new), from the `columns`/`fields` of a staging table.
    pub fn from_pairs(
        object: &str,
        pairs: impl IntoIterator<Item = (String, String)>,
        skipped: &BTreeSet<String>,
        filter: Option<&str>,
    ) -> Self {
        let columns = pairs
            .into_iter()
            .filter(|(_, field)| !skipped.contains(&field.to_ascii_lowercase()))
            .collect();
        Self {
            object: object.to_string(),
            columns,
            filter: filter.map(str::to_string),
        }
    }

    pub fn field_list(&self) -> String {
        self.columns
            .iter()
            .map(|(_, field)| field.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `SELECT <fields> FROM X [WHERE (filter)]`: initial loads and reloads.
    pub fn everything(&self) -> String {
        let mut soql = format!("SELECT {} FROM {}", self.field_list(), self.object);
        if let Some(filter) = &self.filter {
            soql.push_str(&format!(" WHERE ({filter})"));
        }
        soql
    }

    /// Records changed since `since`, oldest first: `queryAll` also returns deleted ones.
    pub fn changed_since(&self, since: DateTime<Utc>) -> String {
        let mut soql = format!(
            "SELECT {} FROM {} WHERE SystemModstamp >= {}",
            self.field_list(),
            self.object,
            format_soql(&since)
        );
        if let Some(filter) = &self.filter {
            soql.push_str(&format!(" AND ({filter})"));
        }
        soql.push_str(" ORDER BY SystemModstamp, Id");
        soql
    }

    /// Ids of records changed since `since` that do not match the filter (they left it); `None`
    /// without a filter.
    pub fn left_filter_since(&self, since: DateTime<Utc>) -> Option<String> {
        let filter = self.filter.as_ref()?;
        Some(format!(
            "SELECT Id FROM {} WHERE SystemModstamp >= {} AND (NOT ({filter})) ORDER BY SystemModstamp, Id",
            self.object,
            format_soql(&since)
        ))
    }

    /// The records `ids` (that match the filter).
    pub fn by_ids(&self, ids: &[String]) -> String {
        let mut soql = format!(
            "SELECT {} FROM {} WHERE Id IN ({})",
            self.field_list(),
            self.object,
            quoted_ids(ids)
        );
        if let Some(filter) = &self.filter {
            soql.push_str(&format!(" AND ({filter})"));
        }
        soql
    }

    /// Which of `ids` still exist (deleted ones included, through `queryAll`).
    pub fn existing_ids(&self, ids: &[String]) -> String {
        format!(
            "SELECT Id FROM {} WHERE Id IN ({})",
            self.object,
            quoted_ids(ids)
        )
    }
}

/// Ids come from Salesforce, but quote defensively anyway: only id characters pass.
pub fn quoted_ids(ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            let clean: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("'{clean}'")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn selection(filter: Option<&str>, skipped: &[&str]) -> Selection {
        let pairs = [
            ("sfid", "Id"),
            ("isdeleted", "IsDeleted"),
            ("systemmodstamp", "SystemModstamp"),
            ("name", "Name"),
            ("gone__c", "Gone__c"),
            ("account__ext_id__c", "Account.Ext_Id__c"),
        ]
        .map(|(column, field)| (column.to_string(), field.to_string()));
        let skipped = skipped
            .iter()
            .map(|field| field.to_ascii_lowercase())
            .collect();
        Selection::from_pairs("Contact", pairs, &skipped, filter)
    }

    #[test]
    fn incremental_query_orders_by_modstamp_and_id() {
        let since = Utc
            .with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            selection(Some("LeadSource = 'Web'"), &["gone__c"]).changed_since(since),
            "SELECT Id, IsDeleted, SystemModstamp, Name, Account.Ext_Id__c FROM Contact \
             WHERE SystemModstamp >= 2024-05-01T12:00:00Z AND (LeadSource = 'Web') ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            selection(Some("LeadSource = 'Web' OR Name = 'x'"), &[]).left_filter_since(since),
            Some(
                "SELECT Id FROM Contact WHERE SystemModstamp >= 2024-05-01T12:00:00Z \
                 AND (NOT (LeadSource = 'Web' OR Name = 'x')) ORDER BY SystemModstamp, Id"
                    .to_string()
            )
        );
        assert_eq!(selection(None, &[]).left_filter_since(since), None);
    }

    #[test]
    fn reads_by_id_keep_the_filter_and_quote_ids() {
        let soql = selection(Some("Name != null"), &["Gone__c"])
            .by_ids(&["003000000000001AAA".into(), "003' OR Id != '".into()]);
        assert_eq!(
            soql,
            "SELECT Id, IsDeleted, SystemModstamp, Name, Account.Ext_Id__c FROM Contact \
             WHERE Id IN ('003000000000001AAA', '003ORId') AND (Name != null)"
        );
        assert_eq!(
            selection(None, &[]).everything(),
            "SELECT Id, IsDeleted, SystemModstamp, Name, Gone__c, Account.Ext_Id__c FROM Contact"
        );
    }
}
