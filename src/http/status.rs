//! `GET /healthz`, `GET /metrics` (Prometheus text exposition format 0.0.4) and
//! `GET /digests/{id}`, the archived "view in browser" page of an issue.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::store::BounceKind;

/// Counters the daemon keeps about its builds.
#[derive(Debug, Default)]
pub struct Metrics {
    pub builds: AtomicU64,
    pub build_failures: AtomicU64,
    /// Duration of the last build, in microseconds.
    pub last_build_micros: AtomicU64,
    pub posts: AtomicU64,
    pub post_errors: AtomicU64,
    /// Why the last write of the feeds failed, while it has not succeeded since.
    pub write_error: std::sync::RwLock<Option<String>>,
}

impl Metrics {
    pub fn write_error(&self) -> Option<String> {
        self.write_error.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_write_error(&self, error: Option<String>) {
        *self.write_error.write().unwrap_or_else(|p| p.into_inner()) = error;
    }
}

/// How long `/healthz` waits for the store's answer.
const STORE_PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `ok`, or 503 with one line per problem: a monitor sees that something needs the operator.
/// The store is probed each time (can it be written now?), on a blocking thread and within
/// [`STORE_PROBE_WAIT`], so a locked store makes `/healthz` say so, not hang.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let mut problems = Vec::new();
    let probe = tokio::time::timeout(STORE_PROBE_WAIT, super::blocking(&state, |state| state.store.probe()));
    match probe.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("store: {e}; subscriptions answer 503 and digests wait")),
        Err(_) => problems.push(format!(
            "store: no answer within {} s; subscriptions answer 503 and digests wait",
            STORE_PROBE_WAIT.as_secs()
        )),
    }
    if let Some(error) = state.metrics.write_error() {
        problems.push(format!("feeds: {error}; the last good feeds are served, retrying"));
    }
    if problems.is_empty() {
        return (StatusCode::OK, "ok\n").into_response();
    }
    (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", problems.join("\n"))).into_response()
}

/// One sample per key, `{label="name"}`, 0 for a key without a count.
fn labelled<K: Ord>(
    label: &str,
    keys: &[(&str, K)],
    counts: &std::collections::BTreeMap<K, u64>,
) -> Vec<(String, f64)> {
    keys.iter()
        .map(|(name, key)| (format!("{{{label}=\"{name}\"}}"), counts.get(key).copied().unwrap_or(0) as f64))
        .collect()
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    metric("kurier_builds_total", "counter", "Feed builds since start.", &[(String::new(), get(&m.builds))]);
    metric(
        "kurier_build_failures_total",
        "counter",
        "Builds that kept the last good feeds.",
        &[(String::new(), get(&m.build_failures))],
    );
    metric(
        "kurier_build_duration_seconds",
        "gauge",
        "Duration of the last build.",
        &[(String::new(), get(&m.last_build_micros) / 1e6)],
    );
    metric("kurier_posts", "gauge", "Published posts.", &[(String::new(), get(&m.posts))]);
    metric(
        "kurier_feeds_write_failing",
        "gauge",
        "1 while the last write of the feeds failed (see /healthz), else 0.",
        &[(String::new(), if m.write_error().is_some() { 1.0 } else { 0.0 })],
    );
    metric(
        "kurier_post_errors",
        "gauge",
        "Posts left out because they are broken.",
        &[(String::new(), get(&m.post_errors))],
    );
    let totals = super::blocking(&state, |state| state.store()?.totals());
    match totals.await {
        Ok(totals) => {
            let statuses = crate::store::Status::ALL.map(|status| (status.as_str(), status));
            let samples = labelled("status", &statuses, &totals.subscribers);
            metric("kurier_subscribers", "gauge", "Subscribers by status.", &samples);
            let states = crate::store::DeliveryState::ALL.map(|state| (state.as_str(), state));
            let samples = labelled("state", &states, &totals.deliveries);
            metric("kurier_deliveries", "gauge", "Deliveries of every issue by state.", &samples);
            let kinds = [BounceKind::Permanent, BounceKind::Transient, BounceKind::Complaint].map(|k| (k.as_str(), k));
            let samples = labelled("kind", &kinds, &totals.bounces);
            metric("kurier_bounces_total", "counter", "Bounces and complaints received, by kind.", &samples);
        }
        Err(e) => tracing::error!(error = %e, "metrics: cannot read the store"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

pub async fn archive(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else { return super::pages::not_found(&state) };
    let issue = super::blocking(&state, move |state| state.store()?.issue(id)).await;
    match issue {
        Ok(Some(issue)) => match issue.archive_html {
            Some(html) if !html.is_empty() => (StatusCode::OK, Html(html)).into_response(),
            _ => super::pages::not_found(&state),
        },
        Ok(None) => super::pages::not_found(&state),
        Err(e) => super::pages::unavailable(&state, &e),
    }
}
