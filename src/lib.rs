//! sfsync: the Postgres extension that captures application writes and applies Salesforce records.
::pgrx::pg_module_magic!();
