//! What the last `kurier build` read and wrote, kept in `.kurier-build-cache` at the site root,
//! so that a build whose inputs and outputs are both as the last build left them can stop
//! before reading a single post (issue 11): feeds are a pure function of the post files, the
//! configuration, kurier itself and — through visibility — the clock, all of which are checked.
//!
//! Nothing in the cache is trusted blindly. It applies only when:
//! - it is this format's version, for the same kurier executable (size and modification time),
//!   the same configuration and output folder (a hash of all of them: the *key*);
//! - the clock has not reached the next publication or expiry the last build saw;
//! - the scan finds the same post files, each with the recorded size, modification time **and**
//!   content hash (the file is read and hashed: size and time alone miss an edit that keeps both);
//! - every feed file is there as the last build left it — same size, modification time, inode
//!   and inode change time (`ctime`, which no program can set back: any write, rename or mode
//!   change moves it) — and no tag feed is there that a build would remove. Feed files are not
//!   read: they are 5 times the posts' bytes, and their identity says they were not touched.
//!
//! Anything else — a missing, old, corrupt or foreign cache, a changed post byte, a touched feed
//! — and the build runs in full and writes a new cache. Builds with broken posts or warnings
//! write none, so that their messages are always told again. The content hash is FxHash
//! (64 bits), fast enough to hash every post on each build; it guards against edits, not
//! against an attacker who can already write the site's files.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::config::Config;
use crate::feed::{ATOM_FILE, JSON_FILE, RSS_FILE, TAGS_DIR};
use crate::site;

/// The cache file, at the site root.
pub const CACHE_FILE: &str = ".kurier-build-cache";
const HEADER: &str = "kurier build cache 2";

/// One file as the last build saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Relative to the site root (inputs) or to the output folder (feeds, `/`-separated).
    pub path: String,
    pub size: u64,
    pub mtime_ns: u128,
    /// Inputs: the post's revision (a hash of its path and bytes). Feeds: a hash of the file's
    /// device, inode and change time.
    pub hash: u64,
    /// Feeds: the ETag of its bytes (`feed::output::etag`).
    pub etag: Option<String>,
}

/// The content of the cache file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub key: u64,
    pub until: Option<DateTime<Utc>>,
    pub posts: usize,
    pub inputs: Vec<Seen>,
    pub outputs: Vec<Seen>,
}

/// What the cache is only valid for: kurier's version and executable, the configuration, the
/// output folder.
pub fn key(root: &Path, config: &Config) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    (HEADER, env!("CARGO_PKG_VERSION"), format!("{config:?}"), root.join(&config.output_dir)).hash(&mut hasher);
    let exe = std::env::current_exe().and_then(std::fs::metadata);
    exe.map(|m| (m.len(), mtime_ns(&m))).ok().hash(&mut hasher);
    hasher.finish()
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos())
}

/// Size and modification time of `path` (following links, as the scan does).
pub fn stat(path: &Path) -> Option<(u64, u128)> {
    std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| (m.len(), mtime_ns(&m)))
}

/// Size, modification time and a hash of the device, inode and change time of a feed file.
fn identity(path: &Path) -> Option<(u64, u128, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
    let mut hasher = rustc_hash::FxHasher::default();
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()).hash(&mut hasher);
    Some((meta.len(), mtime_ns(&meta), hasher.finish()))
}

/// Whether the files under `root` are exactly what `cache` says the last build read and wrote,
/// as of `now`. Reads and hashes every post file; looks up every feed file's identity.
pub fn is_fresh(cache: &Cache, root: &Path, config: &Config, now: DateTime<Utc>) -> bool {
    out_of_date(cache, root, config, now).is_none()
}

/// Why the record does not describe the site as it is now (the first difference found), or
/// `None` when it does.
pub fn out_of_date(cache: &Cache, root: &Path, config: &Config, now: DateTime<Utc>) -> Option<&'static str> {
    if cache.key != key(root, config) {
        return Some("another version of kurier, kurier.toml or the templates");
    }
    if cache.until.is_some_and(|until| now >= until) {
        return Some("a post's publication or expiry time has passed");
    }
    let Ok(mut scan) = site::scan(root) else { return Some("content/ cannot be scanned") };
    scan.files.retain(|file| site::in_sections(file, &config.content));
    let same_list = scan.files.len() == cache.inputs.len()
        && scan.files.iter().zip(&cache.inputs).all(|(file, seen)| file.to_str() == Some(&seen.path));
    if !scan.warnings.is_empty() || !same_list {
        return Some("posts were added, removed or renamed");
    }
    let out_dir = root.join(&config.output_dir);
    if !cache.inputs.par_iter().all(|seen| {
        let relative = Path::new(&seen.path);
        matches(seen, &root.join(relative), |bytes| site::revision(relative, bytes))
    }) {
        return Some("a post changed");
    }
    if !cache
        .outputs
        .par_iter()
        .all(|seen| identity(&out_dir.join(&seen.path)) == Some((seen.size, seen.mtime_ns, seen.hash)))
    {
        return Some("a feed in the output folder changed");
    }
    if !no_stale_tag_feeds(&out_dir, cache) {
        return Some("the output folder holds a tag feed the build did not write");
    }
    None
}

/// Whether the posts just read (`revisions`, as `PostCache::revisions` gives them) are exactly
/// those the cache says its build read: no file changed between the check and the reading.
pub fn read_as_cached(cache: &Cache, revisions: Option<Vec<(PathBuf, u64)>>) -> bool {
    let Some(revisions) = revisions else { return false };
    revisions.len() == cache.inputs.len()
        && revisions
            .iter()
            .zip(&cache.inputs)
            .all(|((file, hash), seen)| file.to_str() == Some(&seen.path) && *hash == seen.hash)
}

fn matches(seen: &Seen, path: &Path, hash: impl Fn(&[u8]) -> u64) -> bool {
    stat(path) == Some((seen.size, seen.mtime_ns)) && std::fs::read(path).is_ok_and(|bytes| hash(&bytes) == seen.hash)
}

/// A build removes the tag feeds of tags that are gone: none may be there for the cache to hold.
fn no_stale_tag_feeds(out_dir: &Path, cache: &Cache) -> bool {
    let known: BTreeSet<&str> = cache.outputs.iter().map(|seen| seen.path.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(out_dir.join(TAGS_DIR)) else { return true };
    entries.filter_map(Result::ok).all(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        [RSS_FILE, ATOM_FILE, JSON_FILE].iter().all(|file| {
            known.contains(format!("{TAGS_DIR}/{name}/{file}").as_str()) || !entry.path().join(file).exists()
        })
    })
}

/// Reads the cache of the site at `root`; `None` when there is none or it cannot be read.
pub fn load(root: &Path) -> Option<Cache> {
    parse(&std::fs::read_to_string(root.join(CACHE_FILE)).ok()?)
}

/// Replaces the cache of the site at `root` (atomically). A cache that cannot be written is
/// no error: the next build runs in full.
pub fn save(root: &Path, cache: &Cache) {
    let Some(text) = format(cache) else { return };
    let Ok(mut temp) = tempfile::NamedTempFile::new_in(root) else { return };
    if std::io::Write::write_all(&mut temp, text.as_bytes()).is_ok() {
        let _ = temp.persist(root.join(CACHE_FILE));
    }
}

/// Removes the cache: what a build does before it changes anything the cache describes.
pub fn forget(root: &Path) {
    let _ = std::fs::remove_file(root.join(CACHE_FILE));
}

fn format(cache: &Cache) -> Option<String> {
    let until = cache.until.map_or("-".to_owned(), |u| u.to_rfc3339());
    let mut text = format!("{HEADER}\nkey {:016x}\nuntil {until}\nposts {}\n", cache.key, cache.posts);
    for (kind, list) in [("in", &cache.inputs), ("out", &cache.outputs)] {
        for seen in list {
            if seen.path.contains('\n') {
                return None;
            }
            let etag = seen.etag.as_deref().unwrap_or("-");
            if etag.contains([' ', '\n']) {
                return None;
            }
            let _ = writeln!(text, "{kind} {} {} {:016x} {etag} {}", seen.size, seen.mtime_ns, seen.hash, seen.path);
        }
    }
    Some(text + "end\n")
}

fn parse(text: &str) -> Option<Cache> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let key = u64::from_str_radix(lines.next()?.strip_prefix("key ")?, 16).ok()?;
    let until = match lines.next()?.strip_prefix("until ")? {
        "-" => None,
        date => Some(DateTime::parse_from_rfc3339(date).ok()?.with_timezone(&Utc)),
    };
    let posts = lines.next()?.strip_prefix("posts ")?.parse().ok()?;
    let mut cache = Cache { key, until, posts, inputs: Vec::new(), outputs: Vec::new() };
    for line in lines {
        if line == "end" {
            // Written last: a cache cut short is never read.
            return Some(cache);
        }
        let mut fields = line.splitn(6, ' ');
        let list = match fields.next()? {
            "in" => &mut cache.inputs,
            "out" => &mut cache.outputs,
            _ => return None,
        };
        let size = fields.next()?.parse().ok()?;
        let mtime_ns = fields.next()?.parse().ok()?;
        let hash = u64::from_str_radix(fields.next()?, 16).ok()?;
        let etag = Some(fields.next()?).filter(|e| *e != "-").map(str::to_owned);
        list.push(Seen { size, mtime_ns, hash, etag, path: fields.next()?.to_owned() });
    }
    None
}

/// The post files a build read, with what it hashed of each (the posts' revisions).
pub fn inputs(root: &Path, revisions: Vec<(PathBuf, u64)>) -> Option<Vec<Seen>> {
    revisions
        .into_par_iter()
        .map(|(file, hash)| {
            let (size, mtime_ns) = stat(&root.join(&file))?;
            Some(Seen { path: file.to_str()?.to_owned(), size, mtime_ns, hash, etag: None })
        })
        .collect()
}

/// The feed files of a build (all of them, written or found unchanged), as they are now, with
/// their ETags where known (the daemon knows them; `kurier build` does not hash its output).
pub fn outputs(out_dir: &Path, paths: &[String], etag: impl Fn(&str) -> Option<String> + Sync) -> Option<Vec<Seen>> {
    let mut seen: Vec<Seen> = paths
        .par_iter()
        .map(|path| {
            let (size, mtime_ns, hash) = identity(&out_dir.join(path))?;
            Some(Seen { path: path.clone(), size, mtime_ns, hash, etag: etag(path) })
        })
        .collect::<Option<_>>()?;
    seen.sort_by(|a, b| a.path.cmp(&b.path));
    Some(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish;

    fn post(title: &str, date: &str) -> String {
        format!("+++\ntitle = \"{title}\"\ndate = {date}\ntags = [\"sen\"]\n+++\nTekst wpisu {title}.\n")
    }

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kurier.toml"), "title = \"T\"\nbase_url = \"https://example.org/\"\n").unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        std::fs::write(dir.path().join("content/a.md"), post("Alfa", "2026-01-01")).unwrap();
        std::fs::write(dir.path().join("content/b.md"), post("Beta", "2026-01-02")).unwrap();
        dir
    }

    fn now() -> DateTime<Utc> {
        "2026-11-26T00:00:00Z".parse().unwrap()
    }

    fn feeds(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir.join("public"))
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().strip_prefix(dir).unwrap().to_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    }

    /// Sets a file's modification time back to what it was before it was rewritten.
    fn rewrite_keeping_time(path: &Path, bytes: &[u8]) {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        std::fs::write(path, bytes).unwrap();
        std::fs::File::options().write(true).open(path).unwrap().set_modified(modified).unwrap();
    }

    #[test]
    fn an_unchanged_site_is_not_built_again_and_its_feeds_are_a_cacheless_builds() {
        let dir = site();
        let first = publish::build(dir.path(), now()).unwrap();
        assert_eq!(first.feeds.written.len(), 6);
        assert!(load(dir.path()).is_some(), "the cache is written");
        let cached = feeds(dir.path());
        let second = publish::build(dir.path(), now()).unwrap();
        assert_eq!((second.posts, second.feeds.written.len(), second.feeds.unchanged), (2, 0, 6));
        // The same site built from nothing, without a cache, writes the same bytes.
        forget(dir.path());
        std::fs::remove_dir_all(dir.path().join("public")).unwrap();
        publish::build(dir.path(), now()).unwrap();
        assert_eq!(feeds(dir.path()), cached);
    }

    #[test]
    fn an_edit_that_keeps_the_size_and_the_time_is_caught_by_the_content_hash() {
        let dir = site();
        publish::build(dir.path(), now()).unwrap();
        rewrite_keeping_time(&dir.path().join("content/a.md"), post("Alfo", "2026-01-01").as_bytes());
        let report = publish::build(dir.path(), now()).unwrap();
        assert!(report.feeds.written.contains(&"rss.xml".to_owned()), "{report:?}");
        let rss = std::fs::read_to_string(dir.path().join("public/rss.xml")).unwrap();
        assert!(rss.contains("Alfo") && !rss.contains("Alfa"));
    }

    #[test]
    fn a_feed_changed_behind_the_builds_back_is_written_again() {
        let dir = site();
        publish::build(dir.path(), now()).unwrap();
        let rss = dir.path().join("public/rss.xml");
        let good = std::fs::read(&rss).unwrap();
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 1;
        rewrite_keeping_time(&rss, &bad);
        let report = publish::build(dir.path(), now()).unwrap();
        assert_eq!(report.feeds.written, ["rss.xml"]);
        assert_eq!(std::fs::read(&rss).unwrap(), good);
        // A stale tag feed a build would remove also keeps the cache from applying.
        std::fs::create_dir_all(dir.path().join("public/tags/stary")).unwrap();
        std::fs::write(dir.path().join("public/tags/stary/rss.xml"), "x").unwrap();
        let report = publish::build(dir.path(), now()).unwrap();
        assert_eq!(report.feeds.removed, ["tags/stary/rss.xml"]);
    }

    #[test]
    fn a_corrupt_old_cut_short_or_foreign_cache_is_rebuilt_not_trusted() {
        let dir = site();
        publish::build(dir.path(), now()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CACHE_FILE)).unwrap();
        let cache = parse(&text).unwrap();
        assert_eq!(parse(&text.replace(HEADER, "kurier build cache 0")), None, "an older format");
        assert_eq!(parse(text.trim_end_matches("end\n")), None, "cut short");
        assert_eq!(parse(&text.replacen("in ", "in x", 1)), None, "corrupt");
        // A cache that parses but describes other files or another configuration.
        let mut other = cache.clone();
        other.inputs[0].hash ^= 1;
        assert!(!is_fresh(&other, dir.path(), &Config::load(dir.path()).unwrap(), now()));
        let mut foreign = cache.clone();
        foreign.key ^= 1;
        assert!(!is_fresh(&foreign, dir.path(), &Config::load(dir.path()).unwrap(), now()));
        assert!(is_fresh(&cache, dir.path(), &Config::load(dir.path()).unwrap(), now()));
        // Garbage in the file: the build runs in full, then replaces it.
        std::fs::write(dir.path().join(CACHE_FILE), "garbage").unwrap();
        std::fs::remove_file(dir.path().join("public/atom.xml")).unwrap();
        let report = publish::build(dir.path(), now()).unwrap();
        assert_eq!(report.feeds.written, ["atom.xml"]);
        assert!(load(dir.path()).is_some());
    }

    #[test]
    fn posts_read_after_the_check_must_be_the_ones_the_cache_describes() {
        let dir = site();
        publish::build(dir.path(), now()).unwrap();
        let cache = load(dir.path()).unwrap();
        let config = Config::load(dir.path()).unwrap();
        let read = || site::PostCache::load(dir.path(), &config).unwrap().revisions();
        assert!(read_as_cached(&cache, read()));
        rewrite_keeping_time(&dir.path().join("content/a.md"), post("Alfo", "2026-01-01").as_bytes());
        assert!(!read_as_cached(&cache, read()), "a post changed since");
        std::fs::remove_file(dir.path().join("content/a.md")).unwrap();
        assert!(!read_as_cached(&cache, read()), "a post gone since");
        assert!(!read_as_cached(&cache, None), "a post that could not be read");
    }

    #[test]
    fn a_changed_configuration_builds_again() {
        let dir = site();
        publish::build(dir.path(), now()).unwrap();
        std::fs::write(dir.path().join("kurier.toml"), "title = \"U\"\nbase_url = \"https://example.org/\"\n").unwrap();
        let report = publish::build(dir.path(), now()).unwrap();
        assert_eq!(report.feeds.written.len(), 6);
    }

    #[test]
    fn a_post_dated_in_the_future_is_published_when_its_time_comes() {
        let dir = site();
        std::fs::write(dir.path().join("content/c.md"), post("Gamma", "2026-12-01")).unwrap();
        assert_eq!(publish::build(dir.path(), now()).unwrap().posts, 2);
        assert_eq!(publish::build(dir.path(), now()).unwrap().feeds.written.len(), 0);
        let later = "2026-12-02T00:00:00Z".parse().unwrap();
        assert_eq!(publish::build(dir.path(), later).unwrap().posts, 3);
    }

    #[test]
    fn a_build_with_a_broken_post_keeps_no_cache_so_it_reports_it_each_time() {
        let dir = site();
        std::fs::write(dir.path().join("content/zly.md"), "+++\ntitle = \n+++\n").unwrap();
        assert_eq!(publish::build(dir.path(), now()).unwrap().errors.len(), 1);
        assert!(load(dir.path()).is_none());
        assert_eq!(publish::build(dir.path(), now()).unwrap().errors.len(), 1);
    }
}
