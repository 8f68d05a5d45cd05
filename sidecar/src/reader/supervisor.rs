//! The reader's control loop: every tick (and on `sfsync_control` notifications) it reads the
//! mappings of the schema, takes or renews the reading lease of each active one, runs a worker for
//! every lease it holds, and stops workers of mappings that were paused, dropped, or whose lease
//! another sidecar took. On shutdown it stops the workers and releases their leases, so another
//! sidecar takes over at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::error::ReaderError;
use super::metrics::ReaderMetrics;
use super::protocol;
use super::worker::Worker;
use crate::db::{WakeFilter, Wakeups};
use crate::runtime::RunContext;
use crate::salesforce::Backoff;
use crate::shutdown::{Shutdown, ShutdownSignal};

/// How often the mappings are read and the leases renewed.
const TICK: Duration = Duration::from_secs(2);
/// A lease not renewed for this long can be taken over (renewed every tick, so a live sidecar never
/// loses it to a slow query).
const LEASE_SECONDS: i32 = 15;
/// A wake-up waits this long for more notifications (a burst of changes becomes one tick).
const NOTIFY_DEBOUNCE: Duration = Duration::from_millis(20);
/// How long a stopping worker gets before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(20);

struct RunningWorker {
    updates: watch::Sender<Option<Arc<Mapping>>>,
    stop: Shutdown,
    task: JoinHandle<()>,
}

struct StoppingWorker {
    mapping: i64,
    since: Instant,
    task: JoinHandle<()>,
}

/// Follows the mappings and runs their workers.
pub struct ReaderSupervisor {
    context: ReaderContext,
    shutdown: ShutdownSignal,
    workers: HashMap<i64, RunningWorker>,
    stopping: Vec<StoppingWorker>,
}

impl ReaderSupervisor {
    /// The reader of this run; `metrics` are registered by the caller before any worker starts.
    pub fn from_runtime(context: &RunContext, metrics: ReaderMetrics) -> Self {
        let reader = ReaderContext {
            database: context.database.clone(),
            salesforce: context.salesforce.clone(),
            tuning: Arc::new(context.config.tuning.clone()),
            schema: context.config.schema.clone(),
            owner: ReaderContext::owner_name(),
            metrics,
        };
        Self::new(reader, context.shutdown.signal())
    }

    pub fn new(context: ReaderContext, shutdown: ShutdownSignal) -> Self {
        Self {
            context,
            shutdown,
            workers: HashMap::new(),
            stopping: Vec::new(),
        }
    }

    /// Runs until shutdown; database trouble is logged and retried, never fatal.
    pub async fn run(mut self) {
        tracing::info!(owner = %self.context.owner, schema = %self.context.schema, "reader started");
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut failures = 0;
        while !self.shutdown.is_triggered() {
            let schema = self.context.schema.clone();
            // other schemas' notifications are dropped as they arrive, without waking the loop
            let filter: WakeFilter = Box::new(move |payload| concerns_schema(payload, &schema));
            let outcome = match self.context.database.listen("sfsync_control", filter).await {
                Ok((client, wakeups)) => self.follow(&client, wakeups).await,
                Err(error) => Err(ReaderError::from(error)),
            };
            match outcome {
                Ok(()) => break,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = %error.detail(), "reader control loop: database trouble; retrying");
                    let mut shutdown = self.shutdown.clone();
                    tokio::select! {
                        _ = sleep(backoff.delay(failures)) => {}
                        _ = shutdown.triggered() => break,
                    }
                }
            }
        }
        self.stop_everything().await;
        tracing::info!("reader stopped");
    }

    /// Ticks on a timer and whenever `sfsync_control` is notified about this schema (any number of
    /// notifications is one wake-up, see `db::listen`), until shutdown (`Ok`) or until the
    /// connection fails.
    async fn follow(&mut self, client: &Client, mut wakeups: Wakeups) -> Result<(), ReaderError> {
        let mut shutdown = self.shutdown.clone();
        loop {
            self.tick(client).await?;
            // other schemas' notifications never wake this loop (the filter drops them), so they
            // cannot postpone the next tick
            tokio::select! {
                _ = shutdown.triggered() => return Ok(()),
                _ = sleep(TICK) => {}
                woke = wakeups.next() => {
                    if woke.is_none() {
                        return Err(ReaderError::Unexpected(
                            "the connection listening on sfsync_control closed".to_string(),
                        ));
                    }
                    // A burst of changes (pause of every mapping) becomes one tick.
                    sleep(NOTIFY_DEBOUNCE).await;
                    wakeups.clear();
                }
            }
        }
    }

    async fn tick(&mut self, client: &Client) -> Result<(), ReaderError> {
        self.reap();
        let mappings = Mapping::all(client, &self.context.schema).await?;
        let mut seen = Vec::with_capacity(mappings.len());
        for mapping in mappings {
            seen.push(mapping.id);
            if mapping.is_paused() {
                if self.workers.contains_key(&mapping.id) {
                    tracing::info!(mapping = %mapping.label(), "paused: stopping its reader");
                    self.stop_worker(mapping.id);
                }
                if mapping.reader_owner.as_deref() == Some(self.context.owner.as_str()) {
                    protocol::release_reader(client, mapping.id, &self.context.owner).await?;
                }
                continue;
            }
            let held =
                protocol::acquire_reader(client, mapping.id, &self.context.owner, LEASE_SECONDS)
                    .await?;
            if !held {
                if self.workers.contains_key(&mapping.id) {
                    tracing::warn!(mapping = %mapping.label(), owner = ?mapping.reader_owner, "another sidecar took over the reading lease: stopping our reader");
                    self.stop_worker(mapping.id);
                }
                continue;
            }
            let mapping = Arc::new(mapping);
            match self.workers.get(&mapping.id) {
                Some(worker) => {
                    worker.updates.send_if_modified(|current| {
                        let changed = current
                            .as_ref()
                            .is_none_or(|current| !current.same_settings(&mapping));
                        *current = Some(mapping);
                        changed
                    });
                }
                None if self.stopping.iter().any(|old| old.mapping == mapping.id) => {
                    // The previous worker of this mapping is still finishing; start after it.
                }
                None => self.start_worker(mapping),
            }
        }
        let dropped: Vec<i64> = self
            .workers
            .keys()
            .copied()
            .filter(|id| !seen.contains(id))
            .collect();
        for id in dropped {
            tracing::info!(mapping = id, "mapping dropped: stopping its reader");
            if let Some(worker) = self.workers.get(&id) {
                worker.updates.send_replace(None);
            }
            self.stop_worker(id);
        }
        self.context
            .metrics
            .mappings_owned
            .set(i64::try_from(self.workers.len()).unwrap_or(i64::MAX));
        Ok(())
    }

    fn start_worker(&mut self, mapping: Arc<Mapping>) {
        tracing::info!(mapping = %mapping.label(), owner = %self.context.owner, "reading lease taken: starting the reader");
        let (updates, receiver) = watch::channel(Some(mapping.clone()));
        let stop = Shutdown::new();
        let worker = Worker::new(self.context.clone(), mapping.id, receiver, stop.signal());
        let task = tokio::spawn(worker.run().in_current_span());
        self.workers.insert(
            mapping.id,
            RunningWorker {
                updates,
                stop,
                task,
            },
        );
    }

    fn stop_worker(&mut self, mapping: i64) {
        if let Some(worker) = self.workers.remove(&mapping) {
            worker.stop.trigger();
            self.stopping.push(StoppingWorker {
                mapping,
                since: Instant::now(),
                task: worker.task,
            });
        }
    }

    /// Forgets finished workers (a worker that ended by itself is started again next tick) and
    /// aborts stopping ones that overran their grace period.
    fn reap(&mut self) {
        let ended: Vec<i64> = self
            .workers
            .iter()
            .filter(|(_, worker)| worker.task.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some(worker) = self.workers.remove(&id) {
                tracing::debug!(mapping = id, "reader worker ended");
                drop(worker);
            }
        }
        self.stopping.retain(|old| {
            if old.task.is_finished() {
                return false;
            }
            if old.since.elapsed() > STOP_GRACE {
                tracing::warn!(
                    mapping = old.mapping,
                    "reader worker did not stop in time; aborting it"
                );
                old.task.abort();
                return false;
            }
            true
        });
    }

    /// Stops every worker, waits for them (bounded) and gives their leases up.
    async fn stop_everything(&mut self) {
        let ids: Vec<i64> = self.workers.keys().copied().collect();
        for id in &ids {
            self.stop_worker(*id);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for old in self.stopping.drain(..) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let abort = old.task.abort_handle();
            if tokio::time::timeout(remaining, old.task).await.is_err() {
                abort.abort();
            }
        }
        if ids.is_empty() {
            return;
        }
        match self.context.database.connect().await {
            Ok(client) => {
                for id in ids {
                    if let Err(error) =
                        protocol::release_reader(&client, id, &self.context.owner).await
                    {
                        tracing::warn!(mapping = id, error = %error.detail(), "cannot release the reading lease");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "cannot release the reading leases; they expire in {LEASE_SECONDS}s");
            }
        }
    }
}

/// Whether an `sfsync_control` payload (`{"op", "mapping", "schema"}`) is about `schema`. The channel
/// is shared by every schema of the database; a payload without a schema (or not JSON) counts, so a
/// wake-up is never lost, only an extra tick spent.
fn concerns_schema(payload: &str, schema: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(value) => value
            .get("schema")
            .and_then(serde_json::Value::as_str)
            .is_none_or(|named| named == schema),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::concerns_schema;

    #[test]
    fn control_notifications_of_other_schemas_are_not_ours() {
        let ours = r#"{"op":"alter","mapping":3,"schema":"salesforce"}"#;
        let theirs = r#"{"op":"pause","mapping":null,"schema":"org2"}"#;
        assert!(concerns_schema(ours, "salesforce"));
        assert!(!concerns_schema(theirs, "salesforce"));
        assert!(concerns_schema(theirs, "org2"));
        assert!(concerns_schema(r#"{"op":"create","mapping":4}"#, "org2"));
        assert!(concerns_schema("not json", "org2"));
    }
}
