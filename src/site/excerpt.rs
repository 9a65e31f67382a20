//! Excerpts: everything before `<!-- more -->`, else about the first 60 words.
//!
//! The excerpt is cut from the Markdown event stream, never from the HTML text: a cut inside a
//! `Text` event is made at a word boundary found by `unicode-segmentation` (UAX #29), which is
//! always a UTF-8 character boundary, and every element still open at the cut is closed by
//! emitting its end event. The result is balanced HTML (for Atom `summary`, e-mail digests) and
//! the same words as plain text (for RSS `description`, JSON Feed `summary`).
//!
//! An excerpt never ends inside or right after a heading: a digest that shows "Depresja…" or a
//! bare subheading as its last line promises a section the reader never sees. A cut there moves
//! back to before the heading; when nothing would be left, the headings are left out and the cut
//! is made in the text that follows them.

use pulldown_cmark::{Event, Tag, TagEnd};
use unicode_segmentation::UnicodeSegmentation;

use super::markdown;

/// Words in an automatic excerpt.
pub const EXCERPT_WORDS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// Balanced HTML, not yet sanitized.
    pub html: String,
    pub text: String,
    /// Whether anything of the post was left out.
    pub truncated: bool,
}

/// The excerpt of a post's events.
pub fn from_events(events: &[Event<'_>], words: usize) -> Excerpt {
    let marker =
        events.iter().position(|e| matches!(e, Event::Html(h) | Event::InlineHtml(h) if markdown::has_more_marker(h)));
    let (kept, truncated) = match marker {
        Some(index) => (close_open(events[..index].to_vec()), true),
        None => cut_at_words(events, words),
    };
    let (kept, truncated) = match without_trailing_heading(&kept) {
        Some(shorter) if has_words(&shorter) => (shorter, true),
        Some(_) => {
            // Nothing but the heading was before the cut: cut the text without headings.
            let bodies: Vec<Event<'_>> = without_headings(events);
            let (kept, _) = cut_at_words(&bodies, words);
            (kept, true)
        }
        None => (kept, truncated),
    };
    let kept: Vec<Event<'_>> = kept.into_iter().filter(|e| !is_footnote(e)).collect();
    let text = markdown::plain_text(&kept);
    Excerpt { html: markdown::to_html(kept), text, truncated }
}

/// The whole of a short text (a front-matter summary) as an excerpt.
pub fn whole(markdown_text: &str) -> Excerpt {
    let events = markdown::parse(markdown_text);
    Excerpt { text: markdown::plain_text(&events), html: markdown::to_html(events), truncated: false }
}

fn cut_at_words<'a>(events: &[Event<'a>], limit: usize) -> (Vec<Event<'a>>, bool) {
    let mut kept = Vec::with_capacity(events.len().min(64));
    let mut count = 0;
    for (i, event) in events.iter().enumerate() {
        if let Event::Text(text) = event {
            let mut words = text.unicode_word_indices();
            let remaining = limit - count;
            let mut seen = 0;
            let mut cut = None;
            for (start, word) in &mut words {
                seen += 1;
                if seen == remaining {
                    cut = Some(start + word.len());
                    break;
                }
            }
            if let Some(end) = cut {
                let rest_has_words = words.next().is_some()
                    || events[i + 1..]
                        .iter()
                        .any(|e| matches!(e, Event::Text(t) | Event::Code(t) if t.unicode_words().next().is_some()));
                if rest_has_words {
                    kept.push(Event::Text(format!("{}…", &text[..end]).into()));
                    return (close_open(kept), true);
                }
            }
            count += seen;
        } else if let Event::Code(code) = event {
            count += code.unicode_words().count();
        }
        kept.push(event.clone());
        if count >= limit && events[i + 1..].iter().any(is_content) {
            kept.push(Event::Text("…".into()));
            return (close_open(kept), true);
        }
    }
    (kept, false)
}

/// When the last words of `events` are in a heading (the cut fell inside it, or right after
/// it), the events before that heading, closed; else `None`.
fn without_trailing_heading<'a>(events: &[Event<'a>]) -> Option<Vec<Event<'a>>> {
    let last_words =
        events.iter().rposition(|e| matches!(e, Event::Text(t) | Event::Code(t) if !t.trim().is_empty()))?;
    let mut depth = 0usize;
    let mut heading_start = None;
    for (i, event) in events[..=last_words].iter().enumerate() {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                depth += 1;
                heading_start = Some(i);
            }
            Event::End(TagEnd::Heading(_)) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if depth == 0 {
        return None;
    }
    Some(close_open(events[..heading_start?].to_vec()))
}

/// `events` without any heading and its contents.
fn without_headings<'a>(events: &[Event<'a>]) -> Vec<Event<'a>> {
    let mut inside = false;
    let mut kept = Vec::with_capacity(events.len());
    for event in events {
        match event {
            Event::Start(Tag::Heading { .. }) => inside = true,
            Event::End(TagEnd::Heading(_)) => inside = false,
            _ if !inside => kept.push(event.clone()),
            _ => {}
        }
    }
    kept
}

fn has_words(events: &[Event<'_>]) -> bool {
    events.iter().any(|e| matches!(e, Event::Text(t) | Event::Code(t) if t.unicode_words().next().is_some()))
}

fn is_content(event: &Event<'_>) -> bool {
    !matches!(event, Event::End(_) | Event::SoftBreak | Event::HardBreak)
}

/// Appends the end event of every element opened in `events` and not closed.
fn close_open(mut events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut open: Vec<TagEnd> = Vec::new();
    for event in &events {
        match event {
            Event::Start(tag) => open.push(tag.to_end()),
            Event::End(_) => {
                open.pop();
            }
            _ => {}
        }
    }
    events.extend(open.into_iter().rev().map(Event::End));
    events
}

fn is_footnote(event: &Event<'_>) -> bool {
    matches!(event, Event::FootnoteReference(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt(md: &str, words: usize) -> Excerpt {
        from_events(&markdown::parse(md), words)
    }

    #[test]
    fn uses_everything_before_the_more_marker() {
        let e = excerpt("Pierwszy akapit.\n\n<!-- more -->\n\nDrugi akapit.\n", 60);
        assert_eq!(e.html, "<p>Pierwszy akapit.</p>\n");
        assert_eq!(e.text, "Pierwszy akapit.");
        assert!(e.truncated);
    }

    #[test]
    fn hugos_unspaced_more_marker_ends_the_excerpt_too() {
        let e = excerpt("Pierwszy akapit.\n\n<!--more-->\n\nDrugi akapit.\n", 60);
        assert_eq!(e.html, "<p>Pierwszy akapit.</p>\n");
    }

    #[test]
    fn an_inline_more_marker_closes_the_open_paragraph_and_emphasis() {
        let e = excerpt("Zdanie *ważne <!-- more --> dalej* koniec.\n", 60);
        assert_eq!(e.html, "<p>Zdanie <em>ważne </em></p>\n");
    }

    #[test]
    fn cuts_at_the_word_limit_on_a_word_boundary() {
        let e = excerpt("jeden dwa trzy cztery pięć sześć\n", 4);
        assert_eq!(e.text, "jeden dwa trzy cztery…");
        assert_eq!(e.html, "<p>jeden dwa trzy cztery…</p>\n");
        assert!(e.truncated);
    }

    #[test]
    fn never_splits_a_multibyte_character_at_the_cut() {
        // The fourth word ends in a two-byte `ż` and the fifth starts with one: the cut must fall
        // exactly between them, on a character boundary, whatever the byte arithmetic.
        let e = excerpt("ala ma kota też żółwia\n", 4);
        assert_eq!(e.text, "ala ma kota też…");
        let e = excerpt("źdźbło źdźbło źdźbło\n", 1);
        assert_eq!(e.text, "źdźbło…");
        // Four-byte emoji right after the cut are left out whole; emoji before it are kept whole.
        let e = excerpt("mózg🧠🧠 serce\n", 1);
        assert_eq!((e.text.as_str(), e.html.as_str()), ("mózg…", "<p>mózg…</p>\n"));
        let e = excerpt("🧠 mózg 🧠🧠 serce\n", 1);
        assert_eq!((e.text.as_str(), e.html.as_str()), ("🧠 mózg…", "<p>🧠 mózg…</p>\n"));
        let e = excerpt("mózg 🧠🧠 serce 🫀 i płuca\n", 2);
        assert_eq!(e.text, "mózg 🧠🧠 serce…");
        // Emoji are not words (UAX #29): one word of text after them is the whole post.
        let e = excerpt("🧠🧠 mózg\n", 1);
        assert_eq!((e.text.as_str(), e.truncated), ("🧠🧠 mózg", false));
    }

    #[test]
    fn closes_nested_elements_open_at_the_cut() {
        let md = "> cytat z **pogrubieniem i [linkiem](a.html) w środku** zdania\n";
        let e = excerpt(md, 4);
        assert_eq!(e.html, "<blockquote>\n<p>cytat z <strong>pogrubieniem i…</strong></p>\n</blockquote>\n");
        let md = "- raz\n  - dwa trzy cztery\n- pięć\n";
        let e = excerpt(md, 3);
        assert_eq!(e.html.matches("<ul>").count(), e.html.matches("</ul>").count(), "{}", e.html);
        assert_eq!(e.html.matches("<li>").count(), e.html.matches("</li>").count(), "{}", e.html);
    }

    #[test]
    fn a_short_post_is_its_own_excerpt() {
        let e = excerpt("Krótki wpis.\n", 60);
        assert_eq!(e.text, "Krótki wpis.");
        assert!(!e.truncated);
    }

    #[test]
    fn a_cut_exactly_at_the_end_of_a_block_closes_it() {
        let e = excerpt("jeden dwa\n\ntrzy cztery\n", 2);
        assert_eq!(e.html, "<p>jeden dwa…</p>\n");
        assert!(e.truncated);
    }

    #[test]
    fn footnote_references_are_left_out() {
        let e = excerpt("Tekst[^1] dalej.\n\n<!-- more -->\n\n[^1]: Przypis.\n", 60);
        assert!(!e.html.contains("footnote"), "{}", e.html);
    }

    #[test]
    fn a_cut_inside_a_heading_ends_the_excerpt_before_that_heading() {
        let md = "Wstęp o ketaminie w medycynie.\n\n## Mechanizm działania leku\n\nTreść sekcji.\n";
        let e = excerpt(md, 6);
        assert_eq!(e.html, "<p>Wstęp o ketaminie w medycynie.</p>\n");
        assert_eq!(e.text, "Wstęp o ketaminie w medycynie.");
        assert!(e.truncated);
    }

    #[test]
    fn a_cut_right_after_a_heading_ends_the_excerpt_before_that_heading() {
        // The word limit is reached by the heading's last word; the paragraph after it is cut.
        let md = "Wstęp krótki.\n\n## Depresja\n\nBadania pokazują wiele.\n";
        let e = excerpt(md, 3);
        assert_eq!(e.html, "<p>Wstęp krótki.</p>\n");
        let e = excerpt("Wstęp krótki.\n\n## Depresja\n\n<!-- more -->\n\nDalej.\n", 60);
        assert_eq!(e.html, "<p>Wstęp krótki.</p>\n", "a more marker right after a heading");
    }

    #[test]
    fn a_post_that_opens_with_a_heading_is_cut_in_the_text_after_it() {
        let e = excerpt("## Depresja i ból\n\njeden dwa trzy cztery pięć\n", 3);
        assert_eq!(e.html, "<p>jeden dwa trzy…</p>\n");
        assert!(!e.html.contains("<h2"), "{}", e.html);
    }

    #[test]
    fn a_heading_followed_by_a_whole_paragraph_stays() {
        let e = excerpt("Wstęp.\n\n## Sekcja\n\nAkapit cały.\n\nJeszcze jeden akapit tutaj.\n", 4);
        assert!(e.html.contains("<h2>Sekcja</h2>"), "{}", e.html);
        assert!(e.html.contains("Akapit"), "{}", e.html);
    }
}
