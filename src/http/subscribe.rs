//! `GET /subscribe` (the form) and `POST /subscribe`.
//!
//! Double opt-in (§5): subscribing makes the address `pending` and queues a confirmation mail
//! (`confirmations.rs`) whose link opens a page whose button confirms. The answer never tells
//! whether the address was on the list already — not in its words, not in its status, and not
//! by waiting for the mail: that is sent in the background, so an address that gets one is
//! answered after one store write, an active one (which gets none) after one store read.
//!
//! The body is a form (`email`, `name`) or JSON (`{"email": …, "name": …}`), told apart by the
//! media type of `Content-Type`, compared as RFC 9110 §8.3.1 says: case-insensitively, without
//! its parameters. Any other type answers `415` with an `Accept` header naming the two.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::Utc;
use serde_json::json;

use super::confirmations::Job;
use super::pages::{self, Page};
use super::{AppState, RETRY_AFTER_SECONDS};
use crate::mail::mask_addresses;
use crate::store::{Limit, StoreError, Subscriber, normalize_email, normalize_name};

/// Confirmation mails to one address per hour.
const PER_ADDRESS: (u32, Duration) = (3, Duration::from_secs(3600));
/// Subscriptions from one client per ten minutes.
const PER_CLIENT: (u32, Duration) = (10, Duration::from_secs(600));
/// The media types `POST /subscribe` takes.
const ACCEPTED: &str = "application/x-www-form-urlencoded, application/json";

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

/// How the client speaks: the media type of its body, which its answer uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Form,
    Json,
}

/// The format of a body by its `Content-Type`; a form when there is none (what `curl -d`
/// and old browsers mean). `Err` holds the media type that is neither.
fn format(headers: &HeaderMap) -> Result<Format, String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(Format::Form) };
    let text = value.to_str().map_err(|_| "a Content-Type that is not text".to_owned())?;
    let mime: mime::Mime = text.parse().map_err(|_| format!("`{}`", text.trim()))?;
    if mime.essence_str() == "application/x-www-form-urlencoded" {
        Ok(Format::Form)
    } else if mime.essence_str() == "application/json" || mime.suffix() == Some(mime::JSON) {
        Ok(Format::Json)
    } else {
        Err(mime.essence_str().to_owned())
    }
}

/// The address and name of a body.
fn fields(format: Format, body: &[u8]) -> Result<(String, Option<String>), serde_json::Error> {
    Ok(match format {
        Format::Json => {
            let value: serde_json::Value = serde_json::from_slice(body)?;
            (value["email"].as_str().unwrap_or_default().to_owned(), value["name"].as_str().map(str::to_owned))
        }
        Format::Form => {
            let mut email = String::new();
            let mut name = None;
            for (key, value) in url::form_urlencoded::parse(body) {
                match &*key {
                    "email" => email = value.into_owned(),
                    "name" => name = Some(value.into_owned()),
                    _ => {}
                }
            }
            (email, name)
        }
    })
}

/// An answer in the client's format: a page, or `{"status"|"error": code, "message": …}`.
fn answer(state: &AppState, format: Format, status: StatusCode, title: &str, message: &str, code: &str) -> Response {
    let mut response = match format {
        Format::Json => {
            let key = if status.is_success() { "status" } else { "error" };
            (status, Json(json!({ key: code, "message": message }))).into_response()
        }
        Format::Form => pages::message(state, status, title, message),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

/// A subscription as the client asked for it, its address and name normalized.
struct Request {
    format: Format,
    email: String,
    name: Option<String>,
}

/// Reads the body of `POST /subscribe`; `Err` is the answer to a body kurier cannot use.
fn request(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Request, Box<Response>> {
    let format = format(headers).map_err(|other| {
        let message = format!("POST /subscribe takes {ACCEPTED}, not {other}\n");
        Box::new((StatusCode::UNSUPPORTED_MEDIA_TYPE, [(header::ACCEPT, ACCEPTED)], message).into_response())
    })?;
    let t = state.mailer().templates().locale().strings();
    let refuse =
        |message: &str, code: &str| answer(state, format, StatusCode::BAD_REQUEST, t.error_title, message, code);
    let (email, name) =
        fields(format, body).map_err(|e| refuse(&format!("the body is not JSON: {e}"), "invalid_json"))?;
    let email = normalize_email(&email).map_err(|e| match e {
        StoreError::AddressLiteral(_) => refuse(t.address_literal_message, "invalid_email"),
        _ => refuse(t.invalid_email_message, "invalid_email"),
    })?;
    let name = normalize_name(name.as_deref()).map_err(|_| refuse(t.invalid_name_message, "invalid_name"))?;
    Ok(Request { format, email, name })
}

/// `POST /subscribe`.
pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = super::client::client_ip(peer.ip(), &headers, &state.config().http.trusted_proxies);
    let Request { format, email, name } = match request(&state, &headers, &body) {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let t = state.mailer().templates().locale().strings();
    // Before the address is looked up, so that a full queue answers every address alike.
    let Some(slot) = state.confirmations.reserve() else {
        tracing::error!("the confirmation queue is full: is the SMTP server answering?");
        let status = StatusCode::SERVICE_UNAVAILABLE;
        return answer(&state, format, status, t.error_title, t.unavailable_message, "unavailable");
    };
    let armed = if state.mailer().sealed() {
        // The store is away, and with it the key that signs confirmation links.
        Err(StoreError::Unavailable)
    } else {
        let (email, name) = (email.clone(), name.clone());
        super::blocking(&state, move |state| limit_and_arm(state, client, &email, name.as_deref())).await
    };
    let to_confirm = match armed {
        Ok(Armed::Limited) => {
            tracing::warn!(%client, "subscription rate limit reached");
            let status = StatusCode::TOO_MANY_REQUESTS;
            return answer(&state, format, status, t.error_title, t.too_many_requests_message, "rate_limited");
        }
        Ok(Armed::Pending(to_confirm)) => to_confirm,
        Err(e) => {
            tracing::error!(error = %mask_addresses(&e.to_string()), "the subscriber store failed");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return answer(&state, format, status, t.error_title, t.unavailable_message, "unavailable");
        }
    };
    if let Some(subscriber) = to_confirm {
        tracing::info!(subscriber = subscriber.id, "subscription pending; confirmation e-mail queued");
        slot.send(Job {
            subscriber: subscriber.id,
            version: subscriber.version,
            email: subscriber.email,
            name: subscriber.name,
            at: Utc::now(),
            mailer: state.mailer(),
            transport: state.transport(),
        });
    }
    answer(&state, format, StatusCode::ACCEPTED, t.check_inbox_title, t.check_inbox_message, "pending")
}

/// What a subscription did to the store.
enum Armed {
    /// Over a rate limit: nothing was changed.
    Limited,
    /// The subscriber to mail a confirmation; none when the address needs none.
    Pending(Option<Subscriber>),
}

/// Counts the subscription against the limits of its client and its address (kept in the
/// store, `store/limits.rs`), then — within them — makes the address pending
/// ([`crate::store::Store::subscribe`]). Two statements on PostgreSQL, on one connection.
fn limit_and_arm(state: &AppState, client: IpAddr, email: &str, name: Option<&str>) -> Result<Armed, StoreError> {
    let now = Utc::now();
    let mut store = state.store()?;
    let (client, address) = (format!("client {client}"), format!("address {}", email.to_lowercase()));
    let within = store.allow(
        &[
            Limit { key: &client, hits: PER_CLIENT.0, per: PER_CLIENT.1 },
            Limit { key: &address, hits: PER_ADDRESS.0, per: PER_ADDRESS.1 },
        ],
        now,
    )?;
    if !within {
        return Ok(Armed::Limited);
    }
    store.subscribe(email, name, now).map(Armed::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn media_types_are_compared_without_case_or_parameters() {
        for json in ["application/json", "Application/JSON", "application/json; charset=UTF-8", "application/ld+json"] {
            assert_eq!(format(&typed(json)), Ok(Format::Json), "{json}");
        }
        for form in ["application/x-www-form-urlencoded", "APPLICATION/X-WWW-FORM-URLENCODED;charset=utf-8"] {
            assert_eq!(format(&typed(form)), Ok(Format::Form), "{form}");
        }
        assert_eq!(format(&HeaderMap::new()), Ok(Format::Form));
        assert_eq!(format(&typed("Text/Plain; charset=utf-8")), Err("text/plain".to_owned()));
        assert_eq!(format(&typed("json")), Err("`json`".to_owned()));
    }
}
