//! Validation of Salesforce API names and of the Postgres identifiers sfsync derives from them.
//!
//! Everything a user passes as a name ends up in dynamic SQL or in SOQL, so names are checked against
//! a strict grammar here instead of being escaped later.

use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Postgres' identifier limit (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Salesforce API names: a letter, then letters, digits and single underscores, with an optional
/// `__c`-style suffix (and an optional `ns__` namespace prefix); never ending in an underscore.
pub fn is_api_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 80 || !bytes[0].is_ascii_alphabetic() {
        return false;
    }
    if bytes[bytes.len() - 1] == b'_' || name.contains("___") {
        return false;
    }
    bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A relationship path such as `Account.Ext_Id__c` or `Parent__r.Key__c` (one level).
pub fn split_relationship_path(name: &str) -> Option<(&str, &str)> {
    let (relationship, field) = name.split_once('.')?;
    (is_api_name(relationship) && is_api_name(field)).then_some((relationship, field))
}

/// Lower-case SQL identifiers sfsync creates or accepts for schemas and tables.
pub fn is_plain_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_IDENTIFIER_BYTES
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// Checks a Salesforce object or field API name (`what` is `object` or `field`; fields may be a
/// relationship path) and returns it unchanged, or raises `invalid_name` naming the bad value.
#[pg_extern(immutable, parallel_safe)]
fn _check_api_name(name: &str, what: &str) -> String {
    let ok = match what {
        "object" | "upsert field" => is_api_name(name),
        "field" => is_api_name(name) || split_relationship_path(name).is_some(),
        other => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("unknown name kind {other:?}"),
        ),
    };
    if !ok {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_NAME,
            format!(
                "invalid Salesforce {what} name {name:?}: API names start with a letter and contain only letters, digits and single underscores{}",
                if what == "field" { " (relationship paths look like Account.Ext_Id__c)" } else { "" }
            ),
        );
    }
    name.to_string()
}

/// Checks a schema or table name given by the user and returns it, or raises `invalid_name`.
#[pg_extern(immutable, parallel_safe)]
fn _check_identifier(name: &str, what: &str) -> String {
    if name.len() > MAX_IDENTIFIER_BYTES {
        raise(
            PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            format!("{what} name {name:?} is longer than {MAX_IDENTIFIER_BYTES} bytes"),
        );
    }
    if !is_plain_identifier(name) {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_NAME,
            format!(
                "invalid {what} name {name:?}: use lower-case letters, digits and underscores, starting with a letter or underscore"
            ),
        );
    }
    name.to_string()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn api_names() {
        for good in ["Account", "Ext_Id__c", "ns__Thing__c", "A1", "Foo_Bar__c"] {
            assert!(is_api_name(good), "{good}");
        }
        for bad in [
            "",
            "1Account",
            "Account_",
            "Acc ount",
            "a\"b",
            "x;drop",
            "a___b",
            "Account.Name",
        ] {
            assert!(!is_api_name(bad), "{bad}");
        }
        assert_eq!(
            split_relationship_path("Account.Ext_Id__c"),
            Some(("Account", "Ext_Id__c"))
        );
        assert_eq!(split_relationship_path("Account.Owner.Name"), None);
    }

    #[test]
    fn identifiers() {
        assert!(is_plain_identifier("salesforce"));
        assert!(is_plain_identifier("_x1"));
        assert!(!is_plain_identifier("Salesforce"));
        assert!(!is_plain_identifier("a\"; drop table x; --"));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }
}
