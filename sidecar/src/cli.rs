//! The command line: `sfsync-sidecar [--config FILE] [--log-format text|json] <run|check|status>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "sfsync-sidecar",
    version,
    about = "sfsync's worker: syncs Salesforce and Postgres"
)]
pub struct Cli {
    /// TOML configuration file; environment variables override its values.
    #[arg(long, global = true, value_name = "FILE", env = "SFSYNC_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format (also SFSYNC_LOG_FORMAT or `log_format` in the file).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker until SIGTERM/SIGINT.
    Run,
    /// Check the configuration, the database and the Salesforce login; non-zero exit on any problem.
    Check,
    /// Print the extension version and the Salesforce API usage.
    Status,
    /// Bind the schema to the org this sidecar logs in to, replacing the org it was bound to (after a
    /// sandbox refresh, or when the schema moves to another org on purpose).
    Rebind,
}
