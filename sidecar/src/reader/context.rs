//! What every reader task shares: the database, the Salesforce client, the tuning knobs, this
//! sidecar's lease-owner name and the metrics.

use std::sync::Arc;

use super::metrics::ReaderMetrics;
use crate::config::Tuning;
use crate::db::Database;
use crate::salesforce::SalesforceClient;

/// Cheap to clone into each worker.
#[derive(Clone)]
pub struct ReaderContext {
    pub database: Database,
    pub salesforce: SalesforceClient,
    pub tuning: Arc<Tuning>,
    /// The mappings of this schema are read (`SFSYNC_SCHEMA`).
    pub schema: String,
    /// Unique per process: the name under which reading leases are held.
    pub owner: String,
    pub metrics: ReaderMetrics,
}

impl ReaderContext {
    /// A lease-owner name: host, process id and a random suffix (a restarted process is a new owner).
    pub fn owner_name() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "sidecar".to_string());
        format!(
            "{host}:{}:{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }
}
