//! Load progress: a progress bar when stderr is a terminal, a log line every few seconds otherwise,
//! and `_set_progress` so `sfsync.status()` can show it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::Client;

use super::error::ReaderError;
use super::protocol;

const LOG_EVERY: Duration = Duration::from_secs(5);
/// `_set_progress` at most this often (it writes the mapping row).
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Progress of one load.
pub struct Progress {
    mapping: i64,
    label: String,
    expected: u64,
    done: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_log: Instant,
    last_record: Option<Instant>,
}

impl Progress {
    pub fn start(mapping: i64, label: String, expected: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(expected);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.clone());
            bar
        });
        Self {
            mapping,
            label,
            expected,
            done: 0,
            started: Instant::now(),
            bar,
            last_log: Instant::now(),
            last_record: None,
        }
    }

    /// Adds `records`; reports to the terminal/log and, now and then, to the database.
    pub async fn advance(&mut self, client: &Client, records: u64) -> Result<(), ReaderError> {
        self.done += records;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        } else if self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            tracing::info!(
                "{}: {} of {} records read ({:.0}/s)",
                self.label,
                self.done,
                self.expected,
                self.rate()
            );
        }
        if self
            .last_record
            .is_none_or(|at| at.elapsed() >= RECORD_EVERY)
        {
            self.last_record = Some(Instant::now());
            protocol::set_progress(client, self.mapping, clamp(self.expected), clamp(self.done))
                .await?;
        }
        Ok(())
    }

    /// Records read per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    /// Final report (the database gets the final count).
    pub async fn finish(self, client: &Client) -> Result<(), ReaderError> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        protocol::set_progress(client, self.mapping, clamp(self.done), clamp(self.done)).await
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
