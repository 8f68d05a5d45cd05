//! Jittered exponential backoff for callers retrying transient failures.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::error::SalesforceError;

/// Delays grow `base * 2^attempt` up to `max`; each delay is drawn uniformly from
/// `[delay/2, delay]` ("equal jitter") so replicas retrying together spread out.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The upper bound of the delay before retry number `attempt` (0 = first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(30));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A jittered delay before retry number `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = ceiling.saturating_sub(half).as_micros() as u64;
        half + Duration::from_micros(rand::rng().random_range(0..=spread))
    }

    /// Runs `operation` until it succeeds, fails permanently, or `max_attempts` runs have failed.
    /// Transient errors wait a jittered delay; anything else (including limit errors, whose
    /// `retry_after` is for the caller to honour) is returned at once.
    pub async fn retry<T, F, Fut>(
        &self,
        max_attempts: u32,
        mut operation: F,
    ) -> Result<T, SalesforceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SalesforceError>>,
    {
        let mut attempt = 0;
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(error) if attempt + 1 < max_attempts.max(1) && error.is_transient() => {
                    let delay = self.delay(attempt);
                    tracing::debug!(error = %crate::error_chain(&error), ?delay, attempt, "transient Salesforce error; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(10), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(2));
        for attempt in 0..12 {
            let delay = backoff.delay(attempt);
            let ceiling = backoff.ceiling(attempt);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
        }
    }

    #[tokio::test]
    async fn retry_stops_on_permanent_errors_and_retries_transient_ones() {
        let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(5));
        let calls = AtomicU32::new(0);
        let result = backoff
            .retry(5, || async {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                if call < 2 {
                    Err(SalesforceError::Api {
                        operation: "test",
                        status: 503,
                        errors: vec![],
                    })
                } else {
                    Ok(call)
                }
            })
            .await
            .expect("third call succeeds");
        assert_eq!(result, 2);

        calls.store(0, Ordering::SeqCst);
        let error = backoff
            .retry(5, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(SalesforceError::Api {
                    operation: "test",
                    status: 400,
                    errors: vec![],
                })
            })
            .await
            .expect_err("permanent");
        assert_eq!(error.status(), Some(400));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
