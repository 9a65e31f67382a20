//! One sender per store: an exclusive lock on `subscribers/send.lock` while a digest is sent.
//!
//! The lock is an operating-system file lock (`flock` on Unix), so it is released when the
//! process ends however it ends — a `kill -9` never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{Result, StoreError};

pub const LOCK_FILE: &str = "send.lock";

/// Held while sending; released on drop.
#[derive(Debug)]
pub struct SendLock {
    _file: File,
}

impl SendLock {
    /// Takes the lock of the subscribers folder `dir`, or fails at once if another process has it.
    pub fn acquire(dir: &Path) -> Result<SendLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Io { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(SendLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(path)),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
        }
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
}
