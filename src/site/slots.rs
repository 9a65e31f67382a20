//! Which posts' full HTML a build can need, decided while the posts are read.
//!
//! Feeds carry the full HTML of their newest `feeds.limit` items only; on a 100,000-post site
//! that is a few thousand posts, while keeping every post's HTML until the feeds are rendered
//! was most of a build's memory (1.4 GiB of 1.5). So `kurier build` reads the posts with
//! [`FeedSlots`], which takes each post's HTML out of it as it is read and keeps it only while the
//! post is among the newest `limit` read so far of the site's feed or of one of its tags' feeds:
//! when newer posts push it out of all of them it can never come back (the lists only fill with
//! newer posts), and its HTML is freed — whatever order the files are read in. The lists count
//! every post that *looks* visible; one that turns out not to be (a duplicate permalink) may have
//! pushed another out wrongly, so the build reads the HTML of any feed item that lacks it again
//! (`publish.rs`, [`super::restore_content`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, Utc};

use super::Post;
use crate::config::{Config, FeedContent};

/// The newest posts read so far, per feed, and the HTML of those in any of the lists.
pub struct FeedSlots {
    limit: usize,
    tags: bool,
    full: bool,
    now: DateTime<Utc>,
    lists: Mutex<Lists>,
}

/// A feed's newest posts read so far (date and file), the oldest on top.
type Newest = BinaryHeap<Reverse<(DateTime<FixedOffset>, PathBuf)>>;

#[derive(Default)]
struct Lists {
    /// Feed (`""` for the site's, else the tag slug) → its newest posts.
    newest: HashMap<String, Newest>,
    /// A post's HTML and the number of lists it is in.
    kept: HashMap<PathBuf, (Arc<str>, usize)>,
}

impl FeedSlots {
    pub fn new(config: &Config, now: DateTime<Utc>) -> FeedSlots {
        FeedSlots {
            limit: config.feeds.limit,
            tags: config.feeds.tags,
            full: config.feeds.content == FeedContent::Full,
            now,
            lists: Mutex::default(),
        }
    }

    /// Takes `post`'s HTML out of it, keeping it while a feed can list the post; frees the HTML
    /// of the posts this one pushes out of the last list they were in.
    pub fn take(&self, post: &mut Post) {
        let read = post.read_mut();
        let html = std::mem::replace(&mut read.content_html, Arc::from(""));
        read.content_dropped = true;
        let visible = !post.draft
            && post.in_feeds
            && post.visible_from().with_timezone(&Utc) <= self.now
            && post.expiry_date.is_none_or(|e| e.with_timezone(&Utc) > self.now);
        if !self.full || !visible || self.limit == 0 {
            return;
        }
        let mut feeds: Vec<&str> = vec![""];
        for slug in post.tag_slugs.iter().filter(|slug| self.tags && !slug.is_empty()) {
            if !feeds.contains(&slug.as_str()) {
                feeds.push(slug);
            }
        }
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let Lists { newest, kept } = &mut *lists;
        kept.insert(post.source.clone(), (html, feeds.len()));
        for feed in feeds {
            let list = newest.entry(feed.to_owned()).or_default();
            list.push(Reverse((post.date, post.source.clone())));
            if list.len() > self.limit {
                let Reverse((_, out)) = list.pop().expect("the list is not empty");
                let holders = &mut kept.get_mut(&out).expect("a listed post is kept").1;
                *holders -= 1;
                if *holders == 0 {
                    kept.remove(&out);
                }
            }
        }
    }

    /// The HTML kept, by post file.
    pub fn into_kept(self) -> HashMap<PathBuf, Arc<str>> {
        let lists = self.lists.into_inner().unwrap_or_else(|p| p.into_inner());
        lists.kept.into_iter().map(|(file, (html, _))| (file, html)).collect()
    }
}
