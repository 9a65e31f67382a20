//! HTTP (axum): the feeds, the subscription flow, the digest archive, health and metrics.
//!
//! Each file owns one endpoint family: `feeds.rs` (conditional GETs of the feeds),
//! `subscribe.rs` (the form and `POST /subscribe`), `subscription.rs` (the confirm and
//! unsubscribe links), `status.rs` (health, metrics, archive), `pages.rs` (the HTML pages);
//! besides them `confirmations.rs` sends confirmation mail in the background, `rate_limit.rs`
//! limits subscriptions and `error_log.rs` writes (and rate-limits) the log lines of failed
//! requests. [`serve`] takes a bound listener, so tests and the daemon can listen on port 0.
//! Request bodies are limited to [`BODY_LIMIT`].

mod confirmations;
mod error_log;
mod feeds;
mod pages;
mod rate_limit;
mod status;
mod subscribe;
mod subscription;

pub use confirmations::Confirmations;
pub use feeds::{FeedCache, etag};
pub use rate_limit::RateLimiter;
pub use status::Metrics;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::digest::Mailer;
use crate::mail::Transport;
use crate::store::Store;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

/// What a `503` asks the client to wait before trying again, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 30;

/// What the handlers share; the daemon swaps the config, mailer and feeds on reload.
pub struct AppState {
    pub config: RwLock<Arc<Config>>,
    pub mailer: RwLock<Arc<Mailer>>,
    pub transport: RwLock<Arc<Transport>>,
    pub store: Mutex<Store>,
    pub feeds: RwLock<FeedCache>,
    pub metrics: Metrics,
    pub limiter: RateLimiter,
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
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
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
        .fallback(feeds::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(Arc::new(error_log::ErrorLog::default()), error_log::log_errors))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight and (for a few
/// seconds at most) the confirmation mail they queued.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = axum::serve(listener, router(Arc::clone(&state)).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    state.confirmations.close(confirmations::DRAIN_DEADLINE).await;
    served
}
