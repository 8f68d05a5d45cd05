//! Open query cursors behind `nextRecordsUrl` locators (`/query/01gR8E0000000001AAA-2000`).
//!
//! A cursor is a snapshot of the matching record ids in result order, taken when the query ran; each
//! later page renders those ids from the records as they are when the page is fetched. So a record is never
//! skipped or repeated across pages while others change, and each page shows current values. Cursors expire
//! after 15 minutes of org time without use, and at most [`MAX_OPEN_CURSORS`] stay open (the least recently
//! used is closed first).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::soql::CompiledQuery;
use crate::store::RecordId;

/// Idle time after which a cursor is closed (org clock).
pub const CURSOR_IDLE_MS: i64 = 15 * 60 * 1000;
/// Open cursors kept per org.
pub const MAX_OPEN_CURSORS: usize = 50;
/// Key prefix of query locators (Salesforce's are `01g...`).
const LOCATOR_PREFIX: &str = "01g";

/// What a cursor remembers of its query.
#[derive(Debug)]
pub struct QueryCursor {
    /// The SOQL text, recompiled when the schema changed since.
    pub text: String,
    pub query: Arc<CompiledQuery>,
    /// The catalog generation `query` was compiled against.
    pub generation: u64,
    /// The org's index of the queried object.
    pub object: usize,
    /// Matching record ids in result order, at query time.
    pub ids: Vec<RecordId>,
    /// `queryAll`: deleted records stay visible.
    pub include_deleted: bool,
    pub batch_size: usize,
}

#[derive(Debug)]
struct OpenCursor {
    cursor: Arc<QueryCursor>,
    last_used_ms: i64,
}

#[derive(Debug, Default)]
struct CursorTable {
    open: HashMap<String, OpenCursor>,
    serial: u64,
}

impl CursorTable {
    fn expire(&mut self, now_ms: i64) {
        self.open
            .retain(|_, open| now_ms - open.last_used_ms <= CURSOR_IDLE_MS);
    }
}

/// Every open cursor of the org.
#[derive(Debug, Default)]
pub struct QueryLocators {
    table: Mutex<CursorTable>,
}

impl QueryLocators {
    /// Opens a cursor and returns its locator id.
    pub fn open(&self, cursor: QueryCursor, now_ms: i64) -> String {
        let mut table = self.table.lock();
        table.expire(now_ms);
        while table.open.len() >= MAX_OPEN_CURSORS {
            let oldest = table
                .open
                .iter()
                .min_by_key(|(_, open)| open.last_used_ms)
                .map(|(locator, _)| locator.clone());
            match oldest {
                Some(locator) => table.open.remove(&locator),
                None => break,
            };
        }
        table.serial += 1;
        let locator = RecordId::generate(LOCATOR_PREFIX, table.serial)
            .as_str()
            .to_string();
        table.open.insert(
            locator.clone(),
            OpenCursor {
                cursor: Arc::new(cursor),
                last_used_ms: now_ms,
            },
        );
        locator
    }

    /// The cursor behind `locator`, if it is open and has not expired; using it keeps it open.
    pub fn get(&self, locator: &str, now_ms: i64) -> Option<Arc<QueryCursor>> {
        let mut table = self.table.lock();
        table.expire(now_ms);
        let open = table.open.get_mut(locator)?;
        open.last_used_ms = now_ms;
        Some(open.cursor.clone())
    }

    /// Replaces a cursor's compiled query after a schema change (same ids, same locator).
    pub fn recompiled(&self, locator: &str, query: Arc<CompiledQuery>, generation: u64) {
        let mut table = self.table.lock();
        if let Some(open) = table.open.get_mut(locator) {
            let old = &open.cursor;
            open.cursor = Arc::new(QueryCursor {
                text: old.text.clone(),
                query,
                generation,
                object: old.object,
                ids: old.ids.clone(),
                include_deleted: old.include_deleted,
                batch_size: old.batch_size,
            });
        }
    }

    /// Closes every cursor (org reset).
    pub fn clear(&self) {
        self.table.lock().open.clear();
    }

    /// How many cursors are open.
    pub fn len(&self) -> usize {
        self.table.lock().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Org;

    fn cursor(org: &Org) -> QueryCursor {
        let query = CompiledQuery::compile("SELECT Id FROM Account", &org.soql).expect("compiles");
        QueryCursor {
            text: "SELECT Id FROM Account".into(),
            query: Arc::new(query),
            generation: org.soql.generation(),
            object: org.object_index("Account").expect("Account"),
            ids: vec![],
            include_deleted: false,
            batch_size: 2000,
        }
    }

    #[test]
    fn cursors_expire_after_fifteen_idle_minutes() {
        let org = Org::new("admin@example.com").expect("org");
        let locators = QueryLocators::default();
        let locator = locators.open(cursor(&org), 0);
        assert_eq!(locator.len(), 18);
        assert!(locator.starts_with("01g"));
        assert!(locators.get(&locator, CURSOR_IDLE_MS).is_some());
        // Using it restarted the idle time.
        assert!(locators.get(&locator, 2 * CURSOR_IDLE_MS).is_some());
        assert!(locators.get(&locator, 3 * CURSOR_IDLE_MS + 1).is_none());
        assert!(locators.get("nonsense", 0).is_none());
    }

    #[test]
    fn the_least_recently_used_cursor_is_closed_first() {
        let org = Org::new("admin@example.com").expect("org");
        let locators = QueryLocators::default();
        let first = locators.open(cursor(&org), 0);
        let second = locators.open(cursor(&org), 1);
        for n in 2..MAX_OPEN_CURSORS as i64 {
            locators.open(cursor(&org), n);
        }
        assert!(locators.get(&first, 100).is_some());
        locators.open(cursor(&org), 101);
        assert_eq!(locators.len(), MAX_OPEN_CURSORS);
        assert!(locators.get(&first, 102).is_some());
        assert!(locators.get(&second, 102).is_none());
    }
}
