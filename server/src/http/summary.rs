//! What a reader needs beside pages of rows, all for keys with the `read`
//! scope (the audit console's first requests, and any client's):
//! `GET /v1/overview` (who is signed in, the chain's head, its latest
//! signed checkpoint, its retention, hold and what retention deleted),
//! `GET /v1/actions` (the tenant's distinct action names, from the action
//! index) and `GET /v1/histogram` (a window's rows per hour or day by
//! outcome, counted like an export walks them, within the export bounds
//! of `admission.rs` and at most `histogram_max_rows` rows).

use annal_engine::summary::{Bucket, Histogram};
use annal_engine::{Error, Retention, RetentionStatus, Scopes};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::events::query_from;
use super::input::{params, whole};
use super::reply::{blocking, json, read};
use super::retention::status_json;
use crate::admission::Work;
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most action names one `GET /v1/actions` answers.
pub const MAX_ACTIONS: usize = 1000;

/// A window of at most this many days is counted by the hour when no
/// `bucket` is given.
const HOURLY_UP_TO_DAYS: u64 = 3;

fn rfc3339(ns: u64) -> String {
    annal_engine::event::format_rfc3339_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

/// `GET /v1/overview`: `{tenant, key, head, retention, checkpoint}`. A
/// tenant without rows yet has head seq 0, the default retention and no
/// checkpoint.
pub(super) async fn overview(State(state): State<AppState>, key: Key) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (head, retention, checkpoint) = read(&state, key.tenant(), move || {
        let unknown_is = |e: Error| if matches!(e, Error::UnknownTenant) { Ok(()) } else { Err(ApiError::from(e)) };
        let head = match engine.head(&tenant) {
            Ok(h) => Some(h),
            Err(e) => unknown_is(e).map(|()| None)?,
        };
        let retention = match engine.retention(&tenant) {
            Ok(s) => s,
            Err(e) => unknown_is(e).map(|()| RetentionStatus { retention: Retention::default(), hold: None, anchor: None })?,
        };
        let checkpoint = match engine.latest_checkpoint(&tenant) {
            Ok(c) => c,
            Err(e) => unknown_is(e).map(|()| None)?,
        };
        Ok((head, retention, checkpoint))
    })
    .await?;
    let head = match head {
        Some(h) if h.seq > 0 => json!({"seq": h.seq, "head": h.head.to_hex(), "recorded_at": rfc3339(h.recorded_at)}),
        _ => json!({"seq": 0, "head": null, "recorded_at": null}),
    };
    let k = &key.0;
    Ok(json(
        StatusCode::OK,
        json!({
            "tenant": k.tenant,
            "key": {"id": k.id, "label": k.label, "scopes": k.scopes.names()},
            "head": head,
            "retention": status_json(&retention),
            "checkpoint": checkpoint.map(|c| c.to_json()),
        }),
    ))
}

/// `GET /v1/actions?prefix=&limit=`: `{actions, complete}`, sorted.
pub(super) async fn actions(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (mut prefix, mut limit) = (String::new(), MAX_ACTIONS);
    for (k, v) in params(raw.as_deref())? {
        match k.as_str() {
            "prefix" => prefix = v,
            "limit" => {
                limit = usize::try_from(whole(&k, &v)?).unwrap_or(usize::MAX);
                if !(1..=MAX_ACTIONS).contains(&limit) {
                    return Err(ApiError::bad_param("limit", format!("must be 1 to {MAX_ACTIONS}")));
                }
            }
            _ => return Err(ApiError::bad_param(&k, "unknown parameter; expected `prefix` or `limit`")),
        }
    }
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (names, complete) = read(&state, key.tenant(), move || match engine.action_names(&tenant, &prefix, limit) {
        Err(Error::UnknownTenant) => Ok((Vec::new(), true)),
        other => other.map_err(ApiError::from),
    })
    .await?;
    Ok(json(StatusCode::OK, json!({"actions": names, "complete": complete})))
}

/// `GET /v1/histogram?bucket=hour|day&from=…&to=…&<filters>`:
/// `{bucket, buckets: [{start, end, success, failure, denied, none, total}],
/// rows, complete}`, every bucket of the window listed, empty ones too.
pub(super) async fn histogram(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (query, rest) = query_from(params(raw.as_deref())?, &["bucket"])?;
    let bucket = match rest.first() {
        Some((k, v)) => Bucket::parse(k, v)?,
        None => match (query.from, query.to) {
            (Some(f), Some(t)) if t.saturating_sub(f) <= HOURLY_UP_TO_DAYS * Bucket::Day.ns() => Bucket::Hour,
            _ => Bucket::Day,
        },
    };
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let max_rows = state.config.histogram_max_rows;
    let slot = state.admission.admit(Work::Export, &tenant)?;
    let q = query.clone();
    let h = blocking(move || {
        let _slot = slot;
        match engine.histogram(&tenant, &q, bucket, max_rows) {
            // No rows yet: every bucket empty.
            Err(Error::UnknownTenant) => Ok(None),
            other => other.map(Some).map_err(ApiError::from),
        }
    })
    .await?;
    let h = match h {
        Some(h) => h,
        None => Histogram::empty(&query, bucket)?,
    };
    Ok(json(StatusCode::OK, histogram_json(&h)))
}

fn histogram_json(h: &Histogram) -> Value {
    let width = h.bucket.ns();
    let buckets: Vec<Value> = h
        .buckets
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let start = h.start + i as u64 * width;
            json!({
                "start": rfc3339(start), "end": rfc3339(start + width),
                "success": c.success, "failure": c.failure, "denied": c.denied, "none": c.none, "total": c.total(),
            })
        })
        .collect();
    json!({"bucket": h.bucket.as_str(), "buckets": buckets, "rows": h.rows, "complete": h.complete})
}
