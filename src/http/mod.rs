//! HTTP (axum): the feeds, the subscription flow, the digest archive, health and metrics.
//!
//! Each file owns one endpoint family: `feeds.rs` (conditional GETs of the feeds),
//! `subscribe.rs` (the form and `POST /subscribe`), `subscription.rs` (the confirm and
//! unsubscribe links), `status.rs` (health, metrics, archive), `pages.rs` (the HTML pages);
//! besides them `confirmations.rs` sends confirmation mail in the background, `client.rs` tells
//! who a request comes from (behind trusted proxies, by `X-Forwarded-For`) and `error_log.rs`
//! writes (and rate-limits) the log lines of failed requests; subscriptions are rate-limited in
//! the store (`store/limits.rs`). [`serve`] takes a bound listener, so tests and the daemon can listen on port 0.
//! Request bodies are limited to [`BODY_LIMIT`].
//!
//! Everything a client can hold is bounded, so that idle or slow clients cannot take the
//! daemon's file descriptors (and with them the reading of posts) or its attention: request
//! bodies are limited to [`BODY_LIMIT`]; a client has [`HEADER_TIMEOUT`] to send a request's
//! headers, which also closes a keep-alive connection idle that long (hyper's header read
//! timeout runs from the end of the last response); a whole request — body and handler — has
//! [`REQUEST_TIMEOUT`]; and at most [`max_connections`] connections are open at once, well below
//! the process's descriptor limit: more wait in the kernel's accept queue.

mod client;
mod confirmations;
mod error_log;
mod feeds;
mod pages;
mod status;
mod subscribe;
mod subscription;

pub use confirmations::Confirmations;
pub use feeds::{FeedCache, etag};
pub use status::Metrics;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLevel;

use crate::config::Config;
use crate::digest::Mailer;
use crate::mail::Transport;
use crate::store::{SharedStore, StoreError, StoreGuard};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Time to send a request's headers, and the longest a keep-alive connection may sit idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request: its body and the handler's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Descriptors kept free of HTTP connections: post files, feeds, the store, SMTP connections.
const RESERVED_DESCRIPTORS: u64 = 256;

/// What a `503` asks the client to wait before trying again, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 30;

/// What the handlers share; the daemon swaps the config, mailer and feeds on reload.
pub struct AppState {
    pub config: RwLock<Arc<Config>>,
    pub mailer: RwLock<Arc<Mailer>>,
    pub transport: RwLock<Arc<Transport>>,
    pub store: SharedStore,
    pub feeds: RwLock<FeedCache>,
    pub metrics: Metrics,
    /// The queue of confirmation mail; [`serve`] closes it when it stops.
    pub confirmations: Confirmations,
}

impl AppState {
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn mailer(&self) -> Arc<Mailer> {
        Arc::clone(&self.mailer.read().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn transport(&self) -> Arc<Transport> {
        Arc::clone(&self.transport.read().unwrap_or_else(|p| p.into_inner()))
    }
    /// The store, opened again first if it was not open; blocks (up to the store's short busy
    /// wait) — from async code, call it inside [`blocking`].
    pub fn store(&self) -> Result<StoreGuard<'_>, StoreError> {
        self.store.get()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/metrics", get(status::metrics))
        .route("/digests/{id}", get(status::archive))
        .route("/subscribe", get(subscribe::form).post(subscribe::subscribe))
        .route("/confirm/{token}", get(subscription::confirm_page).post(subscription::confirm))
        .route("/unsubscribe/{token}", get(subscription::unsubscribe_page).post(subscription::unsubscribe))
        .fallback_service(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn(feeds::conditional))
                .layer(tower_http::compression::CompressionLayer::new().quality(CompressionLevel::Fastest))
                .service(axum::routing::any(feeds::serve).with_state(Arc::clone(&state))),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(Arc::new(error_log::ErrorLog::default()), error_log::log_errors))
        .layer(middleware::from_fn(time_limit))
        .with_state(state)
}

/// Answers 408 to a request that takes longer than [`REQUEST_TIMEOUT`] (a body sent a byte at
/// a time, say).
///
/// An answer given before the request's body was read — `408`, `413` — closes the connection and
/// says so (`Connection: close`): the unread body is still on it, and a client that reused it for
/// its next request would see that request fail.
async fn time_limit(request: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timeout\n").into_response(),
    };
    if matches!(response.status(), StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// How many connections are served at once: the descriptor limit (`RLIMIT_NOFILE`) less
/// [`RESERVED_DESCRIPTORS`], at least 16.
pub fn max_connections() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 { limit.rlim_cur } else { 1024 };
    soft.saturating_sub(RESERVED_DESCRIPTORS).clamp(16, 65_536) as usize
}

/// Runs `work` — which uses the store, and may wait for its lock — on a blocking thread, so that
/// no async worker waits on the store: feeds and `/healthz` are answered meanwhile.
pub async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> T + Send + 'static,
) -> T {
    let state = Arc::clone(state);
    crate::store::blocking(move || work(&state)).await
}

/// Serves until `shutdown` resolves, then finishes the requests in flight and (for a few
/// seconds at most) the confirmation mail they queued.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = max_connections();
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = router(Arc::clone(&state));
    let slots = Arc::new(tokio::sync::Semaphore::new(connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first: beyond the limit, clients wait in the accept queue.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    state.confirmations.close(confirmations::DRAIN_DEADLINE).await;
    Ok(())
}
