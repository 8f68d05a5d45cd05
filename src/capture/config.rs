//! Per-backend cache of what each capture trigger needs to know about its table and mapping.
//!
//! The trigger arguments carry the mapping id and the mapping's configuration version; every change to
//! a mapping re-creates its triggers with a new version, so a cached entry is valid as long as the
//! version and the table's column count match.

use super::json::{Encoding, Storage};
use super::queue::as_sync_owner;
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use serde::Deserialize;
use sfsync_protocol::{Access, ColumnPlan};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

/// A mapped column the trigger captures.
pub struct CapturedColumn {
    /// Zero-based attribute index in the table's tuple descriptor.
    pub index: usize,
    /// `"column":` ready to append to the JSON object.
    pub key: Vec<u8>,
    pub encoding: Encoding,
    pub storage: Storage,
    pub insertable: bool,
    pub updatable: bool,
}

pub struct TableConfig {
    pub version: String,
    pub natts: i32,
    pub mapping_id: i64,
    pub read_write: bool,
    pub id_index: usize,
    pub sfid_index: usize,
    pub lastop_index: usize,
    pub err_index: usize,
    pub columns: Vec<CapturedColumn>,
}

#[derive(Deserialize)]
struct StoredMapping {
    access: Access,
    columns: Vec<ColumnPlan>,
}

thread_local! {
    static CACHE: RefCell<HashMap<Oid, Rc<TableConfig>>> = RefCell::new(HashMap::new());
}

/// The trigger's (mapping id, version) arguments.
///
/// # Safety
/// `trigger` must point to the firing trigger.
pub unsafe fn trigger_args(trigger: *const pg_sys::Trigger) -> (i64, &'static str) {
    unsafe {
        let trigger = &*trigger;
        if trigger.tgnargs < 2 {
            error!(
                "sfsync capture trigger {} needs two arguments (mapping id, version)",
                CStr::from_ptr(trigger.tgname).to_string_lossy()
            );
        }
        let args = std::slice::from_raw_parts(trigger.tgargs, trigger.tgnargs as usize);
        let mapping_id = CStr::from_ptr(args[0])
            .to_str()
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or_else(|| error!("sfsync capture trigger: bad mapping id argument"));
        let version = CStr::from_ptr(args[1]).to_str().unwrap_or("");
        (mapping_id, version)
    }
}

/// Whether the firing trigger is a BEFORE trigger that captures updates itself (a third argument
/// `capture_updates`): then the table's AFTER trigger fires only for inserts and deletes. Triggers
/// created before 0.2.0 have two arguments and leave updates to the AFTER trigger.
///
/// # Safety
/// `trigger` must point to the firing trigger.
pub unsafe fn captures_updates(trigger: *const pg_sys::Trigger) -> bool {
    unsafe {
        let trigger = &*trigger;
        if trigger.tgnargs < 3 {
            return false;
        }
        let args = std::slice::from_raw_parts(trigger.tgargs, trigger.tgnargs as usize);
        CStr::from_ptr(args[2]).to_bytes() == CAPTURE_UPDATES.as_bytes()
    }
}

/// The third argument of a BEFORE trigger that captures updates (see [`captures_updates`]).
pub const CAPTURE_UPDATES: &str = "capture_updates";

/// The cached configuration for the firing trigger, loading it on first use or after a change.
///
/// # Safety
/// `trigdata` must be the firing trigger's data.
pub unsafe fn table_config(trigdata: &pg_sys::TriggerData) -> Rc<TableConfig> {
    unsafe {
        let trigger = trigdata.tg_trigger;
        let tgoid = (*trigger).tgoid;
        let (mapping_id, version) = trigger_args(trigger);
        let tupdesc = (*trigdata.tg_relation).rd_att;
        let natts = (*tupdesc).natts;
        let cached = CACHE.with(|c| c.borrow().get(&tgoid).cloned());
        if let Some(config) = cached {
            if config.version == version && config.natts == natts && config.mapping_id == mapping_id
            {
                return config;
            }
        }
        let config = Rc::new(load(mapping_id, version, tupdesc));
        CACHE.with(|c| c.borrow_mut().insert(tgoid, config.clone()));
        config
    }
}

unsafe fn load(mapping_id: i64, version: &str, tupdesc: pg_sys::TupleDesc) -> TableConfig {
    let stored: Option<pgrx::JsonB> = as_sync_owner(|| {
        Spi::get_one_with_args(
            "SELECT pg_catalog.jsonb_build_object('access', access, 'columns', columns) \
             FROM sfsync.mapping WHERE id OPERATOR(pg_catalog.=) $1",
            &[mapping_id.into()],
        )
        .unwrap_or_else(|e| error!("sfsync capture: cannot read mapping {mapping_id}: {e}"))
    });
    let Some(stored) = stored else {
        error!("sfsync capture: mapping {mapping_id} does not exist (drop the trigger or re-create the mapping)");
    };
    let stored: StoredMapping = serde_json::from_value(stored.0).unwrap_or_else(|e| {
        error!("sfsync capture: mapping {mapping_id} has no usable column plan: {e}")
    });

    // SAFETY: the relation's tuple descriptor is valid for the duration of the trigger call.
    let attributes = unsafe { (*tupdesc).attrs.as_slice((*tupdesc).natts as usize) };
    let index_of = |name: &str| -> Option<usize> {
        attributes.iter().position(|a| {
            !a.attisdropped
                && unsafe { CStr::from_ptr(a.attname.data.as_ptr()) }.to_bytes() == name.as_bytes()
        })
    };
    let required = |name: &str| {
        index_of(name).unwrap_or_else(|| {
            error!(
                "sfsync capture: column {name} is missing from the table of mapping {mapping_id}"
            )
        })
    };
    let mut columns = Vec::new();
    for planned in stored.columns.iter().filter(|c| !c.system) {
        // A user may drop a mapped column; the sync then simply no longer sends it.
        let Some(index) = index_of(&planned.column) else {
            continue;
        };
        let attribute = &attributes[index];
        let mut key = Vec::with_capacity(planned.column.len() + 3);
        key.push(b'"');
        super::json::push_json_string_body(&mut key, planned.column.as_bytes());
        key.extend_from_slice(b"\":");
        columns.push(CapturedColumn {
            index,
            key,
            encoding: Encoding::for_type(attribute.atttypid),
            storage: Storage {
                by_value: attribute.attbyval,
                length: attribute.attlen,
            },
            insertable: planned.insertable,
            updatable: planned.updatable,
        });
    }
    TableConfig {
        version: version.to_string(),
        natts: unsafe { (*tupdesc).natts },
        mapping_id,
        read_write: stored.access == Access::ReadWrite,
        id_index: required("id"),
        sfid_index: required("sfid"),
        lastop_index: required("_hc_lastop"),
        err_index: required("_hc_err"),
        columns,
    }
}
