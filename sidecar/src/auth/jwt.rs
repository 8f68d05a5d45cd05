//! The JWT bearer assertion (RS256) for the server-to-server flow.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// Salesforce accepts assertions that expire "within 3 minutes".
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(180);

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AssertionClaims {
    /// The connected app's consumer key.
    pub iss: String,
    /// The user to log in as.
    pub sub: String,
    /// The login URL (or `SFSYNC_JWT_AUDIENCE`).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// Signs an assertion valid for [`ASSERTION_LIFETIME`] from `now`.
pub fn sign_assertion(
    client_id: &str,
    username: &str,
    audience: &str,
    key: &EncodingKey,
    now: SystemTime,
) -> Result<String, jsonwebtoken::errors::Error> {
    let expires = now
        .checked_add(ASSERTION_LIFETIME)
        .and_then(|expiry| expiry.duration_since(UNIX_EPOCH).ok())
        .map(|since_epoch| since_epoch.as_secs())
        .unwrap_or(0);
    let claims = AssertionClaims {
        iss: client_id.to_string(),
        sub: username.to_string(),
        aud: audience.to_string(),
        exp: expires,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const PRIVATE_KEY: &[u8] = include_bytes!("../../tests/fixtures/jwt-test-key.pem");
    const PUBLIC_KEY: &[u8] = include_bytes!("../../tests/fixtures/jwt-test-public.pem");

    #[test]
    fn assertion_carries_the_documented_claims_and_verifies() {
        let key = EncodingKey::from_rsa_pem(PRIVATE_KEY).expect("test key");
        let now = SystemTime::now();
        let token = sign_assertion(
            "3MVG9-client",
            "integration@example.com",
            "https://login.salesforce.com",
            &key,
            now,
        )
        .expect("signs");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://login.salesforce.com"]);
        let decoded = jsonwebtoken::decode::<AssertionClaims>(
            &token,
            &DecodingKey::from_rsa_pem(PUBLIC_KEY).expect("public key"),
            &validation,
        )
        .expect("verifies");
        assert_eq!(decoded.header.alg, Algorithm::RS256);
        assert_eq!(decoded.claims.iss, "3MVG9-client");
        assert_eq!(decoded.claims.sub, "integration@example.com");
        let now_seconds = now
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_secs();
        assert_eq!(decoded.claims.exp, now_seconds + 180);
    }
}
