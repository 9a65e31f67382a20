//! RSS 2.0 (<https://www.rssboard.org/rss-specification>), written with the `rss` crate.
//!
//! RSS 2.0 lacks some of what feed readers rely on, so the usual extensions fill the gaps:
//! `atom:link rel="self"` on the channel (RSS Advisory Board best practice), `content:encoded`
//! for the full HTML (the content module), `dc:creator` for an author without an e-mail address
//! (RSS `author` must be an address), and `atom:updated` / `atom:link rel="related"` on items.
//! Dates are RFC 822 with a four-digit year, as RFC 1123 amends it.
//!
//! `description` and `content:encoded` carry HTML as *escaped text* (`&lt;p&gt;…`), the form RSS
//! 2.0's own examples use, never as CDATA: readers treat both as HTML, so plain text in CDATA was
//! read as markup (a `<img onerror>` shown as code became live), and a CDATA section must be split
//! at every `]]>`, which some parsers (gofeed) get wrong. The `rss` crate writes both elements as
//! CDATA, so they are written as extension elements, whose text the crate escapes.

use std::collections::BTreeMap;

use rss::extension::atom::AtomExtension;
use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::{Extension, ExtensionMap};
use rss::{Category, Channel as RssChannel, Guid, Item};

use super::held::Held;
use super::{Channel, GENERATOR, GENERATOR_VERSION, RSS_FILE, content};
use crate::config::{Config, FeedContent};
use crate::site::Post;

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
/// RSS 1.0's content module, for `content:encoded` (<https://web.resource.org/rss/1.0/modules/content/>).
const CONTENT_NS: &str = "http://purl.org/rss/1.0/modules/content/";

pub fn render(channel: &Channel<'_>, config: &Config) -> Vec<u8> {
    write(channel, config, Held::new())
        .unwrap_or_else(|| write(channel, config, Held::nothing()).expect("holding nothing, nothing is put back"))
}

/// The document, with the posts' HTML held out of the crate's hands (`held.rs`).
pub(super) fn write<'a>(channel: &Channel<'a>, config: &Config, mut held: Held<'a>) -> Option<Vec<u8>> {
    let updated = channel.updated().to_rfc2822();
    let description =
        if channel.description.trim().is_empty() { channel.title.clone() } else { channel.description.clone() };
    let rss = RssChannel {
        title: channel.title.clone(),
        link: channel.home_url(),
        description,
        language: Some(config.language.clone()),
        last_build_date: Some(updated.clone()),
        pub_date: Some(updated),
        generator: Some(format!("{GENERATOR} {GENERATOR_VERSION}")),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        atom_ext: Some(AtomExtension {
            links: vec![atom_link("self", &channel.url_of(RSS_FILE), Some("application/rss+xml"), None)],
        }),
        namespaces: BTreeMap::from([
            ("atom".to_owned(), ATOM_NS.to_owned()),
            ("content".to_owned(), CONTENT_NS.to_owned()),
        ]),
        items: channel.posts.iter().map(|post| item(channel, post, config, &mut held)).collect(),
        ..Default::default()
    };
    held.put_back(rss.pretty_write_to(Vec::new(), b' ', 2).expect("writing to a Vec cannot fail"))
}

fn item<'a>(channel: &Channel<'a>, post: &'a Post, config: &Config, held: &mut Held<'a>) -> Item {
    let (author, creators) = match (post.authors.is_empty(), &config.author) {
        (true, Some(site_author)) => match &site_author.email {
            Some(email) => (Some(format!("{email} ({})", site_author.name)), Vec::new()),
            None => (None, vec![site_author.name.clone()]),
        },
        _ => (None, post.authors.clone()),
    };
    let related: Vec<atom_syndication::Link> = channel
        .related(post)
        .map(|other| atom_link("related", &other.url, Some("text/html"), Some(&other.title)))
        .collect();
    let text = |name: &str, value: String| {
        (name.to_owned(), vec![Extension { name: name.to_owned(), value: Some(value), ..Default::default() }])
    };
    let mut extensions = ExtensionMap::new();
    extensions.insert("atom".to_owned(), BTreeMap::from([text("atom:updated", post.last_modified().to_rfc3339())]));
    // Escaped HTML, not CDATA (see the top of this file).
    extensions.insert(String::new(), BTreeMap::from([text("description", held.hold(&*post.summary_html))]));
    let full = config.feeds.content == FeedContent::Full;
    if let Some(html) = content::full_html(channel, post, &config.language, full) {
        extensions.insert("content".to_owned(), BTreeMap::from([text("content:encoded", held.hold(html))]));
    }
    Item {
        title: Some(post.title.clone()),
        link: Some(post.url.clone()),
        description: None,
        content: None,
        author,
        dublin_core_ext: (!creators.is_empty()).then(|| DublinCoreExtension { creators, ..Default::default() }),
        categories: Channel::categories(post)
            .into_iter()
            .map(|name| Category { name: name.to_owned(), domain: None })
            .collect(),
        guid: Some(Guid { value: post.id.clone(), permalink: post.id == post.url }),
        pub_date: Some(post.date.to_rfc2822()),
        atom_ext: (!related.is_empty()).then_some(AtomExtension { links: related }),
        extensions,
        ..Default::default()
    }
}

fn atom_link(rel: &str, href: &str, mime: Option<&str>, title: Option<&str>) -> atom_syndication::Link {
    atom_syndication::Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        title: title.map(str::to_owned),
        ..Default::default()
    }
}
