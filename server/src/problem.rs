//! Every kind of problem the server answers with, in one table: its slug
//! (the end of the problem `type`), its HTTP status and its title.
//!
//! A handler names a [`Problem`], never a status or a slug of its own, so a
//! slug is spelled once and always goes with the same status and title.
//! docs/API.md lists the same table; a test below reads it and fails when
//! the two differ in either direction.

use axum::http::StatusCode;

/// Prefix of every problem `type`; the rest is the problem's slug.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:annal:problem:";

/// Defines [`Problem`] and its table from one list, so that a kind cannot
/// be added without its slug, status and title, nor left out of
/// [`Problem::ALL`].
macro_rules! problems {
    ($($(#[doc = $doc:literal])* $kind:ident => ($status:ident, $slug:literal, $title:literal),)*) => {
        /// A kind of problem: what went wrong, independent of the occurrence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Problem {
            $($(#[doc = $doc])* $kind,)*
        }

        impl Problem {
            /// Every kind, in the order of docs/API.md's table.
            pub const ALL: &'static [Problem] = &[$(Problem::$kind,)*];

            /// The short machine-readable name: the problem `type` is
            /// [`PROBLEM_TYPE_PREFIX`] followed by it.
            pub fn slug(self) -> &'static str {
                match self {
                    $(Problem::$kind => $slug,)*
                }
            }

            /// The HTTP status every occurrence is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Problem::$kind => StatusCode::$status,)*
                }
            }

            /// The problem+json `title`: the same for every occurrence (RFC
            /// 9457, 3.1.3); the `detail` says what happened this time.
            pub fn title(self) -> &'static str {
                match self {
                    $(Problem::$kind => $title,)*
                }
            }
        }
    };
}

problems! {
    /// An unknown, repeated or malformed query parameter or header.
    InvalidParameter => (BAD_REQUEST, "invalid-parameter", "Invalid parameter"),
    /// A filter or window the engine refuses.
    InvalidQuery => (BAD_REQUEST, "invalid-query", "Invalid query"),
    /// A cursor that is malformed or belongs to another query or tenant.
    InvalidCursor => (BAD_REQUEST, "invalid-cursor", "Invalid cursor"),
    /// The request body could not be read.
    UnreadableBody => (BAD_REQUEST, "unreadable-body", "Unreadable body"),
    /// No valid api key.
    Unauthorized => (UNAUTHORIZED, "unauthorized", "Unauthorized"),
    /// The key lacks the route's scope.
    InsufficientScope => (FORBIDDEN, "insufficient-scope", "Insufficient scope"),
    /// No such row, key, checkpoint or route.
    NotFound => (NOT_FOUND, "not-found", "Not found"),
    /// The route does not take the method.
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
    /// The body did not arrive in time.
    RequestTimeout => (REQUEST_TIMEOUT, "request-timeout", "Request timeout"),
    /// An idempotency key reused for a different event.
    IdempotencyConflict => (CONFLICT, "idempotency-conflict", "Idempotency key reused"),
    /// The tenant's chain or policy changed while the request was applied;
    /// nothing was done and sending it again is safe.
    ConcurrentChange => (CONFLICT, "concurrent-change", "Concurrent change"),
    /// A legal hold was to be released, but there is none.
    NoLegalHold => (CONFLICT, "no-legal-hold", "No legal hold"),
    /// A workspace was to be created that exists already.
    TenantExists => (CONFLICT, "tenant-exists", "Tenant exists"),
    /// `POST /v1/keys` when the tenant holds its most live keys.
    TooManyKeys => (CONFLICT, "too-many-keys", "Too many keys"),
    /// A workspace's deletion was to be cancelled, but none is scheduled.
    NoPendingDeletion => (CONFLICT, "no-pending-deletion", "No scheduled deletion"),
    /// A backup was asked for, but the server has no backup directory.
    BackupsNotConfigured => (CONFLICT, "backups-not-configured", "Backups not configured"),
    /// The tenant is under a legal hold, which forbids the change.
    OnLegalHold => (CONFLICT, "on-legal-hold", "Under legal hold"),
    /// The body is larger than the server takes.
    BodyTooLarge => (PAYLOAD_TOO_LARGE, "body-too-large", "Body too large"),
    /// More events in one request than the server takes.
    BatchTooLarge => (PAYLOAD_TOO_LARGE, "batch-too-large", "Batch too large"),
    /// A body in a media type the route does not take.
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type"),
    /// A JSON body that does not parse.
    MalformedJson => (UNPROCESSABLE_ENTITY, "malformed-json", "Malformed JSON"),
    /// A JSON body of the wrong shape: a field missing, unknown or of the wrong type.
    InvalidBody => (UNPROCESSABLE_ENTITY, "invalid-body", "Invalid body"),
    /// An event refused as a whole (its `idempotency_key` differs from the
    /// `Idempotency-Key` header).
    InvalidEvent => (UNPROCESSABLE_ENTITY, "invalid-event", "Invalid event"),
    /// Events of a request fail validation, one or many; `errors` lists each.
    InvalidBatch => (UNPROCESSABLE_ENTITY, "invalid-batch", "Invalid batch"),
    /// A request with no events.
    EmptyBatch => (UNPROCESSABLE_ENTITY, "empty-batch", "Empty batch"),
    /// A redaction policy that cannot be used.
    InvalidPolicy => (UNPROCESSABLE_ENTITY, "invalid-policy", "Invalid redaction policy"),
    /// A key that cannot be created as asked.
    InvalidKeyRequest => (UNPROCESSABLE_ENTITY, "invalid-key-request", "Invalid key request"),
    /// A retention setting or legal hold out of range.
    InvalidRetention => (UNPROCESSABLE_ENTITY, "invalid-retention", "Invalid retention setting"),
    /// The key's or the tenant's token bucket is empty (requests a second).
    RateLimited => (TOO_MANY_REQUESTS, "rate-limited", "Rate limited"),
    /// The key's or the tenant's requests of this UTC minute or month are
    /// used up; `Retry-After` says when the window turns.
    QuotaExceeded => (TOO_MANY_REQUESTS, "quota-exceeded", "Quota exceeded"),
    /// The tenant (or the server) already runs as many exports or
    /// verifications at once as it may; with `Retry-After`.
    ConcurrencyLimited => (TOO_MANY_REQUESTS, "concurrency-limited", "Too many at once"),
    /// A fault of the server; the cause is in its log.
    Internal => (INTERNAL_SERVER_ERROR, "internal", "Internal error"),
    /// The store accepts no requests (after a failed write, or closing).
    Unavailable => (SERVICE_UNAVAILABLE, "unavailable", "Unavailable"),
    /// The disk holding the store is full: nothing of the request was
    /// stored, and the server takes no writes until it is restarted with
    /// space freed (docs/OPERATIONS.md, "When a write fails").
    InsufficientStorage => (INSUFFICIENT_STORAGE, "insufficient-storage", "Insufficient storage"),
    /// The server is shutting down.
    Draining => (SERVICE_UNAVAILABLE, "draining", "Shutting down"),
    /// An encryption setting for a tenant that is not encrypted at rest.
    NotEncrypted => (CONFLICT, "not-encrypted", "Not encrypted"),
    /// The tenant's data is encrypted and its key cannot be had: the KEK
    /// was destroyed or revoked, or the key provider does not answer. The
    /// cause is in the server's log; the chain still verifies.
    KeyUnavailable => (SERVICE_UNAVAILABLE, "key-unavailable", "Encryption key unavailable"),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The rows of docs/API.md's problem-type table: slug → (status, title).
    fn documented() -> BTreeMap<String, (u16, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md");
        let text = std::fs::read_to_string(path).unwrap();
        let table = text.split("## Errors").nth(1).expect("API.md has an `## Errors` section");
        let mut rows = BTreeMap::new();
        for line in table.lines().skip_while(|l| !l.starts_with("| status")).skip(2) {
            if !line.starts_with('|') {
                break;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, status, slug, title, when, _] = cells[..] else { panic!("not a row of four cells: {line}") };
            let slug =
                slug.strip_prefix('`').and_then(|s| s.strip_suffix('`')).unwrap_or_else(|| panic!("one slug a row: {line}"));
            assert!(!when.is_empty(), "{slug}: say when");
            let previous = rows.insert(slug.to_string(), (status.parse().unwrap(), title.to_string()));
            assert!(previous.is_none(), "{slug} is documented twice");
        }
        rows
    }

    #[test]
    fn every_problem_kind_is_documented_in_api_md_and_nothing_else_is() {
        let doc = documented();
        for p in Problem::ALL {
            let (status, title) = doc.get(p.slug()).unwrap_or_else(|| panic!("{} is not in docs/API.md", p.slug()));
            assert_eq!(*status, p.status().as_u16(), "{}: status", p.slug());
            assert_eq!(title, p.title(), "{}: title", p.slug());
        }
        for slug in doc.keys() {
            assert!(
                Problem::ALL.iter().any(|p| p.slug() == slug),
                "docs/API.md documents {slug}, which the server does not have"
            );
        }
    }

    #[test]
    fn slugs_are_unique_and_statuses_are_errors() {
        for (i, p) in Problem::ALL.iter().enumerate() {
            assert!(Problem::ALL[i + 1..].iter().all(|q| q.slug() != p.slug()), "{} twice", p.slug());
            assert!(p.status().is_client_error() || p.status().is_server_error(), "{}", p.slug());
        }
    }
}
