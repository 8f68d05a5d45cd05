//! The mappings as the reader sees them: rows of `sfsync.mapping` (without the stored describe, which
//! can be large and is not needed to read) and their column plans.

use chrono::{DateTime, TimeZone, Utc};
use tokio_postgres::{Client, Row};

use super::error::ReaderError;

use sfsync_protocol::{Dependencies, MappingState};

/// The column plan (`sfsync.mapping.columns`): the contract's type.
pub use sfsync_protocol::ColumnPlan;

/// A row of `sfsync.mapping`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub id: i64,
    pub schema_name: String,
    pub object_name: String,
    pub table_name: String,
    pub fields: Vec<String>,
    pub upsert_field: Option<String>,
    pub poll_seconds: i32,
    pub streaming: bool,
    pub filter: Option<String>,
    pub keep_deleted: bool,
    pub state: MappingState,
    pub state_detail: Option<String>,
    /// `None` until the table has been installed.
    pub columns: Option<Vec<ColumnPlan>>,
    pub backfill_fields: Vec<String>,
    pub reload_requested: bool,
    pub describe_requested: bool,
    pub hwm: Option<DateTime<Utc>>,
    pub replay_id: Option<i64>,
    pub reader_owner: Option<String>,
    pub last_read_at: Option<DateTime<Utc>>,
    /// When the pending reload was requested (passed back to `_finish_reload`).
    pub reload_requested_at: Option<DateTime<Utc>>,
    /// How far the getDeleted sweep has covered.
    pub deleted_swept_at: Option<DateTime<Utc>>,
    /// How often to reconcile the table with Salesforce.
    pub reconcile_seconds: i32,
    /// When a reconciliation last finished without error.
    pub last_reconciled_at: Option<DateTime<Utc>>,
    /// An open `sfsync.reconcile()` request.
    pub reconcile_requested_at: Option<DateTime<Utc>>,
    /// Keep fields Salesforce computes from other records fresh (option `fresh_formulas`).
    pub fresh_formulas: bool,
    /// How often fields on `TODAY()`/`NOW()` are re-read.
    pub formula_refresh_seconds: i32,
    /// What the reader learned the dependent fields read (`None`: not learned yet).
    pub dependencies: Option<Dependencies>,
    /// When dependent fields were last refreshed.
    pub formulas_refreshed_at: Option<DateTime<Utc>>,
}

const SELECT: &str =
    "SELECT id, schema_name, object_name, table_name, fields, upsert_field, poll_seconds,
        streaming, filter, keep_deleted, state, state_detail, columns::text, backfill_fields,
        reload_requested, describe_requested, (extract(epoch FROM hwm) * 1000)::int8, replay_id,
        reader_owner, (extract(epoch FROM last_read_at) * 1000)::int8,
        (extract(epoch FROM reload_requested_at) * 1000000)::int8, (extract(epoch FROM deleted_swept_at) * 1000)::int8,
        reconcile_seconds, (extract(epoch FROM last_reconciled_at) * 1000)::int8,
        (extract(epoch FROM reconcile_requested_at) * 1000)::int8, fresh_formulas,
        formula_refresh_seconds, dependencies::text, (extract(epoch FROM formulas_refreshed_at) * 1000)::int8
   FROM sfsync.mapping";

impl Mapping {
    fn from_row(row: &Row) -> Result<Self, ReaderError> {
        let id: i64 = row.get(0);
        let columns = match row.get::<_, Option<String>>(12) {
            None => None,
            Some(text) => Some(serde_json::from_str::<Vec<ColumnPlan>>(&text).map_err(
                |source| ReaderError::Decode {
                    what: format!("the column plan of mapping {id}"),
                    source,
                },
            )?),
        };
        Ok(Self {
            id,
            schema_name: row.get(1),
            object_name: row.get(2),
            table_name: row.get(3),
            fields: row.get(4),
            upsert_field: row.get(5),
            poll_seconds: row.get(6),
            streaming: row.get(7),
            filter: row
                .get::<_, Option<String>>(8)
                .filter(|filter| !filter.trim().is_empty()),
            keep_deleted: row.get(9),
            state: row
                .get::<_, String>(10)
                .parse()
                .map_err(|error| ReaderError::Unexpected(format!("mapping {id}: {error}")))?,
            state_detail: row.get(11),
            columns,
            backfill_fields: row.get(13),
            reload_requested: row.get(14),
            describe_requested: row.get(15),
            hwm: row.get::<_, Option<i64>>(16).and_then(from_millis),
            replay_id: row.get(17),
            reader_owner: row.get(18),
            last_read_at: row.get::<_, Option<i64>>(19).and_then(from_millis),
            // to the microsecond: `_finish_reload` compares it with the stored value
            reload_requested_at: row
                .get::<_, Option<i64>>(20)
                .and_then(|micros| Utc.timestamp_micros(micros).single()),
            deleted_swept_at: row.get::<_, Option<i64>>(21).and_then(from_millis),
            reconcile_seconds: row.get(22),
            last_reconciled_at: row.get::<_, Option<i64>>(23).and_then(from_millis),
            reconcile_requested_at: row.get::<_, Option<i64>>(24).and_then(from_millis),
            fresh_formulas: row.get(25),
            formula_refresh_seconds: row.get(26),
            dependencies: match row.get::<_, Option<String>>(27) {
                None => None,
                Some(text) => {
                    Some(
                        serde_json::from_str(&text).map_err(|source| ReaderError::Decode {
                            what: format!("the dependent fields of mapping {id}"),
                            source,
                        })?,
                    )
                }
            },
            formulas_refreshed_at: row.get::<_, Option<i64>>(28).and_then(from_millis),
        })
    }

    /// Every mapping of `schema`, by id.
    pub async fn all(client: &Client, schema: &str) -> Result<Vec<Mapping>, ReaderError> {
        let rows = client
            .query(
                &format!("{SELECT} WHERE schema_name = $1 ORDER BY id"),
                &[&schema],
            )
            .await
            .map_err(ReaderError::query("reading sfsync.mapping"))?;
        rows.iter().map(Mapping::from_row).collect()
    }

    /// The mapping `id` as it is now, or `None` when it was dropped.
    pub async fn fetch(client: &Client, id: i64) -> Result<Option<Mapping>, ReaderError> {
        let row = client
            .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
            .await
            .map_err(ReaderError::query("reading a mapping"))?;
        row.as_ref().map(Mapping::from_row).transpose()
    }

    /// Equal apart from what the reader itself moves on every read (position, lease, detail):
    /// only a difference here is worth waking a worker for.
    pub fn same_settings(&self, other: &Mapping) -> bool {
        let volatile = |mapping: &Mapping| Mapping {
            state_detail: None,
            hwm: None,
            replay_id: None,
            reader_owner: None,
            last_read_at: None,
            reload_requested_at: None,
            deleted_swept_at: None,
            last_reconciled_at: None,
            dependencies: None,
            formulas_refreshed_at: None,
            ..mapping.clone()
        };
        volatile(self) == volatile(other)
    }

    pub fn is_paused(&self) -> bool {
        self.state == MappingState::Paused
    }

    /// `schema.table`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}.{} ({})",
            self.schema_name, self.table_name, self.object_name
        )
    }

    /// The column plan, or an error saying the table is not installed yet.
    pub fn plan(&self) -> Result<&[ColumnPlan], ReaderError> {
        self.columns
            .as_deref()
            .ok_or_else(|| ReaderError::NotInstalled {
                object: self.object_name.clone(),
            })
    }

    /// Whether the plan has a `SystemModstamp` column (what incremental polling needs).
    pub fn has_systemmodstamp(&self) -> bool {
        self.columns
            .as_deref()
            .is_some_and(|plan| plan.iter().any(|column| column.column == "systemmodstamp"))
    }
}

#[cfg(test)]
impl Mapping {
    /// An installed-looking Account mapping, for unit tests.
    pub fn example() -> Mapping {
        Mapping {
            id: 1,
            schema_name: "salesforce".into(),
            object_name: "Account".into(),
            table_name: "account".into(),
            fields: vec!["Name".into()],
            upsert_field: None,
            poll_seconds: 60,
            streaming: false,
            filter: None,
            keep_deleted: false,
            state: MappingState::Synced,
            state_detail: None,
            columns: None,
            backfill_fields: vec![],
            reload_requested: false,
            describe_requested: false,
            hwm: None,
            replay_id: None,
            reader_owner: None,
            last_read_at: None,
            reload_requested_at: None,
            deleted_swept_at: None,
            reconcile_seconds: 21_600,
            last_reconciled_at: None,
            reconcile_requested_at: None,
            fresh_formulas: true,
            formula_refresh_seconds: 3_600,
            dependencies: None,
            formulas_refreshed_at: None,
        }
    }
}

fn from_millis(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        Mapping::example()
    }

    #[test]
    fn reading_moves_no_settings_but_a_reload_request_does() {
        let before = mapping();
        let mut read = before.clone();
        read.hwm = from_millis(1_700_000_000_000);
        read.replay_id = Some(42);
        read.last_read_at = from_millis(1_700_000_001_000);
        read.reader_owner = Some("host:1:abc".into());
        assert!(before.same_settings(&read));
        let mut reload = before.clone();
        reload.reload_requested = true;
        assert!(!before.same_settings(&reload));
        let mut paused = before.clone();
        paused.state = MappingState::Paused;
        assert!(!before.same_settings(&paused));
    }

    #[test]
    fn a_plan_as_the_extension_stores_it_parses() {
        let plan: Vec<ColumnPlan> = serde_json::from_str(
            r#"[{"column":"sfid","field":"Id","path":["Id"],"sf_type":"id","sql_type":"varchar(18)","insertable":false,
                 "updatable":false,"read_only":true,"system":true,"external_id":false,"nillable":true,"length":18},
                {"column":"account__ext_id__c","field":"Account.Ext_Id__c","path":["Account","Ext_Id__c"],
                 "sf_type":"string","sql_type":"varchar(20)","insertable":true,"updatable":true,"read_only":false,
                 "system":false,"external_id":true,"nillable":true,"length":20,"reference_to":["Account"],
                 "relationship":"Account","reference_field":"AccountId"}]"#,
        )
        .expect("parses");
        assert!(plan[0].system);
        assert_eq!(plan[1].path, ["Account", "Ext_Id__c"]);
        assert_eq!(plan[1].reference_field.as_deref(), Some("AccountId"));
        assert_eq!(plan[1].length, Some(20));
    }
}
