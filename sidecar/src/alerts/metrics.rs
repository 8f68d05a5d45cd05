//! The alerts' Prometheus metrics: alerts delivered and given up per kind, and alerts dropped because
//! the outbox was full (the webhook slower than the alerts coming in).

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::alert::AlertKind;

#[derive(Clone)]
pub struct AlertMetrics {
    pub sent: IntCounterVec,
    pub failed: IntCounterVec,
    pub dropped: IntCounter,
}

impl AlertMetrics {
    /// Creates the metrics and registers them in `registry` (with every kind at 0, so a dashboard
    /// sees the series before the first alert).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.sent.clone()))?;
        registry.register(Box::new(metrics.failed.clone()))?;
        registry.register(Box::new(metrics.dropped.clone()))?;
        Ok(metrics)
    }

    /// Metrics that are updated but exposed nowhere (tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        let metrics = Self {
            sent: IntCounterVec::new(
                Opts::new(
                    "sfsync_alerts_sent_total",
                    "Alerts the webhook accepted (2xx), by kind",
                ),
                &["kind"],
            )?,
            failed: IntCounterVec::new(
                Opts::new(
                    "sfsync_alerts_failed_total",
                    "Alerts given up after the webhook refused them (4xx) or every retry failed, by kind",
                ),
                &["kind"],
            )?,
            dropped: IntCounter::new(
                "sfsync_alerts_dropped_total",
                "Alerts dropped because the outbox was full",
            )?,
        };
        for kind in AlertKind::ALL {
            metrics.sent.with_label_values(&[kind.as_str()]);
            metrics.failed.with_label_values(&[kind.as_str()]);
        }
        Ok(metrics)
    }
}
