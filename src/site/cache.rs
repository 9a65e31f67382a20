//! The posts of a running site, kept between builds so that a change re-reads only the files
//! that changed (the daemon's incremental rebuild). Phases 2 and 3 of `Site::load` (select,
//! link related) run on the whole cache each time: uniqueness, visibility and related posts
//! depend on every post.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use super::{CONTENT_DIR, Loaded, Post, PostError, Site, is_post_file, post, post_files};
use crate::config::Config;

#[derive(Debug, Default)]
pub struct PostCache {
    /// Every post file by path relative to the site root, read or failed.
    entries: BTreeMap<PathBuf, Result<Post, PostError>>,
}

impl PostCache {
    /// Reads every post of the site at `root`.
    pub fn load(root: &Path, config: &Config) -> std::io::Result<PostCache> {
        let files = post_files(root)?;
        let content_dir = Path::new(CONTENT_DIR);
        let entries = files
            .into_par_iter()
            .map(|file| {
                let post = post::read(root, &file, content_dir, config);
                (file, post)
            })
            .collect();
        Ok(PostCache { entries })
    }

    /// Re-reads the given files (relative to `root`): changed ones are read again, deleted ones
    /// dropped. Returns how many entries changed.
    pub fn refresh(&mut self, root: &Path, config: &Config, files: &[PathBuf]) -> usize {
        let content_dir = Path::new(CONTENT_DIR);
        let read: Vec<(PathBuf, Option<Result<Post, PostError>>)> = files
            .par_iter()
            .map(|file| {
                let exists = is_post_file(file) && root.join(file).is_file();
                (file.clone(), exists.then(|| post::read(root, file, content_dir, config)))
            })
            .collect();
        let mut changed = 0;
        for (file, post) in read {
            changed += 1;
            match post {
                Some(post) => {
                    self.entries.insert(file, post);
                }
                None => {
                    self.entries.remove(&file);
                }
            }
        }
        changed
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

    /// The site as of `now`, consuming the cache (no copies: what `kurier build` does).
    pub fn into_site(self, config: &Config, now: DateTime<Utc>) -> Loaded {
        let mut posts = Vec::with_capacity(self.entries.len());
        let mut errors = Vec::new();
        for entry in self.entries.into_values() {
            match entry {
                Ok(post) => posts.push(post),
                Err(error) => errors.push(error),
            }
        }
        Site::from_posts(posts, errors, config, now)
    }

    /// The site as of `now`, keeping the cache for the next rebuild.
    pub fn site(&self, config: &Config, now: DateTime<Utc>) -> Loaded {
        let mut posts = Vec::with_capacity(self.entries.len());
        let mut errors = Vec::new();
        for entry in self.entries.values() {
            match entry {
                Ok(post) => posts.push(post.clone()),
                Err(error) => errors.push(error.clone()),
            }
        }
        Site::from_posts(posts, errors, config, now)
    }
}
