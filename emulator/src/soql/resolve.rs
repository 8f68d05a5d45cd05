//! Resolves field paths (`Name`, `Account.Owner.Name`) against object metadata, with Salesforce's
//! `No such column` and `Didn't understand relationship` errors.

use super::ast::FieldPath;
use super::error::{SoqlError, SoqlErrorCode};
use super::plan::{FieldRef, Step};
use super::schema::{FieldMeta, ObjectMeta, Schema};

/// A resolved path: how to read it, the field it ends at, and the canonical names along it.
#[derive(Debug, Clone)]
pub struct ResolvedField {
    pub field_ref: FieldRef,
    pub meta: FieldMeta,
    /// Relationship hops, each as (canonical relationship name, lookup field step).
    pub hops: Vec<(String, Step)>,
    /// The final field as a step relative to the last object reached.
    pub leaf: Step,
}

impl ResolvedField {
    /// `Account.Owner.Name` with canonical spelling: the CSV column and the duplicate check key.
    pub fn column_name(&self) -> String {
        let mut parts: Vec<&str> = self.hops.iter().map(|(name, _)| name.as_str()).collect();
        parts.push(&self.meta.name);
        parts.join(".")
    }
}

/// Resolves paths of one query against its root object.
pub struct Resolver<'s> {
    pub query: &'s str,
    pub schema: &'s dyn Schema,
    pub root: &'s ObjectMeta,
}

impl Resolver<'_> {
    pub fn resolve(&self, path: &FieldPath) -> Result<ResolvedField, SoqlError> {
        let mut segments: &[String] = &path.segments;
        // `SELECT Account.Name FROM Account` qualifies a field with the object's own name.
        if segments.len() > 1
            && segments[0].eq_ignore_ascii_case(self.root.name())
            && self.root.relationship_field(&segments[0]).is_none()
        {
            segments = &segments[1..];
        }
        let Some((leaf_name, relationships)) = segments.split_last() else {
            return Err(self.no_such_column(path, "", self.root));
        };
        let mut current = self.root;
        let mut hops = Vec::with_capacity(relationships.len());
        for (position, relationship) in relationships.iter().enumerate() {
            let Some(reference_index) = current.relationship_field(relationship) else {
                return Err(self.bad_relationship(path, relationship));
            };
            let reference = &current.fields()[reference_index];
            let next_segment = segments[position + 1].as_str();
            let is_last_hop = position + 1 == relationships.len();
            let Some(target) = self.pick_target(reference, next_segment, is_last_hop) else {
                return Err(self.bad_relationship(path, relationship));
            };
            hops.push((
                reference
                    .relationship_name
                    .clone()
                    .unwrap_or_else(|| relationship.clone()),
                Step {
                    planned_object: current.name().to_string(),
                    index: reference_index,
                    name: reference.name.clone(),
                },
            ));
            current = target;
        }
        let Some(leaf_index) = current.field_index(leaf_name) else {
            return Err(self.no_such_column(path, leaf_name, current));
        };
        let meta = current.fields()[leaf_index].clone();
        let leaf = Step {
            planned_object: current.name().to_string(),
            index: leaf_index,
            name: meta.name.clone(),
        };
        let field_ref = match hops.split_first() {
            None => FieldRef::Direct(leaf_index),
            Some(((_, first), rest)) => {
                let mut steps: Vec<Step> = rest.iter().map(|(_, step)| step.clone()).collect();
                steps.push(leaf.clone());
                FieldRef::Path {
                    reference: first.index,
                    steps,
                }
            }
        };
        Ok(ResolvedField {
            field_ref,
            meta,
            hops,
            leaf,
        })
    }

    /// The target object of a (possibly polymorphic) lookup that has the next path segment.
    fn pick_target(
        &self,
        reference: &FieldMeta,
        next: &str,
        next_is_leaf: bool,
    ) -> Option<&ObjectMeta> {
        let targets: Vec<&ObjectMeta> = reference
            .reference_to
            .iter()
            .filter_map(|name| self.schema.object(name))
            .collect();
        let has_next = |object: &&&ObjectMeta| {
            if next_is_leaf {
                object.field_index(next).is_some()
            } else {
                object.relationship_field(next).is_some()
            }
        };
        targets
            .iter()
            .find(has_next)
            .or_else(|| targets.first())
            .copied()
    }

    fn no_such_column(&self, path: &FieldPath, name: &str, object: &ObjectMeta) -> SoqlError {
        SoqlError::at(
            SoqlErrorCode::InvalidField,
            self.query,
            path.start,
            &format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to \
                 append the '__c' after the custom field name. Please reference your WSDL or the describe call \
                 for the appropriate names.",
                object.name()
            ),
        )
    }

    fn bad_relationship(&self, path: &FieldPath, relationship: &str) -> SoqlError {
        SoqlError::at(
            SoqlErrorCode::InvalidField,
            self.query,
            path.start,
            &format!(
                "Didn't understand relationship '{relationship}' in field path. If you are attempting to use a \
                 custom relationship, be sure to append the '__r' after the custom relationship name. Please \
                 reference your WSDL or the describe call for the appropriate names."
            ),
        )
    }
}
