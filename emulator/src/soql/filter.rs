//! Compiles WHERE conditions: resolves fields, checks Salesforce's type and operator rules, and
//! turns literals into typed operands.

use std::cell::Cell;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;

use super::ast::{CompareOp, Condition, FieldPath, Literal, LiteralKind, Query};
use super::compile::Level;
use super::error::{SoqlError, SoqlErrorCode};
use super::ids::{id_order, widen_id};
use super::like::LikePattern;
use super::plan::{InLookup, Operand, Predicate, Test};
use super::resolve::{ResolvedField, Resolver};
use super::schema::FieldType;
use super::semi_join::{compile_semi_join, MAX_SEMI_JOINS};
use super::value::text_cmp_ci;

/// Compiles a validation rule's condition, which may read any field (filterable or not).
pub fn compile_condition(
    resolver: &Resolver<'_>,
    condition: &Condition,
) -> Result<Predicate, SoqlError> {
    let compiler = FilterCompiler {
        resolver,
        check_filterable: false,
        level: None,
        semi_joins: Cell::new(0),
    };
    compiler.compile(condition, Place::Top)
}

/// Compiles the WHERE clause of a SELECT at `level`.
pub fn compile_where(
    resolver: &Resolver<'_>,
    condition: &Condition,
    level: Level,
) -> Result<Predicate, SoqlError> {
    let compiler = FilterCompiler {
        resolver,
        check_filterable: true,
        level: Some(level),
        semi_joins: Cell::new(0),
    };
    compiler.compile(condition, Place::Top)
}

/// Where a condition sits in the WHERE tree: semi-joins are only allowed at the top, alone or ANDed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    TopAnd,
    UnderOr,
    UnderNot,
    Nested,
}

impl Place {
    /// The place of the operands of an AND found here.
    fn and_operands(self) -> Place {
        match self {
            Place::Top => Place::TopAnd,
            Place::TopAnd => Place::Nested,
            other => other,
        }
    }
}

struct FilterCompiler<'r, 's> {
    resolver: &'r Resolver<'s>,
    check_filterable: bool,
    /// The SELECT the WHERE belongs to; `None` for a validation rule.
    level: Option<Level>,
    semi_joins: Cell<usize>,
}

/// A predicate that never holds (an empty OR).
fn never() -> Predicate {
    Predicate::Or(Vec::new())
}

impl FilterCompiler<'_, '_> {
    fn compile(&self, condition: &Condition, place: Place) -> Result<Predicate, SoqlError> {
        match condition {
            Condition::And(parts) => Ok(Predicate::And(
                self.compile_all(parts, place.and_operands())?,
            )),
            Condition::Or(parts) => Ok(Predicate::Or(self.compile_all(parts, Place::UnderOr)?)),
            Condition::Not(inner) => Ok(Predicate::Not(Box::new(
                self.compile(inner, Place::UnderNot)?,
            ))),
            Condition::IsBlank { field } => {
                let resolved = self.resolver.resolve(field)?;
                Ok(Predicate::Test {
                    field: resolved.field_ref,
                    test: Test::Blank,
                })
            }
            Condition::Compare { field, op, value } => self.compare(field, *op, value),
            Condition::In {
                field,
                negated,
                values,
            } => self.in_list(field, *negated, values),
            Condition::InQuery {
                field,
                negated,
                query,
            } => self.semi_join(field, *negated, query, place),
            Condition::Like { field, pattern } => self.like(field, pattern),
            Condition::Includes {
                field,
                excludes,
                values,
            } => self.includes(field, *excludes, values),
        }
    }

    /// Checks where a semi-join sits (Salesforce's restrictions) before compiling it.
    fn semi_join(
        &self,
        path: &FieldPath,
        negated: bool,
        query: &Query,
        place: Place,
    ) -> Result<Predicate, SoqlError> {
        let refusal = match (self.level, place) {
            (Some(Level::SemiJoin), _) => Some("Nesting of semi join sub-selects is not supported"),
            (Some(Level::Root), Place::UnderOr) => {
                Some("Semi join sub-selects are not allowed with the 'OR' operator")
            }
            (Some(Level::Root), Place::UnderNot) => Some(
                "Semi join sub-selects are not allowed with the 'NOT' operator: write NOT IN instead",
            ),
            (Some(Level::Root), Place::Top | Place::TopAnd) => None,
            _ => Some(
                "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested \
                 WHERE expressions.",
            ),
        };
        if let Some(reason) = refusal {
            return Err(self.error_at(SoqlErrorCode::MalformedQuery, query.start, reason));
        }
        self.semi_joins.set(self.semi_joins.get() + 1);
        if self.semi_joins.get() > MAX_SEMI_JOINS {
            return Err(self.error_at(
                SoqlErrorCode::MalformedQuery,
                query.start,
                &format!("No more than {MAX_SEMI_JOINS} semi join or anti join sub-selects are allowed in a WHERE clause"),
            ));
        }
        compile_semi_join(self.resolver, path, negated, query)
    }

    fn compile_all(&self, parts: &[Condition], place: Place) -> Result<Vec<Predicate>, SoqlError> {
        parts.iter().map(|part| self.compile(part, place)).collect()
    }

    fn filterable(&self, path: &FieldPath) -> Result<ResolvedField, SoqlError> {
        let resolved = self.resolver.resolve(path)?;
        if self.check_filterable && !resolved.meta.filterable {
            return Err(self.error_at(
                SoqlErrorCode::InvalidField,
                path.start,
                &format!(
                    "field '{}' can not be filtered in a query call",
                    resolved.meta.name
                ),
            ));
        }
        Ok(resolved)
    }

    fn error_at(&self, code: SoqlErrorCode, at: usize, reason: &str) -> SoqlError {
        SoqlError::at(code, self.resolver.query, at, reason)
    }

    fn type_error(&self, path: &FieldPath, field_type: FieldType) -> SoqlError {
        let quoting = if field_type.is_text() || field_type.is_id() {
            "should be enclosed in quotes"
        } else {
            "should not be enclosed in quotes"
        };
        self.error_at(
            SoqlErrorCode::InvalidField,
            path.start,
            &format!(
                "value of filter criterion for field '{}' must be of type {} and {quoting}",
                path.text(),
                field_type.soap_name()
            ),
        )
    }

    fn operator_error(&self, path: &FieldPath, field_type: FieldType) -> SoqlError {
        self.error_at(
            SoqlErrorCode::InvalidQueryFilterOperator,
            path.start,
            &format!("invalid operator on {} field", field_type.describe_name()),
        )
    }

    fn compare(
        &self,
        path: &FieldPath,
        op: CompareOp,
        literal: &Literal,
    ) -> Result<Predicate, SoqlError> {
        let resolved = self.filterable(path)?;
        let field_type = resolved.meta.field_type;
        let ordering = !matches!(op, CompareOp::Eq | CompareOp::Ne);
        if ordering && matches!(field_type, FieldType::Boolean | FieldType::MultiPicklist) {
            return Err(self.operator_error(path, field_type));
        }
        let operand = self.operand(path, field_type, literal)?;
        let test = match (operand, op) {
            (None, CompareOp::Eq) => Test::IsNull,
            (None, CompareOp::Ne) => Test::NotNull,
            (None, _) => return Ok(never()),
            (Some(Operand::Text(text)), CompareOp::Eq) if text.is_empty() => Test::Blank,
            (Some(Operand::Text(text)), CompareOp::Ne) if text.is_empty() => {
                return Ok(Predicate::Not(Box::new(Predicate::Test {
                    field: resolved.field_ref,
                    test: Test::Blank,
                })))
            }
            (Some(operand), op) => Test::Compare { op, operand },
        };
        Ok(Predicate::Test {
            field: resolved.field_ref,
            test,
        })
    }

    fn in_list(
        &self,
        path: &FieldPath,
        negated: bool,
        literals: &[Literal],
    ) -> Result<Predicate, SoqlError> {
        let resolved = self.filterable(path)?;
        let field_type = resolved.meta.field_type;
        let mut operands = Vec::with_capacity(literals.len());
        let mut has_null = false;
        for literal in literals {
            match self.operand(path, field_type, literal)? {
                None => has_null = true,
                Some(Operand::Text(text)) if text.is_empty() => has_null = true,
                Some(operand) => operands.push(operand),
            }
        }
        let lookup = sort_for_lookup(&mut operands);
        Ok(Predicate::Test {
            field: resolved.field_ref,
            test: Test::In {
                negated,
                operands,
                has_null,
                lookup,
            },
        })
    }

    fn like(&self, path: &FieldPath, pattern: &Literal) -> Result<Predicate, SoqlError> {
        let resolved = self.filterable(path)?;
        let field_type = resolved.meta.field_type;
        if !field_type.is_text() || field_type == FieldType::MultiPicklist {
            return Err(self.operator_error(path, field_type));
        }
        let LiteralKind::Str { raw, .. } = &pattern.kind else {
            return Err(self.type_error(path, field_type));
        };
        Ok(Predicate::Test {
            field: resolved.field_ref,
            test: Test::Like(LikePattern::compile(raw)),
        })
    }

    fn includes(
        &self,
        path: &FieldPath,
        excludes: bool,
        literals: &[Literal],
    ) -> Result<Predicate, SoqlError> {
        let resolved = self.filterable(path)?;
        if resolved.meta.field_type != FieldType::MultiPicklist {
            return Err(self.error_at(
                SoqlErrorCode::InvalidQueryFilterOperator,
                path.start,
                "includes or excludes operator only valid on multipicklist field",
            ));
        }
        let mut groups = Vec::with_capacity(literals.len());
        for literal in literals {
            let LiteralKind::Str { value, .. } = &literal.kind else {
                return Err(self.type_error(path, FieldType::MultiPicklist));
            };
            groups.push(value_set(value));
        }
        Ok(Predicate::Test {
            field: resolved.field_ref,
            test: Test::Includes { excludes, groups },
        })
    }

    /// The typed operand for `literal` against a field of `field_type`; `None` for `null`.
    fn operand(
        &self,
        path: &FieldPath,
        field_type: FieldType,
        literal: &Literal,
    ) -> Result<Option<Operand>, SoqlError> {
        let kind = &literal.kind;
        if *kind == LiteralKind::Null {
            return Ok(None);
        }
        let operand = match (field_type, kind) {
            (FieldType::MultiPicklist, LiteralKind::Str { value, .. }) => {
                Operand::ValueSet(value_set(value))
            }
            (kind_of_field, LiteralKind::Str { value, .. }) if kind_of_field.is_text() => {
                Operand::Text(value.clone())
            }
            (kind_of_field, LiteralKind::Str { value, .. }) if kind_of_field.is_id() => {
                if value.is_empty() {
                    Operand::Text(String::new())
                } else {
                    match widen_id(value) {
                        Some(id) => Operand::Id(id),
                        None => {
                            return Err(self.error_at(
                                SoqlErrorCode::InvalidQueryFilterOperator,
                                path.start,
                                &format!("invalid ID field: {value}"),
                            ))
                        }
                    }
                }
            }
            (kind_of_field, LiteralKind::Number(text)) if kind_of_field.is_number() => {
                match Decimal::from_str(text) {
                    Ok(number) => Operand::Number(number),
                    Err(_) => return Err(self.type_error(path, field_type)),
                }
            }
            (FieldType::Boolean, LiteralKind::Bool(flag)) => Operand::Bool(*flag),
            (FieldType::Date, LiteralKind::Date(text)) => {
                Operand::Date(self.date(text, literal.start)?)
            }
            (FieldType::Date, LiteralKind::DateKeyword(keyword)) => Operand::DateKeyword(*keyword),
            (FieldType::DateTime, LiteralKind::DateTime(text)) => {
                Operand::DateTime(self.datetime(text, literal.start)?)
            }
            (FieldType::DateTime, LiteralKind::DateKeyword(keyword)) => {
                Operand::DateTimeKeyword(*keyword)
            }
            _ => return Err(self.type_error(path, field_type)),
        };
        Ok(Some(operand))
    }

    fn date(&self, text: &str, at: usize) -> Result<NaiveDate, SoqlError> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            self.error_at(
                SoqlErrorCode::MalformedQuery,
                at,
                &format!("Invalid date: {text}"),
            )
        })
    }

    fn datetime(&self, text: &str, at: usize) -> Result<i64, SoqlError> {
        parse_datetime_literal(text).ok_or_else(|| {
            self.error_at(
                SoqlErrorCode::MalformedQuery,
                at,
                &format!("Invalid datetime: {text}"),
            )
        })
    }
}

/// IN lists at least this long are sorted for binary search.
const SORTED_LOOKUP_MIN: usize = 8;

/// Sorts a long, homogeneous IN list of text or ids and says how to search it.
fn sort_for_lookup(operands: &mut [Operand]) -> InLookup {
    if operands.len() < SORTED_LOOKUP_MIN {
        return InLookup::Scan;
    }
    let key = |operand: &Operand| match operand {
        Operand::Text(text) => Some((false, text.clone())),
        Operand::Id(id) => Some((true, id.clone())),
        _ => None,
    };
    let kinds: Option<Vec<(bool, String)>> = operands.iter().map(key).collect();
    let Some(kinds) = kinds else {
        return InLookup::Scan;
    };
    if kinds.iter().all(|(is_id, _)| !is_id) {
        operands.sort_by(|left, right| match (left, right) {
            (Operand::Text(left), Operand::Text(right)) => text_cmp_ci(left, right),
            _ => std::cmp::Ordering::Equal,
        });
        InLookup::SortedText
    } else if kinds.iter().all(|(is_id, _)| *is_id) {
        operands.sort_by(|left, right| match (left, right) {
            (Operand::Id(left), Operand::Id(right)) => id_order(left, right),
            _ => std::cmp::Ordering::Equal,
        });
        InLookup::SortedIds
    } else {
        InLookup::Scan
    }
}

/// `a; B ;c` as the lower-cased, sorted set `[a, b, c]`.
pub fn value_set(text: &str) -> Vec<String> {
    let mut values: Vec<String> = text
        .split(';')
        .map(|part| part.trim().to_lowercase())
        .filter(|part| !part.is_empty())
        .collect();
    values.sort();
    values.dedup();
    values
}

/// Parses `2024-01-01T00:00:00Z`, `...+02:00`, `...-0800`, with optional fractional seconds,
/// into milliseconds since the epoch (UTC).
pub fn parse_datetime_literal(text: &str) -> Option<i64> {
    let mut normalized = text.to_ascii_uppercase();
    // RFC 3339 wants `+hh:mm`; SOQL also allows `+hhmm`.
    let bytes = normalized.as_bytes();
    if let Some(sign) = bytes.len().checked_sub(5) {
        let offset_without_colon = matches!(bytes[sign], b'+' | b'-')
            && bytes[sign + 1..].iter().all(u8::is_ascii_digit)
            && sign > 10;
        if offset_without_colon {
            normalized.insert(sign + 3, ':');
        }
    }
    DateTime::parse_from_rfc3339(&normalized)
        .ok()
        .map(|moment| moment.timestamp_millis())
}
