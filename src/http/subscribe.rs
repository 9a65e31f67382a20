//! `GET /subscribe` (the form) and `POST /subscribe`.
//!
//! Double opt-in (§5): subscribing makes a `pending` subscriber and mails a confirmation link
//! whose page has a button that confirms (`subscription.rs`). The answer to a subscription never
//! says whether the address was on the list already.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use super::pages::{self, Page};
use crate::mail::mask_addresses;
use crate::store::{Status, normalize_email};

/// Confirmation mails to one address per hour.
const PER_ADDRESS: (usize, Duration) = (3, Duration::from_secs(3600));
/// Subscriptions from one client per ten minutes.
const PER_CLIENT: (usize, Duration) = (10, Duration::from_secs(600));

/// `GET /subscribe`: a form.
pub async fn form(State(state): State<Arc<AppState>>) -> Response {
    let t = state.mailer().templates().locale().strings();
    let action = state.config().public("subscribe");
    pages::render(
        &state,
        StatusCode::OK,
        &Page {
            title: t.subscribe_title,
            message: t.subscribe_message,
            action: Some(&action),
            button: t.subscribe_button,
            ask_email: true,
        },
    )
}

/// `POST /subscribe` with a form (`email`, `name`) or JSON (`{"email": …, "name": …}`).
pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let t = state.mailer().templates().locale().strings();
    let answer = |status: StatusCode, title: &str, message: &str, code: &str| -> Response {
        if json {
            let key = if status.is_success() { "status" } else { "error" };
            (status, Json(json!({ key: code, "message": message }))).into_response()
        } else {
            pages::message(&state, status, title, message)
        }
    };
    let (email, name) = if json {
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        (value["email"].as_str().unwrap_or_default().to_owned(), value["name"].as_str().map(str::to_owned))
    } else {
        let mut email = String::new();
        let mut name = None;
        for (key, value) in url::form_urlencoded::parse(&body) {
            match &*key {
                "email" => email = value.into_owned(),
                "name" => name = Some(value.into_owned()),
                _ => {}
            }
        }
        (email, name)
    };
    let Ok(email) = normalize_email(&email) else {
        return answer(StatusCode::BAD_REQUEST, t.error_title, t.invalid_email_message, "invalid_email");
    };
    let now = Instant::now();
    let by_client = state.limiter.allow(&format!("client {}", client.ip()), PER_CLIENT.0, PER_CLIENT.1, now);
    let by_address = by_client
        && state.limiter.allow(&format!("address {}", email.to_lowercase()), PER_ADDRESS.0, PER_ADDRESS.1, now);
    if !by_address {
        tracing::warn!(client = %client.ip(), "subscription rate limit reached");
        return answer(StatusCode::TOO_MANY_REQUESTS, t.error_title, t.too_many_requests_message, "rate_limited");
    }

    let utc_now = Utc::now();
    let subscriber = {
        let store = state.store();
        let existing = match store.subscriber_by_email(&email) {
            Ok(existing) => existing,
            Err(e) => return pages::unavailable(&state, &e),
        };
        match existing {
            // Already subscribed: the same answer, and no mail (nothing to confirm).
            Some(s) if s.status == Status::Active => None,
            // A new version: the links mailed before this one stop working.
            Some(s) => match store.set_status(s.id, Status::Pending, utc_now).and_then(|()| store.subscriber(s.id)) {
                Ok(changed) => Some(changed.unwrap_or(s)),
                Err(e) => return pages::unavailable(&state, &e),
            },
            None => match store.add_subscriber(&email, name.as_deref(), Status::Pending, utc_now) {
                Ok(s) => Some(s),
                Err(e) => return pages::unavailable(&state, &e),
            },
        }
    };
    if let Some(subscriber) = subscriber {
        let message = match state.mailer().confirmation(
            subscriber.id,
            subscriber.version,
            &subscriber.email,
            subscriber.name.as_deref(),
            utc_now,
        ) {
            Ok(message) => message,
            Err(e) => return internal(&state, e),
        };
        let transport = state.transport();
        let mut session = transport.session();
        let sent = session.send(&message).await;
        session.close().await;
        if let Err(e) = sent {
            tracing::error!(subscriber = subscriber.id, reply = %mask_addresses(&e.reply), "cannot send a confirmation e-mail");
            return answer(StatusCode::SERVICE_UNAVAILABLE, t.error_title, t.send_failed_message, "send_failed");
        }
        tracing::info!(subscriber = subscriber.id, "confirmation e-mail sent");
    }
    answer(StatusCode::ACCEPTED, t.check_inbox_title, t.check_inbox_message, "pending")
}

fn internal(state: &AppState, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %mask_addresses(&error.to_string()), "subscription failed");
    let t = state.mailer().templates().locale().strings();
    pages::message(state, StatusCode::INTERNAL_SERVER_ERROR, t.error_title, t.send_failed_message)
}
