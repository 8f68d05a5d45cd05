//! The writer's view of the mappings: object, key prefix, upsert field and column plan of each
//! mapping, and the order in which objects are written (objects referenced by others first).

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Client;

use crate::db::DbError;

/// One column of a mapping's column plan (`sfsync.mapping.columns`, see `docs/protocol.md`): the
/// contract's type, under the name the writer has always used.
pub use sfsync_protocol::ColumnPlan as PlannedColumn;

/// Everything the writer needs to know about one mapping.
#[derive(Debug, Clone)]
pub struct WriteMapping {
    pub id: i64,
    pub schema: String,
    pub object: String,
    pub table: String,
    pub upsert_field: Option<String>,
    /// The column holding the upsert field's value.
    pub upsert_column: Option<String>,
    pub columns: Vec<PlannedColumn>,
    /// The object's `keyPrefix` from its stored describe: the first three characters of every id
    /// of that object (none for the few objects without one).
    pub key_prefix: Option<String>,
    by_column: HashMap<String, usize>,
    /// Position in the write order: objects referenced by other mapped objects come first.
    pub rank: usize,
}

impl WriteMapping {
    pub fn new(
        id: i64,
        schema: String,
        object: String,
        table: String,
        upsert_field: Option<String>,
        columns: Vec<PlannedColumn>,
    ) -> Self {
        let by_column = columns
            .iter()
            .enumerate()
            .map(|(index, column)| (column.column.clone(), index))
            .collect();
        let upsert_column = upsert_field.as_ref().and_then(|field| {
            columns
                .iter()
                .find(|column| {
                    column.is_own_external_id() && column.field.eq_ignore_ascii_case(field)
                })
                .map(|column| column.column.clone())
        });
        Self {
            id,
            schema,
            object,
            table,
            upsert_field,
            upsert_column,
            columns,
            key_prefix: None,
            by_column,
            rank: 0,
        }
    }

    /// Whether `sfid` can be an id of this mapping's object: its key prefix is the object's. An
    /// object whose describe names no prefix accepts any id (Salesforce decides).
    pub fn owns_id(&self, sfid: &str) -> bool {
        match &self.key_prefix {
            Some(prefix) => sfid.get(..prefix.len()) == Some(prefix.as_str()),
            None => true,
        }
    }

    /// The upsert field's API name as the column plan spells it (for URLs and CSV headers).
    pub fn upsert_field_name(&self) -> Option<&str> {
        let column = self.upsert_column.as_deref()?;
        self.column(column).map(|column| column.field.as_str())
    }

    pub fn column(&self, name: &str) -> Option<&PlannedColumn> {
        self.by_column.get(name).map(|&index| &self.columns[index])
    }

    /// The column holding `field` (an own field, not a relationship), if mapped.
    pub fn column_for_field(&self, field: &str) -> Option<&PlannedColumn> {
        self.columns.iter().find(|column| {
            column.relationship.is_none() && column.field.eq_ignore_ascii_case(field)
        })
    }

    /// Objects this mapping points at (lookups and relationship columns), lower-cased.
    fn referenced_objects(&self) -> impl Iterator<Item = String> + '_ {
        self.columns
            .iter()
            .filter(|column| !column.system && (column.insertable || column.updatable))
            .flat_map(|column| {
                column
                    .reference_to
                    .iter()
                    .map(|name| name.to_ascii_lowercase())
            })
    }
}

/// The mappings by id, with their write order.
#[derive(Debug, Clone, Default)]
pub struct MappingCatalog {
    by_id: HashMap<i64, Arc<WriteMapping>>,
}

impl MappingCatalog {
    pub fn from_mappings(mappings: Vec<WriteMapping>) -> Self {
        let ranks = write_ranks(&mappings);
        let by_id = mappings
            .into_iter()
            .map(|mut mapping| {
                mapping.rank = ranks.get(&mapping.id).copied().unwrap_or(0);
                (mapping.id, Arc::new(mapping))
            })
            .collect();
        Self { by_id }
    }

    /// Reads every mapping of `schema` that has a column plan.
    pub async fn load(client: &Client, schema: &str) -> Result<Self, DbError> {
        let rows = client
            .query(
                "SELECT id, schema_name, object_name, table_name, upsert_field, columns::text,
                        nullif(describe->>'keyPrefix', '')
                   FROM sfsync.mapping WHERE columns IS NOT NULL AND schema_name = $1",
                &[&schema],
            )
            .await
            .map_err(|source| DbError::Query {
                what: "reading the mappings (sfsync.mapping)",
                source,
            })?;
        let mut mappings = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.get(5);
            let columns: Vec<PlannedColumn> =
                serde_json::from_str(&text).map_err(|source| DbError::Decode {
                    what: "a mapping's column plan",
                    source,
                })?;
            let mut mapping = WriteMapping::new(
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                columns,
            );
            mapping.key_prefix = row.get(6);
            mappings.push(mapping);
        }
        Ok(Self::from_mappings(mappings))
    }

    pub fn get(&self, id: i64) -> Option<&Arc<WriteMapping>> {
        self.by_id.get(&id)
    }

    pub fn mappings(&self) -> impl Iterator<Item = &Arc<WriteMapping>> {
        self.by_id.values()
    }

    /// The mapping of `object` in `schema` (case-insensitive), if mapped.
    pub fn by_object(&self, schema: &str, object: &str) -> Option<&Arc<WriteMapping>> {
        self.by_id
            .values()
            .find(|mapping| mapping.schema == schema && mapping.object.eq_ignore_ascii_case(object))
    }
}

/// Rank 0 for objects that reference no other mapped object, then one more than the highest rank
/// they reference; self-references and cycles are ignored (a cycle cannot be ordered).
fn write_ranks(mappings: &[WriteMapping]) -> HashMap<i64, usize> {
    let mut ranks: HashMap<i64, usize> = mappings.iter().map(|mapping| (mapping.id, 0)).collect();
    let by_object: HashMap<(String, String), i64> = mappings
        .iter()
        .map(|mapping| {
            (
                (mapping.schema.clone(), mapping.object.to_ascii_lowercase()),
                mapping.id,
            )
        })
        .collect();
    // Longest-path relaxation; at most one pass per mapping, so a cycle stops growing.
    for _ in 0..mappings.len() {
        let mut changed = false;
        for mapping in mappings {
            let own = mapping.object.to_ascii_lowercase();
            let needed = mapping
                .referenced_objects()
                .filter(|object| *object != own)
                .filter_map(|object| by_object.get(&(mapping.schema.clone(), object)))
                .map(|parent| ranks[parent] + 1)
                .max()
                .unwrap_or(0);
            if needed > ranks[&mapping.id] && needed < mappings.len() {
                ranks.insert(mapping.id, needed);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    ranks
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn column(value: serde_json::Value) -> PlannedColumn {
        serde_json::from_value(value).expect("a column plan entry")
    }

    pub(crate) fn account() -> WriteMapping {
        let mut mapping = WriteMapping::new(
            1,
            "salesforce".into(),
            "Account".into(),
            "account".into(),
            Some("Ext_Id__c".into()),
            vec![
                column(
                    json!({"column": "sfid", "field": "Id", "path": ["Id"], "sf_type": "id", "system": true}),
                ),
                column(
                    json!({"column": "name", "field": "Name", "path": ["Name"], "sf_type": "string", "insertable": true, "updatable": true}),
                ),
                column(
                    json!({"column": "annualrevenue", "field": "AnnualRevenue", "path": ["AnnualRevenue"], "sf_type": "currency", "insertable": true, "updatable": true}),
                ),
                column(
                    json!({"column": "ext_id__c", "field": "Ext_Id__c", "path": ["Ext_Id__c"], "sf_type": "string", "insertable": true, "updatable": true, "external_id": true}),
                ),
                column(
                    json!({"column": "parent__ext_id__c", "field": "Parent.Ext_Id__c", "path": ["Parent", "Ext_Id__c"], "sf_type": "string", "insertable": true, "updatable": true, "external_id": true, "reference_to": ["Account"], "relationship": "Parent", "reference_field": "ParentId"}),
                ),
                column(
                    json!({"column": "systemmodstamp", "field": "SystemModstamp", "path": ["SystemModstamp"], "sf_type": "datetime", "system": true}),
                ),
            ],
        );
        mapping.key_prefix = Some("001".into());
        mapping
    }

    pub(crate) fn contact() -> WriteMapping {
        let mut mapping = WriteMapping::new(
            2,
            "salesforce".into(),
            "Contact".into(),
            "contact".into(),
            Some("Ext_Id__c".into()),
            vec![
                column(
                    json!({"column": "sfid", "field": "Id", "path": ["Id"], "sf_type": "id", "system": true}),
                ),
                column(
                    json!({"column": "lastname", "field": "LastName", "path": ["LastName"], "sf_type": "string", "insertable": true, "updatable": true}),
                ),
                column(
                    json!({"column": "birthdate", "field": "Birthdate", "path": ["Birthdate"], "sf_type": "date", "insertable": true, "updatable": true}),
                ),
                column(
                    json!({"column": "accountid", "field": "AccountId", "path": ["AccountId"], "sf_type": "reference", "insertable": true, "updatable": true, "reference_to": ["Account"]}),
                ),
                column(
                    json!({"column": "account__ext_id__c", "field": "Account.Ext_Id__c", "path": ["Account", "Ext_Id__c"], "sf_type": "string", "insertable": true, "updatable": true, "external_id": true, "reference_to": ["Account"], "relationship": "Account", "reference_field": "AccountId"}),
                ),
                column(
                    json!({"column": "ext_id__c", "field": "Ext_Id__c", "path": ["Ext_Id__c"], "sf_type": "string", "insertable": true, "updatable": true, "external_id": true}),
                ),
                column(
                    json!({"column": "lastseen__c", "field": "LastSeen__c", "path": ["LastSeen__c"], "sf_type": "datetime", "insertable": true, "updatable": true}),
                ),
                column(
                    json!({"column": "opens__c", "field": "Opens__c", "path": ["Opens__c"], "sf_type": "time", "insertable": true, "updatable": true}),
                ),
            ],
        );
        mapping.key_prefix = Some("003".into());
        mapping
    }

    #[test]
    fn ids_belong_to_the_object_of_their_key_prefix() {
        let mut mapping = account();
        assert!(mapping.owns_id("001000000000001AAA"));
        assert!(!mapping.owns_id("003000000000001AAA"));
        assert!(!mapping.owns_id("00"));
        // key prefixes are case-sensitive, as ids are
        mapping.key_prefix = Some("a0B".into());
        assert!(mapping.owns_id("a0B000000000001AAA"));
        assert!(!mapping.owns_id("a0b000000000001AAA"));
        mapping.key_prefix = None;
        assert!(mapping.owns_id("003000000000001AAA"));
    }

    #[test]
    fn parents_are_ranked_before_children_and_self_references_are_ignored() {
        let catalog = MappingCatalog::from_mappings(vec![contact(), account()]);
        assert_eq!(catalog.get(1).expect("account").rank, 0);
        assert_eq!(catalog.get(2).expect("contact").rank, 1);
        assert_eq!(
            catalog.get(1).expect("account").upsert_column.as_deref(),
            Some("ext_id__c")
        );
        assert_eq!(
            catalog.by_object("salesforce", "contact").map(|m| m.id),
            Some(2)
        );
    }

    #[test]
    fn a_cycle_between_objects_does_not_loop() {
        let mut first = account();
        first.id = 10;
        first.object = "A__c".into();
        first.columns.push(column(json!({"column": "b__c", "field": "B__c", "path": ["B__c"], "sf_type": "reference", "insertable": true, "reference_to": ["B__c"]})));
        let mut second = account();
        second.id = 11;
        second.object = "B__c".into();
        second.columns.push(column(json!({"column": "a__c", "field": "A__c", "path": ["A__c"], "sf_type": "reference", "insertable": true, "reference_to": ["A__c"]})));
        let catalog = MappingCatalog::from_mappings(vec![first, second]);
        assert!(catalog.get(10).expect("a").rank < 2);
        assert!(catalog.get(11).expect("b").rank < 2);
    }
}
