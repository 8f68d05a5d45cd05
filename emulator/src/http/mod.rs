//! The HTTP layer's shared pieces: errors, request context, body parsing and middleware.
pub mod body;
pub mod context;
pub mod error;
pub mod middleware;
