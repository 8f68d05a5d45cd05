//! Splits SOQL text into tokens that remember their byte offsets, so errors can point a caret at them.

use super::error::{SoqlError, SoqlErrorCode};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A name or keyword, as written.
    Ident(String),
    /// An integer or decimal number, sign included.
    Number(String),
    /// A quoted string: `value` has the escapes resolved, `raw` is the text between the quotes
    /// (LIKE needs it to tell `\%` from `%`).
    Str {
        value: String,
        raw: String,
    },
    /// An unquoted `YYYY-MM-DD`.
    Date(String),
    /// An unquoted `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh[:]mm)`.
    DateTime(String),
    Comma,
    Dot,
    LParen,
    RParen,
    Colon,
    Eq,
    /// `!=` or `<>`.
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// A character SOQL has no use for (`*`, `;`, ...): the parser reports it as unexpected.
    Other,
    Eof,
}

/// A token and where it is in the query text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

impl Token {
    /// The token as Salesforce quotes it in `unexpected token: '...'`.
    pub fn text<'q>(&self, query: &'q str) -> &'q str {
        if self.kind == TokenKind::Eof {
            "<EOF>"
        } else {
            &query[self.start..self.end]
        }
    }

    /// True if the token is the keyword `word` (case-insensitive).
    pub fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.kind, TokenKind::Ident(name) if name.eq_ignore_ascii_case(word))
    }
}

/// Tokenizes the whole query; the last token is always `Eof`.
pub fn tokenize(query: &str) -> Result<Vec<Token>, SoqlError> {
    let bytes = query.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let byte = bytes[position];
        if byte.is_ascii_whitespace() {
            position += 1;
            continue;
        }
        let start = position;
        let kind = if byte.is_ascii_alphabetic() || byte == b'_' {
            while position < bytes.len()
                && (bytes[position].is_ascii_alphanumeric() || bytes[position] == b'_')
            {
                position += 1;
            }
            TokenKind::Ident(query[start..position].to_string())
        } else if byte.is_ascii_digit()
            || (byte == b'-' && bytes.get(position + 1).is_some_and(u8::is_ascii_digit))
        {
            let (kind, end) = lex_number_or_date(bytes, position);
            position = end;
            kind
        } else if byte == b'\'' {
            let (kind, end) = lex_string(query, position)?;
            position = end;
            kind
        } else {
            let (kind, width) = lex_punctuation(bytes, position, query);
            position += width;
            kind
        };
        tokens.push(Token {
            kind,
            start,
            end: position,
        });
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        start: query.len(),
        end: query.len(),
    });
    Ok(tokens)
}

fn lex_punctuation(bytes: &[u8], position: usize, query: &str) -> (TokenKind, usize) {
    let next = bytes.get(position + 1).copied();
    match (bytes[position], next) {
        (b',', _) => (TokenKind::Comma, 1),
        (b'.', _) => (TokenKind::Dot, 1),
        (b'(', _) => (TokenKind::LParen, 1),
        (b')', _) => (TokenKind::RParen, 1),
        (b':', _) => (TokenKind::Colon, 1),
        (b'=', _) => (TokenKind::Eq, 1),
        (b'!', Some(b'=')) => (TokenKind::Ne, 2),
        (b'<', Some(b'>')) => (TokenKind::Ne, 2),
        (b'<', Some(b'=')) => (TokenKind::Le, 2),
        (b'<', _) => (TokenKind::Lt, 1),
        (b'>', Some(b'=')) => (TokenKind::Ge, 2),
        (b'>', _) => (TokenKind::Gt, 1),
        _ => {
            let width = query[position..]
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(1);
            (TokenKind::Other, width)
        }
    }
}

fn digits_at(bytes: &[u8], position: usize, count: usize) -> bool {
    bytes.len() >= position + count
        && bytes[position..position + count]
            .iter()
            .all(u8::is_ascii_digit)
}

fn lex_number_or_date(bytes: &[u8], start: usize) -> (TokenKind, usize) {
    let text = |end: usize| String::from_utf8_lossy(&bytes[start..end]).into_owned();
    let is_date = bytes[start] != b'-'
        && digits_at(bytes, start, 4)
        && bytes.get(start + 4) == Some(&b'-')
        && digits_at(bytes, start + 5, 2)
        && bytes.get(start + 7) == Some(&b'-')
        && digits_at(bytes, start + 8, 2);
    if is_date {
        let date_end = start + 10;
        if let Some(end) = datetime_tail(bytes, date_end) {
            return (TokenKind::DateTime(text(end)), end);
        }
        return (TokenKind::Date(text(date_end)), date_end);
    }
    let mut position = start + 1;
    while position < bytes.len() && bytes[position].is_ascii_digit() {
        position += 1;
    }
    if bytes.get(position) == Some(&b'.') && bytes.get(position + 1).is_some_and(u8::is_ascii_digit)
    {
        position += 1;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
    }
    (TokenKind::Number(text(position)), position)
}

/// Length of `Thh:mm:ss[.fff](Z|±hh[:]mm)` starting at `position`, if it is there.
fn datetime_tail(bytes: &[u8], position: usize) -> Option<usize> {
    if !matches!(bytes.get(position), Some(b'T') | Some(b't')) {
        return None;
    }
    let mut cursor = position + 1;
    let clock = digits_at(bytes, cursor, 2)
        && bytes.get(cursor + 2) == Some(&b':')
        && digits_at(bytes, cursor + 3, 2)
        && bytes.get(cursor + 5) == Some(&b':')
        && digits_at(bytes, cursor + 6, 2);
    if !clock {
        return None;
    }
    cursor += 8;
    if bytes.get(cursor) == Some(&b'.') && bytes.get(cursor + 1).is_some_and(u8::is_ascii_digit) {
        cursor += 1;
        while cursor < bytes.len() && bytes[cursor].is_ascii_digit() {
            cursor += 1;
        }
    }
    match bytes.get(cursor) {
        Some(b'Z') | Some(b'z') => Some(cursor + 1),
        Some(b'+') | Some(b'-') if digits_at(bytes, cursor + 1, 2) => {
            let after_hours = cursor + 3;
            if bytes.get(after_hours) == Some(&b':') && digits_at(bytes, after_hours + 1, 2) {
                Some(after_hours + 3)
            } else if digits_at(bytes, after_hours, 2) {
                Some(after_hours + 2)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn lex_string(query: &str, start: usize) -> Result<(TokenKind, usize), SoqlError> {
    let mut value = String::new();
    let mut chars = query[start + 1..].char_indices();
    while let Some((offset, character)) = chars.next() {
        match character {
            '\'' => {
                let end = start + 1 + offset + 1;
                let raw = query[start + 1..end - 1].to_string();
                return Ok((TokenKind::Str { value, raw }, end));
            }
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                let resolved = match escaped {
                    'n' | 'N' => '\n',
                    'r' | 'R' => '\r',
                    't' | 'T' => '\t',
                    'b' | 'B' => '\u{8}',
                    'f' | 'F' => '\u{c}',
                    '"' => '"',
                    '\'' => '\'',
                    '\\' => '\\',
                    '_' => '_',
                    '%' => '%',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).map(|(_, digit)| digit).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(decoded) if hex.len() == 4 => decoded,
                            _ => return Err(illegal_escape(query, start, &format!("\\u{hex}"))),
                        }
                    }
                    other => return Err(illegal_escape(query, start, &format!("\\{other}"))),
                };
                value.push(resolved);
            }
            other => value.push(other),
        }
    }
    Err(SoqlError::at(
        SoqlErrorCode::MalformedQuery,
        query,
        start,
        "mismatched character '<EOF>' expecting '''",
    ))
}

fn illegal_escape(query: &str, start: usize, sequence: &str) -> SoqlError {
    SoqlError::at(
        SoqlErrorCode::MalformedQuery,
        query,
        start,
        &format!("Illegal character sequence '{sequence}' in string literal."),
    )
}
