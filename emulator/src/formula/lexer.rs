//! Formula tokens: splits formula text into numbers, strings, names, operators and punctuation, each with its
//! 1-based character position for error messages.

use rust_decimal::Decimal;

use super::FormulaError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Number(Decimal),
    Text(String),
    /// A name or a dotted field path (`Account.Owner.Name`), as written.
    Name(String),
    LParen,
    RParen,
    Comma,
    /// An operator: `+ - * / ^ & = == != <> < <= > >= && || !`.
    Op(&'static str),
}

/// A token and the 1-based character position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub position: usize,
}

const OPERATORS: [&str; 17] = [
    "==", "!=", "<>", "<=", ">=", "&&", "||", "+", "-", "*", "/", "^", "&", "=", "<", ">", "!",
];

/// Tokenizes a whole formula; `/* ... */` comments are skipped.
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, FormulaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let end = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                .ok_or_else(|| FormulaError::at(position, "unterminated comment"))?;
            i = end + 2;
            continue;
        }
        let token = match c {
            '(' => Token::LParen,
            ')' => Token::RParen,
            ',' => Token::Comma,
            '"' | '\'' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(FormulaError::at(position, "unterminated text literal"))
                        }
                        Some('\\') => {
                            let escaped = chars.get(j + 1).ok_or_else(|| {
                                FormulaError::at(position, "unterminated text literal")
                            })?;
                            text.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => *other,
                            });
                            j += 2;
                        }
                        Some(q) if *q == c => break,
                        Some(other) => {
                            text.push(*other);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                tokens.push(Spanned {
                    token: Token::Text(text),
                    position,
                });
                continue;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let literal: String = chars[i..j].iter().collect();
                let number = literal
                    .parse::<Decimal>()
                    .map_err(|_| FormulaError::at(position, format!("bad number '{literal}'")))?;
                i = j;
                tokens.push(Spanned {
                    token: Token::Number(number),
                    position,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || matches!(chars[j], '_' | '.' | '$'))
                {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                if name.ends_with('.') || name.contains("..") {
                    return Err(FormulaError::at(
                        position,
                        format!("bad field reference '{name}'"),
                    ));
                }
                i = j;
                tokens.push(Spanned {
                    token: Token::Name(name),
                    position,
                });
                continue;
            }
            _ => {
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = OPERATORS
                    .iter()
                    .find(|op| rest.starts_with(**op))
                    .ok_or_else(|| {
                        FormulaError::at(position, format!("unexpected character '{c}'"))
                    })?;
                i += op.len();
                tokens.push(Spanned {
                    token: Token::Op(op),
                    position,
                });
                continue;
            }
        };
        i += 1;
        tokens.push(Spanned { token, position });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokenize(text)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.token)
            .collect()
    }

    #[test]
    fn tokens_and_positions() {
        let tokens = tokenize("IF(Account.Industry <> 'x', 1.5, \"a\\\"b\")").expect("ok");
        assert_eq!(tokens[0].token, Token::Name("IF".into()));
        assert_eq!(tokens[2].token, Token::Name("Account.Industry".into()));
        assert_eq!(tokens[2].position, 4);
        assert_eq!(tokens[3].token, Token::Op("<>"));
        assert_eq!(tokens[3].position, 21);
        assert_eq!(tokens[4].token, Token::Text("x".into()));
        assert_eq!(tokens[6].token, Token::Number("1.5".parse().unwrap()));
        assert_eq!(tokens[8].token, Token::Text("a\"b".into()));
        assert_eq!(
            kinds("a&&b||!c==d!=e>=f<=g/* note */&h"),
            vec![
                Token::Name("a".into()),
                Token::Op("&&"),
                Token::Name("b".into()),
                Token::Op("||"),
                Token::Op("!"),
                Token::Name("c".into()),
                Token::Op("=="),
                Token::Name("d".into()),
                Token::Op("!="),
                Token::Name("e".into()),
                Token::Op(">="),
                Token::Name("f".into()),
                Token::Op("<="),
                Token::Name("g".into()),
                Token::Op("&"),
                Token::Name("h".into()),
            ]
        );
    }

    #[test]
    fn errors_carry_positions() {
        let error = tokenize("1 + 'open").unwrap_err();
        assert_eq!(
            (error.position, error.message.as_str()),
            (Some(5), "unterminated text literal")
        );
        let error = tokenize("a # b").unwrap_err();
        assert_eq!(error.position, Some(3));
        assert!(tokenize("Account..Name").is_err());
        assert!(tokenize("1 /* open").is_err());
    }
}
