//! `GET /healthz` (the process answers), `GET /readyz` (it takes requests)
//! and `GET /metrics` (Prometheus text). None needs a key: they say nothing
//! about any tenant.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::problem::Problem;
use crate::state::AppState;

pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// 503 once shutdown has begun, so balancers drain the instance first,
/// and once a write to the store has failed (the engine takes no appends
/// until `annal serve` is restarted; docs/OPERATIONS.md, "When a write
/// fails").
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if let Some(e) = state.engine.poisoned() {
        let detail = match e {
            annal_engine::Error::Poisoned { no_space: true } => "a write failed: the store's disk is full",
            _ => "a write to the store failed",
        };
        return ApiError::new(Problem::Unavailable, detail).into_response();
    }
    if state.draining.load(Ordering::SeqCst) {
        return ApiError::new(Problem::Draining, "shutting down").into_response();
    }
    "ready\n".into_response()
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
