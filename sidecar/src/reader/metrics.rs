//! The reader's Prometheus metrics.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Counters per mapped object.
#[derive(Clone)]
pub struct ReaderMetrics {
    /// Records read from Salesforce and handed to the merge, by object and source
    /// (`load`, `poll`, `stream`).
    pub records_read: IntCounterVec,
    /// Rows removed because their records were deleted or left the filter.
    pub rows_deleted: IntCounterVec,
    /// Failed reader steps, by object.
    pub errors: IntCounterVec,
    /// Mappings this sidecar currently reads.
    pub mappings_owned: IntGauge,
    /// Drift the last reconciliation found, by object and kind (`missing`, `vanished`, `stale`).
    pub reconcile_drift: IntGaugeVec,
    /// Reconciliations run, by object and outcome (`ok`, `error`).
    pub reconcile_runs: IntCounterVec,
    /// Salesforce API calls spent keeping fields computed from other records fresh, by object.
    pub formula_api_calls: IntCounterVec,
    /// Rows whose computed fields a refresh changed, by object.
    pub formula_rows: IntCounterVec,
}

impl ReaderMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.records_read.clone()))?;
        registry.register(Box::new(metrics.rows_deleted.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        registry.register(Box::new(metrics.mappings_owned.clone()))?;
        registry.register(Box::new(metrics.reconcile_drift.clone()))?;
        registry.register(Box::new(metrics.reconcile_runs.clone()))?;
        registry.register(Box::new(metrics.formula_api_calls.clone()))?;
        registry.register(Box::new(metrics.formula_rows.clone()))?;
        Ok(metrics)
    }

    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            records_read: IntCounterVec::new(
                Opts::new(
                    "sfsync_reader_records_total",
                    "Salesforce records read and merged into Postgres",
                ),
                &["object", "source"],
            )?,
            rows_deleted: IntCounterVec::new(
                Opts::new(
                    "sfsync_reader_deleted_rows_total",
                    "Rows removed because their records were deleted in Salesforce or left the filter",
                ),
                &["object"],
            )?,
            errors: IntCounterVec::new(
                Opts::new("sfsync_reader_errors_total", "Failed reader steps"),
                &["object"],
            )?,
            mappings_owned: IntGauge::new(
                "sfsync_reader_mappings_owned",
                "Mappings whose reading lease this sidecar holds",
            )?,
            reconcile_drift: IntGaugeVec::new(
                Opts::new(
                    "sfsync_reconcile_drift_records",
                    "Records that differed between the table and Salesforce at the last reconciliation, by kind",
                ),
                &["object", "kind"],
            )?,
            reconcile_runs: IntCounterVec::new(
                Opts::new(
                    "sfsync_reconcile_runs_total",
                    "Reconciliations of a table with Salesforce, by outcome",
                ),
                &["object", "outcome"],
            )?,
            formula_api_calls: IntCounterVec::new(
                Opts::new(
                    "sfsync_formula_api_calls_total",
                    "Salesforce API calls spent keeping formula and roll-up fields fresh (learning what they read, watching, re-reading)",
                ),
                &["object"],
            )?,
            formula_rows: IntCounterVec::new(
                Opts::new(
                    "sfsync_formula_rows_refreshed_total",
                    "Rows whose formula or roll-up fields a refresh changed",
                ),
                &["object"],
            )?,
        })
    }
}
