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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Location, Result, Store, StoreError};

/// How long a statement of the shared connection waits for another process's write lock.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

/// Connections a daemon keeps to a PostgreSQL store for its requests and its schedule (the
/// digest's sending has its own).
pub const POSTGRES_CONNECTIONS: usize = 4;

pub struct SharedStore {
    location: Location,
    slots: Vec<Mutex<Option<Store>>>,
    /// The slot the next `get` tries first: uses are spread over the connections.
    next: std::sync::atomic::AtomicUsize,
}

/// The open store, while it is held.
pub struct StoreGuard<'a>(MutexGuard<'a, Option<Store>>);

impl Deref for StoreGuard<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.0.as_ref().expect("a guard is made only for an open store")
    }
}

impl DerefMut for StoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.0.as_mut().expect("a guard is made only for an open store")
    }
}

impl SharedStore {
    /// The store at `location`, opened now if it can be; the error, if any, says why it could
    /// not.
    pub fn open(location: &Location) -> (SharedStore, Option<StoreError>) {
        let connections = if location.sqlite_dir().is_some() { 1 } else { POSTGRES_CONNECTIONS };
        let slots = (0..connections).map(|_| Mutex::new(None)).collect();
        let shared = SharedStore { location: location.clone(), slots, next: Default::default() };
        let error = shared.get().err();
        (shared, error)
    }

    /// A connection to the store, opened first if it is not open: the first free one, else the
    /// next in turn once it is free.
    pub fn get(&self) -> Result<StoreGuard<'_>> {
        let first = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.slots.len();
        let turn = || (0..self.slots.len()).map(|i| &self.slots[(first + i) % self.slots.len()]);
        let free = turn().find_map(|slot| match slot.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        });
        let mut slot = free.unwrap_or_else(|| self.slots[first].lock().unwrap_or_else(|p| p.into_inner()));
        // A connection the server dropped (a restart) is opened again, here, by whoever meets it.
        if slot.as_ref().is_some_and(Store::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            let store = self.location.open()?;
            store.set_busy_timeout(BUSY_WAIT)?;
            *slot = Some(store);
        }
        Ok(StoreGuard(slot))
    }

    /// Whether the store can be written now: opens it if needed and takes (then gives back)
    /// the write lock without waiting. A store that cannot even be read is closed, so that the
    /// next use opens it afresh.
    pub fn probe(&self) -> Result<()> {
        let store = self.get()?;
        let result = store.probe_write();
        if result.is_err() && store.totals().is_err() {
            let mut slot = store.0;
            *slot = None;
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
        let Some(server) = crate::store::tests::test_postgres_url() else { return };
        let url = crate::store::tests::fresh_postgres_database(&server);
        let (shared, error) =
            SharedStore::open(&Location::Postgres(PostgresTarget { url, password: None, ca_file: None }));
        assert!(error.is_none(), "{error:?}");
        // Uses one after another go round the connections: open them all, and learn their server
        // processes.
        let pid = |store: &StoreGuard<'_>| store.db.query_value::<i64>("SELECT pg_backend_pid()::BIGINT", &[]).unwrap();
        let pids: Vec<i64> = (0..POSTGRES_CONNECTIONS).map(|_| pid(&shared.get().unwrap())).collect();
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
        let uses: Vec<bool> = (0..2 * POSTGRES_CONNECTIONS).map(|_| shared.get().unwrap().totals().is_ok()).collect();
        assert!(uses[POSTGRES_CONNECTIONS..].iter().all(|ok| *ok), "{uses:?}");
    }

    #[test]
    fn on_sqlite_the_daemon_keeps_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, error) = SharedStore::open(&Location::Sqlite(dir.path().join("subscribers")));
        assert!(error.is_none(), "{error:?}");
        assert_eq!(shared.slots.len(), 1);
        let store = shared.get().unwrap();
        assert!(matches!(shared.slots[0].try_lock(), Err(std::sync::TryLockError::WouldBlock)));
        drop(store);
    }
}
