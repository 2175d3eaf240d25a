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
//! logged. A client that reads nothing for the stall timeout
//! (`export_stall_timeout_ms`) is such a failure: the producer stops and
//! its thread and admission slot (`admission.rs`) are freed, instead of
//! waiting for a reader that may never come back.
//!
//! Ending the body is not enough to free the connection: hyper asks the
//! body for its next piece only once the socket can take more, which a
//! client that never reads never lets happen, so the broken-off body would
//! sit in a connection held open for as long as the client likes. So a
//! body that ends broken also pulls the connection's [`Hangup`]: the
//! server (`serve.rs`) then drops the connection and resets it, its unsent
//! bytes discarded.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};

use crate::admission::Slot;
use crate::error::{ApiError, ApiResult};

/// The connection a request came on, to be reset from the server's side
/// (`serve.rs` puts one in every request's extensions and waits on it
/// beside the connection). Requests served in-process, without a socket,
/// have none.
#[derive(Debug, Clone, Default)]
pub struct Hangup(Arc<HangupState>);

#[derive(Debug, Default)]
struct HangupState {
    /// Wakes the connection's task.
    asked: tokio::sync::Notify,
    /// Tells its socket, when dropped, to reset rather than close.
    pulled: AtomicBool,
}

impl Hangup {
    /// Asks for the connection to be reset, now or, if its server is not
    /// yet waiting, as soon as it does.
    pub fn hang_up(&self) {
        self.0.pulled.store(true, Ordering::SeqCst);
        self.0.asked.notify_one();
    }

    /// Whether [`Hangup::hang_up`] was called.
    pub fn pulled(&self) -> bool {
        self.0.pulled.load(Ordering::SeqCst)
    }

    /// Resolves once [`Hangup::hang_up`] was called.
    pub async fn wait(&self) {
        self.0.asked.notified().await;
    }
}

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
    /// Set once the body is whole; the stream ends broken when the writer
    /// is gone without it (a producer that failed, stalled or panicked).
    whole: Arc<AtomicBool>,
    /// The runtime the body is streamed on, to wait for room in the channel
    /// with a timeout.
    rt: tokio::runtime::Handle,
    /// How long a piece may wait for the client to read.
    stall: Duration,
    /// A piece could not be handed over (the client went away or stalled).
    /// Producers take a failed write as their cue to stop and may return
    /// Ok; the body is not whole all the same.
    failed: bool,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
        if !self.buf.is_empty() {
            let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096)));
            // This runs on a blocking-pool thread, where waiting on the
            // runtime is allowed.
            let sent = self.rt.block_on(tokio::time::timeout(self.stall, self.tx.send(Ok(piece))));
            let failure = match sent {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(_)) => "the client went away",
                Err(_) => "the client read nothing for the stall timeout",
            };
            self.failed = true;
            return Err(io::Error::other(failure));
        }
        Ok(())
    }

    /// Hands over the body's last piece if `produced` is Ok and marks it
    /// whole, else answers with the problem if nothing was sent yet, or
    /// leaves it broken. Returns whether the client gets the whole body.
    /// The body ends only once the writer is dropped.
    fn finish(&mut self, produced: ApiResult<()>) -> bool {
        match produced {
            Ok(()) => {
                if !self.failed && self.send().is_ok() {
                    self.whole.store(true, Ordering::SeqCst);
                    return true;
                }
            }
            Err(e) => {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(e));
                    self.whole.store(true, Ordering::SeqCst);
                } else {
                    tracing::error!(problem = e.problem.slug(), detail = %e.detail, "download stopped after it began");
                }
            }
        }
        false
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

/// Answers 200 with the body `produce` writes on a blocking thread, as the
/// attachment `file_name`; or with the problem `produce` returns before its
/// first piece. `slot` (the export's admission) is held until `produce` is
/// done; a piece the client leaves unread for `stall` ends the body.
/// `produce` also returns a tally of what it wrote (rows), which `done`
/// gets on the same thread after the last piece, with whether the client
/// gets all of it: that is where an export is recorded. The body ends only
/// after `done` returns, so a client that has the whole file knows the
/// export is already in the log. A body that ends broken resets the
/// connection through `hangup` (the module's doc says why).
pub(super) async fn stream_blocking<T: Send + 'static>(
    slot: Slot,
    (stall, hangup): (Duration, Option<Hangup>),
    content_type: &'static str,
    file_name: String,
    produce: impl FnOnce(&mut BodyWriter) -> (ApiResult<()>, T) + Send + 'static,
    done: impl FnOnce(T, bool) + Send + 'static,
) -> ApiResult<Response> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (ready_tx, ready_rx) = oneshot::channel();
    let whole = Arc::new(AtomicBool::new(false));
    let mut body = BodyWriter {
        tx,
        buf: Vec::with_capacity(CHUNK_BYTES + 4096),
        ready: Some(ready_tx),
        whole: Arc::clone(&whole),
        rt: tokio::runtime::Handle::current(),
        stall,
        failed: false,
    };
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let (produced, tally) = produce(&mut body);
        let whole = body.finish(produced);
        done(tally, whole);
        // Not whole, and not a problem answered instead of the body either:
        // the client got part of a body that will never end.
        let broken = !body.whole.load(Ordering::SeqCst);
        drop(body);
        if broken {
            if let Some(h) = hangup {
                h.hang_up();
            }
        }
    });
    ready_rx.await.map_err(|e| ApiError::internal(&e))??;
    // Once the producer is gone, a body that is not whole ends with an
    // error: hyper then resets the connection instead of ending the body as
    // if it were complete.
    let stream = futures_util::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        std::task::Poll::Ready(None) if !whole.load(Ordering::SeqCst) => {
            std::task::Poll::Ready(Some(Err(io::Error::other("download stopped"))))
        }
        other => other,
    });
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Tenant ids are ASCII letters, digits, `_`, `-`, `.`: safe in a quoted filename.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
