//! Running the router on a socket, and stopping it gracefully.
//!
//! Connections are HTTP/1.1, served by hyper with a header-read timeout
//! (a client that never finishes its headers is dropped). Each connection
//! also waits on a [`Hangup`] its requests carry: a download broken off
//! because its client stopped reading (`http/download.rs`) pulls it, and
//! the connection is then dropped and its socket reset ([`Socket`]:
//! `SO_LINGER` 0, unsent bytes discarded), since hyper alone would keep it
//! open for as long as the client never reads. [`serve`] stops
//! accepting when `shutdown` resolves, lets every in-flight request finish
//! (an append that was handed to the engine completes and is answered) for
//! up to the configured grace period, and returns; dropping the last
//! [`AppState`] then closes the engine, which commits whatever is queued
//! and syncs the WAL.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::auth::Peer;
use crate::http::{app, Hangup};
use crate::state::AppState;

/// Serves `state`'s API on `listener` until `shutdown` resolves, then drains.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let router = app(state.clone());
    let header_timeout = state.config.header_read_timeout();
    let grace = state.config.shutdown_grace();
    let graceful = GracefulShutdown::new();
    // Each connection holds a permit for as long as it is open.
    let connections = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Running out of file descriptors and the like: wait
                        // a moment instead of spinning, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                    // One too many: told so in HTTP, then closed, without a
                    // task left behind for long.
                    tracing::warn!(max = state.config.max_connections, "connection refused: max_connections open");
                    tokio::spawn(refuse(stream));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let hangup = Hangup::default();
                // Each request carries the client's address, which failed
                // authentications are counted by (`auth.rs`), and the
                // connection's hang-up.
                let tagged = {
                    let hangup = hangup.clone();
                    tower::ServiceExt::map_request(router.clone(), move |mut r: axum::extract::Request<hyper::body::Incoming>| {
                        r.extensions_mut().insert(Peer(peer.ip()));
                        r.extensions_mut().insert(hangup.clone());
                        r
                    })
                };
                let service = TowerToHyperService::new(tagged);
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(Socket { stream, hangup: hangup.clone() }), service);
                let conn = graceful.watch(conn);
                let open = OpenConnection::new(&state, permit);
                tokio::spawn(async move {
                    let _open = open;
                    tokio::select! {
                        ended = conn => if let Err(e) = ended {
                            tracing::debug!(error = %e, "connection ended with an error");
                        },
                        // Dropping the connection drops its socket, which a
                        // pulled hang-up resets.
                        () = hangup.wait() => tracing::debug!(peer = %peer, "connection reset: its download was broken off"),
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    state.draining.store(true, Ordering::SeqCst);
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_ms = grace.as_millis() as u64, "requests still running after the grace period; stopping anyway");
    }
    Ok(())
}

/// A connection's socket, as hyper reads and writes it: closed when
/// dropped, or reset if its [`Hangup`] was pulled (`SO_LINGER` 0, so the
/// bytes a client that stopped reading left unsent are discarded and the
/// socket freed at once instead of lingering).
struct Socket {
    stream: tokio::net::TcpStream,
    hangup: Hangup,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.hangup.pulled() {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl tokio::io::AsyncRead for Socket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Socket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A connection being served: holds its `max_connections` permit and is
/// counted in `annal_open_connections` until dropped.
struct OpenConnection {
    state: AppState,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(state: &AppState, permit: tokio::sync::OwnedSemaphorePermit) -> OpenConnection {
        state.metrics.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection { state: state.clone(), _permit: permit }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.state.metrics.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a connection over `max_connections` with a 503 problem and
/// closes it (within a second, whatever the client does).
async fn refuse(stream: tokio::net::TcpStream) {
    const BODY: &str = "{\"type\":\"urn:annal:problem:unavailable\",\"title\":\"Unavailable\",\"status\":503,\
                        \"detail\":\"the server has as many connections open as it may; try again shortly\"}";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // A few hundred bytes: one write into a fresh socket's buffer.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if stream.writable().await.is_ok() {
            let _ = stream.try_write(answer.as_bytes());
        }
    })
    .await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
