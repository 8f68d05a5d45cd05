//! Recursive-descent parser from tokens to the syntax tree, reporting Salesforce's
//! `unexpected token: '...'` errors with a caret under the offending token.

use super::ast::{
    CompareOp, Condition, FieldPath, FieldsGroup, Literal, LiteralKind, OrderItem, Positioned,
    Query, SelectItem,
};
use super::dates::{keyword_takes_number, DateKeyword};
use super::error::{SoqlError, SoqlErrorCode};
use super::lexer::{tokenize, Token, TokenKind};

/// Clauses Salesforce has and this engine does not: refused with a message saying so.
const UNSUPPORTED_CLAUSES: &[&str] = &[
    "GROUP", "HAVING", "WITH", "USING", "FOR", "TYPEOF", "UPDATE",
];

/// Parses a full `SELECT ... FROM ...` statement.
pub fn parse_query(query: &str) -> Result<Query, SoqlError> {
    if query.trim().is_empty() {
        return Err(SoqlError::plain(
            SoqlErrorCode::MalformedQuery,
            "SOQL statements cannot be empty or null",
        ));
    }
    let mut parser = Parser::new(query, false)?;
    let parsed = parser.query()?;
    parser.expect_end()?;
    Ok(parsed)
}

/// Parses a standalone boolean condition (a validation rule), which may also use `ISBLANK(field)`.
pub fn parse_condition(text: &str) -> Result<Condition, SoqlError> {
    if text.trim().is_empty() {
        return Err(SoqlError::plain(
            SoqlErrorCode::MalformedQuery,
            "the condition is empty",
        ));
    }
    let mut parser = Parser::new(text, true)?;
    let condition = parser.condition()?;
    parser.expect_end()?;
    Ok(condition)
}

struct Parser<'q> {
    query: &'q str,
    tokens: Vec<Token>,
    position: usize,
    allow_functions: bool,
}

impl<'q> Parser<'q> {
    fn new(query: &'q str, allow_functions: bool) -> Result<Parser<'q>, SoqlError> {
        Ok(Parser {
            query,
            tokens: tokenize(query)?,
            position: 0,
            allow_functions,
        })
    }

    fn peek(&self) -> &Token {
        // tokenize always ends with Eof and we never advance past it.
        &self.tokens[self.position.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.position + ahead).min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.position += 1;
        }
        token
    }

    fn unexpected(&self, token: &Token) -> SoqlError {
        if let TokenKind::Ident(word) = &token.kind {
            if UNSUPPORTED_CLAUSES
                .iter()
                .any(|clause| clause.eq_ignore_ascii_case(word))
            {
                return self
                    .unsupported(token.start, &format!("the {} clause", word.to_uppercase()));
            }
        }
        SoqlError::at(
            SoqlErrorCode::MalformedQuery,
            self.query,
            token.start,
            &format!("unexpected token: '{}'", token.text(self.query)),
        )
    }

    fn unsupported(&self, at: usize, what: &str) -> SoqlError {
        SoqlError::at(
            SoqlErrorCode::MalformedQuery,
            self.query,
            at,
            &format!("sfsync-emulator does not support {what}"),
        )
    }

    fn accept_keyword(&mut self, word: &str) -> bool {
        if self.peek().is_keyword(word) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<Token, SoqlError> {
        if self.peek().is_keyword(word) {
            Ok(self.advance())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    fn expect(&mut self, kind: &TokenKind) -> Result<Token, SoqlError> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    fn expect_end(&self) -> Result<(), SoqlError> {
        match self.peek().kind {
            TokenKind::Eof => Ok(()),
            _ => Err(self.unexpected(self.peek())),
        }
    }

    fn identifier(&mut self) -> Result<(String, usize), SoqlError> {
        let token = self.peek().clone();
        match token.kind {
            TokenKind::Ident(name) => {
                self.position += 1;
                Ok((name, token.start))
            }
            _ => Err(self.unexpected(&token)),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        let start = self.expect_keyword("SELECT")?.start;
        let select = self.select_list()?;
        self.expect_keyword("FROM")?;
        let (object, object_start) = self.identifier()?;
        let condition = if self.accept_keyword("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.accept_keyword("ORDER") {
            self.expect_keyword("BY")?;
            order = self.order_list()?;
        }
        let limit = if self.accept_keyword("LIMIT") {
            Some(self.unsigned()?)
        } else {
            None
        };
        let offset = if self.accept_keyword("OFFSET") {
            Some(self.unsigned()?)
        } else {
            None
        };
        Ok(Query {
            start,
            select,
            object,
            object_start,
            condition,
            order,
            limit,
            offset,
        })
    }

    fn unsigned(&mut self) -> Result<Positioned, SoqlError> {
        let token = self.peek().clone();
        if let TokenKind::Number(text) = &token.kind {
            if let Ok(value) = text.parse::<u64>() {
                self.position += 1;
                return Ok(Positioned {
                    value,
                    start: token.start,
                });
            }
        }
        Err(self.unexpected(&token))
    }

    fn select_list(&mut self) -> Result<Vec<SelectItem>, SoqlError> {
        let mut items = vec![self.select_item()?];
        while self.peek().kind == TokenKind::Comma {
            self.position += 1;
            items.push(self.select_item()?);
        }
        Ok(items)
    }

    fn select_item(&mut self) -> Result<SelectItem, SoqlError> {
        let token = self.peek().clone();
        if token.kind == TokenKind::LParen {
            self.position += 1;
            let inner = self.query()?;
            self.expect(&TokenKind::RParen)?;
            return Ok(SelectItem::Children(Box::new(inner)));
        }
        let is_call =
            matches!(token.kind, TokenKind::Ident(_)) && self.peek_at(1).kind == TokenKind::LParen;
        if !is_call {
            return Ok(SelectItem::Field(self.field_path()?));
        }
        if token.is_keyword("FIELDS") {
            self.position += 2;
            let (group_name, group_start) = self.identifier()?;
            let group = match group_name.to_ascii_uppercase().as_str() {
                "ALL" => FieldsGroup::All,
                "STANDARD" => FieldsGroup::Standard,
                "CUSTOM" => FieldsGroup::Custom,
                _ => {
                    return Err(SoqlError::at(
                        SoqlErrorCode::MalformedQuery,
                        self.query,
                        group_start,
                        &format!("unexpected token: '{group_name}'"),
                    ))
                }
            };
            self.expect(&TokenKind::RParen)?;
            return Ok(SelectItem::Fields {
                group,
                start: token.start,
            });
        }
        if token.is_keyword("COUNT") {
            self.position += 2;
            let field = if self.peek().kind == TokenKind::RParen {
                None
            } else {
                Some(self.field_path()?)
            };
            self.expect(&TokenKind::RParen)?;
            let alias = match &self.peek().kind {
                TokenKind::Ident(name) if !name.eq_ignore_ascii_case("FROM") && field.is_some() => {
                    let alias = name.clone();
                    self.position += 1;
                    Some(alias)
                }
                _ => None,
            };
            return Ok(SelectItem::Count {
                field,
                alias,
                start: token.start,
            });
        }
        Err(self.unsupported(
            token.start,
            &format!("the function {}()", token.text(self.query)),
        ))
    }

    fn field_path(&mut self) -> Result<FieldPath, SoqlError> {
        let (first, start) = self.identifier()?;
        let mut segments = vec![first];
        while self.peek().kind == TokenKind::Dot {
            self.position += 1;
            let (segment, _) = self.identifier()?;
            segments.push(segment);
        }
        Ok(FieldPath { segments, start })
    }

    fn order_list(&mut self) -> Result<Vec<OrderItem>, SoqlError> {
        let mut items = Vec::new();
        loop {
            let field = self.field_path()?;
            let descending = if self.accept_keyword("DESC") {
                true
            } else {
                self.accept_keyword("ASC");
                false
            };
            let nulls_first = if self.accept_keyword("NULLS") {
                if self.accept_keyword("FIRST") {
                    Some(true)
                } else {
                    self.expect_keyword("LAST")?;
                    Some(false)
                }
            } else {
                None
            };
            items.push(OrderItem {
                field,
                descending,
                nulls_first,
            });
            if self.peek().kind != TokenKind::Comma {
                return Ok(items);
            }
            self.position += 1;
        }
    }

    /// `unary (AND unary)*` or `unary (OR unary)*`: Salesforce refuses AND and OR mixed at one level.
    fn condition(&mut self) -> Result<Condition, SoqlError> {
        let first = self.unary()?;
        let joiner = if self.peek().is_keyword("AND") {
            "AND"
        } else if self.peek().is_keyword("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let other = if joiner == "AND" { "OR" } else { "AND" };
        let mut parts = vec![first];
        while self.accept_keyword(joiner) {
            parts.push(self.unary()?);
        }
        if self.peek().is_keyword(other) {
            return Err(self.unexpected(self.peek()));
        }
        Ok(if joiner == "AND" {
            Condition::And(parts)
        } else {
            Condition::Or(parts)
        })
    }

    fn unary(&mut self) -> Result<Condition, SoqlError> {
        if self.accept_keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.peek().kind == TokenKind::LParen {
            self.position += 1;
            let inner = self.condition()?;
            self.expect(&TokenKind::RParen)?;
            return Ok(inner);
        }
        self.simple_condition()
    }

    fn simple_condition(&mut self) -> Result<Condition, SoqlError> {
        let token = self.peek().clone();
        let is_call = self.peek_at(1).kind == TokenKind::LParen;
        if is_call
            && self.allow_functions
            && (token.is_keyword("ISBLANK") || token.is_keyword("ISNULL"))
        {
            self.position += 2;
            let field = self.field_path()?;
            self.expect(&TokenKind::RParen)?;
            return Ok(Condition::IsBlank { field });
        }
        if is_call && matches!(token.kind, TokenKind::Ident(_)) {
            return Err(self.unsupported(
                token.start,
                &format!("the function {}() in a condition", token.text(self.query)),
            ));
        }
        let field = self.field_path()?;
        let operator = self.peek().clone();
        let op = match operator.kind {
            TokenKind::Eq => Some(CompareOp::Eq),
            TokenKind::Ne => Some(CompareOp::Ne),
            TokenKind::Lt => Some(CompareOp::Lt),
            TokenKind::Le => Some(CompareOp::Le),
            TokenKind::Gt => Some(CompareOp::Gt),
            TokenKind::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.position += 1;
            let value = self.literal()?;
            return Ok(Condition::Compare { field, op, value });
        }
        if self.accept_keyword("LIKE") {
            let pattern = self.literal()?;
            return Ok(Condition::Like { field, pattern });
        }
        let negated = self.peek().is_keyword("NOT") && self.peek_at(1).is_keyword("IN");
        if negated || self.peek().is_keyword("IN") {
            self.position += if negated { 2 } else { 1 };
            if self.peek().kind == TokenKind::LParen && self.peek_at(1).is_keyword("SELECT") {
                return self.in_query(field, negated);
            }
            let values = self.literal_list()?;
            return Ok(Condition::In {
                field,
                negated,
                values,
            });
        }
        for (keyword, excludes) in [("INCLUDES", false), ("EXCLUDES", true)] {
            if self.accept_keyword(keyword) {
                let values = self.literal_list()?;
                return Ok(Condition::Includes {
                    field,
                    excludes,
                    values,
                });
            }
        }
        Err(self.unexpected(&operator))
    }

    /// `(SELECT ...)` after `IN`/`NOT IN`: a semi-join or anti-join (queries only, not validation rules).
    fn in_query(&mut self, field: FieldPath, negated: bool) -> Result<Condition, SoqlError> {
        self.expect(&TokenKind::LParen)?;
        if self.allow_functions {
            return Err(self.unsupported(self.peek().start, "semi-join subqueries in a condition"));
        }
        let query = self.query()?;
        self.expect(&TokenKind::RParen)?;
        Ok(Condition::InQuery {
            field,
            negated,
            query: Box::new(query),
        })
    }

    fn literal_list(&mut self) -> Result<Vec<Literal>, SoqlError> {
        self.expect(&TokenKind::LParen)?;
        let mut values = vec![self.literal()?];
        while self.peek().kind == TokenKind::Comma {
            self.position += 1;
            values.push(self.literal()?);
        }
        self.expect(&TokenKind::RParen)?;
        Ok(values)
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        let token = self.peek().clone();
        let kind = match &token.kind {
            TokenKind::Str { value, raw } => LiteralKind::Str {
                value: value.clone(),
                raw: raw.clone(),
            },
            TokenKind::Number(text) => LiteralKind::Number(text.clone()),
            TokenKind::Date(text) => LiteralKind::Date(text.clone()),
            TokenKind::DateTime(text) => LiteralKind::DateTime(text.clone()),
            TokenKind::Ident(word) => return self.word_literal(word.clone(), &token),
            _ => return Err(self.unexpected(&token)),
        };
        self.position += 1;
        Ok(Literal {
            kind,
            start: token.start,
        })
    }

    fn word_literal(&mut self, word: String, token: &Token) -> Result<Literal, SoqlError> {
        let upper = word.to_ascii_uppercase();
        let simple = match upper.as_str() {
            "NULL" => Some(LiteralKind::Null),
            "TRUE" => Some(LiteralKind::Bool(true)),
            "FALSE" => Some(LiteralKind::Bool(false)),
            _ => None,
        };
        if let Some(kind) = simple {
            self.position += 1;
            return Ok(Literal {
                kind,
                start: token.start,
            });
        }
        let number = if keyword_takes_number(&upper) {
            if self.peek_at(1).kind != TokenKind::Colon {
                return Err(self.unexpected(self.peek_at(1)));
            }
            let count_token = self.peek_at(2).clone();
            match &count_token.kind {
                TokenKind::Number(text) => match text.parse::<u32>() {
                    Ok(count) => Some(count),
                    Err(_) => return Err(self.unexpected(&count_token)),
                },
                _ => return Err(self.unexpected(&count_token)),
            }
        } else {
            None
        };
        let Some(keyword) = DateKeyword::parse(&upper, number) else {
            return Err(self.unexpected(token));
        };
        self.position += if number.is_some() { 3 } else { 1 };
        Ok(Literal {
            kind: LiteralKind::DateKeyword(keyword),
            start: token.start,
        })
    }
}
