//! `GET /console`: the audit console, a page compliance staff filter, read,
//! export and verify a tenant's log in (docs/CONSOLE.md). Its three files
//! (`server/src/console/`: the page, one script, one stylesheet, no
//! third-party code) are compiled into the binary, so the console needs no
//! toolchain to build and nothing beside `annal` to run.
//!
//! The page holds no data and no secret: it signs in with an API key the
//! user types, keeps it in the tab's `sessionStorage`, and makes every
//! request through the same `/v1` routes and scopes as any client, with the
//! key in the `Authorization` header. No cookie is set, so no request can
//! carry the user's authority without the page's own script sending it:
//! there is nothing for a cross-site request to forge.
//!
//! Its answers carry a strict Content-Security-Policy (scripts, styles and
//! connections from this origin only, no inline script or style, no
//! plugins, framing only by `console_frame_ancestors`), `nosniff` and
//! `Referrer-Policy: no-referrer`. The script renders every value as text
//! (`textContent`), so an event holding `<script>` shows it and runs nothing.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};
use crate::problem::Problem;
use crate::state::AppState;

/// One file of the console.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    /// A strong validator of `body`: the files only change with the binary.
    etag: LazyLock<String>,
}

fn etag_of(body: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}-{:x}\"", h.finish(), body.len())
}

static PAGE: Asset = Asset {
    body: include_bytes!("../console/index.html"),
    content_type: "text/html; charset=utf-8",
    etag: LazyLock::new(|| etag_of(PAGE.body)),
};
static SCRIPT: Asset = Asset {
    body: include_bytes!("../console/console.js"),
    content_type: "text/javascript; charset=utf-8",
    etag: LazyLock::new(|| etag_of(SCRIPT.body)),
};
static STYLE: Asset = Asset {
    body: include_bytes!("../console/console.css"),
    content_type: "text/css; charset=utf-8",
    etag: LazyLock::new(|| etag_of(STYLE.body)),
};

/// The Content-Security-Policy of every console answer, with the
/// configured `frame-ancestors` (checked by `Config::check`: it cannot end
/// the directive or start another).
pub fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {frame_ancestors}"
    )
}

/// `GET /console`.
pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    serve(&state, &PAGE, &headers)
}

/// `GET /console/console.js`.
pub(super) async fn script(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    serve(&state, &SCRIPT, &headers)
}

/// `GET /console/console.css`.
pub(super) async fn style(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    serve(&state, &STYLE, &headers)
}

fn serve(state: &AppState, asset: &'static Asset, req: &HeaderMap) -> ApiResult<Response> {
    if !state.config.console {
        return Err(ApiError::new(Problem::NotFound, "the console is turned off on this server (`console = false`)"));
    }
    let etag = asset.etag.as_str();
    // Revalidated on every load (`no-cache`), so a new binary's console is
    // never mixed with an old cached script; unchanged files cost a 304.
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, asset.body).into_response() };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(&state.config.console_frame_ancestors)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if state.config.console_frame_ancestors == "'none'" {
        // For browsers that predate frame-ancestors.
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(res)
}
