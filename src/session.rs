//! The schema a sidecar's database session is bound to: kept in backend memory, set once per
//! session by `sfsync._open_session` (after it has checked the schema's org binding), read by every
//! protocol function to scope what the session may see, claim and complete.
//!
//! Backend memory rather than a setting: a setting can be changed with `SET` by whoever holds the
//! session; this binding can only be made once, by the security-definer function that checks it.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::errors::raise;

thread_local! {
    /// Postgres backends are single-threaded; the binding lives as long as the connection.
    static BOUND_SCHEMA: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Binds this session to `schema` and returns it. Binding again to the same schema is a no-op;
/// binding to another schema is refused: a session serves one schema for its whole life.
/// Not granted to anyone: only `sfsync._open_session` (security definer) calls it.
#[pg_extern(volatile, parallel_unsafe)]
fn _bind_session(schema: &str) -> String {
    BOUND_SCHEMA.with(|bound| {
        let mut bound = bound.borrow_mut();
        match bound.as_deref() {
            Some(current) if current != schema => raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!(
                    "this session is bound to schema {current:?} and cannot serve schema {schema:?}: open a new connection"
                ),
            ),
            Some(_) => {}
            None => *bound = Some(schema.to_string()),
        }
    });
    schema.to_string()
}

/// The schema this session is bound to, or NULL when it is not bound.
#[pg_extern(stable, parallel_safe)]
fn _session_schema() -> Option<String> {
    BOUND_SCHEMA.with(|bound| bound.borrow().clone())
}
