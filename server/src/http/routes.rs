//! The route table: every route's method, path and handler beside what
//! `GET /openapi.json` says of it. The router (`app` in `http/mod.rs`) and
//! [`openapi_document`] are both built from this table, so the two cannot
//! drift: no route is served undescribed or described unserved. Tests
//! check the rest of the contract: each route answers, other methods of its
//! path are refused, the scope it documents is the one its handler
//! requires, and the documented filters are the engine's.

use axum::routing::{on, MethodFilter, MethodRouter};

use super::openapi::{q, Operation, Param, EXPORT, FILTERS, PAGE};
use super::{checkpoints, console, encryption, events, export, health, keys, platform, redaction, retention, summary, verify};
use crate::state::AppState;

/// The methods routes answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Verb {
    /// Every verb, for tests that try the ones a path does not take.
    pub const ALL: [Verb; 4] = [Verb::Get, Verb::Post, Verb::Put, Verb::Delete];

    /// The name, uppercase as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    /// The name, lowercase as OpenAPI keys operations.
    pub fn openapi(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route: method, path, handler and its description.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Verb,
    /// Path, with `{name}` for path parameters.
    pub path: &'static str,
    /// The handler, on the method it is given.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
    /// What the OpenAPI document says of it.
    pub doc: Operation,
}

impl Route {
    /// The route's handler, answering its method only.
    pub fn method_router(&self) -> MethodRouter<AppState> {
        (self.handler)(self.method.filter())
    }
}

/// The OpenAPI document of [`ROUTES`]. A plain function, so that the
/// handler's future does not depend on the table it is part of.
pub fn openapi_document() -> serde_json::Value {
    super::openapi::document(ROUTES.iter().map(|r| (r.method.openapi(), r.path, &r.doc)))
}

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    Route {
        method: Verb::Post,
        path: "/v1/events",
        handler: |m| on(m, events::append),
        doc: Operation {
            summary: "Append one event, a JSON array or NDJSON of up to max_batch_events; all or nothing; 201 once durable",
            scope: Some("ingest"),
            params: &[&[Param {
                name: "Idempotency-Key",
                place: "header",
                doc: "for a request of one event: its idempotency_key",
            }]],
            body: &["application/json", "application/x-ndjson"],
            ok: (201, "application/json"),
            request: Some("EventOrBatch"),
            response: Some("Receipts"),
            errors: &[400, 401, 403, 408, 409, 413, 415, 422, 429],
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/events",
        handler: |m| on(m, events::list),
        doc: Operation {
            summary: "One page of the tenant's rows matching the filters",
            scope: Some("read"),
            params: &[&FILTERS, &PAGE],
            response: Some("Page"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/events/{seq}",
        handler: |m| on(m, events::get_one),
        doc: Operation {
            summary: "One row by seq",
            scope: Some("read"),
            params: &[&[Param { name: "seq", place: "path", doc: "the row's seq, from 1" }]],
            response: Some("Record"),
            errors: &[400, 401, 403, 404, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/export",
        handler: |m| on(m, export::export),
        doc: Operation {
            summary: "Every matching row, streamed as CSV (RFC 4180) or NDJSON",
            scope: Some("read"),
            params: &[&FILTERS, &EXPORT],
            ok: (200, "text/csv"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/verify",
        handler: |m| on(m, verify::verify),
        doc: Operation {
            summary:
                "Verify the tenant's chain, or the inclusive range from_seq..=to_seq, or since its latest checkpoint; with trusted, against a kept checkpoint",
            scope: Some("read"),
            params: &[&[
                q("from_seq", "first seq, default 1"),
                q("to_seq", "last seq, default the head"),
                q(
                    "since",
                    "`checkpoint`: verify only the rows after the latest signed checkpoint, linked from the head it signed",
                ),
                q(
                    "trusted",
                    "a checkpoint's JSON as kept outside the store: proves the store still holds and extends the chain it signed",
                ),
                q("public_key", "with trusted: the checkpoint must be signed by this Ed25519 public key (hex)"),
            ]],
            response: Some("Verify"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/overview",
        handler: |m| on(m, summary::overview),
        doc: Operation {
            summary: "Who is signed in, the chain's head, its latest signed checkpoint, retention, legal hold and what retention deleted",
            scope: Some("read"),
            response: Some("Overview"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/actions",
        handler: |m| on(m, summary::actions),
        doc: Operation {
            summary: "The tenant's distinct action names, sorted",
            scope: Some("read"),
            params: &[&[
                q("prefix", "only names that start with this text"),
                q("limit", "at most this many, 1 to 1000, default 1000"),
            ]],
            response: Some("ActionList"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/histogram",
        handler: |m| on(m, summary::histogram),
        doc: Operation {
            summary: "Rows of a window (from and to required) per UTC hour or day, by outcome; the filters of GET /v1/events",
            scope: Some("read"),
            params: &[&FILTERS, &[q("bucket", "`hour` or `day`; default hour for windows up to 3 days, else day")]],
            response: Some("Histogram"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/checkpoints",
        handler: |m| on(m, checkpoints::list),
        doc: Operation {
            summary: "The tenant's signed checkpoints with seq in from_seq..=to_seq, oldest first",
            scope: Some("read"),
            params: &[&[
                q("from_seq", "first seq, default 1"),
                q("to_seq", "last seq, default the head"),
                q("limit", "at most this many, 1 to 1000, default 100"),
            ]],
            response: Some("CheckpointList"),
            errors: &[400, 401, 403, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/checkpoints",
        handler: |m| on(m, checkpoints::make),
        doc: Operation {
            summary: "Sign a checkpoint of the tenant's chain as it stands now, on demand",
            scope: Some("read"),
            ok: (201, "application/json"),
            response: Some("Checkpoint"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/checkpoints/latest",
        handler: |m| on(m, checkpoints::latest),
        doc: Operation {
            summary: "The tenant's newest signed checkpoint: keep it outside the store",
            scope: Some("read"),
            response: Some("Checkpoint"),
            errors: &[401, 403, 404, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/checkpoints/public-key",
        handler: |m| on(m, checkpoints::public_key),
        doc: Operation {
            summary: "The Ed25519 public key checkpoints are signed with, and its key id",
            scope: Some("read"),
            response: Some("PublicKey"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/keys",
        handler: |m| on(m, keys::create),
        doc: Operation {
            summary: "Create an api key of the tenant: {scopes, label, limits}; the token is in this answer only",
            scope: Some("admin"),
            body: &["application/json"],
            ok: (201, "application/json"),
            request: Some("NewKey"),
            response: Some("CreatedKey"),
            errors: &[401, 403, 413, 422, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/keys",
        handler: |m| on(m, keys::list),
        doc: Operation {
            summary: "The tenant's api keys, revoked ones included, without secrets",
            scope: Some("admin"),
            response: Some("KeyList"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/keys/{id}",
        handler: |m| on(m, keys::get_one),
        doc: Operation {
            summary: "One api key of the tenant, the limits that apply to it and its tenant, and what both used this minute and month",
            scope: Some("admin"),
            params: &[&[Param { name: "id", place: "path", doc: "the key's id (16 hex digits)" }]],
            response: Some("KeyUsage"),
            errors: &[401, 403, 404, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Delete,
        path: "/v1/keys/{id}",
        handler: |m| on(m, keys::revoke),
        doc: Operation {
            summary: "Revoke one of the tenant's api keys",
            scope: Some("admin"),
            params: &[&[Param { name: "id", place: "path", doc: "the key's id (16 hex digits)" }]],
            response: Some("Key"),
            errors: &[401, 403, 404, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/tenants",
        handler: |m| on(m, platform::create),
        doc: Operation {
            summary: "Create a workspace with its first key (token shown once); a platform-chain row records it",
            scope: Some("platform"),
            body: &["application/json"],
            ok: (201, "application/json"),
            request: Some("NewTenant"),
            response: Some("CreatedTenant"),
            errors: &[401, 403, 409, 413, 422, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/tenants",
        handler: |m| on(m, platform::list),
        doc: Operation {
            summary: "Every workspace, those being deleted included",
            scope: Some("platform"),
            response: Some("TenantList"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/tenants/{id}",
        handler: |m| on(m, platform::get),
        doc: Operation {
            summary: "One workspace and its scheduled deletion, if any",
            scope: Some("platform"),
            params: &[&[Param { name: "id", place: "path", doc: "the tenant id" }]],
            response: Some("Tenant"),
            errors: &[401, 403, 404, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Delete,
        path: "/v1/tenants/{id}",
        handler: |m| on(m, platform::delete),
        doc: Operation {
            summary: "Delete a workspace: closed at once, purged after tenant_deletion_grace_secs unless cancelled (202)",
            scope: Some("platform"),
            params: &[&[
                Param { name: "id", place: "path", doc: "the tenant id" },
                Param { name: "reason", place: "query", doc: "why, recorded in the platform chain" },
            ]],
            ok: (202, "application/json"),
            response: Some("Tenant"),
            errors: &[400, 401, 403, 404, 409, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/tenants/{id}/cancel-deletion",
        handler: |m| on(m, platform::cancel_deletion),
        doc: Operation {
            summary: "Cancel a workspace's scheduled deletion: served again, chain and keys as they were",
            scope: Some("platform"),
            params: &[&[Param { name: "id", place: "path", doc: "the tenant id" }]],
            response: Some("Tenant"),
            errors: &[401, 403, 404, 409, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/admin/backups",
        handler: |m| on(m, platform::create_backup),
        doc: Operation {
            summary: "Take a backup now (incremental, while ingest goes on); 201 once complete",
            scope: Some("platform"),
            ok: (201, "application/json"),
            response: Some("CreatedBackup"),
            errors: &[401, 403, 409, 429, 500],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/admin/backups",
        handler: |m| on(m, platform::list_backups),
        doc: Operation {
            summary: "The backups kept and the last backup's and verification's outcome",
            scope: Some("platform"),
            response: Some("BackupList"),
            errors: &[401, 403, 409, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/redaction",
        handler: |m| on(m, redaction::get_policy),
        doc: Operation {
            summary: "The tenant's redaction policy and its version",
            scope: Some("admin"),
            response: Some("PolicyVersion"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Put,
        path: "/v1/redaction",
        handler: |m| on(m, redaction::put_policy),
        doc: Operation {
            summary: "Replace the tenant's redaction policy (docs/REDACTION.md); recorded in the chain",
            scope: Some("admin"),
            body: &["application/json"],
            request: Some("Policy"),
            response: Some("PolicyChange"),
            errors: &[401, 403, 413, 422, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/encryption",
        handler: |m| on(m, encryption::get_encryption),
        doc: Operation {
            summary: "The tenant's encryption at rest: whether it is encrypted, its own KEK, its data keys",
            scope: Some("admin"),
            response: Some("Encryption"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Put,
        path: "/v1/encryption",
        handler: |m| on(m, encryption::put_encryption),
        doc: Operation {
            summary: "Name the tenant's own KEK (bring your own key); its data keys are re-wrapped under it; recorded in the chain",
            scope: Some("admin"),
            body: &["application/json"],
            request: Some("EncryptionKek"),
            response: Some("EncryptionChange"),
            errors: &[401, 403, 409, 413, 422, 429, 503],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Post,
        path: "/v1/subjects/{subject}/erase",
        handler: |m| on(m, encryption::erase_subject),
        doc: Operation {
            summary: "Erase one person from the tenant's rows (actor, on-behalf-of, user target); the chain still verifies; recorded in the chain",
            scope: Some("admin"),
            params: &[&[Param { name: "subject", place: "path", doc: "the person's id, as events name it" }]],
            response: Some("Erasure"),
            errors: &[401, 403, 409, 422, 429, 503],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/v1/retention",
        handler: |m| on(m, retention::get_retention),
        doc: Operation {
            summary: "The tenant's retention (tier and days), legal hold and retention anchor",
            scope: Some("admin"),
            response: Some("RetentionStatus"),
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Put,
        path: "/v1/retention",
        handler: |m| on(m, retention::put_retention),
        doc: Operation {
            summary: "Set the tenant's retention: a tier or 90 to 2555 days (docs/RETENTION.md); recorded in the chain",
            scope: Some("admin"),
            body: &["application/json"],
            request: Some("SetRetention"),
            response: Some("RetentionChange"),
            errors: &[401, 403, 413, 422, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Put,
        path: "/v1/legal-hold",
        handler: |m| on(m, retention::put_hold),
        doc: Operation {
            summary: "Place (or re-word) a legal hold: nothing of the tenant is deleted while it is on; recorded in the chain",
            scope: Some("admin"),
            body: &["application/json"],
            request: Some("LegalHold"),
            response: Some("ChainRow"),
            errors: &[401, 403, 413, 422, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Delete,
        path: "/v1/legal-hold",
        handler: |m| on(m, retention::delete_hold),
        doc: Operation {
            summary: "Lift the legal hold; recorded in the chain",
            scope: Some("admin"),
            response: Some("ChainRow"),
            errors: &[401, 403, 409, 429],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/console",
        handler: |m| on(m, console::page),
        doc: Operation {
            summary: "The audit console (docs/CONSOLE.md): sign in with a read key, filter, read, export, verify",
            ok: (200, "text/html"),
            errors: &[404],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/console/console.js",
        handler: |m| on(m, console::script),
        doc: Operation { summary: "The console's script", ok: (200, "text/javascript"), errors: &[404], ..Operation::DEFAULT },
    },
    Route {
        method: Verb::Get,
        path: "/console/console.css",
        handler: |m| on(m, console::style),
        doc: Operation { summary: "The console's stylesheet", ok: (200, "text/css"), errors: &[404], ..Operation::DEFAULT },
    },
    Route {
        method: Verb::Get,
        path: "/healthz",
        handler: |m| on(m, health::healthz),
        doc: Operation { summary: "The process answers", ok: (200, "text/plain"), errors: &[], ..Operation::DEFAULT },
    },
    Route {
        method: Verb::Get,
        path: "/readyz",
        handler: |m| on(m, health::readyz),
        doc: Operation {
            summary: "The server takes requests (503 while shutting down)",
            ok: (200, "text/plain"),
            errors: &[503],
            ..Operation::DEFAULT
        },
    },
    Route {
        method: Verb::Get,
        path: "/metrics",
        handler: |m| on(m, health::metrics),
        doc: Operation { summary: "Prometheus metrics", ok: (200, "text/plain"), errors: &[], ..Operation::DEFAULT },
    },
    Route {
        method: Verb::Get,
        path: "/openapi.json",
        handler: |m| on(m, || async { axum::Json(openapi_document()) }),
        doc: Operation { summary: "This document", errors: &[], ..Operation::DEFAULT },
    },
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn names(route: (Verb, &str)) -> BTreeSet<&'static str> {
        let r = ROUTES.iter().find(|r| (r.method, r.path) == route).unwrap();
        r.doc.parameters().filter(|p| p.place == "query").map(|p| p.name).collect()
    }

    #[test]
    fn the_documented_filters_are_the_engines() {
        let engine: BTreeSet<&str> = annal_engine::query::FILTER_NAMES.into_iter().collect();
        let documented: BTreeSet<&str> = FILTERS.iter().map(|p| p.name).collect();
        assert_eq!(documented, engine);
        let page: BTreeSet<&str> = PAGE.iter().map(|p| p.name).collect();
        assert_eq!(page, events::PAGE_PARAMS.into_iter().collect());
        assert_eq!(names((Verb::Get, "/v1/events")), &engine | &page);
        let export: BTreeSet<&str> = EXPORT.iter().map(|p| p.name).collect();
        assert_eq!(names((Verb::Get, "/v1/export")), &engine | &export);
    }

    #[test]
    fn each_method_and_path_is_routed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(ROUTES[i + 1..].iter().all(|o| (o.method, o.path) != (r.method, r.path)), "{} {}", r.method.as_str(), r.path);
        }
    }
}
