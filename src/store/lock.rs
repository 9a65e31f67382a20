//! Locks on the SQLite store's folder, operating-system file locks (`flock` on Unix), so they are
//! released when the process ends however it ends — a `kill -9` never leaves a stale lock behind.
//! PostgreSQL has neither: several nodes share one database and all of them send, each delivery
//! claimed by one of them with a lease (`nodes.rs`).
//!
//! - `send.lock` ([`SendLock`]): one sender per store, held while a digest is sent (by the
//!   daemon or by `kurier digest send`).
//! - `daemon.lock` ([`DaemonLock`]): one `kurier run` per store, held for the daemon's life. Two
//!   daemons on one SQLite file would each fire the schedule and serve their own view of it; one
//!   machine per store is what SQLite is for.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{Location, Result, StoreError};

pub const LOCK_FILE: &str = "send.lock";
pub const DAEMON_LOCK_FILE: &str = "daemon.lock";

/// Held while sending; released on drop.
pub struct SendLock {
    _held: Held,
}

enum Held {
    File(#[allow(dead_code)] File),
}

impl SendLock {
    /// Takes the lock of the subscribers folder `dir`, or fails at once if another process has it.
    pub fn acquire(dir: &Path) -> Result<SendLock> {
        let file = lock(dir, LOCK_FILE, StoreError::Locked)?;
        Ok(SendLock { _held: Held::File(file) })
    }

    /// Takes the send lock of the SQLite store at `location`, or fails at once if another
    /// process has it; `None` on PostgreSQL, where every node sends, each delivery claimed by
    /// one (`nodes.rs`).
    pub fn acquire_at(location: &Location) -> Result<Option<SendLock>> {
        match location {
            Location::Sqlite(dir) => SendLock::acquire(dir).map(Some),
            Location::Postgres(_) => Ok(None),
        }
    }
}

/// Held by `kurier run` for as long as it runs; released on drop.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

impl DaemonLock {
    /// Takes the daemon lock of the subscribers folder `dir` (made if missing), or fails at once
    /// if another daemon has it.
    pub fn acquire(dir: &Path) -> Result<DaemonLock> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let file = lock(dir, DAEMON_LOCK_FILE, StoreError::DaemonRunning)?;
        Ok(DaemonLock { _file: file })
    }
}

/// Locks `dir/name` exclusively without waiting; `held` makes the error of a lock another
/// process has.
fn lock(dir: &Path, name: &str, held: fn(PathBuf) -> StoreError) -> Result<File> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::Io { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(held(path)),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_sender_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = SendLock::acquire(dir.path()).unwrap();
        assert!(matches!(SendLock::acquire(dir.path()), Err(StoreError::Locked(_))));
        drop(first);
        SendLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_second_daemon_is_refused_and_a_sender_is_not_held_back_by_the_daemon_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("subscribers");
        let daemon = DaemonLock::acquire(&store).unwrap();
        let err = DaemonLock::acquire(&store).unwrap_err();
        assert!(matches!(err, StoreError::DaemonRunning(_)), "{err}");
        SendLock::acquire(&store).unwrap();
        drop(daemon);
        DaemonLock::acquire(&store).unwrap();
    }
}
