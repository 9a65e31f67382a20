//! A maildir of bounces (`[bounces] maildir`), read by the daemon: each message in `new/` is
//! ingested, then moved to `cur/` with the "seen" flag (`:2,S`, the maildir convention), so it is
//! processed once and never lost. A message whose ingestion fails for the store's sake stays in
//! `new/` and is read again at the next poll.

use std::path::{Path, PathBuf};

/// The messages waiting in `dir/new`, oldest name first (maildir names start with a time).
pub fn waiting(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("new"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.')))
        .collect();
    files.sort();
    Ok(files)
}

/// Moves a processed message from `new/` to `cur/`, flagged seen.
pub fn mark_seen(dir: &Path, message: &Path) -> std::io::Result<PathBuf> {
    let name = message.file_name().and_then(|n| n.to_str()).unwrap_or("message");
    let base = name.split(":2,").next().unwrap_or(name);
    let target = dir.join("cur").join(format!("{base}:2,S"));
    std::fs::create_dir_all(dir.join("cur"))?;
    std::fs::rename(message, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_moves_from_new_to_cur_flagged_seen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("new")).unwrap();
        std::fs::write(dir.path().join("new/1700000000.1.host"), "x").unwrap();
        std::fs::write(dir.path().join("new/.hidden"), "x").unwrap();
        let waiting = waiting(dir.path()).unwrap();
        assert_eq!(waiting, [dir.path().join("new/1700000000.1.host")]);
        let moved = mark_seen(dir.path(), &waiting[0]).unwrap();
        assert_eq!(moved, dir.path().join("cur/1700000000.1.host:2,S"));
        assert!(moved.exists() && !waiting[0].exists());
    }
}
