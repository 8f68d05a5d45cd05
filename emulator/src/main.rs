//! `sfsync-emulator`: a local Salesforce org for sfsync's tests, demos and offline development.

use std::process::ExitCode;

use clap::Parser;
use sfsync_emulator::config::Config;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sfsync-emulator: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(sfsync_emulator::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("sfsync-emulator: {message}");
            ExitCode::from(1)
        }
    }
}
