//! Which files under `content/` are posts: the walk of the folder tree.
//!
//! Symbolic links are followed only while they stay inside the site folder: a link to a file
//! or folder elsewhere (`/etc/passwd`, a home directory) would publish what the operator never
//! put in the site. A dangling link (Emacs keeps its lock files `.#post.md` as dangling links)
//! and a link loop are skipped with a warning instead of failing the scan; editors' lock and
//! swap files are not posts at all (see [`is_post_file`]). Any other error of the walk (an
//! unreadable folder, too many open files) fails the whole scan, because a partial list would
//! make the posts it missed vanish from the feeds.

use std::fmt;
use std::path::{Path, PathBuf};

use super::CONTENT_DIR;

/// The post files of a site and what the walk left out.
#[derive(Debug, Default)]
pub struct Scan {
    /// Post files relative to the site root, sorted.
    pub files: Vec<PathBuf>,
    pub warnings: Vec<Warning>,
}

/// Something left out that does not stop a build — a path the walk did not follow, tags beyond
/// the limit — with why: `path: reason` or `path:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

/// Walks `root/content` (`root` canonical or not).
pub fn scan(root: &Path) -> std::io::Result<Scan> {
    let dir = root.join(CONTENT_DIR);
    let canonical_root = root.canonicalize()?;
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_owned();
    let mut scan = Scan::default();
    let mut walk = walkdir::WalkDir::new(&dir).follow_links(true).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().map(relative).unwrap_or_else(|| PathBuf::from(CONTENT_DIR));
                if e.loop_ancestor().is_some() {
                    scan.warnings.push(Warning { path, line: None, reason: "symbolic link loop: skipped".into() });
                    continue;
                }
                let dangling = e.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                    && e.path().is_some_and(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()));
                if dangling {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    // Editors' lock files are expected; only a real dangling link is news.
                    if !is_editor_file(name) {
                        scan.warnings.push(Warning {
                            path,
                            line: None,
                            reason: "dangling symbolic link: skipped".into(),
                        });
                    }
                    continue;
                }
                return Err(std::io::Error::other(format!("{}: {}", path.display(), e)));
            }
        };
        if entry.path_is_symlink() {
            let inside = entry.path().canonicalize().is_ok_and(|target| target.starts_with(&canonical_root));
            if !inside {
                if entry.file_type().is_dir() {
                    walk.skip_current_dir();
                }
                scan.warnings.push(Warning {
                    path: relative(entry.path()),
                    line: None,
                    reason: "symbolic link to a place outside the site folder: skipped".into(),
                });
                continue;
            }
        }
        if entry.file_type().is_file() && is_post_file(entry.path()) {
            scan.files.push(relative(entry.path()));
        }
    }
    Ok(scan)
}

/// Whether a path names a post file: Markdown, and not an editor's leftover (`.#post.md`,
/// `#post.md#`, `post.md~`, swap files), a hidden file, or a section file (`_index.md`, which
/// Hugo and Zola use for a section's own page: never a post, so never a broken one).
pub fn is_post_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let markdown = name.ends_with(".md") || name.ends_with(".markdown");
    markdown && !is_editor_file(name) && !name.starts_with("_index.")
}

/// Whether a post file (relative to the site root) lies in the configured `[content] sections`.
pub fn in_sections(file: &Path, sections: &crate::config::ContentConfig) -> bool {
    sections.includes(file.strip_prefix(CONTENT_DIR).unwrap_or(file))
}

fn is_editor_file(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn section_files_are_not_posts_whatever_their_language_suffix() {
        assert!(!is_post_file(Path::new("content/posts/_index.md")));
        assert!(!is_post_file(Path::new("content/_index.markdown")));
        assert!(is_post_file(Path::new("content/posts/index.md")), "a page bundle is a post");
    }

    #[test]
    fn editor_leftovers_are_not_posts() {
        assert!(is_post_file(Path::new("content/a.md")));
        assert!(is_post_file(Path::new("content/a.markdown")));
        for name in [".#a.md", "#a.md#", "a.md~", ".a.md.swp", "a.md.tmp", "a.txt", "_index.md", "_index.pl.md"] {
            assert!(!is_post_file(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn dangling_links_loops_and_links_outside_the_site_are_skipped_and_the_rest_is_found() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "not for the feeds").unwrap();
        let site = tempfile::tempdir().unwrap();
        let content = site.path().join("content");
        std::fs::create_dir_all(content.join("a")).unwrap();
        std::fs::write(content.join("a/post.md"), "x").unwrap();
        std::fs::create_dir_all(site.path().join("drafts")).unwrap();
        std::fs::write(site.path().join("drafts/shared.md"), "x").unwrap();
        // An Emacs lock file, a dangling link, a loop, links out of the site, a link inside it.
        symlink("root@host.1234:1700000000", content.join(".#post.md")).unwrap();
        symlink("nowhere.md", content.join("gone.md")).unwrap();
        symlink("..", content.join("a/loop")).unwrap();
        symlink(outside.path().join("secret.md"), content.join("leak.md")).unwrap();
        symlink(outside.path(), content.join("elsewhere")).unwrap();
        symlink(site.path().join("drafts/shared.md"), content.join("shared.md")).unwrap();

        let scan = scan(site.path()).unwrap();
        assert_eq!(scan.files, [PathBuf::from("content/a/post.md"), PathBuf::from("content/shared.md")]);
        let warnings: Vec<String> = scan.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "content/a/loop: symbolic link loop: skipped",
                "content/elsewhere: symbolic link to a place outside the site folder: skipped",
                "content/gone.md: dangling symbolic link: skipped",
                "content/leak.md: symbolic link to a place outside the site folder: skipped",
            ]
        );
    }
}
