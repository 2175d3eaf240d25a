//! `GET /v1/encryption` and `PUT /v1/encryption`: the tenant's encryption
//! at rest (docs/SECURITY.md, "Encryption at rest"), and `POST
//! /v1/subjects/{subject}/erase`: one person's data erased from its rows,
//! for keys with the `admin` scope. A tenant names its own KEK (bring your own key: a
//! reference the server's key provider understands, such as a key of the
//! customer's in a KMS); the change re-wraps its data keys under it and is
//! a row of its chain (`annal.encryption.kek_set`, by the key).

use annal_engine::Scopes;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::input::{json_body, read_body};
use super::reply::{blocking, json, read};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /v1/encryption`: `{encrypted, kek, data_keys}`; `kek` is the
/// tenant's own KEK, or null when its keys are wrapped under the server's.
pub(super) async fn get_encryption(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let s = read(&state, key.tenant(), move || engine.encryption(&tenant).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"encrypted": s.encrypted, "kek": s.own_kek, "data_keys": s.data_keys})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetKek {
    kek: Option<String>,
}

/// `PUT /v1/encryption` with `{"kek": "REF"}` (null: back to the server's
/// KEK): `{kek, seq, data_keys_rewrapped}`.
pub(super) async fn put_encryption(
    State(state): State<AppState>,
    key: Key,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: SetKek = json_body(&body, r#"{"kek": "a KEK reference, or null"}"#)?;
    let (engine, tenant, actor) = (state.engine.clone(), key.tenant().to_string(), key.actor());
    let kek = req.kek.clone();
    let (receipt, keys) = blocking(move || {
        let r = engine.set_tenant_kek(&tenant, kek.as_deref(), actor)?;
        Ok((r, engine.encryption(&tenant)?.data_keys))
    })
    .await?;
    Ok(json(StatusCode::OK, json!({"kek": req.kek, "seq": receipt.seq, "data_keys_rewrapped": keys})))
}

/// `POST /v1/subjects/{subject}/erase`: `{subject, rows_erased,
/// through_seq, seq}`, `subject` being the pseudonym the chain's row names
/// it by.
pub(super) async fn erase_subject(State(state): State<AppState>, key: Key, Path(subject): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant, actor) = (state.engine.clone(), key.tenant().to_string(), key.actor());
    let e = blocking(move || engine.erase_subject(&tenant, &subject, actor).map_err(ApiError::from)).await?;
    Ok(json(
        StatusCode::OK,
        json!({"subject": e.pseudonym, "rows_erased": e.rows, "through_seq": e.through_seq, "seq": e.receipt.seq}),
    ))
}
