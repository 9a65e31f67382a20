//! Feeds: the visible posts → RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes, for the whole site and,
//! with `feeds.tags`, for every tag.
//!
//! PURE: `render` is a function of the [`Site`] and the [`Config`]; it reads no clock (a feed's
//! `updated` is its newest item's, never "now"), so two builds of the same content give the same
//! bytes. Each format has one file (`rss.rs`, `atom.rs`, `json.rs`) built with the `rss` and
//! `atom_syndication` crates and serde — never string templates — and the HTML they share (the
//! related-posts block) lives in `content.rs`; the posts' HTML is escaped outside the XML crates
//! and put back into their documents (`held.rs`: their escaping was 15 % of a big build).
//! `output.rs` writes the result atomically.

mod atom;
mod content;
mod held;
mod json;
pub mod output;
mod rss;

use chrono::{DateTime, FixedOffset};

use crate::config::Config;
use crate::site::{Post, Site};

pub const RSS_FILE: &str = "rss.xml";
pub const ATOM_FILE: &str = "atom.xml";
pub const JSON_FILE: &str = "feed.json";
/// The folder of per-tag feeds in the output folder.
pub const TAGS_DIR: &str = "tags";

/// The generator named in every feed.
pub const GENERATOR: &str = "kurier";
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One feed's worth of posts, in any format.
#[derive(Debug)]
pub struct Channel<'a> {
    pub title: String,
    pub description: String,
    /// Folder below the output folder, `""` or `tags/<slug>/`.
    pub dir: String,
    /// The newest `feeds.limit` posts of the channel, newest first.
    pub posts: Vec<&'a Post>,
    site: &'a Site,
    config: &'a Config,
}

impl<'a> Channel<'a> {
    /// The absolute URL of one of this channel's files.
    pub fn url_of(&self, file: &str) -> String {
        self.config.url(&format!("{}{}", self.dir, file))
    }

    /// The site's home page.
    pub fn home_url(&self) -> String {
        self.config.base_url.to_string()
    }

    /// The newest date among the included items; the Unix epoch for an empty feed, so that an
    /// empty feed is as reproducible as a full one.
    pub fn updated(&self) -> DateTime<FixedOffset> {
        self.posts.iter().map(|p| p.last_modified()).max().unwrap_or_else(|| DateTime::UNIX_EPOCH.fixed_offset())
    }

    /// The posts related to `post`, best first.
    pub fn related(&self, post: &Post) -> impl Iterator<Item = &'a Post> + use<'a> {
        let posts = &self.site.posts;
        post.related.clone().into_iter().map(move |i| &posts[i])
    }

    /// Tags and categories of a post, tags first, without repeats: a category `Leczenie` beside
    /// a tag `leczenie` is one category (same slug), spelled as the tag.
    pub fn categories(post: &Post) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::with_capacity(post.tags.len() + post.categories.len());
        let mut slugs: Vec<&str> = Vec::with_capacity(all.capacity());
        let names = post.tags.iter().chain(&post.categories);
        for (name, slug) in names.zip(post.tag_slugs.iter().chain(&post.category_slugs)) {
            if !slugs.contains(&slug.as_str()) {
                slugs.push(slug);
                all.push(name);
            }
        }
        all
    }
}

/// A file to write below the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFile {
    /// Path below the output folder, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The main channel and, with `feeds.tags`, one channel per tag slug (tags whose names differ only
/// in case or diacritics share a feed, titled with the smallest of their names).
pub fn channels<'a>(site: &'a Site, config: &'a Config) -> Vec<Channel<'a>> {
    channels_matching(site, config, |_| true)
}

/// The main channel and the tag channels whose slug `tag_wanted` accepts.
pub fn channels_matching<'a>(
    site: &'a Site,
    config: &'a Config,
    tag_wanted: impl Fn(&str) -> bool,
) -> Vec<Channel<'a>> {
    let limit = config.feeds.limit;
    let mut channels = vec![Channel {
        title: config.title.clone(),
        description: config.description.clone(),
        dir: String::new(),
        posts: site.posts.iter().take(limit).collect(),
        site,
        config,
    }];
    if config.feeds.tags {
        for (slug, tagged) in site.tags.iter().filter(|(slug, _)| tag_wanted(slug)) {
            channels.push(Channel {
                title: format!("{} – {}", config.title, tagged.name),
                description: format!("{}: {}", config.title, tagged.name),
                dir: format!("{TAGS_DIR}/{slug}/"),
                posts: tagged.posts.iter().take(limit).map(|&at| &site.posts[at]).collect(),
                site,
                config,
            });
        }
    }
    channels
}

/// Every feed file of the site.
pub fn render(site: &Site, config: &Config) -> Vec<FeedFile> {
    channels(site, config).iter().flat_map(|channel| render_channel(channel, config)).collect()
}

/// The three files of one channel.
pub fn render_channel(channel: &Channel<'_>, config: &Config) -> [FeedFile; 3] {
    [
        FeedFile { path: format!("{}{RSS_FILE}", channel.dir), bytes: rss::render(channel, config) },
        FeedFile { path: format!("{}{ATOM_FILE}", channel.dir), bytes: atom::render(channel, config) },
        FeedFile { path: format!("{}{JSON_FILE}", channel.dir), bytes: json::render(channel, config) },
    ]
}

/// Renders every channel, in parallel, handing each file to `sink` as soon as it exists — so
/// that a site with hundreds of tag feeds never holds all their bytes at once. Returns the
/// paths of all files, in channel order; stops at the first error of `sink`.
pub fn render_each<E: Send>(
    site: &Site,
    config: &Config,
    sink: impl Fn(FeedFile) -> Result<(), E> + Sync + Send,
) -> Result<Vec<String>, E> {
    render_channels(&channels(site, config), config, |_| true, sink)
}

/// Renders the given channels that `wanted` accepts, in parallel (the daemon passes the channels
/// whose [`fingerprint`] changed); returns the paths of all of them.
pub fn render_channels<E: Send>(
    channels: &[Channel<'_>],
    config: &Config,
    wanted: impl Fn(&Channel<'_>) -> bool + Sync + Send,
    sink: impl Fn(FeedFile) -> Result<(), E> + Sync + Send,
) -> Result<Vec<String>, E> {
    use rayon::prelude::*;
    let paths = channels
        .par_iter()
        .map(|channel| {
            let paths: Vec<String> =
                [RSS_FILE, ATOM_FILE, JSON_FILE].iter().map(|file| format!("{}{file}", channel.dir)).collect();
            if wanted(channel) {
                // The three files are written at once: most of a write is waiting for fsync.
                let files = render_channel(channel, config);
                files.into_par_iter().map(&sink).collect::<Result<Vec<()>, E>>()?;
            }
            Ok(paths)
        })
        .collect::<Result<Vec<Vec<String>>, E>>()?;
    Ok(paths.into_iter().flatten().collect())
}

/// A hash of everything a channel's files are made of, given the configuration: its title and
/// items, each item's revision (a hash of its file) and those of its related posts. Equal
/// fingerprints under the same configuration mean equal bytes.
pub fn fingerprint(channel: &Channel<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    (&channel.title, &channel.description, &channel.dir).hash(&mut hasher);
    for post in &channel.posts {
        post.revision.hash(&mut hasher);
        for related in channel.related(post) {
            related.revision.hash(&mut hasher);
        }
        u64::MAX.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::held::Held;
    use super::*;

    #[test]
    fn documents_with_the_html_held_out_are_byte_for_byte_what_the_crates_write() {
        let dir = tempfile::tempdir().unwrap();
        let posts = [
            (
                "a.md",
                "Zażółć \\\"gęślą\\\" & <jaźń>",
                "Tekst ]]> i <script>alert('x')</script> & &amp; \"cudzysłów\" 🙂\n\n```\na < b && c > d\n```\n",
            ),
            (
                "b.md",
                "Tom's \u{E000}kurier#0\u{E001}",
                "Marker-like text \u{E000}kurier0123456789abcdef#1\u{E001} in the body.\n\n<p title='q\"'>raw HTML</p>\n",
            ),
            (
                "c.md",
                "Sen i stres",
                "Stres, sen, <em>zmęczenie</em> — ąęśćżźłóń.\n\n<!-- more -->\n\nDalej: 'a' \"b\" <c> &d;\n",
            ),
        ];
        for (name, title, body) in posts {
            let path = dir.path().join(crate::site::CONTENT_DIR).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = format!(
                "+++\ntitle = \"{title}\"\ndate = 2026-01-0{}\ntags = [\"stres\", \"sen\"]\n+++\n{body}",
                name.len()
            );
            std::fs::write(path, text).unwrap();
        }
        for content in ["full", "summary"] {
            let toml = format!(
                "title = \"T & <t>\"\nbase_url = \"https://example.org/\"\n[feeds]\nrelated = 2\ncontent = \"{content}\"\n"
            );
            let config = Config::parse(&toml, Path::new("kurier.toml")).unwrap();
            let now = "2026-11-26T00:00:00Z".parse().unwrap();
            let loaded = Site::load(dir.path(), &config, now).unwrap();
            assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
            assert_eq!(loaded.site.posts.len(), 3);
            let channels = channels(&loaded.site, &config);
            assert_eq!(channels.len(), 3, "the site and two tags");
            for channel in &channels {
                let held = rss::write(channel, &config, Held::new()).unwrap();
                assert_eq!(
                    String::from_utf8(held).unwrap(),
                    String::from_utf8(rss::write(channel, &config, Held::nothing()).unwrap()).unwrap()
                );
                let held = atom::write(channel, &config, Held::new()).unwrap();
                assert_eq!(
                    String::from_utf8(held).unwrap(),
                    String::from_utf8(atom::write(channel, &config, Held::nothing()).unwrap()).unwrap()
                );
            }
        }
    }
}
