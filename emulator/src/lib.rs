//! sfsync-emulator: a Salesforce org on loopback (OAuth, REST, sObject Collections, limits, admin API).
//! The binary is a thin wrapper over [`server::run`]; tests and benchmarks can start it in-process with
//! [`server::start`].
pub mod admin;
pub mod app;
pub mod auth;
pub mod bulk;
pub mod cdc;
pub mod composite;
pub mod config;
pub mod faults;
pub mod formula;
pub mod http;
pub mod limits;
pub mod query;
pub mod replication;
pub mod rest;
pub mod routes;
pub mod server;
pub mod soql;
pub mod store;
pub mod tls;
