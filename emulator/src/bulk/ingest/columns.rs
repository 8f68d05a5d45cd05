//! Maps an upload's header row onto the job's object: plain fields (`Name`), relationship columns that name a
//! parent by an indexed field (`Account.Ext_Id__c`, polymorphic `Owner:User.Username`), and the row key the
//! operation needs (`Id`, or the upsert's external id field). An unknown column fails the job.

use thiserror::Error;

use crate::store::{FieldType, ObjectSchema, Org};

/// Why a header does not fit the object; the text becomes the job's `errorMessage`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ColumnError {
    #[error("InvalidBatch : Field name not found : {0}")]
    UnknownField(String),
    #[error("InvalidBatch : Relationship {column}: {reason}")]
    BadRelationship { column: String, reason: String },
    #[error("InvalidJob : The object {0} no longer exists")]
    UnknownObject(String),
}

/// What one CSV column writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// A field of the object: canonical name and type.
    Field { name: String, field_type: FieldType },
    /// `Rel.Key` / `Type:Rel.Key`: the reference field, its relationship name, the parent type when given, and the
    /// parent's key field.
    Relationship {
        reference_field: String,
        relationship: String,
        parent_type: Option<String>,
        key_field: String,
    },
}

/// The resolved header of an upload.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    pub object: usize,
    pub columns: Vec<Column>,
}

impl ColumnPlan {
    /// Position of the column that writes field `name` directly (case-insensitive).
    pub fn position_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| match column {
            Column::Field { name: field, .. } => field.eq_ignore_ascii_case(name),
            Column::Relationship { .. } => false,
        })
    }
}

/// Resolves `header` against the object called `object_name`.
pub fn plan_columns<'h>(
    org: &Org,
    object_name: &str,
    header: impl IntoIterator<Item = &'h str>,
) -> Result<ColumnPlan, ColumnError> {
    let object = org
        .object_index(object_name)
        .ok_or_else(|| ColumnError::UnknownObject(object_name.to_string()))?;
    let schema = &org.object_at(object).schema;
    let columns = header
        .into_iter()
        .map(|name| resolve_column(org, schema, name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ColumnPlan { object, columns })
}

fn resolve_column(org: &Org, schema: &ObjectSchema, column: &str) -> Result<Column, ColumnError> {
    if let Some(field) = schema.field(column) {
        return Ok(Column::Field {
            name: field.name.to_string(),
            field_type: field.field_type,
        });
    }
    let Some((path, key)) = column.split_once('.') else {
        return Err(ColumnError::UnknownField(column.to_string()));
    };
    let bad = |reason: String| ColumnError::BadRelationship {
        column: column.to_string(),
        reason,
    };
    // The documented polymorphic form is `Type:Relationship`; `Relationship:Type` is accepted too.
    let (parent_type, relationship) = match path.split_once(':') {
        Some((first, second)) if schema.relationship_field(second).is_some() => {
            (Some(first), second)
        }
        Some((first, second)) => (Some(second), first),
        None => (None, path),
    };
    let reference = schema
        .relationship_field(relationship)
        .ok_or_else(|| ColumnError::UnknownField(column.to_string()))?;
    let reference_field = &schema.fields[reference];
    if key.contains('.') {
        return Err(bad(
            "a relationship column cannot reach a grandparent".to_string()
        ));
    }
    let target_name = match parent_type {
        Some(given) => reference_field
            .reference_to
            .iter()
            .find(|target| target.eq_ignore_ascii_case(given))
            .cloned()
            .ok_or_else(|| bad(format!("{} cannot point at {given}", reference_field.name)))?,
        None => reference_field
            .reference_to
            .first()
            .cloned()
            .ok_or_else(|| bad(format!("{} has no target object", reference_field.name)))?,
    };
    let target = org
        .object(&target_name)
        .ok_or_else(|| bad(format!("object {target_name} does not exist")))?;
    let key_field = target
        .schema
        .field(key)
        .ok_or_else(|| bad(format!("no field {key} on {target_name}")))?;
    Ok(Column::Relationship {
        reference_field: reference_field.name.to_string(),
        relationship: reference_field
            .relationship_name
            .clone()
            .unwrap_or_else(|| relationship.to_string()),
        parent_type: parent_type.map(|_| target.schema.name.to_string()),
        key_field: key_field.name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_relationships_resolve_case_insensitively() {
        let org = Org::new("admin@x").expect("org");
        let plan = plan_columns(
            &org,
            "contact",
            [
                "lastname",
                "Account.Name",
                "User:Owner.Username",
                "ReportsTo.Email",
                "Owner:User.Id",
            ],
        )
        .expect("plan");
        assert_eq!(
            plan.columns[0],
            Column::Field {
                name: "LastName".into(),
                field_type: FieldType::String
            }
        );
        assert!(matches!(
            &plan.columns[1],
            Column::Relationship { reference_field, key_field, parent_type: None, .. }
                if reference_field == "AccountId" && key_field == "Name"
        ));
        assert!(matches!(
            &plan.columns[2],
            Column::Relationship { parent_type: Some(t), key_field, .. } if t == "User" && key_field == "Username"
        ));
        assert_eq!(plan.columns[4], {
            let mut same = plan.columns[2].clone();
            if let Column::Relationship { key_field, .. } = &mut same {
                *key_field = "Id".into();
            }
            same
        });
        assert_eq!(plan.position_of("LASTNAME"), Some(0));
    }

    #[test]
    fn unknown_columns_fail() {
        let org = Org::new("admin@x").expect("org");
        let error = plan_columns(&org, "Account", ["Name", "Nope__c"]).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "InvalidBatch : Field name not found : Nope__c"
        );
        assert!(matches!(
            plan_columns(&org, "Contact", ["Account.Owner.Name"]),
            Err(ColumnError::BadRelationship { .. })
        ));
        assert!(matches!(
            plan_columns(&org, "Contact", ["Account.NoSuch"]),
            Err(ColumnError::BadRelationship { .. })
        ));
        assert!(matches!(
            plan_columns(&org, "Nope__c", ["Name"]),
            Err(ColumnError::UnknownObject(_))
        ));
    }
}
