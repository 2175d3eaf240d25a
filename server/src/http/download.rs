//! Downloads: a body produced on a blocking thread and streamed to the
//! client in constant memory, offered as an attachment. CSV, NDJSON and
//! bundle exports all go through [`stream_blocking`].
//!
//! The producer writes into a [`BodyWriter`], which hands the body
//! pieces of about [`CHUNK_BYTES`] through a channel of [`CHANNEL_CHUNKS`]
//! slots: a slow client makes the producer wait, never the buffers grow.
//! The status line goes out with the first piece (or when the producer
//! finishes), so a producer that fails before that answers with a proper
//! problem; one that fails later ends the body with the connection reset,
//! so a truncated file is never mistaken for a whole one. The cause is
//! logged.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};

/// Bytes gathered before a piece goes to the body.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Pieces that may wait for the client.
pub const CHANNEL_CHUNKS: usize = 4;

/// The file name a download is offered under: `annal-TENANT-YYYYMMDDTHHMMSSZ.EXT`.
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

/// A `Write` into the response body. A write fails once the client has
/// gone away, which is the producer's cue to stop.
#[derive(Debug)]
pub(super) struct BodyWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    /// Taken when the answer may start: at the first piece, or at the end.
    ready: Option<oneshot::Sender<ApiResult<()>>>,
    /// Set once the body is whole; dropped without it (a producer that
    /// panicked), the body ends broken.
    whole: bool,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
        if !self.buf.is_empty() {
            let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096)));
            self.tx.blocking_send(Ok(piece)).map_err(|_| io::Error::other("the client went away"))?;
        }
        Ok(())
    }

    /// Ends the body: whole if `produced` is Ok, else as a problem answer
    /// if nothing was sent yet, or broken.
    fn finish(mut self, produced: ApiResult<()>) {
        match produced {
            Ok(()) => {
                let _ = self.send();
                self.whole = true;
            }
            Err(e) => {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(e));
                    self.whole = true;
                } else {
                    tracing::error!(problem = e.problem.slug(), detail = %e.detail, "download stopped after it began");
                }
            }
        }
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        if !self.whole {
            let _ = self.tx.blocking_send(Err(io::Error::other("download stopped")));
        }
    }
}

/// Answers 200 with the body `produce` writes on a blocking thread, as the
/// attachment `file_name`; or with the problem `produce` returns before its
/// first piece.
pub(super) async fn stream_blocking(
    content_type: &'static str,
    file_name: String,
    produce: impl FnOnce(&mut BodyWriter) -> ApiResult<()> + Send + 'static,
) -> ApiResult<Response> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut body = BodyWriter { tx, buf: Vec::with_capacity(CHUNK_BYTES + 4096), ready: Some(ready_tx), whole: false };
        let produced = produce(&mut body);
        body.finish(produced);
    });
    ready_rx.await.map_err(|e| ApiError::internal(&e))??;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Tenant ids are ASCII letters, digits, `_`, `-`, `.`: safe in a quoted filename.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
