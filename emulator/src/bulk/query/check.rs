//! What Bulk API 2.0 refuses in a query job's SOQL (GROUP BY, OFFSET, TYPEOF, aggregate functions, compound
//! fields including `FIELDS()`, parent-to-child subqueries), checked at create time. Salesforce answers these
//! with `API_ERROR`; the subquery and compound-field texts are the ones real orgs return, the others follow them.

use crate::soql::{FieldType, ObjectMeta, Schema};

/// Functions that make a query an aggregate query.
const AGGREGATES: [&str; 6] = ["COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"];

/// A SOQL feature Bulk API 2.0 does not run, with the message to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Words and parentheses of a query, outside string literals, upper-cased.
fn tokens(query: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = query.chars();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word).to_ascii_uppercase());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                flush(&mut word, &mut tokens);
                // Skip the literal, honouring backslash escapes.
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => {
                            chars.next();
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
            }
            '(' | ')' | ',' => {
                flush(&mut word, &mut tokens);
                tokens.push(c.to_string());
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => word.push(c),
            _ => flush(&mut word, &mut tokens),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// Refuses the syntax Bulk API 2.0 does not support (before the query is compiled, since the SOQL engine may
/// not parse some of it at all).
pub fn check_syntax(query: &str) -> Result<(), Unsupported> {
    let tokens = tokens(query);
    for (position, token) in tokens.iter().enumerate() {
        let next = tokens.get(position + 1).map(String::as_str);
        // `IN (SELECT ...)` is a semi-join (or `NOT IN`, an anti-join), which Bulk API 2.0 runs.
        let semi_join = position > 0 && tokens[position - 1] == "IN";
        let refuse = match (token.as_str(), next) {
            ("(", Some("SELECT")) if semi_join => continue,
            ("(", Some("SELECT")) => {
                "Aggregate Relationships not supported in Bulk V2 Query with CSV content type"
            }
            ("GROUP", Some("BY")) => "GROUP BY is not supported in Bulk V2 Query",
            ("OFFSET", _) => "OFFSET is not supported in Bulk V2 Query",
            ("TYPEOF", _) => "TYPEOF is not supported in Bulk V2 Query",
            ("FIELDS", Some("(")) => "Selecting compound data not supported in Bulk Query",
            (name, Some("(")) if AGGREGATES.contains(&name) => {
                "Aggregate queries are not supported in Bulk V2 Query"
            }
            _ => continue,
        };
        return Err(Unsupported(refuse.to_string()));
    }
    Ok(())
}

/// The type of the field a column (`Name`, `Account.BillingAddress`) reads, following relationships.
fn column_type(schema: &dyn Schema, object: &ObjectMeta, column: &str) -> Option<FieldType> {
    let mut current = object;
    let mut segments = column.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            let index = current.field_index(segment)?;
            return current.field(index).map(|field| field.field_type);
        }
        let reference = current.relationship_field(segment)?;
        let target = current.field(reference)?.reference_to.first()?;
        current = schema.object(target)?;
    }
    None
}

/// Refuses selected compound (address) fields once the query has compiled.
pub fn check_columns(
    schema: &dyn Schema,
    object: &str,
    columns: &[String],
) -> Result<(), Unsupported> {
    let Some(meta) = schema.object(object) else {
        return Ok(());
    };
    if columns
        .iter()
        .any(|column| column_type(schema, meta, column) == Some(FieldType::Address))
    {
        return Err(Unsupported(
            "Selecting compound data not supported in Bulk Query".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_bulk_queries_do_not_run() {
        for (query, message) in [
            (
                "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
                "Aggregate Relationships",
            ),
            ("SELECT Name FROM Account GROUP BY Name", "GROUP BY"),
            ("SELECT Id FROM Account LIMIT 5 OFFSET 10", "OFFSET"),
            (
                "SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
                "TYPEOF",
            ),
            ("SELECT COUNT() FROM Account", "Aggregate queries"),
            ("SELECT count(Id) FROM Account", "Aggregate queries"),
            ("SELECT FIELDS(STANDARD) FROM Account", "compound data"),
        ] {
            let error = check_syntax(query).expect_err(query);
            assert!(error.0.contains(message), "{query}: {}", error.0);
        }
    }

    #[test]
    fn accepts_ordinary_queries_and_literals() {
        for query in [
            "SELECT Id, Name, Account.Name FROM Contact WHERE Name = 'GROUP BY (SELECT'",
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact) AND Id NOT IN (SELECT AccountId FROM Case)",
            "SELECT Id FROM Account WHERE Name LIKE 'it\\'s OFFSET%' ORDER BY Name LIMIT 10",
            "SELECT Id, Offset__c FROM Account",
            "SELECT Id FROM Account WHERE Max__c > 3",
        ] {
            assert_eq!(check_syntax(query), Ok(()), "{query}");
        }
    }
}
