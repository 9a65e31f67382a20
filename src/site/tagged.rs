//! Which posts each tag has: the index the tag feeds are made from, kept with the site.
//!
//! A tag feed lists the newest `feeds.limit` posts with its slug. Finding them by walking every
//! post's tags costs a walk of the whole site (about 80 ms at 100,000 posts, most of it waiting
//! for memory), which an edit's fast stage should not pay for the one or two tags it touches. The
//! index is made once with the site (`Site::from_posts`) and changed with the post an edit
//! replaces (`Site::replace`).

use std::collections::{BTreeMap, BTreeSet};

use super::Post;

/// One tag slug: the name its feed is titled with — the smallest of the spellings that share the
/// slug — and its posts, as indices into `Site::posts`, in that order.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub name: String,
    pub posts: Vec<usize>,
}

/// Every tag slug of a site's posts, in slug order.
#[derive(Debug, Clone, Default)]
pub struct TagIndex(BTreeMap<String, Tagged>);

impl TagIndex {
    pub fn new(posts: &[Post]) -> TagIndex {
        let mut index = TagIndex::default();
        for (at, post) in posts.iter().enumerate() {
            index.add(at, post);
        }
        index
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tagged)> {
        self.0.iter().map(|(slug, tagged)| (slug.as_str(), tagged))
    }

    /// `posts[at]` has taken the place of `old`: the slugs either of them has are made again.
    pub fn replace(&mut self, posts: &[Post], at: usize, old: &Post) {
        let new = &posts[at];
        if new.tags == old.tags && new.tag_slugs == old.tag_slugs {
            return;
        }
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        for slug in old.tag_slugs.iter().filter(|slug| !slug.is_empty()) {
            if let Some(tagged) = self.0.get_mut(slug)
                && let Ok(place) = tagged.posts.binary_search(&at)
            {
                tagged.posts.remove(place);
            }
            touched.insert(slug);
        }
        self.add(at, new);
        touched.extend(new.tag_slugs.iter().map(String::as_str).filter(|slug| !slug.is_empty()));
        for slug in touched {
            let Some(tagged) = self.0.get_mut(slug) else { continue };
            let spellings = tagged.posts.iter().flat_map(|&i| {
                let post = &posts[i];
                post.tags.iter().zip(&post.tag_slugs).filter(|(_, s)| *s == slug).map(|(tag, _)| tag)
            });
            match spellings.min() {
                Some(name) => tagged.name = name.clone(),
                None => {
                    self.0.remove(slug);
                }
            }
        }
    }

    /// Adds `post`, at `at`, to its tags: at the end of their lists while the index is made in
    /// the posts' order, else in its place.
    fn add(&mut self, at: usize, post: &Post) {
        for (tag, slug) in post.tags.iter().zip(&post.tag_slugs) {
            if slug.is_empty() {
                continue;
            }
            if !self.0.contains_key(slug.as_str()) {
                self.0.insert(slug.clone(), Tagged { name: tag.clone(), posts: Vec::new() });
            }
            let tagged = self.0.get_mut(slug.as_str()).expect("inserted above");
            if tag < &tagged.name {
                tagged.name = tag.clone();
            }
            if let Err(place) = tagged.posts.binary_search(&at) {
                tagged.posts.insert(place, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::site::post;

    fn post(name: &str, tags: &[&str]) -> Post {
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        let tags: Vec<String> = tags.iter().map(|t| format!("{t:?}")).collect();
        let text = format!("+++\ntitle = \"{name}\"\ndate = 2026-01-01\ntags = [{}]\n+++\nx\n", tags.join(", "));
        post::parse(&Path::new("content").join(format!("{name}.md")), text.as_bytes(), Path::new("content"), &config)
            .unwrap()
    }

    fn listed(index: &TagIndex) -> Vec<(String, String, Vec<usize>)> {
        index.iter().map(|(slug, t)| (slug.to_owned(), t.name.clone(), t.posts.clone())).collect()
    }

    #[test]
    fn the_index_lists_each_slugs_posts_in_order_once_under_its_smallest_spelling() {
        let posts = [post("a", &["sen", "Stres"]), post("b", &["stres"]), post("c", &["Sen", "sen"]), post("d", &[])];
        assert_eq!(
            listed(&TagIndex::new(&posts)),
            [("sen".into(), "Sen".into(), vec![0, 2]), ("stres".into(), "Stres".into(), vec![0, 1])]
        );
    }

    #[test]
    fn after_any_replacement_the_index_is_the_one_made_from_nothing() {
        let spellings = ["sen", "Sen", "stres", "zdrowie psychiczne", "Zdrowie psychiczne", "ciało"];
        let mut posts: Vec<Post> = (0..8).map(|i| post(&format!("p{i}"), &[spellings[i % 6]])).collect();
        let mut index = TagIndex::new(&posts);
        // A fixed walk through tag sets of every kind: added, dropped, respelled, emptied, same.
        let mut state = 7_usize;
        for step in 0..200 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (state >> 33) % posts.len();
            let count = (state >> 40) % 4;
            let tags: Vec<&str> = (0..count).map(|k| spellings[(state >> (44 + 3 * k)) % 6]).collect();
            let new = post(&format!("p{at}"), &tags);
            let old = std::mem::replace(&mut posts[at], new);
            index.replace(&posts, at, &old);
            assert_eq!(listed(&index), listed(&TagIndex::new(&posts)), "step {step}: p{at} tagged {tags:?}");
        }
    }
}
