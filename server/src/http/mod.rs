//! The HTTP API: [`app`] builds the router, one module per group of routes.
//!
//! Routes are versioned under `/v1`; docs/API.md describes each with a curl
//! example and `GET /openapi.json` serves the same in OpenAPI 3.1. Handlers
//! do engine work that may block in `reply::blocking` (`block_in_place` on
//! the server's runtime) and stream exports from tokio's blocking pool: a
//! query or export reads RocksDB, a large append parses and prepares for
//! milliseconds, and neither may stall the threads that drive connections.
//! No handler waits for an fsync on a thread: the engine calls back.

mod checkpoints;
mod console;
mod download;
mod encryption;
mod events;
mod export;
mod health;
mod input;
mod keys;
pub mod openapi;
mod platform;
mod redaction;
mod reply;
mod retention;
pub mod routes;
mod summary;
mod verify;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::auth::QuotaSlot;
use crate::error::ApiError;
use crate::problem::Problem;
use crate::state::AppState;

pub use console::content_security_policy;
pub use download::Hangup;

/// The CSV export's header row.
pub fn export_columns() -> Vec<String> {
    export::CSV_COLUMNS.iter().map(|c| c.to_string()).collect()
}

/// The whole API over `state`. Tests call it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    // Routes of one path merge into one method router; a method given
    // twice for a path panics here, at start.
    let routes = routes::ROUTES.iter().fold(Router::new(), |router, r| router.route(r.path, r.method_router()));
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(Problem::NotFound, "no such route; GET /openapi.json lists them")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(Problem::MethodNotAllowed, "this route does not take that method")
}

/// Logs each request (method, route pattern, status, time; never the query
/// string, headers or body, which may hold personal data or tokens), counts
/// responses and rejects, and writes the key's quota standing into the
/// `RateLimit-*` headers. A request answered with success is logged
/// at `debug`, any other at `info`: at thousands of appends a second, a
/// line per success is most of what the server writes and costs more than
/// the request's own work, while the metrics count every one of them.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let slot = QuotaSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    if let Some(s) = *slot.0.lock() {
        let h = res.headers_mut();
        for (name, v) in [("ratelimit-limit", s.limit), ("ratelimit-remaining", s.remaining), ("ratelimit-reset", s.reset_secs)] {
            h.insert(name, HeaderValue::from(v));
        }
    }
    let problem = res.extensions().get::<Problem>().map(|p| p.slug());
    state.metrics.record_response(res.status().as_u16(), problem);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if res.status().is_success() {
        tracing::debug!(%method, route, status = res.status().as_u16(), ms, "request");
    } else {
        tracing::info!(%method, route, status = res.status().as_u16(), problem, ms, "request");
    }
    res
}
