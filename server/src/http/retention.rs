//! `GET/PUT /v1/retention` and `PUT/DELETE /v1/legal-hold`: the tenant's
//! retention policy and legal hold (docs/RETENTION.md), for keys with the
//! `admin` scope. Every change is a row of the tenant's own chain
//! (`annal.retention.set`, `annal.retention.hold`, `annal.retention.released`),
//! by the key that made it.

use annal_engine::retention::{LegalHold, RetentionAnchor, RetentionStatus};
use annal_engine::{Retention, Scopes, Tier};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{json_body, read_body};
use super::reply::{blocking, json, read};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

fn rfc3339(ns: u64) -> String {
    annal_engine::event::format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

fn hold_json(h: &LegalHold) -> Value {
    json!({"reason": h.reason, "since": rfc3339(h.since)})
}

fn anchor_json(a: &RetentionAnchor) -> Value {
    json!({
        "seq": a.seq, "head": a.head.to_hex(), "recorded_at": rfc3339(a.recorded_at),
        "rows_deleted": a.rows_deleted, "retention_days": a.retention_days,
        "cutoff": rfc3339(a.cutoff), "deleted_at": rfc3339(a.deleted_at),
    })
}

pub(super) fn status_json(s: &RetentionStatus) -> Value {
    json!({
        "tier": s.retention.tier_name(),
        "days": s.retention.days(),
        "legal_hold": s.hold.as_ref().map(hold_json),
        "anchor": s.anchor.as_ref().map(anchor_json),
    })
}

/// `GET /v1/retention`: `{tier, days, legal_hold, anchor}`. A tenant without
/// rows yet is on the default tier, without hold or anchor.
pub(super) async fn get_retention(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let status = read(&state, key.tenant(), move || match engine.retention(&tenant) {
        Ok(s) => Ok(s),
        Err(annal_engine::Error::UnknownTenant) => {
            Ok(RetentionStatus { retention: Retention::default(), hold: None, anchor: None })
        }
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(json(StatusCode::OK, status_json(&status)))
}

/// The body of `PUT /v1/retention`: a tier by name, or a number of days.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRetention {
    tier: Option<String>,
    days: Option<u32>,
}

/// `PUT /v1/retention` with `{"tier": "business"}` or `{"days": 500}`:
/// `{seq, tier, days}`, the row that records the change.
pub(super) async fn put_retention(
    State(state): State<AppState>,
    key: Key,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: SetRetention = json_body(&body, r#"{"tier": "business"} or {"days": 500}"#)?;
    let bad = |field: &str, m: &str| ApiError::new(Problem::InvalidRetention, m).field(field);
    let retention = match (req.tier, req.days) {
        (Some(_), Some(_)) => return Err(bad("days", "give either `tier` or `days`, not both")),
        (None, None) => return Err(bad("tier", "give `tier` (free, starter, default, business, enterprise) or `days`")),
        (Some(t), None) => Retention::Tier(Tier::parse(&t)?),
        (None, Some(d)) => Retention::days_checked(d)?,
    };
    let (engine, tenant, actor) = (state.engine.clone(), key.tenant().to_string(), key.actor());
    let receipt = blocking(move || engine.set_retention(&tenant, retention, actor).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"seq": receipt.seq, "tier": retention.tier_name(), "days": retention.days()})))
}

/// The body of `PUT /v1/legal-hold`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceHold {
    reason: String,
}

/// `PUT /v1/legal-hold` with `{"reason": "…"}`: from its answer on, no
/// retention run deletes any of the tenant's rows. `{seq}` of the row.
pub(super) async fn put_hold(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: PlaceHold = json_body(&body, r#"{"reason": "text"}"#)?;
    let (engine, tenant, actor) = (state.engine.clone(), key.tenant().to_string(), key.actor());
    let receipt = blocking(move || engine.place_hold(&tenant, &req.reason, actor).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"seq": receipt.seq})))
}

/// `DELETE /v1/legal-hold`: lifts the hold; `{seq}` of the row. 409 when
/// there is none.
pub(super) async fn delete_hold(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::ADMIN)?;
    let (engine, tenant, actor) = (state.engine.clone(), key.tenant().to_string(), key.actor());
    let receipt = blocking(move || engine.release_hold(&tenant, actor).map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"seq": receipt.seq})))
}
