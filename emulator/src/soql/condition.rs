//! Standalone boolean conditions over one record, for validation rules
//! (`Amount < 0 AND StageName = 'Closed Won'`, `ISBLANK(Email)`): same grammar and evaluator as WHERE.

use chrono::{DateTime, Utc};

use super::error::SoqlError;
use super::filter::compile_condition;
use super::parser::parse_condition;
use super::plan::Predicate;
use super::resolve::Resolver;
use super::schema::{RecordSource, Schema};

/// A condition compiled against one object's metadata.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    object: String,
    predicate: Predicate,
}

impl CompiledCondition {
    /// Parses `text` and resolves its fields on `object` (paths through lookups are allowed).
    /// Unlike a WHERE clause, non-filterable fields may be read.
    pub fn compile(
        text: &str,
        object: &str,
        schema: &dyn Schema,
    ) -> Result<CompiledCondition, SoqlError> {
        let condition = parse_condition(text)?;
        let Some(root) = schema.object(object) else {
            return Err(SoqlError::plain(
                super::error::SoqlErrorCode::InvalidType,
                format!("sObject type '{object}' is not supported."),
            ));
        };
        let resolver = Resolver {
            query: text,
            schema,
            root,
        };
        let predicate = compile_condition(&resolver, &condition)?;
        Ok(CompiledCondition {
            object: root.name().to_string(),
            predicate,
        })
    }

    /// The canonical name of the object the condition was compiled for.
    pub fn object_name(&self) -> &str {
        &self.object
    }

    /// True if `record` (a record of the compiled object) satisfies the condition at moment `now`.
    pub fn evaluate<S: RecordSource>(
        &self,
        source: &S,
        record: &S::Record,
        now: DateTime<Utc>,
    ) -> bool {
        self.predicate.matches(source, record, now.date_naive())
    }
}
