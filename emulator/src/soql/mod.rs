//! The emulator's SOQL engine: a hand-written lexer and recursive-descent parser, a compiler that
//! resolves a query against object metadata once, and an evaluator that runs it over the store's
//! records (`query`/`queryAll`) or checks a validation-rule condition on one record.
//!
//! The store implements [`Schema`] (metadata) and [`RecordSource`] (records); then:
//! ```text
//! let query = CompiledQuery::compile("SELECT Id, Account.Name FROM Contact WHERE ...", &store)?;
//! let result = query.execute(&store, &ExecuteOptions { include_deleted: false, now });
//! let total = result.total_size;                              // REST `totalSize`
//! let records = query.json_records(&store, &result, "62.0");  // REST `records` (or page with
//!                                                             // `json_record` over a slice)
//! let columns = query.columns();                              // Bulk CSV header
//! let cells = query.flat_row(&store, record);                 // Bulk CSV row (`to_csv_text`)
//!
//! let rule = CompiledCondition::compile("Amount < 0 AND ISBLANK(Reason__c)", "Opportunity", &store)?;
//! let fails = rule.evaluate(&store, record, now);
//! ```
//! How the store implements the traits: keep one [`ObjectMeta`] per object (built with
//! [`ObjectMeta::from_describe`] from the describe JSON), keep each record's values in a vector in
//! that object's field order, answer [`RecordSource::value`] by index, and [`RecordSource::parent`]
//! by looking up the id stored in the reference field. Metadata changes (fields added or dropped)
//! change indexes: recompile cached queries and validation rules after them.
//! Errors are [`SoqlError`]s carrying Salesforce's `errorCode` and message text.
mod ast;
mod children;
mod compile;
mod condition;
mod dates;
mod describe;
mod error;
mod eval;
mod filter;
mod ids;
mod lexer;
mod like;
mod parser;
mod plan;
mod query;
mod resolve;
mod schema;
mod semi_join;
mod value;
mod write_json;

#[cfg(test)]
mod memory_source;
#[cfg(test)]
mod subquery_tests;
#[cfg(test)]
mod tests;

pub use compile::{compile_query, MAX_FIELDS_LIMIT, MAX_OFFSET};
pub use condition::CompiledCondition;
pub use dates::DateKeyword;
pub use describe::DescribeError;
pub use error::{SoqlError, SoqlErrorCode};
pub use ids::widen_id;
pub use query::{ColumnNode, CompiledQuery, ExecuteOptions, QueryResult, QueryRows, Render};
pub use schema::{
    ChildRelationshipMeta, FieldMeta, FieldType, ObjectMeta, ParentRecord, RecordSource, Schema,
};
pub use value::{format_date, format_datetime, format_time, Address, FieldValue};
