//! `GET /openapi.json`: the API as an OpenAPI 3.1 document, built from the
//! route table [`ROUTES`] below, which lists every route with its
//! parameters, body and answers. A test walks the table against the router,
//! so a route cannot be served without being described or described
//! without being served.

use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// One parameter of a route.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// `query`, `path` or `header`.
    pub place: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// HTTP method, lowercase.
    pub method: &'static str,
    /// Path, with `{name}` for path parameters.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Scope the key needs; `None` for routes without authentication.
    pub scope: Option<&'static str>,
    /// Parameters.
    pub params: &'static [Param],
    /// Media types of the request body, if it has one.
    pub body: &'static [&'static str],
    /// Success status and its media type.
    pub ok: (u16, &'static str),
    /// Schema (in `components.schemas`) of the JSON request body, if any.
    pub request: Option<&'static str>,
    /// Schema of the success body, if JSON.
    pub response: Option<&'static str>,
    /// Error statuses it can answer with (problem+json).
    pub errors: &'static [u16],
}

const fn q(name: &'static str, doc: &'static str) -> Param {
    Param { name, place: "query", doc }
}

const FILTERS: [Param; 11] = [
    q("from", "window start on recorded_at, inclusive: RFC 3339 or ns since the epoch"),
    q("to", "window end on recorded_at, exclusive: RFC 3339 or ns since the epoch"),
    q("actor", "actor.id equals"),
    q("on_behalf_of", "actor.on_behalf_of equals"),
    q("action", "action equals"),
    q("action_prefix", "action is this dotted prefix or below it"),
    q("target", "target equals, as TYPE:ID"),
    q("session", "session_id equals"),
    q("key_ref", "key_ref equals (the id of the api key that wrote the row)"),
    q("outcome", "success, failure or denied"),
    q("pseudonym", "rows where this raw value (or pii_ token) was pseudonymized"),
];

const ORDER: Param = q("order", "asc (default) or desc");

const LIST_PARAMS: [Param; 15] = [
    FILTERS[0],
    FILTERS[1],
    FILTERS[2],
    FILTERS[3],
    FILTERS[4],
    FILTERS[5],
    FILTERS[6],
    FILTERS[7],
    FILTERS[8],
    FILTERS[9],
    FILTERS[10],
    ORDER,
    q("limit", "rows per page, 1 to 1000 (default 100)"),
    q("cursor", "continue after the page that returned this cursor"),
    q("explain", "true to add how the page was answered"),
];

const EXPORT_PARAMS: [Param; 15] = [
    FILTERS[0],
    FILTERS[1],
    FILTERS[2],
    FILTERS[3],
    FILTERS[4],
    FILTERS[5],
    FILTERS[6],
    FILTERS[7],
    FILTERS[8],
    FILTERS[9],
    FILTERS[10],
    ORDER,
    q("format", "ndjson (default), csv, or bundle: one self-verifying file (docs/FORMAT.md, Export bundles) of the window given by from/to and from_seq/to_seq"),
    q("from_seq", "format=bundle only: first seq, inclusive"),
    q("to_seq", "format=bundle only: last seq, inclusive"),
];

const AUTH_ERRORS: [u16; 3] = [401, 403, 429];

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    Route {
        method: "post",
        path: "/v1/events",
        summary: "Append one event, a JSON array or NDJSON of up to max_batch_events; all or nothing; 201 once durable",
        scope: Some("ingest"),
        params: &[Param { name: "Idempotency-Key", place: "header", doc: "for a request of one event: its idempotency_key" }],
        body: &["application/json", "application/x-ndjson"],
        ok: (201, "application/json"),
        request: Some("EventOrBatch"),
        response: Some("Receipts"),
        errors: &[400, 401, 403, 408, 409, 413, 415, 422, 429],
    },
    Route {
        method: "get",
        path: "/v1/events",
        summary: "One page of the tenant's rows matching the filters",
        scope: Some("read"),
        params: &LIST_PARAMS,
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("Page"),
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "get",
        path: "/v1/events/{seq}",
        summary: "One row by seq",
        scope: Some("read"),
        params: &[Param { name: "seq", place: "path", doc: "the row's seq, from 1" }],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("Record"),
        errors: &[400, 401, 403, 404, 429],
    },
    Route {
        method: "get",
        path: "/v1/export",
        summary: "Every matching row, streamed as CSV (RFC 4180) or NDJSON",
        scope: Some("read"),
        params: &EXPORT_PARAMS,
        body: &[],
        ok: (200, "text/csv"),
        request: None,
        response: None,
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "get",
        path: "/v1/verify",
        summary: "Verify the tenant's chain, or the inclusive range from_seq..=to_seq; with trusted, against a kept checkpoint",
        scope: Some("read"),
        params: &[
            q("from_seq", "first seq, default 1"),
            q("to_seq", "last seq, default the head"),
            q(
                "trusted",
                "a checkpoint's JSON as kept outside the store: proves the store still holds and extends the chain it signed",
            ),
            q("public_key", "with trusted: the checkpoint must be signed by this Ed25519 public key (hex)"),
        ],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("Verify"),
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "get",
        path: "/v1/checkpoints",
        summary: "The tenant's signed checkpoints with seq in from_seq..=to_seq, oldest first",
        scope: Some("read"),
        params: &[
            q("from_seq", "first seq, default 1"),
            q("to_seq", "last seq, default the head"),
            q("limit", "at most this many, 1 to 1000, default 100"),
        ],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("CheckpointList"),
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "post",
        path: "/v1/checkpoints",
        summary: "Sign a checkpoint of the tenant's chain as it stands now, on demand",
        scope: Some("read"),
        params: &[],
        body: &[],
        ok: (201, "application/json"),
        request: None,
        response: Some("Checkpoint"),
        errors: &AUTH_ERRORS,
    },
    Route {
        method: "get",
        path: "/v1/checkpoints/latest",
        summary: "The tenant's newest signed checkpoint: keep it outside the store",
        scope: Some("read"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("Checkpoint"),
        errors: &[401, 403, 404, 429],
    },
    Route {
        method: "get",
        path: "/v1/checkpoints/public-key",
        summary: "The Ed25519 public key checkpoints are signed with, and its key id",
        scope: Some("read"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("PublicKey"),
        errors: &AUTH_ERRORS,
    },
    Route {
        method: "post",
        path: "/v1/keys",
        summary: "Create an api key of the tenant: {scopes, label}; the token is in this answer only",
        scope: Some("admin"),
        params: &[],
        body: &["application/json"],
        ok: (201, "application/json"),
        request: Some("NewKey"),
        response: Some("CreatedKey"),
        errors: &[401, 403, 413, 422, 429],
    },
    Route {
        method: "get",
        path: "/v1/keys",
        summary: "The tenant's api keys, revoked ones included, without secrets",
        scope: Some("admin"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("KeyList"),
        errors: &AUTH_ERRORS,
    },
    Route {
        method: "delete",
        path: "/v1/keys/{id}",
        summary: "Revoke one of the tenant's api keys",
        scope: Some("admin"),
        params: &[Param { name: "id", place: "path", doc: "the key's id (16 hex digits)" }],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("Key"),
        errors: &[401, 403, 404, 429],
    },
    Route {
        method: "get",
        path: "/v1/redaction",
        summary: "The tenant's redaction policy and its version",
        scope: Some("admin"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("PolicyVersion"),
        errors: &AUTH_ERRORS,
    },
    Route {
        method: "put",
        path: "/v1/redaction",
        summary: "Replace the tenant's redaction policy (docs/REDACTION.md); recorded in the chain",
        scope: Some("admin"),
        params: &[],
        body: &["application/json"],
        ok: (200, "application/json"),
        request: Some("Policy"),
        response: Some("PolicyChange"),
        errors: &[401, 403, 413, 422, 429],
    },
    Route {
        method: "get",
        path: "/v1/retention",
        summary: "The tenant's retention (tier and days), legal hold and retention anchor",
        scope: Some("admin"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("RetentionStatus"),
        errors: &AUTH_ERRORS,
    },
    Route {
        method: "put",
        path: "/v1/retention",
        summary: "Set the tenant's retention: a tier or 90 to 2555 days (docs/RETENTION.md); recorded in the chain",
        scope: Some("admin"),
        params: &[],
        body: &["application/json"],
        ok: (200, "application/json"),
        request: Some("SetRetention"),
        response: Some("RetentionChange"),
        errors: &[401, 403, 413, 422, 429],
    },
    Route {
        method: "put",
        path: "/v1/legal-hold",
        summary: "Place (or re-word) a legal hold: nothing of the tenant is deleted while it is on; recorded in the chain",
        scope: Some("admin"),
        params: &[],
        body: &["application/json"],
        ok: (200, "application/json"),
        request: Some("LegalHold"),
        response: Some("ChainRow"),
        errors: &[401, 403, 413, 422, 429],
    },
    Route {
        method: "delete",
        path: "/v1/legal-hold",
        summary: "Lift the legal hold; recorded in the chain",
        scope: Some("admin"),
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: Some("ChainRow"),
        errors: &[401, 403, 409, 429],
    },
    Route {
        method: "get",
        path: "/healthz",
        summary: "The process answers",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "text/plain"),
        request: None,
        response: None,
        errors: &[],
    },
    Route {
        method: "get",
        path: "/readyz",
        summary: "The server takes requests (503 while shutting down)",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "text/plain"),
        request: None,
        response: None,
        errors: &[503],
    },
    Route {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "text/plain"),
        request: None,
        response: None,
        errors: &[],
    },
    Route {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: None,
        errors: &[],
    },
];

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "in": p.place, "required": p.place == "path", "description": p.doc,
                       "schema": {"type": "string"}})
            })
            .collect();
        let mut responses = Map::new();
        let ok_schema = r.response.map(|n| json!({"schema": {"$ref": format!("#/components/schemas/{n}")}})).unwrap_or(json!({}));
        responses.insert(r.ok.0.to_string(), json!({"description": "success", "content": {r.ok.1: ok_schema}}));
        for s in r.errors {
            responses.insert(
                s.to_string(),
                json!({"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
            );
        }
        responses.insert(
            "500".into(),
            json!({"description": "server fault", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
        let mut op = json!({"summary": r.summary, "parameters": params, "responses": responses});
        if let Some(scope) = r.scope {
            op["security"] = json!([{"apiKey": [scope]}]);
            op["x-annal-scope"] = scope.into();
        }
        if !r.body.is_empty() {
            let content: Map<String, Value> = r
                .body
                .iter()
                .map(|m| {
                    let schema = match (*m, r.request) {
                        ("application/x-ndjson", _) => json!({"schema": {"type": "string",
                            "description": "one Event object per line; blank lines are skipped"}}),
                        (_, Some(n)) => json!({"schema": {"$ref": format!("#/components/schemas/{n}")}}),
                        _ => json!({}),
                    };
                    (m.to_string(), schema)
                })
                .collect();
            op["requestBody"] = json!({"required": true, "content": content});
        }
        let entry = paths.entry(r.path).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "annal", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Append-only, hash-chained audit log. docs/API.md has curl examples."},
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "ak_<id>_<secret>"}},
            "schemas": {
            "Event": event_schema(),
            "EventOrBatch": {"oneOf": [{"$ref": "#/components/schemas/Event"},
                                       {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}]},
            "Receipt": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "recorded_at": {"type": "string", "format": "date-time"},
                "recorded_at_ns": {"type": "integer"}, "leaf": {"type": "string"}, "head": {"type": "string"},
                "replayed": {"type": "boolean"}}},
            "Receipts": {"type": "object", "properties": {"count": {"type": "integer"},
                "receipts": {"type": "array", "items": {"$ref": "#/components/schemas/Receipt"}}}},
            "Record": {"type": "object", "description": "a stored row", "properties": {
                "seq": {"type": "integer"}, "recorded_at": {"type": "string", "format": "date-time"},
                "recorded_at_ns": {"type": "integer"}, "leaf": {"type": "string"}, "head": {"type": "string"},
                "event": {"$ref": "#/components/schemas/Event"}, "policy_version": {"type": "integer"},
                "redactions": {"type": "array", "items": {"type": "object", "properties": {
                    "path": {"type": "string"}, "how": {"type": "string"}}}}}},
            "Page": {"type": "object", "properties": {
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                "next_cursor": {"type": ["string", "null"]}, "cursor": {"type": ["string", "null"]},
                "complete": {"type": "boolean"}, "explain": {"type": "object"}}},
            "Verify": {"type": "object", "properties": {
                "intact": {"type": "boolean"}, "count": {"type": "integer"}, "first_seq": {"type": "integer"},
                "last_seq": {"type": "integer"}, "head": {"type": "string"}, "first_bad_seq": {"type": "integer"},
                "reason": {"type": "string"}, "chain_head": {"type": "object"},
                "extends": {"type": "boolean", "description": "with trusted: whether the store holds and extends the trusted chain"},
                "trusted_seq": {"type": "integer"}, "head_seq": {"type": "integer"}, "connection": {"type": "object"}}},
            "NewKey": {"type": "object", "required": ["scopes"], "additionalProperties": false, "properties": {
                "scopes": {"type": "array", "items": {"enum": ["ingest", "read", "admin"]}, "minItems": 1},
                "label": {"type": "string", "maxLength": 128}}},
            "Key": {"type": "object", "properties": {
                "id": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}},
                "label": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                "revoked_at": {"type": ["string", "null"], "format": "date-time"}}},
            "CreatedKey": {"allOf": [{"$ref": "#/components/schemas/Key"},
                {"type": "object", "properties": {"token": {"type": "string", "description": "shown only here"}}}]},
            "KeyList": {"type": "object", "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}}},
            "Policy": {"type": "object", "description": "a redaction policy, docs/REDACTION.md", "properties": {
                "rules": {"type": "array", "items": {"type": "object", "properties": {
                    "path": {"type": "string"}, "strategy": {"type": "string"}}}},
                "detectors": {"type": "array", "items": {"type": "string"}}}},
            "PolicyVersion": {"type": "object", "properties": {"version": {"type": "integer"},
                "policy": {"$ref": "#/components/schemas/Policy"}}},
            "PolicyChange": {"type": "object", "properties": {"version": {"type": "integer"}, "seq": {"type": "integer"}}},
            "Checkpoint": {"type": "object", "description": "docs/FORMAT.md, Checkpoints: tenant, seq, head, recorded_at, the previous checkpoint, key id, public key, signature", "properties": {
                "format": {"type": "string"}, "tenant": {"type": "string"}, "seq": {"type": "integer"},
                "head": {"type": "string"}, "recorded_at": {"type": "integer"}, "key_id": {"type": "string"},
                "public_key": {"type": "string"}, "signature": {"type": "string"}}},
            "CheckpointList": {"type": "object", "properties": {"checkpoints": {"type": "array", "items": {"$ref": "#/components/schemas/Checkpoint"}}}},
            "PublicKey": {"type": "object", "properties": {"algorithm": {"const": "ed25519"}, "public_key": {"type": "string"}, "key_id": {"type": "string"}}},
            "RetentionStatus": {"type": "object", "properties": {
                "tier": {"enum": ["free", "starter", "default", "business", "enterprise", "custom"]},
                "days": {"type": "integer"},
                "legal_hold": {"type": ["object", "null"], "properties": {
                    "reason": {"type": "string"}, "since": {"type": "string", "format": "date-time"}}},
                "anchor": {"type": ["object", "null"], "description": "where the chain begins after retention deleted its prefix",
                    "properties": {"seq": {"type": "integer"}, "head": {"type": "string"}, "recorded_at": {"type": "string"},
                    "rows_deleted": {"type": "integer"}, "retention_days": {"type": "integer"},
                    "cutoff": {"type": "string"}, "deleted_at": {"type": "string"}}}}},
            "SetRetention": {"type": "object", "additionalProperties": false, "description": "exactly one of tier and days",
                "properties": {"tier": {"enum": ["free", "starter", "default", "business", "enterprise"]},
                "days": {"type": "integer", "minimum": 90, "maximum": 2555}}},
            "RetentionChange": {"type": "object", "properties": {"seq": {"type": "integer"}, "tier": {"type": "string"},
                "days": {"type": "integer"}}},
            "LegalHold": {"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
                "reason": {"type": "string", "minLength": 1, "maxLength": 1024}}},
            "ChainRow": {"type": "object", "properties": {"seq": {"type": "integer", "description": "the row recording the change"}}},
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details",
                "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "field": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": "integer"}, "field": {"type": "string"}, "detail": {"type": "string"}}}}
                },
                "required": ["type", "title", "status", "detail"]
            }}
        }
    })
}

/// The event a client sends (docs/FORMAT.md and README.md).
fn event_schema() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    json!({
        "type": "object",
        "required": ["action", "actor"],
        "additionalProperties": false,
        "properties": {
            "action": s("dotted, e.g. iam.role.grant; the annal. namespace is reserved"),
            "actor": {"type": "object", "required": ["type", "id"], "additionalProperties": false, "properties": {
                "type": {"enum": ["user", "ai", "system", "api_key", "service"]},
                "id": s("stable id"), "name": s("display name"), "email": s("e-mail address"),
                "on_behalf_of": s("the user an agent or service acts for")}},
            "occurred_at": {"type": "string", "format": "date-time"},
            "session_id": s("session"),
            "target": {"type": "object", "required": ["type", "id"], "additionalProperties": false, "properties": {
                "type": s("kind of object"), "id": s("its id"), "name": s("display name")}},
            "outcome": {"enum": ["success", "failure", "denied"]},
            "ip": s("IPv4 or IPv6 address"),
            "user_agent": s("client user agent"),
            "input_hash": s("hash of the input"),
            "output_hash": s("hash of the output"),
            "key_ref": s("set by the server to the writing key's id; a different client value moves to metadata.client_key_ref"),
            "diff": {"description": "any JSON: the state changed"},
            "metadata": {"type": "object"},
            "idempotency_key": s("a retry within 24 h returns the first receipt"),
        }
    })
}

pub(super) async fn serve() -> Response {
    axum::Json(document()).into_response()
}
