//! The writer's Prometheus metrics: queue depth and age, records written per object and outcome,
//! write latency (commit of the change → Salesforce acknowledged), whether writing is paused, and
//! how often it claims and is woken by `NOTIFY` (the database load the writer causes).

use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

#[derive(Clone)]
pub struct WriterMetrics {
    pub queue_depth: IntGaugeVec,
    pub in_flight: IntGaugeVec,
    pub oldest_pending_age: GaugeVec,
    pub records: IntCounterVec,
    pub write_latency: HistogramVec,
    pub paused: IntGauge,
    pub pause_seconds: Gauge,
    pub pauses: IntCounterVec,
    pub bulk_jobs: IntCounterVec,
    pub claims: IntCounter,
    pub notifications: IntCounter,
    pub wakeups: IntCounterVec,
}

impl WriterMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.queue_depth.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        registry.register(Box::new(metrics.oldest_pending_age.clone()))?;
        registry.register(Box::new(metrics.records.clone()))?;
        registry.register(Box::new(metrics.write_latency.clone()))?;
        registry.register(Box::new(metrics.paused.clone()))?;
        registry.register(Box::new(metrics.pause_seconds.clone()))?;
        registry.register(Box::new(metrics.pauses.clone()))?;
        registry.register(Box::new(metrics.bulk_jobs.clone()))?;
        registry.register(Box::new(metrics.claims.clone()))?;
        registry.register(Box::new(metrics.notifications.clone()))?;
        registry.register(Box::new(metrics.wakeups.clone()))?;
        Ok(metrics)
    }

    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            queue_depth: IntGaugeVec::new(
                Opts::new(
                    "sfsync_writer_queue_depth",
                    "Local changes waiting to be written to Salesforce (queue state NEW), per object",
                ),
                &["object"],
            )?,
            in_flight: IntGaugeVec::new(
                Opts::new(
                    "sfsync_writer_in_flight",
                    "Local changes claimed by a sidecar and being written (queue state PENDING), per object",
                ),
                &["object"],
            )?,
            oldest_pending_age: GaugeVec::new(
                Opts::new(
                    "sfsync_writer_oldest_pending_age_seconds",
                    "Age of the oldest local change not yet written to Salesforce, per object",
                ),
                &["object"],
            )?,
            records: IntCounterVec::new(
                Opts::new(
                    "sfsync_writer_records_total",
                    "Queue entries finished by this sidecar, per object and outcome (success, failed, retry, merged, ignored)",
                ),
                &["object", "outcome"],
            )?,
            write_latency: HistogramVec::new(
                HistogramOpts::new(
                    "sfsync_writer_write_latency_seconds",
                    "From the local transaction that queued a change to Salesforce acknowledging the write",
                )
                .buckets(vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    1800.0,
                ]),
                &["object"],
            )?,
            paused: IntGauge::new(
                "sfsync_writer_paused",
                "1 while writing is paused because the org's API allowance (or sfsync's reserve) is spent or login fails",
            )?,
            pause_seconds: Gauge::new(
                "sfsync_writer_paused_seconds_total",
                "Time writing spent paused for API limits or login failures",
            )?,
            pauses: IntCounterVec::new(
                Opts::new(
                    "sfsync_writer_pauses_total",
                    "Times writing paused, per reason (request_limit_exceeded, api_reserve, login)",
                ),
                &["reason"],
            )?,
            bulk_jobs: IntCounterVec::new(
                Opts::new(
                    "sfsync_writer_bulk_jobs_total",
                    "Bulk API 2.0 ingest jobs run by the writer, per object and operation",
                ),
                &["object", "operation"],
            )?,
            claims: IntCounter::new(
                "sfsync_writer_claims_total",
                "Claims of queued changes (calls of sfsync._claim_changes) by this writer",
            )?,
            notifications: IntCounter::new(
                "sfsync_writer_notifications_total",
                "NOTIFY sfsync_changes notifications received by this writer (a burst of them is one wake-up)",
            )?,
            wakeups: IntCounterVec::new(
                Opts::new(
                    "sfsync_writer_wakeups_total",
                    "Times the idle writer woke up to look at the queue, per cause (poll, notify)",
                ),
                &["cause"],
            )?,
        })
    }

    pub fn count(&self, object: &str, outcome: &str, records: u64) {
        if records > 0 {
            self.records
                .with_label_values(&[object, outcome])
                .inc_by(records);
        }
    }
}
