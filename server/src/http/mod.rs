//! The HTTP API: [`app`] builds the router, one module per group of routes.
//!
//! Routes are versioned under `/v1`; docs/API.md describes each with a curl
//! example and `GET /openapi.json` serves the same in OpenAPI 3.1. Handlers
//! do their engine work on tokio's blocking pool (`spawn_blocking`): an
//! append waits for the group commit's fsync, a query or export reads
//! RocksDB, and neither may stall the threads that drive connections.

mod checkpoints;
mod events;
mod export;
mod health;
mod keys;
pub mod openapi;
mod redaction;
mod retention;
mod verify;

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::problem::Problem;
use crate::state::AppState;

/// The CSV export's header row.
pub fn export_columns() -> Vec<String> {
    export::CSV_COLUMNS.iter().map(|c| c.to_string()).collect()
}

/// The whole API over `state`. Tests call it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(events::append).get(events::list))
        .route("/v1/events/{seq}", get(events::get_one))
        .route("/v1/export", get(export::export))
        .route("/v1/verify", get(verify::verify))
        .route("/v1/checkpoints", get(checkpoints::list).post(checkpoints::make))
        .route("/v1/checkpoints/latest", get(checkpoints::latest))
        .route("/v1/checkpoints/public-key", get(checkpoints::public_key))
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/redaction", get(redaction::get_policy).put(redaction::put_policy))
        .route("/v1/retention", get(retention::get_retention).put(retention::put_retention))
        .route("/v1/legal-hold", axum::routing::put(retention::put_hold).delete(retention::delete_hold))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve))
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
/// string, headers or body, which may hold personal data or tokens) and
/// counts responses and rejects.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    let problem = res.extensions().get::<Problem>().map(|p| p.slug());
    state.metrics.record_response(res.status().as_u16(), problem);
    tracing::info!(%method, route, status = res.status().as_u16(), problem, ms = start.elapsed().as_secs_f64() * 1e3, "request");
    res
}

/// Reads a request body of at most `max_body_bytes`, within the request
/// timeout: 413 when it is larger, 408 when the client is too slow.
pub(crate) async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let read = axum::body::to_bytes(body, limit);
    match tokio::time::timeout(state.config.request_timeout(), read).await {
        Err(_) => Err(ApiError::new(Problem::RequestTimeout, "the request body did not arrive in time")),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>() || s.to_string().contains("length limit"));
            if too_large {
                Err(ApiError::new(Problem::BodyTooLarge, format!("the request body exceeds {limit} bytes")))
            } else {
                Err(ApiError::new(Problem::UnreadableBody, "the request body could not be read"))
            }
        }
    }
}

/// Query parameters as given, each name at most once.
pub(crate) fn params(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(raw) = raw else { return Ok(out) };
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(raw)?;
    for (k, v) in pairs {
        if out.iter().any(|(n, _)| *n == k) {
            return Err(ApiError::bad_param(&k, "given more than once"));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn serde_urlencoded_pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}").parse().map_err(|_| ApiError::new(Problem::InvalidParameter, "the query string is malformed"))?,
    )
    .map(|q| q.0)
    .map_err(|_| ApiError::new(Problem::InvalidParameter, "the query string is malformed"))
}

/// Runs engine work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))?
}

/// 200 with a JSON body.
pub(crate) fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}
