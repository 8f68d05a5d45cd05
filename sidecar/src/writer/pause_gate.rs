//! The writer's gate for API limits and outages: whether new calls (and claims) may go out now.
//! Two reasons close it: a pause for a spent API allowance (ended by a cheap `/limits` probe that
//! shows calls were freed), and a hold after Salesforce looked unavailable (lifted by a call that
//! succeeds, or when its backoff runs out). Kept apart from the loop so that every path that sends
//! or claims asks the same question.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::WriterMetrics;
use super::shipment::Pause;
use crate::metrics::Health;
use crate::salesforce::{Backoff, SalesforceClient};

struct Paused {
    pause: Pause,
    until: Instant,
    since: Instant,
}

pub struct PauseGate {
    salesforce: SalesforceClient,
    metrics: WriterMetrics,
    health: Arc<Health>,
    /// Reported to `/healthz` under this name.
    health_part: &'static str,
    /// How long a pause lasts again when the probe finds the allowance still spent.
    probe_interval: Duration,
    paused: Option<Paused>,
    /// Salesforce looked unavailable: no new calls before this.
    hold_until: Option<Instant>,
    unavailable_streak: u32,
}

impl PauseGate {
    pub fn new(
        salesforce: SalesforceClient,
        metrics: WriterMetrics,
        health: Arc<Health>,
        health_part: &'static str,
        probe_interval: Duration,
    ) -> Self {
        Self {
            salesforce,
            metrics,
            health,
            health_part,
            probe_interval,
            paused: None,
            hold_until: None,
            unavailable_streak: 0,
        }
    }

    /// Whether new calls and claims may go out now.
    pub fn is_open(&self) -> bool {
        self.paused.is_none() && self.hold_until.is_none_or(|until| Instant::now() >= until)
    }

    /// Until when writing is paused for API limits, if it is.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused.as_ref().map(|paused| paused.until)
    }

    /// When the gate wants the loop awake (a pause to probe, a hold running out).
    pub fn wake_at(&self) -> Option<Instant> {
        [self.paused_until(), self.hold_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// What a finished call says about Salesforce: a success lifts a hold, an outage extends it
    /// (with backoff), a spent allowance pauses writing.
    pub fn on_call_finished(&mut self, succeeded: bool, unavailable: bool, pause: Option<Pause>) {
        if succeeded {
            self.unavailable_streak = 0;
            self.hold_until = None;
        }
        if unavailable {
            let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            let delay = backoff.delay(self.unavailable_streak);
            self.unavailable_streak = self.unavailable_streak.saturating_add(1);
            self.hold_until = Some(Instant::now() + delay);
            tracing::warn!(
                ?delay,
                "Salesforce looks unavailable; holding new write calls"
            );
        }
        if let Some(pause) = pause {
            self.enter_pause(pause);
        }
    }

    fn enter_pause(&mut self, pause: Pause) {
        let until = Instant::now() + pause.retry_after;
        if let Some(paused) = &mut self.paused {
            paused.until = paused.until.max(until);
            return;
        }
        tracing::warn!(reason = pause.reason.label(), detail = %pause.detail, retry_in = ?pause.retry_after, "writing paused");
        self.metrics.paused.set(1);
        self.metrics
            .pauses
            .with_label_values(&[pause.reason.label()])
            .inc();
        self.health.set_note(
            self.health_part,
            format!("paused ({}): {}", pause.reason.label(), pause.detail),
        );
        self.paused = Some(Paused {
            pause,
            until,
            since: Instant::now(),
        });
    }

    /// At the end of a pause: one cheap call (`/limits`) tells whether calls were freed.
    pub async fn probe_if_due(&mut self) {
        let Some(paused) = &self.paused else { return };
        if Instant::now() < paused.until {
            return;
        }
        let reason = paused.pause.reason.clone();
        let open = match self.salesforce.limits().await {
            Ok(_) => self.budget_is_open(),
            Err(error) => {
                tracing::info!(error = %crate::error_chain(&error), "writing stays paused");
                false
            }
        };
        if open {
            if let Some(paused) = self.paused.take() {
                self.metrics
                    .pause_seconds
                    .add(paused.since.elapsed().as_secs_f64());
            }
            self.metrics.paused.set(0);
            self.health.clear_note(self.health_part);
            tracing::info!(reason = reason.label(), "writing resumed");
        } else if let Some(paused) = &mut self.paused {
            paused.until = Instant::now() + self.probe_interval;
        }
    }

    /// Whether a call would be let through now (without using up the budget's probe).
    fn budget_is_open(&self) -> bool {
        let budget = self.salesforce.budget();
        match budget.usage() {
            None => true,
            Some(usage) => {
                let reserve = budget.reserve().calls_out_of(usage.max);
                usage.max > 0 && usage.used < usage.max.saturating_sub(reserve)
            }
        }
    }
}
