//! SOQL endpoint integration tests: query/queryAll with paging, getUpdated/getDeleted and composite, each
//! against a real `sfsync-emulator` process driven over HTTP on loopback.

#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
mod composite;
mod constructs;
mod golden;
mod paging;
mod replication;
mod subqueries;
mod support;
