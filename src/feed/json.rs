//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>), serialized with serde.
//!
//! Related posts are an extension object, `_kurier.related` (extension keys start with `_`,
//! §"Extensions" of the specification), listing each related post's id, URL and title.

use serde::Serialize;

use super::{Channel, JSON_FILE, content};
use crate::config::{Config, FeedContent};
use crate::site::Post;

#[derive(Serialize)]
struct Feed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    language: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize, Clone, Copy)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<String>,
    summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    /// JSON Feed 1.0's single author, for readers that know only that version.
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<Author<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    _kurier: Extension<'a>,
}

#[derive(Serialize)]
struct Extension<'a> {
    related: Vec<Related<'a>>,
}

#[derive(Serialize)]
struct Related<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
}

pub fn render(channel: &Channel<'_>, config: &Config) -> Vec<u8> {
    let feed = Feed {
        version: "https://jsonfeed.org/version/1.1",
        title: &channel.title,
        home_page_url: channel.home_url(),
        feed_url: channel.url_of(JSON_FILE),
        description: &channel.description,
        language: &config.language,
        authors: config.author.iter().map(|a| Author { name: &a.name }).collect(),
        items: channel.posts.iter().map(|post| item(channel, post, config)).collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&feed).expect("serializing plain data cannot fail");
    bytes.push(b'\n');
    bytes
}

fn item<'a>(channel: &Channel<'a>, post: &'a Post, config: &'a Config) -> Item<'a> {
    let authors: Vec<Author<'a>> = if post.authors.is_empty() {
        config.author.iter().map(|a| Author { name: &a.name }).collect()
    } else {
        post.authors.iter().map(|name| Author { name }).collect()
    };
    let full = content::full_html(channel, post, &config.language, config.feeds.content == FeedContent::Full);
    Item {
        id: &post.id,
        url: &post.url,
        title: &post.title,
        // JSON Feed 1.1 requires `content_html` or `content_text`: with summaries only, the
        // excerpt is the content.
        content_html: Some(full.unwrap_or_else(|| post.summary_html.to_string())),
        summary: &post.summary_text,
        image: post.image.as_deref(),
        date_published: post.date.to_rfc3339(),
        date_modified: post.last_modified().to_rfc3339(),
        author: authors.first().copied(),
        authors,
        tags: Channel::categories(post),
        _kurier: Extension {
            related: channel
                .related(post)
                .map(|other| Related { id: &other.id, url: &other.url, title: &other.title })
                .collect(),
        },
    }
}
