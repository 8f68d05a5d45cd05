//! What a formula (`calculatedFormula` in a describe) reads: its field references, local
//! (`Amount__c`) and across lookups (`Account.Owner.Name`), and whether it reads the clock. Only
//! the tokens matter here, not the formula's meaning: text literals and comments are skipped,
//! identifiers followed by `(` are functions, `$` globals are left out.

use std::collections::BTreeSet;

/// The references of one formula.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// Fields of the record itself, as written.
    pub local: BTreeSet<String>,
    /// Paths through lookups (`Account.Industry`), as written.
    pub across: BTreeSet<String>,
    /// Calls `TODAY()` or `NOW()`.
    pub volatile: bool,
}

/// Functions whose value changes with the clock alone.
const CLOCK_FUNCTIONS: [&str; 2] = ["TODAY", "NOW"];
/// Words that are literals, not field references.
const LITERALS: [&str; 3] = ["TRUE", "FALSE", "NULL"];

/// Scans `formula` for references.
pub fn references(formula: &str) -> References {
    let chars: Vec<char> = formula.chars().collect();
    let mut found = References::default();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c == '/' && chars.get(at + 1) == Some(&'*') {
            at = skip_comment(&chars, at + 2);
        } else if c == '"' || c == '\'' {
            at = skip_text(&chars, at + 1, c);
        } else if c == '$' || is_name_start(c) {
            let start = at;
            at += 1;
            while at < chars.len()
                && (is_name_char(chars[at])
                    || (chars[at] == '.' && chars.get(at + 1).is_some_and(|&n| is_name_start(n))))
            {
                at += 1;
            }
            let word: String = chars[start..at].iter().collect();
            let mut next = at;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            if chars.get(next) == Some(&'(') {
                let upper = word.to_ascii_uppercase();
                found.volatile |= CLOCK_FUNCTIONS.contains(&upper.as_str());
            } else if word.starts_with('$')
                || LITERALS.contains(&word.to_ascii_uppercase().as_str())
            {
                // a global ($User.Name, $Organization.Id) or a literal
            } else if word.contains('.') {
                found.across.insert(word);
            } else {
                found.local.insert(word);
            }
        } else if c.is_ascii_digit() {
            // a number, with its decimals (not a field)
            at += 1;
            while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
                at += 1;
            }
        } else {
            at += 1;
        }
    }
    found
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Past the `*/` closing a comment that started before `at`.
fn skip_comment(chars: &[char], mut at: usize) -> usize {
    while at + 1 < chars.len() && !(chars[at] == '*' && chars[at + 1] == '/') {
        at += 1;
    }
    (at + 2).min(chars.len())
}

/// Past the quote closing a text literal that started before `at` (backslash escapes).
fn skip_text(chars: &[char], mut at: usize, quote: char) -> usize {
    while at < chars.len() && chars[at] != quote {
        if chars[at] == '\\' {
            at += 1;
        }
        at += 1;
    }
    (at + 1).min(chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn finds_local_and_cross_object_references() {
        let found = references(
            "IF(ISBLANK(Account.Industry), \"none\", Account.Owner.Name & ' / ' & Parent__r.Code__c) & TEXT(Amount__c * 1.5)",
        );
        assert_eq!(found.local, set(&["Amount__c"]));
        assert_eq!(
            found.across,
            set(&[
                "Account.Industry",
                "Account.Owner.Name",
                "Parent__r.Code__c"
            ])
        );
        assert!(!found.volatile);
    }

    #[test]
    fn text_comments_literals_and_globals_are_not_references() {
        let found = references(
            "/* Account.Secret */ 'Account.Name' & \"say \\\"Owner.Name\\\"\" & $User.Email & TRUE & NULL",
        );
        assert_eq!(found, References::default());
    }

    #[test]
    fn the_clock_makes_a_formula_volatile() {
        assert!(references("TODAY() - CloseDate").volatile);
        assert!(references("now ( ) > Deadline__c").volatile);
        assert!(!references("Today__c + 1").volatile);
        assert_eq!(references("TODAY() - CloseDate").local, set(&["CloseDate"]));
    }
}
