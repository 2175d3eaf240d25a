//! `GET /v1/redaction` and `PUT /v1/redaction`: the tenant's redaction
//! policy (docs/REDACTION.md), for keys with the `admin` scope. A change is
//! a row of the tenant's chain (`annal.policy.set`, by the key).

use annal_engine::{Policy, Scopes};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::input::read_body;
use super::reply::{blocking, json, read};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// `GET /v1/redaction`: `{version, policy}`.
pub(super) async fn get_policy(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (version, policy) = read(&state, key.tenant(), move || engine.policy(&tenant).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"version": version, "policy": policy.to_json()})))
}

/// `PUT /v1/redaction` with a policy document: `{version, seq}` of the change.
pub(super) async fn put_policy(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let policy = Policy::from_json_slice(&body).map_err(|fe| ApiError::from_field(Problem::InvalidPolicy, fe))?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let actor = key.actor();
    let (receipt, version) = blocking(move || engine.set_policy(&tenant, &policy, actor).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"version": version, "seq": receipt.seq})))
}
