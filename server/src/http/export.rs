//! `GET /v1/export?format=csv|ndjson`: every row of a window, streamed.
//!
//! The engine's [`QueryStream`](annal_engine::QueryStream) reads a bounded
//! chunk of rows at a time on a blocking thread, which encodes them into
//! buffers of about [`CHUNK_BYTES`] and hands them to the response body
//! through a channel of [`CHANNEL_CHUNKS`] slots. A slow client makes the
//! thread wait, never the buffers grow, so memory stays constant whatever
//! the window. The export is a snapshot: rows appended after it started are
//! not in it. A failure mid-stream (a damaged row) ends the body early
//! with the connection reset, so a truncated file is never mistaken for a
//! whole one; the cause is logged.
//!
//! CSV follows RFC 4180 (CRLF line ends, fields quoted when needed) with the
//! header row [`CSV_COLUMNS`]. A text cell that starts with `=`, `+`, `-`,
//! `@`, tab or carriage return gets a leading `'`, so a spreadsheet shows it
//! as text instead of running it as a formula.

use annal_engine::{Record, Scopes};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::events::query_from;
use super::params;
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The CSV header row, in order.
pub const CSV_COLUMNS: [&str; 26] = [
    "seq",
    "recorded_at",
    "action",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_on_behalf_of",
    "occurred_at",
    "session_id",
    "target_type",
    "target_id",
    "target_name",
    "outcome",
    "ip",
    "user_agent",
    "input_hash",
    "output_hash",
    "key_ref",
    "idempotency_key",
    "diff",
    "metadata",
    "policy_version",
    "redactions",
    "leaf",
    "head",
];

/// Bytes gathered before a buffer is sent to the body.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Buffers that may wait for the client.
pub const CHANNEL_CHUNKS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

/// Neutralises a cell a spreadsheet would run as a formula.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn csv_row(r: &Record) -> [String; 26] {
    let e = &r.event;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let ns = |n: i64| annal_engine::event::format_rfc3339_nanos(n);
    let redactions = if e.redactions.is_empty() {
        String::new()
    } else {
        serde_json::Value::from(
            e.redactions.iter().map(|x| serde_json::json!({"path": x.path, "how": x.how})).collect::<Vec<_>>(),
        )
        .to_string()
    };
    [
        r.seq.to_string(),
        ns(i64::try_from(r.recorded_at).unwrap_or(i64::MAX)),
        e.action.clone(),
        e.actor_type.as_str().to_string(),
        e.actor_id.clone(),
        o(&e.actor_name),
        o(&e.actor_email),
        o(&e.on_behalf_of),
        e.occurred_at.map(ns).unwrap_or_default(),
        o(&e.session_id),
        e.target.as_ref().map(|t| t.kind.clone()).unwrap_or_default(),
        e.target.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
        e.target.as_ref().and_then(|t| t.name.clone()).unwrap_or_default(),
        e.outcome.map(|x| x.as_str().to_string()).unwrap_or_default(),
        o(&e.ip),
        o(&e.user_agent),
        o(&e.input_hash),
        o(&e.output_hash),
        o(&e.key_ref),
        o(&e.idempotency_key),
        o(&e.diff),
        o(&e.metadata),
        e.policy_version.to_string(),
        redactions,
        r.leaf.to_hex(),
        r.head.to_hex(),
    ]
}

/// `GET /v1/export`.
pub(super) async fn export(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (query, rest) = query_from(params(raw.as_deref())?, &["format"])?;
    let format = match rest.first().map(|(_, v)| v.as_str()) {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(_) => return Err(ApiError::bad_param("format", "must be `csv` or `ndjson`")),
    };
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let metrics = state.metrics.clone();
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let t = tenant.clone();
    tokio::task::spawn_blocking(move || {
        // The stream is opened before the response starts, so a bad query is
        // a proper problem response and not a broken body.
        let stream = match engine.query_stream(&t, &query) {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(ApiError::from(e)));
                return;
            }
        };
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        let csv_writer = || csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let mut csv = (format == Format::Csv).then(csv_writer);
        if let Some(w) = &mut csv {
            let _ = w.write_record(CSV_COLUMNS);
        }
        let mut rows = 0u64;
        for item in stream {
            let r = match item {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(cause = %e, rows, "export stopped by a read error");
                    let _ = tx.blocking_send(Err(std::io::Error::other("export stopped by a read error")));
                    return;
                }
            };
            rows += 1;
            match &mut csv {
                Some(w) => {
                    let cells = csv_row(&r);
                    if w.write_record(cells.iter().map(|c| neutralise(c).into_owned())).is_err() {
                        return;
                    }
                }
                None => {
                    let _ = serde_json::to_writer(&mut buf, &r.to_json());
                    buf.push(b'\n');
                }
            }
            if let Some(w) = &mut csv {
                if w.get_ref().len() >= CHUNK_BYTES {
                    match std::mem::replace(w, csv_writer()).into_inner() {
                        Ok(bytes) => buf = bytes,
                        Err(_) => return,
                    }
                }
            }
            if buf.len() >= CHUNK_BYTES {
                metrics.exported_rows.fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
                rows = 0;
                if tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut buf)))).is_err() {
                    return; // the client went away
                }
                buf.reserve(CHUNK_BYTES + 4096);
            }
        }
        if let Some(w) = csv {
            match w.into_inner() {
                Ok(bytes) => buf = bytes,
                Err(_) => return,
            }
        }
        metrics.exported_rows.fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
        if !buf.is_empty() {
            let _ = tx.blocking_send(Ok(Bytes::from(buf)));
        }
    });
    ready_rx.await.map_err(|e| ApiError::internal(&e))??;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let (ext, ct) = match format {
        Format::Csv => ("csv", "text/csv; charset=utf-8; header=present"),
        Format::Ndjson => ("ndjson", "application/x-ndjson"),
    };
    let stamp = time::OffsetDateTime::now_utc();
    let name = format!(
        "annal-{tenant}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.{ext}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    );
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    // Tenant ids are ASCII letters, digits, `_`, `-`, `.`: safe in a quoted filename.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for fine in ["", "a=b", "1", "'x", " =x"] {
            assert_eq!(neutralise(fine), fine);
        }
    }
}
