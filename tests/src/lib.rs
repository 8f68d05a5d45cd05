//! Shared harness for sfsync's integration and end-to-end tests: real Postgres clusters with the
//! installed extension, and the emulator and sidecar as real processes. Every test crate of the
//! workspace uses it (see `tests/README.md`); it runs the binaries and links none of the crates, so
//! any of them can take it as a dev-dependency.

pub mod bench;
pub mod binaries;
pub mod browser;
pub mod catalog;
pub mod cluster;
pub mod emulator;
pub mod metrics;
pub mod rows;
pub mod sidecar;
pub mod world;

pub use cluster::{connect, describe_fixture, Cluster, TestDb};
pub use emulator::Emulator;
pub use metrics::{metric, metrics};
pub use rows::{assert_same_rows, expected_text};
pub use sidecar::{eventually, Sidecar};
pub use world::{World, WorldBuilder, WAIT};

/// A free loopback port (released before use; the window for a clash is tiny): for a cluster, or
/// the sidecar's `SFSYNC_HTTP_LISTEN`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
