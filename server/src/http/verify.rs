//! `GET /v1/verify?from_seq=&to_seq=`: recompute the tenant's chain; with
//! `since=checkpoint`, only from its latest signed checkpoint on; with
//! `trusted=CHECKPOINT`, check it against a checkpoint kept outside the
//! store (docs/SECURITY.md).
//!
//! The whole chain stays the default: a verification that starts at a
//! checkpoint does not read the rows before it again, so it cannot see a
//! change to one of them. `since=checkpoint` is for the frequent check
//! (a monitor, the console) whose cost must not grow with the chain.

use annal_engine::checkpoint::key::{from_hex, hex};
use annal_engine::checkpoint::{Checkpoint, Connection, TrustedOutcome};
use annal_engine::{Scopes, VerifyOutcome};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::input::{params, whole};
use super::reply::{blocking, json};
use crate::admission::Work;
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /v1/verify`: 200 whether intact or not; `intact` says which.
pub(super) async fn verify(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let mut from = 1u64;
    let mut to = u64::MAX;
    let mut since_checkpoint = false;
    let pairs = params(raw.as_deref())?;
    if let Some((_, trusted)) = pairs.iter().find(|(k, _)| k == "trusted") {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "trusted" && k != "public_key") {
            return Err(ApiError::bad_param(k, "with `trusted`, only `public_key` may be given"));
        }
        let public_key = pairs.iter().find(|(k, _)| k == "public_key").map(|(_, v)| v.as_str());
        return verify_trusted(&state, &key, trusted, public_key).await;
    }
    for (k, v) in pairs {
        if k == "public_key" {
            return Err(ApiError::bad_param(&k, "only with `trusted`"));
        }
        match k.as_str() {
            "from_seq" => from = whole(&k, &v)?,
            "to_seq" => to = whole(&k, &v)?,
            "since" if v == "checkpoint" => since_checkpoint = true,
            "since" => return Err(ApiError::bad_param(&k, "must be `checkpoint`")),
            _ => return Err(ApiError::bad_param(&k, "unknown parameter; expected `from_seq`, `to_seq`, `since` or `trusted`")),
        }
    }
    if to < from {
        return Err(ApiError::bad_param("to_seq", "must not be below `from_seq` (both are inclusive)"));
    }
    if since_checkpoint && (from, to) != (1, u64::MAX) {
        return Err(ApiError::bad_param("since", "cannot be given with `from_seq` or `to_seq`"));
    }
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let slot = state.admission.admit(Work::Verify, &tenant)?;
    let (outcome, since, head) = blocking(move || {
        let _slot = slot;
        let (since, outcome) =
            if since_checkpoint { engine.verify_since_checkpoint(&tenant)? } else { (None, engine.verify(&tenant, from..=to)?) };
        Ok((outcome, since, engine.head(&tenant)?))
    })
    .await?;
    let chain_head = json!({"seq": head.seq, "head": head.head.to_hex()});
    let mut body = match outcome {
        VerifyOutcome::Intact(r) => json!({
            "intact": true,
            "count": r.count,
            "first_seq": r.first_seq,
            "last_seq": r.last_seq,
            "head": r.head.to_hex(),
            "content_unchecked": r.content_unchecked,
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
    if since_checkpoint {
        // Which checkpoint the rows were linked from; null: none to resume
        // from, the whole chain was verified.
        body["since_checkpoint"] =
            since.map_or(Value::Null, |cp| json!({"seq": cp.seq, "head": cp.head.to_hex(), "key_id": hex(&cp.key_id)}));
    }
    Ok(json(StatusCode::OK, body))
}

/// `GET /v1/verify?trusted=CHECKPOINT[&public_key=HEX]`: whether the store
/// still holds the chain `trusted` (a checkpoint's JSON, as kept) signed
/// and extends it. 200 either way; `extends` says which, `reason` why not.
async fn verify_trusted(state: &AppState, key: &Key, trusted: &str, public_key: Option<&str>) -> ApiResult<Response> {
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
    let slot = state.admission.admit(Work::Verify, key.tenant())?;
    let outcome = blocking(move || {
        let _slot = slot;
        engine.verify_trusted(&cp, required.as_ref()).map_err(ApiError::from)
    })
    .await?;
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
