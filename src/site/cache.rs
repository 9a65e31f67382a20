//! The posts of a running site, kept between builds so that a change re-reads only the files
//! that changed (the daemon's incremental rebuild). Phases 2 and 3 of `Site::load` (select,
//! link related) run on the whole cache each time: uniqueness, visibility and related posts
//! depend on every post.
//!
//! What a failed read means is decided here. A file that is gone (not found, or no longer a
//! post file) leaves the site. A file that exists but cannot be read for now — too many open
//! files, an I/O error, a permission being changed — is *unreadable*: it keeps its last good
//! version, so a transient fault never unpublishes a post, and the caller retries it
//! ([`PostCache::unreadable`]). Only a file whose content is broken is replaced by its error.

use std::collections::{BTreeMap, HashSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use super::scan::{Warning, in_sections, is_post_file, scan};
use super::slots::FeedSlots;
use super::{CONTENT_DIR, Loaded, Post, PostError, Site, post};
use crate::config::Config;

#[derive(Debug, Default)]
pub struct PostCache {
    /// Every post file by path relative to the site root: its post, its content error, or —
    /// for an unreadable file — its last good post if it ever had one.
    entries: BTreeMap<PathBuf, Result<Post, PostError>>,
    /// Files whose last read failed for a reason that may pass.
    unreadable: BTreeMap<PathBuf, PostError>,
    /// What the last full scan did not follow.
    warnings: Vec<Warning>,
}

/// One attempt at reading a post file (short-lived: moved into the cache at once).
#[allow(clippy::large_enum_variant)]
enum Reading {
    Gone,
    Unreadable(PostError),
    Read(Result<Post, PostError>),
}

fn read(root: &Path, file: &Path, config: &Config, slots: Option<&FeedSlots>) -> Reading {
    if !is_post_file(file) || !in_sections(file, &config.content) {
        return Reading::Gone;
    }
    let path = root.join(file);
    // A link may have been re-pointed since the scan: follow it only inside the site.
    if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        let inside = match (path.canonicalize(), root.canonicalize()) {
            (Ok(target), Ok(root)) => target.starts_with(root),
            _ => false,
        };
        if !inside {
            return Reading::Gone;
        }
    }
    if let Ok(meta) = path.metadata()
        && meta.len() > post::MAX_FILE_BYTES
    {
        let reason =
            format!("is {} MiB, more than the {} MiB a post may be", meta.len() >> 20, post::MAX_FILE_BYTES >> 20);
        return Reading::Read(Err(PostError { path: file.to_owned(), line: 1, reason }));
    }
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mut read = post::parse(file, &bytes, Path::new(CONTENT_DIR), config);
            if let (Ok(post), Some(slots)) = (&mut read, slots) {
                slots.take(post);
            }
            Reading::Read(read)
        }
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::NotADirectory) => {
            Reading::Gone
        }
        Err(e) => {
            Reading::Unreadable(PostError { path: file.to_owned(), line: 1, reason: format!("cannot read: {e}") })
        }
    }
}

/// Reads again the HTML of the posts of `site` from the files `sources` whose HTML was dropped
/// while reading (`slots.rs`). A file that cannot be read again, or is no longer a post, is an
/// error: it changed during the build.
pub fn restore_content(
    root: &Path,
    config: &Config,
    site: &mut Site,
    sources: &HashSet<PathBuf>,
) -> Result<(), PostError> {
    site.posts.par_iter_mut().filter(|p| p.content_dropped && sources.contains(&p.source)).try_for_each(|post| {
        let changed = |reason: String| PostError { path: post.source.clone(), line: 1, reason };
        let bytes = std::fs::read(root.join(&post.source)).map_err(|e| changed(format!("cannot read again: {e}")))?;
        let again = post::parse(&post.source, &bytes, Path::new(CONTENT_DIR), config)
            .map_err(|e| changed(format!("changed during the build: {}", e.reason)))?;
        let read = post.read_mut();
        read.content_html = again.content_html.clone();
        read.content_dropped = false;
        Ok(())
    })
}

impl PostCache {
    /// Reads every post of the site at `root`. Fails only when the folder tree cannot be walked.
    pub fn load(root: &Path, config: &Config) -> std::io::Result<PostCache> {
        PostCache::load_until(root, config, &|| false)
    }

    /// [`PostCache::load`] that gives up (`Interrupted`) as soon as `stop` says so: a daemon
    /// asked to stop while reading 100,000 posts stops within moments.
    pub fn load_until(root: &Path, config: &Config, stop: &(dyn Fn() -> bool + Sync)) -> std::io::Result<PostCache> {
        PostCache::read_all(root, config, stop, None)
    }

    /// [`PostCache::load`] for one build of the feeds as of `now`: the HTML of posts no feed can
    /// list is dropped as they are read (`slots.rs`).
    pub fn load_for_feeds(root: &Path, config: &Config, now: DateTime<Utc>) -> std::io::Result<PostCache> {
        let slots = FeedSlots::new(config, now);
        let mut cache = PostCache::read_all(root, config, &|| false, Some(&slots))?;
        let mut kept = slots.into_kept();
        for post in cache.entries.values_mut().filter_map(|entry| entry.as_mut().ok()) {
            if let Some(html) = kept.remove(&post.source) {
                let read = post.read_mut();
                read.content_html = html;
                read.content_dropped = false;
            }
        }
        Ok(cache)
    }

    fn read_all(
        root: &Path,
        config: &Config,
        stop: &(dyn Fn() -> bool + Sync),
        slots: Option<&FeedSlots>,
    ) -> std::io::Result<PostCache> {
        let mut scan = scan(root)?;
        // Files outside `[content] sections` are pages, not posts: never read, never errors.
        scan.files.retain(|file| in_sections(file, &config.content));
        let read: Vec<(PathBuf, Reading)> = scan
            .files
            .into_par_iter()
            .map(|file| {
                let reading = if stop() { Reading::Gone } else { read(root, &file, config, slots) };
                (file, reading)
            })
            .collect();
        if stop() {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "stopping"));
        }
        let mut cache = PostCache { warnings: scan.warnings, ..PostCache::default() };
        for (file, reading) in read {
            cache.put(file, reading);
        }
        Ok(cache)
    }

    /// Reads every post again; an unreadable file keeps the version this cache had.
    pub fn reload(&mut self, root: &Path, config: &Config) -> std::io::Result<()> {
        let mut fresh = PostCache::load(root, config)?;
        for file in fresh.unreadable.keys() {
            if let Some(Ok(last_good)) = self.entries.remove(file) {
                fresh.entries.insert(file.clone(), Ok(last_good));
            }
        }
        *self = fresh;
        Ok(())
    }

    /// Re-reads the given files (relative to `root`): changed ones are read again, deleted ones
    /// dropped, unreadable ones keep their last good version.
    pub fn refresh(&mut self, root: &Path, config: &Config, files: &[PathBuf]) {
        let read: Vec<(PathBuf, Reading)> =
            files.par_iter().map(|file| (file.clone(), read(root, file, config, None))).collect();
        for (file, reading) in read {
            self.put(file, reading);
        }
    }

    fn put(&mut self, file: PathBuf, reading: Reading) {
        match reading {
            Reading::Gone => {
                self.entries.remove(&file);
                self.unreadable.remove(&file);
            }
            Reading::Unreadable(error) => {
                if let Some(Err(_)) = self.entries.get(&file) {
                    self.entries.remove(&file);
                }
                self.unreadable.insert(file, error);
            }
            Reading::Read(post) => {
                self.unreadable.remove(&file);
                self.entries.insert(file, post);
            }
        }
    }

    /// Files that could not be read for now, with why, and whether a last good version of
    /// each is kept in their place.
    pub fn unreadable(&self) -> impl Iterator<Item = (&PostError, bool)> {
        self.unreadable.iter().map(|(file, error)| (error, matches!(self.entries.get(file), Some(Ok(_)))))
    }

    /// The cached result of reading `file` (relative to the root).
    pub fn get(&self, file: &Path) -> Option<&Result<Post, PostError>> {
        self.entries.get(file)
    }

    /// Whether any cached post lies below `dir` (relative to the root).
    pub fn has_posts_below(&self, dir: &Path) -> bool {
        // Paths sort by component, so the posts below `dir` directly follow it.
        self.entries
            .range(dir.to_path_buf()..)
            .find(|(file, _)| *file != dir)
            .is_some_and(|(file, _)| file.starts_with(dir))
    }

    /// The revision of every post file read, by path — `None` when any file is broken or
    /// unreadable (a build that reports errors is not worth remembering: see `build_cache`).
    pub fn revisions(&self) -> Option<Vec<(PathBuf, u64)>> {
        if !self.unreadable.is_empty() {
            return None;
        }
        self.entries.iter().map(|(file, entry)| entry.as_ref().ok().map(|post| (file.clone(), post.revision))).collect()
    }

    /// The site as of `now`, consuming the cache (no copies: what `kurier build` does). An
    /// unreadable file is an error here: there is no earlier version to keep.
    pub fn into_site(self, config: &Config, now: DateTime<Utc>) -> Loaded {
        let (posts, mut errors) = split(self.entries.into_values());
        errors.splice(0..0, self.unreadable.into_values());
        with_scan_warnings(Site::from_posts(posts, errors, config, now, |_| false, None, false), self.warnings)
    }

    /// The site as of `now`, keeping the cache for the next rebuild. `previous` is the site
    /// published last: of two posts that claim one permalink or id on the same date, the one
    /// already published keeps it; its related links are taken from it and updated (the site
    /// returned keeps them for the next rebuild).
    pub fn site(&self, config: &Config, now: DateTime<Utc>, mut previous: Option<&mut Site>) -> Loaded {
        let (posts, mut errors) = split(self.entries.values().cloned());
        // Unreadable files without a kept version are missing from the feeds: an error.
        errors.extend(self.unreadable().filter(|(_, kept)| !kept).map(|(error, _)| error.clone()));
        let linked = previous.as_mut().and_then(|site| site.linked.take());
        // By the path's bytes: hashing a `Path` splits it into components first.
        let published: rustc_hash::FxHashSet<&std::ffi::OsStr> =
            previous.map(|site| site.posts.iter().map(|p| p.source.as_os_str()).collect()).unwrap_or_default();
        let published = |post: &Post| published.contains(post.source.as_os_str());
        with_scan_warnings(Site::from_posts(posts, errors, config, now, published, linked, true), self.warnings.clone())
    }
}

/// The posts and the errors of what was read.
fn split(entries: impl Iterator<Item = Result<Post, PostError>>) -> (Vec<Post>, Vec<PostError>) {
    let mut posts = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Ok(post) => posts.push(post),
            Err(error) => errors.push(error),
        }
    }
    (posts, errors)
}

/// `loaded` with the scan's warnings before the site's own.
fn with_scan_warnings(mut loaded: Loaded, warnings: Vec<Warning>) -> Loaded {
    loaded.warnings.splice(0..0, warnings);
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::ReadPost;

    fn config() -> Config {
        Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("kurier.toml")).unwrap()
    }

    fn titles(cache: &PostCache) -> Vec<String> {
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        cache.site(&config(), now, None).site.posts.iter().map(|p| p.title.clone()).collect()
    }

    #[test]
    fn a_file_too_large_to_be_a_post_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        let file = std::fs::File::create(dir.path().join("content/big.md")).unwrap();
        file.set_len(9 << 20).unwrap();
        let cache = PostCache::load(dir.path(), &config()).unwrap();
        let err = cache.get(Path::new("content/big.md")).unwrap().as_ref().unwrap_err();
        assert_eq!(err.to_string(), "content/big.md:1: is 9 MiB, more than the 8 MiB a post may be");
    }

    #[test]
    fn related_lists_after_an_edit_are_those_linking_from_nothing_makes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        let write = |name: &str, title: &str, tag: &str, text: &str| {
            let post =
                format!("+++\ntitle = \"{title}\"\ndate = 2026-01-0{}\ntags = [\"{tag}\"]\n+++\n{text}\n", name.len());
            std::fs::write(dir.path().join("content").join(name), post).unwrap();
        };
        write("a.md", "Sen", "inne", "Sen, bezsenność i zasypianie.");
        write("bb.md", "Stres", "stres", "Stres, napięcie i kortyzol.");
        write("ccc.md", "Sen znowu", "sen", "Zasypianie i sen po stresie.");
        write("dddd.md", "Napięcie", "stres", "Kortyzol, stres, napięcie mięśni.");
        let config = |related: usize| {
            let text = format!("title = \"T\"\nbase_url = \"https://example.org/\"\n[feeds]\nrelated = {related}\n");
            Config::parse(&text, Path::new("kurier.toml")).unwrap()
        };
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let mut cache = PostCache::load(dir.path(), &config(1)).unwrap();
        let mut first = cache.site(&config(1), now, None).site;
        assert!(first.linked.is_some(), "a cached site keeps what linking made");
        let lists = |site: &Site| site.posts.iter().map(|p| (p.title.clone(), p.related.clone())).collect::<Vec<_>>();
        // What linking from nothing makes of the posts as they are now.
        let linked = |cache: &PostCache, related: usize| lists(&cache.site(&config(related), now, None).site);

        // A title that gains a word too short to be a term: the same terms, the same lists.
        write("a.md", "Sen i", "inne", "Sen, bezsenność i zasypianie.");
        cache.refresh(dir.path(), &config(1), &[PathBuf::from("content/a.md")]);
        let mut kept = cache.site(&config(1), now, Some(&mut first)).site;
        assert!(first.linked.is_none(), "taken over by the next site");
        assert_eq!(lists(&kept), linked(&cache, 1));

        // A text that now speaks of stress: its list is made again, and differs.
        write("a.md", "Sen i", "inne", "Kortyzol, napięcie, stres, kortyzol, napięcie mięśni.");
        cache.refresh(dir.path(), &config(1), &[PathBuf::from("content/a.md")]);
        let mut relinked = cache.site(&config(1), now, Some(&mut kept)).site;
        assert_eq!(lists(&relinked), linked(&cache, 1));
        assert_ne!(lists(&relinked), lists(&kept));

        // More related posts asked for: made again, though no post changed.
        let more = cache.site(&config(2), now, Some(&mut relinked)).site;
        assert_eq!(lists(&more), linked(&cache, 2));
        assert_ne!(lists(&more), lists(&relinked), "longer lists");
    }

    #[test]
    fn sites_share_what_was_read_with_the_cache_and_a_renamed_tag_copies_only_its_posts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        let write = |name: &str, tag: &str| {
            let post = format!("+++\ntitle = \"{name}\"\ndate = 2026-01-01\ntags = [\"{tag}\"]\n+++\nx\n");
            std::fs::write(dir.path().join("content").join(format!("{name}.md")), post).unwrap();
        };
        write("a", "zdrowie psychiczne");
        write("b", "zdrowie-psychiczne");
        write("c", "stres");
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let cache = PostCache::load(dir.path(), &config()).unwrap();
        let first = cache.site(&config(), now, None).site;
        let cached = |name: &str| match cache.get(Path::new(&format!("content/{name}.md"))) {
            Some(Ok(post)) => &**post as *const ReadPost,
            _ => panic!("{name} is cached"),
        };
        let in_site = |site: &Site, name: &str| {
            let post = site.posts.iter().find(|p| p.title == name).expect("in the site");
            (&**post as *const ReadPost, post.tag_slugs.clone())
        };
        // Two tags, one slug: the posts of one of them get another (`tags::separate`).
        let (a, a_slugs) = in_site(&first, "a");
        let (b, b_slugs) = in_site(&first, "b");
        let (c, _) = in_site(&first, "c");
        assert_ne!(a_slugs, b_slugs, "the two spellings are told apart");
        let renamed = if a_slugs == ["zdrowie-psychiczne"] { ("b", b) } else { ("a", a) };
        let kept = if renamed.0 == "a" { ("b", b) } else { ("a", a) };
        assert_ne!(renamed.1, cached(renamed.0), "the renamed post is the site's own copy");
        assert_eq!(kept.1, cached(kept.0), "a post the rename leaves alone is the cache's");
        assert_eq!(c, cached("c"));
        // A second site out of the same cache: still one copy of each post that was not renamed.
        let second = cache.site(&config(), now, None).site;
        assert_eq!(in_site(&second, "c").0, cached("c"));
        assert_eq!(in_site(&second, kept.0).0, cached(kept.0));
    }

    #[test]
    fn an_unreadable_post_keeps_its_last_good_version_until_it_reads_again() {
        let dir = tempfile::tempdir().unwrap();
        let post = |title: &str| format!("+++\ntitle = \"{title}\"\ndate = 2026-01-01\n+++\nx\n");
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        std::fs::write(dir.path().join("content/a.md"), post("A")).unwrap();
        std::fs::write(dir.path().join("content/b.md"), post("B")).unwrap();
        let mut cache = PostCache::load(dir.path(), &config()).unwrap();
        assert_eq!(titles(&cache), ["A", "B"]);

        // Root reads a file whatever its mode, so the fault is put in where reads are
        // classified; tests/daemon.rs makes a real EMFILE in the running daemon.
        cache.put(
            PathBuf::from("content/a.md"),
            Reading::Unreadable(PostError {
                path: "content/a.md".into(),
                line: 1,
                reason: "cannot read: Too many open files (os error 24)".into(),
            }),
        );
        assert_eq!(titles(&cache), ["A", "B"], "the last good version stays");
        assert_eq!(
            cache.unreadable().map(|(e, kept)| (e.path.clone(), kept)).collect::<Vec<_>>(),
            [(PathBuf::from("content/a.md"), true)]
        );
        std::fs::write(dir.path().join("content/a.md"), post("A2")).unwrap();
        // The retry reads the new version.
        cache.refresh(dir.path(), &config(), &[PathBuf::from("content/a.md")]);
        assert_eq!(titles(&cache), ["A2", "B"]);
        assert_eq!(cache.unreadable().count(), 0);
        // A file that is gone leaves.
        std::fs::remove_file(dir.path().join("content/a.md")).unwrap();
        cache.refresh(dir.path(), &config(), &[PathBuf::from("content/a.md")]);
        assert_eq!(titles(&cache), ["B"]);
    }
}
