//! Reading what a request brings: its body within the size and time
//! limits, its query parameters, whole numbers among them, and JSON bodies
//! into typed requests. Every refusal names the field and never quotes the
//! value the client sent.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::admission::BodyShare;
use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// A body read within the budget of bytes in flight; its share of the
/// budget comes back when this is dropped.
pub(crate) struct HeldBody {
    /// The body.
    pub bytes: Bytes,
    _share: BodyShare,
}

/// Reads a request body of at most `max_body_bytes`, within the request
/// timeout: 413 when it is larger (by `Content-Length`, before reading),
/// 408 when the client is too slow, 503 with `Retry-After` before reading
/// anything when the server already holds `max_body_bytes_in_flight` of
/// bodies, or `tenant`'s requests `max_body_bytes_in_flight_per_tenant`.
/// The body counts at its `Content-Length` (at `max_body_bytes` without
/// one) until the [`HeldBody`] is dropped.
pub(crate) async fn read_body(state: &AppState, tenant: &str, headers: &HeaderMap, body: Body) -> ApiResult<HeldBody> {
    read_counting(state, tenant, headers, body, None).await
}

/// [`read_body`] for an NDJSON body of at most `max_lines` events: reading
/// stops, with 413 `batch-too-large`, at the first line past them, so a
/// body too long by its line count costs what it takes to see that and no
/// more (lines that hold only white space are not counted, as the parser
/// skips them too).
pub(crate) async fn read_ndjson_body(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
    max_lines: usize,
) -> ApiResult<HeldBody> {
    read_counting(state, tenant, headers, body, Some(max_lines)).await
}

async fn read_counting(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
    max_lines: Option<usize>,
) -> ApiResult<HeldBody> {
    let limit = state.config.max_body_bytes;
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_param("Content-Length", "must be a whole number of bytes"))?,
        ),
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::new(Problem::BodyTooLarge, format!("the request body exceeds {limit} bytes")));
    }
    let share = state.body_budget.take_waiting(tenant, declared.map_or(limit, |n| n as usize).max(1)).await?;
    let pace = |n: usize| state.body_pace.pace(tenant, n as f64);
    let read = collect(body, limit, declared.map_or(0, |n| n as usize), max_lines, pace);
    let bytes = match tokio::time::timeout(state.config.request_timeout(), read).await {
        Err(_) => return Err(ApiError::new(Problem::RequestTimeout, "the request body did not arrive in time")),
        Ok(r) => r?,
    };
    Ok(HeldBody { bytes, _share: share })
}

/// The lines of a body that hold something, counted as it arrives.
#[derive(Debug, Default)]
struct LineCount {
    lines: usize,
    /// The line being read holds something other than white space.
    open: bool,
}

impl LineCount {
    /// Counts `chunk`; the lines ended in it that held something, plus one
    /// for the line still open at its end.
    fn feed(&mut self, chunk: &[u8]) -> usize {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if self.open || !chunk[start..end].iter().all(u8::is_ascii_whitespace) {
                self.lines += 1;
            }
            self.open = false;
            start = end + 1;
        }
        self.open |= !chunk[start..].iter().all(u8::is_ascii_whitespace);
        self.lines + usize::from(self.open)
    }
}

/// The body's bytes: 413 `body-too-large` past `limit` bytes, 413
/// `batch-too-large` past `max_lines` lines that hold something, each as
/// soon as it shows; `expected` sizes the buffer. `pace` says, for each
/// piece read, how long to wait before reading on (the tenant's body
/// rate, `tenant_body_bytes_per_sec`): a tenant that sends faster is read
/// more slowly, and TCP holds the rest of its body in its client.
async fn collect(
    body: Body,
    limit: usize,
    expected: usize,
    max_lines: Option<usize>,
    pace: impl Fn(usize) -> std::time::Duration,
) -> ApiResult<Bytes> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(expected.min(limit));
    let mut count = LineCount::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(Problem::UnreadableBody, "the request body could not be read"))?;
        let wait = pace(chunk.len());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(Problem::BodyTooLarge, format!("the request body exceeds {limit} bytes")));
        }
        if let Some(max) = max_lines {
            if count.feed(&chunk) > max {
                return Err(ApiError::new(
                    Problem::BatchTooLarge,
                    format!("more than {max} events in one request; the maximum is {max}"),
                ));
            }
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

impl std::ops::Deref for HeldBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Query parameters as given, each name at most once.
pub(crate) fn params(raw: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let malformed = || ApiError::new(Problem::InvalidParameter, "the query string is malformed");
    let uri = format!("/?{raw}").parse().map_err(|_| malformed())?;
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).map_err(|_| malformed())?.0;
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if out.iter().any(|(n, _)| *n == k) {
            return Err(ApiError::bad_param(&k, "given more than once"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// A parameter that must be a whole number.
pub(crate) fn whole(name: &str, value: &str) -> ApiResult<u64> {
    value.parse().map_err(|_| ApiError::bad_param(name, "must be a whole number"))
}

/// A JSON body as a `T`: 422 `malformed-json` when it does not parse, 422
/// `invalid-body` naming the field when it has the wrong shape (`shape`
/// shows the expected one). serde's messages are passed on only for a
/// missing or unknown field, which they name; for a wrong type or value
/// they quote the value, which may be personal data.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8], shape: &str) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.inner();
        if inner.classify() != serde_json::error::Category::Data {
            return malformed_json(inner);
        }
        let message = inner.to_string();
        let what = if message.starts_with("missing field") || message.starts_with("unknown field") {
            message
        } else {
            "a value of the wrong type or out of range".to_string()
        };
        ApiError::new(Problem::InvalidBody, format!("expected {shape}: {what}")).field(field)
    })
}

/// 422 `malformed-json` for a body that does not parse, saying where.
pub(crate) fn malformed_json(e: &serde_json::Error) -> ApiError {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Syntax => "syntax error",
        _ => "invalid data",
    };
    ApiError::new(Problem::MalformedJson, format!("the body is not JSON: {what} at line {} column {}", e.line(), e.column()))
        .field("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_across_chunks_as_the_parser_counts_them() {
        // Three lines hold something; blank and white-space-only ones do not count.
        let body = b"{\"a\":1}\n\n  \n{\"b\":2}\r\n \t{\"c\":3}";
        for one in 0..=body.len() {
            for two in one..=body.len() {
                let mut c = LineCount::default();
                c.feed(&body[..one]);
                c.feed(&body[one..two]);
                assert_eq!(c.feed(&body[two..]), 3, "cut at {one} and {two}");
            }
        }
        let mut c = LineCount::default();
        assert_eq!(c.feed(b"x\ny\n"), 2);
        assert_eq!(c.feed(b"   "), 2, "a line of spaces is not one");
        assert_eq!(c.feed(b"z"), 3);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Hold {
        reason: String,
        days: Option<u32>,
    }

    #[test]
    fn json_bodies_name_the_field_and_never_quote_the_value() {
        let shape = r#"{"reason": "text"}"#;
        for (body, problem, field) in [
            (&br#"{"reason": "x", "days": "secret-value"}"#[..], Problem::InvalidBody, "days"),
            (br#"{"reason": 424242}"#, Problem::InvalidBody, "reason"),
            (br#"{"why": "secret-value"}"#, Problem::InvalidBody, "why"),
            (br#"{}"#, Problem::InvalidBody, ""),
            (b"secret-value", Problem::MalformedJson, ""),
            (br#"{"reason": "#, Problem::MalformedJson, ""),
        ] {
            let e = json_body::<Hold>(body, shape).unwrap_err();
            let text = String::from_utf8_lossy(body);
            assert_eq!((e.problem, e.field.as_deref()), (problem, Some(field)), "{text}: {}", e.detail);
            assert!(!e.detail.contains("secret") && !e.detail.contains("424242"), "{text}: {}", e.detail);
        }
        let missing = json_body::<Hold>(b"{}", shape).unwrap_err();
        assert!(missing.detail.contains("missing field `reason`"), "{}", missing.detail);
    }

    #[test]
    fn a_parameter_given_twice_is_refused_by_name() {
        assert_eq!(params(Some("a=1&b=2")).unwrap(), [("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(params(Some("a=1&a=2")).unwrap_err().field.as_deref(), Some("a"));
        assert_eq!(whole("limit", "x").unwrap_err().field.as_deref(), Some("limit"));
    }
}
