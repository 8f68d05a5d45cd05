//! Shared harness for sfsync's integration and end-to-end tests: real Postgres clusters with the
//! installed extension, and the emulator and sidecar as real processes.

pub mod binaries;
pub mod catalog;
pub mod cluster;
pub mod emulator;
pub mod metrics;
pub mod sidecar;

pub use cluster::{connect, describe_fixture, Cluster, TestDb};
pub use emulator::Emulator;
pub use metrics::metric;
pub use sidecar::{eventually, Sidecar};
