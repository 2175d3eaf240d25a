//! The OpenAPI 3.1 document `GET /openapi.json` serves, rendered from the
//! [`Operation`] each route of the route table (`routes.rs`) carries beside
//! its handler: the router and the document are built from the same table,
//! so a route cannot be served without being described, nor described
//! without being served. This module knows nothing of handlers.

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

/// What the document says of one route (its method and path are the
/// route's own).
#[derive(Debug)]
pub struct Operation {
    /// One line.
    pub summary: &'static str,
    /// Scope the key needs; `None` for routes without authentication.
    pub scope: Option<&'static str>,
    /// Parameters, in groups (the filters are one group several routes share).
    pub params: &'static [&'static [Param]],
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

impl Operation {
    /// What a route's entry leaves out: no summary, scope, parameters or
    /// body; 200 with JSON; the errors of an authenticated route.
    pub const DEFAULT: Operation = Operation {
        summary: "",
        scope: None,
        params: &[],
        body: &[],
        ok: (200, "application/json"),
        request: None,
        response: None,
        errors: &AUTH_ERRORS,
    };

    /// Every parameter, groups flattened.
    pub fn parameters(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().flat_map(|g| g.iter())
    }
}

/// A query parameter.
pub const fn q(name: &'static str, doc: &'static str) -> Param {
    Param { name, place: "query", doc }
}

/// The filters of `GET /v1/events` and `GET /v1/export`: the names
/// [`annal_engine::query::FILTER_NAMES`] lists (a test holds them equal).
pub const FILTERS: [Param; 12] = [
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
    q("order", "asc (default) or desc"),
];

/// The paging parameters of `GET /v1/events`.
pub const PAGE: [Param; 3] = [
    q("limit", "rows per page, 1 to 1000 (default 100)"),
    q("cursor", "continue after the page that returned this cursor"),
    q("explain", "true to add how the page was answered"),
];

/// The parameters of `GET /v1/export` besides the filters.
pub const EXPORT: [Param; 3] = [
    q("format", "ndjson (default), csv, or bundle: one self-verifying file (docs/FORMAT.md, Export bundles) of the window given by from/to and from_seq/to_seq"),
    q("from_seq", "format=bundle only: first seq, inclusive"),
    q("to_seq", "format=bundle only: last seq, inclusive"),
];

/// The error statuses of every authenticated route.
pub const AUTH_ERRORS: [u16; 3] = [401, 403, 429];

/// A problem+json answer.
fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// The document of `operations`: (method, lowercase; path; what it says).
pub fn document<'a>(operations: impl IntoIterator<Item = (&'a str, &'a str, &'a Operation)>) -> Value {
    let mut paths = Map::new();
    for (method, path, op) in operations {
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "annal", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Append-only, hash-chained audit log. docs/API.md has curl examples."},
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "ak_<id>_<secret>"}},
            "schemas": schemas(),
        }
    })
}

fn operation(r: &Operation) -> Value {
    let params: Vec<Value> = r
        .parameters()
        .map(|p| {
            json!({"name": p.name, "in": p.place, "required": p.place == "path", "description": p.doc,
                   "schema": {"type": "string"}})
        })
        .collect();
    let mut responses = Map::new();
    let ok_schema = r.response.map(|n| json!({"schema": {"$ref": format!("#/components/schemas/{n}")}})).unwrap_or(json!({}));
    responses.insert(r.ok.0.to_string(), json!({"description": "success", "content": {r.ok.1: ok_schema}}));
    for s in r.errors {
        responses.insert(s.to_string(), problem("problem"));
    }
    responses.insert("500".into(), problem("server fault"));
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
    op
}

/// `components.schemas`: the bodies routes take and answer with.
fn schemas() -> Value {
    json!({
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
        "Overview": {"type": "object", "properties": {
            "tenant": {"type": "string"},
            "key": {"type": "object", "description": "the key of the request", "properties": {
                "id": {"type": "string"}, "label": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}}},
            "head": {"type": "object", "properties": {"seq": {"type": "integer"}, "head": {"type": ["string", "null"]},
                "recorded_at": {"type": ["string", "null"], "format": "date-time"}}},
            "retention": {"$ref": "#/components/schemas/RetentionStatus"},
            "checkpoint": {"oneOf": [{"$ref": "#/components/schemas/Checkpoint"}, {"type": "null"}]}}},
        "ActionList": {"type": "object", "properties": {"actions": {"type": "array", "items": {"type": "string"}},
            "complete": {"type": "boolean", "description": "false when limit cut the list"}}},
        "Histogram": {"type": "object", "properties": {
            "bucket": {"enum": ["hour", "day"]},
            "buckets": {"type": "array", "items": {"type": "object", "properties": {
                "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                "success": {"type": "integer"}, "failure": {"type": "integer"}, "denied": {"type": "integer"},
                "none": {"type": "integer", "description": "rows without an outcome"}, "total": {"type": "integer"}}}},
            "rows": {"type": "integer"},
            "complete": {"type": "boolean", "description": "false when histogram_max_rows stopped the count"}}},
        "NewKey": {"type": "object", "required": ["scopes"], "additionalProperties": false, "properties": {
            "scopes": {"type": "array", "items": {"enum": ["ingest", "read", "admin"]}, "minItems": 1},
            "label": {"type": "string", "maxLength": 128},
            "limits": {"type": "object", "additionalProperties": false, "description": "the key's own limits; absent or 0: the server's defaults",
                "properties": {"per_second": {"type": "integer", "minimum": 0, "maximum": 1000000},
                    "burst": {"type": "integer", "minimum": 0, "maximum": 1000000},
                    "per_minute": {"type": "integer", "minimum": 0}, "per_month": {"type": "integer", "minimum": 0}}}}},
        "KeyUsage": {"allOf": [{"$ref": "#/components/schemas/Key"}, {"type": "object", "properties": {
            "usage": {"$ref": "#/components/schemas/Usage"}, "tenant_usage": {"$ref": "#/components/schemas/Usage"}}}]},
        "Usage": {"type": "object", "description": "limits that apply (null: none) and requests used in the current UTC minute and month",
            "properties": {"per_second": {"type": ["number", "null"]}, "burst": {"type": ["number", "null"]},
                "minute": {"$ref": "#/components/schemas/Window"}, "month": {"$ref": "#/components/schemas/Window"}}},
        "Window": {"type": "object", "properties": {"requests": {"type": "integer"}, "limit": {"type": ["integer", "null"]},
            "resets_at": {"type": "string", "format": "date-time"}}},
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
        "Encryption": {"type": "object", "properties": {"encrypted": {"type": "boolean"},
            "kek": {"type": ["string", "null"]}, "data_keys": {"type": "integer"}}},
        "Erasure": {"type": "object", "properties": {"subject": {"type": "string"}, "rows_erased": {"type": "integer"},
            "through_seq": {"type": "integer"}, "seq": {"type": "integer"}}},
        "EncryptionKek": {"type": "object", "required": ["kek"], "properties": {"kek": {"type": ["string", "null"]}}},
        "EncryptionChange": {"type": "object", "properties": {"kek": {"type": ["string", "null"]},
            "seq": {"type": "integer"}, "data_keys_rewrapped": {"type": "integer"}}},
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
        "NewTenant": {"type": "object", "required": ["tenant"], "additionalProperties": false, "properties": {
            "tenant": {"type": "string", "maxLength": 128}, "label": {"type": "string", "maxLength": 128},
            "scopes": {"type": "array", "items": {"enum": ["ingest", "read", "admin"]}, "minItems": 1,
                "description": "the first key's scopes; default [\"admin\"]"}}},
        "Tenant": {"type": "object", "properties": {
            "tenant": {"type": "string"}, "head_seq": {"type": "integer"},
            "state": {"enum": ["active", "deletion_scheduled"]},
            "deletion": {"type": ["object", "null"], "properties": {"deletion_id": {"type": "string"},
                "scheduled_at": {"type": "string", "format": "date-time"},
                "purge_after": {"type": "string", "format": "date-time"}}}}},
        "CreatedTenant": {"type": "object", "properties": {"tenant": {"$ref": "#/components/schemas/Tenant"},
            "key": {"$ref": "#/components/schemas/CreatedKey"}}},
        "TenantList": {"type": "object", "properties": {"tenants": {"type": "array", "items": {"$ref": "#/components/schemas/Tenant"}}}},
        "Backup": {"type": "object", "properties": {"id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"}, "bytes": {"type": "integer"}, "files": {"type": "integer"}}},
        "CreatedBackup": {"type": "object", "properties": {"backup": {"$ref": "#/components/schemas/Backup"},
            "unchecked": {"type": "array", "items": {"type": "object"}, "description": "chains that could not be checkpointed first"}}},
        "BackupList": {"type": "object", "properties": {"backups": {"type": "array", "items": {"$ref": "#/components/schemas/Backup"}},
            "status": {"type": "object", "description": "the last backup's and verification's outcome"}}},
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
