//! Samples the queue for the writer's gauges (depth, in flight, oldest pending age per object) every
//! few seconds: one grouped query, independent of how busy the writer is.

use std::sync::Arc;
use std::time::Duration;

use super::metrics::WriterMetrics;
use crate::db::queue::queue_depth;
use crate::db::ClientPool;
use crate::shutdown::ShutdownSignal;

const SAMPLE_EVERY: Duration = Duration::from_secs(5);

pub async fn run(pool: Arc<ClientPool>, metrics: WriterMetrics, mut shutdown: ShutdownSignal) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let sampled = async {
            let client = pool.get().await?;
            queue_depth(&client).await
        }
        .await;
        match sampled {
            Ok(depths) => {
                for depth in depths {
                    let object = [depth.object.as_str()];
                    metrics
                        .queue_depth
                        .with_label_values(&object)
                        .set(depth.queued);
                    metrics
                        .in_flight
                        .with_label_values(&object)
                        .set(depth.in_flight);
                    metrics
                        .oldest_pending_age
                        .with_label_values(&object)
                        .set(depth.oldest_age_seconds);
                }
            }
            Err(error) => {
                tracing::debug!(error = %crate::error_chain(&error), "cannot sample the queue depth")
            }
        }
    }
}
