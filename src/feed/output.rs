//! Writing feeds into the output folder, atomically and only when their bytes change.
//!
//! Each file is written to a temporary file in the same folder, flushed to disk (fsync), renamed
//! over the old one and the folder synced (§4 of the specification): a reader polling during a
//! rebuild sees the old feed or the new one, never a torn one, and a full disk leaves the old feed
//! in place. A file whose bytes are unchanged is not touched, so its modification time — and the
//! `Last-Modified` the daemon serves — changes only when the feed does. Tag feeds of tags that no
//! longer exist are removed; nothing else in the folder is.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ATOM_FILE, FeedFile, JSON_FILE, RSS_FILE, TAGS_DIR};

/// What a write changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Files written because they are new or changed, `/`-separated below the output folder.
    pub written: Vec<String>,
    pub unchanged: usize,
    /// Tag feeds removed because their tag is gone.
    pub removed: Vec<String>,
}

/// A failed write, with the file it concerned.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes every file below `out_dir` and removes stale tag feeds.
pub fn write_all(out_dir: &Path, files: &[FeedFile]) -> Result<WriteReport, OutputError> {
    let output = Output::new(out_dir);
    for file in files {
        output.put(file)?;
    }
    let keep: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    output.finish(&keep)
}

/// Writes files one at a time (from several threads at once) and reports at the end.
pub struct Output {
    dir: std::path::PathBuf,
    report: std::sync::Mutex<WriteReport>,
}

impl Output {
    pub fn new(dir: &Path) -> Output {
        Output { dir: dir.to_owned(), report: Default::default() }
    }

    /// Writes `file` unless the same bytes are already there; says whether it wrote.
    pub fn put(&self, file: &FeedFile) -> Result<bool, OutputError> {
        let path = self.dir.join(&file.path);
        let same = std::fs::metadata(&path).is_ok_and(|m| m.len() == file.bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|old| old == file.bytes);
        let report = |written: bool| {
            let mut report = self.report.lock().unwrap_or_else(|p| p.into_inner());
            if written {
                report.written.push(file.path.clone());
            } else {
                report.unchanged += 1;
            }
        };
        if same {
            report(false);
            return Ok(false);
        }
        write_atomic(&path, &file.bytes).map_err(|source| OutputError { path: path.clone(), source })?;
        report(true);
        Ok(true)
    }

    /// What was done, written paths sorted; removes nothing (for a build of some channels only).
    pub fn report(self) -> WriteReport {
        let mut report = self.report.into_inner().unwrap_or_else(|p| p.into_inner());
        report.written.sort();
        report
    }

    /// Removes the tag feeds not in `keep` and returns what was done, written paths sorted.
    pub fn finish(self, keep: &BTreeSet<&str>) -> Result<WriteReport, OutputError> {
        let mut report = self.report.into_inner().unwrap_or_else(|p| p.into_inner());
        report.written.sort();
        report.removed = remove_stale_tag_feeds(&self.dir, keep)
            .map_err(|source| OutputError { path: self.dir.join(TAGS_DIR), source })?;
        Ok(report)
    }
}

/// Replaces `path` with `bytes` atomically, creating its folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new().prefix(".kurier-").suffix(".tmp").tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the folder entry is: sync the folder too (POSIX).
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

fn remove_stale_tag_feeds(out_dir: &Path, keep: &BTreeSet<&str>) -> std::io::Result<Vec<String>> {
    let tags_dir = out_dir.join(TAGS_DIR);
    let entries = match std::fs::read_dir(&tags_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut folders: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    let mut removed = Vec::new();
    for folder in folders {
        let Some(name) = folder.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        for file in [RSS_FILE, ATOM_FILE, JSON_FILE] {
            let relative = format!("{TAGS_DIR}/{name}/{file}");
            if !keep.contains(relative.as_str()) && folder.join(file).is_file() {
                std::fs::remove_file(folder.join(file))?;
                removed.push(relative);
            }
        }
        // Only succeeds when nothing else is left in the folder.
        let _ = std::fs::remove_dir(&folder);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, bytes: &[u8]) -> FeedFile {
        FeedFile { path: path.to_owned(), bytes: bytes.to_vec() }
    }

    #[test]
    fn writes_new_files_and_skips_unchanged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let files = [file("rss.xml", b"a"), file("tags/sen/rss.xml", b"b")];
        let first = write_all(dir.path(), &files).unwrap();
        assert_eq!(first.written, ["rss.xml", "tags/sen/rss.xml"]);
        let second = write_all(dir.path(), &files).unwrap();
        assert!(second.written.is_empty());
        assert_eq!(second.unchanged, 2);
        assert_eq!(std::fs::read(dir.path().join("tags/sen/rss.xml")).unwrap(), b"b");
    }

    #[test]
    fn removes_feeds_of_vanished_tags_but_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("tags/sen/rss.xml", b"b"), file("tags/stres/rss.xml", b"c")]).unwrap();
        std::fs::write(dir.path().join("tags/stres/notes.txt"), "mine").unwrap();
        let report = write_all(dir.path(), &[file("tags/sen/rss.xml", b"b")]).unwrap();
        assert_eq!(report.removed, ["tags/stres/rss.xml"]);
        assert!(dir.path().join("tags/stres/notes.txt").exists());
        assert!(dir.path().join("tags/sen/rss.xml").exists());
    }

    #[test]
    fn leaves_no_temporary_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("atom.xml", b"x")]).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["atom.xml"]);
    }
}
