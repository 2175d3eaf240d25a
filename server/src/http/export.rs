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

use std::borrow::Cow;
use std::ops::ControlFlow;

use annal_engine::{RecordRef, Scopes};
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

fn csv_row<'a>(r: &RecordRef<'a>) -> [Cow<'a, str>; 26] {
    let e = &r.event;
    let o = |v: Option<&'a str>| Cow::Borrowed(v.unwrap_or_default());
    let ns = |n: i64| Cow::Owned(annal_engine::event::format_rfc3339_nanos(n));
    let redactions = if e.redactions.is_empty() {
        String::new()
    } else {
        serde_json::Value::from(
            e.redactions.iter().map(|(path, how)| serde_json::json!({"path": path, "how": how})).collect::<Vec<_>>(),
        )
        .to_string()
    };
    let target = e.target.unwrap_or_default();
    [
        r.seq.to_string().into(),
        ns(i64::try_from(r.recorded_at).unwrap_or(i64::MAX)),
        e.action.into(),
        e.actor_type.as_str().into(),
        e.actor_id.into(),
        o(e.actor_name),
        o(e.actor_email),
        o(e.on_behalf_of),
        e.occurred_at.map(ns).unwrap_or_default(),
        o(e.session_id),
        target.0.into(),
        target.1.into(),
        o(target.2),
        e.outcome.map(|x| x.as_str()).unwrap_or_default().into(),
        o(e.ip),
        o(e.user_agent),
        o(e.input_hash),
        o(e.output_hash),
        o(e.key_ref),
        o(e.idempotency_key),
        o(e.diff),
        o(e.metadata),
        e.policy_version.to_string().into(),
        redactions.into(),
        r.leaf.to_hex().into(),
        r.head.to_hex().into(),
    ]
}

/// The file name an export is offered under: `annal-TENANT-YYYYMMDDTHHMMSSZ.EXT`.
pub(super) fn attachment_name(tenant: &str, ext: &str) -> String {
    let stamp = time::OffsetDateTime::now_utc();
    format!(
        "annal-{tenant}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.{ext}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    )
}

/// `GET /v1/export`.
pub(super) async fn export(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let pairs = params(raw.as_deref())?;
    if pairs.iter().any(|(k, v)| k == "format" && v == "bundle") {
        return super::checkpoints::export_bundle(&state, &key, pairs).await;
    }
    let (query, rest) = query_from(pairs, &["format"])?;
    let format = match rest.first().map(|(_, v)| v.as_str()) {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(_) => return Err(ApiError::bad_param("format", "must be `csv`, `ndjson` or `bundle`")),
    };
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let metrics = state.metrics.clone();
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let t = tenant.clone();
    tokio::task::spawn_blocking(move || {
        // Rows are lent by `Engine::scan` straight from the bytes RocksDB
        // read (no owned copy per row) and written into a buffer that goes
        // to the body every CHUNK_BYTES; the bounded channel holds the scan
        // back while the client is slower, so memory stays constant.
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        let csv_writer = || csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let mut csv = (format == Format::Csv).then(csv_writer);
        if let Some(w) = &mut csv {
            let _ = w.write_record(CSV_COLUMNS);
        }
        // The answer starts with the first row (or the scan's end), so a bad
        // query is a proper problem response and not a broken body.
        let mut ready = Some(ready_tx);
        let mut rows = 0u64;
        let mut client_gone = false;
        let scanned = engine.scan(&t, &query, |r| {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
            rows += 1;
            match &mut csv {
                Some(w) => {
                    let cells = csv_row(r);
                    // Field by field, then the record's end: no row of owned cells.
                    let written = cells.iter().try_for_each(|c| w.write_field(neutralise(c).as_bytes()));
                    if written.and_then(|()| w.write_record(std::iter::empty::<&[u8]>())).is_err() {
                        client_gone = true;
                        return ControlFlow::Break(());
                    }
                    if w.get_ref().len() >= CHUNK_BYTES {
                        match std::mem::replace(w, csv_writer()).into_inner() {
                            Ok(bytes) => buf = bytes,
                            Err(_) => {
                                client_gone = true;
                                return ControlFlow::Break(());
                            }
                        }
                    }
                }
                None => {
                    let _ = serde_json::to_writer(&mut buf, &r.to_owned().to_json());
                    buf.push(b'\n');
                }
            }
            if buf.len() >= CHUNK_BYTES {
                metrics.exported_rows.fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
                rows = 0;
                if tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut buf)))).is_err() {
                    client_gone = true;
                    return ControlFlow::Break(());
                }
                buf.reserve(CHUNK_BYTES + 4096);
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = scanned {
            match ready.take() {
                // Nothing sent yet: the query itself was refused.
                Some(ready) => {
                    let _ = ready.send(Err(ApiError::from(e)));
                }
                None => {
                    tracing::error!(cause = %e, rows, "export stopped by a read error");
                    let _ = tx.blocking_send(Err(std::io::Error::other("export stopped by a read error")));
                }
            }
            return;
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        if client_gone {
            return;
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
    let name = attachment_name(&tenant, ext);
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
