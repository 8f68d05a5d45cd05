//! Parent-to-child subqueries (`SELECT Name, (SELECT LastName FROM Contacts) FROM Account`): compiling one
//! against a child relationship of the parent, and finding the child records each parent shows.

use super::ast::{Query, SelectItem};
use super::compile::{compile_parsed, Level};
use super::error::{SoqlError, SoqlErrorCode};
use super::query::{CompiledQuery, ExecuteOptions};
use super::resolve::Resolver;
use super::schema::{ObjectMeta, RecordSource};

/// How many levels of parent-to-child relationships a query may have, the root included (API 58.0+).
pub const MAX_LEVELS: usize = 5;

/// A compiled subquery over one child relationship.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildQuery {
    /// The relationship name as the parent's describe spells it: the key the nested result sits under.
    pub relationship: String,
    /// The index, in the child object, of the lookup field pointing at the parent.
    pub reference: usize,
    /// The subquery over the child object (its WHERE, ORDER BY, LIMIT and OFFSET apply per parent).
    pub query: CompiledQuery,
}

impl ChildQuery {
    /// The children of `parent_id` the subquery returns, in result order, with the child object's metadata;
    /// `None` when there are none, which Salesforce writes as `null` rather than an empty result.
    pub fn rows<'a, S: RecordSource>(
        &self,
        source: &'a S,
        parent_id: &str,
        options: &ExecuteOptions,
    ) -> Option<(&'a ObjectMeta, Vec<&'a S::Record>)> {
        let object = source.object(self.query.object_name())?;
        let candidates = source.children(object, self.reference, parent_id);
        if candidates.is_empty() {
            return None;
        }
        let rows = self.query.matching(source, candidates.into_iter(), options);
        (!rows.is_empty()).then_some((object, rows))
    }
}

/// Compiles `inner`, a subquery in the SELECT list of a query over `resolver.root` at `level`.
pub fn compile_children(
    resolver: &Resolver<'_>,
    inner: &Query,
    level: Level,
) -> Result<ChildQuery, SoqlError> {
    let depth = match level {
        Level::Root => 1,
        Level::Child { depth } => depth + 1,
        Level::SemiJoin => return Err(SoqlError::at(
            SoqlErrorCode::MalformedQuery,
            resolver.query,
            inner.start,
            "semi join sub selects can only query id fields, cannot use a relationship subquery",
        )),
    };
    if depth >= MAX_LEVELS {
        return Err(SoqlError::at(
            SoqlErrorCode::MalformedQuery,
            resolver.query,
            inner.start,
            &format!(
                "SOQL statements cannot query more than {MAX_LEVELS} levels of parent-to-child relationships"
            ),
        ));
    }
    if let Some(SelectItem::Count { start, .. }) = inner
        .select
        .iter()
        .find(|item| matches!(item, SelectItem::Count { .. }))
    {
        return Err(SoqlError::at(
            SoqlErrorCode::MalformedQuery,
            resolver.query,
            *start,
            "sfsync-emulator does not support aggregate functions in a parent-to-child subquery",
        ));
    }
    let relationship = resolver.root.child_relationship(&inner.object);
    let target = relationship.and_then(|relationship| {
        let child = resolver.schema.object(&relationship.child_object)?;
        Some((relationship, child, child.field_index(&relationship.field)?))
    });
    let Some((relationship, child, reference)) = target else {
        return Err(SoqlError::at(
            SoqlErrorCode::InvalidType,
            resolver.query,
            inner.object_start,
            &format!(
                "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a \
                 custom relationship, be sure to append the '__r' after the custom relationship name. Please \
                 reference your WSDL or the describe call for the appropriate names.",
                inner.object
            ),
        ));
    };
    let query = compile_parsed(
        resolver.query,
        resolver.schema,
        inner,
        child,
        Level::Child { depth },
    )?;
    Ok(ChildQuery {
        relationship: relationship.name.clone(),
        reference,
        query,
    })
}
