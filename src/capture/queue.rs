//! Writing captured changes into `sfsync.change` through prepared SPI plans, as `sfsync_owner`.
//!
//! Applications need no rights on `sfsync.*`: the trigger switches to `sfsync_owner` (the role that
//! owns sfsync's catalog, not a superuser) for the queue insert only — the same thing SECURITY
//! DEFINER does, without its per-call overhead — and every statement is fully qualified so the
//! caller's `search_path` cannot redirect it.

use pgrx::pg_sys::submodules::ffi::pg_guard_ffi_boundary;
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use sfsync_protocol::{Action, ChangeState};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr};

struct Plans {
    insert_change: pg_sys::SPIPlanPtr,
    insert_archive: pg_sys::SPIPlanPtr,
    unsynced_delete: pg_sys::SPIPlanPtr,
    notify: pg_sys::SPIPlanPtr,
}

thread_local! {
    static OWNER: Cell<Option<Oid>> = const { Cell::new(None) };
    static PLANS: RefCell<Option<Plans>> = const { RefCell::new(None) };
    /// (top transaction id, mapping id) of the last NOTIFY, so a transaction notifies once per mapping.
    static LAST_NOTIFY: Cell<(u32, i64)> = const { Cell::new((0, 0)) };
}

const INSERT_CHANGE: &CStr =
    c"INSERT INTO sfsync.change (mapping_id, record_id, sfid, action, \"values\", old, state) \
    VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6::pg_catalog.jsonb, $7)";
const INSERT_ARCHIVE: &CStr = c"INSERT INTO sfsync.change_archive (mapping_id, record_id, sfid, action, \"values\", old, state, processed_at) \
    VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6::pg_catalog.jsonb, $7, pg_catalog.now())";
const UNSYNCED_DELETE: &CStr =
    c"SELECT sfsync._capture_unsynced_delete($1, $2, $3::pg_catalog.jsonb)";
const NOTIFY: &CStr = c"SELECT pg_catalog.pg_notify('sfsync_changes', $1)";

/// The role capture writes the queue as: the owner of `sfsync.change` (`sfsync_owner`; under a 0.1.0
/// catalog not yet upgraded, the superuser who installed it, so this library keeps capturing between
/// the installation of new binaries and `ALTER EXTENSION sfsync UPDATE`).
fn sync_owner() -> Oid {
    if let Some(owner) = OWNER.with(Cell::get) {
        return owner;
    }
    let owner = Spi::get_one::<Oid>(
        "SELECT c.relowner FROM pg_catalog.pg_class c \
          WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('sfsync.change')",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        error!("sfsync capture: the sfsync extension is not installed in this database")
    });
    OWNER.with(|o| o.set(Some(owner)));
    owner
}

/// Runs `f` with the queue owner's rights (see [`sync_owner`]). An error inside `f` aborts the (sub)transaction, which
/// restores the caller's user id.
pub fn as_sync_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = sync_owner();
    let mut previous_user = Oid::INVALID;
    let mut previous_context = 0;
    // SAFETY: plain backend-global state switches, restored below.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut previous_user, &mut previous_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            previous_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let result = f();
    // SAFETY: restores what was read above.
    unsafe { pg_sys::SetUserIdAndSecContext(previous_user, previous_context) };
    result
}

/// Prepares and keeps a plan; must run inside an SPI connection.
unsafe fn keep_plan(sql: &CStr, argtypes: &[Oid]) -> pg_sys::SPIPlanPtr {
    unsafe {
        pg_guard_ffi_boundary(|| {
            // A generic plan: the statement never benefits from parameter values, and re-planning per
            // row (the custom-plan heuristic) would cost more than the insert itself.
            let plan = pg_sys::SPI_prepare_cursor(
                sql.as_ptr(),
                argtypes.len() as i32,
                argtypes.as_ptr().cast_mut(),
                pg_sys::CURSOR_OPT_GENERIC_PLAN as i32,
            );
            if plan.is_null() {
                let spi_result = pg_sys::SPI_result;
                error!(
                    "sfsync capture: cannot prepare {:?} (SPI result {spi_result})",
                    sql
                );
            }
            pg_sys::SPI_keepplan(plan);
            plan
        })
    }
}

unsafe fn plans() -> *const Plans {
    PLANS.with(|p| {
        if p.borrow().is_none() {
            let change_args = [
                pg_sys::INT8OID,
                pg_sys::INT8OID,
                pg_sys::TEXTOID,
                pg_sys::TEXTOID,
                pg_sys::TEXTOID,
                pg_sys::TEXTOID,
                pg_sys::TEXTOID,
            ];
            let plans = unsafe {
                Plans {
                    insert_change: keep_plan(INSERT_CHANGE, &change_args),
                    insert_archive: keep_plan(INSERT_ARCHIVE, &change_args),
                    unsynced_delete: keep_plan(
                        UNSYNCED_DELETE,
                        &[pg_sys::INT8OID, pg_sys::INT8OID, pg_sys::TEXTOID],
                    ),
                    notify: keep_plan(NOTIFY, &[pg_sys::TEXTOID]),
                }
            };
            *p.borrow_mut() = Some(plans);
        }
        p.borrow()
            .as_ref()
            .map(|p| p as *const Plans)
            .expect("plans were just prepared")
    })
}

fn text_datum(bytes: &[u8]) -> Datum {
    // SAFETY: copies `bytes` into a palloc'd text in the current memory context.
    unsafe {
        Datum::from(pg_sys::cstring_to_text_with_len(
            bytes.as_ptr() as *const c_char,
            bytes.len() as i32,
        ))
    }
}

/// Where a captured change goes.
#[derive(Clone, Copy)]
pub enum Destination {
    /// `sfsync.change`: the sidecar sends it.
    Queue,
    /// `sfsync.change_archive`: kept for visibility only (READONLY, IGNORED).
    Archive,
}

/// One captured change.
pub struct Change<'a> {
    pub mapping_id: i64,
    pub record_id: i64,
    pub sfid: Option<&'a [u8]>,
    pub action: Action,
    pub values: Option<&'a [u8]>,
    pub old: Option<&'a [u8]>,
    pub state: ChangeState,
}

unsafe fn execute(plan: pg_sys::SPIPlanPtr, values: &mut [Datum], nulls: &[c_char]) {
    unsafe {
        pg_guard_ffi_boundary(|| {
            let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), false, 0);
            if rc < 0 {
                error!("sfsync capture: queue statement failed (SPI result {rc})");
            }
        })
    }
}

fn with_spi<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: SPI connection scoped to this call.
    unsafe {
        pg_guard_ffi_boundary(|| pg_sys::SPI_connect());
    }
    let result = f();
    unsafe {
        pg_guard_ffi_boundary(|| pg_sys::SPI_finish());
    }
    result
}

fn opt_text(bytes: Option<&[u8]>) -> (Datum, c_char) {
    match bytes {
        Some(b) => (text_datum(b), b' ' as c_char),
        None => (Datum::from(0), b'n' as c_char),
    }
}

/// Inserts one change (and NOTIFYs when `sfsync.notify` is on and the change is queued).
pub fn enqueue(change: &Change<'_>, destination: Destination) {
    let notify = matches!(destination, Destination::Queue)
        && crate::guc::NOTIFY.get()
        && first_notify(change.mapping_id);
    let direct = matches!(destination, Destination::Queue)
        && change.state == ChangeState::New
        && super::direct::insert_new_change(
            change.mapping_id,
            change.record_id,
            change.sfid,
            change.action,
            change.values,
            change.old,
        );
    if direct {
        if notify {
            let mut payload = [text_datum(change.mapping_id.to_string().as_bytes())];
            with_spi(|| unsafe { execute((*plans()).notify, &mut payload, &[b' ' as c_char]) });
        }
        return;
    }
    enqueue_through_spi(change, destination, notify);
}

fn enqueue_through_spi(change: &Change<'_>, destination: Destination, notify: bool) {
    let (sfid, sfid_null) = opt_text(change.sfid);
    let (values, values_null) = opt_text(change.values);
    let (old, old_null) = opt_text(change.old);
    let mut datums = [
        Datum::from(change.mapping_id),
        Datum::from(change.record_id),
        sfid,
        text_datum(change.action.as_str().as_bytes()),
        values,
        old,
        text_datum(change.state.as_str().as_bytes()),
    ];
    let nulls = [
        b' ' as c_char,
        b' ' as c_char,
        sfid_null,
        b' ' as c_char,
        values_null,
        old_null,
        b' ' as c_char,
    ];
    let mut payload = [text_datum(change.mapping_id.to_string().as_bytes())];
    as_sync_owner(|| {
        with_spi(|| unsafe {
            let plans = &*plans();
            let plan = match destination {
                Destination::Queue => plans.insert_change,
                Destination::Archive => plans.insert_archive,
            };
            execute(plan, &mut datums, &nulls);
            if notify {
                execute(plans.notify, &mut payload, &[b' ' as c_char]);
            }
        })
    });
}

fn first_notify(mapping_id: i64) -> bool {
    // SAFETY: reads the current top-level transaction id (assigned: this transaction writes).
    let xid = unsafe { pg_sys::GetTopTransactionIdIfAny() }.into_inner();
    LAST_NOTIFY.with(|last| {
        if last.get() == (xid, mapping_id) {
            false
        } else {
            last.set((xid, mapping_id));
            true
        }
    })
}

/// A DELETE of a row that never reached Salesforce: decided in SQL (see `_capture_unsynced_delete`).
pub fn unsynced_delete(mapping_id: i64, record_id: i64, old: &[u8]) {
    let mut datums = [
        Datum::from(mapping_id),
        Datum::from(record_id),
        text_datum(old),
    ];
    let nulls = [b' ' as c_char; 3];
    as_sync_owner(|| {
        with_spi(|| unsafe { execute((*plans()).unsynced_delete, &mut datums, &nulls) })
    });
}
