//! What the benchmark binaries (`src/bin/bench_*.rs`) share: their environment knobs, a sidecar's
//! environment for a database, and waiting for a mapping's state.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::{Emulator, TestDb};

/// A number from the environment (`1_000_000` and `1000000` alike), or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0..1) of sorted samples (NaN without samples).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The emulator's sidecar environment for `db`, with `extra` settings.
pub fn sidecar_env(
    emulator: &Emulator,
    db: &TestDb,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = emulator.sidecar_env();
    env.push(("DATABASE_URL".into(), db.sidecar_url()));
    for (key, value) in extra {
        env.push((key.to_string(), value.to_string()));
    }
    env
}

/// A mapping's state and detail.
pub async fn state(client: &Client, object: &str) -> (String, Option<String>) {
    let row = client
        .query_one(
            "SELECT state, state_detail FROM sfsync.mapping WHERE object_name = $1",
            &[&object],
        )
        .await
        .expect("mapping");
    (row.get(0), row.get(1))
}

/// Waits until the mapping of `object` shows `wanted` (panics on ERROR or after `timeout`); returns
/// when it did.
pub async fn wait_state(client: &Client, object: &str, wanted: &str, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        let (current, detail) = state(client, object).await;
        if current == wanted {
            return Instant::now();
        }
        assert!(current != "ERROR", "{object} failed: {detail:?}");
        assert!(
            Instant::now() < deadline,
            "{object} never reached {wanted} (state {current}, {detail:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
