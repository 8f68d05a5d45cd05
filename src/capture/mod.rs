//! The capture triggers: every application write to a mapped table, on the hot path.
//!
//! Two row triggers per read-write table (see `sql/capture.sql` for their DDL, `_install_triggers` in
//! `sql/mapping.sql` for how they are created):
//! - `sfsync_status` (BEFORE INSERT OR UPDATE) marks the row `_hc_lastop = 'PENDING'` and clears
//!   `_hc_err` when something will be sent, and queues updates into `sfsync.change`;
//! - `sfsync_capture` (AFTER INSERT OR DELETE) queues inserts and deletes.
//!
//! So each write fires one trigger that queues. Inserts are queued AFTER the row is written, so that
//! `INSERT … ON CONFLICT` cannot make capture queue a row that was never stored (the conflict turns
//! it into an update, which the BEFORE UPDATE trigger captures). An update reaches a BEFORE ROW
//! trigger only once its row is locked (and re-read under READ COMMITTED), so what it queues is the
//! update that is then written — or the statement fails and the queue entry goes with it. Read-only
//! tables have only `sfsync_capture`, for inserts, updates and deletes (archived as READONLY).
//!
//! Both are plain C-ABI functions: no per-call allocation of trigger wrappers, no JSON parsing, datums
//! compared and encoded directly.

mod config;
mod dates;
mod direct;
mod json;
pub mod queue;

use config::{captures_updates, table_config, TableConfig};
use json::{push_datum_json, same_value};
use pgrx::pg_sys::submodules::ffi::pg_guard_ffi_boundary;
use pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;
use queue::{enqueue, unsynced_delete, Change, Destination};
use sfsync_protocol::{Action, ChangeState, LastOp};

macro_rules! function_info_v1 {
    ($name:ident) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $name() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}

function_info_v1!(pg_finfo_sfsync_capture);
function_info_v1!(pg_finfo_sfsync_status);

/// AFTER ROW trigger: queues the change.
///
/// # Safety
/// Called by Postgres' trigger manager with a valid `fcinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn sfsync_capture(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    unsafe { pgrx_extern_c_guard(move || capture(fcinfo)) }
}

/// BEFORE ROW trigger: sets `_hc_lastop = 'PENDING'` when a change will be queued, and queues updates.
///
/// # Safety
/// Called by Postgres' trigger manager with a valid `fcinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn sfsync_status(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    unsafe { pgrx_extern_c_guard(move || mark_pending(fcinfo)) }
}

fn trigger_data<'a>(fcinfo: pg_sys::FunctionCallInfo) -> &'a pg_sys::TriggerData {
    // SAFETY: Postgres passes a valid fcinfo; `context` is checked to be TriggerData before the cast.
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
            error!("sfsync capture functions can only be called as triggers");
        }
        &*(context as *const pg_sys::TriggerData)
    }
}

/// A deformed row: one datum and null flag per attribute.
struct Row {
    values: Vec<Datum>,
    nulls: Vec<bool>,
}

impl Row {
    fn deform(tuple: pg_sys::HeapTuple, tupdesc: pg_sys::TupleDesc) -> Row {
        // SAFETY: `tuple` belongs to the relation whose descriptor is `tupdesc`.
        unsafe {
            let natts = (*tupdesc).natts as usize;
            let mut row = Row {
                values: vec![Datum::from(0); natts],
                nulls: vec![true; natts],
            };
            pg_guard_ffi_boundary(|| {
                pg_sys::heap_deform_tuple(
                    tuple,
                    tupdesc,
                    row.values.as_mut_ptr(),
                    row.nulls.as_mut_ptr(),
                )
            });
            row
        }
    }

    fn int8(&self, index: usize) -> i64 {
        if self.nulls[index] {
            error!("sfsync capture: the id column is null");
        }
        self.values[index].value() as i64
    }

    /// The text of a varchar/text column, or None when null.
    fn text(&self, index: usize) -> Option<&[u8]> {
        if self.nulls[index] {
            return None;
        }
        // SAFETY: a non-null varlena column of this row.
        unsafe {
            let detoasted = pg_guard_ffi_boundary(|| {
                pg_sys::pg_detoast_datum_packed(self.values[index].cast_mut_ptr())
            });
            Some(pgrx::varlena::varlena_to_byte_slice(detoasted))
        }
    }
}

/// Builds `{"col": value, ...}` from the columns selected by `pick`.
fn object_json<'c>(
    columns: impl Iterator<Item = &'c config::CapturedColumn>,
    row: &Row,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for column in columns {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&column.key);
        if row.nulls[column.index] {
            out.extend_from_slice(b"null");
        } else {
            // SAFETY: a non-null datum of this column's type.
            unsafe { push_datum_json(&mut out, column.encoding, row.values[column.index]) };
        }
    }
    out.push(b'}');
    (out.len() > 2).then_some(out)
}

fn changed(column: &config::CapturedColumn, old: &Row, new: &Row) -> bool {
    let i = column.index;
    match (old.nulls[i], new.nulls[i]) {
        (true, true) => false,
        (false, false) => {
            // SAFETY: both non-null datums of the same column.
            !unsafe { same_value(column.storage, old.values[i], new.values[i]) }
        }
        _ => true,
    }
}

fn capture(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    if crate::guc::applying_salesforce_data() {
        return Datum::from(0);
    }
    let td = trigger_data(fcinfo);
    // SAFETY: the trigger data's relation and tuples are valid for this call.
    let config = unsafe { table_config(td) };
    let tupdesc = unsafe { (*td.tg_relation).rd_att };
    match td.tg_event & pg_sys::TRIGGER_EVENT_OPMASK {
        pg_sys::TRIGGER_EVENT_INSERT => {
            let row = Row::deform(td.tg_trigtuple, tupdesc);
            refuse_sync_owned_writes(td, &config, None, &row);
            capture_insert(&config, &row)
        }
        pg_sys::TRIGGER_EVENT_UPDATE => {
            let (old, new) = (
                Row::deform(td.tg_trigtuple, tupdesc),
                Row::deform(td.tg_newtuple, tupdesc),
            );
            refuse_sync_owned_writes(td, &config, Some(&old), &new);
            capture_update(&config, &old, &new);
        }
        pg_sys::TRIGGER_EVENT_DELETE => {
            capture_delete(&config, &Row::deform(td.tg_trigtuple, tupdesc))
        }
        _ => {}
    }
    Datum::from(0)
}

/// `sfid` says which Salesforce record a row is: only the sync writes it (with `sfsync.origin =
/// salesforce`, which applications cannot set), or a role allowed to change one row could make the
/// sidecar update or delete any record of any object. A row's `id` is what its queued changes refer
/// to: changing it would orphan them. Both are refused with an error naming the table.
fn refuse_sync_owned_writes(
    td: &pg_sys::TriggerData,
    config: &TableConfig,
    old: Option<&Row>,
    new: &Row,
) {
    let sfid_written = match old {
        None => !new.nulls[config.sfid_index],
        Some(old) => old.text(config.sfid_index) != new.text(config.sfid_index),
    };
    if sfid_written {
        ereport!(
            PgLogLevel::ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "sfid of {} is written only by sfsync: an application may not set or change it",
                relation_name(td)
            ),
            "sfid is the Salesforce id of the row's record; sfsync fills it in when the record is created in or read from Salesforce."
        );
    }
    if let Some(old) = old {
        if old.int8(config.id_index) != new.int8(config.id_index) {
            ereport!(
                PgLogLevel::ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!(
                    "the id of a row of {} cannot change: its queued changes to Salesforce refer to it",
                    relation_name(td)
                ),
                "Insert a new row instead (and delete the old one)."
            );
        }
    }
}

/// `schema.table` of the trigger's relation, for error messages.
fn relation_name(td: &pg_sys::TriggerData) -> String {
    // SAFETY: the trigger's relation is open for the duration of the call, so its name and
    // namespace exist; both lookups return palloc'd C strings.
    unsafe {
        let relid = (*td.tg_relation).rd_id;
        let (schema, table) = pg_guard_ffi_boundary(|| {
            (
                pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid)),
                pg_sys::get_rel_name(relid),
            )
        });
        let text = |name: *mut std::ffi::c_char| {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        };
        format!("{}.{}", text(schema), text(table))
    }
}

fn capture_insert(config: &TableConfig, row: &Row) {
    let record_id = row.int8(config.id_index);
    let non_null = |c: &&config::CapturedColumn| !row.nulls[c.index];
    let (values, state, destination) = if config.read_write {
        match object_json(
            config
                .columns
                .iter()
                .filter(|c| c.insertable)
                .filter(non_null),
            row,
        ) {
            Some(values) => (values, ChangeState::New, Destination::Queue),
            None => match object_json(config.columns.iter().filter(non_null), row) {
                Some(values) => (values, ChangeState::Readonly, Destination::Archive),
                None => return,
            },
        }
    } else {
        match object_json(config.columns.iter().filter(non_null), row) {
            Some(values) => (values, ChangeState::Readonly, Destination::Archive),
            None => return,
        }
    };
    enqueue(
        &Change {
            mapping_id: config.mapping_id,
            record_id,
            sfid: row.text(config.sfid_index),
            action: Action::Insert,
            values: Some(&values),
            old: None,
            state,
        },
        destination,
    );
}

/// Queues an update; returns whether something will be sent to Salesforce (a NEW change).
fn capture_update(config: &TableConfig, old: &Row, new: &Row) -> bool {
    let sendable = |c: &&config::CapturedColumn| config.read_write && c.updatable;
    let is_changed = |c: &&config::CapturedColumn| changed(c, old, new);
    let (values, old_values, state, destination) = match object_json(
        config.columns.iter().filter(sendable).filter(is_changed),
        new,
    ) {
        Some(values) => (
            values,
            object_json(
                config.columns.iter().filter(sendable).filter(is_changed),
                old,
            ),
            ChangeState::New,
            Destination::Queue,
        ),
        None => match object_json(config.columns.iter().filter(is_changed), new) {
            Some(values) => (
                values,
                object_json(config.columns.iter().filter(is_changed), old),
                ChangeState::Readonly,
                Destination::Archive,
            ),
            None => return false, // a no-op update: nothing queued, _hc_lastop untouched
        },
    };
    let sends = state == ChangeState::New;
    enqueue(
        &Change {
            mapping_id: config.mapping_id,
            record_id: new.int8(config.id_index),
            sfid: new
                .text(config.sfid_index)
                .or_else(|| old.text(config.sfid_index)),
            action: Action::Update,
            values: Some(&values),
            old: old_values.as_deref(),
            state,
        },
        destination,
    );
    sends
}

fn capture_delete(config: &TableConfig, row: &Row) {
    let record_id = row.int8(config.id_index);
    let old = object_json(config.columns.iter(), row).unwrap_or_else(|| b"{}".to_vec());
    let sfid = row.text(config.sfid_index);
    if config.read_write && sfid.is_none() {
        unsynced_delete(config.mapping_id, record_id, &old);
        return;
    }
    let (state, destination) = if config.read_write {
        (ChangeState::New, Destination::Queue)
    } else {
        (ChangeState::Readonly, Destination::Archive)
    };
    enqueue(
        &Change {
            mapping_id: config.mapping_id,
            record_id,
            sfid,
            action: Action::Delete,
            values: None,
            old: Some(&old),
            state,
        },
        destination,
    );
}

fn mark_pending(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let td = trigger_data(fcinfo);
    let is_update = td.tg_event & pg_sys::TRIGGER_EVENT_OPMASK == pg_sys::TRIGGER_EVENT_UPDATE;
    let tuple = if is_update {
        td.tg_newtuple
    } else {
        td.tg_trigtuple
    };
    if crate::guc::applying_salesforce_data() {
        return Datum::from(tuple);
    }
    // SAFETY: the trigger data's relation and tuples are valid for this call.
    let config = unsafe { table_config(td) };
    let tupdesc = unsafe { (*td.tg_relation).rd_att };
    let new = Row::deform(tuple, tupdesc);
    let will_send = if is_update {
        let old = Row::deform(td.tg_trigtuple, tupdesc);
        // SAFETY: the firing trigger.
        if unsafe { captures_updates(td.tg_trigger) } {
            refuse_sync_owned_writes(td, &config, Some(&old), &new);
            capture_update(&config, &old, &new)
        } else {
            config
                .columns
                .iter()
                .any(|c| c.updatable && changed(c, &old, &new))
        }
    } else {
        config
            .columns
            .iter()
            .any(|c| c.insertable && !new.nulls[c.index])
    };
    if !will_send
        || (new.text(config.lastop_index) == Some(LastOp::Pending.as_str().as_bytes())
            && new.nulls[config.err_index])
    {
        return Datum::from(tuple);
    }
    let pending = LastOp::Pending.as_str().as_bytes();
    // SAFETY: builds a modified copy of the row with two replaced columns (1-based attribute numbers).
    unsafe {
        let mut columns = [config.lastop_index as i32 + 1, config.err_index as i32 + 1];
        let mut values = [
            Datum::from(pg_sys::cstring_to_text_with_len(
                pending.as_ptr().cast(),
                pending.len() as i32,
            )),
            Datum::from(0),
        ];
        let mut nulls = [false, true];
        let modified = pg_guard_ffi_boundary(|| {
            pg_sys::heap_modify_tuple_by_cols(
                tuple,
                tupdesc,
                2,
                columns.as_mut_ptr(),
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
            )
        });
        Datum::from(modified)
    }
}
