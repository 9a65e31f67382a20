//! `[store]`: where the subscriber store is. Absent, or `url = "sqlite:PATH"`: the embedded
//! SQLite store in the subscribers folder (`PATH`, else `subscribers_dir`); `url =
//! "postgres://user@host/database"`: a PostgreSQL database, its password from
//! `KURIER_STORE_PASSWORD` or the URL, TLS checked against the system's roots or `ca_file`.
//! `KURIER_STORE_URL` replaces the URL of the file. `Debug` never shows a password.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

/// `[store]` as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Which kind of store, from the URL.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// The folder of `sqlite:PATH`, if given (else `subscribers_dir`).
    Sqlite(Option<PathBuf>),
    /// The `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

/// The validated `[store]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// PEM certificate authorities for the PostgreSQL server's certificate, relative to the
    /// site root; instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// From `KURIER_STORE_PASSWORD`, never from the file.
    pub password: Option<Secret>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { backend: StoreBackend::Sqlite(None), ca_file: None, password: None }
    }
}

impl fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreBackend::Sqlite(dir) => f.debug_tuple("Sqlite").field(dir).finish(),
            StoreBackend::Postgres(url) => f.debug_tuple("Postgres").field(&display_url(url)).finish(),
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let StoreConfig { backend, ca_file, password } = self;
        let url = match backend {
            StoreBackend::Sqlite(None) => "sqlite (subscribers_dir)".to_owned(),
            StoreBackend::Sqlite(Some(dir)) => format!("sqlite:{}", dir.display()),
            StoreBackend::Postgres(url) => display_url(url),
        };
        f.debug_struct("StoreConfig").field("url", &url).field("ca_file", ca_file).field("password", password).finish()
    }
}

/// The backend a URL names, or why it names none.
pub fn parse_url(url: &str) -> Result<StoreBackend, String> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("sqlite:") {
        if path.trim().is_empty() {
            return Err("`sqlite:` needs the folder of the store, e.g. `sqlite:subscribers`".to_owned());
        }
        return Ok(StoreBackend::Sqlite(Some(PathBuf::from(path))));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url::Url::parse(url)
            .map(|_| StoreBackend::Postgres(url.to_owned()))
            .map_err(|e| format!("`{}` is not a URL ({e})", display_url(url)));
    }
    Err("must start with `sqlite:` or `postgres://`".to_owned())
}

impl RawStore {
    /// Validated; the error names the key.
    pub fn validate(self) -> Result<StoreConfig, String> {
        let backend = match &self.url {
            Some(url) => parse_url(url).map_err(|e| format!("store.url: {e}"))?,
            None => StoreBackend::Sqlite(None),
        };
        Ok(StoreConfig { backend, ca_file: self.ca_file, password: None })
    }
}

/// A PostgreSQL URL as it may be shown: without a password, in the user part or the query.
pub fn display_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return "<a PostgreSQL URL that cannot be parsed>".to_owned() };
    let _ = parsed.set_password(None);
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, _)| key != "password")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_is_sqlite_or_postgres() {
        assert_eq!(parse_url("sqlite:data/list").unwrap(), StoreBackend::Sqlite(Some("data/list".into())));
        assert!(matches!(parse_url("postgresql://k@db/lista").unwrap(), StoreBackend::Postgres(_)));
        assert!(parse_url("mysql://k@db/lista").unwrap_err().contains("must start with"));
        assert!(parse_url("sqlite:").is_err());
    }
}
