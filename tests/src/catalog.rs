//! Catalog snapshots (tests/sql/catalog_snapshot.sql) of a database and a readable diff of two, for
//! proving that an upgraded install has exactly the schema of a fresh one.

use std::collections::BTreeMap;
use tokio_postgres::Client;

/// The snapshot query, kept as SQL so it can also be run by hand with psql.
pub const SNAPSHOT_SQL: &str = include_str!("../sql/catalog_snapshot.sql");

/// Object key (`function sfsync.status()`, `column salesforce.account.name`...) → its description.
pub type Snapshot = BTreeMap<String, String>;

/// The catalog snapshot of the database `client` is connected to.
pub async fn snapshot(client: &Client) -> Snapshot {
    let rows = client
        .query(SNAPSHOT_SQL, &[])
        .await
        .unwrap_or_else(|e| panic!("catalog snapshot: {e}"));
    let mut snapshot = Snapshot::new();
    for row in rows {
        let key: String = row.get(0);
        let body: String = row.get(1);
        // keys are unique by construction; should two objects ever share one, keep both bodies
        snapshot
            .entry(key)
            .and_modify(|existing| {
                existing.push('\n');
                existing.push_str(&body)
            })
            .or_insert(body);
    }
    snapshot
}

/// `None` when equal; otherwise every object missing on one side and a line diff (`-` only in
/// `left`, `+` only in `right`) of every object whose description differs.
pub fn diff(
    left_name: &str,
    left: &Snapshot,
    right_name: &str,
    right: &Snapshot,
) -> Option<String> {
    let mut out = String::new();
    for (key, body) in left {
        match right.get(key) {
            None => out.push_str(&format!(
                "only in {left_name}: {key}\n{}\n",
                indent(body, "    - ")
            )),
            Some(other) if other != body => {
                out.push_str(&format!("differs: {key}\n"));
                out.push_str(&line_diff(body, other));
            }
            Some(_) => {}
        }
    }
    for (key, body) in right {
        if !left.contains_key(key) {
            out.push_str(&format!(
                "only in {right_name}: {key}\n{}\n",
                indent(body, "    + ")
            ));
        }
    }
    (!out.is_empty()).then(|| format!("--- {left_name}\n+++ {right_name}\n{out}"))
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A longest-common-subsequence line diff; changed lines only, each with its line number on its
/// side (function bodies are a few hundred lines at most, so the quadratic table is small).
fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("    -{:>4} {}\n", i + 1, a[i]));
            i += 1;
        } else {
            out.push_str(&format!("    +{:>4} {}\n", j + 1, b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_missing_objects_and_changed_lines() {
        let left = Snapshot::from([
            ("a".to_string(), "one\ntwo\nthree".to_string()),
            ("b".to_string(), "only left".to_string()),
        ]);
        let right = Snapshot::from([
            ("a".to_string(), "one\n2\nthree".to_string()),
            ("c".to_string(), "only right".to_string()),
        ]);
        let text = diff("old", &left, "new", &right).expect("different");
        assert!(
            text.contains("differs: a\n    -   2 two\n    +   2 2\n"),
            "{text}"
        );
        assert!(text.contains("only in old: b\n    - only left"), "{text}");
        assert!(text.contains("only in new: c\n    + only right"), "{text}");
        assert_eq!(diff("old", &left, "new", &left), None);
    }
}
