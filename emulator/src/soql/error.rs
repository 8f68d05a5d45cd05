//! SOQL errors with Salesforce's error codes and message texts, including the caret form
//! (`\n<query line>\n   ^\nERROR at Row:1:Column:4\n<reason>`).

use std::fmt;

/// The `errorCode` a failed query reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoqlErrorCode {
    MalformedQuery,
    InvalidField,
    InvalidType,
    InvalidQueryFilterOperator,
    NumberOutsideValidRange,
}

impl SoqlErrorCode {
    /// The wire spelling (`MALFORMED_QUERY`).
    pub fn as_str(self) -> &'static str {
        match self {
            SoqlErrorCode::MalformedQuery => "MALFORMED_QUERY",
            SoqlErrorCode::InvalidField => "INVALID_FIELD",
            SoqlErrorCode::InvalidType => "INVALID_TYPE",
            SoqlErrorCode::InvalidQueryFilterOperator => "INVALID_QUERY_FILTER_OPERATOR",
            SoqlErrorCode::NumberOutsideValidRange => "NUMBER_OUTSIDE_VALID_RANGE",
        }
    }
}

impl fmt::Display for SoqlErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A query the engine refuses; `message` is exactly what the REST body's `message` carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SoqlError {
    pub code: SoqlErrorCode,
    pub message: String,
}

impl SoqlError {
    /// An error whose message has no caret (empty query, OFFSET too large, ...).
    pub fn plain(code: SoqlErrorCode, message: impl Into<String>) -> SoqlError {
        SoqlError {
            code,
            message: message.into(),
        }
    }

    /// An error pointing at byte offset `at` of `query` with Salesforce's caret layout.
    pub fn at(code: SoqlErrorCode, query: &str, at: usize, reason: &str) -> SoqlError {
        SoqlError {
            code,
            message: caret_message(query, at, reason),
        }
    }

    /// The HTTP status the REST API answers this error with.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The REST error body: `[{"message": ..., "errorCode": ...}]`.
    pub fn to_rest_body(&self) -> serde_json::Value {
        serde_json::json!([{ "message": self.message, "errorCode": self.code.as_str() }])
    }
}

/// Builds `\n<line>\n<spaces>^\nERROR at Row:R:Column:C\n<reason>` for byte offset `at`.
fn caret_message(query: &str, at: usize, reason: &str) -> String {
    let at = floor_char_boundary(query, at.min(query.len()));
    let line_start = query[..at]
        .rfind('\n')
        .map(|newline| newline + 1)
        .unwrap_or(0);
    let line_end = query[at..]
        .find('\n')
        .map(|newline| at + newline)
        .unwrap_or(query.len());
    let row = query[..at].matches('\n').count() + 1;
    let column = query[line_start..at].chars().count() + 1;
    let line = query[line_start..line_end].trim_end_matches('\r');
    format!(
        "\n{line}\n{caret:>width$}\nERROR at Row:{row}:Column:{column}\n{reason}",
        caret = "^",
        width = column
    )
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}
