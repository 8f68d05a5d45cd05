//! Streaming API over CometD/Bayeux long polling (Streaming API and Change Data Capture Developer Guides): Change Data Capture events delivered
//! through a channel, with replay ids, re-handshakes and re-authentication handled inside.

mod client;
mod cookies;
pub mod messages;

pub use client::{ReplayFrom, StreamingClient, StreamingError, StreamingOptions, Subscription};
pub use messages::{ChangeEventHeader, ChangeType, StreamEvent};
