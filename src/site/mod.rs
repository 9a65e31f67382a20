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
//! 3. **link related** posts (`related/`), which needs the final set of visible posts.
//!
//! Feeds (`crate::feed`) and digests are made from the result.

mod cache;
mod date;
mod excerpt;
mod front_matter;
mod frozen;
mod html;
mod locale;
mod markdown;
mod post;
mod related;
mod scan;
mod shortcodes;
mod slots;
mod slug;
mod source;
mod tagged;
mod tags;

pub use cache::{PostCache, restore_content};
pub use date::local as local_datetime;
pub use frozen::{FrozenPost, RelatedPost, freeze};
pub use html::escape_html;
pub use locale::{Locale, Plural, Strings};
pub use post::{Post, PostError, ReadPost, revision};
pub use related::{Linked, Terms, link as link_related};
pub use scan::{Scan, Warning, in_sections, is_post_file, scan};
pub use slug::slugify;
pub use tagged::{TagIndex, Tagged};

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use crate::config::Config;

/// The folder of posts below the site root.
pub const CONTENT_DIR: &str = "content";

/// The visible posts of a site.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Visible posts, newest first, ties broken by id.
    pub posts: Vec<Post>,
    /// When the set of visible posts changes next by the clock alone — the earliest post dated
    /// (or with a `publishDate`) in the future appears, or a visible post's `expiryDate`
    /// passes — so a daemon can rebuild then.
    pub next_publication: Option<DateTime<Utc>>,
    /// What linking related posts made, kept for the next link after an edit (the daemon's);
    /// `None` when not asked for.
    pub linked: Option<Arc<Linked>>,
    /// Each tag's posts, which the tag feeds list: made with the site; a post an edit replaces
    /// goes through [`Site::replace`], which keeps it.
    pub tags: TagIndex,
}

/// A loaded site and the posts that could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub site: Site,
    pub errors: Vec<PostError>,
    /// Paths the scan did not follow (links out of the site, dangling links, loops): warnings.
    pub warnings: Vec<Warning>,
}

impl Site {
    /// Puts `post` in the place of `posts[at]` — an edit that keeps the post's date and id, and
    /// so its place — keeping the tag index.
    pub fn replace(&mut self, at: usize, post: Post) {
        let old = std::mem::replace(&mut self.posts[at], post);
        self.tags.replace(&self.posts, at, &old);
    }

    /// Reads every post under `root/content`, as of `now`.
    pub fn load(root: &Path, config: &Config, now: DateTime<Utc>) -> std::io::Result<Loaded> {
        Ok(PostCache::load(root, config)?.into_site(config, now))
    }

    /// Phases 2 and 3 on posts already read. Of two posts that claim the same permalink or id,
    /// the one published first keeps it — the earlier date, then the one `published` says is
    /// already in the feeds, then the first by path — so a new file can never take a live
    /// post's place; the other is reported.
    /// `linked`, what the link of the site built last made, is updated rather than made again
    /// (only what an edit can change is redone); `keep`: the result keeps it for the next time.
    pub fn from_posts(
        posts: Vec<Post>,
        mut errors: Vec<PostError>,
        config: &Config,
        now: DateTime<Utc>,
        published: impl Fn(&Post) -> bool,
        linked: Option<Arc<Linked>>,
        keep: bool,
    ) -> Loaded {
        // By index, not by moving the posts: every post is looked at, only the visible are kept.
        let published: Vec<bool> = posts.iter().map(&published).collect();
        let mut order: Vec<usize> = (0..posts.len()).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (&posts[a], &posts[b]);
            pa.date.cmp(&pb.date).then((!published[a]).cmp(&!published[b])).then_with(|| pa.source.cmp(&pb.source))
        });
        let mut urls: FxHashMap<&str, usize> = FxHashMap::default();
        let mut ids: FxHashMap<&str, usize> = FxHashMap::default();
        let mut kept = Vec::with_capacity(posts.len());
        let mut next_publication: Option<DateTime<Utc>> = None;
        let mut warnings = Vec::new();
        for &index in &order {
            let post = &posts[index];
            warnings.extend(post.warnings.iter().cloned());
            if post.draft {
                continue;
            }
            if let Some(&first) = urls.get(post.url.as_str()) {
                errors.push(duplicate(post, "permalink", &post.url, &posts[first].source));
                continue;
            }
            if let Some(&first) = ids.get(post.id.as_str()) {
                errors.push(duplicate(post, "id", &post.id, &posts[first].source));
                continue;
            }
            urls.insert(&post.url, index);
            ids.insert(&post.id, index);
            if !post.in_feeds {
                continue;
            }
            let mut next = |at: DateTime<Utc>| next_publication = Some(next_publication.map_or(at, |n| n.min(at)));
            let expiry = post.expiry_date.map(|e| e.with_timezone(&Utc));
            if expiry.is_some_and(|e| e <= now) {
                continue;
            }
            let from = post.visible_from().with_timezone(&Utc);
            if from > now {
                next(from);
                continue;
            }
            if let Some(expiry) = expiry {
                next(expiry);
            }
            kept.push(index);
        }
        let mut posts: Vec<Option<Post>> = posts.into_iter().map(Some).collect();
        let mut visible: Vec<Post> = kept.iter().map(|&i| posts[i].take().expect("each post is kept once")).collect();
        visible.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.id.cmp(&b.id)));
        warnings.extend(tags::separate(&mut visible));
        let count = config.feeds.related;
        let linked = match linked {
            Some(linked) => Arc::unwrap_or_clone(linked).update(&visible, count),
            None => Linked::new(&visible, count),
        };
        linked.apply(&mut visible);
        errors.sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
        // Posts were read in date order; report by file, as errors are.
        warnings.sort_by(|a: &Warning, b: &Warning| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
        let tags = TagIndex::new(&visible);
        let site = Site { posts: visible, next_publication, linked: keep.then(|| Arc::new(linked)), tags };
        Loaded { site, errors, warnings }
    }
}

fn duplicate(post: &Post, what: &str, value: &str, first: &Path) -> PostError {
    PostError {
        path: post.source.clone(),
        line: 1,
        reason: format!("{what} `{value}` is already used by {}, published first; left out", first.display()),
    }
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
    fn random_tags_do_not_pull_related_posts_off_topic() {
        // Issue 9: with half the tags random, a shared tag used to outweigh a shared text. Here
        // every tag is shared by one post of each topic, so tags point off-topic only; the text
        // must still decide.
        let topics = [
            ["melatonina", "bezsenność", "drzemka", "chrapanie", "poduszka", "materac", "budzik", "koszmar"],
            ["róże", "tulipany", "kompost", "nawóz", "grządka", "konewka", "sekator", "szklarnia"],
            ["rower", "łańcuch", "przerzutka", "opona", "hamulec", "siodełko", "kierownica", "pedał"],
        ];
        let mut files = Vec::new();
        for (t, words) in topics.iter().enumerate() {
            for j in 0..4 {
                let text: Vec<&str> = (0..5).map(|w| words[(j * 2 + w) % words.len()]).collect();
                let body = format!("{}. Potem {} i {}.", text.join(", "), text[0], text[4]);
                files.push((
                    format!("{t}-{j}.md"),
                    format!(
                        "+++\ntitle = \"Wpis {t}{j}\"\ndate = 2026-01-0{}\ntags = [\"x{j}\"]\n+++\n{body}\n",
                        j + 1
                    ),
                ));
            }
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let (dir, config) = site_with(&files);
        let site = Site::load(dir.path(), &config, "2026-11-26T00:00:00Z".parse().unwrap()).unwrap().site;
        for post in &site.posts {
            let topic = &post.title[5..6];
            let related: Vec<&str> = post.related.iter().map(|&i| site.posts[i].title.as_str()).collect();
            assert_eq!(related.len(), 2, "{}", post.title);
            for title in related {
                assert_eq!(&title[5..6], topic, "{} → {title}", post.title);
            }
        }
    }

    #[test]
    fn a_newcomer_with_a_live_posts_permalink_or_id_is_left_out_and_named() {
        // Regression: `0000-x.md` sorted first by path and took the permalink of a live post.
        let (dir, config) = site_with(&[
            ("stary.md", "+++\ntitle = \"Stary\"\ndate = 2026-01-01\nslug = \"wpis\"\n+++\nx\n"),
            ("0000-nowy.md", "+++\ntitle = \"Nowy\"\ndate = 2026-01-20\nslug = \"wpis\"\n+++\nx\n"),
            ("drugi.md", "+++\ntitle = \"Drugi\"\ndate = 2026-01-05\nid = \"x\"\n+++\nx\n"),
            ("0001-kopia.md", "+++\ntitle = \"Kopia\"\ndate = 2026-01-25\nid = \"x\"\n+++\nx\n"),
        ]);
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let loaded = Site::load(dir.path(), &config, now).unwrap();
        let titles: Vec<&str> = loaded.site.posts.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Drugi", "Stary"]);
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "content/0000-nowy.md:1: permalink `https://example.org/2026/01/wpis/` is already used by content/stary.md, published first; left out",
                "content/0001-kopia.md:1: id `x` is already used by content/drugi.md, published first; left out",
            ]
        );
    }

    #[test]
    fn on_a_date_tie_the_post_already_published_keeps_its_permalink() {
        let post = |title: &str| format!("+++\ntitle = \"{title}\"\ndate = 2026-01-01\nslug = \"wpis\"\n+++\nx\n");
        let (dir, config) = site_with(&[("b.md", &post("B")), ("a.md", &post("A"))]);
        let now = "2026-11-26T00:00:00Z".parse().unwrap();
        let cache = PostCache::load(dir.path(), &config).unwrap();
        let first = cache.site(&config, now, None).site;
        assert_eq!(first.posts[0].title, "A", "no site before: the first by path");
        std::fs::remove_file(dir.path().join("content/a.md")).unwrap();
        let mut only_b = PostCache::load(dir.path(), &config).unwrap().site(&config, now, None).site;
        std::fs::write(dir.path().join("content/a.md"), post("A")).unwrap();
        let again = PostCache::load(dir.path(), &config).unwrap().site(&config, now, Some(&mut only_b));
        assert_eq!(again.site.posts.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["B"]);
        assert_eq!(again.errors.len(), 1);
    }

    #[test]
    fn a_future_post_is_hidden_until_its_date_and_is_the_next_publication() {
        // The rule the daemon's scheduled rebuild relies on, at an injected clock: a second
        // before the post's date it is not there and its date is the next publication; at the
        // date it is there, and nothing is left to wait for.
        let (dir, config) = site_with(&[
            ("teraz.md", "+++\ntitle = \"Teraz\"\ndate = 2026-01-01\n+++\nx\n"),
            ("pozniej.md", "+++\ntitle = \"Później\"\ndate = \"2026-11-26T12:00:00+01:00\"\n+++\nx\n"),
        ]);
        let at: DateTime<Utc> = "2026-11-26T11:00:00Z".parse().unwrap();
        let titles = |site: &Site| site.posts.iter().map(|p| p.title.clone()).collect::<Vec<_>>();
        let before = Site::load(dir.path(), &config, at - chrono::Duration::seconds(1)).unwrap().site;
        assert_eq!(titles(&before), ["Teraz"]);
        assert_eq!(before.next_publication, Some(at));
        let then = Site::load(dir.path(), &config, at).unwrap().site;
        assert_eq!(titles(&then), ["Później", "Teraz"]);
        assert_eq!(then.next_publication, None);
    }
}
