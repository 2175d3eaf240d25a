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

const EXPORT_PARAMS: [Param; 13] = [
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
    q("format", "ndjson (default) or csv"),
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
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "get",
        path: "/v1/verify",
        summary: "Verify the tenant's chain, or the inclusive range from_seq..=to_seq",
        scope: Some("read"),
        params: &[q("from_seq", "first seq, default 1"), q("to_seq", "last seq, default the head")],
        body: &[],
        ok: (200, "application/json"),
        errors: &[400, 401, 403, 429],
    },
    Route {
        method: "post",
        path: "/v1/keys",
        summary: "Create an api key of the tenant: {scopes, label}; the token is in this answer only",
        scope: Some("admin"),
        params: &[],
        body: &["application/json"],
        ok: (201, "application/json"),
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
        errors: &[401, 403, 413, 422, 429],
    },
    Route {
        method: "get",
        path: "/healthz",
        summary: "The process answers",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "text/plain"),
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
        responses.insert(r.ok.0.to_string(), json!({"description": "success", "content": {r.ok.1: {}}}));
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
            let content: Map<String, Value> = r.body.iter().map(|m| (m.to_string(), json!({}))).collect();
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
            "schemas": {"Problem": {
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

pub(super) async fn serve() -> Response {
    axum::Json(document()).into_response()
}
