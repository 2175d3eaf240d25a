//! `POST /v1/keys`, `GET /v1/keys`, `DELETE /v1/keys/{id}`: the tenant's api
//! keys, for keys with the `admin` scope. Each creation and revocation is a
//! row of the tenant's chain (see [`annal_engine::apikeys`]).

use annal_engine::Scopes;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::input::{json_body, read_body};
use super::reply::{blocking, json};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// The body of `POST /v1/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    scopes: Vec<String>,
    #[serde(default)]
    label: String,
}

const NEW_KEY_SHAPE: &str = r#"{"scopes": ["ingest" | "read" | "admin", ...], "label": "text"}"#;

/// `POST /v1/keys` with `{"scopes": [...], "label": "..."}`: 201 with the
/// key and its token, shown this once.
pub(super) async fn create(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: NewKey = json_body(&body, NEW_KEY_SHAPE)?;
    let scopes = Scopes::from_names(&req.scopes).map_err(|fe| ApiError::from_field(Problem::InvalidKeyRequest, fe))?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let actor = key.actor();
    let (created, token) =
        blocking(move || engine.create_api_key(&tenant, scopes, &req.label, actor).map_err(ApiError::from)).await?;
    let mut v = created.to_json();
    v["token"] = token.into();
    Ok(json(StatusCode::CREATED, v))
}

/// `GET /v1/keys`: every key of the tenant, revoked ones included; never a secret.
pub(super) async fn list(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let keys = blocking(move || engine.api_keys(&tenant).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"keys": keys.iter().map(|k| k.to_json()).collect::<Vec<_>>()})))
}

/// `DELETE /v1/keys/{id}`: revokes the key (a key of another tenant is 404).
pub(super) async fn revoke(State(state): State<AppState>, key: Key, Path(id): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let actor = key.actor();
    let revoked = blocking(move || engine.revoke_api_key(&tenant, &id, actor).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, revoked.to_json()))
}
