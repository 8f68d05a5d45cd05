//! Shared harness for sfsync's integration tests: real clusters and real processes.
