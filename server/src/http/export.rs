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
//! Every export is recorded in the chain it read (`annal.log.exported`,
//! [`annal_engine::access`]) after its last piece and before its body ends
//! (a client holding the whole file knows the export is in the log), with
//! its filter, its format and the rows the client got; an engine that cannot append (a
//! failed disk write) refuses exports, so none goes unrecorded for that.
//!
//! CSV follows RFC 4180 (CRLF line ends, fields quoted when needed) with the
//! header row [`CSV_COLUMNS`]. A text cell that starts with `=`, `+`, `-`,
//! `@`, tab or carriage return gets a leading `'`, so a spreadsheet shows it
//! as text instead of running it as a formula.

use std::fmt::Write as _;
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use annal_engine::{Actor, Engine, ExportRecord, Query, RecordRef, Scopes};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Extension;

use super::download::{attachment_name, stream_blocking, BodyWriter, Hangup};
use super::events::query_from;
use super::input::{params, whole};
use crate::admission::Work;
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

/// Whether a spreadsheet would run `cell` as a formula: it then gets a leading `'`.
fn starts_formula(cell: &str) -> bool {
    matches!(cell.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// One CSV record being written into a line buffer: cells neutralised and
/// quoted as RFC 4180 needs (a cell holding `"`, `,`, CR or LF is quoted,
/// its quotes doubled; the rules of the csv crate's `QuoteStyle::Necessary`,
/// which a test holds this to), comma-separated, ended by CRLF. Written by
/// hand: the csv crate's per-field state machine, its buffer and its copy
/// into the body were a fifth of an export's CPU.
struct CsvLine<'b> {
    out: &'b mut String,
    first: bool,
}

impl<'b> CsvLine<'b> {
    fn start(out: &'b mut String) -> CsvLine<'b> {
        out.clear();
        CsvLine { out, first: true }
    }

    /// Starts the next cell and returns the buffer, for a cell that needs no
    /// quoting and cannot start a formula (digits, times, hex).
    fn plain(&mut self) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out
    }

    /// A text cell.
    fn text(&mut self, cell: &str) {
        let formula = starts_formula(cell);
        let out = self.plain();
        if !cell.bytes().any(|b| matches!(b, b'"' | b',' | b'\r' | b'\n')) {
            if formula {
                out.push('\'');
            }
            out.push_str(cell);
            return;
        }
        out.push('"');
        if formula {
            out.push('\'');
        }
        // JSON cells (diff, metadata) are full of quotes: memchr's vector
        // search finds them faster than `match_indices`' word-at-a-time one.
        let mut run = 0;
        for i in memchr::memchr_iter(b'"', cell.as_bytes()) {
            out.push_str(&cell[run..=i]);
            out.push('"');
            run = i + 1;
        }
        out.push_str(&cell[run..]);
        out.push('"');
    }

    fn opt(&mut self, cell: Option<&str>) {
        self.text(cell.unwrap_or_default());
    }

    fn end(self) {
        self.out.push_str("\r\n");
    }
}

/// Writes `r` as one CSV record of [`CSV_COLUMNS`] into `line`.
fn csv_row(r: &RecordRef<'_>, line: &mut String) {
    let e = &r.event;
    let mut w = CsvLine::start(line);
    let _ = write!(w.plain(), "{}", r.seq);
    annal_engine::event::write_rfc3339_nanos(i64::try_from(r.recorded_at).unwrap_or(i64::MAX), w.plain());
    w.text(e.action);
    w.text(e.actor_type.as_str());
    w.text(e.actor_id);
    w.opt(e.actor_name);
    w.opt(e.actor_email);
    w.opt(e.on_behalf_of);
    let at = w.plain();
    if let Some(ns) = e.occurred_at {
        annal_engine::event::write_rfc3339_nanos(ns, at);
    }
    w.opt(e.session_id);
    let target = e.target.unwrap_or_default();
    w.text(target.0);
    w.text(target.1);
    w.opt(target.2);
    w.opt(e.outcome.map(|x| x.as_str()));
    w.opt(e.ip);
    w.opt(e.user_agent);
    w.opt(e.input_hash);
    w.opt(e.output_hash);
    w.opt(e.key_ref);
    w.opt(e.idempotency_key);
    w.opt(e.diff);
    w.opt(e.metadata);
    let _ = write!(w.plain(), "{}", e.policy_version);
    if e.redactions.is_empty() {
        w.text("");
    } else {
        let mut list = String::new();
        e.write_redactions_json(&mut list);
        w.text(&list);
    }
    r.leaf.push_hex(w.plain());
    r.head.push_hex(w.plain());
    w.end();
}

/// `GET /v1/export`.
pub(super) async fn export(
    State(state): State<AppState>,
    key: Key,
    hangup: Option<Extension<Hangup>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let pairs = params(raw.as_deref())?;
    let format = match pairs.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()) {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some("bundle") => Format::Bundle,
        Some(_) => return Err(ApiError::bad_param("format", "must be `csv`, `ndjson` or `bundle`")),
    };
    // An export that could not be recorded must not happen: an engine that
    // takes no appends (a failed disk write) refuses exports too.
    if let Some(e) = state.engine.poisoned() {
        return Err(e.into());
    }
    let (engine, tenant) = (state.engine.clone(), key.tenant().to_string());
    let (ext, media_type) = format.file();
    let name = attachment_name(&tenant, ext);
    let stall = (state.config.export_stall_timeout(), hangup.map(|Extension(h)| h));
    let filter: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "format").cloned().collect();
    let record = {
        let (engine, tenant, actor) = (engine.clone(), tenant.clone(), key.actor());
        move |rows: u64, whole: bool| record(&engine, &tenant, actor, ext, &filter, rows, whole)
    };
    if format == Format::Bundle {
        let slot = state.admission.admit(Work::Export, &tenant)?;
        let produce = move |body: &mut BodyWriter| {
            let written =
                bundle_window(&engine, &tenant, &pairs).and_then(|(lo, hi)| Ok(engine.write_bundle(&tenant, lo, hi, body)?));
            match written {
                Ok(report) => (Ok(()), report.rows),
                Err(e) => (Err(e), 0),
            }
        };
        return stream_blocking(slot, stall, media_type, name, produce, record).await;
    }
    // Checked before anything streams: a bad filter is a 400 of its own.
    let (query, _) = query_from(pairs, &["format"])?;
    let metrics = state.metrics.clone();
    let slot = state.admission.admit(Work::Export, &tenant)?;
    let produce = move |body: &mut BodyWriter| {
        let (header, encode): (_, fn(&RecordRef<'_>, &mut String)) = match format {
            Format::Csv => (Some(csv_header()), csv_row),
            _ => (None, ndjson_row),
        };
        write_lines(&engine, &tenant, &query, &metrics, body, header.as_deref(), encode)
    };
    stream_blocking(slot, stall, media_type, name, produce, record).await
}

/// Appends the export's row (`annal.log.exported`) to the chain it read,
/// after the body's last piece: with the rows written and whether the
/// client gets all of them. An export that failed before sending anything is not
/// one. A failure to record is logged: the rows are already out.
fn record(engine: &Engine, tenant: &str, actor: Actor, format: &str, filter: &[(String, String)], rows: u64, whole: bool) {
    if rows == 0 && !whole {
        return;
    }
    let export = ExportRecord { format, filter, rows, complete: whole };
    if let Err(e) = engine.record_export(tenant, actor, &export) {
        tracing::error!(tenant, error = %e, "an export could not be recorded in the chain");
    }
}

/// Every row of `query`, each written by `encode` into one line buffer and
/// that into the body, after `header` if any; with the rows the body took.
/// A write fails only once the client went away: the scan then stops.
fn write_lines(
    engine: &Engine,
    tenant: &str,
    query: &Query,
    metrics: &Metrics,
    body: &mut BodyWriter,
    header: Option<&str>,
    encode: fn(&RecordRef<'_>, &mut String),
) -> (ApiResult<()>, u64) {
    let mut rows = 0;
    if header.is_some_and(|h| body.write_all(h.as_bytes()).is_err()) {
        return (Ok(()), rows);
    }
    let mut line = String::with_capacity(4096);
    let scanned = engine.scan(tenant, query, |r| {
        metrics.exported_rows.fetch_add(1, Ordering::Relaxed);
        encode(r, &mut line);
        if body.write_all(line.as_bytes()).is_err() {
            return ControlFlow::Break(());
        }
        rows += 1;
        ControlFlow::Continue(())
    });
    (scanned.map(|_| ()).map_err(ApiError::from), rows)
}

/// The CSV header row, [`CSV_COLUMNS`].
fn csv_header() -> String {
    let mut header = String::new();
    let mut w = CsvLine::start(&mut header);
    for c in CSV_COLUMNS {
        w.text(c);
    }
    w.end();
    header
}

/// One NDJSON line as `RecordRef::write_json` writes a row (the shape of
/// `Record::to_json`, written from the borrowed row).
fn ndjson_row(r: &RecordRef<'_>, line: &mut String) {
    line.clear();
    r.write_json(line);
    line.push('\n');
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

    fn line(cells: &[&str]) -> String {
        let mut out = String::new();
        let mut w = CsvLine::start(&mut out);
        for c in cells {
            w.text(c);
        }
        w.end();
        out
    }

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx"] {
            assert_eq!(line(&[bad]), format!("'{bad}\r\n"));
        }
        assert_eq!(line(&["\rx"]), "\"'\rx\"\r\n");
        for fine in ["a=b", "1", "'x", " =x"] {
            assert_eq!(line(&[fine]), format!("{fine}\r\n"));
        }
    }

    #[test]
    fn lines_are_what_the_csv_crate_writes_for_the_neutralised_cells() {
        let cells = [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "\"\"",
            "line\nbreak",
            "cr\rhere",
            "crlf\r\n",
            "=1+1",
            "=a,b",
            "-\"x\"",
            "@x\n",
            "\t",
            "+",
            "é, ü \u{2028}",
            "{\"a\":[1,2]}",
            " lead",
            "trail ",
            "'",
            "\\",
            "x\u{0}y",
        ];
        for n in 1..=cells.len() {
            let record: Vec<&str> = cells.iter().cycle().skip(n).take(n.max(2)).copied().collect();
            let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
            let neutralised: Vec<String> =
                record.iter().map(|c| if starts_formula(c) { format!("'{c}") } else { c.to_string() }).collect();
            w.write_record(&neutralised).unwrap();
            let expected = String::from_utf8(w.into_inner().unwrap()).unwrap();
            assert_eq!(line(&record), expected, "{record:?}");
        }
    }
}
