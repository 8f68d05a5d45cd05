//! The HTTP server for `/metrics` (Prometheus text) and `/healthz`, on `SFSYNC_HTTP_LISTEN`, plus
//! whatever routes the caller merges in (the dashboard's pages).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;

use super::{Health, Metrics};
use crate::shutdown::ShutdownSignal;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {address} (SFSYNC_HTTP_LISTEN)")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the metrics server failed")]
    Serve(#[source] std::io::Error),
}

#[derive(Clone)]
struct ServerState {
    metrics: Metrics,
    health: Arc<Health>,
}

/// A bound (not yet serving) metrics server; binding first lets the caller report the real port.
pub struct MetricsServer {
    listener: TcpListener,
    state: ServerState,
    extra: Option<Router>,
}

impl MetricsServer {
    pub async fn bind(
        address: SocketAddr,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ServerError::Bind { address, source })?;
        Ok(Self {
            listener,
            state: ServerState { metrics, health },
            extra: None,
        })
    }

    /// Serves `routes` beside `/metrics` and `/healthz` (which keep their own paths).
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = Some(routes);
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(self, mut shutdown: ShutdownSignal) -> Result<(), ServerError> {
        let mut router = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(health_handler))
            .with_state(self.state);
        if let Some(extra) = self.extra {
            router = router.merge(extra);
        }
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { shutdown.triggered().await })
            .await
            .map_err(ServerError::Serve)
    }
}

async fn metrics_handler(State(state): State<ServerState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render metrics: {error}\n"),
        )
            .into_response(),
    }
}

async fn health_handler(State(state): State<ServerState>) -> Response {
    let notes: String = state
        .health
        .notes()
        .into_iter()
        .map(|(part, note)| format!("{part}: {note}\n"))
        .collect();
    match state.health.check() {
        Ok(()) => (StatusCode::OK, format!("ok\n{notes}")).into_response(),
        Err(failing) => {
            let mut text = String::from("unhealthy\n");
            for (part, reason) in failing {
                text.push_str(&format!("{part}: {reason}\n"));
            }
            text.push_str(&notes);
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
        }
    }
}
