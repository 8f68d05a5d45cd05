//! Formula syntax: parses tokens into an [`Expr`] tree with Salesforce's operator precedence, and checks
//! function names and argument counts.

use rust_decimal::Decimal;

use super::lexer::{tokenize, Spanned, Token};
use super::FormulaError;

/// The supported functions (names are case-insensitive in formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    And,
    Or,
    Not,
    If,
    Case,
    IsBlank,
    BlankValue,
    Text,
    Value,
    Today,
    Now,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name.to_ascii_uppercase().as_str() {
            "AND" => Function::And,
            "OR" => Function::Or,
            "NOT" => Function::Not,
            "IF" => Function::If,
            "CASE" => Function::Case,
            "ISBLANK" => Function::IsBlank,
            "BLANKVALUE" => Function::BlankValue,
            "TEXT" => Function::Text,
            "VALUE" => Function::Value,
            "TODAY" => Function::Today,
            "NOW" => Function::Now,
            _ => return None,
        })
    }

    /// Whether `count` arguments are allowed.
    fn takes(self, count: usize) -> bool {
        match self {
            Function::And | Function::Or => count >= 1,
            Function::Not | Function::IsBlank | Function::Text | Function::Value => count == 1,
            Function::BlankValue => count == 2,
            Function::If => count == 3,
            // CASE(expression, value1, result1, ..., else_result)
            Function::Case => count >= 4 && count.is_multiple_of(2),
            Function::Today | Function::Now => count == 0,
        }
    }

    fn arity_text(self) -> &'static str {
        match self {
            Function::And | Function::Or => "at least 1 argument",
            Function::Not | Function::IsBlank | Function::Text | Function::Value => "1 argument",
            Function::BlankValue => "2 arguments",
            Function::If => "3 arguments",
            Function::Case => "an expression, value/result pairs and an else result",
            Function::Today | Function::Now => "no arguments",
        }
    }
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
    Concat,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

/// A parsed formula.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(Decimal),
    Text(String),
    Bool(bool),
    Null,
    /// A field of the record or a path through relationships: `["Account", "Owner", "Name"]`.
    Field {
        path: Vec<String>,
        position: usize,
    },
    Negate(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call {
        function: Function,
        args: Vec<Expr>,
        position: usize,
    },
}

impl Expr {
    /// Every field reference, with its position.
    pub fn fields(&self, out: &mut Vec<(Vec<String>, usize)>) {
        match self {
            Expr::Field { path, position } => out.push((path.clone(), *position)),
            Expr::Negate(inner) | Expr::Not(inner) => inner.fields(out),
            Expr::Binary(_, left, right) => {
                left.fields(out);
                right.fields(out);
            }
            Expr::Call { args, .. } => args.iter().for_each(|arg| arg.fields(out)),
            _ => {}
        }
    }
}

/// Parses a whole formula.
pub fn parse(text: &str) -> Result<Expr, FormulaError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(FormulaError::new("the formula is empty"));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end: text.chars().count() + 1,
    };
    let expr = parser.or()?;
    if let Some(extra) = parser.tokens.get(parser.next) {
        return Err(FormulaError::at(
            extra.position,
            format!("unexpected {}", describe(&extra.token)),
        ));
    }
    Ok(expr)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Number(n) => format!("number {n}"),
        Token::Text(t) => format!("text '{t}'"),
        Token::Name(n) => format!("'{n}'"),
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::Comma => "','".into(),
        Token::Op(op) => format!("'{op}'"),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    next: usize,
    /// The position just past the text, for "unexpected end" errors.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|t| &t.token)
    }

    fn eat_op(&mut self, ops: &[&str]) -> Option<&'static str> {
        match self.peek() {
            Some(Token::Op(op)) if ops.contains(op) => {
                let op = *op;
                self.next += 1;
                Some(op)
            }
            _ => None,
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FormulaError> {
        if self.peek() == Some(&token) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&self, wanted: &str) -> FormulaError {
        match self.tokens.get(self.next) {
            Some(t) => FormulaError::at(
                t.position,
                format!("expected {wanted}, found {}", describe(&t.token)),
            ),
            None => FormulaError::at(
                self.end,
                format!("expected {wanted}, found the end of the formula"),
            ),
        }
    }

    fn or(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.and()?;
        while self.eat_op(&["||"]).is_some() {
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.comparison()?;
        while self.eat_op(&["&&"]).is_some() {
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(self.comparison()?));
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.additive()?;
        while let Some(op) = self.eat_op(&["=", "==", "!=", "<>", "<", "<=", ">", ">="]) {
            let op = match op {
                "=" | "==" => BinaryOp::Equal,
                "!=" | "<>" => BinaryOp::NotEqual,
                "<" => BinaryOp::Less,
                "<=" => BinaryOp::LessOrEqual,
                ">" => BinaryOp::Greater,
                _ => BinaryOp::GreaterOrEqual,
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.additive()?));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.multiplicative()?;
        while let Some(op) = self.eat_op(&["+", "-", "&"]) {
            let op = match op {
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Subtract,
                _ => BinaryOp::Concat,
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.power()?;
        while let Some(op) = self.eat_op(&["*", "/"]) {
            let op = if op == "*" {
                BinaryOp::Multiply
            } else {
                BinaryOp::Divide
            };
            left = Expr::Binary(op, Box::new(left), Box::new(self.power()?));
        }
        Ok(left)
    }

    fn power(&mut self) -> Result<Expr, FormulaError> {
        let left = self.unary()?;
        if self.eat_op(&["^"]).is_some() {
            return Ok(Expr::Binary(
                BinaryOp::Power,
                Box::new(left),
                Box::new(self.power()?),
            ));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FormulaError> {
        match self.eat_op(&["-", "+", "!"]) {
            Some("-") => Ok(Expr::Negate(Box::new(self.unary()?))),
            Some("!") => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(_) => self.unary(),
            None => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, FormulaError> {
        let Some(spanned) = self.tokens.get(self.next).cloned() else {
            return Err(self.unexpected("a value"));
        };
        match spanned.token {
            Token::Number(n) => {
                self.next += 1;
                Ok(Expr::Number(n))
            }
            Token::Text(t) => {
                self.next += 1;
                Ok(Expr::Text(t))
            }
            Token::LParen => {
                self.next += 1;
                let inner = self.or()?;
                self.expect(Token::RParen, "')'")?;
                Ok(inner)
            }
            Token::Name(name) => {
                self.next += 1;
                if self.peek() == Some(&Token::LParen) {
                    return self.call(&name, spanned.position);
                }
                match name.to_ascii_uppercase().as_str() {
                    "TRUE" => Ok(Expr::Bool(true)),
                    "FALSE" => Ok(Expr::Bool(false)),
                    "NULL" => Ok(Expr::Null),
                    _ => Ok(Expr::Field {
                        path: name.split('.').map(str::to_string).collect(),
                        position: spanned.position,
                    }),
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }

    fn call(&mut self, name: &str, position: usize) -> Result<Expr, FormulaError> {
        let function = Function::from_name(name)
            .ok_or_else(|| FormulaError::at(position, format!("unknown function {name}")))?;
        self.expect(Token::LParen, "'('")?;
        let mut args = Vec::new();
        if self.peek() != Some(&Token::RParen) {
            loop {
                args.push(self.or()?);
                if self.peek() == Some(&Token::Comma) {
                    self.next += 1;
                    continue;
                }
                break;
            }
        }
        if self.peek() != Some(&Token::RParen) {
            return Err(self.unexpected("',' or ')'"));
        }
        self.next += 1;
        if !function.takes(args.len()) {
            return Err(FormulaError::at(
                position,
                format!(
                    "{} takes {}, not {}",
                    name.to_ascii_uppercase(),
                    function.arity_text(),
                    args.len()
                ),
            ));
        }
        Ok(Expr::Call {
            function,
            args,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(path: &str, position: usize) -> Expr {
        Expr::Field {
            path: path.split('.').map(str::to_string).collect(),
            position,
        }
    }

    fn num(n: i64) -> Expr {
        Expr::Number(n.into())
    }

    fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Expr::Binary(op, Box::new(l), Box::new(r))
    }

    #[test]
    fn precedence_and_literals() {
        assert_eq!(
            parse("1 + 2 * 3").unwrap(),
            bin(
                BinaryOp::Add,
                num(1),
                bin(BinaryOp::Multiply, num(2), num(3))
            )
        );
        assert_eq!(
            parse("a & 'x' = b || c && !d").unwrap(),
            bin(
                BinaryOp::Or,
                bin(
                    BinaryOp::Equal,
                    bin(BinaryOp::Concat, field("a", 1), Expr::Text("x".into())),
                    field("b", 11)
                ),
                bin(
                    BinaryOp::And,
                    field("c", 16),
                    Expr::Not(Box::new(field("d", 22)))
                )
            )
        );
        assert_eq!(parse("TRUE").unwrap(), Expr::Bool(true));
        assert_eq!(parse("false").unwrap(), Expr::Bool(false));
        assert_eq!(parse("-(2)").unwrap(), Expr::Negate(Box::new(num(2))));
        assert_eq!(
            parse("2 ^ 3 ^ 2").unwrap(),
            bin(
                BinaryOp::Power,
                num(2),
                bin(BinaryOp::Power, num(3), num(2))
            )
        );
        assert_eq!(
            parse("Account.Owner.Name").unwrap(),
            field("Account.Owner.Name", 1)
        );
        for (text, op) in [
            ("a == b", BinaryOp::Equal),
            ("a <> b", BinaryOp::NotEqual),
            ("a != b", BinaryOp::NotEqual),
            ("a < b", BinaryOp::Less),
            ("a <= b", BinaryOp::LessOrEqual),
            ("a > b", BinaryOp::Greater),
            ("a >= b", BinaryOp::GreaterOrEqual),
            ("a - b", BinaryOp::Subtract),
            ("a / b", BinaryOp::Divide),
        ] {
            assert_eq!(
                parse(text).unwrap(),
                bin(op, field("a", 1), field("b", text.len())),
                "{text}"
            );
        }
    }

    #[test]
    fn functions_case_insensitive_with_arity() {
        let Expr::Call { function, args, .. } = parse("if(a, 1, 2)").unwrap() else {
            panic!("call");
        };
        assert_eq!((function, args.len()), (Function::If, 3));
        assert!(parse("Case(a, 'x', 1, 'y', 2, 0)").is_ok());
        assert!(parse("TODAY()").is_ok());
        assert!(parse("Now()").is_ok());
        assert!(parse("and(a, b, c)").is_ok());
        let error = parse("IF(a, 1)").unwrap_err();
        assert_eq!(error.position, Some(1));
        assert!(
            error.message.contains("IF takes 3 arguments, not 2"),
            "{error}"
        );
        let error = parse("CASE(a, 1, 2)").unwrap_err();
        assert!(error.message.contains("CASE takes"), "{error}");
        let error = parse("1 + FOO(2)").unwrap_err();
        assert_eq!(
            (error.position, error.message.as_str()),
            (Some(5), "unknown function FOO")
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = parse("1 +").unwrap_err();
        assert_eq!(error.position, Some(4));
        assert!(error.message.contains("end of the formula"), "{error}");
        let error = parse("(1 + 2").unwrap_err();
        assert_eq!(error.position, Some(7));
        let error = parse("1 2").unwrap_err();
        assert_eq!(
            (error.position, error.message.as_str()),
            (Some(3), "unexpected number 2")
        );
        let error = parse("IF(a 1, 2)").unwrap_err();
        assert_eq!(error.position, Some(6));
        assert!(parse("").is_err());
        assert!(parse("   ").is_err());
    }
}
