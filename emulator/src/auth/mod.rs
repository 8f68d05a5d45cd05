//! OAuth 2.0: the token endpoint, access/refresh token bookkeeping, JWT bearer verification, and the identity
//! URL and UserInfo endpoints.
pub mod identity;
pub mod jwt;
pub mod oauth;
pub mod sessions;
