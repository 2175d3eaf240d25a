//! The platform's routes, for platform keys only (scope `platform`; no
//! tenant key can have it, and a platform key has no other): workspaces
//! created, listed and deleted while the server runs (`/v1/tenants`), and
//! backups (`/v1/admin/backups`). Every workspace change is a row of the
//! platform chain (`annal_engine::retention`, "lifecycle"); each deletion
//! step also goes into the deletion ledger beside the backups, when the
//! server has a backup directory, so that a restore never brings a deleted
//! workspace back.

use annal_engine::backup::info_json;
use annal_engine::{Error, Scheduled, Scopes, TenantInfo};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{json_body, params, read_body};
use super::reply::{blocking, json};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

fn rfc3339(ns: u64) -> String {
    annal_engine::event::format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

fn tenant_json(t: &TenantInfo) -> Value {
    json!({
        "tenant": t.tenant,
        "head_seq": t.head_seq,
        "state": if t.deletion.is_some() { "deletion_scheduled" } else { "active" },
        "deletion": t.deletion.as_ref().map(|d| json!({
            "deletion_id": d.id_hex(),
            "scheduled_at": rfc3339(d.scheduled_at),
            "purge_after": rfc3339(d.purge_after),
        })),
    })
}

/// On platform routes a tenant that does not exist is a 404 of its own,
/// not the tenant routes' 401 (which stands for a key whose tenant is gone).
fn not_found(e: Error) -> ApiError {
    match e {
        Error::UnknownTenant => ApiError::new(Problem::NotFound, "no tenant with this id").field("id"),
        e => ApiError::from(e),
    }
}

/// Brings the deletion ledger up to date after a deletion step; a failure
/// is logged (the next backup adds the step from the platform chain).
fn sync_ledger(state: &AppState) {
    if let Some(b) = &state.backups {
        if let Err(e) = b.sync_ledger(&state.engine) {
            tracing::error!(cause = %e, "deletion ledger not updated; the next backup will add the deletion");
        }
    }
}

/// The body of `POST /v1/tenants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    tenant: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

const NEW_TENANT_SHAPE: &str = r#"{"tenant": "id", "label": "text", "scopes": ["admin", ...]}"#;

/// `POST /v1/tenants` with `{"tenant", "label", "scopes"}` (scopes default
/// `["admin"]`): 201 with the workspace and its first key's token, shown
/// this once.
pub(super) async fn create(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let body = read_body(&state, key.tenant(), &headers, body).await?;
    let req: NewTenant = json_body(&body, NEW_TENANT_SHAPE)?;
    let names = req.scopes.unwrap_or_else(|| vec!["admin".into()]);
    let scopes = Scopes::from_names(&names).map_err(|fe| ApiError::from_field(Problem::InvalidKeyRequest, fe))?;
    let engine = state.engine.clone();
    let actor = key.actor();
    let (tenant, (created, token)) = blocking(move || {
        let made = engine.create_tenant(&req.tenant, scopes, &req.label, actor).map_err(|e| match e {
            Error::InvalidTenant(why) => ApiError::new(Problem::InvalidBody, format!("tenant: {why}")).field("tenant"),
            e => ApiError::from(e),
        })?;
        Ok((engine.tenant_info(&req.tenant).map_err(ApiError::from)?, made))
    })
    .await?;
    let mut key = created.to_json();
    key["token"] = token.into();
    Ok(json(StatusCode::CREATED, json!({"tenant": tenant_json(&tenant), "key": key})))
}

/// `GET /v1/tenants`: every workspace, those being deleted included.
pub(super) async fn list(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let engine = state.engine.clone();
    let all = blocking(move || engine.tenant_infos().map_err(ApiError::from)).await?;
    Ok(json(StatusCode::OK, json!({"tenants": all.iter().map(tenant_json).collect::<Vec<_>>()})))
}

/// `GET /v1/tenants/{id}`: one workspace.
pub(super) async fn get(State(state): State<AppState>, key: Key, Path(id): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let engine = state.engine.clone();
    let t = blocking(move || engine.tenant_info(&id).map_err(not_found)).await?;
    Ok(json(StatusCode::OK, tenant_json(&t)))
}

/// `DELETE /v1/tenants/{id}?reason=…`: 202 with the workspace, now closing
/// (its keys authenticate nothing, its rows are served to no one) until its
/// purge after `tenant_deletion_grace_secs`; 200 `{"deleted": …}` when the
/// grace period is 0.
pub(super) async fn delete(
    State(state): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let mut reason = "deleted through the platform api".to_string();
    for (k, v) in params(raw.as_deref())? {
        match k.as_str() {
            "reason" => reason = v,
            _ => return Err(ApiError::bad_param(&k, "unknown parameter; this route takes `reason`")),
        }
    }
    let (engine, grace, actor) = (state.engine.clone(), state.config.tenant_deletion_grace(), key.actor());
    let (scheduled, info) = blocking(move || {
        let s = engine.schedule_tenant_deletion(&id, &reason, grace, actor).map_err(|e| match e {
            Error::InvalidRetention(fe) => ApiError::bad_param("reason", &fe.message),
            e => not_found(e),
        })?;
        let info = engine.tenant_info(&id).ok();
        Ok((s, info))
    })
    .await?;
    sync_ledger(&state);
    match scheduled {
        Scheduled::Deleted(d) => Ok(json(
            StatusCode::OK,
            json!({"deleted": {
                "deletion_id": d.deletion_id, "final_seq": d.final_head.seq,
                "rows_removed": d.rows_removed, "platform_seq": d.receipt.seq,
            }}),
        )),
        Scheduled::Pending(..) | Scheduled::AlreadyPending(_) => {
            let info = info.ok_or_else(|| ApiError::new(Problem::Internal, "the scheduled tenant vanished"))?;
            Ok(json(StatusCode::ACCEPTED, tenant_json(&info)))
        }
    }
}

/// `POST /v1/tenants/{id}/cancel-deletion`: the workspace is served again,
/// with its chain and keys as they were.
pub(super) async fn cancel_deletion(State(state): State<AppState>, key: Key, Path(id): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let (engine, actor) = (state.engine.clone(), key.actor());
    let info = blocking(move || {
        engine.cancel_tenant_deletion(&id, actor).map_err(not_found)?;
        engine.tenant_info(&id).map_err(not_found)
    })
    .await?;
    sync_ledger(&state);
    Ok(json(StatusCode::OK, tenant_json(&info)))
}

fn backups(state: &AppState) -> ApiResult<annal_engine::Backups> {
    state.backups.clone().ok_or_else(|| {
        ApiError::new(Problem::BackupsNotConfigured, "the server was started without a backup directory (`backup_dir`)")
    })
}

/// `POST /v1/admin/backups`: takes a backup now (incremental, while appends
/// go on) and answers 201 with it once it is complete. Not verified here:
/// the scheduled backups are, and `annal backup verify` is the drill.
pub(super) async fn create_backup(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let backups = backups(&state)?;
    let (engine, keep, metrics) = (state.engine.clone(), state.config.backup_keep, state.metrics.clone());
    let made = blocking(move || {
        let made = backups.create(&engine, Some(keep));
        metrics.backup.record_backup(made.as_ref().map(|c| &c.backup));
        made.map_err(ApiError::from)
    })
    .await?;
    let unchecked: Vec<Value> = made.unchecked.iter().map(|(t, e)| json!({"tenant": t, "error": e.to_string()})).collect();
    Ok(json(StatusCode::CREATED, json!({"backup": info_json(&made.backup), "unchecked": unchecked})))
}

/// `GET /v1/admin/backups`: the backups kept, oldest first, and the last
/// scheduled backup's and verification's outcome.
pub(super) async fn list_backups(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::PLATFORM)?;
    let backups = backups(&state)?;
    let all = blocking(move || backups.list().map_err(ApiError::from)).await?;
    Ok(json(
        StatusCode::OK,
        json!({"backups": all.iter().map(info_json).collect::<Vec<_>>(), "status": state.metrics.backup.to_json()}),
    ))
}
