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
    let share = state.body_budget.take(tenant, declared.map_or(limit, |n| n as usize).max(1))?;
    let bytes = read_within(state, body, limit).await?;
    Ok(HeldBody { bytes, _share: share })
}

impl std::ops::Deref for HeldBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

async fn read_within(state: &AppState, body: Body, limit: usize) -> ApiResult<Bytes> {
    let read = axum::body::to_bytes(body, limit);
    match tokio::time::timeout(state.config.request_timeout(), read).await {
        Err(_) => Err(ApiError::new(Problem::RequestTimeout, "the request body did not arrive in time")),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>() || s.to_string().contains("length limit"));
            if too_large {
                Err(ApiError::new(Problem::BodyTooLarge, format!("the request body exceeds {limit} bytes")))
            } else {
                Err(ApiError::new(Problem::UnreadableBody, "the request body could not be read"))
            }
        }
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
