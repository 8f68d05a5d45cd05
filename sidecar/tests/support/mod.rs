//! Shared helpers for the sidecar's integration tests: the emulator and Postgres as real processes.
#![allow(dead_code)]

pub mod emulator;
pub mod postgres;

use std::path::PathBuf;

/// A file under `sidecar/tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A free TCP port on loopback (released before use; the window for a clash is tiny).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
