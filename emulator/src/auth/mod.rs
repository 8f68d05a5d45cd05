//! OAuth 2.0: the token endpoint, access/refresh token bookkeeping and JWT bearer verification.
pub mod jwt;
pub mod oauth;
pub mod sessions;
