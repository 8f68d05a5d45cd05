//! Validation rule conditions. Until the SOQL evaluator is wired in, only three forms are understood:
//! `Field = value`, `Field != value` (also `<>`), and `ISBLANK(Field)`, where value is a quoted string, a number,
//! `true`/`false` or `null`. Text compares case-insensitively, as SOQL does. [`rule_matches`] is the one entry
//! point, so the SOQL evaluator can replace this module.

use rust_decimal::Decimal;

use super::object_store::Record;
use super::schema::ObjectSchema;
use super::value::Value;

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Number(Decimal),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Condition {
    Equals {
        field: String,
        literal: Literal,
        negated: bool,
    },
    IsBlank {
        field: String,
    },
}

/// Why a condition cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error("unsupported condition '{0}': use Field = value, Field != value or ISBLANK(Field)")]
    Unsupported(String),
    #[error("unknown field '{0}'")]
    UnknownField(String),
}

fn parse_literal(text: &str) -> Option<Literal> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Some(Literal::Text(inner.replace("\\'", "'")));
    }
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(Literal::Bool(true)),
        "false" => Some(Literal::Bool(false)),
        "null" => Some(Literal::Null),
        _ => text.parse::<Decimal>().ok().map(Literal::Number),
    }
}

fn is_field_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse(condition: &str) -> Result<Condition, RuleError> {
    let trimmed = condition.trim();
    let unsupported = || RuleError::Unsupported(condition.to_string());
    if trimmed.len() > 8 && trimmed[..8].eq_ignore_ascii_case("ISBLANK(") && trimmed.ends_with(')')
    {
        let field = trimmed[8..trimmed.len() - 1].trim();
        return if is_field_name(field) {
            Ok(Condition::IsBlank {
                field: field.to_string(),
            })
        } else {
            Err(unsupported())
        };
    }
    let (field, rest, negated) = if let Some((f, r)) = trimmed.split_once("!=") {
        (f, r, true)
    } else if let Some((f, r)) = trimmed.split_once("<>") {
        (f, r, true)
    } else if let Some((f, r)) = trimmed.split_once('=') {
        (f, r, false)
    } else {
        return Err(unsupported());
    };
    let field = field.trim();
    if !is_field_name(field) {
        return Err(unsupported());
    }
    let literal = parse_literal(rest).ok_or_else(unsupported)?;
    Ok(Condition::Equals {
        field: field.to_string(),
        literal,
        negated,
    })
}

/// Checks a condition when a rule is defined, so a bad rule is refused up front.
pub fn check_condition(condition: &str, schema: &ObjectSchema) -> Result<(), RuleError> {
    let field = match parse(condition)? {
        Condition::Equals { field, .. } | Condition::IsBlank { field } => field,
    };
    schema
        .field_index(&field)
        .map(|_| ())
        .ok_or(RuleError::UnknownField(field))
}

fn equals(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::Null, Literal::Null) => true,
        (Value::Null, _) | (_, Literal::Null) => false,
        (Value::Bool(b), Literal::Bool(l)) => b == l,
        (Value::Int(i), Literal::Number(n)) => Decimal::from(*i) == *n,
        (Value::Decimal(d), Literal::Number(n)) => d == n,
        (other, Literal::Text(text)) => other.display_text().to_lowercase() == text.to_lowercase(),
        _ => false,
    }
}

/// Whether `condition` holds for the record (true means the rule refuses the record). A condition that no
/// longer parses or names a removed field never matches.
pub fn rule_matches(condition: &str, schema: &ObjectSchema, record: &Record) -> bool {
    let Ok(parsed) = parse(condition) else {
        return false;
    };
    match parsed {
        Condition::IsBlank { field } => {
            schema
                .field_index(&field)
                .is_some_and(|i| match record.get(i) {
                    Value::Null => true,
                    Value::Text(text) => text.trim().is_empty(),
                    _ => false,
                })
        }
        Condition::Equals {
            field,
            literal,
            negated,
        } => schema
            .field_index(&field)
            .is_some_and(|i| equals(record.get(i), &literal) != negated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert!(matches!(
            parse("ISBLANK(Email__c)"),
            Ok(Condition::IsBlank { .. })
        ));
        assert_eq!(
            parse("Status__c != 'Closed'"),
            Ok(Condition::Equals {
                field: "Status__c".into(),
                literal: Literal::Text("Closed".into()),
                negated: true
            })
        );
        assert_eq!(
            parse("Amount__c = -5"),
            Ok(Condition::Equals {
                field: "Amount__c".into(),
                literal: Literal::Number(Decimal::from(-5)),
                negated: false
            })
        );
        assert!(parse("Amount__c < 0").is_err());
    }
}
