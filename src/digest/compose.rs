//! Which posts go into the next digest issue. PURE: a function of the site, what earlier issues
//! contained, the settings and `now`.
//!
//! An issue contains the visible posts no earlier issue contained (by item id — an edited post
//! keeps its id and is not sent again; a backdated post has a new id and is sent once), newest
//! first, at most `max_posts`. The very first issue looks back at most `first_window_days`; the
//! posts older than that become the *baseline*, never sent, so that the second issue does not
//! mail the archive.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use crate::config::DigestConfig;
use crate::site::{Post, Site};

#[derive(Debug)]
pub struct Selection<'a> {
    /// The posts of the next issue, newest first; empty when nothing is new.
    pub posts: Vec<&'a Post>,
    /// On the first issue: ids of the visible posts too old for it.
    pub baseline: Vec<String>,
}

/// Selects the posts of the next issue. `excluded` holds the ids of every post already sent
/// (and of the baseline); `started` says whether a first issue was ever composed.
pub fn select<'a>(
    site: &'a Site,
    excluded: &HashSet<String>,
    started: bool,
    settings: &DigestConfig,
    now: DateTime<Utc>,
) -> Selection<'a> {
    let window_start = now - Duration::days(i64::from(settings.first_window_days));
    let mut posts = Vec::new();
    let mut baseline = Vec::new();
    for post in site.posts.iter().filter(|p| !excluded.contains(&p.id)) {
        if !started && post.date.with_timezone(&Utc) < window_start {
            baseline.push(post.id.clone());
        } else if posts.len() < settings.max_posts {
            posts.push(post);
        }
    }
    Selection { posts, baseline }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::config::Config;

    fn site(dates: &[(&str, &str)]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        for (slug, date) in dates {
            let path = dir.path().join("content").join(format!("{slug}.md"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("+++\ntitle = \"{slug}\"\ndate = {date}\n+++\nx\n")).unwrap();
        }
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        Site::load(dir.path(), &config, now()).unwrap().site
    }

    fn now() -> DateTime<Utc> {
        "2026-11-26T08:00:00Z".parse().unwrap()
    }

    fn settings(max_posts: usize) -> DigestConfig {
        DigestConfig { max_posts, first_window_days: 7, ..DigestConfig::default() }
    }

    fn titles(selection: &Selection<'_>) -> Vec<String> {
        selection.posts.iter().map(|p| p.title.clone()).collect()
    }

    #[test]
    fn the_first_issue_looks_back_first_window_days_and_records_the_rest_as_baseline() {
        let site = site(&[("old", "2026-10-01"), ("week", "2026-11-20"), ("new", "2026-11-25")]);
        let selection = select(&site, &HashSet::new(), false, &settings(10), now());
        assert_eq!(titles(&selection), ["new", "week"]);
        assert_eq!(selection.baseline, ["https://example.org/2026/10/old/"]);
    }

    #[test]
    fn later_issues_take_every_unsent_post_newest_first_up_to_max_posts() {
        let site = site(&[("a", "2026-11-01"), ("b", "2026-11-02"), ("c", "2026-11-03"), ("backdated", "2020-01-01")]);
        let sent: HashSet<String> = ["https://example.org/2026/11/b/".to_owned()].into();
        let selection = select(&site, &sent, true, &settings(2), now());
        assert_eq!(titles(&selection), ["c", "a"]);
        assert!(selection.baseline.is_empty());
        let selection = select(&site, &sent, true, &settings(10), now());
        assert_eq!(titles(&selection), ["c", "a", "backdated"]);
    }

    #[test]
    fn nothing_new_selects_nothing() {
        let site = site(&[("a", "2026-11-25")]);
        let sent: HashSet<String> = ["https://example.org/2026/11/a/".to_owned()].into();
        assert!(select(&site, &sent, true, &settings(10), now()).posts.is_empty());
    }
}
