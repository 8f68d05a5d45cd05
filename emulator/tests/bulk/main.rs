//! Bulk API 2.0 integration tests: a real `sfsync-emulator` process per test, driven over HTTP on loopback.

#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
mod csv_files;
mod ingest;
mod query;
mod support;
