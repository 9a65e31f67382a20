//! The HTML content of a feed item: the post's full HTML followed by its related-posts block.
//!
//! The block is plain, styled-by-the-reader HTML (a heading and a list of links, like the
//! "Spodobają Ci się także" block of the blogs we serve), in the site's language, with the
//! titles escaped. The feeds also carry the related posts as data, for readers that use it: Atom
//! as `link rel="related"`, RSS 2.0 (which has no element of its own for it) as the Atom
//! extension's `atom:link rel="related"` (`rss.rs`), JSON Feed as `_kurier.related`.

use super::Channel;
use crate::site::{Locale, Post, escape_html as escape};

/// The heading of the related-posts block in the site's language.
fn related_heading(language: &str) -> &'static str {
    Locale::of(language).strings().also_like
}

/// The full HTML of an item, or `None` when feeds carry summaries only.
pub fn full_html(channel: &Channel<'_>, post: &Post, language: &str, full: bool) -> Option<String> {
    if !full {
        return None;
    }
    let mut html = post.content_html.to_string();
    let mut related = channel.related(post).peekable();
    if related.peek().is_some() {
        html.push_str("\n<section class=\"related\">\n<h2>");
        html.push_str(&escape(related_heading(language)));
        html.push_str("</h2>\n<ul>\n");
        for other in related {
            html.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", escape(&other.url), escape(&other.title)));
        }
        html.push_str("</ul>\n</section>\n");
    }
    Some(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_follows_the_language() {
        assert_eq!(related_heading("pl"), "Spodobają Ci się także");
        assert_eq!(related_heading("pl-PL"), "Spodobają Ci się także");
        assert_eq!(related_heading("en-GB"), "You may also like");
    }
}
