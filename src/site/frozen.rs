//! A post as an issue keeps it: what a digest shows of each post, frozen when the issue is made
//! so that the issue reads the same later (resumed after a crash, shown in the archive) whatever
//! happens to the post. PURE; the store keeps it as JSON, the digest renders it.

use serde::{Deserialize, Serialize};

use super::{Post, Site};

/// A post as it went out in an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenPost {
    pub id: String,
    pub title: String,
    pub url: String,
    /// RFC 3339, in the site's time zone.
    pub date: String,
    pub summary_html: String,
    pub summary_text: String,
    pub tags: Vec<String>,
    /// The post's related posts when the issue was made; issues stored before this field
    /// existed have none.
    #[serde(default)]
    pub related: Vec<RelatedPost>,
}

/// A related post as a digest links it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedPost {
    pub title: String,
    pub url: String,
}

/// A post as it is kept with the issue it went out in, with its related posts (`post.related`
/// indexes `site.posts`).
pub fn freeze(post: &Post, site: &Site) -> FrozenPost {
    FrozenPost {
        id: post.id.clone(),
        title: post.title.clone(),
        url: post.url.clone(),
        date: post.date.to_rfc3339(),
        summary_html: post.summary_html.to_string(),
        summary_text: post.summary_text.clone(),
        tags: post.tags.clone(),
        related: post
            .related
            .iter()
            .filter_map(|&i| site.posts.get(i))
            .map(|r| RelatedPost { title: r.title.clone(), url: r.url.clone() })
            .collect(),
    }
}
