//! The rendered content of one issue, made once and personalized per subscriber.
//!
//! Rendering Tera templates and inlining CSS for every one of 100,000 subscribers would cost
//! more than sending, so an issue is rendered once with placeholders where the subscriber's
//! address, name and unsubscribe link go, and each message substitutes them — HTML-escaped in the
//! HTML part. A placeholder is a random token between two characters of Unicode's private use
//! area, drawn anew for every render: neither Tera nor css-inline makes one, and a post cannot
//! guess it (a post that holds what looks like a placeholder keeps its text). The bodies are
//! encoded (quoted-printable) once too, except the lines that hold a placeholder
//! (`mail/body.rs`). Subscribers with and without a name get separate renders, so a
//! template's `{% if subscriber.name %}` works. The archived "view in browser" page is a third
//! render, without subscriber, without unsubscribe link and without a link to itself
//! (`archive` is true in its context).
//!
//! The context also gives each post its excerpt as plain text with numbered links
//! (`render/text.rs`), and the issue a `preheader`: the first post's excerpt, which inbox lists
//! show as the snippet after the subject instead of the first words of the layout.

use chrono::{DateTime, Utc};
use serde_json::json;
use tera::Context;

use crate::config::Config;
use crate::mail::body::BodyTemplate;
use crate::mail::one_line;
use crate::render::{DIGEST_HTML, DIGEST_TXT, RenderError, SUBJECT, Templates, text};
use crate::site::FrozenPost;
use crate::site::escape_html;
use lettre::message::Body;

/// Where one render puts what differs between subscribers.
#[derive(Debug, Clone)]
struct Placeholders {
    email: String,
    name: String,
    unsubscribe: String,
}

impl Placeholders {
    fn new() -> Placeholders {
        let nonce = format!("{:016x}", fastrand::u64(..));
        let token = |what: &str| format!("\u{E000}{what}.{nonce}\u{E001}");
        Placeholders { email: token("email"), name: token("name"), unsubscribe: token("unsubscribe") }
    }
}

/// One rendering of the message bodies, encoded once where they do not depend on the subscriber
/// (`mail/body.rs`).
#[derive(Debug, Clone)]
struct Bodies {
    html: BodyTemplate,
    text: BodyTemplate,
}

/// An issue rendered for every subscriber at once.
#[derive(Debug, Clone)]
pub struct IssueContent {
    pub subject: String,
    named: Bodies,
    unnamed: Bodies,
    /// The "view in browser" page.
    pub archive_html: String,
}

/// The URL of an issue's archived page.
pub fn archive_url(config: &Config, issue: i64) -> String {
    config.public(&format!("digests/{issue}"))
}

fn context(
    config: &Config,
    templates: &Templates,
    issue: Option<i64>,
    date: &str,
    subject: &str,
    posts: &[FrozenPost],
) -> Context {
    let locale = templates.locale();
    let mut context = Context::new();
    context.insert(
        "site",
        &json!({
            "title": config.title, "description": config.description,
            "url": config.base_url.as_str(), "language": config.language,
        }),
    );
    context.insert("posts", &with_text(posts));
    context.insert("preheader", &preheader(posts));
    context.insert("footer", &config.digest.footer);
    context.insert("archive", &false);
    context.insert("count", &posts.len());
    context.insert("new_posts", &locale.new_posts(posts.len() as u64));
    context.insert("t", &locale.strings());
    let archive = issue.map(|id| archive_url(config, id)).unwrap_or_default();
    context.insert("issue", &json!({ "id": issue, "date": date, "subject": subject, "archive_url": archive }));
    context
}

/// The subject of an issue with these posts.
pub fn subject(
    config: &Config,
    templates: &Templates,
    created: DateTime<Utc>,
    posts: &[FrozenPost],
) -> Result<String, RenderError> {
    let context = context(config, templates, None, &created.to_rfc3339(), "", posts);
    Ok(one_line(&templates.render(SUBJECT, &context)?))
}

/// The posts with `text` (the excerpt as plain text, links as `[n]`) and `links` (`n`, `url`),
/// numbered through the whole issue.
fn with_text(posts: &[FrozenPost]) -> Vec<serde_json::Value> {
    let mut links = Vec::new();
    posts
        .iter()
        .map(|post| {
            let first = links.len();
            let text = text::from_html(&post.summary_html, &mut links);
            let mut value = serde_json::to_value(post).expect("plain data serializes");
            value["text"] = json!(text);
            value["links"] = json!(
                links[first..]
                    .iter()
                    .enumerate()
                    .map(|(i, url)| json!({ "n": first + i + 1, "url": url }))
                    .collect::<Vec<_>>()
            );
            value
        })
        .collect()
}

/// Inbox lists show about 100 characters after the subject: the first post's excerpt, cut at
/// a word.
const PREHEADER_CHARS: usize = 140;

fn preheader(posts: &[FrozenPost]) -> String {
    let Some(first) = posts.first() else { return String::new() };
    let text = one_line(&first.summary_text);
    if text.chars().count() <= PREHEADER_CHARS {
        return text;
    }
    let mut cut = String::new();
    for word in text.split(' ') {
        if cut.chars().count() + word.chars().count() + 1 > PREHEADER_CHARS {
            break;
        }
        if !cut.is_empty() {
            cut.push(' ');
        }
        cut.push_str(word);
    }
    format!("{}…", cut.trim_end_matches(['…', '.', ',', ';', ':']))
}

/// Renders issue `id`, created at `created_at` (RFC 3339), with its stored subject and posts.
pub fn render(
    config: &Config,
    templates: &Templates,
    id: i64,
    created_at: &str,
    subject: &str,
    posts: &[FrozenPost],
) -> Result<IssueContent, RenderError> {
    let base = context(config, templates, Some(id), created_at, subject, posts);
    let bodies = |name: &str, email: &str, unsubscribe: &str, archive: bool| -> Result<(String, String), RenderError> {
        let mut context = base.clone();
        context.insert("archive", &archive);
        context.insert("subscriber", &json!({ "email": email, "name": name }));
        context.insert("unsubscribe_url", unsubscribe);
        let html = templates.render(DIGEST_HTML, &context)?;
        let html = css_inline::inline(&html).map_err(|e| RenderError {
            origin: DIGEST_HTML.to_owned(),
            message: format!("cannot inline its CSS: {e}"),
        })?;
        let plain =
            if archive { String::new() } else { text::wrap(&templates.render(DIGEST_TXT, &context)?, text::WIDTH) };
        Ok((html, plain))
    };
    let p = Placeholders::new();
    let placeholders = [p.email.as_str(), p.name.as_str(), p.unsubscribe.as_str()];
    let templates = |(html, text): (String, String)| Bodies {
        html: BodyTemplate::new(&html, &placeholders),
        text: BodyTemplate::new(&text, &placeholders),
    };
    Ok(IssueContent {
        subject: subject.to_owned(),
        named: templates(bodies(&p.name, &p.email, &p.unsubscribe, false)?),
        unnamed: templates(bodies("", &p.email, &p.unsubscribe, false)?),
        archive_html: bodies("", "", "", true)?.0,
    })
}

/// One subscriber's values, in the placeholders' order: as they go into the HTML part
/// (escaped) and into the text part.
struct Values {
    html: [String; 3],
    text: [String; 3],
}

impl IssueContent {
    fn for_subscriber(&self, email: &str, name: Option<&str>, unsubscribe_url: &str) -> (&Bodies, Values) {
        let name = name.filter(|n| !n.trim().is_empty());
        let bodies = if name.is_some() { &self.named } else { &self.unnamed };
        let text = [email.to_owned(), name.unwrap_or_default().to_owned(), unsubscribe_url.to_owned()];
        let html = text.each_ref().map(|value| escape_html(value));
        (bodies, Values { html, text })
    }

    /// The HTML and text bodies for one subscriber, as text.
    pub fn personalize(&self, email: &str, name: Option<&str>, unsubscribe_url: &str) -> (String, String) {
        let (bodies, values) = self.for_subscriber(email, name, unsubscribe_url);
        (
            bodies.html.fill_text(&values.html.each_ref().map(String::as_str)),
            bodies.text.fill_text(&values.text.each_ref().map(String::as_str)),
        )
    }

    /// The HTML and text bodies for one subscriber, encoded: what lettre makes of
    /// [`IssueContent::personalize`]'s texts, without encoding again what all subscribers share.
    pub fn encoded(&self, email: &str, name: Option<&str>, unsubscribe_url: &str) -> (Body, Body) {
        let (bodies, values) = self.for_subscriber(email, name, unsubscribe_url);
        (
            bodies.html.fill(&values.html.each_ref().map(String::as_str)),
            bodies.text.fill(&values.text.each_ref().map(String::as_str)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        let text = "title = \"Blog\"\nbase_url = \"https://example.org/\"\nlanguage = \"pl\"\n\
                    [digest]\nfooter = \"Redakcja, ul. Przykładowa 1, 00-001 Warszawa\"\n";
        Config::parse(text, Path::new("kurier.toml")).unwrap()
    }

    fn post(summary_html: &str, summary_text: &str) -> FrozenPost {
        FrozenPost {
            id: "a".into(),
            title: "Sen i ciało".into(),
            url: "https://example.org/sen/".into(),
            date: "2026-11-26T08:00:00+01:00".into(),
            summary_html: summary_html.into(),
            summary_text: summary_text.into(),
            tags: vec![],
            related: vec![crate::site::RelatedPost {
                title: "Oddech".into(),
                url: "https://example.org/oddech/".into(),
            }],
        }
    }

    fn issue() -> IssueContent {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::load(dir.path(), &config()).unwrap();
        let posts = [post("<p>Sen to <a href=\"https://example.org/x\">praca</a> ciała.</p>", "Sen to praca ciała.")];
        render(&config(), &templates, 7, "2026-11-26T08:00:00+01:00", "Blog: 1 nowy wpis", &posts).unwrap()
    }

    #[test]
    fn the_archived_page_has_no_unsubscribe_link_and_no_link_to_itself() {
        let archive = issue().archive_html;
        assert!(!archive.contains("digests/7"), "{archive}");
        assert!(!archive.contains("href=\"\""), "{archive}");
        assert!(!archive.contains("unsubscribe") && !archive.contains("Wypisz"), "{archive}");
        assert!(archive.contains("Przykładowa 1"), "the footer line stays: {archive}");
    }

    #[test]
    fn the_inbox_snippet_is_the_first_excerpt_and_each_post_lists_its_related_posts() {
        let (html, text) = issue().personalize("anna@example.org", Some("Anna"), "https://example.org/unsubscribe/t");
        let body = &html[html.find("<body").unwrap()..];
        let first_text = body.split('>').map(|s| s.split('<').next().unwrap().trim()).find(|s| !s.is_empty());
        assert_eq!(first_text, Some("Sen to praca ciała."));
        assert!(html.contains("href=\"https://example.org/oddech/\""), "{html}");
        assert!(text.contains("Sen to praca [1] ciała.\n\n[1] https://example.org/x\n"), "{text}");
        assert!(text.contains("- Oddech\n  https://example.org/oddech/"), "{text}");
        assert!(text.contains("\n-- \nRedakcja, ul. Przykładowa 1"), "{text}");
        assert!(!text.contains("Anna") && text.contains("Dzień dobry!"), "no nominative greeting: {text}");
    }

    #[test]
    fn a_long_first_excerpt_is_cut_at_a_word_for_the_preheader() {
        let long = "słowo ".repeat(60);
        let snippet = preheader(&[post("", &long)]);
        assert!(snippet.ends_with("słowo…") && snippet.chars().count() <= PREHEADER_CHARS + 1, "{snippet}");
    }

    #[test]
    fn a_post_that_holds_what_looks_like_a_placeholder_keeps_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::load(dir.path(), &config()).unwrap();
        let lookalike = "\u{E000}email\u{E001}";
        let posts = [post(&format!("<p>x {lookalike} y</p>"), &format!("x {lookalike} y"))];
        let issue = render(&config(), &templates, 7, "2026-11-26T08:00:00+01:00", "Blog", &posts).unwrap();
        let (html, text) = issue.personalize("anna@example.org", None, "https://example.org/unsubscribe/t");
        assert!(html.contains(&format!("x {lookalike} y")), "{html}");
        assert!(text.contains(&format!("x {lookalike} y")), "{text}");
        assert!(
            html.contains("https://example.org/unsubscribe/t") && text.contains("https://example.org/unsubscribe/t")
        );
        for what in ["email.", "name.", "unsubscribe."] {
            let left = format!("\u{E000}{what}");
            assert!(!html.contains(&left) && !text.contains(&left), "a placeholder is left: {what}");
        }
    }
}
