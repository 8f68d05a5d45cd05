//! The writer's two connections to the queue: the claiming connection (claims, completions, lease
//! renewals; prepared once for the claim's plan) and the listener that turns `NOTIFY sfsync_changes`
//! into wake-ups. Both are opened again when lost; the loop only asks for them.
//!
//! Notifications are wake-ups, not work items: any role may `NOTIFY sfsync_changes`, so a flood of
//! them must cost neither memory nor a claim each. They raise one flag (see `db::listen`), a claim
//! takes down the flag (it sees every change committed before it), and flag-driven claims come at
//! most every [`NOTIFY_MIN_GAP`].

use std::time::{Duration, Instant};

use prometheus::IntCounter;
use sfsync_protocol::ChangeResult;
use tokio_postgres::Client;

use super::catalog_refresh::CatalogRefresher;
use super::mapping::MappingCatalog;
use super::shipment::MAX_ATTEMPTS;
use crate::db::queue::{self, retry_conflicts, ClaimedRow};
use crate::db::{Database, DbError, WakeFilter, Wakeups};

/// The channel the extension notifies (when `sfsync.notify` is on).
const CHANGES_CHANNEL: &str = "sfsync_changes";
/// A wake-up by notification claims at most this soon after the previous claim: however fast
/// notifications arrive, they cause at most 50 claims a second (the poll adds its own).
const NOTIFY_MIN_GAP: Duration = Duration::from_millis(20);
/// A refused LISTEN is tried again after this (polling meanwhile).
const LISTEN_RETRY: Duration = Duration::from_secs(10);
/// Deadlocks and serialization failures of one queue call are retried this many times.
const CONFLICT_ATTEMPTS: u32 = 5;

/// What one claim asks for.
pub struct ClaimRequest {
    pub batch: i32,
    pub lease_seconds: i32,
    /// Only this mapping's changes (a Bulk-sized claim), or any active mapping's.
    pub mapping: Option<i64>,
}

pub struct QueueLink {
    database: Database,
    claiming: Option<Client>,
    listener: Option<(Client, Wakeups)>,
    listen_retry_at: Instant,
    /// When the last claim started: wake-ups by notification keep [`NOTIFY_MIN_GAP`] from it.
    last_claim_at: Option<Instant>,
}

impl QueueLink {
    pub fn new(database: Database) -> Self {
        Self {
            database,
            claiming: None,
            listener: None,
            listen_retry_at: Instant::now(),
            last_claim_at: None,
        }
    }

    /// Opens whichever connection is missing. A listener that cannot be opened is not an error:
    /// the writer polls meanwhile and tries again later.
    pub async fn connect(
        &mut self,
        catalog: &CatalogRefresher,
        notifications: &IntCounter,
    ) -> Result<(), DbError> {
        if self.claiming.as_ref().is_none_or(Client::is_closed) {
            let client = self.database.connect().await?;
            queue::prepare_claim_session(&client).await?;
            self.claiming = Some(client);
            tracing::debug!("writer connected to the database");
        }
        if self.listener.is_none() && Instant::now() >= self.listen_retry_at {
            self.listen(catalog, notifications.clone()).await;
        }
        Ok(())
    }

    async fn listen(&mut self, catalog: &CatalogRefresher, received: IntCounter) {
        let catalog = catalog.subscribe();
        let filter: WakeFilter = Box::new(move |payload| {
            received.inc();
            concerns_catalog(payload, &catalog.borrow())
        });
        match self.database.listen(CHANGES_CHANNEL, filter).await {
            Ok(listener) => self.listener = Some(listener),
            Err(error) => {
                tracing::debug!(error = %crate::error_chain(&error), "cannot LISTEN for change notifications; polling only");
                self.listen_retry_at = Instant::now() + LISTEN_RETRY;
            }
        }
    }

    /// The claiming connection, if it is open.
    pub fn client(&self) -> Result<&Client, DbError> {
        self.claiming
            .as_ref()
            .filter(|client| !client.is_closed())
            .ok_or_else(|| DbError::NotConnected {
                target: self.database.settings().describe(),
            })
    }

    /// Drops the claiming connection after it was lost; the next round opens a new one.
    pub fn connection_lost(&mut self) {
        self.claiming = None;
    }

    /// `_claim_changes`. Takes down the notification flag first: this claim sees every change whose
    /// notification is pending now.
    pub async fn claim(
        &mut self,
        request: &ClaimRequest,
        claims: &IntCounter,
    ) -> Result<Vec<ClaimedRow>, DbError> {
        if let Some((_, wakeups)) = &mut self.listener {
            wakeups.clear();
        }
        self.last_claim_at = Some(Instant::now());
        let client = self.client()?;
        retry_conflicts(CONFLICT_ATTEMPTS, || {
            claims.inc();
            queue::claim_changes(
                client,
                request.batch,
                request.lease_seconds,
                request.mapping,
            )
        })
        .await
    }

    /// `_complete_changes` on the claiming connection.
    pub async fn complete(&self, results: &[ChangeResult]) -> Result<(), DbError> {
        if results.is_empty() {
            return Ok(());
        }
        let client = self.client()?;
        retry_conflicts(CONFLICT_ATTEMPTS, || {
            queue::complete_changes(client, results, MAX_ATTEMPTS)
        })
        .await
        .map(|_| ())
    }

    /// Resolves when a notification concerning this writer arrived and [`NOTIFY_MIN_GAP`] has passed
    /// since the last claim (`true`), or when the listener's connection is gone (`false`; it is
    /// opened again by the next [`Self::connect`]). Never resolves without a listener.
    pub async fn notified(&mut self) -> bool {
        let Some((_, wakeups)) = &mut self.listener else {
            return std::future::pending().await;
        };
        if wakeups.next().await.is_none() {
            self.listener = None;
            return false;
        }
        if let Some(at) = self.last_claim_at {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at + NOTIFY_MIN_GAP)).await;
        }
        true
    }
}

/// Whether a notification is about a mapping of this writer's schema: the channel is shared by
/// every schema of the database, and the catalog holds only this schema's mappings. A payload that
/// is not a mapping id wakes the writer. A mapping created since the catalog was read is skipped:
/// the poll claims its changes.
fn concerns_catalog(payload: &str, catalog: &MappingCatalog) -> bool {
    match payload.trim().parse::<i64>() {
        Ok(mapping_id) => catalog.get(mapping_id).is_some(),
        Err(_) => true,
    }
}
