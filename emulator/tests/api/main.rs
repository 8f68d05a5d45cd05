//! Integration tests: a real `sfsync-emulator` process per test, driven over HTTP(S) on loopback.

mod admin;
mod collections;
mod common;
mod formula;
mod late_and_silent;
mod limits_faults;
mod oauth;
mod org_identity;
mod records;
mod rollup;
mod state;
mod tls;
mod validation;
