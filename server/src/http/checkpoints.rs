//! Signed checkpoints over HTTP (docs/FORMAT.md "Checkpoints",
//! docs/SECURITY.md): the public key auditors verify with and the tenant's
//! checkpoints to keep outside the store. Verification against a kept one
//! is `GET /v1/verify?trusted=…` (`verify.rs`), bundles are
//! `GET /v1/export?format=bundle` (`export.rs`). All need the `read` scope.

use annal_engine::checkpoint::key::hex;
use annal_engine::checkpoint::Checkpoint;
use annal_engine::Scopes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::input::{params, whole};
use super::reply::{blocking, json, read};
use crate::admission::Work;
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// Most checkpoints one `GET /v1/checkpoints` answers.
pub const MAX_LIST: usize = 1000;

/// `GET /v1/checkpoints/public-key`: `{algorithm, public_key, key_id}`.
pub(super) async fn public_key(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    // `annal serve` does not start without a key.
    let (pk, id) = state.engine.checkpoint_public_key().ok_or_else(|| ApiError::from(annal_engine::Error::NoSigningKey))?;
    Ok(json(StatusCode::OK, json!({"algorithm": "ed25519", "public_key": hex(&pk), "key_id": hex(&id)})))
}

/// `GET /v1/checkpoints/latest`: the tenant's newest checkpoint; 404 when
/// it has none yet.
pub(super) async fn latest(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    match read(&state, key.tenant(), move || engine.latest_checkpoint(&tenant).map_err(ApiError::from)).await? {
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
    let slot = state.admission.admit(Work::Verify, &tenant)?;
    let cp = blocking(move || {
        let _slot = slot;
        engine.checkpoint(&tenant).map_err(ApiError::from)
    })
    .await?;
    Ok(json(StatusCode::CREATED, cp.to_json()))
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
    let list = read(&state, key.tenant(), move || match engine.checkpoints(&tenant, from, to, limit) {
        Err(annal_engine::Error::UnknownTenant) => Ok(Vec::new()),
        other => other.map_err(ApiError::from),
    })
    .await?;
    Ok(json(StatusCode::OK, json!({"checkpoints": list.iter().map(Checkpoint::to_json).collect::<Vec<_>>()})))
}
