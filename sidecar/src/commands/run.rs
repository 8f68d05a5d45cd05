//! `sfsync-sidecar run`: sets up metrics/health, the shutdown channel and the shared clients, runs the
//! worker tasks in a `JoinSet` and exits 0 after SIGTERM/SIGINT once they have stopped.
//!
//! Before any worker starts, the version gate: the sidecar waits (with backoff) while the database
//! is unreachable or the extension is not installed yet, and exits non-zero with a message naming
//! both versions when the installed extension is one it does not support. Exiting (rather than
//! waiting) makes a wrong deployment visible to the service manager at once; its restart policy
//! then re-checks, so the sidecar comes up by itself once `ALTER EXTENSION sfsync UPDATE` has run.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::task::JoinSet;

use super::credentials::DatabaseTokenStore;
use super::CommandError;
use crate::alerts::{AlertMetrics, Alerts};
use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::db::session::{open_session, SessionBinding};
use crate::db::{catalog, Database, DbError};
use crate::error_chain;
use crate::housekeeping::{self, HousekeepingMetrics};
use crate::metrics::server::MetricsServer;
use crate::metrics::{Health, Metrics};
use crate::reader::{ReaderMetrics, ReaderSupervisor};
use crate::runtime::RunContext;
use crate::salesforce::{Backoff, SalesforceClient};
use crate::shutdown::{trigger_on_signals, Shutdown, ShutdownSignal};
use crate::writer::{self, WriterMetrics};

/// How long tasks get to finish or release in-flight work after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

type TaskResult = Result<(), CommandError>;

/// Every log line of the run carries the schema (one sidecar per schema; several may share a host).
pub async fn run(config: Config) -> Result<(), CommandError> {
    let span = tracing::info_span!("sidecar", schema = %config.schema);
    run_in_span(config).instrument(span).await
}

async fn run_in_span(config: Config) -> Result<(), CommandError> {
    let metrics = Metrics::new(&config.schema)?;
    // every worker's metrics are registered here, before anything runs: a failure is fatal at
    // start-up for all of them alike, never a warning mid-run
    let workers = WorkerMetrics::register(&metrics)?;
    let health = Arc::new(Health::new());
    let shutdown = Shutdown::new();
    let _signals = trigger_on_signals(shutdown.clone()).map_err(CommandError::Signals)?;
    let mut tasks: JoinSet<TaskResult> = JoinSet::new();

    let dashboard = match &config.dashboard {
        Some(settings) => Some(Dashboard::new(
            settings,
            &config.schema,
            config.salesforce.ca_bundle.as_ref(),
        )?),
        None => None,
    };
    if let Some(address) = config.http_listen {
        let mut server = MetricsServer::bind(address, metrics.clone(), health.clone()).await?;
        let bound = server.local_addr().unwrap_or(address);
        tracing::info!(address = %bound, "serving /metrics and /healthz on http://{bound}");
        if let Some(dashboard) = &dashboard {
            server = server.with_routes(dashboard.router());
            tracing::info!(
                read_only = !dashboard.has_admin(),
                "serving the dashboard on http://{bound}/ (open it with ?token=...)"
            );
            let sampler = dashboard.sample_history(metrics.registry().clone(), shutdown.signal());
            tasks.spawn(
                async move {
                    sampler.await;
                    Ok(())
                }
                .in_current_span(),
            );
        }
        let signal = shutdown.signal();
        tasks.spawn(
            async move { server.serve(signal).await.map_err(CommandError::from) }.in_current_span(),
        );
    }

    let salesforce = SalesforceClient::from_config(
        &config,
        metrics.salesforce.clone(),
        DatabaseTokenStore::new(&config, false),
    )?;
    let database = Database::new(
        config.database.clone(),
        config.salesforce.ca_bundle.as_ref(),
    )?;
    // the version gate first: an older extension has no sessions to open
    let Some(version) = wait_for_supported_extension(&database, &mut shutdown.signal()).await?
    else {
        // shutdown was requested while waiting for the database
        shutdown.trigger();
        drain(&mut tasks).await;
        return Ok(());
    };
    tracing::info!(%version, "sfsync extension version supported");
    let Some(database) = open_schema_session(&config, database, &salesforce, &shutdown).await?
    else {
        shutdown.trigger();
        drain(&mut tasks).await;
        return Ok(());
    };
    if let Some(dashboard) = &dashboard {
        dashboard.attach(database.clone(), salesforce.clone());
    }
    let context = RunContext {
        database,
        salesforce,
        config: Arc::new(config),
        metrics,
        health,
        shutdown: shutdown.clone(),
    };
    if let Err(error) = spawn_workers(&context, workers, &mut tasks) {
        shutdown.trigger();
        drain(&mut tasks).await;
        return Err(error);
    }
    tracing::info!(schema = %context.config.schema, "sfsync-sidecar running");

    let outcome = supervise(&mut tasks, &shutdown).await;
    shutdown.trigger();
    drain(&mut tasks).await;
    tracing::info!("sfsync-sidecar stopped");
    outcome
}

/// Logs in to Salesforce and opens a first database session for the schema, so that the extension
/// checks the org against the schema's binding (and binds it on first contact) before any worker
/// starts. Returns the database with every later connection bound the same way, or None on shutdown.
/// Unreachable Salesforce or Postgres is waited for; another org than the bound one stops the
/// sidecar with the extension's explanation.
async fn open_schema_session(
    config: &Config,
    database: Database,
    salesforce: &SalesforceClient,
    shutdown: &Shutdown,
) -> Result<Option<Database>, CommandError> {
    let mut signal = shutdown.signal();
    let mut delay = Duration::from_secs(1);
    loop {
        let attempt = async {
            let token = salesforce
                .login()
                .await
                .map_err(crate::salesforce::SalesforceError::from)?;
            let binding = SessionBinding {
                schema: config.schema.clone(),
                org_id: token.identity.org_id.clone(),
            };
            let client = database.connect_unbound().await?;
            let bound = open_session(&client, &binding, false).await?;
            Ok::<_, CommandError>((binding, bound))
        };
        match attempt.await {
            Ok((binding, bound)) => {
                match bound.previous_org_id {
                    None => {
                        tracing::info!(org_id = %bound.org_id, "schema bound to this org (first contact)")
                    }
                    Some(_) => tracing::info!(org_id = %bound.org_id, "schema's org checked"),
                }
                return Ok(Some(database.with_session(binding)));
            }
            Err(CommandError::Database(error @ DbError::SessionRefused { .. })) => {
                tracing::error!(error = %error, "refusing to start");
                return Err(CommandError::Database(error));
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), retry_in_seconds = delay.as_secs(), "cannot open the schema's session yet");
            }
        }
        tokio::select! {
            _ = signal.triggered() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The version gate: `Ok(Some(version))` once a supported extension is installed, `Ok(None)` when
/// shutdown is requested first, the typed error for an unsupported version. An unreachable database
/// or a missing extension is waited for, as the workers wait for the database.
async fn wait_for_supported_extension(
    database: &Database,
    shutdown: &mut ShutdownSignal,
) -> Result<Option<String>, CommandError> {
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut attempt = 0;
    loop {
        let result = async {
            let client = database.connect().await?;
            catalog::require_supported_extension(&client).await
        }
        .await;
        match result {
            Ok(version) => return Ok(Some(version)),
            Err(error @ DbError::UnsupportedExtensionVersion { .. }) => {
                tracing::error!(error = %error, "refusing to run");
                return Err(error.into());
            }
            Err(error) => tracing::warn!(
                error = %error_chain(&error),
                "cannot check the sfsync extension version yet; retrying"
            ),
        }
        tokio::select! {
            _ = shutdown.triggered() => return Ok(None),
            _ = tokio::time::sleep(backoff.delay(attempt)) => {}
        }
        attempt = attempt.saturating_add(1);
    }
}

/// The workers' own metrics, registered in the process registry before the runtime starts.
struct WorkerMetrics {
    writer: WriterMetrics,
    reader: ReaderMetrics,
    housekeeping: HousekeepingMetrics,
    alerts: AlertMetrics,
}

impl WorkerMetrics {
    fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let registry = metrics.registry();
        Ok(Self {
            writer: WriterMetrics::register(registry)?,
            reader: ReaderMetrics::register(registry)?,
            housekeeping: HousekeepingMetrics::register(registry)?,
            alerts: AlertMetrics::register(registry)?,
        })
    }
}

/// The writer, reader, housekeeping and (when a webhook is configured) alert tasks are spawned here, each with a clone of `context`; their
/// own error types become `CommandError`s here, the only place that knows about both.
fn spawn_workers(
    context: &RunContext,
    metrics: WorkerMetrics,
    tasks: &mut JoinSet<TaskResult>,
) -> Result<(), CommandError> {
    let reader = ReaderSupervisor::from_runtime(context, metrics.reader);
    tasks.spawn(
        async move {
            reader.run().await;
            Ok(())
        }
        .in_current_span(),
    );
    let writer = writer::run(context.clone(), metrics.writer);
    tasks.spawn(async move { writer.await.map_err(CommandError::from) }.in_current_span());
    let housekeeping = housekeeping::run(context.clone(), metrics.housekeeping);
    tasks.spawn(
        async move {
            housekeeping.await;
            Ok(())
        }
        .in_current_span(),
    );
    if let Some(settings) = &context.config.alerts {
        let alerts = Alerts::new(context, settings, metrics.alerts)?;
        tasks.spawn(
            async move {
                alerts.run().await;
                Ok(())
            }
            .in_current_span(),
        );
        tracing::info!(
            lag_threshold_seconds = settings.lag_threshold.as_secs(),
            "alerts go to the configured webhook"
        );
    }
    Ok(())
}

/// Waits for shutdown; a task failing or ending early stops everything with an error.
async fn supervise(
    tasks: &mut JoinSet<TaskResult>,
    shutdown: &Shutdown,
) -> Result<(), CommandError> {
    let mut signal = shutdown.signal();
    loop {
        tokio::select! {
            _ = signal.triggered() => return Ok(()),
            joined = tasks.join_next(), if !tasks.is_empty() => {
                let failure = match joined {
                    Some(Ok(Ok(()))) if shutdown.signal().is_triggered() => return Ok(()),
                    Some(Ok(Ok(()))) => "a task stopped before shutdown".to_string(),
                    Some(Ok(Err(error))) => error_chain(&error),
                    Some(Err(join_error)) => join_error.to_string(),
                    None => continue,
                };
                tracing::error!(error = %failure, "stopping");
                return Err(CommandError::TaskFailed(failure));
            }
        }
    }
}

/// Gives tasks the grace period to stop, then aborts the rest.
async fn drain(tasks: &mut JoinSet<TaskResult>) {
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(error = %error_chain(&error), "task failed while stopping")
                }
                Err(join_error) => {
                    tracing::warn!(error = %join_error, "task panicked while stopping")
                }
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            "tasks did not stop within {}s; aborting them",
            SHUTDOWN_GRACE.as_secs()
        );
        tasks.abort_all();
    }
}
