//! The HTML pages of the subscription flow, rendered from the `page.html` template in the
//! site's language. One template serves every page: a title, a message and, when the page asks
//! for a decision, a form that POSTs it (so that a link scanner's GET changes nothing).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, RETRY_AFTER_SECONDS};
use crate::mail::mask_addresses;
use crate::render::PAGE_HTML;
pub use crate::render::page::Page;

pub fn render(state: &AppState, status: StatusCode, page: &Page<'_>) -> Response {
    let mailer = state.mailer();
    let context = crate::render::page::context(&state.config(), mailer.templates().locale(), page);
    match mailer.templates().render(PAGE_HTML, &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page with only a title and a message.
pub fn message(state: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    render(state, status, &Page { title, message, action: None, button: "", ask_email: false })
}

pub fn not_found(state: &AppState) -> Response {
    let t = state.mailer().templates().locale().strings();
    message(state, StatusCode::NOT_FOUND, t.error_title, t.not_found_message)
}

/// `503` with `Retry-After`, for a store that cannot be used for the moment (§10: store faults
/// degrade, they do not kill); the error is logged, with any address in it masked.
pub fn unavailable(state: &AppState, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %mask_addresses(&error.to_string()), "the subscriber store failed");
    let t = state.mailer().templates().locale().strings();
    let mut response = message(state, StatusCode::SERVICE_UNAVAILABLE, t.error_title, t.unavailable_message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}
