//! The writer's loop: wakes on a short poll of the queue (and on `NOTIFY sfsync_changes`), claims
//! changes while calls are free, hands ready writes out as calls (several in flight), renews the
//! leases of everything it holds, pauses while the API allowance is spent, and on shutdown stops
//! claiming, gives back what it has not sent and lets in-flight calls finish.
//!
//! The loop only sequences; each concern has its own type: [`QueueLink`] (the claiming connection
//! and the notification listener), [`PauseGate`] (API-limit pauses and outage holds), [`Route`]
//! (Bulk API 2.0 or Collections, and what a claim asks for), [`CatalogRefresher`] (the mappings,
//! shared with the notification filter), [`Leases`] (what each claim's token still covers, and
//! renewal) and the [`Scheduler`] (which claimed writes go out in which call).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use tokio::task::JoinSet;

use super::catalog_refresh::CatalogRefresher;
use super::claimer::{triage, Triage};
use super::leases::Leases;
use super::outcome::{retry_result, WriteError};
use super::pause_gate::PauseGate;
use super::queue_link::{ClaimRequest, QueueLink};
use super::route::{Route, BULK_MIN_WRITES};
use super::schedule::{BatchLimits, Flush, Scheduler};
use super::shipment::{self, ShipmentContext, ShipmentReport};
use crate::db::{Database, DbError};
use crate::metrics::Health;
use crate::salesforce::{Backoff, SalesforceClient};
use crate::shutdown::ShutdownSignal;

/// The name under which the writer reports to `/healthz`.
pub const HEALTH_PART: &str = "writer";
/// Writes per Bulk API job at most.
const BULK_JOB_WRITES: usize = 10_000;
/// A Bulk job that is not full waits at most this long for more claims.
const PARTIAL_JOB_WAIT: Duration = Duration::from_secs(1);
/// A call that is not full waits at most this long for more writes of its kind.
const PARTIAL_CALL_WAIT: Duration = Duration::from_millis(100);
/// How long in-flight calls get to finish after shutdown is requested.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(20);

/// The writer's knobs, from the configuration.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// The schema whose mappings this writer serves (its sessions are bound to it too).
    pub schema: String,
    pub write_batch: usize,
    pub concurrency: usize,
    pub bulk_threshold: u64,
    pub poll_interval: Duration,
    pub lease: Duration,
    pub limit_probe_interval: Duration,
}

impl WriterSettings {
    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

pub struct Dispatcher {
    settings: WriterSettings,
    context: Arc<ShipmentContext>,
    health: Arc<Health>,
    shutdown: ShutdownSignal,
    /// The claiming connection and the notification listener.
    queue: QueueLink,
    catalog: CatalogRefresher,
    scheduler: Scheduler,
    in_flight: JoinSet<ShipmentReport>,
    leases: Leases,
    /// The last claim got fewer records than it asked for: the queue is (nearly) empty.
    drained: bool,
    /// Bulk API 2.0 or sObject Collections.
    route: Route,
    /// Closed while the API allowance is spent or Salesforce looks unavailable.
    gate: PauseGate,
    database_failures: u32,
}

impl Dispatcher {
    pub fn new(
        settings: WriterSettings,
        database: Database,
        salesforce: SalesforceClient,
        context: Arc<ShipmentContext>,
        health: Arc<Health>,
        shutdown: ShutdownSignal,
    ) -> Self {
        let gate = PauseGate::new(
            salesforce,
            context.metrics.clone(),
            health.clone(),
            HEALTH_PART,
            settings.limit_probe_interval,
        );
        let catalog = CatalogRefresher::new(settings.schema.clone());
        Self {
            settings,
            context,
            health,
            shutdown,
            queue: QueueLink::new(database),
            catalog,
            scheduler: Scheduler::new(),
            in_flight: JoinSet::new(),
            leases: Leases::default(),
            drained: true,
            route: Route::default(),
            gate,
            database_failures: 0,
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renew = tokio::time::interval(self.settings.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut signal = self.shutdown.clone();
        self.health.set_healthy(HEALTH_PART);
        loop {
            if signal.is_triggered() {
                break;
            }
            if let Err(error) = self.step().await {
                self.database_trouble(&error).await;
                continue;
            }
            self.ship();
            if self.wants_to_claim_now() {
                // More is queued and calls are free: claim again at once, after taking any results.
                while let Some(joined) = self.in_flight.try_join_next() {
                    self.on_joined(joined);
                }
                tokio::task::yield_now().await;
                continue;
            }
            let wake_at = self.next_wake();
            tokio::select! {
                _ = signal.triggered() => break,
                Some(joined) = self.in_flight.join_next(), if !self.in_flight.is_empty() => self.on_joined(joined),
                _ = renew.tick() => {
                    if let Err(error) = self.renew_leases().await {
                        self.database_trouble(&error).await;
                    }
                }
                _ = poll.tick() => self.context.metrics.wakeups.with_label_values(&["poll"]).inc(),
                notified = self.queue.notified() => if notified {
                    self.context.metrics.wakeups.with_label_values(&["notify"]).inc();
                },
                _ = sleep_until(wake_at) => {}
            }
        }
        self.stop().await;
    }

    /// One round: connections, catalog, resume after a pause, claim.
    async fn step(&mut self) -> Result<(), DbError> {
        self.queue
            .connect(&self.catalog, &self.context.metrics.notifications)
            .await?;
        if self.catalog.due() {
            self.reload_catalog().await?;
        }
        if self.database_failures > 0 {
            self.database_failures = 0;
            self.health.set_healthy(HEALTH_PART);
        }
        self.gate.probe_if_due().await;
        if let Some(until) = self.gate.paused_until() {
            if self.scheduler.waiting_len() > 0 {
                // Nothing goes out while paused: let the queue hold the changes, not this process.
                let after = until.saturating_duration_since(Instant::now());
                self.release_waiting(after, "writing paused for API limits")
                    .await;
            }
        }
        if self.may_claim() {
            self.intake().await?;
        }
        Ok(())
    }

    fn free_calls(&self) -> usize {
        self.settings
            .concurrency
            .saturating_sub(self.in_flight.len())
    }

    /// How many writes may wait claimed but unsent: enough to fill every call twice over (claims
    /// are cheaper per record in larger batches, and the next calls are ready when calls finish),
    /// or a whole Bulk job while a backlog drains.
    fn claim_room(&self) -> usize {
        if !self.route.is_bulk_draining() {
            2 * self.settings.concurrency * self.settings.write_batch
        } else {
            BULK_JOB_WRITES
        }
    }

    fn may_claim(&self) -> bool {
        self.gate.is_open() && self.scheduler.waiting_len() < self.claim_room()
    }

    fn wants_to_claim_now(&self) -> bool {
        !self.drained && self.may_claim() && !self.shutdown.is_triggered()
    }

    fn next_wake(&self) -> Option<Instant> {
        let partial = (self.scheduler.waiting_len() > 0 && self.free_calls() > 0)
            .then(|| Instant::now() + PARTIAL_CALL_WAIT);
        [self.gate.wake_at(), partial].into_iter().flatten().min()
    }

    async fn reload_catalog(&mut self) -> Result<(), DbError> {
        self.catalog.reload(self.queue.client()?).await
    }

    /// Claims a Bulk-sized batch when a mapping's backlog calls for it, else enough records to fill
    /// the free calls.
    async fn intake(&mut self) -> Result<(), DbError> {
        if self.route.due(self.drained) {
            self.route
                .measure(
                    self.queue.client()?,
                    self.catalog.current(),
                    self.settings.bulk_threshold,
                )
                .await?;
        }
        let lease_seconds = self.settings.lease_seconds();
        let wanted = self
            .claim_room()
            .saturating_sub(self.scheduler.waiting_len())
            .max(self.settings.write_batch);
        let plan = self
            .route
            .next_claim(i32::try_from(wanted.max(1)).unwrap_or(i32::MAX));
        let request = ClaimRequest {
            batch: plan.batch,
            lease_seconds,
            mapping: plan.mapping,
        };
        let bulk_mapping = plan.bulk;
        let claim_started = Instant::now();
        let rows = self
            .queue
            .claim(&request, &self.context.metrics.claims)
            .await?;
        let claimed = rows.len();
        self.drained = self.route.claimed(&plan, claimed);
        if rows.is_empty() {
            return Ok(());
        }
        if rows
            .iter()
            .any(|row| self.catalog.current().get(row.mapping_id).is_none())
        {
            self.reload_catalog().await?;
        }
        let Triage {
            operations,
            finished,
        } = triage(
            rows,
            self.catalog.current(),
            &mut self.leases,
            &self.context.metrics,
        );
        self.queue.complete(&finished).await?;
        tracing::debug!(
            claimed,
            writes = operations.len(),
            bulk = bulk_mapping.is_some(),
            claim_ms = claim_started.elapsed().as_millis() as u64,
            "claimed changes"
        );
        self.scheduler.add_claim(operations, bulk_mapping.is_some());
        Ok(())
    }

    /// Starts calls for ready writes while calls are free.
    fn ship(&mut self) {
        if !self.gate.is_open() {
            return;
        }
        let limits = BatchLimits {
            call_size: self.settings.write_batch,
            bulk_min: BULK_MIN_WRITES,
            bulk_max: BULK_JOB_WRITES,
            max_wait: PARTIAL_CALL_WAIT,
            bulk_max_wait: PARTIAL_JOB_WAIT,
        };
        let stopping = self.shutdown.is_triggered();
        let flush = Flush {
            calls: self.drained || stopping,
            bulk: !self.route.is_bulk_draining() || stopping,
        };
        let batches = self
            .scheduler
            .take_batches(self.free_calls(), limits, flush, Instant::now());
        for batch in batches {
            let context = self.context.clone();
            self.in_flight
                .spawn(shipment::run(context, batch).in_current_span());
        }
    }

    fn on_joined(&mut self, joined: Result<ShipmentReport, tokio::task::JoinError>) {
        let report = match joined {
            Ok(report) => report,
            Err(error) => {
                // The writes of a crashed shipment stay leased until the lease lapses and are then
                // claimed again; their lease counts are left as they are so renewal stops with them.
                tracing::error!(error = %error, "a write call task failed");
                return;
            }
        };
        for (seq, operation) in &report.writes {
            self.scheduler.finish(*seq, operation);
            self.leases.finish(&operation.token);
        }
        self.gate
            .on_call_finished(report.succeeded > 0, report.unavailable, report.pause);
    }

    async fn renew_leases(&mut self) -> Result<(), DbError> {
        self.leases
            .renew(
                self.queue.client()?,
                self.settings.lease_seconds(),
                &mut self.scheduler,
            )
            .await
    }

    /// Gives waiting writes back to the queue (shutdown, pause, lost database).
    async fn release_waiting(&mut self, after: Duration, reason: &str) {
        let waiting = self.scheduler.remove_all();
        if waiting.is_empty() {
            return;
        }
        let error = WriteError::new("RELEASED", reason);
        let results: Vec<_> = waiting
            .iter()
            .flat_map(|entry| {
                entry
                    .operation
                    .change_ids()
                    .map(|id| retry_result(id, &entry.operation.token, &error, Some(after)))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.leases.forget(&waiting);
        if let Err(error) = self.queue.complete(&results).await {
            tracing::warn!(error = %crate::error_chain(&error), "cannot give unsent changes back; they return when their lease lapses");
        }
    }

    async fn database_trouble(&mut self, error: &DbError) {
        self.database_failures = self.database_failures.saturating_add(1);
        let detail = crate::error_chain(error);
        tracing::warn!(error = %detail, "writer: database error");
        self.health
            .set_unhealthy(HEALTH_PART, format!("database: {detail}"));
        if error.is_connection_lost() {
            self.queue.connection_lost();
        }
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delay = backoff.delay(self.database_failures.saturating_sub(1));
        let mut signal = self.shutdown.clone();
        tokio::select! {
            _ = signal.triggered() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }

    async fn stop(mut self) {
        tracing::info!(
            in_flight = self.in_flight.len(),
            waiting = self.scheduler.waiting_len(),
            "writer stopping: no more claims"
        );
        self.release_waiting(Duration::ZERO, "the sidecar stopped before sending it")
            .await;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while !self.in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, self.in_flight.join_next()).await {
                Ok(Some(joined)) => self.on_joined(joined),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(calls = self.in_flight.len(), "write calls still running at shutdown are abandoned; their changes return when the lease lapses");
                    self.in_flight.abort_all();
                    break;
                }
            }
        }
        self.health.remove(HEALTH_PART);
        self.health.clear_note(HEALTH_PART);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
