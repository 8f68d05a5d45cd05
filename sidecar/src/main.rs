//! sfsync-sidecar: parses the command line, loads the configuration and sets up logging before the
//! tokio runtime exists, then runs the chosen subcommand. Exit codes: 0 ok, 1 failure, 2 configuration.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use sfsync_sidecar::cli::Cli;
use sfsync_sidecar::commands::{self, EXIT_CONFIG, EXIT_FAILURE};
use sfsync_sidecar::config::{Config, LogFormat};
use sfsync_sidecar::{error_chain, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            report(&format!("configuration error: {}", error_chain(&error)));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init(
        cli.log_format
            .or(config.log_format)
            .unwrap_or(LogFormat::Text),
    );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sfsync-sidecar")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&format!("cannot start the async runtime: {error}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(commands::execute(cli.command, config));
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error_chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

/// One line on stderr; a closed stderr must not turn a clean failure into a panic.
fn report(message: &str) {
    let _ = writeln!(std::io::stderr(), "sfsync-sidecar: {message}");
}
