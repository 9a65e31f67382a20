//! One post: a Markdown file turned into everything feeds and digests need.
//!
//! Reading a post is a pure function of its file, the configuration and nothing else (visibility
//! against the clock is decided later, by `Site::load`), which is what lets posts be read in
//! parallel and, in the daemon, re-read one at a time when a single file changes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use url::Url;

use super::front_matter::{self, FrontMatter};
use super::{Warning, date, excerpt, html, markdown, related, shortcodes, slug, source};
use crate::config::{Config, PermalinkParts};

/// Tags (and, separately, categories) a post may have; the rest are left out with a warning.
/// Each tag is a feed of its own: a post with thousands would make a rebuild write thousands.
pub const MAX_TAGS: usize = 100;
/// The largest post file read (a long book chapter is a few hundred KiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// The largest HTML a post may render to (it goes into every feed that lists it).
pub const MAX_RENDERED_BYTES: usize = 16 << 20;

/// A post: what was read from its file, shared, and its place in one site.
///
/// A daemon's rebuild takes every post out of its cache into a new site: what was read is a
/// reference count to copy, not a dozen strings and maps per post (at 10,000 posts the copies
/// were a third of an edit's rebuild), and the cache and the site hold one copy between them.
/// Read it through `Deref`; change it with [`Post::read_mut`].
#[derive(Debug, Clone)]
pub struct Post {
    read: Arc<ReadPost>,
    /// Indices into `Site::posts` of the most related posts, best first.
    pub related: Vec<usize>,
}

impl std::ops::Deref for Post {
    type Target = ReadPost;

    fn deref(&self) -> &ReadPost {
        &self.read
    }
}

impl Post {
    pub fn new(read: ReadPost) -> Post {
        Post { read: Arc::new(read), related: Vec::new() }
    }

    /// What was read, to change: copied first if another site or the cache shares it.
    pub fn read_mut(&mut self) -> &mut ReadPost {
        Arc::make_mut(&mut self.read)
    }
}

/// A post as read from its file.
#[derive(Debug, Clone)]
pub struct ReadPost {
    /// The file, relative to the site root (`content/2026-11-26-jak-cwiczyc.md`).
    pub source: PathBuf,
    /// Front matter `id`, else the permalink. Never changes while the post does not.
    pub id: String,
    pub title: String,
    pub slug: String,
    /// The absolute permalink.
    pub url: String,
    pub date: DateTime<FixedOffset>,
    pub updated: Option<DateTime<FixedOffset>>,
    /// Hugo's `publishDate`: hidden until then, like a post dated in the future.
    pub publish_date: Option<DateTime<FixedOffset>>,
    /// Hugo's `expiryDate`: hidden from then on.
    pub expiry_date: Option<DateTime<FixedOffset>>,
    pub tags: Vec<String>,
    pub categories: Vec<String>,
    /// `tags` and `categories` as slugs, computed once: every build groups posts by them.
    pub tag_slugs: Vec<String>,
    pub category_slugs: Vec<String>,
    pub authors: Vec<String>,
    /// Absolute URL of the post's image.
    pub image: Option<String>,
    pub draft: bool,
    /// `feed = false` keeps a post out of feeds and digests.
    pub in_feeds: bool,
    /// Sanitized HTML with absolute URLs (shared: the daemon's rebuilds copy posts cheaply).
    pub content_html: Arc<str>,
    /// The HTML was dropped after reading, no feed being able to list the post (`slots.rs`);
    /// `content_html` is empty.
    pub content_dropped: bool,
    /// Sanitized, balanced HTML excerpt with absolute URLs.
    pub summary_html: Arc<str>,
    /// The excerpt as plain text.
    pub summary_text: String,
    /// Front-matter keys kurier has no meaning for, for templates.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Term counts of the title and text, for related posts.
    pub terms: Arc<related::Terms>,
    /// A hash of the file's path and bytes: equal revisions mean an unchanged post, which lets
    /// the daemon skip feeds none of whose items changed.
    pub revision: u64,
    /// What was left out of the post, with why (more than [`MAX_TAGS`] tags).
    pub warnings: Vec<Warning>,
}

impl ReadPost {
    /// When the post becomes visible: its `publishDate`, else its date.
    pub fn visible_from(&self) -> DateTime<FixedOffset> {
        self.publish_date.unwrap_or(self.date)
    }

    /// The date a reader should see as "last changed".
    pub fn last_modified(&self) -> DateTime<FixedOffset> {
        self.updated.map_or(self.date, |u| u.max(self.date))
    }
}

/// A post that could not be read: `path:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostError {
    pub path: PathBuf,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

impl std::error::Error for PostError {}

/// Turns the bytes of the post file `relative` (a path that starts with the content folder) into
/// a post. Reading the file is left to the caller, which knows what a failed read means
/// (`cache.rs`: a vanished file leaves, an unreadable one keeps its last good version).
///
/// The steps, each a function below: the front matter; the dates ([`dates`]); the slug and the
/// permalink; tags and categories ([`taxonomy`]); the body — shortcodes, Markdown, HTML
/// ([`body`]); the excerpt ([`summary`]); the terms related posts are found by ([`terms`]).
pub fn parse(relative: &Path, bytes: &[u8], content_dir: &Path, config: &Config) -> Result<Post, PostError> {
    let text = source::decode(bytes).map_err(|(line, reason)| PostError { path: relative.to_owned(), line, reason })?;
    let revision = revision(relative, bytes);
    let split = front_matter::split(&text).map_err(|e| PostError {
        path: relative.to_owned(),
        line: e.line,
        reason: e.reason,
    })?;
    let file = File { relative, split: &split };
    let mut fm: FrontMatter = front_matter::parse(&split).map_err(|e| file.error(e.line, e.reason))?;

    let title = fm.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let title = title.ok_or_else(|| file.at_key("title", "title: missing or empty".into()))?.to_owned();
    let in_content = relative.strip_prefix(content_dir).unwrap_or(relative);
    let (file_date, file_slug, section) = from_path(in_content);
    let dates = dates(&fm, file_date, &file, config)?;
    let slug = match (&fm.slug, file_slug) {
        (Some(explicit), _) => slug::slugify(explicit),
        (None, Some(from_file)) => slug::slugify(&from_file),
        (None, None) => slug::slugify(&title),
    };
    if slug.is_empty() {
        return Err(file.at_key("slug", "slug: nothing is left of it after transliteration".into()));
    }
    let mut warnings = Vec::new();
    let (tags, categories) = taxonomy(&mut fm, &file, &mut warnings);
    let category_slug = categories.first().map(|c| slug::slugify(c));
    let path = config.permalink.render(&PermalinkParts {
        date: dates.date.date_naive(),
        slug: &slug,
        category: category_slug.as_deref(),
        section: &section,
    });
    let url = config.url(&path);
    let base = Url::parse(&url).map_err(|e| file.error(1, format!("permalink `{url}` is not a URL: {e}")))?;
    let text = body_text(&fm, &file, in_content, config, &mut warnings);
    let body = render(&text, &file, &base)?;
    let (summary_html, summary_text) = summary(&fm, &body, &base);
    let terms = terms(&title, &body.events);

    let mut authors = clean_list(fm.authors.into_vec());
    if let Some(author) = fm.author.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        authors.insert(0, author.to_owned());
    }
    let image = fm
        .image
        .as_deref()
        .map(|image| base.join(image.trim()).map(String::from))
        .transpose()
        .map_err(|e| file.at_key("image", format!("image: not a URL: {e}")))?;

    Ok(Post::new(ReadPost {
        source: relative.to_owned(),
        id: fm.id.map(|id| source::xml_safe(id.trim())).filter(|id| !id.is_empty()).unwrap_or_else(|| url.clone()),
        title: source::xml_safe(&title),
        slug,
        url,
        date: dates.date,
        updated: dates.updated,
        publish_date: dates.publish,
        expiry_date: dates.expiry,
        tag_slugs: tags.iter().map(|t| slug::tag_slug(t)).collect(),
        category_slugs: categories.iter().map(|c| slug::tag_slug(c)).collect(),
        tags,
        categories,
        authors,
        image,
        draft: fm.draft,
        in_feeds: fm.feed.unwrap_or(true),
        summary_html: summary_html.into(),
        summary_text,
        content_html: body.html.into(),
        content_dropped: false,
        extra: fm.extra,
        terms: Arc::new(terms),
        revision,
        warnings,
    }))
}

/// The post file being read, for errors that name its lines.
struct File<'a> {
    relative: &'a Path,
    split: &'a front_matter::Split<'a>,
}

impl File<'_> {
    fn error(&self, line: usize, reason: String) -> PostError {
        PostError { path: self.relative.to_owned(), line, reason }
    }

    /// An error at the line of front-matter `key` (or the first line).
    fn at_key(&self, key: &str, reason: String) -> PostError {
        self.error(self.line_of(key).max(1), reason)
    }

    fn line_of(&self, key: &str) -> usize {
        front_matter::line_of_key(self.split, key)
    }
}

/// A post's dates, parsed in the site's time zone.
struct Dates {
    date: DateTime<FixedOffset>,
    updated: Option<DateTime<FixedOffset>>,
    publish: Option<DateTime<FixedOffset>>,
    expiry: Option<DateTime<FixedOffset>>,
}

/// `date`, else Hugo's `publishDate`, else the file name's date; Zola's `updated`, else Hugo's
/// `lastmod`; Hugo's `publishDate` and `expiryDate`.
fn dates(
    fm: &FrontMatter,
    file_date: Option<chrono::NaiveDate>,
    file: &File<'_>,
    config: &Config,
) -> Result<Dates, PostError> {
    let field = |key: &str, value: &Option<front_matter::DateValue>| match value {
        Some(value) => date::parse(&value.as_text(), config.timezone)
            .map(Some)
            .map_err(|reason| file.error(file.line_of(key), format!("{key}: {reason}"))),
        None => Ok(None),
    };
    let publish = field("publishDate", &fm.publish_date)?;
    let expiry = field("expiryDate", &fm.expiry_date)?;
    let date = match (field("date", &fm.date)?, publish, file_date) {
        (Some(date), _, _) | (None, Some(date), _) => date,
        (None, None, Some(day)) => date::local(day.and_time(chrono::NaiveTime::MIN), config.timezone),
        (None, None, None) => {
            return Err(file.error(1, "date: missing (set `date` or name the file YYYY-MM-DD-slug.md)".into()));
        }
    };
    let updated = match field("updated", &fm.updated)? {
        Some(updated) => Some(updated),
        None => field("lastmod", &fm.lastmod)?,
    };
    Ok(Dates { date, updated, publish, expiry })
}

/// Tags and categories, Zola's `[taxonomies]` joined to them, cleaned, at most [`MAX_TAGS`] each
/// (the rest left out with a warning).
fn taxonomy(fm: &mut FrontMatter, file: &File<'_>, warnings: &mut Vec<Warning>) -> (Vec<String>, Vec<String>) {
    let mut limited = |mut items: Vec<String>, key: &str| {
        if items.len() > MAX_TAGS {
            let reason = format!("{key}: {} of them; only the first {MAX_TAGS} are used", items.len());
            warnings.push(Warning { path: file.relative.to_owned(), line: Some(file.line_of(key)), reason });
            items.truncate(MAX_TAGS);
        }
        items
    };
    let mut tags = std::mem::take(&mut fm.tags).into_vec();
    tags.extend(std::mem::take(&mut fm.taxonomies.tags).into_vec());
    let mut categories = std::mem::take(&mut fm.categories).into_vec();
    categories.extend(std::mem::take(&mut fm.taxonomies.categories).into_vec());
    let tags = limited(clean_list(tags), "tags");
    let categories = limited(clean_list(categories), "categories");
    (tags, categories)
}

/// The body as Markdown events and as HTML.
struct Body<'a> {
    events: Vec<pulldown_cmark::Event<'a>>,
    html: String,
    /// Whether the Markdown has no raw HTML: then pulldown-cmark's HTML needs no sanitizer.
    plain: bool,
}

/// The Markdown of the body: shortcodes and Liquid tags replaced (their warnings added), the
/// excerpt separator made a `<!-- more -->`.
fn body_text<'a>(
    fm: &FrontMatter,
    file: &File<'a>,
    in_content: &Path,
    config: &Config,
    warnings: &mut Vec<Warning>,
) -> std::borrow::Cow<'a, str> {
    let permalink_of = |target: &str| {
        let (date, slug, section) = from_path(Path::new(target));
        let slug = slug::slugify(slug.as_deref().unwrap_or_default());
        match date {
            Some(date) => config.url(&config.permalink.render(&PermalinkParts {
                date,
                slug: &slug,
                category: None,
                section: &section,
            })),
            // Without a date in its name the target's permalink cannot be known here: the
            // folder-and-slug URL (Hugo's default) is the best guess.
            None if section.is_empty() => config.url(&format!("{slug}/")),
            None => config.url(&format!("{section}/{slug}/")),
        }
    };
    let base_path = config.base_url.path().trim_end_matches('/');
    let site_url = config.base_url.as_str();
    let site_url = &site_url[..site_url.len() - config.base_url.path().len()];
    let in_content_text = in_content.to_string_lossy();
    let context =
        shortcodes::Context { permalink_of: &permalink_of, in_content: &in_content_text, site_url, base_path };
    let rewritten = shortcodes::rewrite(file.split.body, &context);
    for (line, reason) in rewritten.warnings {
        let line = Some(file.split.body_line + line - 1);
        warnings.push(Warning { path: file.relative.to_owned(), line, reason });
    }
    let mut text = rewritten.text;
    // Jekyll's `excerpt_separator` (the post's, else the site's) works like `<!-- more -->`: it
    // becomes one.
    let separator = fm.excerpt_separator.as_deref().or(config.content.excerpt_separator.as_deref());
    if let Some(separator) = separator.filter(|s| !s.trim().is_empty())
        && let Some(at) = text.find(separator)
    {
        text = format!("{}{}{}", &text[..at], markdown::MORE_MARKER, &text[at + separator.len()..]).into();
    }
    text
}

/// Markdown → HTML with absolute URLs, sanitized when it holds raw HTML.
fn render<'t>(text: &'t str, file: &File<'_>, base: &Url) -> Result<Body<'t>, PostError> {
    let mut events = markdown::parse(text);
    // Markdown without raw HTML is safe as pulldown-cmark writes it once its URLs are absolute;
    // only the rest goes through the sanitizer (most of a build's time when it did).
    let plain = markdown::is_plain(&events);
    if plain {
        html::absolutize_events(&mut events, base);
    }
    let html = markdown::to_html(events.iter().cloned());
    let html = if plain { html } else { html::clean(&html, base) };
    if html.len() > MAX_RENDERED_BYTES {
        let reason = format!(
            "renders to {} MiB of HTML, more than the {} MiB a post may",
            html.len() >> 20,
            MAX_RENDERED_BYTES >> 20
        );
        return Err(file.error(1, reason));
    }
    Ok(Body { events, html, plain })
}

/// The excerpt as HTML and as text: front-matter `summary` (else `description`), else the start
/// of the body ([`excerpt`]).
fn summary(fm: &FrontMatter, body: &Body<'_>, base: &Url) -> (String, String) {
    let summary =
        [fm.summary.as_deref(), fm.description.as_deref()].into_iter().flatten().map(str::trim).find(|s| !s.is_empty());
    match summary {
        Some(summary) => {
            let excerpt = excerpt::whole(&source::xml_safe(summary));
            (html::clean(&excerpt.html, base), excerpt.text)
        }
        None => {
            let excerpt = excerpt::from_events(&body.events, excerpt::EXCERPT_WORDS);
            let html = if body.plain { excerpt.html } else { html::clean(&excerpt.html, base) };
            (html, excerpt.text)
        }
    }
}

/// The terms related posts are found by: the title's words twice, the body's text and code.
fn terms(title: &str, events: &[pulldown_cmark::Event<'_>]) -> related::Terms {
    let mut terms = related::TermCounter::default();
    terms.add(title);
    terms.add(title);
    for event in events {
        if let pulldown_cmark::Event::Text(text) | pulldown_cmark::Event::Code(text) = event {
            terms.add(text);
        }
    }
    terms.finish()
}

/// A hash of a post file's path and bytes: equal revisions mean an unchanged post.
pub fn revision(relative: &Path, bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    relative.hash(&mut hasher);
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Date, slug and section from a path below `content/`: `2026/2026-11-26-jak-cwiczyc.md` and the
/// page-bundle form `jak-cwiczyc/index.md` both work.
fn from_path(in_content: &Path) -> (Option<chrono::NaiveDate>, Option<String>, String) {
    let stem = in_content.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let mut parent = in_content.parent().unwrap_or(Path::new(""));
    let name = if stem == "index" || stem == "_index" {
        let folder = parent.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        parent = parent.parent().unwrap_or(Path::new(""));
        folder
    } else {
        stem.to_owned()
    };
    let section =
        parent.components().filter_map(|c| c.as_os_str().to_str()).map(slug::slugify).collect::<Vec<_>>().join("/");
    match slug::split_dated_stem(&name) {
        Some((date, rest)) => (Some(date), Some(rest.to_owned()).filter(|r| !r.is_empty()), section),
        None => (None, Some(name).filter(|n| !n.is_empty()), section),
    }
}

/// Trims, drops empty entries and duplicates, keeps the author's order.
fn clean_list(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = source::xml_safe(item.trim());
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_front_matter_escapes_are_removed() {
        let text = "+++\ntitle = \"a\\u0001b\"\ndate = 2026-01-01\nid = \"x\\u0002y\"\nsummary = \"s\\u0003t\"\ntags = [\"t\\u0004u\"]\n+++\nx\n";
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        let post = parse(Path::new("content/a.md"), text.as_bytes(), Path::new("content"), &config).unwrap();
        assert_eq!((post.title.as_str(), post.id.as_str(), post.summary_text.as_str()), ("ab", "xy", "st"));
        assert_eq!(post.tags, ["tu"]);
    }

    #[test]
    fn a_post_with_thousands_of_tags_keeps_the_first_hundred_and_says_so() {
        // Regression: a post with 5,000 tags rebuilt for 6.5 minutes and wrote 1.3 GB.
        let tags: Vec<String> = (0..5000).map(|i| format!("\"t{i}\"")).collect();
        let text = format!("+++\ntitle = \"a\"\ndate = 2026-01-01\ntags = [{}]\n+++\nx\n", tags.join(", "));
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        let post = parse(Path::new("content/a.md"), text.as_bytes(), Path::new("content"), &config).unwrap();
        assert_eq!(post.tags.len(), MAX_TAGS);
        assert_eq!((post.tags[0].as_str(), post.tags[99].as_str()), ("t0", "t99"));
        let warnings: Vec<String> = post.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings, ["content/a.md:4: tags: 5000 of them; only the first 100 are used"]);
    }

    #[test]
    fn a_post_that_renders_to_too_much_html_is_an_error_naming_it() {
        // Every `<` becomes `&lt;`: 5 MiB of text renders to 20 MiB.
        let text = format!("+++\ntitle = \"a\"\ndate = 2026-01-01\n+++\n{}\n", "<".repeat(5 << 20));
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        let err = parse(Path::new("content/a.md"), text.as_bytes(), Path::new("content"), &config).unwrap_err();
        assert_eq!(err.to_string(), "content/a.md:1: renders to 20 MiB of HTML, more than the 16 MiB a post may");
    }

    #[test]
    fn dated_file_names_and_bundles_give_date_slug_and_section() {
        let (date, slug, section) = from_path(Path::new("2026-11-26-jak-cwiczyc.md"));
        assert_eq!(date.unwrap().to_string(), "2026-11-26");
        assert_eq!(slug.as_deref(), Some("jak-cwiczyc"));
        assert_eq!(section, "");
        let (date, slug, section) = from_path(Path::new("Porady/Sen i stres/index.md"));
        assert!(date.is_none());
        assert_eq!(slug.as_deref(), Some("Sen i stres"));
        assert_eq!(section, "porady");
    }
}
