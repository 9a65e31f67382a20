//! `[store]`: where the subscriber store is. Absent, or `url = "sqlite:PATH"`: the embedded
//! SQLite store in the subscribers folder (`PATH`, else `subscribers_dir`); `url =
//! "postgres://user@host/database"`: a PostgreSQL database, its password from
//! `KURIER_STORE_PASSWORD` or the URL, TLS checked against the system's roots or `ca_file`.
//! `KURIER_STORE_URL` replaces the URL of the file. `Debug` never shows a password.
//!
//! On PostgreSQL every `kurier run` is a node (`store/nodes.rs`): `node` names it (default: the
//! host name and the process id, so that two processes on one host differ), `lease_seconds`
//! is how long its heartbeat and its claims on deliveries count without being renewed.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

/// `[store]` as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

/// How long a node's heartbeat and its claims count: long enough that a node which is only slow
/// (a long SMTP transaction, a busy database) keeps them with heartbeats every few seconds,
/// short enough that the deliveries of a node that died are sent by the others within half a
/// minute.
pub const DEFAULT_LEASE_SECONDS: u64 = 30;

fn default_lease_seconds() -> u64 {
    DEFAULT_LEASE_SECONDS
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore { url: None, ca_file: None, node: None, lease_seconds: DEFAULT_LEASE_SECONDS }
    }
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
    /// `[store] node` (or `KURIER_STORE_NODE`): this process's name among the nodes of one
    /// PostgreSQL store; `None`: the host name and the process id.
    pub node: Option<String>,
    /// `[store] lease_seconds`: a node is live while its heartbeat is younger than this, and a
    /// delivery it claimed is taken over by another node this long after its last renewal.
    pub lease_seconds: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sqlite(None),
            ca_file: None,
            password: None,
            node: None,
            lease_seconds: DEFAULT_LEASE_SECONDS,
        }
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
        let StoreConfig { backend, ca_file, password, node, lease_seconds } = self;
        let url = match backend {
            StoreBackend::Sqlite(None) => "sqlite (subscribers_dir)".to_owned(),
            StoreBackend::Sqlite(Some(dir)) => format!("sqlite:{}", dir.display()),
            StoreBackend::Postgres(url) => display_url(url),
        };
        f.debug_struct("StoreConfig")
            .field("url", &url)
            .field("ca_file", ca_file)
            .field("password", password)
            .field("node", node)
            .field("lease_seconds", lease_seconds)
            .finish()
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
        if self.lease_seconds < 2 {
            return Err("store.lease_seconds must be at least 2 (heartbeats come several times a lease)".to_owned());
        }
        let node = match self.node.map(|n| n.trim().to_owned()) {
            Some(node) => Some(check_node(&node).map_err(|e| format!("store.node: {e}"))?),
            None => None,
        };
        Ok(StoreConfig { backend, ca_file: self.ca_file, password: None, node, lease_seconds: self.lease_seconds })
    }
}

/// A node's name as given, if it can be one: 1 to 64 letters, digits, `.`, `-` and `_` (it
/// appears in logs, `digest status` and a `/metrics` label).
pub fn check_node(node: &str) -> Result<String, String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if node.is_empty() || node.len() > 64 || !node.chars().all(fits) {
        return Err(format!("`{node}` is not a node name: 1 to 64 letters, digits, `.`, `-` or `_`"));
    }
    Ok(node.to_owned())
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

    #[test]
    fn a_node_name_is_short_and_plain_and_a_lease_at_least_two_seconds() {
        let raw = |node: Option<&str>, lease_seconds| RawStore {
            node: node.map(str::to_owned),
            lease_seconds,
            ..RawStore::default()
        };
        assert_eq!(raw(Some(" web-1.example_a "), 30).validate().unwrap().node.as_deref(), Some("web-1.example_a"));
        assert_eq!(raw(None, 30).validate().unwrap().lease_seconds, DEFAULT_LEASE_SECONDS);
        assert!(raw(Some("a b"), 30).validate().err().unwrap().starts_with("store.node: "));
        assert!(raw(Some(""), 30).validate().is_err());
        assert!(raw(None, 1).validate().err().unwrap().contains("lease_seconds"));
    }
}
