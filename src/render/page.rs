//! The context of `page.html`, the one template of every page of the subscription flow
//! (subscribe, confirm, unsubscribe, errors): a title, a message and, when the page asks for a
//! decision, a form that POSTs it. Here rather than in `http/` so that loading the templates can
//! try a site's `page.html` on a sample page before using it.

use serde_json::json;
use tera::Context;

use crate::config::Config;
use crate::site::Locale;

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

/// The context `page.html` is rendered with.
pub fn context(config: &Config, locale: Locale, page: &Page<'_>) -> Context {
    let mut context = Context::new();
    context.insert(
        "site",
        &json!({ "title": config.title, "url": config.base_url.as_str(), "language": config.language }),
    );
    context.insert("t", &locale.strings());
    context.insert(
        "page",
        &json!({
            "title": page.title, "message": page.message, "action": page.action,
            "button": page.button, "ask_email": page.ask_email,
        }),
    );
    context
}

/// Whether `html`, rendered from [`sample`], shows the subscribe form: a form posting to the
/// subscribe URL with an `email` field. A page template that does not is no page of kurier's.
pub fn shows_the_form(config: &Config, html: &str) -> bool {
    html.contains(&config.public("subscribe")) && html.contains("name=\"email\"")
}

/// The subscribe page, with the form — the page that uses the most of the context.
pub fn sample(config: &Config, locale: Locale) -> Context {
    let t = locale.strings();
    let action = config.public("subscribe");
    let page = Page {
        title: t.subscribe_title,
        message: t.subscribe_message,
        action: Some(&action),
        button: t.subscribe_button,
        ask_email: true,
    };
    context(config, locale, &page)
}
