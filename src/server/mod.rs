//! Serving: the accept loop with its timeouts, and graceful shutdown
//! (the signals that start it are in [`crate::signals`]).
//!
//! hyper is driven directly rather than through `axum::serve`, because
//! `axum::serve` has no header-read timeout: a client that sends its headers
//! a byte at a time would hold its connection forever. Each connection is
//! wrapped so the errors hyper answers itself get the JSON shape too
//! (`own_errors`).

mod own_errors;

use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use self::own_errors::OwnErrorsInJson;

/// How long in-flight requests may take to finish once shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (and, on a
/// keep-alive connection, to start the next request).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` completes, then lets in-flight requests
/// finish for at most [`DRAIN_TIMEOUT`].
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The peer address goes with each request, as axum's ConnectInfo: the
        // dashboard limits failed sign-ins per client address.
        let app = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            hyper::service::Service::call(&app, request)
        });
        let connection = http.serve_connection(OwnErrorsInJson::new(TokioIo::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are clients going away or timing out; nothing to act on.
            let _ = connection.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}; stopping anyway");
        }
    }
    Ok(())
}
