//! HTTP (axum): the feeds, the subscription flow, the digest archive, health and metrics.
//!
//! Each file owns one endpoint family: `feeds.rs` (conditional GETs of the feeds),
//! `subscription.rs` (subscribe, confirm, unsubscribe), `status.rs` (health, metrics,
//! archive), `pages.rs` (the HTML pages), `rate_limit.rs`. [`serve`] takes a bound listener, so
//! tests and the daemon can listen on port 0.
//!
//! Everything a client can hold is bounded, so that idle or slow clients cannot take the
//! daemon's file descriptors (and with them the reading of posts) or its attention: request
//! bodies are limited to [`BODY_LIMIT`]; a client has [`HEADER_TIMEOUT`] to send a request's
//! headers, which also closes a keep-alive connection idle that long (hyper's header read
//! timeout runs from the end of the last response); a whole request — body and handler — has
//! [`REQUEST_TIMEOUT`]; and at most [`max_connections`] connections are open at once, well below
//! the process's descriptor limit: more wait in the kernel's accept queue.

mod feeds;
mod pages;
mod rate_limit;
mod status;
mod subscription;

pub use feeds::{FeedCache, etag};
pub use rate_limit::RateLimiter;
pub use status::Metrics;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::digest::Mailer;
use crate::mail::Transport;
use crate::store::Store;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Time to send a request's headers, and the longest a keep-alive connection may sit idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request: its body and the handler's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Descriptors kept free of HTTP connections: post files, feeds, the store, SMTP connections.
const RESERVED_DESCRIPTORS: u64 = 256;

/// What the handlers share; the daemon swaps the config, mailer and feeds on reload.
pub struct AppState {
    pub config: RwLock<Arc<Config>>,
    pub mailer: RwLock<Arc<Mailer>>,
    pub transport: RwLock<Arc<Transport>>,
    pub store: Mutex<Store>,
    pub feeds: RwLock<FeedCache>,
    pub metrics: Metrics,
    pub limiter: RateLimiter,
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
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/metrics", get(status::metrics))
        .route("/digests/{id}", get(status::archive))
        .route("/subscribe", get(subscription::form).post(subscription::subscribe))
        .route("/confirm/{token}", get(subscription::confirm_page).post(subscription::confirm))
        .route("/unsubscribe/{token}", get(subscription::unsubscribe_page).post(subscription::unsubscribe))
        .fallback(feeds::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(log_errors))
        .layer(middleware::from_fn(time_limit))
        .with_state(state)
}

/// One log line per request that ends in an error status.
async fn log_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        tracing::error!(%method, path = %redact(&path), status = status.as_u16(), "HTTP error");
    } else if status.is_client_error() {
        tracing::warn!(%method, path = %redact(&path), status = status.as_u16(), "HTTP client error");
    }
    response
}

/// Answers 408 to a request that takes longer than [`REQUEST_TIMEOUT`] (a body sent a byte at
/// a time, say).
async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (axum::http::StatusCode::REQUEST_TIMEOUT, "request timeout\n").into_response(),
    }
}

/// Paths carry tokens; logs show only their first characters.
fn redact(path: &str) -> String {
    for prefix in ["/confirm/", "/unsubscribe/"] {
        if let Some(token) = path.strip_prefix(prefix) {
            return format!("{prefix}{}…", token.chars().take(4).collect::<String>());
        }
    }
    path.to_owned()
}

/// How many connections are served at once: the descriptor limit (`RLIMIT_NOFILE`) less
/// [`RESERVED_DESCRIPTORS`], at least 16.
pub fn max_connections() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 { limit.rlim_cur } else { 1024 };
    soft.saturating_sub(RESERVED_DESCRIPTORS).clamp(16, 65_536) as usize
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limit(listener, state, shutdown, max_connections()).await
}

/// [`serve`] with a given connection limit.
pub async fn serve_with_limit(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    connections: usize,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = router(state);
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
    Ok(())
}
