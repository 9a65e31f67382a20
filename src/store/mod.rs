//! The subscriber store: by default one SQLite file (rusqlite, bundled SQLite) in `subscribers/`;
//! with `[store] url = "postgres://…"` a PostgreSQL database (`connect.rs`). Both backends sit
//! behind the one connection type of `db.rs`, and every method here works on both.
//!
//! SQLite: WAL mode, so the daemon and a CLI command can use the store at once (readers never block the
//! writer; writers wait up to [`BUSY_TIMEOUT`] for each other). `synchronous = NORMAL`: in WAL
//! mode every commit survives a crash of the process (`kill -9`); an operating-system crash may
//! lose the last commits, and the delivery states are ordered so that a lost commit can only
//! cause a message to be sent again, never skipped (see `issues.rs`).
//!
//! The schema is versioned (`PRAGMA user_version`; a table on PostgreSQL) and migrated forward on
//! open (`schema.rs`), the same versions on both backends.
//! Subscribers live in `subscribers.rs`, digest issues and deliveries in `issues.rs`, deferred deliveries in `deferrals.rs`, bounces and complaints in `bounces.rs`, the schedule's fires in `runs.rs`, the nodes sharing a store and their claims on deliveries in `nodes.rs`, rate limits in `limits.rs`, the totals of `/metrics` in `counters.rs`, pruning old deliveries in `prune.rs`, the
//! one-sender and one-daemon locks in `lock.rs`, the CSV form of the subscriber list in `csv.rs`, its import on PostgreSQL in batches in `bulk.rs`, the copy of an SQLite store into PostgreSQL in `copy.rs`.

mod bounces;
mod bulk;
mod connect;
mod copy;
mod counters;
mod csv;
pub(crate) mod db;
mod deferrals;
mod identity;
mod issues;
mod limits;
mod lock;
mod nodes;
mod prune;
mod runs;
mod schema;
mod shared;
mod subscribers;

pub use bounces::{BounceEffect, BounceKind, BouncePolicy};
pub use connect::{Location, PostgresTarget};
pub use counters::Totals;
pub use csv::{export_csv, parse_import};
pub use db::{DbError, blocking};
pub use identity::{MAX_NAME_CHARS, normalize_email, normalize_name, sending_address};
pub use issues::{Created, Delivery, DeliveryChange, DeliveryState, Issue, IssueStatus, IssueSummary};
pub use limits::Limit;
pub use lock::{DaemonLock, SendLock};
pub use nodes::{Heartbeat, Node};
pub use prune::PruneReport;
pub use runs::{Run, RunOutcome};
pub use shared::{SharedStore, StoreGuard, with_store};
pub use subscribers::{Confirmation, ImportReport, ImportRow, Status, Subscriber};

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use db::{Conn, Db, params};

/// The store's file name inside the subscribers folder.
pub const STORE_FILE: &str = "kurier.sqlite";
/// How long a statement waits for another connection's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store.
pub struct Store {
    db: Db,
    location: Location,
    /// The token secret once read ([`Store::secret_once`]): it never changes once made.
    secret: std::sync::OnceLock<Vec<u8>>,
}

/// What went wrong with the store or with what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{store}: {source}")]
    Database { store: String, source: DbError },
    #[error("{store}: cannot connect: {message}")]
    Connect { store: String, message: String },
    #[error("{store}: {message}")]
    Migration { store: String, message: String },
    #[error("{store}: {message}; restore the store from a backup")]
    Damaged { store: String, message: String },
    #[error("cannot create {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{store} has schema version {found}, newer than this kurier knows ({known}); upgrade kurier")]
    TooNew { store: String, found: i64, known: i64 },
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

/// How long [`Store::probe_write`] waits for the write lock: longer than the daemon's own
/// writes hold it while it sends (a commit per message; `/healthz` answered 503 for 9 % of its
/// probes during a 100,000-recipient send when it did not wait at all), far shorter than a lock
/// that is a problem (another process's session), and than `/healthz`'s own deadline.
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

impl Store {
    /// Whether the connection to the store is known to be gone (see `Db::is_closed`).
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    /// Opens (creating if needed) the store in the subscribers folder `dir`.
    pub fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        Store::open(&dir.join(STORE_FILE))
    }

    /// Opens (creating if needed) the SQLite store at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Store> {
        let name = path.display().to_string();
        let sqlite = |source| StoreError::Database { store: name.clone(), source: DbError::Sqlite(source) };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)).map_err(sqlite)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(sqlite)?;
        let db = Db { conn: Conn::Sqlite(conn), name };
        Store::ready(db, Location::Sqlite(path.parent().unwrap_or(Path::new(".")).to_owned()))
    }

    /// Migrates a new connection's store to the current schema.
    fn ready(db: Db, location: Location) -> Result<Store> {
        let mut store = Store { db, location, secret: std::sync::OnceLock::new() };
        schema::migrate(&mut store)?;
        if !store.db.is_postgres() {
            store.rekey_unicode_addresses()?;
        }
        Ok(store)
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The store's name in messages: the SQLite file, or the PostgreSQL URL without password.
    pub fn name(&self) -> &str {
        &self.db.name
    }

    /// How long a statement waits for another connection's lock (SQLite's busy timeout,
    /// PostgreSQL's `lock_timeout`).
    pub fn set_busy_timeout(&self, wait: Duration) -> Result<()> {
        match &self.db.conn {
            Conn::Sqlite(conn) => conn.busy_timeout(wait).map_err(|e| self.err(e)),
            Conn::Postgres(_) => self.db.batch(&format!("SET lock_timeout = {}", wait.as_millis().max(1))),
        }
    }

    /// Takes the write lock, waiting at most [`PROBE_WAIT`], and gives it back at once: fails
    /// when another process holds it longer, or the store cannot be written (on PostgreSQL: a
    /// write that is rolled back, which fails on a read-only server or a lost connection).
    pub fn probe_write(&self) -> Result<()> {
        let conn = match &self.db.conn {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(_) => {
                // One round trip (the statements of a batch go together): `/healthz` shares the
                // daemon's connection with every subscription.
                let ms = PROBE_WAIT.as_millis();
                let result = self.db.batch(&format!(
                    "BEGIN; SET LOCAL lock_timeout = {ms}; DELETE FROM meta WHERE key = 'probe'; ROLLBACK"
                ));
                if result.is_err() {
                    let _ = self.db.batch("ROLLBACK");
                }
                return result;
            }
        };
        conn.busy_timeout(PROBE_WAIT).map_err(|e| self.err(e))?;
        let result = conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| self.err(e));
        let _ = conn.execute_batch("ROLLBACK;");
        conn.busy_timeout(shared::BUSY_WAIT).map_err(|e| self.err(e))?;
        result
    }

    /// Wraps a driver's error with the store's name.
    fn err(&self, source: impl Into<DbError>) -> StoreError {
        self.db.err(source)
    }

    /// The HMAC secret for tokens: generated once and kept in the store.
    pub fn secret(&self) -> Result<Vec<u8>> {
        if let Some(hex) = self.meta("secret")? {
            return hex::decode(&hex).map_err(|e| StoreError::Damaged {
                store: self.db.name.clone(),
                message: format!("the token secret kept in table `meta` is not hex ({e})"),
            });
        }
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system provides random bytes");
        let hex = hex::encode(&secret);
        // Another process may have won the race: keep whichever secret was stored first.
        self.db.execute("INSERT INTO meta (key, value) VALUES ('secret', ?1) ON CONFLICT DO NOTHING", params![hex])?;
        self.secret()
    }

    /// [`Store::secret`], read from the store at the first call on this connection only: the
    /// rate limits of every subscription need it, and a round trip each time is not free.
    pub fn secret_once(&self) -> Result<Vec<u8>> {
        if let Some(secret) = self.secret.get() {
            return Ok(secret.clone());
        }
        let secret = self.secret()?;
        Ok(self.secret.get_or_init(|| secret).clone())
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
        self.db.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?1) ON CONFLICT DO NOTHING", params![id])?;
        Ok(self.meta("store_id")?.unwrap_or(id))
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.db.query_opt("SELECT value FROM meta WHERE key = ?1", params![key], |row| row.get(0))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map(|_| ())
    }
}

/// Timestamps are stored as RFC 3339 UTC text, which sorts as time does.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::ops::{Deref, DerefMut};

    use super::connect::PostgresTarget;
    use super::*;

    /// A store made for one test: SQLite in a temporary folder, or PostgreSQL in a database of
    /// its own.
    pub struct TestStore {
        pub store: Store,
        _dir: tempfile::TempDir,
    }

    impl TestStore {
        /// A second connection to the same store.
        pub fn reopen(&self) -> Store {
            self.store.location.open().unwrap()
        }
    }

    impl Deref for TestStore {
        type Target = Store;
        fn deref(&self) -> &Store {
            &self.store
        }
    }

    impl DerefMut for TestStore {
        fn deref_mut(&mut self) -> &mut Store {
            &mut self.store
        }
    }

    /// The server of the PostgreSQL half of the tests: `KURIER_TEST_POSTGRES_URL` (tests/run.sh
    /// starts one and sets it). Unset, that half is skipped with a note, unless
    /// `KURIER_TEST_POSTGRES_REQUIRED` is set (as tests/run.sh does): then it is a failure.
    pub fn test_postgres_url() -> Option<String> {
        match std::env::var("KURIER_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var_os("KURIER_TEST_POSTGRES_REQUIRED").is_none(),
                    "KURIER_TEST_POSTGRES_REQUIRED is set but KURIER_TEST_POSTGRES_URL is not"
                );
                eprintln!("skipped: the PostgreSQL half of this test (KURIER_TEST_POSTGRES_URL is unset)");
                None
            }
        }
    }

    /// A new, empty database on the test server; its URL.
    pub fn fresh_postgres_database(server: &str) -> String {
        let mut admin = postgres::Client::connect(server, postgres::NoTls).expect("the test PostgreSQL answers");
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!("kurier_test_{}", hex::encode(bytes));
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let mut url = url::Url::parse(server).unwrap();
        url.set_path(&name);
        url.to_string()
    }

    /// Runs `test` on a new SQLite store, then on a new PostgreSQL store when a test server is
    /// there (see [`test_postgres_url`]).
    pub fn on_each_backend(test: impl Fn(TestStore)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        test(TestStore { store, _dir: dir });
        if let Some(server) = test_postgres_url() {
            let url = fresh_postgres_database(&server);
            let location = Location::Postgres(PostgresTarget { url, password: None, ca_file: None });
            let store = location.open().unwrap();
            test(TestStore { store, _dir: tempfile::tempdir().unwrap() });
        }
    }

    #[test]
    #[cfg(debug_assertions)] // a release build logs the fault and makes the call
    fn a_store_call_on_an_async_worker_panics_and_goes_through_blocking() {
        on_each_backend(|store| {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
            let on_worker = store.reopen();
            let spawned = runtime.block_on(async move { tokio::spawn(async move { on_worker.totals() }).await });
            assert!(spawned.is_err_and(|e| e.is_panic()), "a store call on an async worker was let through");
            let through = store.reopen();
            let blocked = runtime.block_on(crate::store::blocking(move || through.totals()));
            assert!(blocked.is_ok(), "{blocked:?}");
            // The thread that drives `block_on` is no worker: the daemon's loop calls the store there.
            assert!(runtime.block_on(async { store.totals() }).is_ok());
        });
    }

    #[test]
    fn opening_twice_keeps_schema_and_secret() {
        on_each_backend(|store| {
            let secret = store.secret().unwrap();
            assert_eq!(secret.len(), 32);
            let again = store.reopen();
            assert_eq!(again.secret().unwrap(), secret);
            assert_eq!(again.schema_version().unwrap(), store.schema_version().unwrap());
            if !store.db.is_postgres() {
                let mode: String = again.db.query_value("PRAGMA journal_mode", params![]).unwrap();
                assert_eq!(mode, "wal");
            }
        });
    }

    #[test]
    fn a_write_waits_for_another_connections_lock_at_most_the_busy_timeout() {
        on_each_backend(|store| {
            store.set_meta("k", "v").unwrap();
            let holder = store.reopen();
            holder.db.batch("BEGIN; UPDATE meta SET value = 'held' WHERE key = 'k'").unwrap();
            store.set_busy_timeout(Duration::from_millis(100)).unwrap();
            assert!(store.set_meta("k", "w").is_err(), "the lock is held");
            holder.db.batch("ROLLBACK").unwrap();
            store.set_meta("k", "w").unwrap();
            assert_eq!(store.meta("k").unwrap().as_deref(), Some("w"));
        });
    }

    #[test]
    fn a_store_from_a_newer_kurier_is_refused() {
        on_each_backend(|store| {
            store.set_schema_version(999).unwrap();
            let err = store.location.open().err().unwrap();
            assert!(err.to_string().contains("schema version 999"), "{err}");
        });
    }

    #[test]
    fn a_damaged_token_secret_is_an_error_not_a_shorter_key() {
        on_each_backend(|store| {
            store.secret().unwrap();
            store
                .db
                .execute("UPDATE meta SET value = 'zz' || substr(value, 3) WHERE key = 'secret'", params![])
                .unwrap();
            let err = store.secret().unwrap_err().to_string();
            assert!(err.starts_with(&format!("{}: the token secret", store.name())), "{err}");
            assert!(err.ends_with("restore the store from a backup"), "{err}");
        });
    }
}
