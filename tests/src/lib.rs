//! Shared harness for sfsync's integration and end-to-end tests: real Postgres clusters with the
//! installed extension, and the emulator and sidecar as real processes.

pub mod cluster;

pub use cluster::{connect, describe_fixture, Cluster, TestDb};
