//! The daemon's connections to the store, shared by the HTTP handlers and the digest schedule,
//! which survive a store that is missing, locked or read-only: one to an SQLite file (its writes
//! are one at a time whatever the connections), [`POSTGRES_CONNECTIONS`] to PostgreSQL, so that
//! a request does not wait behind another's round trips to the server.
//!
//! A daemon must go on publishing feeds whatever the store does (product.md §10): so the store
//! may be closed (it could not be opened at start-up, or was closed after a fault), and every
//! use opens it again first. Waits for another process's lock are short ([`BUSY_WAIT`]): a
//! subscriber is better served by a quick "try again later" than by a request that hangs.
//! [`SharedStore::probe`] says whether the store can be written right now, for `/healthz`.
//! Callers in async code run their store work on a blocking thread (`http::blocking`).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Location, Result, Store, StoreError};

/// How long a statement of the shared connection waits for another process's write lock.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

/// Connections a daemon keeps to a PostgreSQL store for its requests and its schedule (the
/// digest's sending has its own).
pub const POSTGRES_CONNECTIONS: usize = 4;

pub struct SharedStore {
    location: Location,
    /// The connections no use holds; `None` is one to open (again) at its next use.
    idle: Mutex<Vec<Option<Store>>>,
    /// Told each time a use gives its connection back: a use that found none free waits for
    /// whichever frees first.
    freed: Condvar,
}

/// The open store, while it is held; given back to the idle ones when dropped.
pub struct StoreGuard<'a> {
    shared: &'a SharedStore,
    /// Always `Some` but in `Drop` and [`StoreGuard::close`].
    store: Option<Store>,
}

impl Deref for StoreGuard<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("a guard holds its store until it is dropped")
    }
}

impl DerefMut for StoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store.as_mut().expect("a guard holds its store until it is dropped")
    }
}

impl StoreGuard<'_> {
    /// Closes the connection: the next use of its place opens a new one.
    fn close(mut self) {
        self.store = None;
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        self.shared.give_back(self.store.take());
    }
}

impl SharedStore {
    /// The store at `location`, opened now if it can be; the error, if any, says why it could
    /// not.
    pub fn open(location: &Location) -> (SharedStore, Option<StoreError>) {
        let connections = if location.sqlite_dir().is_some() { 1 } else { POSTGRES_CONNECTIONS };
        let idle = Mutex::new((0..connections).map(|_| None).collect());
        let shared = SharedStore { location: location.clone(), idle, freed: Condvar::new() };
        let error = shared.get().err();
        (shared, error)
    }

    /// A connection to the store, opened first if it is not open: an open one that is free,
    /// else a free place to open one in, else the first that another use gives back.
    pub fn get(&self) -> Result<StoreGuard<'_>> {
        let slot = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            while idle.is_empty() {
                idle = self.freed.wait(idle).unwrap_or_else(|p| p.into_inner());
            }
            let open = idle.iter().rposition(Option::is_some).unwrap_or(idle.len() - 1);
            idle.swap_remove(open)
        };
        // From here the place is this use's: the guard gives it back, open or not.
        let mut guard = StoreGuard { shared: self, store: None };
        // A connection the server dropped (a restart) is opened again, here, by whoever meets it.
        guard.store = slot.filter(|store| !store.is_closed());
        if guard.store.is_none() {
            let store = self.location.open()?;
            store.set_busy_timeout(BUSY_WAIT)?;
            guard.store = Some(store);
        }
        Ok(guard)
    }

    fn give_back(&self, store: Option<Store>) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(store);
        self.freed.notify_one();
    }

    /// Whether the store can be written now: opens it if needed and takes (then gives back)
    /// the write lock without waiting. A store that cannot even be read is closed, so that the
    /// next use opens it afresh.
    pub fn probe(&self) -> Result<()> {
        let store = self.get()?;
        let result = store.probe_write();
        if result.is_err() && store.totals().is_err() {
            store.close();
        }
        result
    }
}

/// Runs `work` on the store held by an engine (the digest's send) on a blocking thread, so that
/// no async worker waits for the store or the network to it.
pub async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    work: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = Arc::clone(store);
    super::blocking(move || work(&mut store.lock().unwrap_or_else(|p| p.into_inner()))).await
}

#[cfg(test)]
mod tests {
    use super::super::connect::PostgresTarget;
    use super::*;

    /// The test server's URL and a shared store on a fresh database of it, if there is one.
    fn on_postgres() -> Option<(String, SharedStore)> {
        let server = crate::store::tests::test_postgres_url()?;
        let url = crate::store::tests::fresh_postgres_database(&server);
        let (shared, error) =
            SharedStore::open(&Location::Postgres(PostgresTarget { url, password: None, ca_file: None }));
        assert!(error.is_none(), "{error:?}");
        Some((server, shared))
    }

    #[test]
    fn on_postgres_a_use_of_the_store_does_not_wait_for_another_to_end() {
        let Some(server) = crate::store::tests::test_postgres_url() else { return };
        let url = crate::store::tests::fresh_postgres_database(&server);
        let location = Location::Postgres(PostgresTarget { url, password: None, ca_file: None });
        // Every connection held at once, each working (with one connection the second use would
        // wait for the first for ever: the bound below is for that, not for speed).
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (shared, error) = SharedStore::open(&location);
            assert!(error.is_none(), "{error:?}");
            let held: Vec<StoreGuard<'_>> = (0..POSTGRES_CONNECTIONS).map(|_| shared.get().unwrap()).collect();
            let working = held.iter().filter(|store| store.totals().is_ok()).count();
            done.send(working).unwrap();
        });
        let working = result.recv_timeout(Duration::from_secs(120)).expect("a use waited for another to end");
        assert_eq!(working, POSTGRES_CONNECTIONS);
    }

    #[test]
    fn on_postgres_a_connection_the_server_dropped_is_opened_again() {
        let Some((server, shared)) = on_postgres() else { return };
        // Every connection held at once: open them all, and learn their server processes.
        let pid = |store: &StoreGuard<'_>| store.db.query_value::<i64>("SELECT pg_backend_pid()::BIGINT", &[]).unwrap();
        let held: Vec<StoreGuard<'_>> = (0..POSTGRES_CONNECTIONS).map(|_| shared.get().unwrap()).collect();
        let pids: Vec<i64> = held.iter().map(pid).collect();
        drop(held);
        // The server drops every one of them (as a restart would).
        let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
        let pids: Vec<i32> = pids.iter().map(|&pid| pid as i32).collect();
        for pid in &pids {
            admin.execute("SELECT pg_terminate_backend($1)", &[pid]).unwrap();
        }
        // Terminating is asynchronous: wait until the server has no such process left.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let alive = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY($1)";
        while admin.query_one(alive, &[&pids]).unwrap().get::<_, i64>(0) > 0 {
            assert!(std::time::Instant::now() < deadline, "the server never ended its processes");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Each fails its next use at most; the use after that opens it again.
        let all_at_once = || {
            let held: Vec<StoreGuard<'_>> = (0..POSTGRES_CONNECTIONS).map(|_| shared.get().unwrap()).collect();
            held.iter().map(|store| store.totals().is_ok()).collect::<Vec<bool>>()
        };
        all_at_once();
        let uses = all_at_once();
        assert!(uses.iter().all(|ok| *ok), "{uses:?}");
    }

    #[test]
    fn on_postgres_a_use_takes_the_first_connection_that_frees() {
        let Some((_, shared)) = on_postgres() else { return };
        let mut held: Vec<StoreGuard<'_>> = (0..POSTGRES_CONNECTIONS).map(|_| shared.get().unwrap()).collect();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let store = shared.get().unwrap();
                done.send(store.totals().is_ok()).unwrap();
            });
            // Every connection is held: the use waits…
            assert!(result.recv_timeout(Duration::from_millis(200)).is_err(), "a use went past a held connection");
            // …until one frees, whichever it is (the last taken here; a use that picked its
            // connection in turn would wait for the first). The bound is for a use that waits for
            // ever, not for speed.
            drop(held.pop());
            let worked =
                result.recv_timeout(Duration::from_secs(120)).expect("the use never took the freed connection");
            assert!(worked);
        });
        assert_eq!(shared.idle.lock().unwrap().len(), 1, "the connection was given back");
    }

    #[test]
    fn on_sqlite_the_daemon_keeps_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, error) = SharedStore::open(&Location::Sqlite(dir.path().join("subscribers")));
        assert!(error.is_none(), "{error:?}");
        assert_eq!(shared.idle.lock().unwrap().len(), 1);
        let store = shared.get().unwrap();
        assert!(shared.idle.lock().unwrap().is_empty(), "the one connection is held");
        drop(store);
        assert!(matches!(shared.idle.lock().unwrap().as_slice(), [Some(_)]), "and given back open");
    }
}
