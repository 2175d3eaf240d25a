//! Signed checkpoints over HTTP (docs/FORMAT.md "Checkpoints",
//! docs/SECURITY.md): the public key auditors verify with, the tenant's
//! checkpoints to keep outside the store, verification against a kept one
//! (`GET /v1/verify?trusted=…`, in `verify.rs`) and export bundles
//! (`GET /v1/export?format=bundle`, here). All need the `read` scope.

use std::io::Write;

use annal_engine::checkpoint::key::{from_hex, hex};
use annal_engine::checkpoint::{Checkpoint, Connection, TrustedOutcome};
use annal_engine::{Engine, Scopes};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{blocking, json, params};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// Most checkpoints one `GET /v1/checkpoints` answers.
pub const MAX_LIST: usize = 1000;

/// `GET /v1/checkpoints/public-key`: `{algorithm, public_key, key_id}`.
pub(super) async fn public_key(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (pk, id) = state.engine.checkpoint_public_key();
    Ok(json(StatusCode::OK, json!({"algorithm": "ed25519", "public_key": hex(&pk), "key_id": hex(&id)})))
}

/// `GET /v1/checkpoints/latest`: the tenant's newest checkpoint; 404 when
/// it has none yet.
pub(super) async fn latest(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    match blocking(move || engine.latest_checkpoint(&tenant).map_err(ApiError::from)).await? {
        Some(cp) => Ok(json(StatusCode::OK, cp.to_json())),
        None => Err(ApiError::new(Problem::NotFound, "the tenant has no checkpoint yet")),
    }
}

/// `POST /v1/checkpoints`: signs a checkpoint of the tenant's chain as it
/// stands now (after verifying the rows since the last one), stores it and
/// answers it, 201 (the latest one again when no row was appended since).
/// For an auditor who wants a checkpoint to keep at a moment of their choosing.
pub(super) async fn make(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let cp = blocking(move || engine.checkpoint(&tenant).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::CREATED, cp.to_json()))
}

fn whole(k: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| ApiError::bad_param(k, "must be a whole number"))
}

/// `GET /v1/checkpoints?from_seq=&to_seq=&limit=`: the checkpoints at seqs
/// in `[from_seq, to_seq]`, oldest first, at most `limit` (default 100, at
/// most 1000).
pub(super) async fn list(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (mut from, mut to, mut limit) = (1u64, u64::MAX, 100usize);
    for (k, v) in params(raw.as_deref())? {
        match k.as_str() {
            "from_seq" => from = whole(&k, &v)?,
            "to_seq" => to = whole(&k, &v)?,
            "limit" => {
                limit = usize::try_from(whole(&k, &v)?).unwrap_or(usize::MAX);
                if limit == 0 || limit > MAX_LIST {
                    return Err(ApiError::bad_param("limit", format!("must be 1 to {MAX_LIST}")));
                }
            }
            _ => return Err(ApiError::bad_param(&k, "unknown parameter; expected `from_seq`, `to_seq` or `limit`")),
        }
    }
    if to < from {
        return Err(ApiError::bad_param("to_seq", "must not be below `from_seq` (both are inclusive)"));
    }
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let list = blocking(move || match engine.checkpoints(&tenant, from, to, limit) {
        Err(annal_engine::Error::UnknownTenant) => Ok(Vec::new()),
        other => other.map_err(ApiError::from),
    })
    .await?;
    Ok(json(StatusCode::OK, json!({"checkpoints": list.iter().map(Checkpoint::to_json).collect::<Vec<_>>()})))
}

/// `GET /v1/verify?trusted=CHECKPOINT[&public_key=HEX]`: whether the store
/// still holds the chain `trusted` (a checkpoint's JSON, as kept) signed
/// and extends it. 200 either way; `extends` says which, `reason` why not.
pub(super) async fn verify_trusted(state: &AppState, key: &Key, trusted: &str, public_key: Option<&str>) -> ApiResult<Response> {
    let value: Value = serde_json::from_str(trusted)
        .map_err(|_| ApiError::bad_param("trusted", "must be a checkpoint's JSON, as GET /v1/checkpoints/latest gives it"))?;
    let cp = Checkpoint::from_json(&value).map_err(|fe| {
        let field = if fe.field.is_empty() { "trusted".to_string() } else { format!("trusted.{}", fe.field) };
        ApiError::bad_param(&field, fe.message)
    })?;
    // A checkpoint of another tenant is refused without a word about that tenant.
    if cp.tenant != key.tenant() {
        return Err(ApiError::bad_param("trusted.tenant", "is not the tenant of this api key"));
    }
    let required = public_key
        .map(|h| from_hex::<32>("public_key", h).map_err(|fe| ApiError::bad_param("public_key", fe.message)))
        .transpose()?;
    let engine = state.engine.clone();
    let outcome = blocking(move || engine.verify_trusted(&cp, required.as_ref()).map_err(ApiError::from)).await?;
    let body = match outcome {
        TrustedOutcome::Extends(r) => json!({
            "extends": true,
            "trusted_seq": r.trusted_seq,
            "head_seq": r.head_seq,
            "head": r.head.to_hex(),
            "connection": match r.connection {
                Connection::Row => json!({"by": "row"}),
                Connection::Anchor => json!({"by": "retention_anchor"}),
                Connection::Checkpoints { links } => json!({"by": "checkpoints", "links": links}),
            },
        }),
        TrustedOutcome::Failed(f) => json!({"extends": false, "reason": f.to_string()}),
    };
    Ok(json(StatusCode::OK, body))
}

/// Bytes gathered before a piece of a bundle goes to the body.
const CHUNK_BYTES: usize = 64 * 1024;

/// A `Write` into the response body: a bounded channel of 64 KiB pieces,
/// so a bundle of any size streams in constant memory. The first piece
/// also says the answer may start.
struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    ready: Option<tokio::sync::oneshot::Sender<Result<(), ApiError>>>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
        if !self.buf.is_empty() {
            let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)));
            self.tx.blocking_send(Ok(piece)).map_err(|_| std::io::Error::other("the client went away"))?;
        }
        Ok(())
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The window of a bundle: seqs (`from_seq`, `to_seq`, inclusive) or
/// times on `recorded_at` (`from`, `to`), or both (their intersection).
fn bundle_window(engine: &Engine, tenant: &str, pairs: &[(String, String)]) -> Result<(u64, u64), ApiError> {
    let (mut lo, mut hi) = (1u64, u64::MAX);
    let (mut from, mut to) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "from_seq" => lo = whole(k, v)?,
            "to_seq" => hi = whole(k, v)?,
            "from" => from = Some(annal_engine::query::parse_instant(k, v)?),
            "to" => to = Some(annal_engine::query::parse_instant(k, v)?),
            "format" => {}
            _ => {
                return Err(ApiError::bad_param(
                    k,
                    "unknown parameter for a bundle; expected `from_seq`, `to_seq`, `from` or `to`",
                ))
            }
        }
    }
    if hi < lo {
        return Err(ApiError::bad_param("to_seq", "must not be below `from_seq` (both are inclusive)"));
    }
    if from.is_some() || to.is_some() {
        match engine.seqs_recorded_in(tenant, from.unwrap_or(0), to.unwrap_or(u64::MAX))? {
            Some((a, b)) => (lo, hi) = (lo.max(a), hi.min(b)),
            None => return Err(ApiError::bad_param("from", "no row of the tenant was recorded in this window")),
        }
    }
    Ok((lo, hi))
}

/// `GET /v1/export?format=bundle`: the window as one bundle file
/// (docs/FORMAT.md, "Export bundles") that `annal verify-bundle` or any
/// verifier written from that section checks offline.
pub(super) async fn export_bundle(state: &AppState, key: &Key, pairs: Vec<(String, String)>) -> ApiResult<Response> {
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let t = tenant.clone();
    tokio::task::spawn_blocking(move || {
        let window = bundle_window(&engine, &t, &pairs);
        let mut w = BodyWriter { tx, buf: Vec::with_capacity(CHUNK_BYTES), ready: Some(ready_tx) };
        let result = window.and_then(|(lo, hi)| engine.write_bundle(&t, lo, hi, &mut w).map_err(ApiError::from));
        match result {
            Ok(_) => {
                let _ = w.send();
            }
            Err(e) => match w.ready.take() {
                // Nothing sent: a refused window is a problem response.
                Some(ready) => {
                    let _ = ready.send(Err(e));
                }
                None => {
                    tracing::error!(cause = %e.detail, "bundle export stopped");
                    let _ = w.tx.blocking_send(Err(std::io::Error::other("bundle export stopped")));
                }
            },
        }
    });
    ready_rx.await.map_err(|e| ApiError::internal(&e))??;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.annal.bundle"));
    let name = super::export::attachment_name(&tenant, "bundle");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
