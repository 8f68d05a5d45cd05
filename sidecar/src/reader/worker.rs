//! One mapping's reader, run while this sidecar holds the mapping's reading lease. Each step looks at
//! the mapping as it is now and does the first thing it needs: describe and install the table, the
//! initial load, a requested reload, a back-fill of new columns; otherwise it syncs incrementally
//! (polling, or CDC with a slow safety poll) until something needs attention. A failed step puts the
//! mapping in state ERROR with a detail naming the step and the cause, and is retried with backoff.
//! Which step is due is decided in `lifecycle` from typed state only (the row's columns, the failed
//! phase), never from the detail's text.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};
use tokio_postgres::Client;

use super::catalog::Mapping;
use super::context::ReaderContext;
use super::describe::describe_with_parents;
use super::drift::Drift;
use super::echoes::Echoes;
use super::error::ReaderError;
use super::events::{self, EventBatch};
use super::feed::{AfterEnd, ChangeFeed};
use super::formulas::{self, FreshFormulas};
use super::lifecycle::{Failure, InPhase, Phase, Progress, Step};
use super::load;
use super::poll;
use super::position::{ReadPosition, SWEEP_MAX_INTERVAL};
use super::protocol::{self, MergeMode};
use super::reconcile::{self, Reason};
use super::schema_watch::SchemaWatch;
use super::stream::StreamItem;
use crate::salesforce::cometd::ReplayFrom;
use crate::salesforce::{Backoff, SObjectDescribe};
use crate::shutdown::ShutdownSignal;
use sfsync_protocol::MappingState;

/// Each successful (re)subscription is followed by a poll, which closes the gap between the last
/// read and the subscription; should the subscription take longer than this, poll anyway.
const CATCH_UP_DELAY: Duration = Duration::from_secs(30);
/// Events applied together at most.
const EVENT_BATCH: usize = 2_000;
/// Echoes of our own writes still in flight are read back after this (at the latest after
/// `echoes::ECHO_PATIENCE`).
const ECHO_RETRY: Duration = Duration::from_millis(250);
/// Transient failures are retried quietly this many times before the mapping shows ERROR.
const QUIET_RETRIES: u32 = 3;

/// What a step asks for next.
enum Next {
    Continue,
    Stop,
}

/// The latest snapshot of the mapping from the supervisor (`None`: dropped).
pub type MappingUpdates = watch::Receiver<Option<Arc<Mapping>>>;

pub struct Worker {
    context: ReaderContext,
    mapping_id: i64,
    updates: MappingUpdates,
    stop: ShutdownSignal,
    client: Option<Client>,
    /// Skipped fields, the drift note, when to describe again.
    schema: SchemaWatch,
    /// The CDC subscription, its note and its retry time.
    feed: ChangeFeed,
    /// The poll floor and the delete sweep.
    position: ReadPosition,
    /// What was read, what is wanted, what failed: the typed state the next step is chosen from.
    progress: Progress,
    /// `sfsync-<instance id>`: the client name our writer's changes carry in CDC events.
    own_client: Option<String>,
    /// Echoes of our own writes waiting for the writer to record its outcome.
    echoes: Echoes,
    failures: u32,
    /// When this worker started: the schedule's origin for a mapping never reconciled.
    started: Instant,
    /// The watches keeping fields computed from other records fresh.
    formulas: FreshFormulas,
}

impl Worker {
    pub fn new(
        context: ReaderContext,
        mapping_id: i64,
        updates: MappingUpdates,
        stop: ShutdownSignal,
    ) -> Self {
        Self {
            context,
            mapping_id,
            updates,
            stop,
            client: None,
            schema: SchemaWatch::default(),
            feed: ChangeFeed::default(),
            position: ReadPosition::default(),
            progress: Progress::default(),
            own_client: None,
            echoes: Echoes::default(),
            failures: 0,
            started: Instant::now(),
            formulas: FreshFormulas::default(),
        }
    }

    /// Runs until the stop signal fires or the mapping is dropped.
    pub async fn run(mut self) {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        loop {
            if self.stop.is_triggered() {
                return;
            }
            let mut stop = self.stop.clone();
            let outcome = tokio::select! {
                outcome = self.step() => outcome,
                // A long load is abandoned mid-way: the merge is one statement, so nothing half-done stays.
                _ = stop.triggered() => return,
            };
            match outcome {
                Ok(Next::Continue) => {
                    self.failures = 0;
                    self.progress.failed_in = None;
                }
                Ok(Next::Stop) => return,
                Err((phase, error)) => {
                    self.progress.failed_in = Some(phase);
                    if error.is_connection_lost() {
                        self.client = None;
                    }
                    if error.is_invalid_field() && self.schema.force_describe() {
                        // Probably a field removed in Salesforce: describe now, then try again.
                        tracing::info!(mapping = self.mapping_id, error = %error.detail(), "a query names a field Salesforce does not know; describing the object again");
                        continue;
                    }
                    self.failures += 1;
                    self.context
                        .metrics
                        .errors
                        .with_label_values(&[self.object_label().as_str()])
                        .inc();
                    let wait = error
                        .retry_after()
                        .unwrap_or_else(|| backoff.delay(self.failures.saturating_sub(1)));
                    tracing::warn!(
                        mapping = self.mapping_id,
                        phase = phase.as_str(),
                        error = %error.detail(),
                        retry_in = wait.as_secs(),
                        "reader step failed"
                    );
                    let quiet = error.is_transient()
                        && error.retry_after().is_none()
                        && self.failures < QUIET_RETRIES;
                    if !quiet {
                        self.report_error(phase, &error, wait).await;
                    }
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = sleep(wait) => {}
                        _ = stop.triggered() => return,
                    }
                }
            }
        }
    }

    fn object_label(&self) -> String {
        self.updates
            .borrow()
            .as_ref()
            .map(|mapping| mapping.object_name.clone())
            .unwrap_or_else(|| self.mapping_id.to_string())
    }

    async fn connection(&mut self) -> Result<&Client, Failure> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = self
                .context
                .database
                .connect()
                .await
                .phase(Phase::Database)?;
            if self.own_client.is_none() {
                let row = client
                    .query_one("SELECT sfsync._instance_id()", &[])
                    .await
                    .map_err(ReaderError::query("reading sfsync._instance_id()"))
                    .phase(Phase::Database)?;
                self.own_client = Some(sfsync_protocol::echo_client(row.get(0)));
            }
            self.client = Some(client);
        }
        self.client.as_ref().ok_or_else(|| {
            (
                Phase::Database,
                ReaderError::Unexpected("no connection".into()),
            )
        })
    }

    async fn fetch(&mut self) -> Result<Option<Mapping>, Failure> {
        let id = self.mapping_id;
        let client = self.connection().await?;
        Mapping::fetch(client, id).await.phase(Phase::Database)
    }

    /// The mapping as it is now, re-read on the open connection: the one place a step looks at
    /// the row again (after an install or a load, before a poll, after events); `None` once dropped.
    async fn current(&self) -> Result<Option<Mapping>, ReaderError> {
        Mapping::fetch(self.client()?, self.mapping_id).await
    }

    /// [`Self::current`], with `seen` standing in when the mapping was dropped meanwhile (the next
    /// step notices and stops).
    async fn reread(&self, seen: &Mapping) -> Result<Mapping, ReaderError> {
        Ok(self.current().await?.unwrap_or_else(|| seen.clone()))
    }

    fn client(&self) -> Result<&Client, ReaderError> {
        self.client
            .as_ref()
            .ok_or_else(|| ReaderError::Unexpected("no database connection".into()))
    }

    /// Drift and streaming notes, for `state_detail`.
    fn notes(&self) -> Option<String> {
        let notes: Vec<&str> = [self.schema.note.as_deref(), self.feed.note()]
            .into_iter()
            .flatten()
            .collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Sets `state` with the current notes unless the mapping already shows exactly that.
    async fn show(&self, mapping: &Mapping, state: MappingState) -> Result<(), ReaderError> {
        let notes = self.notes();
        if mapping.state == state && mapping.state_detail == notes {
            return Ok(());
        }
        protocol::set_state(self.client()?, mapping.id, state, notes.as_deref()).await
    }

    async fn report_error(&mut self, phase: Phase, error: &ReaderError, wait: Duration) {
        let mut detail = format!(
            "{} failed: {}; retrying in {}s",
            phase.as_str(),
            error.detail(),
            wait.as_secs().max(1)
        );
        if let Some(notes) = self.notes() {
            detail.push_str("; ");
            detail.push_str(&notes);
        }
        let id = self.mapping_id;
        let Ok(client) = self.connection().await else {
            return;
        };
        if let Err(error) =
            protocol::set_state(client, id, MappingState::Error, Some(&detail)).await
        {
            tracing::warn!(mapping = id, error = %error.detail(), "cannot record the error on the mapping");
        }
    }

    async fn step(&mut self) -> Result<Next, Failure> {
        let Some(mapping) = self.fetch().await? else {
            return Ok(Next::Stop);
        };
        match Step::before_drift_check(&mapping) {
            Some(Step::Wait) => return self.wait_for_change().await,
            Some(_) => {
                self.install(&mapping).await.phase(Phase::Describe)?;
                return Ok(Next::Continue);
            }
            None => {}
        }
        if self.schema.next_describe <= Instant::now() {
            self.check_drift(&mapping).await.phase(Phase::Describe)?;
        }
        if self.progress.loaded_filter.is_none() {
            self.start_position(&mapping);
        }
        match Step::after_drift_check(&mapping, &self.progress) {
            Step::InitialLoad => {
                self.initial_load(&mapping)
                    .await
                    .phase(Phase::InitialLoad)?;
                Ok(Next::Continue)
            }
            Step::Reload => {
                self.reload(&mapping).await.phase(Phase::Reload)?;
                Ok(Next::Continue)
            }
            Step::Backfill => {
                self.backfill(&mapping).await.phase(Phase::Backfill)?;
                Ok(Next::Continue)
            }
            Step::Wait | Step::Install | Step::Follow => {
                if mapping.state != MappingState::Error {
                    // after an error, SYNCED is shown once a poll or an event batch succeeds again
                    self.show(&mapping, MappingState::Synced)
                        .await
                        .phase(Phase::Polling)?;
                }
                self.sync(mapping).await
            }
        }
    }

    /// Where polling and delete sweeps start when this worker takes over a loaded mapping.
    fn start_position(&mut self, mapping: &Mapping) {
        self.progress.loaded_filter = Some(mapping.filter.clone());
        self.position.take_over(mapping);
    }

    async fn wait_for_change(&mut self) -> Result<Next, Failure> {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = stop.triggered() => Ok(Next::Stop),
            changed = self.updates.changed() => match changed {
                Ok(()) => Ok(Next::Continue),
                Err(_) => Ok(Next::Stop),
            },
            _ = sleep(Duration::from_secs(5)) => Ok(Next::Continue),
        }
    }

    /// Describe (with parents) → `_install_mapping` → drift check against the fresh plan.
    async fn install(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        if mapping.columns.is_none() && mapping.state != MappingState::Describing {
            protocol::set_state(self.client()?, mapping.id, MappingState::Describing, None).await?;
        }
        let described = describe_with_parents(
            &self.context.salesforce,
            &mapping.object_name,
            &mapping.fields,
        )
        .await?;
        protocol::install_mapping(
            self.client()?,
            mapping.id,
            &described.object.raw,
            described.parents.as_ref(),
        )
        .await?;
        tracing::info!(mapping = %mapping.label(), "table installed from the describe");
        if let Some(installed) = self.current().await? {
            self.schema.apply(
                &installed,
                Drift::between(installed.plan()?, &described.object),
            );
            self.learn_dependencies(&installed, &described.object)
                .await?;
        }
        self.schema.described(self.context.tuning.describe_interval);
        Ok(())
    }

    async fn check_drift(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        let describe = self
            .context
            .salesforce
            .describe_sobject(&mapping.object_name)
            .await?;
        self.schema
            .apply(mapping, Drift::between(mapping.plan()?, &describe));
        self.schema.described(self.context.tuning.describe_interval);
        self.learn_dependencies(mapping, &describe).await
    }

    /// Learns which mapped fields depend on other records (formulas, roll-ups) unless what they are
    /// learned from (the computed fields and their formulas) is unchanged since the last time.
    async fn learn_dependencies(
        &mut self,
        mapping: &Mapping,
        describe: &SObjectDescribe,
    ) -> Result<(), ReaderError> {
        let plan = mapping.plan()?;
        let signature = formulas::signature(describe, plan);
        if mapping
            .dependencies
            .as_ref()
            .is_some_and(|known| known.signature == signature)
        {
            return Ok(());
        }
        let learned = formulas::learn(&self.context.salesforce, describe, plan).await?;
        let client = self.client()?;
        protocol::set_dependencies(client, mapping.id, &learned.dependencies).await?;
        if learned.api_calls > 0 {
            protocol::count_formula_calls(client, mapping.id, learned.api_calls, 0).await?;
            self.context
                .metrics
                .formula_api_calls
                .with_label_values(&[mapping.object_name.as_str()])
                .inc_by(learned.api_calls);
        }
        if !learned.dependencies.fields.is_empty() {
            tracing::info!(
                mapping = %mapping.label(),
                fields = %learned.dependencies.field_names().join(", "),
                api_calls = learned.api_calls,
                "learned which fields Salesforce computes from other records"
            );
        }
        Ok(())
    }

    /// Builds the formula watches for `mapping` unless built for it already.
    async fn prepare_formulas(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        let mut formulas = std::mem::take(&mut self.formulas);
        let result = formulas
            .prepare(&self.context, self.client()?, mapping)
            .await;
        self.formulas = formulas;
        result
    }

    /// Re-reads the dependent fields of whatever changed that they read.
    async fn refresh_formulas(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        self.prepare_formulas(mapping).await?;
        let mut formulas = std::mem::take(&mut self.formulas);
        let result = formulas
            .run_due(&self.context, self.client()?, mapping)
            .await;
        self.formulas = formulas;
        let report = result?;
        if report.rows > 0 {
            tracing::debug!(mapping = %mapping.label(), records = report.records, rows = report.rows, api_calls = report.api_calls, "refreshed formula and roll-up fields");
        }
        Ok(())
    }

    async fn initial_load(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        self.show(mapping, MappingState::Loading).await?;
        // Apply, not reload: rows the writer creates while the load runs get their sfid after the
        // snapshot was taken, and a reload merge would delete them. (A table that already had rows
        // keeps those whose records are gone until an explicit reload.)
        let report = load::load(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            MergeMode::Apply,
            "initial load",
        )
        .await?;
        if report.merge.conflicts > 0 {
            tracing::info!(mapping = %mapping.label(), conflicts = report.merge.conflicts, "the initial load met queued local changes");
        }
        self.after_full_read(mapping, report.started_at);
        let mapping = self.reread(mapping).await?;
        self.show(&mapping, MappingState::Synced).await
    }

    async fn reload(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        self.show(mapping, MappingState::Reloading).await?;
        let report = load::load(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            MergeMode::Reload,
            "reload",
        )
        .await?;
        if mapping.reload_requested {
            protocol::finish_reload(self.client()?, mapping.id, mapping.reload_requested_at)
                .await?;
        }
        self.after_full_read(mapping, report.started_at);
        let mapping = self.reread(mapping).await?;
        self.show(&mapping, MappingState::Synced).await
    }

    /// New columns (from `alter_mapping`) are filled by reading every record again.
    async fn backfill(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        let fields = mapping.backfill_fields.clone();
        tracing::info!(mapping = %mapping.label(), fields = %fields.join(", "), "back-filling new columns");
        load::load(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            MergeMode::Apply,
            "back-fill",
        )
        .await?;
        protocol::finish_backfill(self.client()?, mapping.id, &fields).await
    }

    fn after_full_read(&mut self, mapping: &Mapping, started_at: DateTime<Utc>) {
        self.progress.loaded_filter = Some(mapping.filter.clone());
        self.position.after_full_read(started_at);
    }

    /// Polls, or streams with a safety poll, until the mapping needs something else.
    async fn sync(&mut self, mapping: Mapping) -> Result<Next, Failure> {
        let next = self.follow(mapping).await;
        self.feed.close();
        next
    }

    async fn follow(&mut self, mut mapping: Mapping) -> Result<Next, Failure> {
        // a changed filter is read with from now on; its reconciliation was requested with it
        self.progress.loaded_filter = Some(mapping.filter.clone());
        let now = Instant::now();
        let mut next_poll = now;
        if self.feed.open(&self.context, &mapping) {
            next_poll = now + CATCH_UP_DELAY;
        } else if !mapping.streaming && self.feed.clear_note() {
            self.show(&mapping, MappingState::Synced)
                .await
                .phase(Phase::Polling)?;
        }
        self.position.next_sweep = self.position.next_sweep.min(now + SWEEP_MAX_INTERVAL);
        if mapping.dependencies.is_none() {
            // installed before sfsync learned dependent fields (an upgrade from 0.1.0): describe once
            self.check_drift(&mapping).await.phase(Phase::Describe)?;
            mapping = self.reread(&mapping).await.phase(Phase::Describe)?;
        }
        self.prepare_formulas(&mapping)
            .await
            .phase(Phase::Formulas)?;
        let mut stop = self.stop.clone();
        loop {
            let echo_due = Instant::now() + ECHO_RETRY;
            let resubscribe_at = self.feed.resubscribe_at(&mapping);
            let (reconcile_at, reconcile_reason) = self.reconcile_due(&mapping);
            let formulas_at = self.formulas.next_due();
            tokio::select! {
                _ = stop.triggered() => return Ok(Next::Stop),
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        return Ok(Next::Stop);
                    }
                    let Some(latest) = self.fetch().await? else {
                        return Ok(Next::Stop);
                    };
                    if self.needs_attention(&mapping, &latest) {
                        return Ok(Next::Continue);
                    }
                    mapping = latest;
                    self.prepare_formulas(&mapping).await.phase(Phase::Formulas)?;
                }
                item = self.feed.next() => match item {
                    StreamItem::Event(event) => {
                        let own = self.own_client.clone();
                        let mut batch = EventBatch::default();
                        batch.add(&event, own.as_deref());
                        self.feed.drain_ready(&mut batch, EVENT_BATCH, own.as_deref());
                        self.apply_events(&mapping, &batch, false).await.phase(Phase::Streaming)?;
                        self.failures = 0;
                    }
                    StreamItem::Subscribed => {
                        next_poll = Instant::now();
                        if self.feed.clear_note() {
                            self.show(&mapping, MappingState::Synced).await.phase(Phase::Streaming)?;
                        }
                    }
                    StreamItem::Ended(result) => {
                        next_poll = Instant::now();
                        if self.stream_ended(&mapping, result).await.phase(Phase::Streaming)? {
                            next_poll = Instant::now() + CATCH_UP_DELAY;
                        }
                    }
                },
                _ = sleep_until(next_poll) => {
                    let Some(latest) = self.fetch().await? else {
                        return Ok(Next::Stop);
                    };
                    if self.needs_attention(&mapping, &latest) {
                        return Ok(Next::Continue);
                    }
                    mapping = latest;
                    self.poll(&mapping).await.phase(Phase::Polling)?;
                    self.failures = 0;
                    self.show(&mapping, MappingState::Synced).await.phase(Phase::Polling)?;
                    let interval = if self.feed.is_streaming() {
                        self.context.tuning.safety_poll_interval
                    } else {
                        Duration::from_secs(u64::try_from(mapping.poll_seconds.max(1)).unwrap_or(60))
                    };
                    next_poll = Instant::now() + interval;
                }
                _ = sleep_until(self.position.next_sweep) => {
                    self.run_sweep(&mapping, self.feed.is_streaming()).await.phase(Phase::Polling)?;
                }
                _ = sleep_until(echo_due), if !self.echoes.is_empty() => {
                    let (ids, force) = self.echoes.take();
                    let batch = EventBatch::read_back(ids);
                    self.apply_events(&mapping, &batch, force).await.phase(Phase::Streaming)?;
                }
                _ = sleep_until(self.schema.next_describe) => {
                    self.check_drift(&mapping).await.phase(Phase::Describe)?;
                    self.show(&mapping, MappingState::Synced).await.phase(Phase::Describe)?;
                    // what the describe taught about dependent fields
                    mapping = self.reread(&mapping).await.phase(Phase::Describe)?;
                    self.prepare_formulas(&mapping).await.phase(Phase::Formulas)?;
                }
                _ = sleep_until(formulas_at.unwrap_or(now)), if formulas_at.is_some() => {
                    self.refresh_formulas(&mapping).await.phase(Phase::Formulas)?;
                }
                _ = sleep_until(reconcile_at) => {
                    self.reconcile(&mapping, reconcile_reason).await.phase(Phase::Reconcile)?;
                    mapping = self.reread(&mapping).await.phase(Phase::Reconcile)?;
                }
                _ = sleep_until(resubscribe_at.unwrap_or(now)), if resubscribe_at.is_some() => {
                    self.feed.resubscribe(&self.context, &mapping);
                    next_poll = Instant::now() + CATCH_UP_DELAY;
                }
            }
        }
    }

    /// Changes that need a step of their own (reload, describe, back-fill, mode switch).
    fn needs_attention(&self, current: &Mapping, latest: &Mapping) -> bool {
        latest.reload_requested
            || latest.describe_requested
            || !latest.backfill_fields.is_empty()
            || latest.is_paused()
            || latest.streaming != current.streaming
            || self.progress.loaded_filter.as_ref() != Some(&latest.filter)
    }

    /// Applies a batch of events and stores the replay id after it.
    async fn apply_events(
        &mut self,
        mapping: &Mapping,
        batch: &EventBatch,
        force: bool,
    ) -> Result<(), ReaderError> {
        let report = events::apply(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            batch,
            force,
        )
        .await?;
        self.echoes.defer(&report.deferred);
        tracing::debug!(
            mapping = %mapping.label(),
            events = batch.events,
            records = batch.records(),
            changed = report.changed,
            deleted = report.deleted,
            "change events applied"
        );
        if batch.overflow {
            // The records are not named: read everything changed since the high-water mark now,
            // before the replay id moves past the overflow.
            self.poll(mapping).await?;
        }
        if let Some(replay_id) = batch.max_replay_id {
            protocol::set_reader_position(self.client()?, mapping.id, None, Some(replay_id))
                .await?;
        }
        if self.feed.clear_note() {
            if let Some(latest) = self.current().await? {
                self.show(&latest, MappingState::Synced).await?;
            }
        }
        Ok(())
    }

    /// The subscription ended; returns whether it was subscribed again right away.
    async fn stream_ended(
        &mut self,
        mapping: &Mapping,
        result: Result<(), crate::salesforce::cometd::StreamingError>,
    ) -> Result<bool, ReaderError> {
        match self.feed.ended(mapping, result) {
            AfterEnd::Poll => Ok(false),
            AfterEnd::CatchUpFromNewEvents => {
                // events older than Salesforce keeps (3 days) are gone: the poll brings what changed
                // since the high-water mark, a reconciliation what else may have been missed
                self.progress.reconcile_wanted = true;
                self.poll(mapping).await?;
                // -1 is "new events only": what a restarted worker should subscribe with too.
                protocol::set_reader_position(self.client()?, mapping.id, None, Some(-1)).await?;
                self.feed
                    .subscribe(&self.context, mapping, ReplayFrom::NewEvents);
                Ok(true)
            }
            AfterEnd::ShowNote => {
                self.show(mapping, MappingState::Synced).await?;
                Ok(false)
            }
        }
    }

    async fn poll(&mut self, mapping: &Mapping) -> Result<(), ReaderError> {
        let fresh = self.reread(mapping).await?;
        let window = TimeDelta::from_std(self.context.tuning.reread_window)
            .unwrap_or(TimeDelta::seconds(60));
        let since = self.position.poll_since(&fresh, window);
        let report = poll::poll_once(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            since,
        )
        .await?;
        if report.changed > 0 || report.left_filter > 0 {
            tracing::debug!(
                mapping = %mapping.label(),
                records = report.records,
                changed = report.changed,
                left_filter = report.left_filter,
                "polled"
            );
        }
        Ok(())
    }

    /// When the next reconciliation is due and why: at once when requested (`sfsync.reconcile`)
    /// or when deletes may have been lost, else `reconcile_seconds` after the last one (or after
    /// this worker started, for a mapping never reconciled).
    fn reconcile_due(&self, mapping: &Mapping) -> (Instant, Reason) {
        let now = Instant::now();
        if mapping.reconcile_requested_at.is_some() {
            return (now, Reason::Requested);
        }
        if self.progress.reconcile_wanted {
            return (now, Reason::Retention);
        }
        let every =
            Duration::from_secs(u64::try_from(mapping.reconcile_seconds.max(60)).unwrap_or(21_600));
        let due = match mapping.last_reconciled_at {
            Some(last) => {
                let since = (Utc::now() - last).to_std().unwrap_or_default();
                now + every.saturating_sub(since)
            }
            None => self.started + every,
        };
        (due, Reason::Schedule)
    }

    async fn reconcile(&mut self, mapping: &Mapping, reason: Reason) -> Result<(), ReaderError> {
        let started = Instant::now();
        let report = reconcile::reconcile(
            &self.context,
            self.client()?,
            mapping,
            &self.schema.skipped,
            reason,
        )
        .await?;
        self.progress.reconcile_wanted = false;
        tracing::info!(
            mapping = %mapping.label(),
            reason = reason.as_str(),
            missing = report.found.missing,
            vanished = report.found.vanished,
            stale = report.found.stale,
            repaired = report.repaired.total(),
            skipped = report.skipped,
            api_calls = report.api_calls,
            seconds = started.elapsed().as_secs_f64(),
            "reconciled with Salesforce"
        );
        Ok(())
    }

    async fn run_sweep(&mut self, mapping: &Mapping, streaming: bool) -> Result<(), ReaderError> {
        let mut sweep = self.position.take_sweep();
        let result = sweep.run(&self.context, self.client()?, mapping).await;
        let covered = sweep.covered();
        self.position.swept(sweep);
        let report = result?;
        // stored, so a restart (or another sidecar taking over) sweeps on from here
        protocol::set_sweep_position(self.client()?, mapping.id, covered).await?;
        if report.rows_deleted > 0 {
            tracing::debug!(mapping = %mapping.label(), rows = report.rows_deleted, "hard deletes applied");
        }
        if report.deletes_may_be_lost {
            tracing::warn!(mapping = %mapping.label(), "Salesforce's delete log no longer reaches back to the last sweep: reconciling to catch deletes that may have been missed");
            self.progress.reconcile_wanted = true;
        }
        self.position
            .schedule_sweep(mapping.poll_seconds, streaming);
        Ok(())
    }
}
