//! `@{referenceId.path}` references between composite subrequests: `.field` steps into a JSON object and
//! `[n]` indexes an array (`@{NewAccount.id}`, `@{Query1.records[0].Id}`, `@{Acct.BillingAddress.city}`).
//! Reference ids and field names are case-sensitive.

use std::collections::HashMap;

use serde_json::Value as Json;

/// A reference that cannot be resolved; `text` is the reference as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("Invalid reference specified. No value for {text} found: '{reference_id}' is not the referenceId of an earlier subrequest that succeeded")]
    UnknownReferenceId { text: String, reference_id: String },
    #[error("Invalid reference specified. No value for {text} found in {reference_id}")]
    NoValue { text: String, reference_id: String },
    #[error("Invalid reference specified: {text} is not of the form @{{referenceId.field}}")]
    Malformed { text: String },
}

/// The bodies of earlier subrequests that succeeded, by referenceId.
pub type Results = HashMap<String, Json>;

enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Field(&after_dot[..end]));
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix('[') {
            let close = after_bracket.find(']')?;
            steps.push(Step::Index(after_bracket[..close].trim().parse().ok()?));
            rest = &after_bracket[close + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The value `inner` (`refId.path`, the text between `@{` and `}`) points at.
fn lookup<'r>(inner: &str, results: &'r Results) -> Result<&'r Json, ReferenceError> {
    let text = format!("@{{{inner}}}");
    let id_end = inner.find(['.', '[']).unwrap_or(inner.len());
    let reference_id = &inner[..id_end];
    if reference_id.is_empty() {
        return Err(ReferenceError::Malformed { text });
    }
    let Some(mut value) = results.get(reference_id) else {
        return Err(ReferenceError::UnknownReferenceId {
            text,
            reference_id: reference_id.to_string(),
        });
    };
    let steps = parse_path(&inner[id_end..])
        .ok_or_else(|| ReferenceError::Malformed { text: text.clone() })?;
    for step in steps {
        let next = match step {
            Step::Field(name) => value.get(name),
            Step::Index(position) => value.get(position),
        };
        value = next.ok_or_else(|| ReferenceError::NoValue {
            text: text.clone(),
            reference_id: reference_id.to_string(),
        })?;
    }
    Ok(value)
}

fn as_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Replaces every reference in `text` by the referenced value's text.
pub fn resolve_text(text: &str, results: &Results) -> Result<String, ReferenceError> {
    let mut resolved = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        resolved.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(ReferenceError::Malformed {
                text: rest[start..].to_string(),
            });
        };
        resolved.push_str(&as_text(lookup(&after[..end], results)?));
        rest = &after[end + 1..];
    }
    resolved.push_str(rest);
    Ok(resolved)
}

/// Resolves references in every string of a JSON body. A string that is exactly one reference takes the
/// referenced value itself (a number stays a number); references inside longer strings are substituted as text.
pub fn resolve_json(body: &Json, results: &Results) -> Result<Json, ReferenceError> {
    Ok(match body {
        Json::String(text) => {
            if let Some(inner) = text
                .strip_prefix("@{")
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|inner| !inner.contains('}'))
            {
                lookup(inner, results)?.clone()
            } else if text.contains("@{") {
                Json::String(resolve_text(text, results)?)
            } else {
                body.clone()
            }
        }
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|item| resolve_json(item, results))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, value)| Ok((key.clone(), resolve_json(value, results)?)))
                .collect::<Result<_, ReferenceError>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether a referenceId uses only letters, digits and `_` (and is not empty).
pub fn valid_reference_id(reference_id: &str) -> bool {
    !reference_id.is_empty()
        && reference_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn results() -> Results {
        let mut results = Results::new();
        results.insert(
            "NewAccount".into(),
            json!({"id": "001R00000064wdtIAA", "success": true}),
        );
        results.insert(
            "Query1".into(),
            json!({"totalSize": 2, "records": [{"Id": "003A"}, {"Id": "003B", "Amount": 12.5}]}),
        );
        results
    }

    #[test]
    fn fields_and_indexes_resolve() {
        let results = results();
        assert_eq!(
            resolve_text(
                "/services/data/v62.0/sobjects/Account/@{NewAccount.id}",
                &results
            ),
            Ok("/services/data/v62.0/sobjects/Account/001R00000064wdtIAA".into())
        );
        assert_eq!(
            resolve_text("@{Query1.records[1].Id}-@{Query1.totalSize}", &results),
            Ok("003B-2".into())
        );
        assert_eq!(
            resolve_json(
                &json!({"AccountId": "@{NewAccount.id}", "Amount": "@{Query1.records[1].Amount}",
                        "Note": "from @{Query1.records[0].Id}", "Tags": ["@{NewAccount.success}"]}),
                &results
            ),
            Ok(
                json!({"AccountId": "001R00000064wdtIAA", "Amount": 12.5, "Note": "from 003A", "Tags": [true]})
            )
        );
    }

    #[test]
    fn bad_references_are_reported() {
        let results = results();
        assert!(matches!(
            resolve_text("@{Missing.id}", &results),
            Err(ReferenceError::UnknownReferenceId { .. })
        ));
        assert!(matches!(
            resolve_text("@{newaccount.id}", &results),
            Err(ReferenceError::UnknownReferenceId { .. })
        ));
        assert!(matches!(
            resolve_text("@{NewAccount.Id}", &results),
            Err(ReferenceError::NoValue { .. })
        ));
        assert!(matches!(
            resolve_text("@{Query1.records[5].Id}", &results),
            Err(ReferenceError::NoValue { .. })
        ));
        assert!(matches!(
            resolve_text("@{Query1.records[x]}", &results),
            Err(ReferenceError::Malformed { .. })
        ));
        assert!(matches!(
            resolve_text("@{NewAccount.id", &results),
            Err(ReferenceError::Malformed { .. })
        ));
        assert!(valid_reference_id("New_Account1"));
        assert!(!valid_reference_id("new-account"));
        assert!(!valid_reference_id(""));
    }
}
