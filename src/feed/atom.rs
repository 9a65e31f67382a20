//! Atom 1.0 (RFC 4287), written with the `atom_syndication` crate.
//!
//! Entries carry `summary` (balanced HTML excerpt) and, with full content, `content type="html"`;
//! related posts are `link rel="related"` elements (RFC 4287 §4.2.7.2). An entry id must be an
//! IRI (§4.2.6): an id that is not one (front matter `id = "post-42"`) is turned into a `tag:`
//! URI (RFC 4151) under the site's host and the post's publication date, which is as stable as
//! the id itself.

use atom_syndication::{Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig};

use super::held::Held;
use super::{ATOM_FILE, Channel, GENERATOR, GENERATOR_VERSION, content};
use crate::config::{Config, FeedContent};
use crate::site::Post;

pub fn render(channel: &Channel<'_>, config: &Config) -> Vec<u8> {
    write(channel, config, Held::new())
        .unwrap_or_else(|| write(channel, config, Held::nothing()).expect("holding nothing, nothing is put back"))
}

/// The document, with the posts' HTML held out of the crate's hands (`held.rs`).
pub(super) fn write<'a>(channel: &Channel<'a>, config: &Config, mut held: Held<'a>) -> Option<Vec<u8>> {
    let feed = Feed {
        title: Text::plain(channel.title.clone()),
        subtitle: (!channel.description.trim().is_empty()).then(|| Text::plain(channel.description.clone())),
        id: channel.url_of(ATOM_FILE),
        updated: channel.updated(),
        authors: config.author.iter().map(|a| person(&a.name, a.email.as_deref())).collect(),
        generator: Some(Generator {
            value: GENERATOR.to_owned(),
            uri: None,
            version: Some(GENERATOR_VERSION.to_owned()),
        }),
        links: vec![
            link("alternate", &channel.home_url(), "text/html", None),
            link("self", &channel.url_of(ATOM_FILE), "application/atom+xml", None),
        ],
        lang: Some(config.language.clone()),
        entries: channel.posts.iter().map(|post| entry(channel, post, config, &mut held)).collect(),
        ..Default::default()
    };
    let write = WriteConfig { write_document_declaration: true, indent_size: Some(2) };
    held.put_back(feed.write_with_config(Vec::new(), write).expect("writing to a Vec cannot fail"))
}

fn entry<'a>(channel: &Channel<'a>, post: &'a Post, config: &Config, held: &mut Held<'a>) -> Entry {
    let mut links = vec![link("alternate", &post.url, "text/html", None)];
    links.extend(channel.related(post).map(|other| link("related", &other.url, "text/html", Some(&other.title))));
    // Every entry names its author, though RFC 4287 §4.1.1 lets it inherit the feed's: most
    // readers show none otherwise. The post's authors, else the site's, else the site's title.
    let authors: Vec<Person> = if !post.authors.is_empty() {
        post.authors.iter().map(|name| person(name, None)).collect()
    } else if let Some(author) = &config.author {
        vec![person(&author.name, author.email.as_deref())]
    } else {
        vec![person(&config.title, None)]
    };
    Entry {
        title: Text::plain(post.title.clone()),
        id: entry_id(post, config),
        updated: post.last_modified(),
        published: Some(post.date),
        authors,
        categories: Channel::categories(post)
            .into_iter()
            .map(|name| Category { term: name.to_owned(), scheme: None, label: None })
            .collect(),
        links,
        summary: Some(Text::html(held.hold(&*post.summary_html))),
        content: content::full_html(channel, post, &config.language, config.feeds.content == FeedContent::Full).map(
            |html| Content {
                value: Some(held.hold(html)),
                content_type: Some("html".to_owned()),
                ..Default::default()
            },
        ),
        ..Default::default()
    }
}

/// The entry id: the post id when it is an absolute IRI, else a `tag:` URI made from it.
fn entry_id(post: &Post, config: &Config) -> String {
    if url::Url::parse(&post.id).is_ok() {
        return post.id.clone();
    }
    let host = config.base_url.host_str().unwrap_or("localhost");
    let specific: String = url::form_urlencoded::byte_serialize(post.id.as_bytes()).collect();
    format!("tag:{host},{}:{specific}", post.date.format("%Y-%m-%d"))
}

fn person(name: &str, email: Option<&str>) -> Person {
    Person { name: name.to_owned(), email: email.map(str::to_owned), ..Default::default() }
}

fn link(rel: &str, href: &str, mime: &str, title: Option<&str>) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: Some(mime.to_owned()),
        title: title.map(str::to_owned),
        ..Default::default()
    }
}
