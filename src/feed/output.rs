//! Writing feeds into the output folder: all changed feeds or none, each atomically, and only
//! when their bytes change.
//!
//! A build first *stages* every changed file: it is written to a temporary file next to the one
//! it replaces. Once every changed file is staged, they are flushed to disk, and only then renamed
//! over the old ones, and the folders synced (§4 and §10 of the specification). A few files are
//! flushed one `fsync` each; many (a first build writes thousands of tag feeds) with one `syncfs`
//! of their filesystem on Linux — one journal commit instead of thousands, which since Linux 5.8
//! also reports any file's write-back error. So a
//! failure that can happen while writing — a full disk, a folder that cannot be written — happens
//! before any feed is replaced, and leaves every served feed as it was; a reader polling during a
//! rebuild sees the old feed or the new one, never a torn one. (The renames themselves are not one
//! atomic step — no filesystem offers that for several files — but they need no new space.)
//! A file whose bytes are unchanged is not touched, so its modification time — and the
//! `Last-Modified` the daemon serves — changes only when the feed does. Files are created with
//! mode 0666 less the process umask, like any file a program writes. Tag feeds of tags that no
//! longer exist are removed; nothing else in the folder is.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

/// The strong ETag of a feed's bytes, as the daemon serves it and the build cache keeps it: a
/// SHA-256 prefix, the same on every machine that builds the same bytes.
pub fn etag(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

/// Writes every file below `out_dir` and removes stale tag feeds.
pub fn write_all(out_dir: &Path, files: &[FeedFile]) -> Result<WriteReport, OutputError> {
    let output = Output::new(out_dir);
    for file in files {
        output.put(file)?;
    }
    let keep: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    output.commit(Some(&keep))
}

/// A file written and flushed next to the one it replaces, not yet renamed over it. Dropped
/// without [`Output::commit`], it is deleted.
struct Staged {
    temp: tempfile::TempPath,
    /// Flushed to disk already (an `fsync` of its own).
    synced: bool,
    target: PathBuf,
    relative: String,
}

/// Stages files one at a time (from several threads at once), then swaps them all in.
pub struct Output {
    dir: PathBuf,
    staged: Mutex<Vec<Staged>>,
    unchanged: Mutex<usize>,
}

impl Output {
    pub fn new(dir: &Path) -> Output {
        Output { dir: dir.to_owned(), staged: Default::default(), unchanged: Default::default() }
    }

    /// Stages `file` unless the same bytes are already there; says whether it will be written.
    pub fn put(&self, file: &FeedFile) -> Result<bool, OutputError> {
        let path = self.dir.join(&file.path);
        let same = std::fs::metadata(&path).is_ok_and(|m| m.len() == file.bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|old| old == file.bytes);
        if same {
            *self.unchanged.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            return Ok(false);
        }
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        // The first few files are flushed at once; the rest wait for one flush of them all.
        let sync_now = !cfg!(target_os = "linux") || staged.len() < SYNC_EACH_UP_TO;
        drop(staged);
        let temp = stage(&path, &file.bytes, sync_now).map_err(|source| OutputError { path: path.clone(), source })?;
        staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        staged.push(Staged { temp, synced: sync_now, target: path, relative: file.path.clone() });
        Ok(true)
    }

    /// Swaps every staged file in, syncs the folders, and — given the paths of every feed of
    /// the site — removes the tag feeds not among them. Returns what was done, paths sorted.
    pub fn commit(self, keep: Option<&BTreeSet<&str>>) -> Result<WriteReport, OutputError> {
        let mut staged = self.staged.into_inner().unwrap_or_else(|p| p.into_inner());
        staged.sort_by(|a, b| a.relative.cmp(&b.relative));
        let mut report = WriteReport {
            unchanged: self.unchanged.into_inner().unwrap_or_else(|p| p.into_inner()),
            ..WriteReport::default()
        };
        flush(&staged)?;
        let mut folders = BTreeSet::new();
        for Staged { temp, target, relative, .. } in staged {
            temp.persist(&target).map_err(|e| OutputError { path: target.clone(), source: e.error })?;
            folders.insert(target.parent().map(Path::to_owned).unwrap_or_default());
            report.written.push(relative);
        }
        // A rename is durable only once the folder entry is: sync the folders too (POSIX).
        for folder in folders {
            if let Ok(folder) = std::fs::File::open(folder) {
                let _ = folder.sync_all();
            }
        }
        if let Some(keep) = keep {
            report.removed = remove_stale_tag_feeds(&self.dir, keep)
                .map_err(|source| OutputError { path: self.dir.join(TAGS_DIR), source })?;
        }
        Ok(report)
    }
}

/// How many staged files are flushed one `fsync` each; past that, the rest are flushed with one
/// `syncfs` (a daemon's edit writes a handful of files and should not wait for the whole
/// filesystem's dirty pages; a full build writes thousands).
const SYNC_EACH_UP_TO: usize = 16;

/// Flushes to disk the staged files not flushed yet: one `syncfs` per filesystem they are on.
#[cfg(target_os = "linux")]
fn flush(staged: &[Staged]) -> Result<(), OutputError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut devices = BTreeSet::new();
    for file in staged.iter().filter(|s| !s.synced) {
        let error = |source| OutputError { path: file.target.clone(), source };
        let device = std::fs::metadata(&file.temp).map_err(error)?.dev();
        if devices.insert(device) {
            let opened = std::fs::File::open(&file.temp).map_err(error)?;
            // SAFETY: syncfs takes any open file descriptor, here one this function owns.
            if unsafe { libc::syncfs(opened.as_raw_fd()) } != 0 {
                return Err(error(std::io::Error::last_os_error()));
            }
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn flush(_staged: &[Staged]) -> Result<(), OutputError> {
    Ok(()) // every file was flushed when it was staged
}

/// Writes `bytes` to a new temporary file in `path`'s folder (created if needed), and flushes it
/// when `sync`.
fn stage(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<tempfile::TempPath> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".kurier-")
        .suffix(".tmp")
        // Like any file a program creates: the kernel applies the umask to this mode.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if sync {
        temp.as_file().sync_all()?;
    }
    Ok(temp.into_temp_path())
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
    fn a_failed_stage_replaces_nothing_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("rss.xml", b"old"), file("atom.xml", b"old")]).unwrap();
        // A file where a folder should be: staging `tags/sen/rss.xml` fails.
        std::fs::write(dir.path().join("tags"), "in the way").unwrap();
        let output = Output::new(dir.path());
        output.put(&file("rss.xml", b"new")).unwrap();
        output.put(&file("atom.xml", b"new")).unwrap();
        assert!(output.put(&file("tags/sen/rss.xml", b"new")).is_err());
        drop(output);
        assert_eq!(std::fs::read(dir.path().join("rss.xml")).unwrap(), b"old");
        assert_eq!(std::fs::read(dir.path().join("atom.xml")).unwrap(), b"old");
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["atom.xml", "rss.xml", "tags"]);
    }

    #[test]
    fn files_take_the_umask_not_a_private_mode() {
        // Regression: feeds were written 0600 (tempfile's mode) whatever the umask.
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("rss.xml", b"x")]).unwrap();
        let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        // What this process's umask makes of 0666, as any program creating a file gets it.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o666)
            .open(dir.path().join("probe"))
            .unwrap();
        assert_eq!(mode("rss.xml"), mode("probe"));
    }

    #[test]
    fn leaves_no_temporary_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("atom.xml", b"x")]).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["atom.xml"]);
    }
}
