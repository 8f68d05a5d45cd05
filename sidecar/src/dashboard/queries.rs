//! What the pages read, over the sidecar's own `sfsync_agent` connection (bound to its schema):
//! `sfsync.status()`, the schema's rows of `sfsync.mapping`, and the monitoring functions
//! `_failed_changes`, `_recent_conflicts` and `_write_history` (SECURITY DEFINER, limited to the
//! session's schema).

use serde_json::Value;
use tokio_postgres::Client;

use crate::db::DbError;

/// UTC, to the second: what every time on the pages looks like.
const TIME: &str = "'YYYY-MM-DD HH24:MI:SS \"UTC\"'";

fn query_error(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> DbError {
    move |source| DbError::Query { what, source }
}

/// One mapping of the overview.
#[derive(Debug, Clone)]
pub struct MappingSummary {
    pub object: String,
    pub table: String,
    pub access: String,
    pub state: String,
    pub detail: Option<String>,
    pub rows: Option<i64>,
    pub pending: i64,
    pub failed: i64,
    pub last_read: Option<String>,
    pub last_write: Option<String>,
    pub lag_seconds: Option<f64>,
    pub drift: Option<i64>,
    pub load_expected: Option<i64>,
    pub load_done: Option<i64>,
}

pub async fn mappings(client: &Client, schema: &str) -> Result<Vec<MappingSummary>, DbError> {
    let sql = format!(
        "SELECT s.object_name, s.table_name, s.access, s.state, s.state_detail, s.rows, s.pending,
                s.failed, to_char(s.last_read_at AT TIME ZONE 'UTC', {TIME}),
                to_char(s.last_write_at AT TIME ZONE 'UTC', {TIME}), s.lag_seconds, s.drift,
                m.load_expected, m.load_done
           FROM sfsync.status() s
           JOIN sfsync.mapping m ON m.schema_name = s.schema AND m.object_name = s.object_name
          WHERE s.schema = $1
          ORDER BY s.object_name"
    );
    let rows = client
        .query(&sql, &[&schema])
        .await
        .map_err(query_error("reading sfsync.status()"))?;
    Ok(rows
        .iter()
        .map(|row| MappingSummary {
            object: row.get(0),
            table: row.get(1),
            access: row.get(2),
            state: row.get(3),
            detail: row.get(4),
            rows: row.get(5),
            pending: row.get(6),
            failed: row.get(7),
            last_read: row.get(8),
            last_write: row.get(9),
            lag_seconds: row.get(10),
            drift: row.get(11),
            load_expected: row.get(12),
            load_done: row.get(13),
        })
        .collect())
}

/// One minute of `_write_history`; the minute is Unix seconds / 60.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteMinute {
    pub minute: i64,
    pub written: i64,
    pub failed: i64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

pub async fn write_history(client: &Client) -> Result<Vec<WriteMinute>, DbError> {
    let rows = client
        .query(
            "SELECT (extract(epoch FROM minute)::bigint / 60), written, failed, latency_p50_ms, latency_p99_ms
               FROM sfsync._write_history(now() - interval '1 hour')
              ORDER BY minute",
            &[],
        )
        .await
        .map_err(query_error("reading sfsync._write_history()"))?;
    Ok(rows
        .iter()
        .map(|row| WriteMinute {
            minute: row.get(0),
            written: row.get(1),
            failed: row.get(2),
            latency_p50_ms: row.get(3),
            latency_p99_ms: row.get(4),
        })
        .collect())
}

/// One column of a mapping's column plan.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub column: String,
    pub field: String,
    pub sf_type: String,
    pub sql_type: String,
    pub read_only: bool,
}

/// A mapping's page: its columns and options as stored.
#[derive(Debug, Clone)]
pub struct MappingDetail {
    pub object: String,
    pub table: String,
    pub access: String,
    pub state: String,
    pub detail: Option<String>,
    pub columns: Vec<ColumnInfo>,
    /// Option name and its value as text, in the order `create_mapping` documents them.
    pub options: Vec<(&'static str, String)>,
    pub load_expected: Option<i64>,
    pub load_done: Option<i64>,
}

pub async fn mapping_detail(
    client: &Client,
    schema: &str,
    object: &str,
) -> Result<Option<MappingDetail>, DbError> {
    let row = client
        .query_opt(
            "SELECT object_name, table_name, access, state, state_detail, columns::text,
                    coalesce(upsert_field, ''), poll_seconds::text, streaming::text, coalesce(filter, ''),
                    array_to_string(read_only_fields, ', '), conflict, keep_deleted::text,
                    reconcile_seconds::text, fresh_formulas::text, load_expected, load_done,
                    array_to_string(fields, ', ')
               FROM sfsync.mapping
              WHERE schema_name = $1 AND lower(object_name) = lower($2)",
            &[&schema, &object],
        )
        .await
        .map_err(query_error("reading sfsync.mapping"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let columns_text: Option<String> = row.get(5);
    let columns = columns_text
        .map(|text| parse_columns(&text))
        .transpose()
        .map_err(|source| DbError::Decode {
            what: "the mapping's column plan",
            source,
        })?
        .unwrap_or_default();
    let option_names = [
        "upsert_field",
        "poll_seconds",
        "streaming",
        "filter",
        "read_only_fields",
        "conflict",
        "keep_deleted",
        "reconcile_seconds",
        "fresh_formulas",
    ];
    let mut options: Vec<(&'static str, String)> = vec![("fields", row.get(17))];
    for (index, name) in option_names.into_iter().enumerate() {
        options.push((name, row.get(6 + index)));
    }
    Ok(Some(MappingDetail {
        object: row.get(0),
        table: row.get(1),
        access: row.get(2),
        state: row.get(3),
        detail: row.get(4),
        columns,
        options,
        load_expected: row.get(15),
        load_done: row.get(16),
    }))
}

fn parse_columns(text: &str) -> Result<Vec<ColumnInfo>, serde_json::Error> {
    let plan: Vec<Value> = serde_json::from_str(text)?;
    let text_of = |column: &Value, key: &str| column[key].as_str().unwrap_or_default().to_string();
    Ok(plan
        .iter()
        .map(|column| ColumnInfo {
            column: text_of(column, "column"),
            field: text_of(column, "field"),
            sf_type: text_of(column, "sf_type"),
            sql_type: text_of(column, "sql_type"),
            read_only: column["read_only"].as_bool().unwrap_or(false)
                || (!column["insertable"].as_bool().unwrap_or(true)
                    && !column["updatable"].as_bool().unwrap_or(true)),
        })
        .collect())
}

/// One change Salesforce refused, still FAILED.
#[derive(Debug, Clone)]
pub struct FailedChange {
    pub change_id: i64,
    pub object: String,
    pub sfid: Option<String>,
    pub record_id: Option<i64>,
    pub action: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub fields: Option<String>,
    pub failed_at: Option<String>,
    pub attempts: Option<i32>,
}

pub async fn failed_changes(
    client: &Client,
    object: Option<&str>,
    code: Option<&str>,
    limit: i32,
) -> Result<Vec<FailedChange>, DbError> {
    let sql = format!(
        "SELECT change_id, object_name, sfid, record_id, action, code, message,
                (SELECT string_agg(value, ', ') FROM jsonb_array_elements_text(coalesce(fields, '[]')) value),
                to_char(failed_at AT TIME ZONE 'UTC', {TIME}), attempts
           FROM sfsync._failed_changes($1, $2, $3)"
    );
    let rows = client
        .query(&sql, &[&object, &code, &limit])
        .await
        .map_err(query_error("reading sfsync._failed_changes()"))?;
    Ok(rows
        .iter()
        .map(|row| FailedChange {
            change_id: row.get(0),
            object: row.get(1),
            sfid: row.get(2),
            record_id: row.get(3),
            action: row.get(4),
            code: row.get(5),
            message: row.get(6),
            fields: row.get(7),
            failed_at: row.get(8),
            attempts: row.get(9),
        })
        .collect())
}

/// One conflict between a local change and a Salesforce change of the same field.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub sfid: Option<String>,
    pub record_id: Option<i64>,
    pub field: String,
    pub local_value: Option<String>,
    pub incoming_value: Option<String>,
    pub policy: String,
    pub resolved_at: Option<String>,
}

pub async fn recent_conflicts(
    client: &Client,
    object: &str,
    limit: i32,
) -> Result<Vec<Conflict>, DbError> {
    let sql = format!(
        "SELECT sfid, record_id, field, local_value::text, incoming_value::text, policy,
                to_char(resolved_at AT TIME ZONE 'UTC', {TIME})
           FROM sfsync._recent_conflicts($1, $2)"
    );
    let rows = client
        .query(&sql, &[&object, &limit])
        .await
        .map_err(query_error("reading sfsync._recent_conflicts()"))?;
    Ok(rows
        .iter()
        .map(|row| Conflict {
            sfid: row.get(0),
            record_id: row.get(1),
            field: row.get(2),
            local_value: row.get(3),
            incoming_value: row.get(4),
            policy: row.get(5),
            resolved_at: row.get(6),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_plan_gives_types_and_read_only_fields() {
        let plan = r#"[{"column":"name","field":"Name","sf_type":"string","sql_type":"varchar(80)","insertable":true,"updatable":true,"read_only":false},
                       {"column":"createddate","field":"CreatedDate","sf_type":"datetime","sql_type":"timestamp","insertable":false,"updatable":false}]"#;
        let columns = parse_columns(plan).expect("plan");
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].field, "Name");
        assert!(!columns[0].read_only);
        assert_eq!(columns[1].sql_type, "timestamp");
        assert!(columns[1].read_only);
    }
}
