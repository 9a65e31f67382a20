//! The plain-text part of a digest: an excerpt's sanitized HTML as text with its links numbered,
//! and lines wrapped for a mail reader.
//!
//! The text is made from the HTML of the excerpt, which the HTML part shows, rather than from the
//! Markdown's words: so it has the same links, and no text of a `<script>` or `<style>` (the
//! sanitizer drops both with their contents; this file skips them again, whatever it is given).
//! A link becomes `text [n]` and `[n] URL` is listed after the post, the convention of text
//! newsletters and of lynx's `-dump`. Lines are wrapped at [`WIDTH`] columns: RFC 5322 §2.1.1
//! asks for at most 78 characters a line, and a reader quoting a reply adds "> " to each.

/// Where lines are wrapped: within the 72–78 columns mail readers show without scrolling.
pub const WIDTH: usize = 76;

/// Excerpt HTML as paragraphs of plain text. Each link's URL is pushed onto `links`, and its
/// text is followed by ` [n]`, `n` being its place in `links` (from 1).
pub fn from_html(html: &str, links: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = html;
    // The element whose contents are skipped (`script`, `style`) until its end tag.
    let mut skipping: Option<String> = None;
    // The URL of the open link, pushed when the link closes (a link without text is dropped).
    let mut open_link: Option<String> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                push_text(&mut out, rest);
            }
            break;
        };
        if skipping.is_none() {
            push_text(&mut out, &rest[..lt]);
        }
        let Some(gt) = rest[lt..].find('>') else { break };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && &name == skipped {
                skipping = None;
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("script" | "style" | "template" | "title", false) => skipping = Some(name),
            ("a", false) => open_link = attribute(tag, "href").filter(|h| h.starts_with("http")),
            ("a", true) => {
                if let Some(url) = open_link.take() {
                    links.push(url);
                    out.push_str(&format!(" [{}]", links.len()));
                }
            }
            ("img", _) => {
                if let Some(alt) = attribute(tag, "alt").filter(|a| !a.trim().is_empty()) {
                    push_text(&mut out, &format!(" [{}] ", alt.trim()));
                }
            }
            ("br", _) => out.push('\n'),
            ("li", false) => {
                new_line(&mut out);
                out.push_str("- ");
            }
            (
                "p" | "div" | "blockquote" | "ul" | "ol" | "pre" | "table" | "tr" | "figure" | "h1" | "h2" | "h3"
                | "h4" | "h5" | "h6",
                _,
            ) => paragraph(&mut out),
            _ => {}
        }
    }
    tidy(&out)
}

/// The value of `name="…"` in a tag, entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')?;
    Some(decode(&tag[start..start + end]))
}

fn push_text(out: &mut String, html_text: &str) {
    let text = decode(html_text);
    for (i, word) in text.split_whitespace().enumerate() {
        let starts_with_space = i == 0 && text.starts_with(char::is_whitespace);
        if (i > 0 || starts_with_space) && !out.ends_with([' ', '\n']) && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
        out.push(' ');
    }
}

fn new_line(out: &mut String) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn paragraph(out: &mut String) {
    new_line(out);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// Trailing spaces off every line, at most one empty line in a row, none at the ends.
fn tidy(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The entities an HTML serializer writes (html5ever, pulldown-cmark), and numeric ones.
fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            n if n.starts_with("#x") || n.starts_with("#X") => {
                u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32)
            }
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Wraps every line longer than `width` characters at spaces. Continuation lines keep the
/// line's indentation, and hang under the text of a `- ` item or a `[n] ` reference; a word
/// longer than the line (a long URL) stays whole on a line of its own. Runs of empty lines
/// become one.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut empty = 0;
    for line in text.lines() {
        // The signature separator of RFC 3676 §4.3 keeps its trailing space.
        if line == "-- " {
            out.push_str("-- \n");
            empty = 0;
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() {
            empty += 1;
            if empty == 1 && !out.is_empty() {
                out.push('\n');
            }
            continue;
        }
        empty = 0;
        wrap_line(line, width, &mut out);
    }
    out
}

fn wrap_line(line: &str, width: usize, out: &mut String) {
    let indent = line.len() - line.trim_start().len();
    let body = &line[indent..];
    let hang = if body.starts_with("- ") || body.starts_with("* ") {
        2
    } else if body.starts_with('[') && body.find("] ").is_some_and(|e| e < 6) {
        body.find("] ").unwrap_or(0) + 2
    } else {
        0
    };
    let mut column = 0;
    for (i, word) in body.split(' ').filter(|w| !w.is_empty()).enumerate() {
        let length = word.chars().count();
        // A marker (`-`, `[n]`) stays on the line of its first word, however long that is.
        let after_marker = i == 1 && hang > 0;
        if column == 0 {
            let lead = if i == 0 { indent } else { indent + hang };
            out.push_str(&" ".repeat(lead));
            column = lead;
        } else if column + 1 + length > width && !after_marker {
            out.push('\n');
            out.push_str(&" ".repeat(indent + hang));
            column = indent + hang;
        } else {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += length;
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_numbered_and_listed_in_order_across_posts() {
        let mut links = vec!["https://example.org/earlier".to_owned()];
        let html = "<p>Zobacz <a href=\"https://example.org/a?x=1&amp;y=2\">badanie</a> i \
                    <a href=\"https://example.org/b\">przegląd</a>.</p>";
        assert_eq!(from_html(html, &mut links), "Zobacz badanie [2] i przegląd [3].");
        assert_eq!(links[1..], ["https://example.org/a?x=1&y=2", "https://example.org/b"]);
    }

    #[test]
    fn script_and_style_text_never_reaches_the_text_part() {
        let html = "<p>Przed<script>alert('x')</script> po.</p><style>p { color: red }</style><p>Koniec</p>";
        assert_eq!(from_html(html, &mut Vec::new()), "Przed po.\n\nKoniec");
    }

    #[test]
    fn paragraphs_lists_images_and_entities_become_readable_text() {
        let html = "<h2>Sen</h2>\n<p>Ciało &amp; psychika&nbsp;razem.</p>\n<ul>\n<li>oddech</li>\n<li>ruch</li>\n</ul>\n\
                    <p><img src=\"https://example.org/a.jpg\" alt=\"Wykres snu\"></p>";
        assert_eq!(
            from_html(html, &mut Vec::new()),
            "Sen\n\nCiało & psychika razem.\n\n- oddech\n- ruch\n\n[Wykres snu]"
        );
    }

    #[test]
    fn long_lines_wrap_within_the_width_and_keep_their_hanging_indent() {
        let words = "słowo ".repeat(40);
        let text = format!("{words}\n\n- {words}\n[12] https://example.org/{}\n", "a".repeat(90));
        let wrapped = wrap(&text, WIDTH);
        for line in wrapped.lines() {
            let fits = line.chars().count() <= WIDTH;
            assert!(fits || line.starts_with("[12] https://"), "only a reference to a long URL is longer: {line:?}");
        }
        assert!(wrapped.lines().any(|l| l.starts_with("  słowo")), "{wrapped}");
        assert!(wrapped.contains("\n[12] https://example.org/aaaa"), "{wrapped}");
    }

    #[test]
    fn runs_of_empty_lines_become_one() {
        assert_eq!(wrap("a\n\n\n\nb\n", WIDTH), "a\n\nb\n");
    }
}
