//! Compiles a parsed SELECT against object metadata into a [`CompiledQuery`]: resolves every field,
//! expands `FIELDS(...)`, checks the SELECT, ORDER BY, LIMIT and OFFSET rules.

use super::ast::{FieldsGroup, Query, SelectItem};
use super::error::{SoqlError, SoqlErrorCode};
use super::filter::compile_condition;
use super::parser::parse_query;
use super::plan::{CountColumn, OrderKey, OutputEntry, OutputNode, Selection, Step};
use super::query::CompiledQuery;
use super::resolve::{ResolvedField, Resolver};
use super::schema::{ObjectMeta, Schema};

/// Salesforce's ceiling on OFFSET.
pub const MAX_OFFSET: u64 = 2000;
/// The largest LIMIT `FIELDS(ALL)` and `FIELDS(CUSTOM)` accept.
pub const MAX_FIELDS_LIMIT: u64 = 200;

/// Parses and compiles `text` against `schema`.
pub fn compile_query(text: &str, schema: &dyn Schema) -> Result<CompiledQuery, SoqlError> {
    let query = parse_query(text)?;
    let Some(root) = schema.object(&query.object) else {
        return Err(SoqlError::at(
            SoqlErrorCode::InvalidType,
            text,
            query.object_start,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to \
                 append the '__c' after the entity name. Please reference your WSDL or the describe call for the \
                 appropriate names.",
                query.object
            ),
        ));
    };
    let resolver = Resolver {
        query: text,
        schema,
        root,
    };
    let selection = compile_selection(&resolver, &query)?;
    let predicate = match &query.condition {
        Some(condition) => Some(compile_condition(&resolver, condition, true)?),
        None => None,
    };
    let order = compile_order(&resolver, &query)?;
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

fn compile_selection(resolver: &Resolver<'_>, query: &Query) -> Result<Selection, SoqlError> {
    let has_count = query
        .select
        .iter()
        .any(|item| matches!(item, SelectItem::Count { .. }));
    if has_count {
        return compile_counts(resolver, query);
    }
    let mut fields: Vec<ResolvedField> = Vec::new();
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
        };
        for resolved in resolved_items {
            let column = resolved.column_name();
            if !seen.insert(column.to_ascii_lowercase()) {
                return Err(SoqlError::plain(
                    SoqlErrorCode::InvalidField,
                    format!("duplicate field selected: {column}"),
                ));
            }
            fields.push(resolved);
        }
    }
    let mut output = OutputNode::default();
    for resolved in &fields {
        insert_output(&mut output, &resolved.hops, &resolved.leaf);
    }
    let columns = fields
        .iter()
        .map(|resolved| (resolved.column_name(), resolved.field_ref.clone()))
        .collect();
    Ok(Selection::Fields { columns, output })
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
        }
    }
    Ok(Selection::Aggregate(columns))
}
