//! Compiles a parsed SELECT against object metadata into a [`CompiledQuery`]: resolves every field,
//! expands `FIELDS(...)`, checks the SELECT, ORDER BY, LIMIT and OFFSET rules.

use super::ast::{FieldsGroup, Query, SelectItem};
use super::children::compile_children;
use super::error::{SoqlError, SoqlErrorCode};
use super::filter::compile_where;
use super::parser::parse_query;
use super::plan::{CountColumn, OrderKey, OutputEntry, OutputNode, Selection, Step};
use super::query::CompiledQuery;
use super::resolve::{ResolvedField, Resolver};
use super::schema::{ObjectMeta, Schema};

/// Salesforce's ceiling on OFFSET.
pub const MAX_OFFSET: u64 = 2000;
/// The largest LIMIT `FIELDS(ALL)` and `FIELDS(CUSTOM)` accept.
pub const MAX_FIELDS_LIMIT: u64 = 200;

/// Where a SELECT sits, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The statement itself.
    Root,
    /// A parent-to-child subquery, `depth` relationships below the root (1 for the first).
    Child { depth: usize },
    /// The inner SELECT of a semi-join or anti-join.
    SemiJoin,
}

/// Parses and compiles `text` against `schema`.
pub fn compile_query(text: &str, schema: &dyn Schema) -> Result<CompiledQuery, SoqlError> {
    let query = parse_query(text)?;
    let root = object_named(text, schema, &query.object, query.object_start)?;
    compile_parsed(text, schema, &query, root, Level::Root)
}

/// The object a FROM names, or Salesforce's `INVALID_TYPE` for an unknown one.
pub fn object_named<'s>(
    text: &str,
    schema: &'s dyn Schema,
    name: &str,
    at: usize,
) -> Result<&'s ObjectMeta, SoqlError> {
    schema.object(name).ok_or_else(|| {
        SoqlError::at(
            SoqlErrorCode::InvalidType,
            text,
            at,
            &format!(
                "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to \
                 append the '__c' after the entity name. Please reference your WSDL or the describe call for the \
                 appropriate names."
            ),
        )
    })
}

/// Compiles one parsed SELECT (the statement or one of its subqueries) over `root`.
pub fn compile_parsed(
    text: &str,
    schema: &dyn Schema,
    query: &Query,
    root: &ObjectMeta,
    level: Level,
) -> Result<CompiledQuery, SoqlError> {
    let resolver = Resolver {
        query: text,
        schema,
        root,
    };
    let selection = compile_selection(&resolver, query, level)?;
    let predicate = match &query.condition {
        Some(condition) => Some(compile_where(&resolver, condition, level)?),
        None => None,
    };
    let order = compile_order(&resolver, query)?;
    if let Some(offset) = query.offset {
        if offset.value > MAX_OFFSET {
            return Err(SoqlError::plain(
                SoqlErrorCode::NumberOutsideValidRange,
                format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
            ));
        }
    }
    Ok(CompiledQuery {
        object: root.name().to_string(),
        selection,
        predicate,
        order,
        limit: query.limit.map(|limit| limit.value),
        offset: query.offset.map(|offset| offset.value).unwrap_or(0),
    })
}

fn compile_order(resolver: &Resolver<'_>, query: &Query) -> Result<Vec<OrderKey>, SoqlError> {
    let mut keys = Vec::with_capacity(query.order.len());
    for item in &query.order {
        let resolved = resolver.resolve(&item.field)?;
        if !resolved.meta.sortable {
            return Err(SoqlError::at(
                SoqlErrorCode::InvalidField,
                resolver.query,
                item.field.start,
                &format!(
                    "field '{}' can not be sorted in a query call",
                    resolved.meta.name
                ),
            ));
        }
        keys.push(OrderKey {
            field: resolved.field_ref,
            descending: item.descending,
            // Salesforce puts nulls first on ASC and last on DESC unless told otherwise.
            nulls_first: item.nulls_first.unwrap_or(!item.descending),
        });
    }
    Ok(keys)
}

fn compile_selection(
    resolver: &Resolver<'_>,
    query: &Query,
    level: Level,
) -> Result<Selection, SoqlError> {
    let has_count = query
        .select
        .iter()
        .any(|item| matches!(item, SelectItem::Count { .. }));
    if has_count {
        return compile_counts(resolver, query);
    }
    let mut fields: Vec<ResolvedField> = Vec::new();
    let mut output = OutputNode::default();
    let mut seen = std::collections::HashSet::new();
    for item in &query.select {
        let resolved_items = match item {
            SelectItem::Field(path) => vec![resolver.resolve(path)?],
            SelectItem::Fields { group, .. } => {
                if *group != FieldsGroup::Standard
                    && query
                        .limit
                        .is_none_or(|limit| limit.value > MAX_FIELDS_LIMIT)
                {
                    return Err(SoqlError::plain(
                        SoqlErrorCode::MalformedQuery,
                        format!("The SOQL FIELDS function must have a LIMIT of at most {MAX_FIELDS_LIMIT}"),
                    ));
                }
                expand_fields(resolver.root, *group)
            }
            SelectItem::Count { .. } => Vec::new(),
            SelectItem::Children(inner) => {
                let child = compile_children(resolver, inner, level)?;
                check_unique(&mut seen, &child.relationship)?;
                output.entries.push(OutputEntry::Children {
                    key: child.relationship.clone(),
                    child: Box::new(child),
                });
                Vec::new()
            }
        };
        for resolved in resolved_items {
            check_unique(&mut seen, &resolved.column_name())?;
            insert_output(&mut output, &resolved.hops, &resolved.leaf);
            fields.push(resolved);
        }
    }
    let columns = fields
        .iter()
        .map(|resolved| (resolved.column_name(), resolved.field_ref.clone()))
        .collect();
    Ok(Selection::Fields { columns, output })
}

/// Salesforce refuses a field (or a subquery's relationship) selected twice.
fn check_unique(
    seen: &mut std::collections::HashSet<String>,
    column: &str,
) -> Result<(), SoqlError> {
    if seen.insert(column.to_ascii_lowercase()) {
        return Ok(());
    }
    Err(SoqlError::plain(
        SoqlErrorCode::InvalidField,
        format!("duplicate field selected: {column}"),
    ))
}

fn expand_fields(root: &ObjectMeta, group: FieldsGroup) -> Vec<ResolvedField> {
    root.fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| match group {
            FieldsGroup::All => true,
            FieldsGroup::Standard => !field.custom,
            FieldsGroup::Custom => field.custom,
        })
        .map(|(index, field)| ResolvedField {
            field_ref: super::plan::FieldRef::Direct(index),
            meta: field.clone(),
            hops: Vec::new(),
            leaf: Step {
                planned_object: root.name().to_string(),
                index,
                name: field.name.clone(),
            },
        })
        .collect()
}

/// Adds a selected path to the nested JSON shape, merging paths that share relationships.
fn insert_output(node: &mut OutputNode, hops: &[(String, Step)], leaf: &Step) {
    let Some(((relationship, reference), rest)) = hops.split_first() else {
        node.entries.push(OutputEntry::Value {
            key: leaf.name.clone(),
            step: leaf.clone(),
        });
        return;
    };
    let existing = node.entries.iter_mut().find_map(|entry| match entry {
        OutputEntry::Parent { key, node, .. } if key == relationship => Some(node),
        _ => None,
    });
    match existing {
        Some(child) => insert_output(child, rest, leaf),
        None => {
            let mut child = OutputNode::default();
            insert_output(&mut child, rest, leaf);
            node.entries.push(OutputEntry::Parent {
                key: relationship.clone(),
                reference: reference.clone(),
                node: child,
            });
        }
    }
}

fn compile_counts(resolver: &Resolver<'_>, query: &Query) -> Result<Selection, SoqlError> {
    let mut columns = Vec::new();
    let mut unnamed = 0;
    for item in &query.select {
        match item {
            SelectItem::Count {
                field: None, start, ..
            } => {
                if query.select.len() > 1 {
                    return Err(SoqlError::at(
                        SoqlErrorCode::MalformedQuery,
                        resolver.query,
                        *start,
                        "COUNT() must be the only element in the SELECT list.",
                    ));
                }
                return Ok(Selection::CountRows);
            }
            SelectItem::Count {
                field: Some(path),
                alias,
                ..
            } => {
                let resolved = resolver.resolve(path)?;
                let key = match alias {
                    Some(alias) => alias.clone(),
                    None => {
                        let key = format!("expr{unnamed}");
                        unnamed += 1;
                        key
                    }
                };
                let counts_rows = resolved.hops.is_empty() && resolved.meta.name == "Id";
                columns.push(CountColumn {
                    key,
                    display: format!("COUNT({})", resolved.column_name()),
                    field: if counts_rows {
                        None
                    } else {
                        Some(resolved.field_ref)
                    },
                });
            }
            SelectItem::Field(path) => {
                return Err(SoqlError::at(
                    SoqlErrorCode::MalformedQuery,
                    resolver.query,
                    path.start,
                    &format!("Field must be grouped or aggregated: {}", path.text()),
                ))
            }
            SelectItem::Fields { start, .. } => {
                return Err(SoqlError::at(
                    SoqlErrorCode::MalformedQuery,
                    resolver.query,
                    *start,
                    "FIELDS() cannot be used in an aggregate query",
                ))
            }
            SelectItem::Children(inner) => {
                return Err(SoqlError::at(
                    SoqlErrorCode::MalformedQuery,
                    resolver.query,
                    inner.start,
                    "Aggregate query does not support parent-to-child relationship subqueries",
                ))
            }
        }
    }
    Ok(Selection::Aggregate(columns))
}
