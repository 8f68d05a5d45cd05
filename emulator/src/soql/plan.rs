//! The compiled form of a query: field references resolved to indexes, literals typed, and the
//! shape of the JSON output worked out once, so running it does no name lookups per record.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::ast::CompareOp;
use super::children::ChildQuery;
use super::dates::DateKeyword;
use super::like::LikePattern;
use super::schema::{ObjectMeta, RecordSource};
use super::semi_join::SemiJoin;
use super::value::FieldValue;

/// A field of a parent object, resolved against the object the plan expected there. A polymorphic
/// lookup can lead to another object at run time; then the field is looked up by name instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub planned_object: String,
    pub index: usize,
    pub name: String,
}

impl Step {
    /// The field index in `object`, the record actually reached.
    pub fn index_in(&self, object: &ObjectMeta) -> Option<usize> {
        if object.name() == self.planned_object {
            Some(self.index)
        } else {
            object.field_index(&self.name)
        }
    }
}

/// Where a value comes from, starting at a record of the queried object.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    /// A field of the record itself.
    Direct(usize),
    /// Through the reference field `reference` of the record, then the `steps` (further references,
    /// the last one being the field read).
    Path { reference: usize, steps: Vec<Step> },
}

impl FieldRef {
    /// Reads the value for `record`; `Null` when a parent along the path is missing.
    pub fn read<'a, S: RecordSource>(
        &self,
        source: &'a S,
        record: &'a S::Record,
    ) -> FieldValue<'a> {
        match self {
            FieldRef::Direct(index) => source.value(record, *index),
            FieldRef::Path { reference, steps } => {
                let Some(mut parent) = source.parent(record, *reference) else {
                    return FieldValue::Null;
                };
                let Some((last, hops)) = steps.split_last() else {
                    return FieldValue::Null;
                };
                for hop in hops {
                    let Some(index) = hop.index_in(parent.object) else {
                        return FieldValue::Null;
                    };
                    let Some(next) = source.parent(parent.record, index) else {
                        return FieldValue::Null;
                    };
                    parent = next;
                }
                match last.index_in(parent.object) {
                    Some(index) => source.value(parent.record, index),
                    None => FieldValue::Null,
                }
            }
        }
    }
}

/// A typed literal a field value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    /// An 18-character id (15-character literals are widened at compile time).
    Id(String),
    Number(Decimal),
    Bool(bool),
    Date(NaiveDate),
    /// Milliseconds since the epoch, UTC.
    DateTime(i64),
    /// A date keyword against a date field, resolved per run (or per evaluation).
    DateKeyword(DateKeyword),
    /// A date keyword against a datetime field: the whole UTC days it covers.
    DateTimeKeyword(DateKeyword),
    /// A resolved date keyword: first and last day, inclusive.
    DateRange(NaiveDate, NaiveDate),
    /// A resolved date keyword on a datetime field: `[start, end)` in milliseconds.
    DateTimeRange(i64, i64),
    /// A multi-select picklist value set (`'a;b'`), lower-cased and sorted, compared as a set.
    ValueSet(Vec<String>),
}

/// How an IN list is searched: long lists of text or ids are sorted once at compile time so each
/// record costs a binary search instead of a scan of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InLookup {
    Scan,
    /// All operands are `Operand::Text`, sorted case-insensitively.
    SortedText,
    /// All operands are `Operand::Id`, sorted by [`super::ids::id_order`].
    SortedIds,
}

/// What is checked on a field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    IsNull,
    NotNull,
    /// Null or empty text (`= ''`, `ISBLANK`).
    Blank,
    Compare {
        op: CompareOp,
        operand: Operand,
    },
    In {
        negated: bool,
        operands: Vec<Operand>,
        has_null: bool,
        lookup: InLookup,
    },
    Like(LikePattern),
    /// Each group is a `;`-separated set that must all be selected; any group matching is enough.
    Includes {
        excludes: bool,
        groups: Vec<Vec<String>>,
    },
}

/// A compiled boolean condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    Test {
        field: FieldRef,
        test: Test,
    },
    /// `Id IN (SELECT AccountId FROM Contact ...)`: becomes an id `Test::In` once bound to the records.
    SemiJoin(Box<SemiJoin>),
}

/// One ORDER BY key with its null placement already decided.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: FieldRef,
    pub descending: bool,
    pub nulls_first: bool,
}

/// One entry of a JSON record, in SELECT order.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputEntry {
    Value {
        key: String,
        step: Step,
    },
    /// A nested parent record under its relationship name; `reference` is the lookup field.
    Parent {
        key: String,
        reference: Step,
        node: OutputNode,
    },
    /// A parent-to-child subquery's nested QueryResult (or `null`) under the child relationship name.
    Children {
        key: String,
        child: Box<ChildQuery>,
    },
}

/// The JSON shape of one record level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputNode {
    pub entries: Vec<OutputEntry>,
}

/// One `COUNT(field)` column of an aggregate query.
#[derive(Debug, Clone, PartialEq)]
pub struct CountColumn {
    pub key: String,
    /// The function as the query names it, canonically spelled: `COUNT(Account.Name)`.
    pub display: String,
    /// `None` for `COUNT(Id)`, which counts rows.
    pub field: Option<FieldRef>,
}

/// What the SELECT list asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Plain fields: `columns` in SELECT order (for CSV), `output` for the nested JSON.
    Fields {
        columns: Vec<(String, FieldRef)>,
        output: OutputNode,
    },
    /// `COUNT()`: only `totalSize`.
    CountRows,
    /// `COUNT(field)`, ...: one `AggregateResult` record.
    Aggregate(Vec<CountColumn>),
}
