//! The subcommands and their shared error type (exit codes: 0 ok, 1 runtime failure, 2 configuration).

pub mod check;
pub mod credentials;
pub mod rebind;
pub mod run;
pub mod status;

use thiserror::Error;

use crate::cli::Command;
use crate::config::{Config, ConfigError};
use crate::db::DbError;
use crate::metrics::server::ServerError;
use crate::salesforce::{ClientBuildError, SalesforceError};
use crate::writer::WriterError;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error("configuration error")]
    Config(#[from] ConfigError),
    #[error("database")]
    Database(#[from] DbError),
    #[error("salesforce")]
    Salesforce(#[from] SalesforceError),
    #[error("cannot set up the Salesforce client")]
    ClientBuild(#[from] ClientBuildError),
    #[error("cannot set up metrics")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("writer")]
    Writer(#[from] WriterError),
    #[error("alerts")]
    Alerts(#[from] crate::alerts::AlertsError),
    #[error("cannot install the SIGTERM/SIGINT handlers")]
    Signals(#[source] std::io::Error),
    #[error("{0}")]
    ChecksFailed(String),
    #[error("a task ended unexpectedly: {0}")]
    TaskFailed(String),
}

impl CommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) => EXIT_CONFIG,
            _ => EXIT_FAILURE,
        }
    }
}

/// Runs one subcommand to completion.
pub async fn execute(command: Command, config: Config) -> Result<(), CommandError> {
    match command {
        Command::Run => run::run(config).await,
        Command::Check => check::check(config).await,
        Command::Status => status::status(config).await,
        Command::Rebind => rebind::rebind(config).await,
    }
}
