//! How handlers answer: engine work off the async runtime, and JSON
//! bodies with their status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::admission::Work;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Runs engine work that may block (a read waiting for RocksDB, a large
/// body parsed and prepared) without stalling the threads that drive
/// connections.
///
/// On the server's multi-threaded runtime the work runs right here, in
/// `block_in_place`: tokio first hands this worker's other tasks to another
/// thread, so nothing waits behind it, and the request skips two thread
/// hand-offs (to a pool thread and back), each a wake-up that costs more
/// than a first page's whole read on a virtual machine. Elsewhere (a
/// current-thread runtime, as in-process tests use) it goes to the
/// blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))?,
    }
}

/// [`blocking`] for a read of `tenant`, within the read bounds
/// (`admission.rs`: reads never take the threads kept for appends); 429
/// `concurrency-limited` past them.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    tenant: &str,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let slot = state.admission.admit(Work::Read, tenant)?;
    blocking(move || {
        let _slot = slot;
        f()
    })
    .await
}

/// `status` with a JSON body.
pub(crate) fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// `status` with a JSON body already written as text.
pub(crate) fn json_text(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
