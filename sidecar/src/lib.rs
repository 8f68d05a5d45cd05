//! sfsync-sidecar: the process that does all the talking to Salesforce for the sfsync extension.
//! This library holds everything the binary and the writer/reader tasks are built from.

pub mod alerts;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod housekeeping;
pub mod http;
pub mod metrics;
pub mod reader;
pub mod runtime;
pub mod salesforce;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod writer;

/// An error and all its sources on one line: `outer: inner: innermost`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their source's message; print each piece once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
