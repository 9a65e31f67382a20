//! `GET|POST /confirm/{token}` and `GET|POST /unsubscribe/{token}`: the links in e-mails.
//!
//! A GET shows a page whose button POSTs; a GET never changes anything, so mail scanners that
//! follow links cannot subscribe or unsubscribe anyone. A POST to the unsubscribe URL with the
//! body `List-Unsubscribe=One-Click` (RFC 8058, no cookies, no form) unsubscribes and answers
//! 200. Tokens are HMAC-signed (`mail/token.rs`). What a link that does not apply answers:
//!
//! - `400`: forged or malformed, or genuine but naming no subscriber;
//! - `410`: a confirmation link that expired (48 h), or whose subscriber changed since it was
//!   mailed — it was used, a newer one was mailed, or the subscriber unsubscribed. So a
//!   confirmation link works once, and an old link cannot reactivate an address that was
//!   unsubscribed and then submitted again by someone else;
//! - `503` with `Retry-After`: the store cannot be read for the moment.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::pages::{self, Page};
use super::{AppState, blocking};
use crate::mail::{ConfirmToken, TokenError};
use crate::store::{Confirmation, Status, StoreError};

/// Why a link does not apply.
enum Refusal {
    Token(TokenError),
    /// Genuine, for a subscriber that does not exist.
    Unknown,
    /// A confirmation whose subscriber changed since it was mailed.
    Stale,
    Store(StoreError),
}

fn refuse(state: &AppState, refusal: Refusal) -> Response {
    let t = state.mailer().templates().locale().strings();
    let page = |status, message| pages::message(state, status, t.invalid_link_title, message);
    match refusal {
        Refusal::Token(TokenError::Invalid) | Refusal::Unknown => page(StatusCode::BAD_REQUEST, t.invalid_link_message),
        Refusal::Token(TokenError::Expired) => page(StatusCode::GONE, t.expired_link_message),
        Refusal::Stale => page(StatusCode::GONE, t.used_link_message),
        Refusal::Store(e) => pages::unavailable(state, &e),
    }
}

/// No link can be checked while the store is away: the mailer's key may not be the real one.
fn sealed(state: &AppState) -> Result<(), Refusal> {
    if state.mailer().sealed() {
        return Err(Refusal::Store(StoreError::Unavailable));
    }
    Ok(())
}

/// The confirmation a token names, while it still applies (uses the store: call in `blocking`).
fn check_confirmation(state: &AppState, token: &str) -> Result<ConfirmToken, Refusal> {
    sealed(state)?;
    let named = state.mailer().tokens().check_confirm(token, Utc::now()).map_err(Refusal::Token)?;
    match state.store().and_then(|s| s.subscriber(named.subscriber)).map_err(Refusal::Store)? {
        None => Err(Refusal::Unknown),
        Some(s) if s.version != named.version || s.status != Status::Pending => Err(Refusal::Stale),
        Some(_) => Ok(named),
    }
}

/// The subscriber an unsubscribe token names, if there is one (uses the store: call in
/// `blocking`).
fn check_unsubscription(state: &AppState, token: &str) -> Result<i64, Refusal> {
    sealed(state)?;
    let id = state.mailer().tokens().check_unsubscribe(token).map_err(Refusal::Token)?;
    match state.store().and_then(|s| s.subscriber(id)).map_err(Refusal::Store)? {
        None => Err(Refusal::Unknown),
        Some(_) => Ok(id),
    }
}

/// `GET /confirm/{token}`: a page with a button; changes nothing.
pub async fn confirm_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let checked = blocking(&state, {
        let token = token.clone();
        move |state| check_confirmation(state, &token)
    })
    .await;
    if let Err(refusal) = checked {
        return refuse(&state, refusal);
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

/// `POST /confirm/{token}`: the pending subscriber becomes active, once. The body (the form's,
/// or anything) is read and ignored: an answer given with it unread left it on the connection,
/// and a client's next request on that connection failed ("peer disconnected").
pub async fn confirm(State(state): State<Arc<AppState>>, Path(token): Path<String>, _body: Bytes) -> Response {
    if let Err(refusal) = sealed(&state) {
        return refuse(&state, refusal);
    }
    let named = match state.mailer().tokens().check_confirm(&token, Utc::now()) {
        Ok(named) => named,
        Err(e) => return refuse(&state, Refusal::Token(e)),
    };
    let outcome =
        blocking(&state, move |state| state.store()?.confirm(named.subscriber, named.version, Utc::now())).await;
    match outcome {
        Ok(Confirmation::Confirmed) => {
            tracing::info!(subscriber = named.subscriber, status = %Status::Active, "subscription changed");
            let t = state.mailer().templates().locale().strings();
            pages::message(&state, StatusCode::OK, t.confirmed_title, t.confirmed_message)
        }
        Ok(Confirmation::Stale) => refuse(&state, Refusal::Stale),
        Ok(Confirmation::Unknown) => refuse(&state, Refusal::Unknown),
        Err(e) => refuse(&state, Refusal::Store(e)),
    }
}

/// `GET /unsubscribe/{token}`: a page with a button; changes nothing.
pub async fn unsubscribe_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let checked = blocking(&state, {
        let token = token.clone();
        move |state| check_unsubscription(state, &token)
    })
    .await;
    if let Err(refusal) = checked {
        return refuse(&state, refusal);
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
/// POST (`List-Unsubscribe=One-Click`): 200 and unsubscribed, also when it was already.
/// The body is read and ignored, as by [`confirm`].
pub async fn unsubscribe(State(state): State<Arc<AppState>>, Path(token): Path<String>, _body: Bytes) -> Response {
    if let Err(refusal) = sealed(&state) {
        return refuse(&state, refusal);
    }
    let id = match state.mailer().tokens().check_unsubscribe(&token) {
        Ok(id) => id,
        Err(e) => return refuse(&state, Refusal::Token(e)),
    };
    let changed = blocking(&state, move |state| {
        let store = state.store()?;
        match store.subscriber(id)? {
            None => Ok(None),
            Some(s) if s.status == Status::Unsubscribed => Ok(Some(false)),
            Some(_) => store.set_status(id, Status::Unsubscribed, Utc::now()).map(|()| Some(true)),
        }
    })
    .await;
    let changed = match changed {
        Ok(None) => return refuse(&state, Refusal::Unknown),
        Ok(Some(changed)) => Ok(changed),
        Err(e) => Err(e),
    };
    match changed {
        Ok(changed) => {
            if changed {
                tracing::info!(subscriber = id, status = %Status::Unsubscribed, "subscription changed");
            }
            let t = state.mailer().templates().locale().strings();
            pages::message(&state, StatusCode::OK, t.unsubscribed_title, t.unsubscribed_message)
        }
        Err(e) => refuse(&state, Refusal::Store(e)),
    }
}
