//! The sidecar's layering: every top-level module of `sidecar/src` uses only the modules that the
//! table "The crates and what each part may touch" in `docs/architecture.md` allows it, and every
//! module has a row there. The table is read from the document itself, so code and document cannot
//! drift apart: a new dependency needs a line in the table first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Files that wire the crate together and may use anything (`main.rs` imports `commands`).
const WIRING: [&str; 2] = ["main", "lib"];
/// Items of the crate root (`lib.rs`) that every module may use.
const ROOT_ITEMS: [&str; 1] = ["error_chain"];

enum Allowed {
    Everything,
    Only(BTreeSet<String>),
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Backticked words of one table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The sidecar's rows of the table: module → what it may use.
fn allowed_table() -> BTreeMap<String, Allowed> {
    let document = fs::read_to_string(manifest_dir().join("../docs/architecture.md"))
        .expect("docs/architecture.md is readable");
    let section = document
        .split("## The crates and what each part may touch")
        .nth(1)
        .expect("the table's section exists");
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [places, _, may_use] = cells[..] else {
            continue;
        };
        let places = ticked(places);
        if !places
            .first()
            .is_some_and(|first| first.starts_with("sidecar/src/"))
        {
            continue;
        }
        let allowed = || {
            if may_use.starts_with("everything") {
                Allowed::Everything
            } else {
                Allowed::Only(ticked(may_use).into_iter().collect())
            }
        };
        for place in places {
            let name = place
                .trim_start_matches("sidecar/src/")
                .trim_end_matches('/')
                .trim_end_matches(".rs")
                .to_string();
            assert!(
                table.insert(name.clone(), allowed()).is_none(),
                "{name} has two rows"
            );
        }
    }
    table
}

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(directory).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::`, including `use crate::{a, b::c}` groups.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (start, _) in text.match_indices("crate::") {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // identifiers ending in `crate`, not the path keyword
        }
        let rest = &text[start + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 {
                    items.push(std::mem::take(&mut item));
                    break;
                }
                if depth == 1 && c != ',' && c != '{' {
                    item.push(c);
                }
            }
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

fn top_level_module(source: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(source).expect("file under src");
    let first = relative.components().next().expect("non-empty path");
    let first = first.as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_module_uses_only_what_the_architecture_table_allows() {
    let table = allowed_table();
    let source = manifest_dir().join("src");
    let mut files = Vec::new();
    rust_files(&source, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let module = top_level_module(&source, file);
        if WIRING.contains(&module.as_str()) {
            continue;
        }
        let Some(allowed) = table.get(&module) else {
            violations.push(format!(
                "{module} (from {}) has no row in docs/architecture.md",
                file.display()
            ));
            continue;
        };
        let Allowed::Only(allowed) = allowed else {
            continue;
        };
        let text = fs::read_to_string(file).expect("readable source");
        for used in crate_modules(&text) {
            if used == module || ROOT_ITEMS.contains(&used.as_str()) || allowed.contains(&used) {
                continue;
            }
            violations.push(format!(
                "{} uses crate::{used}, which the row of {module} does not allow",
                file.strip_prefix(&source).unwrap_or(file).display()
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn nothing_outside_the_wiring_may_use_commands() {
    for (module, allowed) in allowed_table() {
        if let Allowed::Only(allowed) = allowed {
            assert!(
                !allowed.contains("commands"),
                "{module} may not use commands: commands sits on top"
            );
        }
    }
}

#[test]
fn group_imports_are_seen() {
    let used = crate_modules("use crate::{db::Database, metrics::{Health, Metrics}, shutdown};");
    let expected: BTreeSet<String> = ["db", "metrics", "shutdown"]
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(used, expected);
    assert_eq!(
        crate_modules("let x = crate::commands::run::x(); // sfsync_crate::no"),
        BTreeSet::from(["commands".to_string()])
    );
}
