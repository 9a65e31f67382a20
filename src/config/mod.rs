//! `kurier.toml` → [`Config`], parsed once with serde and validated at load.
//!
//! Every error names the file, the line and the key, so that an operator can go straight to the
//! mistake: a missing `base_url`, an unknown time zone, a bad permalink pattern, a typo'd key
//! (unknown keys are refused: a misspelt setting silently ignored is worse than an error).
//! This module owns the shape of the configuration; the code that acts on a setting lives with the
//! noun it concerns (the permalink pattern in [`permalink`], feeds in `feed/`).

mod permalink;

pub use permalink::{Permalink, PermalinkParts};

use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

/// The name of the configuration file at the root of a site.
pub const CONFIG_FILE: &str = "kurier.toml";

/// A validated site configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub title: String,
    pub description: String,
    /// Absolute `http(s)` URL, always ending in `/`, so that joining a relative path keeps its path.
    pub base_url: Url,
    /// BCP 47 language tag, lower-cased primary subtag first (`pl`, `en-GB`).
    pub language: String,
    pub timezone: Tz,
    pub author: Option<Author>,
    pub permalink: Permalink,
    /// Where feeds are written, relative to the site root unless absolute.
    pub output_dir: PathBuf,
    pub feeds: FeedsConfig,
    pub digest: DigestConfig,
    pub smtp: Option<SmtpConfig>,
    pub http: HttpConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FeedContent {
    /// Summary and full HTML content in every item.
    Full,
    /// Summary only.
    Summary,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// Items per feed.
    pub limit: usize,
    pub content: FeedContent,
    /// Related posts per item; 0 turns them off.
    pub related: usize,
    /// Per-tag feeds under `tags/<tag-slug>/`.
    pub tags: bool,
}

impl Default for FeedsConfig {
    fn default() -> Self {
        FeedsConfig {
            limit: 20,
            content: FeedContent::Full,
            related: 3,
            tags: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Cron expression with a seconds field, read in the site's time zone.
    pub schedule: String,
    pub from: Option<String>,
    /// A Tera template for the subject line.
    pub subject: Option<String>,
    pub max_posts: usize,
    pub first_window_days: u32,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: "0 0 8 * * Mon".to_owned(),
            from: None,
            subject: None,
            max_posts: 10,
            first_window_days: 7,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub url: String,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub rate_per_second: u32,
}

fn default_concurrency() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".to_owned(),
        }
    }
}

/// The file as written, before validation. Fields that are validated after parsing keep their
/// span so that the error can name the line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    title: String,
    #[serde(default)]
    description: String,
    base_url: Spanned<String>,
    #[serde(default = "default_language")]
    language: Spanned<String>,
    #[serde(default = "default_timezone")]
    timezone: Spanned<String>,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default = "default_permalink")]
    permalink: Spanned<String>,
    #[serde(default = "default_output_dir")]
    output_dir: PathBuf,
    #[serde(default)]
    feeds: FeedsConfig,
    #[serde(default)]
    digest: DigestConfig,
    #[serde(default)]
    smtp: Option<SmtpConfig>,
    #[serde(default)]
    http: HttpConfig,
}

fn default_language() -> Spanned<String> {
    Spanned::new(0..0, "en".to_owned())
}
fn default_timezone() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_owned())
}
fn default_permalink() -> Spanned<String> {
    Spanned::new(0..0, "/{year}/{month}/{slug}/".to_owned())
}
fn default_output_dir() -> PathBuf {
    PathBuf::from("public")
}

/// What is wrong with a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line, when the mistake has one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates `kurier.toml` in `root`.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            path: path.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path)
    }

    /// Parses and validates configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            path: path.to_owned(),
            line: span.filter(|s| s.end > 0).map(|s| line_of(text, s.start)),
            message,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| error(e.span(), e.message().trim().to_owned()))?;

        let base_url = parse_base_url(raw.base_url.get_ref())
            .map_err(|m| error(Some(raw.base_url.span()), format!("base_url: {m}")))?;
        let timezone: Tz = raw.timezone.get_ref().parse().map_err(|_| {
            error(
                Some(raw.timezone.span()),
                format!(
                    "timezone: unknown time zone `{}` (use an IANA name such as `Europe/Warsaw`)",
                    raw.timezone.get_ref()
                ),
            )
        })?;
        let language = validate_language(raw.language.get_ref())
            .map_err(|m| error(Some(raw.language.span()), format!("language: {m}")))?;
        let permalink = Permalink::parse(raw.permalink.get_ref())
            .map_err(|m| error(Some(raw.permalink.span()), format!("permalink: {m}")))?;
        if raw.title.trim().is_empty() {
            return Err(error(None, "title: must not be empty".to_owned()));
        }
        if raw.feeds.limit == 0 {
            return Err(error(None, "feeds.limit: must be at least 1".to_owned()));
        }

        Ok(Config {
            title: raw.title,
            description: raw.description,
            base_url,
            language,
            timezone,
            author: raw.author,
            permalink,
            output_dir: raw.output_dir,
            feeds: raw.feeds,
            digest: raw.digest,
            smtp: raw.smtp,
            http: raw.http,
        })
    }

    /// The absolute URL of `path` (relative to the site root, with or without a leading `/`).
    pub fn url(&self, path: &str) -> String {
        // Joining a relative reference onto a base that ends in `/` cannot fail.
        self.base_url
            .join(path.trim_start_matches('/'))
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{}", self.base_url, path.trim_start_matches('/')))
    }
}

fn parse_base_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("`{text}` is not an absolute URL ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("`{text}` must start with http:// or https://"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must not have a query or a fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A light BCP 47 check: subtags of 1–8 ASCII letters or digits, the first of 2–3 letters.
fn validate_language(tag: &str) -> Result<String, String> {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest_ok =
        subtags.all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(tag.to_owned())
    } else {
        Err(format!(
            "`{tag}` is not a BCP 47 language tag such as `pl` or `en-GB`"
        ))
    }
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("kurier.toml"))
    }

    const MINIMAL: &str = "title = \"T\"\nbase_url = \"https://example.org/blog\"\n";

    #[test]
    fn minimal_config_gets_defaults_and_a_slash_terminated_base_url() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.base_url.as_str(), "https://example.org/blog/");
        assert_eq!(
            config.url("/2026/11/a/"),
            "https://example.org/blog/2026/11/a/"
        );
        assert_eq!(config.language, "en");
        assert_eq!(config.timezone, chrono_tz::UTC);
        assert_eq!(config.feeds.limit, 20);
        assert_eq!(config.feeds.related, 3);
        assert_eq!(config.output_dir, PathBuf::from("public"));
        assert!(config.smtp.is_none());
    }

    #[test]
    fn missing_base_url_is_named() {
        let err = parse("title = \"T\"\n").unwrap_err();
        assert!(err.message.contains("base_url"), "{err}");
        assert!(err.to_string().starts_with("kurier.toml"), "{err}");
    }

    #[test]
    fn relative_base_url_is_refused_with_its_line() {
        let err = parse("title = \"T\"\n\nbase_url = \"/blog\"\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .starts_with("base_url: `/blog` is not an absolute URL"),
            "{err}"
        );
    }

    #[test]
    fn unknown_timezone_is_named_with_its_line() {
        let err = parse(&format!("{MINIMAL}timezone = \"Europe/Warsw\"\n")).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("timezone: unknown time zone `Europe/Warsw`"),
            "{err}"
        );
    }

    #[test]
    fn bad_permalink_pattern_is_named() {
        let err = parse(&format!("{MINIMAL}permalink = \"/{{year}}/{{slg}}/\"\n")).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .starts_with("permalink: unknown placeholder `{slg}`"),
            "{err}"
        );
    }

    #[test]
    fn typo_in_a_key_is_an_error_naming_the_key_and_line() {
        let err = parse(&format!("{MINIMAL}[feeds]\nlimt = 5\n")).unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("unknown field `limt`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_line() {
        let err = parse(&format!("{MINIMAL}[feeds]\nrelated = \"three\"\n")).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn bad_language_tag_is_refused() {
        let err = parse(&format!("{MINIMAL}language = \"polski!\"\n")).unwrap_err();
        assert!(err.message.starts_with("language:"), "{err}");
    }
}
