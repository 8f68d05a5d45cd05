//! Formula evaluation: computes an [`Expr`] against a record (reached through [`Context`]) with Salesforce's
//! "treat blank fields as blanks" null handling.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::parser::{BinaryOp, Expr, Function};

const DAY_MS: i64 = 86_400_000;

/// A formula value while it is computed.
#[derive(Clone, Debug, PartialEq)]
pub enum FValue {
    Null,
    Bool(bool),
    Number(Decimal),
    Text(String),
    Date(NaiveDate),
    /// Milliseconds since the Unix epoch, UTC.
    DateTime(i64),
}

impl FValue {
    /// Null, and empty text, are blank.
    pub fn is_blank(&self) -> bool {
        match self {
            FValue::Null => true,
            FValue::Text(text) => text.is_empty(),
            _ => false,
        }
    }

    fn is_true(&self) -> bool {
        matches!(self, FValue::Bool(true))
    }

    /// The text `TEXT()` and `&` use: numbers without trailing zeros, dates `YYYY-MM-DD`, datetimes
    /// `YYYY-MM-DD HH:MM:SSZ`, blank as empty text.
    pub fn to_text(&self) -> String {
        match self {
            FValue::Null => String::new(),
            FValue::Bool(b) => b.to_string(),
            FValue::Number(n) => n.normalize().to_string(),
            FValue::Text(t) => t.clone(),
            FValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            FValue::DateTime(ms) => DateTime::<Utc>::from_timestamp_millis(*ms)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M:%SZ")
                .to_string(),
        }
    }
}

/// What a formula can see: field values by path, and the org's clock.
pub trait Context {
    /// The value of a field of the record, or of a record reached through relationships (blank when a lookup
    /// on the way is empty).
    fn field(&self, path: &[String]) -> FValue;
    /// The org's current time, ms since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// Evaluates `expr`. Errors Salesforce would show as `#Error!` (division by zero, type mismatches, bad
/// `VALUE()` text) give blank.
pub fn evaluate(expr: &Expr, context: &dyn Context) -> FValue {
    match expr {
        Expr::Number(n) => FValue::Number(*n),
        Expr::Text(t) => FValue::Text(t.clone()),
        Expr::Bool(b) => FValue::Bool(*b),
        Expr::Null => FValue::Null,
        Expr::Field { path, .. } => context.field(path),
        Expr::Negate(inner) => match evaluate(inner, context) {
            FValue::Number(n) => FValue::Number(-n),
            _ => FValue::Null,
        },
        Expr::Not(inner) => not(evaluate(inner, context)),
        Expr::Binary(BinaryOp::And, left, right) => {
            FValue::Bool(evaluate(left, context).is_true() && evaluate(right, context).is_true())
        }
        Expr::Binary(BinaryOp::Or, left, right) => {
            FValue::Bool(evaluate(left, context).is_true() || evaluate(right, context).is_true())
        }
        Expr::Binary(op, left, right) => {
            binary(*op, evaluate(left, context), evaluate(right, context))
        }
        Expr::Call { function, args, .. } => call(*function, args, context),
    }
}

fn not(value: FValue) -> FValue {
    match value {
        FValue::Bool(b) => FValue::Bool(!b),
        _ => FValue::Null,
    }
}

fn date_plus_days(date: NaiveDate, days: Decimal) -> FValue {
    days.trunc()
        .to_i64()
        .and_then(|d| date.checked_add_signed(Duration::days(d)))
        .map_or(FValue::Null, FValue::Date)
}

fn datetime_plus_days(ms: i64, days: Decimal) -> FValue {
    (days * Decimal::from(DAY_MS))
        .round()
        .to_i64()
        .and_then(|delta| ms.checked_add(delta))
        .map_or(FValue::Null, FValue::DateTime)
}

fn power(base: Decimal, exponent: Decimal) -> Option<Decimal> {
    if exponent.fract() != Decimal::ZERO || exponent.abs() > Decimal::from(64) {
        return None;
    }
    let count = exponent.abs().to_i64()?;
    let mut result = Decimal::ONE;
    for _ in 0..count {
        result = result.checked_mul(base)?;
    }
    if exponent < Decimal::ZERO {
        Decimal::ONE.checked_div(result)
    } else {
        Some(result)
    }
}

fn binary(op: BinaryOp, left: FValue, right: FValue) -> FValue {
    use FValue::*;
    match op {
        BinaryOp::Concat => Text(left.to_text() + &right.to_text()),
        BinaryOp::Equal | BinaryOp::NotEqual => {
            let equal = match (&left, &right) {
                (Null, Null) => Some(true),
                (Null, Text(t)) | (Text(t), Null) => Some(t.is_empty()),
                (Null, _) | (_, Null) => Some(false),
                _ => compare(&left, &right).map(|o| o == Ordering::Equal),
            };
            match equal {
                Some(equal) => Bool(equal == (op == BinaryOp::Equal)),
                None => Null,
            }
        }
        BinaryOp::Less | BinaryOp::LessOrEqual | BinaryOp::Greater | BinaryOp::GreaterOrEqual => {
            let (left, right) = match (left, right) {
                (Null, Text(t)) => (Text(String::new()), Text(t)),
                (Text(t), Null) => (Text(t), Text(String::new())),
                other => other,
            };
            match compare(&left, &right) {
                Some(ordering) => Bool(match op {
                    BinaryOp::Less => ordering == Ordering::Less,
                    BinaryOp::LessOrEqual => ordering != Ordering::Greater,
                    BinaryOp::Greater => ordering == Ordering::Greater,
                    _ => ordering != Ordering::Less,
                }),
                None => Null,
            }
        }
        BinaryOp::Add => match (left, right) {
            (Number(a), Number(b)) => a.checked_add(b).map_or(Null, Number),
            (Date(d), Number(n)) | (Number(n), Date(d)) => date_plus_days(d, n),
            (DateTime(ms), Number(n)) | (Number(n), DateTime(ms)) => datetime_plus_days(ms, n),
            (Text(a), Text(b)) => Text(a + &b),
            _ => Null,
        },
        BinaryOp::Subtract => match (left, right) {
            (Number(a), Number(b)) => a.checked_sub(b).map_or(Null, Number),
            (Date(d), Number(n)) => date_plus_days(d, -n),
            (DateTime(ms), Number(n)) => datetime_plus_days(ms, -n),
            (Date(a), Date(b)) => Number(Decimal::from((a - b).num_days())),
            (DateTime(a), DateTime(b)) => Number(Decimal::from(a - b) / Decimal::from(DAY_MS)),
            _ => Null,
        },
        BinaryOp::Multiply => match (left, right) {
            (Number(a), Number(b)) => a.checked_mul(b).map_or(Null, Number),
            _ => Null,
        },
        BinaryOp::Divide => match (left, right) {
            (Number(a), Number(b)) => a.checked_div(b).map_or(Null, Number),
            _ => Null,
        },
        BinaryOp::Power => match (left, right) {
            (Number(a), Number(b)) => power(a, b).map_or(Null, Number),
            _ => Null,
        },
        // Short-circuited in `evaluate`.
        BinaryOp::And | BinaryOp::Or => Null,
    }
}

/// Orders two non-blank values of comparable types (a date compares with a datetime at its UTC midnight).
fn compare(left: &FValue, right: &FValue) -> Option<Ordering> {
    use FValue::*;
    let midnight = |d: &NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    };
    match (left, right) {
        (Number(a), Number(b)) => Some(a.cmp(b)),
        (Text(a), Text(b)) => Some(a.cmp(b)),
        (Bool(a), Bool(b)) => Some(a.cmp(b)),
        (Date(a), Date(b)) => Some(a.cmp(b)),
        (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
        (Date(a), DateTime(b)) => midnight(a).map(|a| a.cmp(b)),
        (DateTime(a), Date(b)) => midnight(b).map(|b| a.cmp(&b)),
        _ => None,
    }
}

fn call(function: Function, args: &[Expr], context: &dyn Context) -> FValue {
    let arg = |n: usize| evaluate(&args[n], context);
    match function {
        Function::And => FValue::Bool(args.iter().all(|a| evaluate(a, context).is_true())),
        Function::Or => FValue::Bool(args.iter().any(|a| evaluate(a, context).is_true())),
        Function::Not => not(arg(0)),
        Function::If => {
            if arg(0).is_true() {
                arg(1)
            } else {
                arg(2)
            }
        }
        Function::Case => {
            let subject = arg(0);
            let pairs = &args[1..args.len() - 1];
            for pair in pairs.chunks(2) {
                let candidate = evaluate(&pair[0], context);
                let matches = match (&subject, &candidate) {
                    (FValue::Null, FValue::Null) => true,
                    _ => compare(&subject, &candidate) == Some(Ordering::Equal),
                };
                if matches {
                    return evaluate(&pair[1], context);
                }
            }
            arg(args.len() - 1)
        }
        Function::IsBlank => FValue::Bool(arg(0).is_blank()),
        Function::BlankValue => {
            let value = arg(0);
            if value.is_blank() {
                arg(1)
            } else {
                value
            }
        }
        Function::Text => match arg(0) {
            FValue::Null => FValue::Null,
            other => FValue::Text(other.to_text()),
        },
        Function::Value => match arg(0) {
            FValue::Text(text) => text
                .trim()
                .parse::<Decimal>()
                .map_or(FValue::Null, FValue::Number),
            number @ FValue::Number(_) => number,
            _ => FValue::Null,
        },
        Function::Today => DateTime::<Utc>::from_timestamp_millis(context.now_ms())
            .map_or(FValue::Null, |at| FValue::Date(at.date_naive())),
        Function::Now => FValue::DateTime(context.now_ms()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::parser::parse;
    use super::*;

    /// 2026-12-03T15:00:00Z.
    const NOW: i64 = 1_796_310_000_000;

    struct Fields(HashMap<String, FValue>);

    impl Context for Fields {
        fn field(&self, path: &[String]) -> FValue {
            self.0.get(&path.join(".")).cloned().unwrap_or(FValue::Null)
        }
        fn now_ms(&self) -> i64 {
            NOW
        }
    }

    fn context() -> Fields {
        let mut fields = HashMap::new();
        fields.insert("Name".into(), FValue::Text("Acme".into()));
        fields.insert("Amount__c".into(), FValue::Number("12.5".parse().unwrap()));
        fields.insert("Count__c".into(), FValue::Number(4.into()));
        fields.insert("Empty__c".into(), FValue::Text(String::new()));
        fields.insert("Done__c".into(), FValue::Bool(true));
        fields.insert("Account.Industry".into(), FValue::Text("Energy".into()));
        fields.insert("Account.Owner.Name".into(), FValue::Text("Ann".into()));
        fields.insert(
            "Start__c".into(),
            FValue::Date(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
        );
        fields.insert("Stamp__c".into(), FValue::DateTime(NOW - DAY_MS / 2));
        Fields(fields)
    }

    fn eval(text: &str) -> FValue {
        evaluate(
            &parse(text).unwrap_or_else(|e| panic!("{text}: {e}")),
            &context(),
        )
    }

    fn num(text: &str) -> FValue {
        FValue::Number(text.parse().unwrap())
    }

    fn text(t: &str) -> FValue {
        FValue::Text(t.into())
    }

    #[test]
    fn literals_and_arithmetic() {
        assert_eq!(eval("1 + 2 * 3"), num("7"));
        assert_eq!(eval("(1 + 2) * 3"), num("9"));
        assert_eq!(eval("10 / 4"), num("2.5"));
        assert_eq!(eval("7 - 10"), num("-3"));
        assert_eq!(eval("-Amount__c"), num("-12.5"));
        assert_eq!(eval("2 ^ 10"), num("1024"));
        assert_eq!(eval("2 ^ -1"), num("0.5"));
        assert_eq!(eval("1 / 0"), FValue::Null);
        assert_eq!(eval("Amount__c * Count__c"), num("50.0"));
        assert_eq!(eval("'a' + \"b\""), text("ab"));
        assert_eq!(eval("TRUE"), FValue::Bool(true));
        assert_eq!(eval("false"), FValue::Bool(false));
    }

    #[test]
    fn blanks_propagate_through_arithmetic_but_not_concatenation() {
        assert_eq!(eval("Missing__c + 1"), FValue::Null);
        assert_eq!(eval("Missing__c * 2"), FValue::Null);
        assert_eq!(eval("Missing__c & 'x'"), text("x"));
        assert_eq!(eval("Name & ' / ' & TEXT(Count__c)"), text("Acme / 4"));
        assert_eq!(
            eval("Account.Industry & '-' & Account.Owner.Name"),
            text("Energy-Ann")
        );
    }

    #[test]
    fn comparisons() {
        for (formula, expected) in [
            ("1 = 1", true),
            ("1 == 2", false),
            ("1 != 2", true),
            ("1 <> 1", false),
            ("1 < 2", true),
            ("2 <= 2", true),
            ("3 > 4", false),
            ("4 >= 5", false),
            ("'a' < 'b'", true),
            ("Name = 'Acme'", true),
            ("Missing__c = 5", false),
            ("Missing__c != 5", true),
            ("Missing__c = ''", true),
            ("Empty__c = Missing__c", true),
            ("Start__c < TODAY()", true),
            ("Stamp__c < NOW()", true),
            ("Done__c = TRUE", true),
        ] {
            assert_eq!(eval(formula), FValue::Bool(expected), "{formula}");
        }
        assert_eq!(eval("Missing__c < 5"), FValue::Null);
        assert_eq!(eval("1 = 'a'"), FValue::Null);
    }

    #[test]
    fn logic_functions_and_operators() {
        assert_eq!(eval("AND(TRUE, 1 < 2, Done__c)"), FValue::Bool(true));
        assert_eq!(eval("and(TRUE, FALSE)"), FValue::Bool(false));
        assert_eq!(eval("OR(FALSE, Missing__c = 1, 2 > 1)"), FValue::Bool(true));
        assert_eq!(eval("NOT(Done__c)"), FValue::Bool(false));
        assert_eq!(eval("TRUE && !FALSE"), FValue::Bool(true));
        assert_eq!(eval("FALSE || 1 = 2"), FValue::Bool(false));
        assert_eq!(eval("Missing__c > 1 || TRUE"), FValue::Bool(true));
    }

    #[test]
    fn conditionals() {
        assert_eq!(eval("IF(Amount__c > 10, 'big', 'small')"), text("big"));
        assert_eq!(eval("If(Missing__c > 10, 'big', 'small')"), text("small"));
        assert_eq!(
            eval("CASE(Account.Industry, 'Banking', 1, 'Energy', 2, 0)"),
            num("2")
        );
        assert_eq!(eval("case(Name, 'x', 1, 0)"), num("0"));
        assert_eq!(eval("CASE(Missing__c, 1, 'one', 'none')"), text("none"));
    }

    #[test]
    fn blanks_text_value_and_the_clock() {
        assert_eq!(eval("ISBLANK(Missing__c)"), FValue::Bool(true));
        assert_eq!(eval("ISBLANK(Empty__c)"), FValue::Bool(true));
        assert_eq!(eval("isblank(Name)"), FValue::Bool(false));
        assert_eq!(eval("BLANKVALUE(Missing__c, 'n/a')"), text("n/a"));
        assert_eq!(eval("BLANKVALUE(Name, 'n/a')"), text("Acme"));
        assert_eq!(eval("TEXT(Amount__c)"), text("12.5"));
        assert_eq!(eval("TEXT(Start__c)"), text("2026-01-31"));
        assert_eq!(eval("TEXT(NOW())"), text("2026-12-03 15:00:00Z"));
        assert_eq!(eval("TEXT(Missing__c)"), FValue::Null);
        assert_eq!(eval("VALUE('42.50') + 1"), num("43.50"));
        assert_eq!(eval("VALUE('abc')"), FValue::Null);
        assert_eq!(
            eval("TODAY()"),
            FValue::Date(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap())
        );
        assert_eq!(eval("NOW()"), FValue::DateTime(NOW));
        assert_eq!(
            eval("Start__c + 1"),
            FValue::Date(NaiveDate::from_ymd_opt(2026, 2, 1).unwrap())
        );
        assert_eq!(eval("TODAY() - Start__c"), num("306"));
        assert_eq!(eval("NOW() - Stamp__c"), num("0.5"));
        assert_eq!(eval("Stamp__c + 0.5"), FValue::DateTime(NOW));
    }
}
