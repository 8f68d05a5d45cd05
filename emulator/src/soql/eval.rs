//! Evaluates compiled predicates on records with SOQL's null and case rules, without allocating
//! per record.

use std::cmp::Ordering;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::ast::CompareOp;
use super::dates::{start_of_day_millis, DateKeyword};
use super::filter::value_set;
use super::ids::{id_order, ids_equal};
use super::plan::{InLookup, Operand, Predicate, Test};
use super::query::ExecuteOptions;
use super::schema::RecordSource;
use super::value::{text_cmp_ci, text_eq_ci, FieldValue};

const MILLIS_PER_DAY: i64 = 86_400_000;

impl Predicate {
    /// A copy ready for one run: every date keyword replaced by the concrete range it covers on the run's day
    /// (so a scan does not recompute calendars per record), every semi-join by the ids its subquery selects.
    pub fn bind<S: RecordSource>(&self, source: &S, options: &ExecuteOptions) -> Predicate {
        let bind_all = |parts: &[Predicate]| {
            parts
                .iter()
                .map(|part| part.bind(source, options))
                .collect()
        };
        match self {
            Predicate::And(parts) => Predicate::And(bind_all(parts)),
            Predicate::Or(parts) => Predicate::Or(bind_all(parts)),
            Predicate::Not(inner) => Predicate::Not(Box::new(inner.bind(source, options))),
            Predicate::Test { field, test } => Predicate::Test {
                field: field.clone(),
                test: bind_test(test, options.now.date_naive()),
            },
            Predicate::SemiJoin(join) => join.bind(source, options),
        }
    }

    /// True if `record` satisfies the predicate; `today` resolves any date keyword left unbound.
    pub fn matches<'a, S: RecordSource>(
        &self,
        source: &'a S,
        record: &'a S::Record,
        today: NaiveDate,
    ) -> bool {
        match self {
            Predicate::And(parts) => parts.iter().all(|part| part.matches(source, record, today)),
            Predicate::Or(parts) => parts.iter().any(|part| part.matches(source, record, today)),
            Predicate::Not(inner) => !inner.matches(source, record, today),
            Predicate::Test { field, test } => test_value(test, &field.read(source, record), today),
            // Only a bound predicate is run; conditions (validation rules) never hold semi-joins.
            Predicate::SemiJoin(_) => false,
        }
    }
}

fn bind_test(test: &Test, today: NaiveDate) -> Test {
    match test {
        Test::Compare { op, operand } => Test::Compare {
            op: *op,
            operand: bind_operand(operand, today),
        },
        Test::In {
            negated,
            operands,
            has_null,
            lookup,
        } => Test::In {
            negated: *negated,
            operands: operands
                .iter()
                .map(|operand| bind_operand(operand, today))
                .collect(),
            has_null: *has_null,
            lookup: *lookup,
        },
        other => other.clone(),
    }
}

fn bind_operand(operand: &Operand, today: NaiveDate) -> Operand {
    match operand {
        Operand::DateKeyword(keyword) => {
            let (first, last) = keyword.day_range(today);
            Operand::DateRange(first, last)
        }
        Operand::DateTimeKeyword(keyword) => datetime_range(*keyword, today),
        other => other.clone(),
    }
}

fn datetime_range(keyword: DateKeyword, today: NaiveDate) -> Operand {
    let (first, last) = keyword.day_range(today);
    Operand::DateTimeRange(
        start_of_day_millis(first),
        start_of_day_millis(last) + MILLIS_PER_DAY,
    )
}

fn test_value(test: &Test, value: &FieldValue<'_>, today: NaiveDate) -> bool {
    let is_null = matches!(value, FieldValue::Null);
    match test {
        Test::IsNull => is_null,
        Test::NotNull => !is_null,
        Test::Blank => value.is_blank(),
        // SOQL's `!=` and `NOT IN` keep records whose field is null.
        Test::Compare { op, .. } if is_null => *op == CompareOp::Ne,
        Test::Compare { op, operand } => compare(value, *op, operand, today),
        Test::In {
            negated, has_null, ..
        } if is_null => *has_null != *negated,
        Test::In {
            negated,
            operands,
            lookup,
            ..
        } => {
            let found = match (lookup, value) {
                (InLookup::SortedText, FieldValue::Text(text)) => operands
                    .binary_search_by(|operand| match operand {
                        Operand::Text(literal) => text_cmp_ci(literal, text),
                        _ => Ordering::Less,
                    })
                    .is_ok(),
                (InLookup::SortedIds, FieldValue::Text(text)) => operands
                    .binary_search_by(|operand| match operand {
                        Operand::Id(literal) => id_order(literal, text),
                        _ => Ordering::Less,
                    })
                    .is_ok(),
                _ => operands
                    .iter()
                    .any(|operand| compare(value, CompareOp::Eq, operand, today)),
            };
            found != *negated
        }
        Test::Like(pattern) => match value {
            FieldValue::Text(text) => pattern.matches(text),
            _ => false,
        },
        Test::Includes { excludes, groups } => {
            let included = match value {
                FieldValue::Text(text) => groups.iter().any(|group| contains_all(text, group)),
                _ => false,
            };
            included != *excludes
        }
    }
}

/// True if every value of `group` is selected in the `;`-separated `selected`.
fn contains_all(selected: &str, group: &[String]) -> bool {
    group.iter().all(|wanted| {
        selected
            .split(';')
            .any(|value| text_eq_ci(value.trim(), wanted))
    })
}

fn holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}

/// Compares a non-null value with an operand; a value of an unexpected type never matches.
fn compare(value: &FieldValue<'_>, op: CompareOp, operand: &Operand, today: NaiveDate) -> bool {
    match (value, operand) {
        (FieldValue::Text(text), Operand::Text(literal)) => match op {
            CompareOp::Eq => text_eq_ci(text, literal),
            CompareOp::Ne => !text_eq_ci(text, literal),
            _ => holds(op, text_cmp_ci(text, literal)),
        },
        (FieldValue::Text(text), Operand::Id(literal)) => match op {
            CompareOp::Eq => ids_equal(text, literal),
            CompareOp::Ne => !ids_equal(text, literal),
            _ => holds(op, text.cmp(&literal.as_str())),
        },
        (FieldValue::Text(text), Operand::ValueSet(wanted)) => {
            let equal = same_set(text, wanted);
            if op == CompareOp::Ne {
                !equal
            } else {
                equal
            }
        }
        (FieldValue::Int(number), Operand::Number(literal)) => {
            holds(op, Decimal::from(*number).cmp(literal))
        }
        (FieldValue::Decimal(number), Operand::Number(literal)) => holds(op, number.cmp(literal)),
        (FieldValue::Bool(flag), Operand::Bool(literal)) => holds(op, flag.cmp(literal)),
        (FieldValue::Date(date), Operand::Date(literal)) => holds(op, date.cmp(literal)),
        (FieldValue::DateTime(millis), Operand::DateTime(literal)) => {
            holds(op, millis.cmp(literal))
        }
        (FieldValue::Date(date), Operand::DateRange(first, last)) => {
            in_range(op, date.cmp(first), date.cmp(last))
        }
        (FieldValue::DateTime(millis), Operand::DateTimeRange(start, end)) => {
            // `end` is exclusive: compare against the last millisecond of the range.
            in_range(op, millis.cmp(start), millis.cmp(&(end - 1)))
        }
        (FieldValue::Date(_), Operand::DateKeyword(keyword)) => {
            let (first, last) = keyword.day_range(today);
            compare(value, op, &Operand::DateRange(first, last), today)
        }
        (FieldValue::DateTime(_), Operand::DateTimeKeyword(keyword)) => {
            compare(value, op, &datetime_range(*keyword, today), today)
        }
        _ => false,
    }
}

/// A range literal: `=` means inside, `<` before the start, `>` after the end, and so on.
fn in_range(op: CompareOp, versus_start: Ordering, versus_end: Ordering) -> bool {
    let inside = versus_start != Ordering::Less && versus_end != Ordering::Greater;
    match op {
        CompareOp::Eq => inside,
        CompareOp::Ne => !inside,
        CompareOp::Lt => versus_start == Ordering::Less,
        CompareOp::Le => versus_end != Ordering::Greater,
        CompareOp::Gt => versus_end == Ordering::Greater,
        CompareOp::Ge => versus_start != Ordering::Less,
    }
}

fn same_set(selected: &str, wanted: &[String]) -> bool {
    // Multi-select values are few; the allocation only happens for multipicklist equality.
    value_set(selected) == wanted
}
