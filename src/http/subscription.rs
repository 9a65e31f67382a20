//! `POST /subscribe`, `GET|POST /confirm/{token}`, `GET|POST /unsubscribe/{token}`.
//!
//! Double opt-in (§5): subscribing makes a `pending` subscriber and mails a confirmation link;
//! the link opens a page whose button POSTs the confirmation — a GET never changes anything, so
//! mail scanners that follow links cannot subscribe anyone. Unsubscribing is the same, and a
//! POST to the unsubscribe URL with the body `List-Unsubscribe=One-Click` (RFC 8058, no cookies,
//! no form) unsubscribes and answers 200. Tokens are HMAC-signed (`mail/token.rs`); a forged or
//! expired one answers 4xx and changes nothing. The answer to a subscription never says whether
//! the address was already on the list.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use super::pages::{self, Page};
use crate::mail::TokenError;
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
            Err(e) => return internal(&state, e),
        };
        match existing {
            // Already subscribed: the same answer, and no mail (nothing to confirm).
            Some(s) if s.status == Status::Active => None,
            Some(s) => match store.set_status(s.id, Status::Pending, utc_now) {
                Ok(()) => Some(s),
                Err(e) => return internal(&state, e),
            },
            None => match store.add_subscriber(&email, name.as_deref(), Status::Pending, utc_now) {
                Ok(s) => Some(s),
                Err(e) => return internal(&state, e),
            },
        }
    };
    if let Some(subscriber) = subscriber {
        let message =
            match state.mailer().confirmation(subscriber.id, &subscriber.email, subscriber.name.as_deref(), utc_now) {
                Ok(message) => message,
                Err(e) => return internal(&state, e),
            };
        let transport = state.transport();
        let mut session = transport.session();
        let sent = session.send(&message).await;
        session.close().await;
        if let Err(e) = sent {
            tracing::error!(reply = %e.reply, "cannot send a confirmation e-mail");
            return answer(StatusCode::SERVICE_UNAVAILABLE, t.error_title, t.send_failed_message, "send_failed");
        }
        tracing::info!(subscriber = subscriber.id, "confirmation e-mail sent");
    }
    answer(StatusCode::ACCEPTED, t.check_inbox_title, t.check_inbox_message, "pending")
}

fn internal(state: &AppState, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "subscription failed");
    let t = state.mailer().templates().locale().strings();
    pages::message(state, StatusCode::INTERNAL_SERVER_ERROR, t.error_title, t.send_failed_message)
}

fn bad_token(state: &AppState, error: TokenError) -> Response {
    let t = state.mailer().templates().locale().strings();
    match error {
        TokenError::Invalid => {
            pages::message(state, StatusCode::BAD_REQUEST, t.invalid_link_title, t.invalid_link_message)
        }
        TokenError::Expired => pages::message(state, StatusCode::GONE, t.invalid_link_title, t.expired_link_message),
    }
}

/// `GET /confirm/{token}`: a page with a button; changes nothing.
pub async fn confirm_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    if let Err(e) = state.mailer().tokens().check_confirm(&token, Utc::now()) {
        return bad_token(&state, e);
    }
    let t = state.mailer().templates().locale().strings();
    let action = state.config().public(&format!("confirm/{token}"));
    pages::render(
        &state,
        StatusCode::OK,
        &Page {
            title: t.confirm_title,
            message: t.confirm_message,
            action: Some(&action),
            button: t.confirm_button,
            ask_email: false,
        },
    )
}

/// `POST /confirm/{token}`: a pending subscriber becomes active.
pub async fn confirm(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match state.mailer().tokens().check_confirm(&token, Utc::now()) {
        // Unsubscribed or bounced since the link was sent: the link no longer applies.
        Ok(id) => change_status(&state, id, Status::Active, |from| from == Status::Pending, TokenError::Expired),
        Err(e) => bad_token(&state, e),
    }
}

/// Moves subscriber `id` to `to` if it is there already or `allowed` accepts its status, and
/// answers with the page for `to`; otherwise answers as for a token failing with `otherwise`.
fn change_status(
    state: &AppState,
    id: i64,
    to: Status,
    allowed: impl Fn(Status) -> bool,
    otherwise: TokenError,
) -> Response {
    let result = {
        let store = state.store();
        match store.subscriber(id) {
            Ok(Some(s)) if s.status == to => Ok(true),
            Ok(Some(s)) if allowed(s.status) => store.set_status(id, to, Utc::now()).map(|_| true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let t = state.mailer().templates().locale().strings();
    match result {
        Ok(true) => {
            tracing::info!(subscriber = id, status = %to, "subscription changed");
            let (title, message) = match to {
                Status::Active => (t.confirmed_title, t.confirmed_message),
                _ => (t.unsubscribed_title, t.unsubscribed_message),
            };
            pages::message(state, StatusCode::OK, title, message)
        }
        Ok(false) => bad_token(state, otherwise),
        Err(e) => internal(state, e),
    }
}

/// `GET /unsubscribe/{token}`: a page with a button; changes nothing.
pub async fn unsubscribe_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    if let Err(e) = state.mailer().tokens().check_unsubscribe(&token) {
        return bad_token(&state, e);
    }
    let t = state.mailer().templates().locale().strings();
    let action = state.config().public(&format!("unsubscribe/{token}"));
    pages::render(
        &state,
        StatusCode::OK,
        &Page {
            title: t.unsubscribe_title,
            message: t.unsubscribe_message,
            action: Some(&action),
            button: t.unsubscribe_button,
            ask_email: false,
        },
    )
}

/// `POST /unsubscribe/{token}`, from the page's button or a mail client's RFC 8058 one-click
/// POST (`List-Unsubscribe=One-Click`): 200 and unsubscribed.
pub async fn unsubscribe(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match state.mailer().tokens().check_unsubscribe(&token) {
        Ok(id) => change_status(&state, id, Status::Unsubscribed, |_| true, TokenError::Invalid),
        Err(e) => bad_token(&state, e),
    }
}
