//! The server's one error type and its RFC 9457 `application/problem+json`
//! form.
//!
//! Every failure a handler can meet becomes an [`ApiError`] here, in one
//! place: client mistakes get their status (400, 401, 403, 404, 409, 413,
//! 415, 422, 429) and a detail naming the field; problems of the server
//! itself are logged with their cause and answered 500 or 503 with a
//! generic detail. Details never echo a value the client sent, because
//! values may be personal data (the engine's errors name fields only).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Prefix of every problem `type`; the rest is the problem's slug, which
/// docs/API.md lists.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:annal:problem:";

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One rejected event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedError {
    /// Position of the event in the request (from 0).
    pub index: usize,
    /// Dotted path of the field, `""` for the event as a whole.
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

/// A problem to answer with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable name (`invalid-event`, `rate-limited`, …).
    pub slug: &'static str,
    /// Human-readable explanation.
    pub detail: String,
    /// The field concerned, if one.
    pub field: Option<String>,
    /// Per-event errors of a rejected batch.
    pub errors: Vec<IndexedError>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

/// Marks a response as a problem, for the metrics layer's reject counts.
#[derive(Debug, Clone, Copy)]
pub struct ProblemSlug(pub &'static str);

impl ApiError {
    /// A problem without a field.
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, slug, detail: detail.into(), field: None, errors: Vec::new(), retry_after: None }
    }

    /// Names the field concerned.
    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// 400 for a malformed parameter.
    pub fn bad_param(field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-parameter", detail).field(field)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 500 or 503 for a fault of the server: the cause is logged, the client
    /// gets a generic detail.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(cause = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; the cause is in the server's log")
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.slug),
            "title": self.title(),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(f) = &self.field {
            v["field"] = Value::from(f.as_str());
        }
        if !self.errors.is_empty() {
            v["errors"] = self
                .errors
                .iter()
                .map(|e| json!({"index": e.index, "field": e.field, "detail": e.detail}))
                .collect::<Vec<_>>()
                .into();
        }
        v
    }
}

impl From<annal_engine::Error> for ApiError {
    fn from(e: annal_engine::Error) -> ApiError {
        use annal_engine::Error as E;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match e {
            E::InvalidEvent(fe) => ApiError::new(unprocessable, "invalid-event", fe.to_string()).field(fe.field),
            E::InvalidBatch(list) => {
                let mut err = ApiError::new(
                    unprocessable,
                    "invalid-batch",
                    format!("{} event(s) rejected; nothing of the batch was stored", list.len()),
                );
                err.errors =
                    list.into_iter().map(|(index, fe)| IndexedError { index, detail: fe.to_string(), field: fe.field }).collect();
                err
            }
            E::EmptyBatch => ApiError::new(unprocessable, "empty-batch", "the request holds no events"),
            E::BatchTooLarge { got, max } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch-too-large",
                format!("{got} events in one request; the maximum is {max}"),
            ),
            E::InvalidQuery(fe) => ApiError::new(StatusCode::BAD_REQUEST, "invalid-query", fe.to_string()).field(fe.field),
            E::InvalidCursor(why) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-cursor", format!("invalid cursor: {why}")).field("cursor")
            }
            E::InvalidPolicy(fe) => ApiError::new(unprocessable, "invalid-policy", fe.to_string()).field(fe.field),
            E::IdempotencyConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "idempotency-conflict", e.to_string()).field("idempotency_key")
            }
            E::InvalidApiKey => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "invalid or revoked api key"),
            E::UnknownApiKey => ApiError::not_found("no api key with that id in this tenant").field("id"),
            E::InvalidApiKeyRequest(fe) => ApiError::new(unprocessable, "invalid-key-request", fe.to_string()).field(fe.field),
            E::InvalidRetention(fe) => ApiError::new(unprocessable, "invalid-retention", fe.to_string()).field(fe.field),
            E::NoHold => ApiError::new(StatusCode::CONFLICT, "no-legal-hold", "the tenant has no legal hold to release"),
            E::OnHold { .. } => ApiError::new(StatusCode::CONFLICT, "on-legal-hold", e.to_string()),
            E::Poisoned | E::Closed => {
                tracing::error!(cause = %e, "engine unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the store is not accepting requests")
            }
            // Also `UnknownTenant`: a key exists only for a tenant with a
            // chain, so a key's tenant without one is the store's fault.
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"annal\""));
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res.extensions_mut().insert(ProblemSlug(self.slug));
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
