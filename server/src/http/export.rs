//! `GET /v1/export?format=csv|ndjson|bundle`: every row of a window,
//! streamed as CSV or NDJSON, or the window as one self-verifying bundle
//! (docs/FORMAT.md, "Export bundles").
//!
//! Rows are lent by [`Engine::scan`] straight from the bytes RocksDB read
//! (no owned copy per row) on a blocking thread, encoded into the body
//! writer of [`super::download`], which streams them in constant memory
//! whatever the window. The export is a snapshot: rows appended after it
//! started are not in it. A failure after the first piece went out (a
//! damaged row) ends the body with the connection reset, never as a short
//! file that looks whole.
//!
//! CSV follows RFC 4180 (CRLF line ends, fields quoted when needed) with the
//! header row [`CSV_COLUMNS`]. A text cell that starts with `=`, `+`, `-`,
//! `@`, tab or carriage return gets a leading `'`, so a spreadsheet shows it
//! as text instead of running it as a formula.

use std::borrow::Cow;
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use annal_engine::{Engine, Query, RecordRef, Scopes};
use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::download::{attachment_name, stream_blocking, BodyWriter};
use super::events::query_from;
use super::input::{params, whole};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
    Bundle,
}

impl Format {
    /// The file name's extension and the media type.
    fn file(self) -> (&'static str, &'static str) {
        match self {
            Format::Csv => ("csv", "text/csv; charset=utf-8; header=present"),
            Format::Ndjson => ("ndjson", "application/x-ndjson"),
            Format::Bundle => ("bundle", "application/vnd.annal.bundle"),
        }
    }
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
    // Written as text: a `Value` tree of the list per row cost more than
    // the rest of the row.
    let mut redactions = String::new();
    if !e.redactions.is_empty() {
        e.write_redactions_json(&mut redactions);
    }
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

/// `GET /v1/export`.
pub(super) async fn export(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let pairs = params(raw.as_deref())?;
    let format = match pairs.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()) {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some("bundle") => Format::Bundle,
        Some(_) => return Err(ApiError::bad_param("format", "must be `csv`, `ndjson` or `bundle`")),
    };
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (ext, media_type) = format.file();
    let name = attachment_name(&tenant, ext);
    if format == Format::Bundle {
        return stream_blocking(media_type, name, move |body| {
            let (lo, hi) = bundle_window(&engine, &tenant, &pairs)?;
            engine.write_bundle(&tenant, lo, hi, body)?;
            Ok(())
        })
        .await;
    }
    // Checked before anything streams: a bad filter is a 400 of its own.
    let (query, _) = query_from(pairs, &["format"])?;
    let metrics = state.metrics.clone();
    stream_blocking(media_type, name, move |body| match format {
        Format::Csv => write_csv(&engine, &tenant, &query, &metrics, body),
        _ => write_ndjson(&engine, &tenant, &query, &metrics, body),
    })
    .await
}

/// The rows as CSV, header row first. Cells are written one by one, then
/// the record's end: no row of owned cells.
fn write_csv(engine: &Engine, tenant: &str, query: &Query, metrics: &Metrics, body: &mut BodyWriter) -> ApiResult<()> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(body);
    // A write fails only once the client went away; the scan then stops.
    let _ = w.write_record(CSV_COLUMNS);
    engine.scan(tenant, query, |r| {
        metrics.exported_rows.fetch_add(1, Ordering::Relaxed);
        let written = csv_row(r).iter().try_for_each(|c| w.write_field(neutralise(c).as_bytes()));
        match written.and_then(|()| w.write_record(std::iter::empty::<&[u8]>())) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    })?;
    let _ = w.flush();
    Ok(())
}

/// The rows as NDJSON, one row a line as `RecordRef::write_json` writes it
/// (the shape of `Record::to_json`, written from the borrowed row).
fn write_ndjson(engine: &Engine, tenant: &str, query: &Query, metrics: &Metrics, body: &mut BodyWriter) -> ApiResult<()> {
    let mut line = String::with_capacity(2048);
    engine.scan(tenant, query, |r| {
        metrics.exported_rows.fetch_add(1, Ordering::Relaxed);
        line.clear();
        r.write_json(&mut line);
        line.push('\n');
        match body.write_all(line.as_bytes()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    })?;
    Ok(())
}

/// The window of a bundle: seqs (`from_seq`, `to_seq`, inclusive) or
/// times on `recorded_at` (`from`, `to`), or both (their intersection).
fn bundle_window(engine: &Engine, tenant: &str, pairs: &[(String, String)]) -> ApiResult<(u64, u64)> {
    let (mut lo, mut hi) = (1u64, u64::MAX);
    let (mut from, mut to) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "from_seq" => lo = whole(k, v)?,
            "to_seq" => hi = whole(k, v)?,
            "from" => from = Some(annal_engine::query::parse_instant(k, v)?),
            "to" => to = Some(annal_engine::query::parse_instant(k, v)?),
            "format" => {}
            _ => {
                return Err(ApiError::bad_param(
                    k,
                    "unknown parameter for a bundle; expected `from_seq`, `to_seq`, `from` or `to`",
                ))
            }
        }
    }
    if hi < lo {
        return Err(ApiError::bad_param("to_seq", "must not be below `from_seq` (both are inclusive)"));
    }
    if from.is_some() || to.is_some() {
        match engine.seqs_recorded_in(tenant, from.unwrap_or(0), to.unwrap_or(u64::MAX))? {
            Some((a, b)) => (lo, hi) = (lo.max(a), hi.min(b)),
            None => return Err(ApiError::bad_param("from", "no row of the tenant was recorded in this window")),
        }
    }
    Ok((lo, hi))
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
