//! SOQL over the org store: the adapter that lets the engine in [`crate::soql`] read the store
//! ([`catalog`], [`source`]), and the `query`/`queryAll` endpoints with `nextRecordsUrl` paging
//! ([`handlers`], [`pages`], [`locators`]).
pub mod catalog;
pub mod columns;
pub mod handlers;
pub mod locators;
pub mod pages;
pub mod source;
pub mod tooling;

use axum::routing::get;
use axum::Router;

use crate::app::SharedState;

/// The query routes (authenticated and counted by the `/services/data` middleware like every API call).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/services/data/{version}/query", get(handlers::query))
        .route(
            "/services/data/{version}/queryAll",
            get(handlers::query_all),
        )
        .route(
            "/services/data/{version}/query/{locator}",
            get(handlers::more),
        )
        .route(
            "/services/data/{version}/queryAll/{locator}",
            get(handlers::more),
        )
        .route(
            "/services/data/{version}/tooling/query",
            get(tooling::query),
        )
}
