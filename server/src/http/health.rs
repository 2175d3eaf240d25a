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

/// 503 once shutdown has begun, so balancers drain the instance first.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        return ApiError::new(Problem::Draining, "shutting down").into_response();
    }
    "ready\n".into_response()
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
