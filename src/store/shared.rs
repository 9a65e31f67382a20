//! The daemon's one connection to the store, shared by the HTTP handlers and the digest
//! schedule, which survives a store that is missing, locked or read-only.
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

pub struct SharedStore {
    location: Location,
    slot: Mutex<Option<Store>>,
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
        let shared = SharedStore { location: location.clone(), slot: Mutex::new(None) };
        let error = shared.get().err();
        (shared, error)
    }

    /// The store, opened first if it is not open.
    pub fn get(&self) -> Result<StoreGuard<'_>> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
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
    let run = move || super::on_blocking_thread(|| work(&mut store.lock().unwrap_or_else(|p| p.into_inner())));
    match tokio::task::spawn_blocking(run).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
