//! Prometheus metrics (names prefixed `sfsync_`) and the `/metrics` + `/healthz` HTTP server.
//! The writer and reader register their own metrics in [`Metrics::registry`].

pub mod health;
pub mod server;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

pub use health::Health;

/// The process-wide registry plus the metrics this crate's foundations own.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub salesforce: SalesforceMetrics,
}

impl Metrics {
    /// Every metric carries the label `schema` (the sidecar's `SFSYNC_SCHEMA`): sidecars of several
    /// orgs scraped into one Prometheus stay apart.
    pub fn new(schema: &str) -> Result<Self, prometheus::Error> {
        let labels = std::collections::HashMap::from([("schema".to_string(), schema.to_string())]);
        let registry = Registry::new_custom(None, Some(labels))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "sfsync_build_info",
                "Always 1; labels say which sidecar is running",
            ),
            &["version"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let salesforce = SalesforceMetrics::register(&registry)?;
        Ok(Self {
            registry,
            salesforce,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// Salesforce API usage and call statistics, updated by the client on every response.
#[derive(Clone)]
pub struct SalesforceMetrics {
    pub api_calls_used: IntGauge,
    pub api_calls_max: IntGauge,
    pub api_calls_remaining: IntGauge,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
}

impl SalesforceMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.api_calls_used.clone()))?;
        registry.register(Box::new(metrics.api_calls_max.clone()))?;
        registry.register(Box::new(metrics.api_calls_remaining.clone()))?;
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.request_duration.clone()))?;
        Ok(metrics)
    }

    /// Metrics that are updated but exposed nowhere (library use and tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            api_calls_used: IntGauge::new(
                "sfsync_salesforce_api_calls_used",
                "API calls used in the org's rolling 24 hours (Sforce-Limit-Info)",
            )?,
            api_calls_max: IntGauge::new(
                "sfsync_salesforce_api_calls_max",
                "The org's daily API call allowance (Sforce-Limit-Info)",
            )?,
            api_calls_remaining: IntGauge::new(
                "sfsync_salesforce_api_calls_remaining",
                "API calls left in the org's rolling 24 hours, reserve included",
            )?,
            requests: IntCounterVec::new(
                Opts::new(
                    "sfsync_salesforce_requests_total",
                    "Salesforce HTTP requests by operation and outcome (HTTP status class or transport_error)",
                ),
                &["operation", "outcome"],
            )?,
            request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "sfsync_salesforce_request_duration_seconds",
                    "Time from sending a Salesforce request to receiving its response headers",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
                ]),
                &["operation"],
            )?,
        })
    }

    pub fn record_usage(&self, used: u64, max: u64) {
        self.api_calls_used.set(clamp_i64(used));
        self.api_calls_max.set(clamp_i64(max));
        self.api_calls_remaining
            .set(clamp_i64(max.saturating_sub(used)));
    }

    pub fn record_request(&self, operation: &str, outcome: &str, seconds: f64) {
        self.requests.with_label_values(&[operation, outcome]).inc();
        self.request_duration
            .with_label_values(&[operation])
            .observe(seconds);
    }
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn rendered_metrics_carry_the_sfsync_prefix_and_values() {
        let metrics = Metrics::new("salesforce").expect("registers");
        metrics.salesforce.record_usage(120, 15_000);
        metrics
            .salesforce
            .record_request("describe_sobject", "2xx", 0.02);
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("sfsync_salesforce_api_calls_used{schema=\"salesforce\"} 120"),
            "{text}"
        );
        assert!(
            text.contains("sfsync_salesforce_api_calls_remaining{schema=\"salesforce\"} 14880"),
            "{text}"
        );
        assert!(text.contains(
            "sfsync_salesforce_requests_total{operation=\"describe_sobject\",outcome=\"2xx\",schema=\"salesforce\"} 1"
        ));
        assert!(text.contains("sfsync_salesforce_request_duration_seconds_bucket"));
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            assert!(line.starts_with("sfsync_"), "{line}");
        }
    }
}
