//! The server's one error type and its RFC 9457 `application/problem+json`
//! form.
//!
//! Every failure a handler can meet becomes an [`ApiError`] of one
//! [`Problem`] kind, and every engine error is mapped to one here, in one
//! place: client mistakes get their kind and a detail naming the field;
//! problems of the server itself are logged with their cause and answered
//! 500 or 503 with a generic detail. Details never echo a value the client
//! sent, because values may be personal data (the engine's errors name
//! fields only).

use annal_engine::FieldError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::problem::{Problem, PROBLEM_TYPE_PREFIX};

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

impl IndexedError {
    /// The problem of the event at `index`.
    pub fn new(index: usize, fe: FieldError) -> IndexedError {
        IndexedError { index, detail: fe.to_string(), field: fe.field }
    }
}

/// A problem to answer with: its kind and what happened this time.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind, which fixes the status, slug and title.
    pub problem: Problem,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// The field concerned, if one.
    pub field: Option<String>,
    /// Per-event errors of a rejected batch.
    pub errors: Vec<IndexedError>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A problem without a field.
    pub fn new(problem: Problem, detail: impl Into<String>) -> ApiError {
        ApiError { problem, detail: detail.into(), field: None, errors: Vec::new(), retry_after: None }
    }

    /// A problem with one field, worded by the engine (which never echoes the value).
    pub fn from_field(problem: Problem, fe: FieldError) -> ApiError {
        ApiError::new(problem, fe.to_string()).field(fe.field)
    }

    /// Names the field concerned.
    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// 400 for a malformed parameter.
    pub fn bad_param(field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(Problem::InvalidParameter, detail).field(field)
    }

    /// 500 for a fault of the server: the cause is logged, the client gets
    /// a generic detail.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(cause = %cause, "internal error");
        ApiError::new(Problem::Internal, "internal error; the cause is in the server's log")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.problem.status()
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.problem.slug()),
            "title": self.problem.title(),
            "status": self.status().as_u16(),
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

/// What a client sees for each engine error. Every variant is named: a new
/// one does not compile here until someone decides whether it is the
/// client's to fix or the server's fault.
impl From<annal_engine::Error> for ApiError {
    fn from(e: annal_engine::Error) -> ApiError {
        use annal_engine::Error as E;
        match e {
            E::InvalidEvent(fe) => ApiError::from_field(Problem::InvalidEvent, fe),
            E::InvalidBatch(list) => {
                let mut err = ApiError::new(
                    Problem::InvalidBatch,
                    format!("{} event(s) rejected; nothing of the batch was stored", list.len()),
                );
                err.errors = list.into_iter().map(|(index, fe)| IndexedError::new(index, fe)).collect();
                err
            }
            E::EmptyBatch => ApiError::new(Problem::EmptyBatch, "the request holds no events"),
            E::BatchTooLarge { got, max } => {
                ApiError::new(Problem::BatchTooLarge, format!("{got} events in one request; the maximum is {max}"))
            }
            E::InvalidQuery(fe) => ApiError::from_field(Problem::InvalidQuery, fe),
            E::InvalidCursor(why) => ApiError::new(Problem::InvalidCursor, format!("invalid cursor: {why}")).field("cursor"),
            E::InvalidPolicy(fe) => ApiError::from_field(Problem::InvalidPolicy, fe),
            E::IdempotencyConflict { .. } => ApiError::new(Problem::IdempotencyConflict, e.to_string()).field("idempotency_key"),
            // The engine prepares again a few times before it gives up, so
            // this is a policy changed over and over while the request ran.
            E::PolicyChanged { .. } => ApiError::new(
                Problem::ConcurrentChange,
                "the tenant's redaction policy changed while the request was stored; nothing was stored, send it again",
            ),
            E::HeadMoved => ApiError::new(
                Problem::ConcurrentChange,
                "rows were appended to the tenant while the request was applied; nothing was done, send it again",
            ),
            E::InvalidApiKey => ApiError::new(Problem::Unauthorized, "invalid or revoked api key"),
            // Keys exist only for tenants with a chain and are deleted with
            // it: the tenant was deleted while this request ran, and its key
            // authenticates nothing any more.
            E::UnknownTenant => ApiError::new(Problem::Unauthorized, "invalid or revoked api key"),
            // A tenant key of a workspace whose deletion was scheduled
            // while this request ran: the key authenticates nothing now.
            E::TenantClosing => ApiError::new(Problem::Unauthorized, "invalid or revoked api key"),
            E::TenantExists => ApiError::new(Problem::TenantExists, "a tenant with this id exists").field("tenant"),
            E::NoPendingDeletion => ApiError::new(Problem::NoPendingDeletion, "the tenant has no scheduled deletion to cancel"),
            E::TooManyKeys { .. } => ApiError::new(Problem::TooManyKeys, e.to_string()),
            E::UnknownApiKey => ApiError::new(Problem::NotFound, "no api key with that id in this tenant").field("id"),
            E::InvalidApiKeyRequest(fe) => ApiError::from_field(Problem::InvalidKeyRequest, fe),
            E::InvalidRetention(fe) => ApiError::from_field(Problem::InvalidRetention, fe),
            E::NoHold => ApiError::new(Problem::NoLegalHold, "the tenant has no legal hold to release"),
            E::OnHold { .. } => ApiError::new(Problem::OnLegalHold, e.to_string()),
            E::Busy => {
                let mut busy = ApiError::new(Problem::Unavailable, "the store is busy; try again shortly");
                busy.retry_after = Some(1);
                busy
            }
            E::NoSpace(_) | E::Poisoned { no_space: true } => {
                tracing::error!(cause = %e, "the store's disk is full");
                ApiError::new(Problem::InsufficientStorage, "the store's disk is full; nothing of this request was stored")
            }
            E::InvalidEncryption(fe) => ApiError::from_field(Problem::InvalidBody, fe),
            E::NotEncrypted => ApiError::new(
                Problem::NotEncrypted,
                "the tenant is not encrypted at rest (a tenant is encrypted when it is created on a server with a keyring)",
            ),
            E::Keyring(_) => {
                // The cause names the keyring or command and the KEK: the
                // operator's to read, not the client's.
                tracing::error!(cause = %e, "a tenant's encryption key is unavailable");
                ApiError::new(
                    Problem::KeyUnavailable,
                    "the tenant's data is encrypted and its key cannot be had now (destroyed, revoked or unreachable)",
                )
            }
            E::Poisoned { no_space: false } | E::Closed => {
                tracing::error!(cause = %e, "engine unavailable");
                ApiError::new(Problem::Unavailable, "the store is not accepting requests")
            }
            // Faults of the store or of the server itself: no route takes a
            // tenant id, prepares for one tenant and appends to another,
            // sets a builder option or opens a store.
            E::Corrupt(_)
            | E::UnsupportedFormat { .. }
            | E::Storage(_)
            | E::Io(_)
            | E::InvalidTenant(_)
            | E::WrongTenant
            | E::InvalidOption { .. }
            | E::NoStore(_)
            | E::UpgradeNeedsBackup { .. }
            | E::NoSigningKey
            | E::SigningKeyMismatch { .. }
            | E::Backup(_) => ApiError::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut res = (self.status(), body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.problem == Problem::Unauthorized {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"annal\""));
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res.extensions_mut().insert(self.problem);
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use annal_engine::Error as E;

    use super::*;

    fn fe() -> FieldError {
        FieldError { field: "actor.id".into(), message: "is too long".into() }
    }

    /// Each engine error and the kind a client sees for it. A fault of the
    /// server answers with a generic detail: its cause is for the log only.
    #[test]
    fn every_engine_error_maps_to_its_problem_and_faults_keep_their_cause_to_the_log() {
        let secret = "cause-for-the-log-only";
        let cases = vec![
            (E::InvalidEvent(fe()), Problem::InvalidEvent),
            (E::InvalidBatch(vec![(2, fe())]), Problem::InvalidBatch),
            (E::EmptyBatch, Problem::EmptyBatch),
            (E::InvalidQuery(fe()), Problem::InvalidQuery),
            (E::InvalidCursor("short".into()), Problem::InvalidCursor),
            (E::InvalidPolicy(fe()), Problem::InvalidPolicy),
            (E::PolicyChanged { prepared: 1, current: 2 }, Problem::ConcurrentChange),
            (E::WrongTenant, Problem::Internal),
            (E::InvalidTenant(secret.into()), Problem::Internal),
            (E::UnknownTenant, Problem::Unauthorized),
            (E::IdempotencyConflict { index: 0, first_seq: Some(3) }, Problem::IdempotencyConflict),
            (E::BatchTooLarge { got: 11, max: 10 }, Problem::BatchTooLarge),
            (E::InvalidApiKey, Problem::Unauthorized),
            (E::UnknownApiKey, Problem::NotFound),
            (E::TooManyKeys { max: 100 }, Problem::TooManyKeys),
            (E::InvalidApiKeyRequest(fe()), Problem::InvalidKeyRequest),
            (E::Corrupt(secret.into()), Problem::Internal),
            (E::UnsupportedFormat { found: 9, supported: 3 }, Problem::Internal),
            (E::Poisoned { no_space: false }, Problem::Unavailable),
            (E::Poisoned { no_space: true }, Problem::InsufficientStorage),
            (E::NoSpace(secret.into()), Problem::InsufficientStorage),
            (E::Closed, Problem::Unavailable),
            (E::Busy, Problem::Unavailable),
            (E::InvalidRetention(fe()), Problem::InvalidRetention),
            (E::OnHold { since: "2026-01-01T00:00:00Z".into() }, Problem::OnLegalHold),
            (E::NoHold, Problem::NoLegalHold),
            (E::HeadMoved, Problem::ConcurrentChange),
            (E::TenantClosing, Problem::Unauthorized),
            (E::TenantExists, Problem::TenantExists),
            (E::NoPendingDeletion, Problem::NoPendingDeletion),
            (E::InvalidOption { option: "max_batch_events", message: secret.into() }, Problem::Internal),
            (E::NoStore(secret.into()), Problem::Internal),
            (E::Storage(secret.into()), Problem::Internal),
            (E::Backup(secret.into()), Problem::Internal),
            (E::Keyring(secret.into()), Problem::KeyUnavailable),
            (E::NotEncrypted, Problem::NotEncrypted),
            (E::InvalidEncryption(fe()), Problem::InvalidBody),
            (E::UpgradeNeedsBackup { found: 2, current: 3 }, Problem::Internal),
            (E::NoSigningKey, Problem::Internal),
            (E::SigningKeyMismatch { tenant: secret.into(), stored: "a".into(), given: "b".into() }, Problem::Internal),
            (E::Io(std::io::Error::other(secret)), Problem::Internal),
        ];
        for (e, want) in cases {
            let text = e.to_string();
            let got = ApiError::from(e);
            assert_eq!(got.problem, want, "{text}");
            assert!(!got.body().to_string().contains(secret), "{text}: {}", got.body());
        }
        let batch = ApiError::from(E::InvalidBatch(vec![(2, fe())]));
        assert_eq!(batch.errors, [IndexedError { index: 2, field: "actor.id".into(), detail: "actor.id: is too long".into() }]);
        assert_eq!(ApiError::from(E::InvalidQuery(fe())).field.as_deref(), Some("actor.id"));
    }

    #[test]
    fn the_body_takes_type_title_and_status_from_the_kind() {
        let body = ApiError::bad_param("limit", "must be a whole number").body();
        assert_eq!(body["type"], "urn:annal:problem:invalid-parameter");
        assert_eq!(body["title"], "Invalid parameter");
        assert_eq!(body["status"], 400);
        assert_eq!(body["field"], "limit");
    }
}
