//! The HTML pages of the subscription flow, rendered from the `page.html` template in the
//! site's language. One template serves every page: a title, a message and, when the page asks
//! for a decision, a form that POSTs it (so that a link scanner's GET changes nothing).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tera::Context;

use super::AppState;
use crate::render::PAGE_HTML;

/// What one page shows.
pub struct Page<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// Where the form posts to, if the page has one.
    pub action: Option<&'a str>,
    pub button: &'a str,
    /// Whether the form asks for an address (the subscribe page).
    pub ask_email: bool,
}

pub fn render(state: &AppState, status: StatusCode, page: &Page<'_>) -> Response {
    let config = state.config();
    let mailer = state.mailer();
    let mut context = Context::new();
    context.insert(
        "site",
        &json!({ "title": config.title, "url": config.base_url.as_str(), "language": config.language }),
    );
    context.insert("t", &mailer.templates().locale().strings());
    context.insert(
        "page",
        &json!({
            "title": page.title, "message": page.message, "action": page.action,
            "button": page.button, "ask_email": page.ask_email,
        }),
    );
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
