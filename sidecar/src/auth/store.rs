//! Where a rotated refresh token outlives the process. With Refresh Token Rotation each refresh
//! returns a new refresh token and retires the one presented, so a token kept only in memory is lost
//! on restart, and the configured one no longer works. The login asks a [`RefreshTokenStore`] (the
//! database, wired in by the commands) before presenting the configured token, and saves every new
//! token there before using it. Tokens are keyed by the SHA-256 of the configured token, so a newly
//! configured token is never overridden by one rotated from an older one.

use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Why the store failed, as the store's own error (a database error, for the real one).
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// What the store's calls return: boxed, so the trait stays object safe without a macro crate.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps the latest rotated refresh token of this sidecar.
pub trait RefreshTokenStore: Send + Sync {
    /// The token saved as the successor of the configured token whose SHA-256 (hex) is
    /// `configured_sha256`, if any.
    fn load<'a>(&'a self, configured_sha256: &'a str) -> StoreFuture<'a, Option<Secret<String>>>;

    /// Saves `token` as the successor of the configured token (`configured_sha256`, also for a
    /// token rotated from an earlier rotated one). `org_id` is the org of the login that returned it.
    fn save<'a>(
        &'a self,
        org_id: &'a str,
        configured_sha256: &'a str,
        token: &'a Secret<String>,
    ) -> StoreFuture<'a, ()>;
}

/// SHA-256 of `text`, lower-case hex: how the store names a configured token without holding it.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
