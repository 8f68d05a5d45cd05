//! sfsync: the Postgres extension that turns Salesforce mappings into typed tables, captures every
//! application write into a queue, and applies Salesforce records without echoing them back.
//!
//! Most of the SQL surface lives in `sql/*.sql`; Rust is used where it earns its place: the capture
//! triggers on the hot path of every application write, the describe → column type mapping, and input
//! validation that needs a real tokenizer (API names, SOQL filter conditions).

use pgrx::prelude::*;

mod capture;
mod errors;
mod guc;
mod names;
mod plan;
mod session;
mod soql_check;

::pgrx::pg_module_magic!();

/// Registers sfsync's settings when Postgres loads the library.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
}

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../sql/capture.sql",
    name = "capture",
    requires = ["bootstrap"]
);
extension_sql_file!(
    "../sql/session.sql",
    name = "session",
    requires = [
        "capture",
        session::_bind_session,
        session::_session_schema,
        names::_check_identifier
    ]
);
extension_sql_file!(
    "../sql/mapping.sql",
    name = "mapping",
    requires = [
        "session",
        plan::_column_plan,
        names::_check_api_name,
        soql_check::_check_filter
    ]
);
extension_sql_file!("../sql/queue.sql", name = "queue", requires = ["mapping"]);
extension_sql_file!("../sql/reader.sql", name = "reader", requires = ["queue"]);
extension_sql_file!(
    "../sql/reconcile.sql",
    name = "reconcile",
    requires = ["reader"]
);
extension_sql_file!(
    "../sql/formulas.sql",
    name = "formulas",
    requires = ["reconcile"]
);
extension_sql_file!(
    "../sql/status.sql",
    name = "status",
    requires = ["formulas"]
);
extension_sql_file!("../sql/heroku.sql", name = "heroku", requires = ["status"]);
extension_sql_file!(
    "../sql/monitoring.sql",
    name = "monitoring",
    requires = ["heroku"]
);
extension_sql_file!("../sql/grants.sql", name = "grants", finalize);

// `#[pg_test]`s need a running Postgres: they run through `cargo pgrx test` (which enables the
// feature), never through a plain `cargo test`.
#[cfg(feature = "pg_test")]
mod tests;

/// Hooks for `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
