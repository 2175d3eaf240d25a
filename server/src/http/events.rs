//! `POST /v1/events` (append), `GET /v1/events` (query a page) and
//! `GET /v1/events/{seq}`.
//!
//! **Bodies.** `application/json` holds one event object or an array of
//! them; `application/x-ndjson` one event per line (blank lines skipped).
//! Every event is parsed and checked before anything is stored; any bad one
//! rejects the whole request with 422 and an `errors` list of
//! `{index, field, detail}`.
//!
//! **key_ref.** Every row records the id of the api key that wrote it as
//! `key_ref`: the server sets it, overriding the client. A client's own
//! `key_ref` that differs (a reference from the audited system, say) is kept
//! as `metadata.client_key_ref`, so nothing the client sent is lost and the
//! field the index serves stays authoritative.
//!
//! **Idempotency-Key.** For a request of exactly one event, the header is
//! the event's `idempotency_key`; a retry within the engine's window gets
//! the first receipt back (200, `replayed: true`) instead of a second row.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::time::Instant;

use annal_engine::{BorrowedEvent, FieldError, Limits, Query, Receipt, Scopes};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::value::RawValue;
use serde_json::Value;

use super::input::{malformed_json, params, read_body, read_ndjson_body};
use super::reply::{blocking, json_text, read};
use crate::auth::Key;
use crate::error::{ApiError, ApiResult, IndexedError};
use crate::problem::Problem;
use crate::state::AppState;

/// Metadata key that keeps a client's own `key_ref`.
pub const CLIENT_KEY_REF: &str = "client_key_ref";

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    Ndjson,
}

fn framing(headers: &HeaderMap) -> ApiResult<Framing> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Framing::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Framing::Ndjson),
        _ => Err(ApiError::new(
            Problem::UnsupportedMediaType,
            "Content-Type must be application/json (one event or an array) or application/x-ndjson (one event per line)",
        )
        .field("Content-Type")),
    }
}

/// Parses the body into events, or every problem found with its index.
///
/// When some events do not parse, the others are validated too, so one
/// answer lists every problem of the request and not just the first kind.
/// The events borrow their strings from `body` (only a string with an
/// escape is copied).
fn parse_events<'b>(framing: Framing, body: &'b [u8], max: usize, limits: &Limits) -> ApiResult<(Vec<BorrowedEvent<'b>>, bool)> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut push = |i: usize, r: Result<BorrowedEvent<'b>, FieldError>| match r {
        Ok(e) => events.push((i, e)),
        Err(fe) => errors.push(IndexedError::new(i, fe)),
    };
    let too_many = |n: usize| ApiError::new(Problem::BatchTooLarge, format!("{n} events in one request; the maximum is {max}"));
    let single;
    match framing {
        Framing::Json if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') => {
            // Each element is found without being parsed, then read
            // straight into an event like an NDJSON line.
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| malformed_json(&e))?;
            single = false;
            if items.len() > max {
                return Err(too_many(items.len()));
            }
            for (i, item) in items.into_iter().enumerate() {
                push(i, BorrowedEvent::from_json_slice(item.get().as_bytes()));
            }
        }
        Framing::Json => {
            // One event; a body that is not JSON at all is one problem.
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| malformed_json(&e))?;
            single = true;
            push(0, BorrowedEvent::from_json_slice(body));
        }
        Framing::Ndjson => {
            let lines = ndjson_lines(body);
            if lines.len() > max {
                return Err(too_many(lines.len()));
            }
            single = lines.len() == 1;
            for (i, line) in lines.into_iter().enumerate() {
                push(i, BorrowedEvent::from_json_slice(line));
            }
        }
    }
    if !errors.is_empty() {
        for (i, e) in &events {
            if let Err(fe) = e.validate(limits) {
                errors.push(IndexedError::new(*i, fe));
            }
        }
        errors.sort_by_key(|e| e.index);
        let mut e = ApiError::new(
            Problem::InvalidBatch,
            format!("{} event(s) rejected; nothing of the request was stored", errors.len()),
        );
        if single {
            e.field = Some(errors[0].field.clone());
        }
        e.errors = errors;
        return Err(e);
    }
    if events.is_empty() {
        return Err(ApiError::new(Problem::EmptyBatch, "the request holds no events"));
    }
    Ok((events.into_iter().map(|(_, e)| e).collect(), single))
}

/// The lines of an NDJSON body that hold something (blank ones skipped).
fn ndjson_lines(body: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len())) {
        let line = &body[start..end];
        if !line.iter().all(u8::is_ascii_whitespace) {
            lines.push(line);
        }
        start = end + 1;
    }
    lines
}

/// Sets `key_ref` to the writing key, keeping a different client value in
/// `metadata.client_key_ref`.
fn stamp_key_ref(event: &mut BorrowedEvent<'_>, key_id: &str) -> Result<(), FieldError> {
    if let Some(theirs) = event.key_ref.take() {
        if theirs != key_id {
            let meta = event.metadata.get_or_insert_with(Default::default).to_mut();
            if meta.contains_key(CLIENT_KEY_REF) {
                return Err(FieldError {
                    field: format!("metadata.{CLIENT_KEY_REF}"),
                    message: "is where the server keeps a client's own key_ref; send either key_ref or this, not both".into(),
                });
            }
            meta.insert(CLIENT_KEY_REF.into(), Value::String(theirs.into_owned()));
        }
    }
    event.key_ref = Some(Cow::Owned(key_id.to_string()));
    Ok(())
}

/// `{"count": N, "receipts": [{head, leaf, recorded_at, recorded_at_ns,
/// replayed, seq}, …]}`, written as text: an answer to a thousand events
/// holds two thousand hashes, and a `Value` tree of them cost more than
/// the rest of the answer.
fn receipts_json(receipts: &[Receipt]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(40 + receipts.len() * 230);
    let _ = write!(out, "{{\"count\":{},\"receipts\":[", receipts.len());
    for (i, r) in receipts.iter().enumerate() {
        out.push_str(if i == 0 { "{\"head\":\"" } else { ",{\"head\":\"" });
        r.head.push_hex(&mut out);
        out.push_str("\",\"leaf\":\"");
        r.leaf.push_hex(&mut out);
        out.push_str("\",\"recorded_at\":\"");
        annal_engine::event::write_rfc3339_nanos(i64::try_from(r.recorded_at).unwrap_or(i64::MAX), &mut out);
        let _ = write!(out, "\",\"recorded_at_ns\":{},\"replayed\":{},\"seq\":{}}}", r.recorded_at, r.replayed, r.seq);
    }
    out.push_str("]}");
    out
}

/// The events of a request body, checked, with the `Idempotency-Key`
/// header applied and every `key_ref` stamped.
fn request_events<'b>(
    framing: Framing,
    body: &'b [u8],
    max: usize,
    limits: &Limits,
    idem: Option<String>,
    key_id: &str,
) -> ApiResult<Vec<BorrowedEvent<'b>>> {
    let (mut events, single) = parse_events(framing, body, max, limits)?;
    if let Some(k) = idem {
        if !single {
            return Err(ApiError::bad_param(
                "Idempotency-Key",
                "applies to a request of one event; give each event of a batch its own idempotency_key",
            ));
        }
        match &events[0].idempotency_key {
            Some(own) if *own != k => {
                return Err(ApiError::new(Problem::InvalidEvent, "idempotency_key differs from the Idempotency-Key header")
                    .field("idempotency_key"))
            }
            _ => events[0].idempotency_key = Some(Cow::Owned(k)),
        }
    }
    let mut errors = Vec::new();
    for (i, e) in events.iter_mut().enumerate() {
        if let Err(fe) = stamp_key_ref(e, key_id) {
            errors.push(IndexedError::new(i, fe));
        }
    }
    if !errors.is_empty() {
        let mut e = ApiError::new(Problem::InvalidBatch, "nothing of the request was stored");
        e.errors = errors;
        return Err(e);
    }
    Ok(events)
}

/// `POST /v1/events`.
pub(super) async fn append(State(state): State<AppState>, key: Key, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    key.require(Scopes::INGEST)?;
    let framing = framing(&headers)?;
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::bad_param("Idempotency-Key", "must be visible ASCII"))?.to_string()),
    };
    // Held (and counted in the budget of bodies in flight) until the
    // answer: the parsed events live as long.
    let held = match framing {
        Framing::Ndjson => read_ndjson_body(&state, key.tenant(), &headers, body, state.config.max_batch_events).await?,
        Framing::Json => read_body(&state, key.tenant(), &headers, body).await?,
    };
    let body = held.bytes.clone();
    let max = state.config.max_batch_events;
    let key_id = key.0.id.clone();
    let tenant = key.tenant().to_string();
    // Parsing and preparing a thousand events is milliseconds of CPU: a
    // large body is parsed, prepared and handed to the writer in one
    // `blocking` call (off the runtime; one hand-over of the worker, not one
    // for the parse and one for the preparation); a small one (most appends
    // are a handful of events) is cheaper done right here. Either way
    // nothing waits for the fsync on a thread: the engine calls back when
    // the rows are durable.
    let off_runtime = body.len() > INLINE_BODY_BYTES;
    let start = Instant::now();
    let mut attempts = 0;
    let receipts = loop {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = move |r| {
            let _ = tx.send(r);
        };
        let (engine, tenant, body, idem, key_id) =
            (state.engine.clone(), tenant.clone(), body.clone(), idem.clone(), key_id.clone());
        // The events borrow from the body, so they live inside this call;
        // the rare second attempt parses the body again.
        let submit = move || -> ApiResult<()> {
            let events = request_events(framing, &body, max, engine.limits(), idem, &key_id)?;
            engine.append_then(&tenant, &events, done)?;
            Ok(())
        };
        if off_runtime {
            blocking(submit).await?
        } else {
            submit()?
        }
        match rx.await.map_err(|_| ApiError::from(annal_engine::Error::Closed))? {
            // Another request changed the tenant's policy in between: the
            // batch is prepared again under the new one (rare, so bounded).
            Err(annal_engine::Error::PolicyChanged { .. }) if attempts < 8 => attempts += 1,
            other => break other?,
        }
    };
    drop(held);
    state.metrics.record_append(receipts.len(), start.elapsed());
    let status = if receipts.iter().all(|r| r.replayed) { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_text(status, receipts_json(&receipts)))
}

/// Bodies up to this size are parsed and prepared on the connection's thread.
/// 64 KiB is about 140 corpus events, under a millisecond of CPU; the
/// `block_in_place` hand-over (two thread switches) cost a batch of 64
/// (30 KB) about a tenth of the server's throughput when the limit was
/// 16 KiB (docs/BENCHMARKS.md). Larger bodies still leave the worker.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// Parameters of `GET /v1/events` besides the filters.
pub(super) const PAGE_PARAMS: [&str; 3] = ["limit", "cursor", "explain"];

/// Builds a [`Query`] from the filter parameters; `extra` names the other
/// parameters the route takes, which are returned by name.
pub(super) fn query_from(pairs: Vec<(String, String)>, extra: &[&str]) -> ApiResult<(Query, Vec<(String, String)>)> {
    let mut q = Query::default();
    let mut rest = Vec::new();
    for (k, v) in pairs {
        if extra.contains(&k.as_str()) {
            rest.push((k, v));
        } else {
            q.set(&k, &v).map_err(|e| match e {
                annal_engine::Error::InvalidQuery(fe) if fe.field == k && fe.message.starts_with("unknown filter") => {
                    ApiError::bad_param(
                        &k,
                        format!(
                            "unknown parameter; expected a filter ({}) or one of {}",
                            annal_engine::query::FILTER_NAMES.join(", "),
                            extra.join(", ")
                        ),
                    )
                }
                other => ApiError::from(other),
            })?;
        }
    }
    Ok((q, rest))
}

/// `GET /v1/events`.
pub(super) async fn list(State(state): State<AppState>, key: Key, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let (query, rest) = query_from(params(raw.as_deref())?, &PAGE_PARAMS)?;
    let mut limit = annal_engine::query::DEFAULT_PAGE_SIZE;
    let mut cursor = None;
    let mut explain = false;
    for (k, v) in rest {
        match k.as_str() {
            "limit" => {
                limit = v.parse().map_err(|_| {
                    ApiError::bad_param(
                        "limit",
                        format!("must be a whole number from 1 to {}", annal_engine::query::MAX_PAGE_SIZE),
                    )
                })?
            }
            "cursor" => cursor = Some(v),
            _ => {
                explain = match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::bad_param("explain", "must be `true` or `false`")),
                }
            }
        }
    }
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    let start = Instant::now();
    let body = read(&state, key.tenant(), move || {
        // Each row is written as JSON text straight from the bytes read
        // (`RecordRef::write_json`): neither an owned copy of the row nor a
        // `Value` tree of it, which together were most of a page's time.
        let mut rows = String::with_capacity(limit.min(1000) * 900);
        let info = engine
            .query_visit(&tenant, &query, limit, cursor.as_deref(), |r| {
                if !rows.is_empty() {
                    rows.push(',');
                }
                r.write_json(&mut rows);
                ControlFlow::Continue(())
            })
            .map_err(ApiError::from)?;
        Ok(page_json(&info, &rows, explain))
    })
    .await?;
    state.metrics.query_seconds.observe(start.elapsed().as_secs_f64());
    Ok(json_text(StatusCode::OK, body))
}

/// `{complete, cursor, explain?, next_cursor, records}` (members in the
/// order serde_json sorts them) around `rows`, the page's rows already
/// written as JSON and separated by commas.
fn page_json(page: &annal_engine::PageInfo, rows: &str, explain: bool) -> String {
    let text = |v: &Option<String>| v.as_ref().map_or_else(|| "null".to_string(), |c| Value::from(c.as_str()).to_string());
    let mut out = String::with_capacity(256 + rows.len());
    out.push_str(&format!("{{\"complete\":{},\"cursor\":{}", page.complete, text(&page.cursor)));
    if explain {
        out.push_str(",\"explain\":");
        out.push_str(&page.explain.to_json().to_string());
    }
    let next = if page.complete { None } else { page.cursor.clone() };
    out.push_str(&format!(",\"next_cursor\":{},\"records\":[", text(&next)));
    out.push_str(rows);
    out.push_str("]}");
    out
}

/// `GET /v1/events/{seq}`.
pub(super) async fn get_one(State(state): State<AppState>, key: Key, Path(seq): Path<String>) -> ApiResult<Response> {
    key.require(Scopes::READ)?;
    let seq: u64 =
        seq.parse().ok().filter(|s| *s > 0).ok_or_else(|| ApiError::bad_param("seq", "must be a whole number from 1"))?;
    let engine = state.engine.clone();
    let tenant = key.tenant().to_string();
    match read(&state, key.tenant(), move || engine.get(&tenant, seq).map_err(ApiError::from)).await? {
        Some(r) => {
            let mut text = String::with_capacity(1024);
            r.write_json(&mut text);
            Ok(json_text(StatusCode::OK, text))
        }
        None => Err(ApiError::new(Problem::NotFound, format!("no row with seq {seq}")).field("seq")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_client_key_ref_moves_to_metadata() {
        let mut e =
            BorrowedEvent::from_json_slice(br#"{"action":"a.b","actor":{"type":"user","id":"u"},"key_ref":"theirs"}"#).unwrap();
        stamp_key_ref(&mut e, "0011223344556677").unwrap();
        assert_eq!(e.key_ref.as_deref(), Some("0011223344556677"));
        assert_eq!(e.metadata.as_ref().unwrap()[CLIENT_KEY_REF], "theirs");
        let mut same =
            BorrowedEvent::from_json_slice(br#"{"action":"a.b","actor":{"type":"user","id":"u"},"key_ref":"0011223344556677"}"#)
                .unwrap();
        stamp_key_ref(&mut same, "0011223344556677").unwrap();
        assert!(same.metadata.is_none());
    }

    #[test]
    fn receipts_are_the_json_serde_json_writes_for_them() {
        let h = |b: u8| annal_engine::Hash([b; 32]);
        let receipts = [
            Receipt { seq: 1, recorded_at: 1_767_225_600_000_000_000, leaf: h(1), head: h(0xab), replayed: false },
            Receipt { seq: 2, recorded_at: 1_767_225_600_123_400_000, leaf: h(2), head: h(0xcd), replayed: true },
        ];
        let expected = serde_json::json!({
            "count": 2,
            "receipts": receipts.iter().map(|r| serde_json::json!({
                "head": r.head.to_hex(),
                "leaf": r.leaf.to_hex(),
                "recorded_at": annal_engine::event::format_rfc3339_nanos(r.recorded_at as i64),
                "recorded_at_ns": r.recorded_at,
                "replayed": r.replayed,
                "seq": r.seq,
            })).collect::<Vec<_>>(),
        });
        assert_eq!(receipts_json(&receipts), expected.to_string());
    }

    #[test]
    fn ndjson_lines_are_split_at_every_line_feed_and_blank_ones_skipped() {
        let split = |b: &[u8]| ndjson_lines(b).into_iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>();
        assert_eq!(split(b"a\nb\r\n\n  \n\tc"), ["a", "b\r", "\tc"]);
        assert_eq!(split(b"a\n"), ["a"]);
        assert!(split(b"").is_empty());
        assert!(split(b"\n \r\n").is_empty());
    }

    #[test]
    fn ndjson_errors_carry_their_index() {
        let body = b"{\"action\":\"a.b\",\"actor\":{\"type\":\"user\",\"id\":\"u\"}}\n\n{\"action\":1}\nnot json\n";
        let e = parse_events(Framing::Ndjson, body, 10, &Limits::default()).unwrap_err();
        assert_eq!(e.errors.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(parse_events(Framing::Ndjson, body, 2, &Limits::default()).unwrap_err().problem, Problem::BatchTooLarge);
    }
}
