//! The hot path of capture: a queued change written straight into `sfsync.change` with `heap_insert`
//! and `index_insert`, the way Postgres writes its own catalogs.
//!
//! Going through SPI costs an executor start-up per captured row (about 15 µs, several times the
//! insert itself). The queue table is ours and simple — plain column indexes, no triggers, no
//! constraints that could fail — so writing it directly is safe. Anything unexpected about the table
//! (an expression or partial index, a missing column) makes `DirectQueue::load` decline, and the caller
//! falls back to the SPI path.

use pgrx::pg_sys::submodules::ffi::pg_guard_ffi_boundary;
use pgrx::pg_sys::{self, Datum, Oid};
use sfsync_protocol::{Action, ChangeState};
use std::cell::RefCell;
use std::ffi::CStr;

unsafe extern "C-unwind" {
    /// `commands/sequence.c`; not in pgrx's bindings.
    fn nextval_internal(relid: Oid, check_permissions: bool) -> i64;
}

const LOCK: pg_sys::LOCKMODE = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;

/// Where each column we fill sits in `sfsync.change`.
struct Layout {
    natts: usize,
    id: usize,
    txid: usize,
    mapping_id: usize,
    record_id: usize,
    sfid: usize,
    action: usize,
    values: usize,
    old: usize,
    state: usize,
    attempts: usize,
    created_at: usize,
    updated_at: usize,
}

struct DirectQueue {
    relid: Oid,
    sequence: Oid,
    layout: Layout,
    /// (index oid, heap attribute numbers of its key columns, unique)
    indexes: Vec<(Oid, Vec<i16>, bool)>,
}

thread_local! {
    /// None = not loaded yet; Some(None) = this database's queue cannot take direct inserts.
    static QUEUE: RefCell<Option<Option<DirectQueue>>> = const { RefCell::new(None) };
}

fn attribute_index(tupdesc: pg_sys::TupleDesc, name: &str) -> Option<usize> {
    // SAFETY: a valid tuple descriptor of an open relation.
    let attrs = unsafe { (*tupdesc).attrs.as_slice((*tupdesc).natts as usize) };
    attrs.iter().position(|a| {
        !a.attisdropped
            && unsafe { CStr::from_ptr(a.attname.data.as_ptr()) }.to_bytes() == name.as_bytes()
    })
}

impl DirectQueue {
    /// Reads the queue table's layout and indexes; None when anything is not as expected.
    unsafe fn load() -> Option<DirectQueue> {
        unsafe {
            let namespace = pg_sys::get_namespace_oid(c"sfsync".as_ptr(), true);
            if namespace == Oid::INVALID {
                return None;
            }
            let relid = pg_sys::get_relname_relid(c"change".as_ptr(), namespace);
            let sequence = pg_sys::get_relname_relid(c"change_id_seq".as_ptr(), namespace);
            if relid == Oid::INVALID || sequence == Oid::INVALID {
                return None;
            }
            let rel = pg_sys::try_table_open(relid, LOCK);
            if rel.is_null() {
                return None;
            }
            let tupdesc = (*rel).rd_att;
            let column = |name| attribute_index(tupdesc, name);
            let layout = (|| {
                Some(Layout {
                    natts: (*tupdesc).natts as usize,
                    id: column("id")?,
                    txid: column("txid")?,
                    mapping_id: column("mapping_id")?,
                    record_id: column("record_id")?,
                    sfid: column("sfid")?,
                    action: column("action")?,
                    values: column("values")?,
                    old: column("old")?,
                    state: column("state")?,
                    attempts: column("attempts")?,
                    created_at: column("created_at")?,
                    updated_at: column("updated_at")?,
                })
            })();
            let has_triggers = !(*rel).trigdesc.is_null();
            let mut indexes = Vec::new();
            let mut usable = layout.is_some() && !has_triggers;
            let list = pg_sys::RelationGetIndexList(rel);
            let count = if list.is_null() { 0 } else { (*list).length };
            for i in 0..count {
                let index_oid = pg_sys::list_nth_oid(list, i);
                let index = pg_sys::index_open(index_oid, LOCK);
                let info = pg_sys::BuildIndexInfo(index);
                if !(*info).ii_Expressions.is_null() || !(*info).ii_Predicate.is_null() {
                    usable = false;
                }
                let info = &*info;
                let keys = info.ii_IndexAttrNumbers[..info.ii_NumIndexAttrs as usize].to_vec();
                indexes.push((index_oid, keys, (*(*index).rd_index).indisunique));
                pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
            }
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            if !usable {
                return None;
            }
            Some(DirectQueue {
                relid,
                sequence,
                layout: layout?,
                indexes,
            })
        }
    }
}

fn jsonb_datum(json: &[u8]) -> Datum {
    let mut cstring = Vec::with_capacity(json.len() + 1);
    cstring.extend_from_slice(json);
    cstring.push(0);
    // SAFETY: jsonb's input function on a NUL-terminated string we own for the duration of the call.
    unsafe {
        pg_guard_ffi_boundary(|| {
            pg_sys::OidInputFunctionCall(
                Oid::from(pg_sys::F_JSONB_IN),
                cstring.as_mut_ptr().cast(),
                pg_sys::JSONBOID,
                -1,
            )
        })
    }
}

fn text_datum(bytes: &[u8]) -> Datum {
    // SAFETY: copies `bytes` into a palloc'd text.
    unsafe {
        Datum::from(pg_sys::cstring_to_text_with_len(
            bytes.as_ptr().cast(),
            bytes.len() as i32,
        ))
    }
}

/// Inserts a NEW change directly. Returns false (having done nothing) when the queue table does not
/// allow it, so the caller uses SPI instead.
/// What happened to one direct insert.
enum Outcome {
    Inserted,
    /// The table changed shape (index, trigger, column): read its layout again, use SPI this time.
    Stale,
}

pub fn insert_new_change(
    mapping_id: i64,
    record_id: i64,
    sfid: Option<&[u8]>,
    action: Action,
    values: Option<&[u8]>,
    old: Option<&[u8]>,
) -> bool {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_none() {
            // SAFETY: catalog lookups in a transaction.
            *q = Some(unsafe { pg_guard_ffi_boundary(|| DirectQueue::load()) });
        }
        let Some(Some(queue)) = q.as_ref() else { return false };
        // SAFETY: the relation is opened and locked like any INSERT would; the tuple matches its
        // descriptor (checked through `natts`), and every index gets its key columns.
        let outcome = unsafe {
            pg_guard_ffi_boundary(|| {
                let rel = pg_sys::try_table_open(queue.relid, LOCK);
                if rel.is_null() {
                    return Outcome::Stale;
                }
                let tupdesc = (*rel).rd_att;
                let layout = &queue.layout;
                // a DBA may add an index or a trigger at any time: then the layout is read again
                let list = pg_sys::RelationGetIndexList(rel);
                let current: Vec<Oid> = (0..if list.is_null() { 0 } else { (*list).length })
                    .map(|i| pg_sys::list_nth_oid(list, i))
                    .collect();
                let known: Vec<Oid> = queue.indexes.iter().map(|(oid, _, _)| *oid).collect();
                if (*tupdesc).natts as usize != layout.natts || !(*rel).trigdesc.is_null() || current != known {
                    pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
                    return Outcome::Stale;
                }
                let mut datums = vec![Datum::from(0); layout.natts];
                let mut nulls = vec![true; layout.natts];
                let mut set = |index: usize, datum: Datum| {
                    datums[index] = datum;
                    nulls[index] = false;
                };
                let now = Datum::from(pg_sys::GetCurrentTransactionStartTimestamp());
                set(layout.id, Datum::from(nextval_internal(queue.sequence, false)));
                set(layout.txid, Datum::from(pg_sys::GetTopFullTransactionId().value));
                set(layout.mapping_id, Datum::from(mapping_id));
                set(layout.record_id, Datum::from(record_id));
                if let Some(sfid) = sfid {
                    set(layout.sfid, text_datum(sfid));
                }
                set(layout.action, text_datum(action.as_str().as_bytes()));
                if let Some(values) = values {
                    set(layout.values, jsonb_datum(values));
                }
                if let Some(old) = old {
                    set(layout.old, jsonb_datum(old));
                }
                set(layout.state, text_datum(ChangeState::New.as_str().as_bytes()));
                set(layout.attempts, Datum::from(0i32));
                set(layout.created_at, now);
                set(layout.updated_at, now);
                let tuple = pg_sys::heap_form_tuple(tupdesc, datums.as_mut_ptr(), nulls.as_mut_ptr());
                pg_sys::simple_heap_insert(rel, tuple);
                for (index_oid, keys, unique) in &queue.indexes {
                    let index = pg_sys::index_open(*index_oid, LOCK);
                    let info = pg_sys::BuildIndexInfo(index);
                    // an index being built concurrently takes no entries yet (as in ExecInsertIndexTuples)
                    if !(*info).ii_ReadyForInserts {
                        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
                        continue;
                    }
                    if !(*info).ii_Expressions.is_null() || !(*info).ii_Predicate.is_null() || !(*(*index).rd_index).indimmediate {
                        // cannot happen after the layout check, but never write an index we cannot fill
                        pgrx::error!("sfsync capture: the queue index {index_oid:?} changed under a direct insert");
                    }
                    let mut key_values: Vec<Datum> = keys.iter().map(|k| datums[(*k - 1) as usize]).collect();
                    let mut key_nulls: Vec<bool> = keys.iter().map(|k| nulls[(*k - 1) as usize]).collect();
                    pg_sys::index_insert(
                        index,
                        key_values.as_mut_ptr(),
                        key_nulls.as_mut_ptr(),
                        &mut (*tuple).t_self,
                        rel,
                        if *unique { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES } else { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO },
                        false,
                        info,
                    );
                    pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
                }
                pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
                Outcome::Inserted
            })
        };
        match outcome {
            Outcome::Inserted => true,
            Outcome::Stale => {
                *q = None;
                false
            }
        }
    })
}
