//! `#[pg_test]`s of the extension. They run inside one rolled-back transaction each, so everything
//! about concurrency, commit visibility and SKIP LOCKED is tested over real connections in `tests/`,
//! and bad input to the SQL API as SQL with expected output in `tests/pg_regress` (`scripts/pg-regress`).

mod api;
mod apply;
mod capture;
mod ddl;
mod fixtures;
mod protocol;
