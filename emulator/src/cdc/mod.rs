//! Change Data Capture over the Streaming API (CometD/Bayeux long polling, Streaming API and Change Data Capture Developer Guides of the API reference): the
//! `/cometd/{version}` endpoint, client sessions, channels and CDC selection, replay, change events rendered from the
//! org change log (so every write path emits them), gap events, and the admin faults.

pub mod admin;
pub mod bayeux;
pub mod channels;
pub mod clients;
pub mod endpoint;
pub mod gaps;
pub mod render;
pub mod stream;

use std::time::Duration;

use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::app::SharedState;
use crate::config::Config;
use clients::ClientRegistry;
use gaps::GapLog;

/// Streaming state shared by every request.
#[derive(Debug)]
pub struct CdcState {
    pub clients: ClientRegistry,
    pub gaps: Mutex<GapLog>,
    /// How long a connect waits for events (`--cometd-timeout-seconds`, `advice.timeout`).
    pub long_poll: Duration,
    shutdown: watch::Sender<bool>,
}

impl CdcState {
    pub fn new(config: &Config) -> CdcState {
        let (shutdown, _) = watch::channel(false);
        CdcState {
            clients: ClientRegistry::new(Duration::from_secs(config.cometd_client_expiry_seconds)),
            gaps: Mutex::new(GapLog::default()),
            long_poll: Duration::from_secs(config.cometd_timeout_seconds),
            shutdown,
        }
    }

    /// Ends every waiting connect (server shutdown), so graceful shutdown need not wait out long polls.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// The Streaming API endpoint (`/cometd/{version}`, also with the message type appended) and the CDC admin faults.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/cometd", post(endpoint::cometd_unversioned))
        .route("/cometd/{version}", post(endpoint::cometd))
        .route(
            "/cometd/{version}/{*suffix}",
            post(endpoint::cometd_suffixed),
        )
        .route("/__emulator/cdc/gap", post(admin::gap))
        .route("/__emulator/cometd/drop-clients", post(admin::drop_clients))
}

/// `--cdc-retention-hours` in milliseconds of org time.
pub fn retention_ms(config: &Config) -> i64 {
    i64::try_from(config.cdc_retention_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000)
}
