//! The site model: `content/` → the visible posts, newest first, with their related posts.
//!
//! PURE: a function of the files on disk, the configuration and `now`; no async, no network,
//! no templates, no database. Loading runs in phases, as Zola's does, because each needs the one
//! before it complete:
//!
//! 1. **read** every post file in parallel (`post.rs`) — a broken post becomes a [`PostError`] and
//!    the others go on;
//! 2. **select**: permalinks and ids must be unique (known only once every post is read), drafts,
//!    `feed = false` and future posts drop out, the rest is sorted newest first (ties by id);
//! 3. **link related** posts (`related.rs`), which needs the final set of visible posts.
//!
//! Feeds (`crate::feed`) and digests are made from the result.

mod cache;
mod date;
mod excerpt;
mod front_matter;
mod html;
mod markdown;
mod post;
mod related;
mod slug;
mod source;

pub use cache::PostCache;
pub use date::local as local_datetime;
pub use date::parse as parse_date;
pub use html::escape_html;
pub use post::{Post, PostError};
pub use related::{Terms, link as link_related};
pub use slug::slugify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;

/// The folder of posts below the site root.
pub const CONTENT_DIR: &str = "content";

/// The visible posts of a site.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Visible posts, newest first, ties broken by id.
    pub posts: Vec<Post>,
    /// When the earliest post dated in the future becomes visible, so a daemon can rebuild then.
    pub next_publication: Option<DateTime<Utc>>,
}

/// A loaded site and the posts that could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub site: Site,
    pub errors: Vec<PostError>,
}

impl Site {
    /// Reads every post under `root/content`, as of `now`.
    pub fn load(root: &Path, config: &Config, now: DateTime<Utc>) -> std::io::Result<Loaded> {
        Ok(PostCache::load(root, config)?.into_site(config, now))
    }

    /// Phases 2 and 3 on posts already read; `posts` in file-path order, so that of two posts with
    /// the same URL or id the first by path keeps it.
    pub fn from_posts(posts: Vec<Post>, mut errors: Vec<PostError>, config: &Config, now: DateTime<Utc>) -> Loaded {
        let mut urls: HashMap<String, PathBuf> = HashMap::new();
        let mut ids: HashMap<String, PathBuf> = HashMap::new();
        let mut visible = Vec::with_capacity(posts.len());
        let mut next_publication: Option<DateTime<Utc>> = None;
        for post in posts {
            if post.draft {
                continue;
            }
            if let Some(first) = urls.get(&post.url) {
                errors.push(duplicate(&post, "permalink", &post.url, first));
                continue;
            }
            if let Some(first) = ids.get(&post.id) {
                errors.push(duplicate(&post, "id", &post.id, first));
                continue;
            }
            urls.insert(post.url.clone(), post.source.clone());
            ids.insert(post.id.clone(), post.source.clone());
            if !post.in_feeds {
                continue;
            }
            let date = post.date.with_timezone(&Utc);
            if date > now {
                next_publication = Some(next_publication.map_or(date, |n| n.min(date)));
                continue;
            }
            visible.push(post);
        }
        visible.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.id.cmp(&b.id)));
        related::link(&mut visible, config.feeds.related);
        errors.sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
        Loaded { site: Site { posts: visible, next_publication }, errors }
    }
}

fn duplicate(post: &Post, what: &str, value: &str, first: &Path) -> PostError {
    PostError {
        path: post.source.clone(),
        line: 1,
        reason: format!("{what} `{value}` is already used by {}", first.display()),
    }
}

/// Markdown files below `root/content`, relative to `root`, sorted. Hidden files and editors'
/// leftovers (`.#post.md`, `#post.md#`, `post.md~`, swap files) are not posts.
pub fn post_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = root.join(CONTENT_DIR);
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&dir).follow_links(true).sort_by_file_name() {
        let entry =
            entry.map_err(|e| std::io::Error::other(format!("{}: {}", e.path().unwrap_or(&dir).display(), e)))?;
        if entry.file_type().is_file() && is_post_file(entry.path()) {
            files.push(entry.path().strip_prefix(root).unwrap_or(entry.path()).to_owned());
        }
    }
    Ok(files)
}

/// Whether a path names a post file.
pub fn is_post_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let markdown = name.ends_with(".md") || name.ends_with(".markdown");
    markdown && !name.starts_with('.') && !name.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_with(posts: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(
            "title = \"T\"\nbase_url = \"https://example.org/\"\ntimezone = \"Europe/Warsaw\"\n[feeds]\nrelated = 2\n",
            Path::new("kurier.toml"),
        )
        .unwrap();
        for (name, text) in posts {
            let path = dir.path().join(CONTENT_DIR).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        (dir, config)
    }

    fn related_titles(site: &Site) -> Vec<(String, Vec<String>)> {
        site.posts
            .iter()
            .map(|p| (p.title.clone(), p.related.iter().map(|&i| site.posts[i].title.clone()).collect()))
            .collect()
    }

    #[test]
    fn related_posts_are_deterministic_and_break_ties_by_date_then_id() {
        // Four posts with the same text and tags: every pair is equally related, so the order is
        // decided by the tie-breaks alone — newer first, then the smaller id.
        let post = |title: &str, date: &str| {
            format!("+++\ntitle = \"{title}\"\ndate = {date}\ntags = [\"stres\"]\n+++\nStres i sen.\n")
        };
        let (dir, config) = site_with(&[
            ("a.md", &post("A", "2026-01-01")),
            ("b.md", &post("B", "2026-01-02")),
            ("c.md", &post("C", "2026-01-02")),
            ("d.md", &post("D", "2026-01-03")),
        ]);
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let first = Site::load(dir.path(), &config, now).unwrap().site;
        let expected = [
            ("D", ["B", "C"]), // B and C share a date: B's id (…/b/) sorts first
            ("B", ["D", "C"]),
            ("C", ["D", "B"]),
            ("A", ["D", "B"]),
        ];
        let expected: Vec<(String, Vec<String>)> =
            expected.iter().map(|(t, r)| (t.to_string(), r.iter().map(|s| s.to_string()).collect())).collect();
        assert_eq!(related_titles(&first), expected);
        for _ in 0..5 {
            assert_eq!(related_titles(&Site::load(dir.path(), &config, now).unwrap().site), expected);
        }
    }

    #[test]
    fn related_posts_prefer_shared_words_and_tags_over_unrelated_posts() {
        let post = |title: &str, tags: &str, body: &str| {
            format!("+++\ntitle = \"{title}\"\ndate = 2026-01-01\ntags = [{tags}]\n+++\n{body}\n")
        };
        let (dir, config) = site_with(&[
            (
                "ketamina.md",
                &post(
                    "Ketamina w leczeniu depresji",
                    "\"leczenie\"",
                    "Ketamina działa szybko na depresję opornej postaci. Ketaminę podaje lekarz.",
                ),
            ),
            (
                "depresja.md",
                &post(
                    "Depresja oporna na leczenie",
                    "\"depresja\"",
                    "Depresja oporna na leki bywa leczona ketaminą i psychoterapią.",
                ),
            ),
            ("ogrod.md", &post("Ogród zimą", "\"ogród\"", "Róże przycina się wiosną, a tulipany sadzi jesienią.")),
            (
                "kwiaty.md",
                &post("Kwiaty na balkonie", "\"ogród\"", "Pelargonie i petunie na balkonie lubią słońce; róże też."),
            ),
        ]);
        let site = Site::load(dir.path(), &config, "2026-11-26T00:00:00Z".parse().unwrap()).unwrap().site;
        let related = related_titles(&site);
        let of = |title: &str| related.iter().find(|(t, _)| t == title).unwrap().1.clone();
        assert_eq!(of("Ketamina w leczeniu depresji")[0], "Depresja oporna na leczenie");
        assert_eq!(of("Ogród zimą")[0], "Kwiaty na balkonie");
    }

    #[test]
    fn editor_leftovers_are_not_posts() {
        assert!(is_post_file(Path::new("content/a.md")));
        assert!(is_post_file(Path::new("content/a.markdown")));
        for name in [".#a.md", "#a.md#", "a.md~", ".a.md.swp", "a.md.tmp", "a.txt"] {
            assert!(!is_post_file(Path::new(name)), "{name}");
        }
    }
}
