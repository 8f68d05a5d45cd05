//! Raising errors with a deliberate SQLSTATE and a message naming the bad value.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

/// Raises an ERROR with `code` and `message`; never returns.
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>) -> ! {
    ErrorReport::new(code, message.into(), "").report(pgrx::PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}
