//! Markdown → HTML with pulldown-cmark: CommonMark plus tables, footnotes and strikethrough.
//!
//! The parsed events are kept, not just the HTML, because the excerpt (`excerpt.rs`) is cut from
//! the same event stream — cutting events and closing what is open is the only way to never leave
//! a tag open — and because the related-post text (`related/terms.rs`) is the text of those events.
//! The HTML made here is not yet safe: `html.rs` sanitizes it and makes its links absolute.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The marker that ends a hand-chosen excerpt (Zola, Hugo and Jekyll all use it).
pub const MORE_MARKER: &str = "<!-- more -->";

/// Whether raw HTML holds the more marker, spaced or not (Hugo writes `<!--more-->`).
pub fn has_more_marker(html: &str) -> bool {
    let mut rest = html;
    while let Some(open) = rest.find("<!--") {
        rest = &rest[open + 4..];
        let Some(close) = rest.find("-->") else { return false };
        if rest[..close].trim() == "more" {
            return true;
        }
        rest = &rest[close + 3..];
    }
    false
}

/// Whether raw HTML is nothing but the more marker.
fn is_only_more_marker(html: &str) -> bool {
    let html = html.trim();
    html.starts_with("<!--") && html.ends_with("-->") && html[4..html.len() - 3].trim() == "more"
}

pub(super) fn options() -> Options {
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

/// The readable text of events, one space between blocks, whitespace collapsed: what the HTML
/// of the same events shows once sanitized — the text of raw HTML too, but not an image's alt
/// text, nor what is inside `<script>` or `<style>` (the sanitizer removes those whole).
pub fn plain_text<'a, 'e: 'a>(events: impl IntoIterator<Item = &'a Event<'e>>) -> String {
    let mut text = String::new();
    // Whether a space is owed before the next word.
    let mut space = false;
    let mut in_image = 0usize;
    // Inside a raw `<script>` or `<style>` element.
    let mut hidden = false;
    let push = |piece: &str, text: &mut String, space: &mut bool| {
        if piece.is_empty() {
            return;
        }
        *space |= piece.starts_with(char::is_whitespace);
        for word in piece.split_whitespace() {
            if *space && !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
            *space = true;
        }
        *space = piece.ends_with(char::is_whitespace);
    };
    for event in events {
        match event {
            Event::Start(Tag::Image { .. }) => in_image += 1,
            Event::End(TagEnd::Image) => in_image = in_image.saturating_sub(1),
            Event::Text(_) | Event::Code(_) if in_image > 0 || hidden => {}
            Event::Text(t) | Event::Code(t) => push(t, &mut text, &mut space),
            Event::Html(raw) | Event::InlineHtml(raw) => {
                for (chunk, is_tag) in html_chunks(raw) {
                    if is_tag {
                        let tag = chunk.to_ascii_lowercase();
                        if tag.starts_with("<script") || tag.starts_with("<style") {
                            hidden = true;
                        } else if tag.starts_with("</script") || tag.starts_with("</style") {
                            hidden = false;
                        } else if tag.starts_with("</p") || tag.starts_with("<br") || tag.starts_with("</div") {
                            space = true;
                        }
                    } else if !hidden {
                        push(&decode_entities(chunk), &mut text, &mut space);
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => space = true,
            Event::End(end) if is_block_end(end) => space = true,
            _ => {}
        }
    }
    text
}

/// Raw HTML split into tags (and comments) and the text between them.
fn html_chunks(raw: &str) -> Vec<(&str, bool)> {
    let mut chunks = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        chunks.push((&rest[..open], false));
        let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
        chunks.push((&rest[open..close], true));
        rest = &rest[close..];
    }
    chunks.push((rest, false));
    chunks
}

/// The few entities raw HTML text commonly carries.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Whether the HTML of these events is safe as pulldown-cmark writes it, so the sanitizer can
/// be skipped: no raw HTML (but the `<!-- more -->` marker), no footnotes (their links are
/// written as bare fragments), and only link and image URLs of the schemes a sanitizer keeps.
pub fn is_plain(events: &[Event<'_>]) -> bool {
    events.iter().all(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => html.len() >= 7 && is_only_more_marker(html),
        Event::FootnoteReference(_) | Event::Start(Tag::FootnoteDefinition(_)) => false,
        Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => is_safe_url(dest_url),
        _ => true,
    })
}

/// A relative URL, or an absolute one of a harmless scheme.
fn is_safe_url(url: &str) -> bool {
    match url.split_once(':') {
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https" | "mailto" | "tel" | "ftp")
        }
        _ => true,
    }
}

fn is_block_end(end: &TagEnd) -> bool {
    !matches!(end, TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link | TagEnd::Image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_says_what_the_sanitized_html_shows() {
        // Regression: raw HTML blocks were dropped from the text, and script text kept in it.
        let events =
            parse("Tekst <script>alert(1)</script> dalej ![alt obrazka](x.png).\n\n<div>Uwaga &amp; ostrożnie</div>\n");
        assert_eq!(plain_text(&events), "Tekst dalej . Uwaga & ostrożnie");
    }

    #[test]
    fn renders_tables_footnotes_and_strikethrough() {
        let md = "| a | b |\n|---|---|\n| 1 | 2 |\n\nTekst[^1] ~~stary~~.\n\n[^1]: Przypis.\n";
        let html = to_html(parse(md));
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>stary</del>"), "{html}");
        assert!(html.contains("footnote-definition"), "{html}");
    }

    #[test]
    fn only_plain_markdown_skips_the_sanitizer() {
        assert!(is_plain(&parse("Tekst [link](../a/) ![x](a.png) [m](mailto:a@b.pl)\n\n<!-- more -->\n")));
        assert!(is_plain(&parse("Tekst.\n\n<!--more-->\n")), "Hugo's unspaced marker");
        assert!(!is_plain(&parse("<script>alert(1)</script>\n")));
        assert!(!is_plain(&parse("a <b>b</b>\n")));
        assert!(!is_plain(&parse("[x](javascript:alert(1))\n")));
        assert!(!is_plain(&parse("a[^1]\n\n[^1]: b\n")));
    }

    #[test]
    fn plain_text_separates_blocks_and_joins_inline_runs() {
        let md = "# Tytuł\n\nPierwszy *akapit*\nciąg dalszy.\n\n- jeden\n- dwa\n";
        assert_eq!(plain_text(&parse(md)), "Tytuł Pierwszy akapit ciąg dalszy. jeden dwa");
    }
}
