//! Semi-joins and anti-joins (`WHERE Id IN (SELECT AccountId FROM Contact ...)`, `NOT IN`): compiling one with
//! Salesforce's documented restrictions, and binding it to the ids its inner SELECT returns when a query runs.

use super::ast::{FieldPath, Query, SelectItem};
use super::compile::{compile_parsed, object_named, Level};
use super::error::{SoqlError, SoqlErrorCode};
use super::ids::id_order;
use super::plan::{FieldRef, InLookup, Operand, Predicate, Test};
use super::query::{CompiledQuery, ExecuteOptions, QueryRows};
use super::resolve::{ResolvedField, Resolver};
use super::schema::{FieldType, ObjectMeta, RecordSource};
use super::value::FieldValue;

/// At most this many semi-joins and anti-joins in one WHERE clause.
pub const MAX_SEMI_JOINS: usize = 2;

/// A compiled semi-join: the outer field, and the inner query whose single selected id field it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct SemiJoin {
    pub field: FieldRef,
    pub negated: bool,
    pub query: CompiledQuery,
    pub selected: FieldRef,
}

impl SemiJoin {
    /// The join as an id list test, with the ids the inner query selects now (sorted for binary search).
    pub fn bind<S: RecordSource>(&self, source: &S, options: &ExecuteOptions) -> Predicate {
        let result = self.query.execute(source, options);
        let mut ids: Vec<String> = match &result.rows {
            QueryRows::Records(records) => records
                .iter()
                .filter_map(|record| match self.selected.read(source, record) {
                    FieldValue::Text(id) => Some(id.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        ids.sort_by(|left, right| id_order(left, right));
        ids.dedup_by(|left, right| id_order(left, right).is_eq());
        Predicate::Test {
            field: self.field.clone(),
            test: Test::In {
                negated: self.negated,
                operands: ids.into_iter().map(Operand::Id).collect(),
                has_null: false,
                lookup: InLookup::SortedIds,
            },
        }
    }
}

fn malformed(resolver: &Resolver<'_>, at: usize, reason: &str) -> SoqlError {
    SoqlError::at(SoqlErrorCode::MalformedQuery, resolver.query, at, reason)
}

/// The objects an id field's values belong to: its own object for `Id`, the targets of a lookup.
fn id_targets(object: &ObjectMeta, resolved: &ResolvedField) -> Vec<String> {
    match resolved.meta.field_type {
        FieldType::Id => vec![object.name().to_string()],
        _ => resolved.meta.reference_to.clone(),
    }
}

/// Compiles `path [NOT] IN (inner)` in the WHERE clause of a query over `resolver.root`.
pub fn compile_semi_join(
    resolver: &Resolver<'_>,
    path: &FieldPath,
    negated: bool,
    inner: &Query,
) -> Result<Predicate, SoqlError> {
    let left = resolver.resolve(path)?;
    if !left.hops.is_empty() || !left.meta.field_type.is_id() {
        return Err(malformed(
            resolver,
            path.start,
            &format!(
                "The left operand of a semi join or anti join must be an id or reference field of {}, cannot use: \
                 '{}'",
                resolver.root.name(),
                path.text()
            ),
        ));
    }
    let inner_object = object_named(
        resolver.query,
        resolver.schema,
        &inner.object,
        inner.object_start,
    )?;
    if inner_object.name() == resolver.root.name() {
        return Err(malformed(
            resolver,
            inner.object_start,
            "The inner and outer selects should not be on the same object type",
        ));
    }
    let selected_path = match inner.select.as_slice() {
        [SelectItem::Field(selected)] => selected,
        _ => {
            return Err(malformed(
                resolver,
                inner.start,
                "semi join sub selects must select exactly one id field",
            ))
        }
    };
    if let Some(keyword) = [
        (!inner.order.is_empty()).then_some("ORDER BY"),
        inner.limit.map(|_| "LIMIT"),
        inner.offset.map(|_| "OFFSET"),
    ]
    .into_iter()
    .flatten()
    .next()
    {
        return Err(malformed(
            resolver,
            inner.start,
            &format!("{keyword} is not supported in semi join sub selects"),
        ));
    }
    let inner_resolver = Resolver {
        query: resolver.query,
        schema: resolver.schema,
        root: inner_object,
    };
    let selected = inner_resolver.resolve(selected_path)?;
    if !selected.hops.is_empty() || !selected.meta.field_type.is_id() {
        return Err(malformed(
            resolver,
            selected_path.start,
            &format!(
                "semi join sub selects can only query id fields, cannot use: '{}'",
                selected_path.text()
            ),
        ));
    }
    let outer_targets = id_targets(resolver.root, &left);
    let shares_target = id_targets(inner_object, &selected).iter().any(|target| {
        outer_targets
            .iter()
            .any(|outer| outer.eq_ignore_ascii_case(target))
    });
    if !shares_target {
        return Err(SoqlError::at(
            SoqlErrorCode::InvalidField,
            resolver.query,
            selected_path.start,
            &format!(
                "The selected field '{}' in the subquery and the left operand field '{}' in the where \
                 expression in the outer query must point to the same object type",
                selected.meta.name, left.meta.name
            ),
        ));
    }
    let query = compile_parsed(
        resolver.query,
        resolver.schema,
        inner,
        inner_object,
        Level::SemiJoin,
    )?;
    Ok(Predicate::SemiJoin(Box::new(SemiJoin {
        field: left.field_ref,
        negated,
        query,
        selected: selected.field_ref,
    })))
}
