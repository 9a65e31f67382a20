//! Markdown → HTML with pulldown-cmark: CommonMark plus tables, footnotes and strikethrough.
//!
//! The parsed events are kept, not just the HTML, because the excerpt (`excerpt.rs`) is cut from
//! the same event stream — cutting events and closing what is open is the only way to never leave
//! a tag open — and because the related-post text (`related.rs`) is the text of those events.
//! The HTML made here is not yet safe: `html.rs` sanitizes it and makes its links absolute.

use pulldown_cmark::{Event, Options, Parser, TagEnd};

/// The marker that ends a hand-chosen excerpt (Zola, Hugo and Jekyll all use it).
pub const MORE_MARKER: &str = "<!-- more -->";

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH
}

/// Parses Markdown into events.
pub fn parse(markdown: &str) -> Vec<Event<'_>> {
    Parser::new_ext(markdown, options()).collect()
}

/// Renders events to (unsanitized) HTML.
pub fn to_html<'a>(events: impl IntoIterator<Item = Event<'a>>) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// The readable text of events, one space between blocks, whitespace collapsed.
pub fn plain_text<'a, 'e: 'a>(events: impl IntoIterator<Item = &'a Event<'e>>) -> String {
    let mut text = String::new();
    for event in events {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::End(end) if is_block_end(end) => text.push(' '),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_block_end(end: &TagEnd) -> bool {
    !matches!(end, TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link | TagEnd::Image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tables_footnotes_and_strikethrough() {
        let md = "| a | b |\n|---|---|\n| 1 | 2 |\n\nTekst[^1] ~~stary~~.\n\n[^1]: Przypis.\n";
        let html = to_html(parse(md));
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>stary</del>"), "{html}");
        assert!(html.contains("footnote-definition"), "{html}");
    }

    #[test]
    fn plain_text_separates_blocks_and_joins_inline_runs() {
        let md = "# Tytuł\n\nPierwszy *akapit*\nciąg dalszy.\n\n- jeden\n- dwa\n";
        assert_eq!(plain_text(&parse(md)), "Tytuł Pierwszy akapit ciąg dalszy. jeden dwa");
    }
}
