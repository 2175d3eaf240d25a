//! `GET /v1/verify?from_seq=&to_seq=`: recompute the tenant's chain; with
//! `trusted=CHECKPOINT`, check it against a checkpoint kept outside the
//! store (`checkpoints::verify_trusted`).

use annal_engine::{Scopes, VerifyOutcome};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{blocking, json, params};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /v1/verify`: 200 whether intact or not; `intact` says which.
pub(super) async fn verify(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let mut from = 1u64;
    let mut to = u64::MAX;
    let pairs = params(raw.as_deref())?;
    if let Some((_, trusted)) = pairs.iter().find(|(k, _)| k == "trusted") {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "trusted" && k != "public_key") {
            return Err(ApiError::bad_param(k, "with `trusted`, only `public_key` may be given"));
        }
        let public_key = pairs.iter().find(|(k, _)| k == "public_key").map(|(_, v)| v.as_str());
        return super::checkpoints::verify_trusted(&state, &key, trusted, public_key).await;
    }
    for (k, v) in pairs {
        if k == "public_key" {
            return Err(ApiError::bad_param(&k, "only with `trusted`"));
        }
        let n: u64 = v.parse().map_err(|_| ApiError::bad_param(&k, "must be a whole number"))?;
        match k.as_str() {
            "from_seq" => from = n,
            "to_seq" => to = n,
            _ => return Err(ApiError::bad_param(&k, "unknown parameter; expected `from_seq`, `to_seq` or `trusted`")),
        }
    }
    if to < from {
        return Err(ApiError::bad_param("to_seq", "must not be below `from_seq` (both are inclusive)"));
    }
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let (outcome, head) = blocking(move || {
        let outcome = engine.verify(&tenant, from..=to)?;
        Ok((outcome, engine.head(&tenant)?))
    })
    .await?;
    let chain_head = json!({"seq": head.seq, "head": head.head.to_hex()});
    let body = match outcome {
        VerifyOutcome::Intact(r) => json!({
            "intact": true,
            "count": r.count,
            "first_seq": r.first_seq,
            "last_seq": r.last_seq,
            "head": r.head.to_hex(),
            "chain_head": chain_head,
        }),
        VerifyOutcome::Broken(b) => json!({
            "intact": false,
            "count": b.verified,
            "first_bad_seq": b.seq,
            "reason": b.reason.to_string(),
            "chain_head": chain_head,
        }),
    };
    Ok(json(StatusCode::OK, body))
}
