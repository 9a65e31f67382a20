//! The `init` command: a new site that builds as it is.
//!
//! The configuration is generated from the options, validated with the same code that loads it
//! later (so a bad `--timezone` is refused before anything is written), and nothing existing is
//! overwritten.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::{CONFIG_FILE, Config};
use crate::site::CONTENT_DIR;

/// What the new site is called and where it lives.
#[derive(Debug, Clone)]
pub struct Options {
    pub title: String,
    pub base_url: String,
    pub language: String,
    pub timezone: String,
    /// The sender of digests; without it, [`PLACEHOLDER_SENDER`].
    pub from: Option<String>,
}

/// The sender a new site gets when none is given: at `example.invalid` (RFC 2606), which no mail
/// can reach, so `check` flags it until the operator writes a real one.
pub const PLACEHOLDER_SENDER: &str = "newsletter@example.invalid";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; not overwriting it")]
    Exists(PathBuf),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Creates a site in `dir`: `kurier.toml`, a first post, `templates/`, `subscribers/`.
pub fn create(dir: &Path, options: &Options, now: DateTime<Utc>) -> Result<(), InitError> {
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(InitError::Exists(config_path));
    }
    let config_text = config_text(options);
    let config = Config::parse(&config_text, &config_path)?;
    let today = now.with_timezone(&config.timezone).date_naive();

    let post_path = dir.join(CONTENT_DIR).join(format!("{today}-witaj.md"));
    let files: [(PathBuf, String); 4] = [
        (config_path, config_text),
        (post_path, first_post(&config.language, &today.to_string())),
        (dir.join("templates/README.md"), TEMPLATES_README.to_owned()),
        (dir.join("subscribers/.gitignore"), "*.sqlite*\n*.lock\n".to_owned()),
    ];
    for (path, text) in files {
        let io = |source| InitError::Io { path: path.clone(), source };
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io)?;
        std::fs::write(&path, text).map_err(io)?;
    }
    Ok(())
}

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn config_text(options: &Options) -> String {
    format!(
        r#"# kurier site configuration; every key is described in kurier's README.
title = {title}
description = ""
base_url = {base_url}
language = {language}
timezone = {timezone}
permalink = "/{{year}}/{{month}}/{{slug}}/"
output_dir = "public"

[feeds]
limit = 20
content = "full"
related = 3
tags = true

[digest]
schedule = "0 0 8 * * Mon"
from = {from}
# footer = "Your name · postal address · contact"

# No [smtp] section: digests are written to outbox/ as .eml files. To send them:
# [smtp]
# url = "smtp://mail.example.org:587?tls=required"

[http]
listen = "127.0.0.1:8080"
# Where readers reach the subscribe, confirm and unsubscribe pages. On your own machine that is
# kurier itself; behind a public web server, remove this line (base_url is used) or set it.
public_url = "http://127.0.0.1:8080/"
"#,
        from = quoted(options.from.as_deref().unwrap_or(PLACEHOLDER_SENDER)),
        title = quoted(&options.title),
        base_url = quoted(&options.base_url),
        language = quoted(&options.language),
        timezone = quoted(&options.timezone),
    )
}

fn first_post(language: &str, date: &str) -> String {
    let (title, body) = if language.starts_with("pl") {
        ("Witaj", "To pierwszy wpis. Zmień go albo usuń i dodaj własne pliki Markdown w `content/`.")
    } else {
        ("Welcome", "This is the first post. Edit or delete it and add your own Markdown files to `content/`.")
    };
    format!("+++\ntitle = \"{title}\"\ndate = {date}\ntags = [\"kurier\"]\n+++\n\n{body}\n")
}

const TEMPLATES_README: &str = "Templates placed here override kurier's built-in defaults.\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            title: "Mój \"blog\"".into(),
            base_url: "https://example.org/".into(),
            language: "pl".into(),
            timezone: "Europe/Warsaw".into(),
            from: None,
        }
    }

    #[test]
    fn creates_a_site_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        create(dir.path(), &options(), now).unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.title, "Mój \"blog\"");
        let loaded = crate::site::Site::load(dir.path(), &config, now).unwrap();
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.site.posts.len(), 1);
        assert!(dir.path().join("subscribers").is_dir());
        assert!(dir.path().join("templates").is_dir());
    }

    #[test]
    fn refuses_to_overwrite_and_refuses_bad_options_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let bad = Options { timezone: "Mars/Olympus".into(), ..options() };
        assert!(matches!(create(dir.path(), &bad, Utc::now()), Err(InitError::Config(_))));
        assert!(!dir.path().join(CONFIG_FILE).exists());
        create(dir.path(), &options(), Utc::now()).unwrap();
        assert!(matches!(create(dir.path(), &options(), Utc::now()), Err(InitError::Exists(_))));
    }
}
