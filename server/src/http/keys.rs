//! `POST /v1/keys`, `GET /v1/keys`, `DELETE /v1/keys/{id}`: the tenant's api
//! keys, for keys with the `admin` scope. Each creation and revocation is a
//! row of the tenant's chain (see [`annal_engine::apikeys`]).

use annal_engine::{KeyLimits, Scopes};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{json_body, read_body};
use super::reply::{blocking, json};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::quota::Used;
use crate::state::AppState;

/// The body of `POST /v1/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    scopes: Vec<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    limits: Option<Limits>,
}

/// A key's own limits; each absent or 0 is the server's default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    per_second: u32,
    #[serde(default)]
    burst: u32,
    #[serde(default)]
    per_minute: u64,
    #[serde(default)]
    per_month: u64,
}

/// Highest `per_second` or `burst` a key may be given.
const MAX_PER_SECOND: u32 = 1_000_000;

const NEW_KEY_SHAPE: &str = r#"{"scopes": ["ingest" | "read" | "admin", ...], "label": "text", "limits": {"per_second": n, "burst": n, "per_minute": n, "per_month": n}}"#;

fn key_limits(l: Option<Limits>) -> ApiResult<KeyLimits> {
    let Some(l) = l else { return Ok(KeyLimits::default()) };
    for (name, v) in [("limits.per_second", l.per_second), ("limits.burst", l.burst)] {
        if v > MAX_PER_SECOND {
            return Err(ApiError::new(Problem::InvalidKeyRequest, format!("must be at most {MAX_PER_SECOND}")).field(name));
        }
    }
    Ok(KeyLimits { per_second: l.per_second, burst: l.burst, per_minute: l.per_minute, per_month: l.per_month })
}

/// `POST /v1/keys` with `{"scopes": [...], "label": "..."}`: 201 with the
/// key and its token, shown this once.
pub(super) async fn create(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: NewKey = json_body(&body, NEW_KEY_SHAPE)?;
    let scopes = Scopes::from_names(&req.scopes).map_err(|fe| ApiError::from_field(Problem::InvalidKeyRequest, fe))?;
    let limits = key_limits(req.limits)?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let actor = key.actor();
    let (created, token) =
        blocking(move || engine.create_api_key_with_limits(&tenant, scopes, &req.label, limits, actor).map_err(ApiError::from))
            .await?;
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

/// `GET /v1/keys/{id}`: the key (never a secret), the limits that apply to
/// it and to its tenant, and what both used this minute and this month.
pub(super) async fn get_one(State(state): State<AppState>, key: Key, Path(id): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let keys = blocking(move || engine.api_keys(&tenant).map_err(ApiError::from)).await?;
    let Some(found) = keys.into_iter().find(|k| k.id == id) else {
        return Err(annal_engine::Error::UnknownApiKey.into());
    };
    let r = state.quotas.report(&found);
    let rfc3339 = |ns: u64| annal_engine::event::format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX));
    let cap = |c: u64| if c == 0 { Value::Null } else { c.into() };
    let used = |u: &Used| {
        json!({
            "per_second": if u.rate.0 > 0.0 { json!(u.rate.0) } else { Value::Null },
            "burst": if u.rate.0 > 0.0 { json!(u.rate.1) } else { Value::Null },
            "minute": {"requests": u.minute.0, "limit": cap(u.minute.1), "resets_at": rfc3339(r.minute_ends)},
            "month": {"requests": u.month.0, "limit": cap(u.month.1), "resets_at": rfc3339(r.month_ends)},
        })
    };
    let mut v = found.to_json();
    v["usage"] = used(&r.key);
    v["tenant_usage"] = used(&r.tenant);
    Ok(json(StatusCode::OK, v))
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
