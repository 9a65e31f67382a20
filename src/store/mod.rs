//! The subscriber store: one SQLite file (rusqlite, bundled SQLite) in `subscribers/`.
//!
//! WAL mode, so the daemon and a CLI command can use the store at once (readers never block the
//! writer; writers wait up to [`BUSY_TIMEOUT`] for each other). `synchronous = NORMAL`: in WAL
//! mode every commit survives a crash of the process (`kill -9`); an operating-system crash may
//! lose the last commits, and the delivery states are ordered so that a lost commit can only
//! cause a message to be sent again, never skipped (see `issues.rs`).
//!
//! The schema is versioned (`PRAGMA user_version`) and migrated forward on open (`schema.rs`).
//! Subscribers live in `subscribers.rs`, digest issues and deliveries in `issues.rs`, deferred deliveries in `deferrals.rs`, bounces and complaints in `bounces.rs`, the schedule's fires in `runs.rs`, rate limits in `limits.rs`, the totals of `/metrics` in `counters.rs`, pruning old deliveries in `prune.rs`, the
//! one-sender and one-daemon locks in `lock.rs`, the CSV form of the subscriber list in `csv.rs`.

mod bounces;
mod counters;
mod csv;
mod deferrals;
mod identity;
mod issues;
mod limits;
mod lock;
mod prune;
mod runs;
mod schema;
mod shared;
mod subscribers;

pub use bounces::{BounceEffect, BounceKind, BouncePolicy};
pub use counters::Totals;
pub use csv::{export_csv, parse_import};
pub use identity::{MAX_NAME_CHARS, normalize_email, normalize_name, sending_address};
pub use issues::{Delivery, DeliveryChange, DeliveryState, Issue, IssueStatus, IssueSummary};
pub use limits::Limit;
pub use lock::{DaemonLock, SendLock};
pub use prune::PruneReport;
pub use runs::{Run, RunOutcome};
pub use shared::{SharedStore, StoreGuard};
pub use subscribers::{Confirmation, ImportReport, ImportRow, Status, Subscriber};

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

/// The store's file name inside the subscribers folder.
pub const STORE_FILE: &str = "kurier.sqlite";
/// How long a statement waits for another connection's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What went wrong with the store or with what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: {message}")]
    Migration { path: PathBuf, message: String },
    #[error("{path}: {message}; restore the store from a backup")]
    Damaged { path: PathBuf, message: String },
    #[error("cannot create {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} has schema version {found}, newer than this kurier knows ({known}); upgrade kurier")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("`{0}` is not a valid e-mail address")]
    InvalidEmail(String),
    #[error("the name cannot be used: {0}")]
    InvalidName(String),
    #[error("`{0}` has an IP address for a domain; kurier mails only addresses at domain names")]
    AddressLiteral(String),
    #[error("{email} is already in the list (status {status})")]
    Duplicate { email: String, status: Status },
    #[error("{0} is not in the list")]
    NotFound(String),
    #[error("{email} is {status}, not bounced or complained: there is nothing to reset")]
    NotSuppressed { email: String, status: Status },
    #[error("line {line}: {reason}; nothing was imported")]
    Import { line: u64, reason: String },
    #[error("cannot write the list: {0}")]
    Write(String),
    #[error("another kurier is sending from this store (lock {0} is held)")]
    Locked(PathBuf),
    #[error("another `kurier run` uses this store (lock {0} is held): one daemon per SQLite store")]
    DaemonRunning(PathBuf),
    #[error("the subscriber store is not available for now")]
    Unavailable,
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl Store {
    /// Opens (creating if needed) the store in the subscribers folder `dir`.
    pub fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        Store::open(&dir.join(STORE_FILE))
    }

    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Store> {
        let sqlite = sqlite_error(path);
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)).map_err(sqlite)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(sqlite)?;
        let mut store = Store { conn, path: path.to_owned() };
        schema::migrate(&mut store)?;
        store.rekey_unicode_addresses()?;
        Ok(store)
    }

    /// How long a statement waits for another connection's write lock.
    pub fn set_busy_timeout(&self, wait: Duration) -> Result<()> {
        self.conn.busy_timeout(wait).map_err(|e| self.err(e))
    }

    /// Takes the write lock without waiting and gives it back at once: fails when another
    /// process holds it, or the file cannot be written.
    pub fn probe_write(&self) -> Result<()> {
        self.conn.busy_timeout(Duration::ZERO).map_err(|e| self.err(e))?;
        let result = self.conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| self.err(e));
        let _ = self.conn.execute_batch("ROLLBACK;");
        self.conn.busy_timeout(shared::BUSY_WAIT).map_err(|e| self.err(e))?;
        result
    }

    /// Wraps a SQLite error with the store's path.
    fn err(&self, source: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path)(source)
    }

    /// The HMAC secret for tokens: generated once and kept in the store.
    pub fn secret(&self) -> Result<Vec<u8>> {
        let existing: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(hex) = existing {
            return hex::decode(&hex).map_err(|e| StoreError::Damaged {
                path: self.path.clone(),
                message: format!("the token secret kept in table `meta` is not hex ({e})"),
            });
        }
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system provides random bytes");
        let hex = hex::encode(&secret);
        // Another process may have won the race: keep whichever secret was stored first.
        self.conn
            .execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?1)", [&hex])
            .map_err(|e| self.err(e))?;
        self.secret()
    }

    /// A random id of this store, made once: it makes Message-IDs unique across stores (a
    /// reinstall, a second list on the same domain), which receivers use to drop duplicates.
    pub fn store_id(&self) -> Result<String> {
        if let Some(id) = self.meta("store_id")? {
            return Ok(id);
        }
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
        let id = hex::encode(bytes);
        // Another process may have won the race: keep whichever id was stored first.
        self.conn
            .execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?1)", [&id])
            .map_err(|e| self.err(e))?;
        Ok(self.meta("store_id")?.unwrap_or(id))
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// Wraps a SQLite error with the path of its store; the form of [`Store::err`] to use while a
/// transaction holds the connection.
fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Sqlite { path: path.to_owned(), source }
}

/// Timestamps are stored as RFC 3339 UTC text, which sorts as time does.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn opening_twice_keeps_schema_and_secret() {
        let (dir, store) = temp_store();
        let secret = store.secret().unwrap();
        assert_eq!(secret.len(), 32);
        let again = Store::open_dir(dir.path()).unwrap();
        assert_eq!(again.secret().unwrap(), secret);
        let mode: String = again.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_store_from_a_newer_kurier_is_refused() {
        let (dir, store) = temp_store();
        store.conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(store);
        let err = Store::open_dir(dir.path()).err().unwrap();
        assert!(err.to_string().contains("schema version 999"), "{err}");
    }

    #[test]
    fn a_damaged_token_secret_is_an_error_not_a_shorter_key() {
        let (dir, store) = temp_store();
        store.secret().unwrap();
        store.conn.execute("UPDATE meta SET value = 'zz' || substr(value, 3) WHERE key = 'secret'", []).unwrap();
        let err = store.secret().unwrap_err().to_string();
        let path = dir.path().join(STORE_FILE);
        assert!(err.starts_with(&format!("{}: the token secret", path.display())), "{err}");
        assert!(err.ends_with("restore the store from a backup"), "{err}");
    }
}
