//! `kurier.toml` → [`Config`], parsed once with serde and validated at load.
//!
//! Every error names the file, the line and the key, so that an operator can go straight to the
//! mistake: a missing `base_url`, an unknown time zone, a bad permalink pattern, a typo'd key
//! (unknown keys are refused: a misspelt setting silently ignored is worse than an error).
//! This module owns the shape of the configuration; the code that acts on a setting lives with the
//! noun it concerns (the permalink pattern in [`permalink`], feeds in `feed/`).

pub mod paths;
mod permalink;
mod store;

pub use permalink::{Permalink, PermalinkParts};
pub use store::{StoreBackend, StoreConfig, check_node as check_store_node, display_url, parse_url as parse_store_url};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    pub content: ContentConfig,
    pub feeds: FeedsConfig,
    pub digest: DigestConfig,
    pub smtp: Option<SmtpConfig>,
    pub http: HttpConfig,
    pub dkim: Option<DkimConfig>,
    pub bounces: BouncesConfig,
    /// The subscriber store's folder, relative to the site root unless absolute.
    pub subscribers_dir: PathBuf,
    /// HMAC key for tokens from `KURIER_SECRET`; when `None`, one is kept in the store.
    pub secret: Option<Secret>,
    /// `[store]`: SQLite in `subscribers_dir` (the default) or a PostgreSQL database.
    pub store: StoreConfig,
}

/// A value that must never reach a log, an error or a `{:?}`: `KURIER_SECRET`, the SMTP
/// password. Its `Debug` prints `<redacted>`; it has no `Display`; [`Secret::expose`] is the one
/// way to the text, for the code that signs or logs in with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The secret text itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
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

/// Which files below `content/` are posts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContentConfig {
    /// Folders below `content/` (`/`-separated, like Hugo's `mainSections`) whose files are
    /// posts; empty means every folder. Files elsewhere (an `about.md`, a docs tree) are pages:
    /// not read at all, so they are never errors.
    pub sections: Vec<String>,
    /// Where a post's excerpt ends when its front matter does not say (Jekyll's
    /// `excerpt_separator`); unset, `_config.yml`'s is used when a Jekyll site has one.
    pub excerpt_separator: Option<String>,
}

impl ContentConfig {
    /// Whether `in_content` (a path below `content/`) lies in one of the sections.
    pub fn includes(&self, in_content: &Path) -> bool {
        self.sections.is_empty() || self.sections.iter().any(|section| in_content.starts_with(section))
    }
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
        FeedsConfig { limit: 20, content: FeedContent::Full, related: 3, tags: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Cron expression with a seconds field, read in the site's time zone; checked at load.
    pub schedule: String,
    pub from: Option<String>,
    /// A Tera template for the subject line.
    pub subject: Option<String>,
    pub max_posts: usize,
    pub first_window_days: u32,
    /// The sender's postal or contact line, shown in every digest's footer (CAN-SPAM asks a
    /// commercial sender for a postal address; readers of any newsletter like to see who sends it).
    pub footer: Option<String>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: "0 0 8 * * Mon".to_owned(),
            from: None,
            subject: None,
            max_posts: 10,
            first_window_days: 7,
            footer: None,
        }
    }
}

/// Where and how digests are sent. `Debug` never shows the password, neither
/// `KURIER_SMTP_PASSWORD` nor one written into the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// lettre's URL syntax: `smtp://host:port`, `smtps://…`, `smtp://…?tls=required`.
    pub url: String,
    /// Connections used at once (and messages in flight).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Messages per second at most; 0 = unlimited.
    #[serde(default)]
    pub rate_per_second: u32,
    /// Deadline of every SMTP exchange, connect included.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per recipient and run for transient failures (4xx, connection errors).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay within a run; doubled for each further attempt, with jitter.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// A delivery still refused for now after `max_attempts` is deferred: first for this long,
    /// then for as long as it has been deferred (doubling), at most four hours at a time.
    #[serde(default = "default_retry_first_seconds")]
    pub retry_first_seconds: u64,
    /// A delivery deferred this long is given up as failed.
    #[serde(default = "default_retry_hours")]
    pub retry_hours: u64,
    /// Consecutive failures after which sending pauses.
    #[serde(default = "default_pause_after")]
    pub pause_after_failures: u32,
    #[serde(default = "default_pause_seconds")]
    pub pause_seconds: u64,
    /// The name kurier gives itself in EHLO; default: the sender's domain (never a bare host
    /// name, which receivers' spam filters count against a sender).
    #[serde(default)]
    pub helo: Option<String>,
    /// A PEM file of extra certificate authorities to trust (a relay with a private CA),
    /// relative to the site root; the public web roots are always trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// From `KURIER_SMTP_PASSWORD`, never from the file.
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field (destructured: a new one is a compile error until it is added here), the
        // URL without its password.
        let SmtpConfig {
            url,
            concurrency,
            rate_per_second,
            timeout_seconds,
            max_attempts,
            retry_base_ms,
            retry_first_seconds,
            retry_hours,
            pause_after_failures,
            pause_seconds,
            helo,
            ca_file,
            password,
        } = self;
        f.debug_struct("SmtpConfig")
            .field("url", &redact_url(url))
            .field("concurrency", concurrency)
            .field("rate_per_second", rate_per_second)
            .field("timeout_seconds", timeout_seconds)
            .field("max_attempts", max_attempts)
            .field("retry_base_ms", retry_base_ms)
            .field("retry_first_seconds", retry_first_seconds)
            .field("retry_hours", retry_hours)
            .field("pause_after_failures", pause_after_failures)
            .field("pause_seconds", pause_seconds)
            .field("helo", helo)
            .field("ca_file", ca_file)
            .field("password", password)
            .finish()
    }
}

/// A URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}
fn default_max_attempts() -> u32 {
    5
}
fn default_retry_base_ms() -> u64 {
    1000
}
fn default_retry_first_seconds() -> u64 {
    120
}
fn default_retry_hours() -> u64 {
    72
}
fn default_pause_after() -> u32 {
    10
}
fn default_pause_seconds() -> u64 {
    30
}

/// DKIM signing of digests (RFC 6376).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    pub domain: String,
    pub selector: String,
    /// PEM (PKCS#1) RSA key, or a base64 Ed25519 key, relative to the site root.
    pub key_file: PathBuf,
    #[serde(default = "default_dkim_algorithm")]
    pub algorithm: String,
}

fn default_dkim_algorithm() -> String {
    "rsa".to_owned()
}

/// Where bounces come back to, and what they do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BouncesConfig {
    /// The mailbox of the VERP envelope senders (`bounces+TOKEN@DOMAIN`); default `bounces@`
    /// and the sender's domain.
    pub address: Option<String>,
    /// Transient bounces within `soft_window_days` that make an address `bounced`.
    pub soft_limit: u32,
    pub soft_window_days: u32,
    /// A maildir the daemon reads bounces from (its `new/`), relative to the site folder unless
    /// absolute.
    pub maildir: Option<PathBuf>,
}

impl Default for BouncesConfig {
    fn default() -> Self {
        BouncesConfig { address: None, soft_limit: 5, soft_window_days: 30, maildir: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    /// Where readers reach kurier's HTTP endpoints (subscribe, confirm, unsubscribe, archive),
    /// ending in `/`; defaults to `base_url`, behind a reverse proxy.
    pub public_url: Option<String>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<TrustedProxy>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: "127.0.0.1:8080".to_owned(), public_url: None, trusted_proxies: Vec::new() }
    }
}

/// An address (`127.0.0.1`, `::1`) or a network (`10.0.0.0/8`) of reverse proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl TrustedProxy {
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        self.0.contains(&address)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "http.trusted_proxies: `{text}` is not an IP address or network (`10.0.0.0/8`)"
                ))
            })?;
        Ok(TrustedProxy(net))
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
    content: ContentConfig,
    #[serde(default)]
    feeds: FeedsConfig,
    #[serde(default)]
    digest: DigestConfig,
    #[serde(default)]
    smtp: Option<SmtpConfig>,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    dkim: Option<DkimConfig>,
    #[serde(default)]
    bounces: BouncesConfig,
    #[serde(default = "default_subscribers_dir")]
    subscribers_dir: PathBuf,
    #[serde(default)]
    store: store::RawStore,
}

fn default_subscribers_dir() -> PathBuf {
    PathBuf::from("subscribers")
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
        let mut config = Config::parse(&text, &path)?;
        if config.content.excerpt_separator.is_none() {
            config.content.excerpt_separator = jekyll_excerpt_separator(root);
        }
        let configured = [
            ("output_dir", Some(&config.output_dir)),
            ("subscribers_dir", Some(&config.subscribers_dir)),
            ("ca_file", config.smtp.as_ref().and_then(|s| s.ca_file.as_ref())),
            ("ca_file", config.store.ca_file.as_ref()),
            ("key_file", config.dkim.as_ref().map(|d| &d.key_file)),
            ("maildir", config.bounces.maildir.as_ref()),
        ];
        for (key, configured) in configured {
            if let Some(configured) = configured {
                paths::check_resolved(root, configured).map_err(|message| ConfigError {
                    path: path.clone(),
                    line: Some(line_of(&text, key_span(&text, key).start)).filter(|_| key_span(&text, key).end > 0),
                    message: format!("{key}: {message}"),
                })?;
            }
        }
        Ok(config)
    }

    /// Parses and validates configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let errors = Errors { text, path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| errors.at(e.span(), e.message().trim().to_owned()))?;
        let (base_url, timezone, language, permalink) = site_settings(&raw, &errors)?;
        check_sections(&raw, &errors)?;
        check_mail_settings(&raw, &errors)?;
        let store = raw.store.clone().validate().map_err(|message| errors.at_key("url", message))?;
        Ok(Config {
            title: raw.title,
            description: raw.description,
            base_url,
            language,
            timezone,
            author: raw.author,
            permalink,
            output_dir: raw.output_dir,
            content: raw.content,
            feeds: raw.feeds,
            digest: raw.digest,
            smtp: raw.smtp,
            http: raw.http,
            dkim: raw.dkim,
            bounces: raw.bounces,
            subscribers_dir: raw.subscribers_dir,
            secret: None,
            store,
        })
    }

    /// The domain of the sender (`digest.from`, else `author.email`), lower-case.
    pub fn sender_domain(&self) -> Option<String> {
        let from = self.digest.from.as_deref().and_then(|f| f.parse::<lettre::message::Mailbox>().ok());
        let address = from.map(|m| m.email).or_else(|| {
            self.author.as_ref().and_then(|a| a.email.as_deref()).and_then(|e| e.parse::<lettre::Address>().ok())
        })?;
        Some(address.domain().to_ascii_lowercase())
    }

    /// The mailbox bounces come back to: `bounces.address`, else `bounces@` the sender's domain.
    pub fn bounce_address(&self) -> Option<String> {
        self.bounces.address.clone().or_else(|| Some(format!("bounces@{}", self.sender_domain()?)))
    }

    /// Applies the environment overrides of §2 (and `KURIER_STORE_URL`, `KURIER_STORE_PASSWORD`,
    /// `KURIER_STORE_NODE`): `KURIER_SMTP_URL`, `KURIER_SMTP_PASSWORD`,
    /// `KURIER_SECRET`. `get` reads a variable (the process environment at the edge, a map in
    /// tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(url) = get("KURIER_SMTP_URL").filter(|u| !u.trim().is_empty()) {
            match &mut self.smtp {
                Some(smtp) => smtp.url = url,
                None => {
                    self.smtp = Some(SmtpConfig {
                        url,
                        concurrency: default_concurrency(),
                        rate_per_second: 0,
                        timeout_seconds: default_timeout(),
                        max_attempts: default_max_attempts(),
                        retry_base_ms: default_retry_base_ms(),
                        retry_first_seconds: default_retry_first_seconds(),
                        retry_hours: default_retry_hours(),
                        pause_after_failures: default_pause_after(),
                        pause_seconds: default_pause_seconds(),
                        helo: None,
                        ca_file: None,
                        password: None,
                    })
                }
            }
        }
        if let Some(smtp) = &mut self.smtp {
            smtp.password = get("KURIER_SMTP_PASSWORD").filter(|p| !p.is_empty()).map(Secret);
        }
        self.secret = get("KURIER_SECRET").filter(|s| !s.is_empty()).map(Secret);
        if let Some(url) = get("KURIER_STORE_URL").filter(|u| !u.trim().is_empty()) {
            // Checked where it is used: a bad URL names itself when the store is opened.
            self.store.backend = store::parse_url(&url).unwrap_or(StoreBackend::Postgres(url));
        }
        self.store.password = get("KURIER_STORE_PASSWORD").filter(|p| !p.is_empty()).map(Secret);
        if let Some(node) = get("KURIER_STORE_NODE").filter(|n| !n.trim().is_empty()) {
            // A name that cannot be one is left out (the default, host and process, is used).
            self.store.node = store::check_node(node.trim()).ok();
        }
    }

    /// The base of kurier's own HTTP links, ending in `/`.
    pub fn public_url(&self) -> Url {
        self.http.public_url.as_deref().and_then(|u| parse_base_url(u).ok()).unwrap_or_else(|| self.base_url.clone())
    }

    /// An absolute URL under [`Config::public_url`].
    pub fn public(&self, path: &str) -> String {
        let base = self.public_url();
        base.join(path.trim_start_matches('/')).map(String::from).unwrap_or_else(|_| format!("{base}{path}"))
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
    let primary_ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest_ok = subtags.all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(tag.to_owned())
    } else {
        Err(format!("`{tag}` is not a BCP 47 language tag such as `pl` or `en-GB`"))
    }
}

/// Makes errors that name `kurier.toml` and, when known, the line.
struct Errors<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Errors<'_> {
    fn at(&self, span: Option<std::ops::Range<usize>>, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_owned(),
            line: span.filter(|s| s.end > 0).map(|s| line_of(self.text, s.start)),
            message,
        }
    }

    /// An error at the line of `key`.
    fn at_key(&self, key: &str, message: String) -> ConfigError {
        self.at(Some(key_span(self.text, key)), message)
    }
}

/// The settings of the site itself, parsed: `base_url`, `timezone`, `language`, `permalink`
/// (and `title` is checked).
fn site_settings(raw: &RawConfig, errors: &Errors<'_>) -> Result<(Url, Tz, String, Permalink), ConfigError> {
    let base_url = parse_base_url(raw.base_url.get_ref())
        .map_err(|m| errors.at(Some(raw.base_url.span()), format!("base_url: {m}")))?;
    let timezone: Tz = raw.timezone.get_ref().parse().map_err(|_| {
        errors.at(
            Some(raw.timezone.span()),
            format!(
                "timezone: unknown time zone `{}` (use an IANA name such as `Europe/Warsaw`)",
                raw.timezone.get_ref()
            ),
        )
    })?;
    let language = validate_language(raw.language.get_ref())
        .map_err(|m| errors.at(Some(raw.language.span()), format!("language: {m}")))?;
    let permalink = Permalink::parse(raw.permalink.get_ref())
        .map_err(|m| errors.at(Some(raw.permalink.span()), format!("permalink: {m}")))?;
    if raw.title.trim().is_empty() {
        return Err(errors.at(None, "title: must not be empty".to_owned()));
    }
    Ok((base_url, timezone, language, permalink))
}

/// `[content]`, `[feeds]` and `[digest]`.
fn check_sections(raw: &RawConfig, errors: &Errors<'_>) -> Result<(), ConfigError> {
    for section in &raw.content.sections {
        let clean = Path::new(section).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if section.trim().is_empty() || !clean {
            return Err(errors.at_key(
                "sections",
                format!(
                    "content.sections: `{section}` is not a folder below content/ (such as `posts` or `blog/2026`)"
                ),
            ));
        }
    }
    if raw.feeds.limit == 0 {
        return Err(errors.at(None, "feeds.limit: must be at least 1".to_owned()));
    }
    cron::Schedule::from_str(&raw.digest.schedule).map_err(|e| {
        errors.at_key(
            "schedule",
            format!(
                "digest.schedule: `{}` is not a cron expression with seconds \
                 (sec min hour day-of-month month day-of-week, e.g. `0 0 8 * * Mon`): {e}",
                raw.digest.schedule
            ),
        )
    })?;
    if let Some(from) = &raw.digest.from {
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| errors.at_key("from", format!("digest.from: `{from}` is not an address: {e}")))?;
    }
    Ok(())
}

/// `[smtp]`, the configured paths, `[bounces]` and `[http]`.
fn check_mail_settings(raw: &RawConfig, errors: &Errors<'_>) -> Result<(), ConfigError> {
    if let Some(smtp) = &raw.smtp
        && (smtp.concurrency == 0 || smtp.max_attempts == 0 || smtp.timeout_seconds == 0)
    {
        return Err(
            errors.at_key("url", "smtp: concurrency, max_attempts and timeout_seconds must be at least 1".to_owned())
        );
    }
    let paths = [
        ("output_dir", Some(&raw.output_dir), paths::Use::Folder),
        ("subscribers_dir", Some(&raw.subscribers_dir), paths::Use::Folder),
        ("ca_file", raw.smtp.as_ref().and_then(|s| s.ca_file.as_ref()), paths::Use::File),
        ("key_file", raw.dkim.as_ref().map(|d| &d.key_file), paths::Use::File),
        ("maildir", raw.bounces.maildir.as_ref(), paths::Use::Folder),
    ];
    for (key, path, how) in paths {
        if let Some(path) = path {
            paths::check(path, how).map_err(|m| errors.at_key(key, format!("{key}: {m}")))?;
        }
    }
    if let Some(address) = &raw.bounces.address {
        let valid = address.rsplit_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !l.contains('+'));
        if !valid || address.parse::<lettre::Address>().is_err() {
            return Err(errors.at_key(
                "address",
                format!("bounces.address: `{address}` is not an address with a local part free of `+`"),
            ));
        }
    }
    if raw.bounces.soft_limit == 0 || raw.bounces.soft_window_days == 0 {
        return Err(
            errors.at_key("soft_limit", "bounces: soft_limit and soft_window_days must be at least 1".to_owned())
        );
    }
    if let Some(public) = &raw.http.public_url {
        parse_base_url(public).map_err(|m| errors.at_key("public_url", format!("http.public_url: {m}")))?;
    }
    Ok(())
}

/// A Jekyll site's `excerpt_separator` (its `_config.yml`, in `content/` — where a Jekyll tree
/// is published from — or at the site root). A `_config.yml` that cannot be read is Jekyll's
/// business: it is passed over.
fn jekyll_excerpt_separator(root: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Jekyll {
        excerpt_separator: Option<String>,
    }
    [root.join("content/_config.yml"), root.join("_config.yml")]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|text| serde_yaml_ng::from_str::<Jekyll>(&text).ok()?.excerpt_separator)
        .filter(|separator| !separator.trim().is_empty())
}

/// The span of the first line that sets `key`, for errors about values validated after parsing.
fn key_span(text: &str, key: &str) -> std::ops::Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            return offset..offset + line.len();
        }
        offset += line.len();
    }
    0..0
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
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
        assert_eq!(config.url("/2026/11/a/"), "https://example.org/blog/2026/11/a/");
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
        assert!(err.message.starts_with("base_url: `/blog` is not an absolute URL"), "{err}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks_and_name_a_bad_one_with_its_line() {
        let config =
            parse(&format!("{MINIMAL}[http]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n")).unwrap();
        let proxies = &config.http.trusted_proxies;
        assert!(
            proxies[0].contains("127.0.0.1".parse().unwrap()) && !proxies[0].contains("127.0.0.2".parse().unwrap())
        );
        assert!(proxies[1].contains("10.200.0.1".parse().unwrap()) && proxies[2].contains("::1".parse().unwrap()));
        let err = parse(&format!("{MINIMAL}[http]\ntrusted_proxies = [\"nginx\"]\n")).unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("http.trusted_proxies: `nginx` is not an IP address or network"), "{err}");
    }

    #[test]
    fn unknown_timezone_is_named_with_its_line() {
        let err = parse(&format!("{MINIMAL}timezone = \"Europe/Warsw\"\n")).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("timezone: unknown time zone `Europe/Warsw`"), "{err}");
    }

    #[test]
    fn bad_permalink_pattern_is_named() {
        let err = parse(&format!("{MINIMAL}permalink = \"/{{year}}/{{slg}}/\"\n")).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.starts_with("permalink: unknown placeholder `{slg}`"), "{err}");
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
    fn bad_cron_expression_is_named_with_its_line() {
        let err = parse(&format!("{MINIMAL}[digest]\nschedule = \"every monday\"\n")).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.starts_with("digest.schedule: `every monday` is not a cron expression"), "{err}");
    }

    #[test]
    fn environment_overrides_smtp_and_secret() {
        let mut config = parse(MINIMAL).unwrap();
        let env = |key: &str| match key {
            "KURIER_SMTP_URL" => Some("smtp://user:hunter2@127.0.0.1:2525".to_owned()),
            "KURIER_SMTP_PASSWORD" => Some("s3cret".to_owned()),
            "KURIER_SECRET" => Some("k".to_owned()),
            _ => None,
        };
        config.apply_env(env);
        let smtp = config.smtp.as_ref().unwrap();
        assert_eq!(smtp.url, "smtp://user:hunter2@127.0.0.1:2525");
        assert_eq!(smtp.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(config.secret.as_ref().map(Secret::expose), Some("k"));
    }

    #[test]
    fn no_secret_appears_in_the_debug_of_the_config_or_any_of_its_sections() {
        // Every section set, so that each one's `Debug` is printed; the secrets are long and
        // unlike anything else in the file, so that finding one means it leaked.
        let text = format!(
            "{MINIMAL}author = {{ name = \"A\", email = \"a@example.org\" }}\n\
             [content]\nsections = [\"posts\"]\n\
             [digest]\nfrom = \"N <n@example.org>\"\n\
             [smtp]\nurl = \"smtp://plik:haslo-z-pliku-w-url@mail.example.org:587?tls=required\"\nhelo = \"h.example.org\"\n\
             [http]\npublic_url = \"https://news.example.org/\"\n\
             [dkim]\ndomain = \"example.org\"\nselector = \"s1\"\nkey_file = \"dkim.key\"\n\
             [bounces]\naddress = \"b@example.org\"\n"
        );
        let from_file = parse(&text).unwrap();
        let from_file_url = from_file.smtp.as_ref().unwrap().url.clone();
        assert!(from_file_url.contains("haslo-z-pliku-w-url"), "the URL keeps its password for lettre");

        let secrets = ["tajny-klucz-hmac-9f3a", "haslo-ze-zmiennej-7c1e", "haslo:w@url/żółw-42d0"];
        // The URL's password percent-encoded, as it must be written in a URL.
        let encoded: String = url::form_urlencoded::byte_serialize(secrets[2].as_bytes()).collect();
        let mut config = from_file.clone();
        config.apply_env(|key| match key {
            "KURIER_SECRET" => Some(secrets[0].to_owned()),
            "KURIER_SMTP_PASSWORD" => Some(secrets[1].to_owned()),
            "KURIER_SMTP_URL" => Some(format!("smtp://konto:{encoded}@mail.example.org:587?tls=required")),
            _ => None,
        });
        assert_eq!(config.secret.as_ref().map(Secret::expose), Some(secrets[0]));
        let smtp = config.smtp.clone().unwrap();
        assert!(smtp.url.contains(&encoded), "{}", smtp.url);

        let mut forbidden: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        forbidden.push(encoded.clone());
        forbidden.push("haslo-z-pliku-w-url".to_owned());
        let printed = [
            ("file: Config", format!("{from_file:?}")),
            ("file: Config (pretty)", format!("{from_file:#?}")),
            ("file: SmtpConfig", format!("{:?}", from_file.smtp)),
            ("Config", format!("{config:?}")),
            ("Config (pretty)", format!("{config:#?}")),
            ("SmtpConfig", format!("{smtp:?}")),
            ("SmtpConfig (pretty)", format!("{smtp:#?}")),
            ("secret", format!("{:?}", config.secret)),
            ("password", format!("{:?}", smtp.password)),
            ("digest", format!("{:?}", config.digest)),
            ("http", format!("{:?}", config.http)),
            ("dkim", format!("{:?}", config.dkim)),
            ("bounces", format!("{:?}", config.bounces)),
            ("content", format!("{:?}", config.content)),
            ("feeds", format!("{:?}", config.feeds)),
            ("author", format!("{:?}", config.author)),
        ];
        for (what, debug) in &printed {
            for secret in &forbidden {
                assert!(!debug.contains(secret.as_str()), "{what} shows {secret:?}: {debug}");
            }
        }
        // Redacted, not left out: the reader of a log sees that a secret is set, and where.
        let config_debug = &printed[3].1;
        assert_eq!(config_debug.matches("<redacted>").count(), 2, "{config_debug}");
        assert!(config_debug.contains("smtp://konto:***@mail.example.org:587?tls=required"), "{config_debug}");
        assert!(printed[0].1.contains("smtp://plik:***@mail.example.org"), "{}", printed[0].1);
        assert!(config_debug.contains("h.example.org") && config_debug.contains("pause_seconds"), "{config_debug}");
    }

    #[test]
    fn public_url_defaults_to_base_url() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.public("unsubscribe/x"), "https://example.org/blog/unsubscribe/x");
        let config = parse(&format!("{MINIMAL}[http]\npublic_url = \"https://news.example.org\"\n")).unwrap();
        assert_eq!(config.public("/digests/3"), "https://news.example.org/digests/3");
    }

    #[test]
    fn content_sections_limit_the_post_folders_and_refuse_paths_out_of_content() {
        let config = parse(&format!("{MINIMAL}[content]\nsections = [\"posts\", \"blog/2026\"]\n")).unwrap();
        assert!(config.content.includes(Path::new("posts/a.md")));
        assert!(config.content.includes(Path::new("blog/2026/b/index.md")));
        assert!(!config.content.includes(Path::new("blog/2025/c.md")));
        assert!(!config.content.includes(Path::new("about.md")));
        assert!(!config.content.includes(Path::new("postscript/d.md")), "a section is a folder, not a prefix");
        assert!(parse(MINIMAL).unwrap().content.includes(Path::new("about.md")), "no sections: every folder");
        let err = parse(&format!("{MINIMAL}[content]\nsections = [\"../posts\"]\n")).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.starts_with("content.sections: `../posts` is not a folder"), "{err}");
    }

    #[test]
    fn bad_language_tag_is_refused() {
        let err = parse(&format!("{MINIMAL}language = \"polski!\"\n")).unwrap_err();
        assert!(err.message.starts_with("language:"), "{err}");
    }
}
