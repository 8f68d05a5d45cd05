//! Delivering alerts: a bounded outbox the watcher drops alerts into without ever waiting (when it is
//! full the alert is dropped and counted), drained by one task that POSTs each alert's JSON to the
//! webhook, retrying network errors, 5xx and 429 with a backoff. Nothing the sync does waits on it.
//! The webhook URL is a secret: it is never logged, and errors are logged without it.

use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;
use url::Url;

use super::alert::Alert;
use super::metrics::AlertMetrics;
use crate::config::Secret;
use crate::salesforce::Backoff;
use crate::shutdown::ShutdownSignal;

/// Alerts waiting for delivery; beyond this the newest are dropped (a storm of alerts must not grow
/// memory while the webhook is down).
pub const OUTBOX_CAPACITY: usize = 256;
/// Attempts per alert: the first and up to 8 retries (about 3 minutes of backoff in all).
const RETRIES: u32 = 8;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the watcher puts alerts; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Alert>,
    metrics: AlertMetrics,
}

impl Outbox {
    /// A new outbox and the receiving end the deliverer drains.
    pub fn new(metrics: AlertMetrics) -> (Self, mpsc::Receiver<Alert>) {
        let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY);
        (Self { sender, metrics }, receiver)
    }

    /// Queues `alert` for delivery, never waiting: a full (or closed) outbox drops it and counts it.
    pub fn send(&self, alert: Alert) {
        let kind = alert.kind().as_str();
        if let Err(error) = self.sender.try_send(alert) {
            self.metrics.dropped.inc();
            let why = match error {
                mpsc::error::TrySendError::Full(_) => "the outbox is full",
                mpsc::error::TrySendError::Closed(_) => "delivery has stopped",
            };
            tracing::warn!(kind, "alert dropped: {why}");
        }
    }
}

/// Why one attempt to deliver an alert failed.
#[derive(Debug, Error)]
enum AttemptError {
    /// Connection refused, timeout, reset...: worth another attempt. The error has no URL.
    #[error("cannot reach the webhook")]
    Network(#[source] reqwest::Error),
    /// 5xx or 429: the receiver may take it later.
    #[error("the webhook answered {status}; retrying")]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx: sending the same body again would get the same answer.
    #[error("the webhook refused the alert with {status}")]
    Refused { status: u16 },
}

/// POSTs alerts to the webhook, one at a time, in order.
pub struct Deliverer {
    http: reqwest::Client,
    url: Secret<Url>,
    backoff: Backoff,
    metrics: AlertMetrics,
}

impl Deliverer {
    pub fn new(http: reqwest::Client, url: Secret<Url>, metrics: AlertMetrics) -> Self {
        Self {
            http,
            url,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            metrics,
        }
    }

    /// Drains the outbox until shutdown (an alert still being retried then is abandoned: shutdown
    /// must not wait minutes for a webhook).
    pub async fn run(self, mut outbox: mpsc::Receiver<Alert>, mut shutdown: ShutdownSignal) {
        loop {
            let alert = tokio::select! {
                _ = shutdown.triggered() => return,
                next = outbox.recv() => match next {
                    Some(alert) => alert,
                    None => return,
                },
            };
            tokio::select! {
                _ = shutdown.triggered() => return,
                _ = self.deliver(&alert) => {}
            }
        }
    }

    async fn deliver(&self, alert: &Alert) {
        let kind = alert.kind().as_str();
        let body = alert.to_json();
        let mut retry = 0;
        loop {
            let error = match self.attempt(&body).await {
                Ok(()) => {
                    self.metrics.sent.with_label_values(&[kind]).inc();
                    tracing::debug!(kind, "alert delivered");
                    return;
                }
                Err(error) => error,
            };
            let retry_after = match &error {
                AttemptError::Refused { .. } => None,
                AttemptError::Unavailable { retry_after, .. } => {
                    Some(retry_after.unwrap_or_else(|| self.backoff.delay(retry)))
                }
                AttemptError::Network(_) => Some(self.backoff.delay(retry)),
            };
            match retry_after {
                Some(wait) if retry < RETRIES => {
                    tracing::warn!(
                        kind,
                        error = %crate::error_chain(&error),
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot deliver an alert yet"
                    );
                    tokio::time::sleep(wait.min(self.backoff.max)).await;
                    retry += 1;
                }
                _ => {
                    self.metrics.failed.with_label_values(&[kind]).inc();
                    tracing::warn!(kind, error = %crate::error_chain(&error), attempts = retry + 1, "alert given up");
                    return;
                }
            }
        }
    }

    async fn attempt(&self, body: &serde_json::Value) -> Result<(), AttemptError> {
        let response = self
            .http
            .post(self.url.expose().clone())
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(|error| AttemptError::Network(error.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        if status.is_server_error() || code == 429 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(AttemptError::Unavailable {
                status: code,
                retry_after,
            });
        }
        Err(AttemptError::Refused { status: code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::alert::AlertDetails;

    fn alert() -> Alert {
        Alert {
            schema: "salesforce".into(),
            object: None,
            at: chrono::Utc::now(),
            details: AlertDetails::ApiReserve {
                used: 1,
                limit: 2,
                reserve: 1,
            },
        }
    }

    #[tokio::test]
    async fn a_full_outbox_drops_and_counts_instead_of_waiting() {
        let metrics = AlertMetrics::unregistered().expect("metrics");
        let (outbox, mut receiver) = Outbox::new(metrics.clone());
        for _ in 0..OUTBOX_CAPACITY + 3 {
            outbox.send(alert());
        }
        assert_eq!(metrics.dropped.get(), 3);
        let mut queued = 0;
        while receiver.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, OUTBOX_CAPACITY);
        drop(receiver);
        outbox.send(alert());
        assert_eq!(metrics.dropped.get(), 4, "a closed outbox drops too");
    }
}
