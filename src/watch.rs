//! notify events → "these files changed".
//!
//! The site's folders are watched (`content/` and `templates/` recursively, the site root for
//! `kurier.toml`), never single files: editors save by writing a temporary file and renaming it
//! over the post, which replaces the inode a single-file watch would follow. Events are
//! debounced by notify-debouncer-full (a burst of events within [`DEBOUNCE`] is one batch, with
//! renames paired up), then reduced to what a rebuild needs: the post files that changed,
//! whether templates or `kurier.toml` changed. Swap files, backups (`post.md~`, `.post.md.swp`,
//! `4913`) and anything outside those places (`public/`, `subscribers/`) are ignored, so an
//! editor's save is one rebuild and the daemon's own writes are none.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

use crate::config::CONFIG_FILE;
use crate::render::TEMPLATES_DIR;
use crate::site::{CONTENT_DIR, is_post_file};

/// Events closer together than this are one batch.
pub const DEBOUNCE: Duration = Duration::from_millis(120);

/// What a batch of events changed, relative to the site root.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub posts: BTreeSet<PathBuf>,
    /// A folder below `content/` appeared or moved in: read every post again.
    pub rescan: bool,
    /// Vanished paths without an extension below `content/`: a removed folder (whose posts go
    /// with it) or an editor's probe file (vim's `4913`); the cache can tell which.
    pub vanished: BTreeSet<PathBuf>,
    pub templates: bool,
    pub config: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty() && !self.rescan && self.vanished.is_empty() && !self.templates && !self.config
    }
}

/// The running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Watches the site at `root` (which must be canonical) and sends each non-empty batch.
pub fn start(root: &Path) -> notify::Result<(Watcher, mpsc::UnboundedReceiver<Changes>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let base = root.to_owned();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| match result {
        Ok(events) => {
            // Reading files (ours included) makes access events, and atime updates metadata
            // events: neither changes anything.
            let paths = events.iter().filter(|e| changes_content(&e.event.kind)).flat_map(|e| e.event.paths.iter());
            let changes = classify(&base, paths);
            if !changes.is_empty() {
                let _ = tx.send(changes);
            }
        }
        Err(errors) => {
            for error in errors {
                tracing::error!(%error, "file watcher error");
            }
        }
    })?;
    debouncer.watch(root, RecursiveMode::NonRecursive)?;
    for dir in [CONTENT_DIR, TEMPLATES_DIR] {
        let path = root.join(dir);
        if path.is_dir() {
            debouncer.watch(&path, RecursiveMode::Recursive)?;
        }
    }
    Ok((Watcher { _debouncer: debouncer }, rx))
}

fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    !matches!(kind, EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)))
}

/// Reduces event paths to [`Changes`].
pub fn classify<'a>(root: &Path, paths: impl IntoIterator<Item = &'a PathBuf>) -> Changes {
    let mut changes = Changes::default();
    for path in paths {
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let mut parts = relative.components();
        let first = parts.next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
        let rest = parts.as_path();
        match first {
            CONFIG_FILE if rest.as_os_str().is_empty() => changes.config = true,
            CONTENT_DIR => {
                if is_post_file(relative) {
                    changes.posts.insert(relative.to_owned());
                } else if path.is_dir() || rest.as_os_str().is_empty() {
                    changes.rescan = true;
                } else if !path.exists() && path.extension().is_none() {
                    changes.vanished.insert(relative.to_owned());
                }
            }
            TEMPLATES_DIR => {
                let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                // A folder made or removed (`templates/kurier/`) may hold templates whose own
                // events came before the folder was watched.
                let folder = path.is_dir() || (!path.exists() && path.extension().is_none());
                if rest.as_os_str().is_empty() || name.ends_with(".html") || name.ends_with(".txt") || folder {
                    changes.templates = true;
                }
            }
            _ => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site folder in a temporary directory: `classify` asks the file system whether a path is
    /// a folder or is gone, so each test lays out exactly the files its events describe.
    struct Site {
        dir: tempfile::TempDir,
    }

    impl Site {
        fn new(files: &[&str], folders: &[&str]) -> Site {
            let site = Site { dir: tempfile::tempdir().unwrap() };
            for folder in ["content", "templates"].iter().chain(folders) {
                std::fs::create_dir_all(site.root().join(folder)).unwrap();
            }
            for file in files {
                std::fs::write(site.root().join(file), "x").unwrap();
            }
            site
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        fn paths(&self, relative: &[&str]) -> Vec<PathBuf> {
            relative.iter().map(|r| self.root().join(r)).collect()
        }
    }

    #[test]
    fn an_editor_save_is_one_post_change_and_leftovers_are_ignored() {
        // After the save: the post and vim's backup are there; the swap file, the renamed
        // temporary file and the `4913` probe are gone.
        let site = Site::new(&["content/post.md", "content/post.md~", "kurier.toml"], &["public", "subscribers"]);
        let elsewhere = tempfile::tempdir().unwrap();
        let mut paths = site.paths(&[
            "content/.post.md.swp",
            "content/4913",
            "content/post.md~",
            "content/.post.md.tmp",
            "content/post.md",
            "public/rss.xml",
            "subscribers/kurier.sqlite-wal",
        ]);
        paths.push(elsewhere.path().join("content/x.md"));
        let changes = classify(site.root(), &paths);
        assert_eq!(changes.posts, BTreeSet::from([PathBuf::from("content/post.md")]));
        assert!(!changes.rescan && !changes.templates && !changes.config);
        assert_eq!(changes.vanished, BTreeSet::from([PathBuf::from("content/4913")]));
    }

    #[test]
    fn templates_and_config_are_noticed() {
        let site = Site::new(&["templates/digest.html", "templates/notes.md", "kurier.toml"], &[]);
        let changes = classify(site.root(), &site.paths(&["templates/digest.html", "kurier.toml"]));
        assert!(changes.templates && changes.config && changes.posts.is_empty());
        let changes = classify(site.root(), &site.paths(&["templates/notes.md"]));
        assert!(changes.is_empty());
    }

    #[test]
    fn a_folder_made_or_removed_in_templates_reloads_them() {
        let site = Site::new(&["templates/kurier/page.html"], &["templates/kurier"]);
        assert!(classify(site.root(), &site.paths(&["templates/kurier"])).templates, "made");
        assert!(classify(site.root(), &site.paths(&["templates/stary"])).templates, "removed");
    }

    #[test]
    fn a_folder_moved_into_content_is_a_rescan_and_one_that_vanished_is_named() {
        let site = Site::new(&["content/plik-bez-rozszerzenia"], &["content/2026/nowe"]);
        let changes = classify(site.root(), &site.paths(&["content/2026/nowe"]));
        assert!(changes.rescan && changes.vanished.is_empty() && changes.posts.is_empty(), "{changes:?}");
        let changes = classify(site.root(), &site.paths(&["content/stare"]));
        assert!(!changes.rescan, "{changes:?}");
        assert_eq!(changes.vanished, BTreeSet::from([PathBuf::from("content/stare")]));
        // A file without an extension that is still there is neither.
        let changes = classify(site.root(), &site.paths(&["content/plik-bez-rozszerzenia"]));
        assert!(changes.is_empty(), "{changes:?}");
    }
}
