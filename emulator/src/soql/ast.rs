//! The syntax tree the parser produces: names as written, with byte offsets for error carets.

use super::dates::DateKeyword;

/// `Name`, `Account.Name`, `Account.Owner.Name` as written, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPath {
    pub segments: Vec<String>,
    pub start: usize,
}

impl FieldPath {
    /// The path as written, segments joined with dots.
    pub fn text(&self) -> String {
        self.segments.join(".")
    }
}

/// Which fields `FIELDS(...)` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsGroup {
    All,
    Standard,
    Custom,
}

/// One entry of the SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Field(FieldPath),
    Fields {
        group: FieldsGroup,
        start: usize,
    },
    /// `COUNT()` when `field` is `None`, else `COUNT(field) [alias]`.
    Count {
        field: Option<FieldPath>,
        alias: Option<String>,
        start: usize,
    },
    /// `(SELECT ... FROM Contacts ...)`: a parent-to-child subquery; its `object` is the child relationship name.
    Children(Box<Query>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum LiteralKind {
    Null,
    Bool(bool),
    Number(String),
    Str { value: String, raw: String },
    Date(String),
    DateTime(String),
    DateKeyword(DateKeyword),
}

/// A literal and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub start: usize,
}

/// A WHERE condition (or a validation rule condition).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        field: FieldPath,
        op: CompareOp,
        value: Literal,
    },
    In {
        field: FieldPath,
        negated: bool,
        values: Vec<Literal>,
    },
    Like {
        field: FieldPath,
        pattern: Literal,
    },
    /// `INCLUDES (...)`, or `EXCLUDES (...)` when `excludes` is set.
    Includes {
        field: FieldPath,
        excludes: bool,
        values: Vec<Literal>,
    },
    /// `field IN (SELECT ...)`, or `NOT IN` when `negated`: a semi-join (anti-join).
    InQuery {
        field: FieldPath,
        negated: bool,
        query: Box<Query>,
    },
    /// `ISBLANK(field)` (validation rule conditions only).
    IsBlank {
        field: FieldPath,
    },
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub field: FieldPath,
    pub descending: bool,
    /// `Some(true)` for NULLS FIRST, `Some(false)` for NULLS LAST, `None` for the default.
    pub nulls_first: Option<bool>,
}

/// A number with where it was written (LIMIT, OFFSET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positioned {
    pub value: u64,
    pub start: usize,
}

/// A whole SELECT statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Where its `SELECT` keyword is.
    pub start: usize,
    pub select: Vec<SelectItem>,
    pub object: String,
    pub object_start: usize,
    pub condition: Option<Condition>,
    pub order: Vec<OrderItem>,
    pub limit: Option<Positioned>,
    pub offset: Option<Positioned>,
}
