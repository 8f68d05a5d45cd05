//! Third-party clients, unchanged and installed from npm, against a real `sfsync-emulator` process per test:
//! the Salesforce CLI (`sf`) and jsforce. `make client-tools` (or the first test) installs them into
//! `target/client-tools` from `package-lock.json`.

#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
mod jsforce;
mod sf_cli;
mod tools;
