//! A plausibility check for a mapping's `filter` (a SOQL WHERE condition) before it is stored.
//!
//! sfsync never evaluates the filter itself (Salesforce does), but it is pasted into SOQL, so it must
//! be one well-formed condition: no statement separators, no clauses that would change the query, and
//! balanced quotes and parentheses. A small recursive-descent parser over a tokenizer checks exactly that.

use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str,
    Number,
    /// Unquoted date/datetime literal or date keyword such as `LAST_N_DAYS:7`.
    Literal,
    Op,
    LParen,
    RParen,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => i += 2,
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                tokens.push(Token::Str);
            }
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '=' => {
                tokens.push(Token::Op);
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let two = matches!(
                    (c, next),
                    ('!', Some('=')) | ('<', Some('=')) | ('>', Some('=')) | ('<', Some('>'))
                );
                if c == '!' && !two {
                    return Err("unexpected '!'".into());
                }
                tokens.push(Token::Op);
                i += if two { 2 } else { 1 };
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | ':' | '-' | '+'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let is_number = text
                    .trim_start_matches(['-', '+'])
                    .chars()
                    .all(|d| d.is_ascii_digit() || d == '.');
                tokens.push(if is_number {
                    Token::Number
                } else {
                    Token::Literal
                });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    i += 1;
                }
                let mut word: String = chars[start..i].iter().collect();
                // Date keywords with a parameter, such as LAST_N_DAYS:7.
                if chars.get(i) == Some(&':')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                {
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    word.push_str(":n");
                    tokens.push(Token::Literal);
                    let _ = word;
                    continue;
                }
                tokens.push(Token::Ident(word));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

/// The longest filter accepted, in characters. The filter is pasted into a SOQL query that the
/// sidecar sends in a URL; Salesforce limits a whole SOQL statement to 100,000 characters and request
/// URIs to about 16,000, and a query also names every mapped field.
pub const MAX_FILTER_CHARS: usize = 10_000;
/// The deepest nesting of parentheses and NOTs accepted: the parser recurses once per level, and a
/// backend's stack is small (a crash there restarts every connection of the cluster).
pub const MAX_FILTER_DEPTH: usize = 32;

const FORBIDDEN: &[&str] = &[
    "SELECT", "FROM", "WHERE", "ORDER", "GROUP", "HAVING", "LIMIT", "OFFSET", "FOR", "WITH",
    "USING", "UPDATE", "ALL", "ROWS",
];

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expression(&mut self) -> Result<(), String> {
        self.term()?;
        while self.keyword("AND") || self.keyword("OR") {
            self.pos += 1;
            self.term()?;
        }
        Ok(())
    }

    fn term(&mut self) -> Result<(), String> {
        if self.keyword("NOT") {
            self.pos += 1;
            return self.nested(Self::term);
        }
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            self.nested(Self::expression)?;
            return match self.next() {
                Some(Token::RParen) => Ok(()),
                _ => Err("missing ')'".into()),
            };
        }
        self.comparison()
    }

    /// Parses one level deeper, refusing conditions nested beyond `MAX_FILTER_DEPTH`.
    fn nested(&mut self, parse: fn(&mut Self) -> Result<(), String>) -> Result<(), String> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(format!(
                "the condition is nested more than {MAX_FILTER_DEPTH} levels deep (parentheses and NOTs)"
            ));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn comparison(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Ident(field)) => {
                if FORBIDDEN.iter().any(|k| field.eq_ignore_ascii_case(k)) {
                    return Err(format!("{field} is not allowed in a filter condition"));
                }
            }
            other => {
                return Err(format!(
                    "expected a field name, found {}",
                    describe(other.as_ref())
                ))
            }
        }
        if self.keyword("NOT") {
            self.pos += 1;
            if !self.keyword("IN") {
                return Err("expected IN after NOT".into());
            }
        }
        if self.keyword("IN") || self.keyword("INCLUDES") || self.keyword("EXCLUDES") {
            self.pos += 1;
            return self.value_list();
        }
        if self.keyword("LIKE") {
            self.pos += 1;
        } else if self.next() != Some(Token::Op) {
            return Err("expected a comparison operator (=, !=, <, <=, >, >=, LIKE, IN)".into());
        }
        self.value()
    }

    fn value(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Str | Token::Number | Token::Literal) => Ok(()),
            Some(Token::Ident(word))
                if [
                    "TRUE",
                    "FALSE",
                    "NULL",
                    "TODAY",
                    "YESTERDAY",
                    "TOMORROW",
                    "THIS_WEEK",
                    "LAST_WEEK",
                    "NEXT_WEEK",
                    "THIS_MONTH",
                    "LAST_MONTH",
                    "NEXT_MONTH",
                    "THIS_YEAR",
                    "LAST_YEAR",
                    "NEXT_YEAR",
                    "LAST_90_DAYS",
                    "NEXT_90_DAYS",
                    "THIS_QUARTER",
                    "LAST_QUARTER",
                    "NEXT_QUARTER",
                ]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k)) =>
            {
                Ok(())
            }
            other => Err(format!(
                "expected a value, found {}",
                describe(other.as_ref())
            )),
        }
    }

    fn value_list(&mut self) -> Result<(), String> {
        if self.next() != Some(Token::LParen) {
            return Err("expected '(' to start a value list".into());
        }
        loop {
            self.value()?;
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::RParen) => return Ok(()),
                other => {
                    return Err(format!(
                        "expected ',' or ')' in a value list, found {}",
                        describe(other.as_ref())
                    ))
                }
            }
        }
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the condition".into(),
        Some(Token::Ident(w)) => format!("{w:?}"),
        Some(t) => format!("{t:?}").to_lowercase(),
    }
}

/// Checks that `filter` is one plausible SOQL condition.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("the filter is empty".into());
    }
    let length = filter.chars().count();
    if length > MAX_FILTER_CHARS {
        return Err(format!(
            "it is {length} characters long, more than the {MAX_FILTER_CHARS} a filter may have"
        ));
    }
    let tokens = tokenize(filter)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    parser.expression()?;
    match parser.peek() {
        None => Ok(()),
        Some(t) => Err(format!(
            "unexpected {} after the condition",
            describe(Some(t))
        )),
    }
}

/// SQL entry point: returns the filter, or raises `invalid_parameter_value` explaining why it is not
/// a plausible SOQL WHERE condition.
#[pg_extern(immutable, parallel_safe)]
fn _check_filter(filter: &str) -> String {
    if let Err(reason) = check_filter(filter) {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "filter {} is not a plausible SOQL condition: {reason}",
                quoted_start(filter)
            ),
        );
    }
    filter.to_string()
}

/// The filter quoted for an error message, cut after 200 characters (a refused filter may be huge).
fn quoted_start(filter: &str) -> String {
    const SHOWN: usize = 200;
    match filter.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &filter[..cut]),
        None => format!("{filter:?}"),
    }
}

#[cfg(test)]
mod unit {
    use super::{check_filter, quoted_start, MAX_FILTER_CHARS, MAX_FILTER_DEPTH};

    #[test]
    fn bounds_nesting_and_length() {
        let nested =
            |levels: usize| format!("{}Name = 'a'{}", "(".repeat(levels), ")".repeat(levels));
        assert_eq!(check_filter(&nested(MAX_FILTER_DEPTH)), Ok(()));
        let too_deep = check_filter(&nested(MAX_FILTER_DEPTH + 1)).unwrap_err();
        assert!(too_deep.contains("32 levels"), "{too_deep}");
        // the attack: 200 KB of parentheses must be refused, not recursed into
        assert!(check_filter(&nested(100_000)).is_err());
        let nots = format!("{}Name = 'a'", "NOT ".repeat(MAX_FILTER_DEPTH + 1));
        assert!(check_filter(&nots).unwrap_err().contains("nested"));
        let long = format!("Name = '{}'", "x".repeat(MAX_FILTER_CHARS));
        assert!(check_filter(&long).unwrap_err().contains("10000"));
        assert!(quoted_start(&long).chars().count() < 210);
    }

    #[test]
    fn accepts_conditions() {
        for ok in [
            "Industry = 'Banking'",
            "Name LIKE 'A%' AND (AnnualRevenue > 1000 OR NOT IsActive__c = true)",
            "Type IN ('A', 'B') AND Status__c NOT IN ('x')",
            "CreatedDate > 2024-01-01T00:00:00Z",
            "CreatedDate = LAST_N_DAYS:30",
            "Owner.Name != null",
            "Tags__c INCLUDES ('a;b', 'c')",
            "Name = 'O\\'Brien'",
        ] {
            assert_eq!(check_filter(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_injection_and_garbage() {
        for bad in [
            "",
            "Name = 'x') OR (1=1",
            "Name = 'x' LIMIT 1",
            "Name = 'x'; DELETE",
            "Name = 'unterminated",
            "Id != null ORDER BY Name",
            "SELECT Id FROM Account",
            "Name",
            "(Name = 'a'",
        ] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }
}
