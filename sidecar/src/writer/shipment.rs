//! One batch from sending to completion: the Salesforce call (retried in place on transient
//! failures), per-record outcomes, and `_complete_changes` (retried on deadlocks and lost
//! connections). Runs as its own task so several calls are in flight at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sfsync_protocol::ChangeResult;

use super::bulk;
use super::collections;
use super::metrics::WriterMetrics;
use super::operation::Operation;
use super::outcome::{change_results, WriteError, WriteOutcome};
use super::schedule::Batch;
use crate::db::queue::{complete_changes, parent_is_pending, retry_conflicts};
use crate::db::{ClientPool, DbError};
use crate::salesforce::bulk::PollOptions;
use crate::salesforce::{Backoff, SalesforceClient, SalesforceError};

/// Attempts of one call before its records are released to the queue's own backoff.
const CALL_ATTEMPTS: u32 = 4;
/// After a failed login the writer waits this long before trying again.
const LOGIN_PAUSE: Duration = Duration::from_secs(30);
/// A child whose parent is still on its way to Salesforce is tried again this soon.
const MISSING_PARENT_RETRY: Duration = Duration::from_secs(2);
/// `_complete_changes`: attempts while the database is unreachable.
const COMPLETE_ATTEMPTS: u32 = 8;
pub const MAX_ATTEMPTS: i32 = 10;
/// Results recorded per `_complete_changes` call at most.
const COMPLETE_CHUNK: usize = 1_000;

/// What the shared parts of the writer hand every shipment.
pub struct ShipmentContext {
    pub salesforce: SalesforceClient,
    pub pool: Arc<ClientPool>,
    pub metrics: WriterMetrics,
    pub bulk_poll: PollOptions,
    pub call_backoff: Backoff,
}

/// Why writing should pause.
#[derive(Debug, Clone, PartialEq)]
pub enum PauseReason {
    RequestLimitExceeded,
    ApiReserve,
    Login,
}

impl PauseReason {
    pub fn label(&self) -> &'static str {
        match self {
            PauseReason::RequestLimitExceeded => "request_limit_exceeded",
            PauseReason::ApiReserve => "api_reserve",
            PauseReason::Login => "login",
        }
    }
}

/// A request to pause writing.
#[derive(Debug, Clone)]
pub struct Pause {
    pub reason: PauseReason,
    pub retry_after: Duration,
    pub detail: String,
}

/// What the dispatcher learns when a shipment is done.
#[derive(Debug)]
pub struct ShipmentReport {
    /// `(sequence, operation)` of every write the batch carried.
    pub writes: Vec<(u64, Operation)>,
    pub pause: Option<Pause>,
    /// The call kept failing transiently: Salesforce looks unavailable.
    pub unavailable: bool,
    pub succeeded: usize,
}

/// Sends `batch`, completes its changes and reports back.
pub async fn run(context: Arc<ShipmentContext>, batch: Batch) -> ShipmentReport {
    let started = std::time::Instant::now();
    let sent = send_with_retries(&context, &batch).await;
    let sent_after = started.elapsed();
    let mut outcomes = sent.outcomes;
    if batch.bulk {
        let operation = format!("{:?}", batch.kind).to_ascii_lowercase();
        context
            .metrics
            .bulk_jobs
            .with_label_values(&[batch.mapping.object.as_str(), operation.as_str()])
            .inc();
    }
    recheck_missing_parents(&context, &batch, &mut outcomes).await;

    let acknowledged_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0);
    let object = batch.mapping.object.as_str();
    // Results are recorded in chunks (one record's changes never split): short transactions keep
    // concurrent completions and claims from queueing behind one large one.
    let mut chunks: Vec<Vec<ChangeResult>> = vec![Vec::new()];
    let mut succeeded = 0;
    for (waiting, outcome) in batch.writes.iter().zip(&outcomes) {
        if chunks
            .last()
            .is_some_and(|chunk| chunk.len() >= COMPLETE_CHUNK)
        {
            chunks.push(Vec::new());
        }
        if let Some(chunk) = chunks.last_mut() {
            chunk.extend(change_results(&waiting.operation, outcome));
        }
        context.metrics.count(object, outcome.label(), 1);
        let merged = waiting.operation.merged.len() as u64;
        match outcome {
            WriteOutcome::Success { .. } => {
                succeeded += 1;
                context.metrics.count(object, "merged", merged);
                context
                    .metrics
                    .write_latency
                    .with_label_values(&[object])
                    .observe((acknowledged_at - waiting.operation.oldest_created_at).max(0.0));
            }
            WriteOutcome::Failed(error) => {
                context.metrics.count(object, "merged", merged);
                tracing::info!(object, record_id = waiting.operation.record_id, code = %error.code, message = %error.message, "Salesforce refused a change");
            }
            WriteOutcome::Retry { .. } => context.metrics.count(object, "retry", merged),
        }
    }
    for chunk in chunks {
        complete(&context, &chunk).await;
    }
    tracing::debug!(
        object,
        kind = ?batch.kind,
        bulk = batch.bulk,
        writes = batch.writes.len(),
        send_ms = sent_after.as_millis() as u64,
        complete_ms = (started.elapsed() - sent_after).as_millis() as u64,
        "write call finished"
    );
    ShipmentReport {
        writes: batch
            .writes
            .into_iter()
            .map(|waiting| (waiting.seq, waiting.operation))
            .collect(),
        pause: sent.pause,
        unavailable: sent.unavailable,
        succeeded,
    }
}

struct Sent {
    outcomes: Vec<WriteOutcome>,
    pause: Option<Pause>,
    unavailable: bool,
}

impl Sent {
    fn all(batch: &Batch, outcome: WriteOutcome) -> Vec<WriteOutcome> {
        vec![outcome; batch.writes.len()]
    }
}

async fn send_once(
    context: &ShipmentContext,
    batch: &Batch,
) -> Result<Vec<WriteOutcome>, SalesforceError> {
    if batch.bulk {
        bulk::send(&context.salesforce, batch, context.bulk_poll).await
    } else {
        collections::send(&context.salesforce, batch).await
    }
}

/// A whole-call failure that says nothing about the records: another attempt may well succeed.
fn is_transient_call_error(error: &SalesforceError) -> bool {
    error.is_transient()
        || matches!(
            error,
            SalesforceError::SessionRejected { .. }
                | SalesforceError::Decode { .. }
                | SalesforceError::ResultCountMismatch { .. }
                | SalesforceError::BulkJobTimedOut { .. }
        )
}

async fn send_with_retries(context: &ShipmentContext, batch: &Batch) -> Sent {
    let mut attempt = 0;
    loop {
        let error = match send_once(context, batch).await {
            Ok(outcomes) => {
                return Sent {
                    outcomes,
                    pause: None,
                    unavailable: false,
                }
            }
            Err(error) => error,
        };
        let write_error = WriteError::from_call_error(&error);
        match &error {
            SalesforceError::RequestLimitExceeded { retry_after, .. }
            | SalesforceError::BudgetExhausted { retry_after, .. } => {
                let reason = if matches!(error, SalesforceError::RequestLimitExceeded { .. }) {
                    PauseReason::RequestLimitExceeded
                } else {
                    PauseReason::ApiReserve
                };
                return Sent {
                    outcomes: Sent::all(
                        batch,
                        WriteOutcome::Retry {
                            error: write_error,
                            after: Some(*retry_after),
                        },
                    ),
                    pause: Some(Pause {
                        reason,
                        retry_after: *retry_after,
                        detail: crate::error_chain(&error),
                    }),
                    unavailable: false,
                };
            }
            SalesforceError::Auth(auth) if !auth.is_transient() => {
                return Sent {
                    outcomes: Sent::all(
                        batch,
                        WriteOutcome::Retry {
                            error: write_error,
                            after: Some(LOGIN_PAUSE),
                        },
                    ),
                    pause: Some(Pause {
                        reason: PauseReason::Login,
                        retry_after: LOGIN_PAUSE,
                        detail: crate::error_chain(&error),
                    }),
                    unavailable: false,
                };
            }
            _ => {}
        }
        if is_transient_call_error(&error) {
            attempt += 1;
            if attempt < CALL_ATTEMPTS {
                let delay = context.call_backoff.delay(attempt - 1);
                tracing::debug!(error = %crate::error_chain(&error), ?delay, attempt, "transient failure of a write call; sending it again");
                tokio::time::sleep(delay).await;
                continue;
            }
            tracing::warn!(error = %crate::error_chain(&error), records = batch.writes.len(), "a write call kept failing; its changes go back to the queue");
            return Sent {
                outcomes: Sent::all(
                    batch,
                    WriteOutcome::Retry {
                        error: write_error,
                        after: None,
                    },
                ),
                pause: None,
                unavailable: true,
            };
        }
        if batch.bulk {
            // A job-level refusal says nothing about single records: Collections will tell.
            tracing::warn!(error = %crate::error_chain(&error), object = %batch.mapping.object, "Bulk job failed; sending its records through sObject Collections");
            return send_as_collections(context, batch).await;
        }
        tracing::warn!(error = %crate::error_chain(&error), records = batch.writes.len(), "Salesforce refused a whole write call");
        return Sent {
            outcomes: Sent::all(batch, WriteOutcome::Failed(write_error)),
            pause: None,
            unavailable: false,
        };
    }
}

/// The fallback for a failed Bulk job: the same writes in Collections calls of 200.
async fn send_as_collections(context: &ShipmentContext, batch: &Batch) -> Sent {
    let mut outcomes = Vec::with_capacity(batch.writes.len());
    let mut pause = None;
    let mut unavailable = false;
    let mut remaining = batch.writes.iter().peekable();
    while remaining.peek().is_some() {
        let chunk: Vec<_> = remaining
            .by_ref()
            .take(crate::salesforce::MAX_COLLECTION_RECORDS)
            .map(|waiting| super::schedule::Waiting {
                seq: waiting.seq,
                operation: waiting.operation.clone(),
                bulk: false,
                since: waiting.since,
            })
            .collect();
        let part = Batch {
            mapping: batch.mapping.clone(),
            kind: batch.kind,
            bulk: false,
            writes: chunk,
        };
        let sent = Box::pin(send_with_retries(context, &part)).await;
        outcomes.extend(sent.outcomes);
        pause = pause.or(sent.pause);
        unavailable |= sent.unavailable;
    }
    Sent {
        outcomes,
        pause,
        unavailable,
    }
}

/// A child refused because its parent (by external id) does not exist may simply have overtaken a
/// parent that is still on its way (a change committed after the child's, or one another sidecar
/// holds): when the extension says that parent has a change queued or in flight, the child is tried
/// again shortly instead of failing. (The claim already holds children back behind earlier changes of
/// their parents; this covers the rest.)
async fn recheck_missing_parents(
    context: &ShipmentContext,
    batch: &Batch,
    outcomes: &mut [WriteOutcome],
) {
    for (waiting, outcome) in batch.writes.iter().zip(outcomes.iter_mut()) {
        let WriteOutcome::Failed(error) = outcome else {
            continue;
        };
        if !error.is_missing_foreign_key() || waiting.operation.needs.is_empty() {
            continue;
        }
        match parent_pending(context, &waiting.operation).await {
            Ok(true) => {
                *outcome = WriteOutcome::Retry {
                    error: error.clone(),
                    after: Some(MISSING_PARENT_RETRY),
                }
            }
            Ok(false) => {}
            Err(db_error) => {
                // The change is released, not failed: it is claimed again and asked about again.
                tracing::warn!(error = %crate::error_chain(&db_error), "cannot ask whether a missing parent is on its way; the child is tried again later");
                *outcome = WriteOutcome::Retry {
                    error: error.clone(),
                    after: Some(MISSING_PARENT_RETRY),
                }
            }
        }
    }
}

async fn parent_pending(context: &ShipmentContext, operation: &Operation) -> Result<bool, DbError> {
    let client = context.pool.get().await?;
    for key in &operation.needs {
        if parent_is_pending(
            &client,
            operation.mapping.id,
            &key.object,
            &key.field,
            &key.value,
        )
        .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `_complete_changes`, retried on deadlocks and while the database is unreachable. If it never
/// succeeds the changes stay leased until the lease lapses and are then written again (safe with an
/// upsert field; the documented risk without one).
async fn complete(context: &ShipmentContext, results: &[ChangeResult]) {
    if results.is_empty() {
        return;
    }
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    for attempt in 0..COMPLETE_ATTEMPTS {
        let outcome = async {
            let client = context.pool.get().await?;
            retry_conflicts(5, || complete_changes(&client, results, MAX_ATTEMPTS)).await
        }
        .await;
        match outcome {
            Ok(completion) => {
                if !completion.ignored.is_empty() {
                    tracing::warn!(changes = ?completion.ignored, "results for changes whose lease had lapsed were ignored (another sidecar holds them now)");
                }
                return;
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), attempt, "cannot record write results; trying again");
                tokio::time::sleep(backoff.delay(attempt)).await;
            }
        }
    }
    tracing::error!("giving up recording write results; the changes will be written again when their lease lapses");
}
