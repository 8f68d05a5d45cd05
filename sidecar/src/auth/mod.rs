//! OAuth 2.0 against Salesforce: the four login flows and the shared, self-renewing session.

mod error;
pub mod jwt;
mod login;
mod session;
pub mod store;
pub mod token_response;

pub use error::AuthError;
pub use login::Authenticator;
pub use session::{AccessToken, Identity, Session};
pub use store::{RefreshTokenStore, StoreError, StoreFuture};
pub use token_response::SalesforceTokenResponse;
