//! Starting and stopping the emulator: builds the org (state file, object files), binds HTTP or HTTPS, serves,
//! and saves the state on shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::ServiceExt;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{AppState, SharedState};
use crate::auth::jwt::{JwtSetupError, JwtVerifier};
use crate::config::Config;
use crate::routes::{normalize_path, router};
use crate::store::persist::{self, PersistError};
use crate::store::{load_object_dir, Org, SchemaError};
use crate::tls::{self, TlsError, TlsListener};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad --listen address '{0}'")]
    BadAddress(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("writing the certificate to {path}: {source}")]
    CertOut {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    State(#[from] PersistError),
    #[error("--jwt-cert: {0}")]
    Jwt(#[from] JwtSetupError),
    #[error("server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running emulator.
pub struct RunningServer {
    pub base_url: String,
    pub local_addr: SocketAddr,
    pub state: SharedState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), std::io::Error>>,
}

fn build_org(config: &Config) -> Result<Org, ServerError> {
    let mut org = match &config.state {
        Some(path) if path.exists() => persist::load(path, config.org_id)?,
        _ => Org::with_org_id(&config.username, config.org_id)?,
    };
    if let Some(dir) = &config.objects {
        // Objects already restored from the state file keep their saved (possibly drifted) schema.
        load_object_dir(&mut org, dir)?;
    }
    Ok(org)
}

async fn bind(address: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind {
            address: address.to_string(),
            source,
        })
}

fn base_url(scheme: &str, local: SocketAddr) -> String {
    let host = match local.ip() {
        ip if ip.is_unspecified() && local.is_ipv6() => "[::1]".to_string(),
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", local.port())
}

/// Builds everything and starts serving in the background.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    let org = build_org(&config)?;
    let jwt = config
        .jwt_cert
        .as_deref()
        .map(JwtVerifier::from_pem_file)
        .transpose()?;
    let listener = bind(&config.listen).await?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        address: config.listen.clone(),
        source,
    })?;
    let tls = if config.tls {
        Some(tls::generate()?)
    } else {
        None
    };
    if let (Some(tls), Some(path)) = (&tls, &config.cert_out) {
        std::fs::write(path, &tls.ca_pem).map_err(|source| ServerError::CertOut {
            path: path.display().to_string(),
            source,
        })?;
    }
    let base_url = base_url(if tls.is_some() { "https" } else { "http" }, local_addr);
    let state: SharedState = Arc::new(AppState::new(config, base_url.clone(), org, jwt));
    let app = tower::ServiceBuilder::new()
        .map_request(normalize_path)
        .service(router(state.clone()));
    let service = ServiceExt::<Request>::into_make_service(app);
    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let signal = async move {
        let _ = shutdown_signal.await;
    };
    let task = match tls {
        Some(tls) => {
            let listener =
                TlsListener::new(listener, tls.acceptor).map_err(|source| ServerError::Bind {
                    address: local_addr.to_string(),
                    source,
                })?;
            tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(signal)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(signal)
                .await
        }),
    };
    Ok(RunningServer {
        base_url,
        local_addr,
        state,
        shutdown: Some(shutdown),
        task,
    })
}

impl RunningServer {
    /// Stops serving (waiting a few seconds for open requests), then saves the state file if one is configured.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            // Waiting CometD connects answer now instead of holding graceful shutdown for a long poll.
            self.state.cdc.shutdown();
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(Duration::from_secs(5), &mut self.task).await {
            Ok(Ok(Err(error))) => return Err(ServerError::Serve(error)),
            Ok(_) => {}
            Err(_) => self.task.abort(),
        }
        self.save_state()
    }

    /// Writes the state file now (no-op without `--state`).
    pub fn save_state(&self) -> Result<(), ServerError> {
        if let Some(path) = &self.state.config.state {
            persist::save(&self.state.org.read(), path)?;
        }
        Ok(())
    }
}

async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs until SIGTERM/SIGINT: prints the `listening on` line when ready, saves the state on the way out.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let server = start(config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "sfsync-emulator listening on {}", server.base_url);
        let _ = stdout.flush();
    }
    termination().await;
    server.shutdown().await
}
