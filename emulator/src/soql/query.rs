//! A compiled query and running it: scan, filter, sort (stable, ties broken by Id), OFFSET/LIMIT,
//! then JSON records (nested parents) or flat rows for CSV.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::compile::compile_query;
use super::error::SoqlError;
use super::plan::{OrderKey, OutputEntry, OutputNode, Predicate, Selection};
use super::schema::{ObjectMeta, RecordSource, Schema};
use super::value::{compare_values, FieldValue};

/// How to run a compiled query.
#[derive(Debug, Clone, Copy)]
pub struct ExecuteOptions {
    /// `queryAll`: also return records in the recycle bin.
    pub include_deleted: bool,
    /// The moment date keywords (`TODAY`, ...) are evaluated against, in UTC.
    pub now: DateTime<Utc>,
}

/// A query compiled against the org's metadata, ready to run any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    pub(super) object: String,
    pub(super) selection: Selection,
    pub(super) predicate: Option<Predicate>,
    pub(super) order: Vec<OrderKey>,
    pub(super) limit: Option<u64>,
    pub(super) offset: u64,
}

/// One column of a query's SELECT list, see [`CompiledQuery::column_tree`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnNode {
    /// The key the column has in a JSON record: `Name`, `Account` (a parent), `expr0`.
    pub name: String,
    /// How the query wrote it: the name, or the function for aggregates (`COUNT(Id)`).
    pub display: String,
    /// The field read (for a parent: the lookup field), as (object, field index); `None` for aggregates.
    pub field: Option<(String, usize)>,
    pub aggregate: bool,
    /// The columns selected through a parent, in SELECT order.
    pub children: Vec<ColumnNode>,
}

/// How records are rendered as JSON: the API version of their `attributes.url`, and the run options that
/// parent-to-child subqueries use to find each record's children (`queryAll` shows deleted ones).
#[derive(Debug, Clone, Copy)]
pub struct Render<'r> {
    pub api_version: &'r str,
    pub options: &'r ExecuteOptions,
}

/// What a run found.
#[derive(Debug)]
pub enum QueryRows<'a, R> {
    /// The matching records in result order (after ORDER BY, OFFSET and LIMIT).
    Records(Vec<&'a R>),
    /// `COUNT()`: only the number (in `total_size`).
    Count,
    /// `COUNT(field)`: one aggregate row, one count per column.
    Aggregate(Vec<u64>),
}

/// The result of a run: `totalSize` and the rows.
#[derive(Debug)]
pub struct QueryResult<'a, R> {
    pub total_size: usize,
    pub rows: QueryRows<'a, R>,
}

impl CompiledQuery {
    /// Parses and compiles `text`; see [`compile_query`].
    pub fn compile(text: &str, schema: &dyn Schema) -> Result<CompiledQuery, SoqlError> {
        compile_query(text, schema)
    }

    /// The JSON shape of a record; `None` for aggregate queries.
    pub(super) fn output(&self) -> Option<&OutputNode> {
        match &self.selection {
            Selection::Fields { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The canonical name of the queried object.
    pub fn object_name(&self) -> &str {
        &self.object
    }

    /// Column names in SELECT order (`Id`, `Account.Name`, `expr0`); empty for `COUNT()`.
    pub fn columns(&self) -> Vec<String> {
        match &self.selection {
            Selection::Fields { columns, .. } => {
                columns.iter().map(|(name, _)| name.clone()).collect()
            }
            Selection::CountRows => Vec::new(),
            Selection::Aggregate(columns) => {
                columns.iter().map(|column| column.key.clone()).collect()
            }
        }
    }

    /// The SELECT list as a tree of columns (parents hold the columns selected through them), in SELECT order:
    /// what a query-columns request describes. Empty for `COUNT()`.
    pub fn column_tree(&self) -> Vec<ColumnNode> {
        fn from_output(node: &OutputNode) -> Vec<ColumnNode> {
            node.entries
                .iter()
                .map(|entry| match entry {
                    OutputEntry::Value { key, step } => ColumnNode {
                        name: key.clone(),
                        display: key.clone(),
                        field: Some((step.planned_object.clone(), step.index)),
                        aggregate: false,
                        children: Vec::new(),
                    },
                    OutputEntry::Parent {
                        key,
                        reference,
                        node,
                    } => ColumnNode {
                        name: key.clone(),
                        display: key.clone(),
                        field: Some((reference.planned_object.clone(), reference.index)),
                        aggregate: false,
                        children: from_output(node),
                    },
                    // Real orgs describe a subquery as an aggregate column joining the child's columns.
                    OutputEntry::Children { key, child } => ColumnNode {
                        name: key.clone(),
                        display: key.clone(),
                        field: None,
                        aggregate: true,
                        children: child.query.output().map(from_output).unwrap_or_default(),
                    },
                })
                .collect()
        }
        match &self.selection {
            Selection::Fields { output, .. } => from_output(output),
            Selection::CountRows => Vec::new(),
            Selection::Aggregate(columns) => columns
                .iter()
                .map(|column| ColumnNode {
                    name: column.key.clone(),
                    display: column.display.clone(),
                    field: None,
                    aggregate: true,
                    children: Vec::new(),
                })
                .collect(),
        }
    }

    /// Runs the query over `source`. An object dropped since compiling yields no rows.
    pub fn execute<'a, S: RecordSource>(
        &self,
        source: &'a S,
        options: &ExecuteOptions,
    ) -> QueryResult<'a, S::Record> {
        let Some(object) = source.object(&self.object) else {
            return QueryResult {
                total_size: 0,
                rows: QueryRows::Records(Vec::new()),
            };
        };
        let window = self.matching(source, source.records(object), options);
        match &self.selection {
            Selection::Fields { .. } => QueryResult {
                total_size: window.len(),
                rows: QueryRows::Records(window),
            },
            Selection::CountRows => QueryResult {
                total_size: window.len(),
                rows: QueryRows::Count,
            },
            Selection::Aggregate(columns) => {
                let counts = columns
                    .iter()
                    .map(|column| match &column.field {
                        None => window.len() as u64,
                        Some(field) => window
                            .iter()
                            .filter(|record| {
                                !matches!(field.read(source, record), FieldValue::Null)
                            })
                            .count() as u64,
                    })
                    .collect();
                QueryResult {
                    total_size: 1,
                    rows: QueryRows::Aggregate(counts),
                }
            }
        }
    }

    /// The records among `candidates` (records of the queried object) the query returns, in result order:
    /// after WHERE, ORDER BY, OFFSET and LIMIT. A subquery runs this over one parent's children.
    pub(super) fn matching<'a, S: RecordSource>(
        &self,
        source: &'a S,
        candidates: impl Iterator<Item = &'a S::Record>,
        options: &ExecuteOptions,
    ) -> Vec<&'a S::Record> {
        let mut matches = self.scan(source, candidates, options);
        if !self.order.is_empty() {
            self.sort(source, &mut matches);
        }
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = self
            .limit
            .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX));
        let window_end = limit.map_or(matches.len(), |limit| {
            offset.saturating_add(limit).min(matches.len())
        });
        if offset >= matches.len() {
            Vec::new()
        } else {
            matches.drain(offset..window_end).collect()
        }
    }

    fn scan<'a, S: RecordSource>(
        &self,
        source: &'a S,
        candidates: impl Iterator<Item = &'a S::Record>,
        options: &ExecuteOptions,
    ) -> Vec<&'a S::Record> {
        let today = options.now.date_naive();
        let predicate = self
            .predicate
            .as_ref()
            .map(|predicate| predicate.bind(source, options));
        // Without ORDER BY the first OFFSET + LIMIT matches are the answer: stop scanning there.
        let enough = match (self.order.is_empty(), &self.selection, self.limit) {
            (true, Selection::Fields { .. } | Selection::CountRows, Some(limit)) => {
                usize::try_from(self.offset.saturating_add(limit)).unwrap_or(usize::MAX)
            }
            _ => usize::MAX,
        };
        let mut matches = Vec::new();
        if enough == 0 {
            return matches;
        }
        for record in candidates {
            if !options.include_deleted && source.is_deleted(record) {
                continue;
            }
            if let Some(predicate) = &predicate {
                if !predicate.matches(source, record, today) {
                    continue;
                }
            }
            matches.push(record);
            if matches.len() >= enough {
                break;
            }
        }
        matches
    }

    fn sort<'a, S: RecordSource>(&self, source: &'a S, records: &mut [&'a S::Record]) {
        records.sort_by(|left, right| {
            for key in &self.order {
                let ordering = compare_key(
                    key,
                    &key.field.read(source, left),
                    &key.field.read(source, right),
                );
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            source.record_id(left).cmp(source.record_id(right))
        });
    }

    /// The REST JSON records of a result (`records` of the query response), all of them.
    pub fn json_records<S: RecordSource>(
        &self,
        source: &S,
        result: &QueryResult<'_, S::Record>,
        render: &Render<'_>,
    ) -> Vec<Value> {
        match &result.rows {
            QueryRows::Records(records) => records
                .iter()
                .map(|record| self.json_record(source, record, render))
                .collect(),
            QueryRows::Count => Vec::new(),
            QueryRows::Aggregate(counts) => vec![self.aggregate_json(counts)],
        }
    }

    /// One record as REST JSON: `attributes`, then the selected fields in SELECT order, parents nested.
    pub fn json_record<S: RecordSource>(
        &self,
        source: &S,
        record: &S::Record,
        render: &Render<'_>,
    ) -> Value {
        let Selection::Fields { output, .. } = &self.selection else {
            return Value::Null;
        };
        let Some(object) = source.object(&self.object) else {
            return Value::Null;
        };
        render_node(source, object, record, output, render)
    }

    /// Writes one record's REST JSON (the same document as [`CompiledQuery::json_record`]) straight into
    /// `out`, without building a `serde_json::Value` per record: query pages are rendered this way.
    pub fn write_json_record<S: RecordSource>(
        &self,
        source: &S,
        record: &S::Record,
        render: &Render<'_>,
        out: &mut Vec<u8>,
    ) {
        let Selection::Fields { output, .. } = &self.selection else {
            out.extend_from_slice(b"null");
            return;
        };
        let Some(object) = source.object(&self.object) else {
            out.extend_from_slice(b"null");
            return;
        };
        super::write_json::write_node(source, object, record, output, render, out);
    }

    /// The aggregate row of a `COUNT(field)` query.
    pub fn aggregate_json(&self, counts: &[u64]) -> Value {
        let mut row = Map::new();
        row.insert(
            "attributes".into(),
            serde_json::json!({ "type": "AggregateResult" }),
        );
        if let Selection::Aggregate(columns) = &self.selection {
            for (column, count) in columns.iter().zip(counts) {
                row.insert(column.key.clone(), Value::Number(Number::from(*count)));
            }
        }
        Value::Object(row)
    }

    /// One record's values in column order (for Bulk API CSV), parents flattened.
    pub fn flat_row<'a, S: RecordSource>(
        &self,
        source: &'a S,
        record: &'a S::Record,
    ) -> Vec<FieldValue<'a>> {
        match &self.selection {
            Selection::Fields { columns, .. } => columns
                .iter()
                .map(|(_, field)| field.read(source, record))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn compare_key(key: &OrderKey, left: &FieldValue<'_>, right: &FieldValue<'_>) -> Ordering {
    let null_side = if key.nulls_first {
        Ordering::Less
    } else {
        Ordering::Greater
    };
    match (left, right) {
        (FieldValue::Null, FieldValue::Null) => Ordering::Equal,
        (FieldValue::Null, _) => null_side,
        (_, FieldValue::Null) => null_side.reverse(),
        _ => {
            let ordering = compare_values(left, right);
            if key.descending {
                ordering.reverse()
            } else {
                ordering
            }
        }
    }
}

fn attributes(object: &ObjectMeta, id: &str, api_version: &str) -> Value {
    serde_json::json!({
        "type": object.name(),
        "url": format!("/services/data/v{api_version}/sobjects/{}/{id}", object.name()),
    })
}

fn render_node<S: RecordSource>(
    source: &S,
    object: &ObjectMeta,
    record: &S::Record,
    node: &OutputNode,
    render: &Render<'_>,
) -> Value {
    let mut json = Map::with_capacity(node.entries.len() + 1);
    let id = source.record_id(record);
    json.insert(
        "attributes".into(),
        attributes(object, id, render.api_version),
    );
    for entry in &node.entries {
        match entry {
            OutputEntry::Value { key, step } => {
                let value = match step.index_in(object) {
                    Some(index) => source.value(record, index).to_json(),
                    None => Value::Null,
                };
                json.insert(key.clone(), value);
            }
            OutputEntry::Parent {
                key,
                reference,
                node,
            } => {
                let parent = reference
                    .index_in(object)
                    .and_then(|index| source.parent(record, index));
                let value = match parent {
                    Some(parent) => render_node(source, parent.object, parent.record, node, render),
                    None => Value::Null,
                };
                json.insert(key.clone(), value);
            }
            OutputEntry::Children { key, child } => {
                let value = match (child.rows(source, id, render.options), child.query.output()) {
                    (Some((child_object, rows)), Some(output)) => serde_json::json!({
                        "totalSize": rows.len(),
                        "done": true,
                        "records": rows
                            .iter()
                            .map(|row| render_node(source, child_object, row, output, render))
                            .collect::<Vec<_>>(),
                    }),
                    _ => Value::Null,
                };
                json.insert(key.clone(), value);
            }
        }
    }
    Value::Object(json)
}
