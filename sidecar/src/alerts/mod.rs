//! Webhook alerts (`SFSYNC_ALERT_WEBHOOK_URL`): a watcher turns what the database shows (failed
//! changes, mappings entering or leaving ERROR, queue lag, drift found by reconciliation) and the
//! API budget (the reserve reached) into alerts, and a deliverer POSTs them as JSON. Both are off
//! the sync's path: the watcher only reads, and hands alerts over without ever waiting.

pub mod alert;
pub mod deliver;
pub mod metrics;
pub mod watch;

use thiserror::Error;

pub use alert::{Alert, AlertDetails, AlertKind, FailedChange};
pub use deliver::{Deliverer, Outbox};
pub use metrics::AlertMetrics;

use crate::config::AlertSettings;
use crate::http::{build_client, HttpClientError};
use crate::runtime::RunContext;

#[derive(Debug, Error)]
pub enum AlertsError {
    #[error("cannot set up the alert webhook's HTTP client")]
    Client(#[source] HttpClientError),
}

/// The watcher and the deliverer, ready to run side by side until shutdown.
pub struct Alerts {
    watch: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    deliver: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Alerts {
    /// Builds both tasks; the webhook gets its own client (the same TLS set-up as Salesforce's:
    /// system roots plus `SFSYNC_CA_FILE`, no redirects, which could carry the alert elsewhere).
    pub fn new(
        context: &RunContext,
        settings: &AlertSettings,
        metrics: AlertMetrics,
    ) -> Result<Self, AlertsError> {
        let http = build_client(context.config.salesforce.ca_bundle.as_ref())
            .map_err(AlertsError::Client)?;
        let (outbox, receiver) = Outbox::new(metrics.clone());
        let deliverer = Deliverer::new(http, settings.webhook_url.clone(), metrics);
        let shutdown = context.shutdown.signal();
        Ok(Self {
            watch: Box::pin(watch::run(context.clone(), outbox, settings.lag_threshold)),
            deliver: Box::pin(deliverer.run(receiver, shutdown)),
        })
    }

    /// Runs until shutdown.
    pub async fn run(self) {
        tokio::join!(self.watch, self.deliver);
    }
}
