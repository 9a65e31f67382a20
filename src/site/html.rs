//! Post HTML made safe for feeds and e-mail: sanitized by ammonia, every URL absolute.
//!
//! Feed readers and mail clients resolve a relative link against nothing useful (RSS has no base
//! URI; `xml:base` is widely ignored), so every relative `href` and `src` is resolved against the
//! post's permalink by ammonia's `UrlRelative::RewriteWithBase`, and every candidate of a `srcset`
//! (which ammonia does not treat as a URL attribute) by the attribute filter below. Sanitizing
//! removes `<script>`, event handlers and `javascript:` URLs (§10 of the specification).

use std::borrow::Cow;

use ammonia::{Builder, UrlRelative};
use url::Url;

/// Makes the link and image URLs of Markdown events absolute against `base`: for Markdown
/// without raw HTML (see `markdown::is_plain`) this is all the sanitizer would change, and it
/// costs a fraction of a sanitizer pass.
pub fn absolutize_events(events: &mut [pulldown_cmark::Event<'_>], base: &Url) {
    use pulldown_cmark::{Event, Tag};
    for event in events {
        if let Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) = event
            && let Ok(url) = base.join(dest_url)
        {
            *dest_url = url.to_string().into();
        }
    }
}

/// Sanitizes `html` and makes its URLs absolute against `base` (the post's permalink).
pub fn clean(html: &str, base: &Url) -> String {
    let filter_base = base.clone();
    // Ids within a post (footnote definitions, a raw `<div id>`) get the post's slug in front and
    // links to them keep pointing inside the item: a feed reader shows many posts on one page,
    // where two posts' `#1` would collide, and the site's own page may not have the same ids.
    let prefix = anchor_prefix(base);
    let href_prefix = prefix.clone();
    Builder::default()
        .url_relative(UrlRelative::Custom(Box::new(AbsoluteButFragments(base.clone()))))
        .add_tags(["picture", "source", "figure", "figcaption"])
        .add_tag_attributes("img", ["srcset", "sizes", "loading"])
        .add_tag_attributes("source", ["srcset", "sizes", "media", "type"])
        .add_tag_attributes("div", ["id"])
        .attribute_filter(move |element, attribute, value| match (element, attribute) {
            (_, "srcset") => Some(Cow::Owned(absolute_srcset(value, &filter_base))),
            ("a", "href") if value.starts_with('#') && value.len() > 1 => {
                Some(Cow::Owned(format!("#{href_prefix}{}", &value[1..])))
            }
            ("div", "id") => Some(Cow::Owned(format!("{prefix}{value}"))),
            _ => Some(Cow::Borrowed(value)),
        })
        .clean(html)
        .to_string()
}

/// Makes relative URLs absolute against the post's permalink, but for fragment-only links
/// (`#slug-1`), which point inside the item wherever it is shown.
struct AbsoluteButFragments(Url);

impl<'a> ammonia::UrlRelativeEvaluate<'a> for AbsoluteButFragments {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if url.starts_with('#') {
            return Some(Cow::Borrowed(url));
        }
        self.0.join(url).ok().map(|u| Cow::Owned(u.to_string()))
    }
}

/// `slug-`: the last segment of a post's permalink, for ids inside it.
fn anchor_prefix(base: &Url) -> String {
    let slug = base.path_segments().and_then(|mut s| s.rfind(|seg| !seg.is_empty())).unwrap_or("post");
    format!("{slug}-")
}

/// Resolves each `url [descriptor]` candidate of a `srcset` (HTML §4.8.4.2.1) against `base`.
/// A candidate that cannot be resolved is dropped rather than passed on relative.
fn absolute_srcset(srcset: &str, base: &Url) -> String {
    srcset
        .split(',')
        .filter_map(|candidate| {
            let mut parts = candidate.split_whitespace();
            let url = base.join(parts.next()?).ok()?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return None;
            }
            let descriptor: Vec<&str> = parts.collect();
            Some(if descriptor.is_empty() { url.to_string() } else { format!("{} {}", url, descriptor.join(" ")) })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footnote_links_point_to_ids_that_survive_and_are_unique_to_the_post() {
        let base = Url::parse("https://example.org/2026/04/przypisy/").unwrap();
        let html = crate::site::markdown::to_html(crate::site::markdown::parse("Tekst[^a].\n\n[^a]: Przypis.\n"));
        let clean = clean(&html, &base);
        assert!(clean.contains("href=\"#przypisy-a\""), "{clean}");
        assert!(clean.contains("id=\"przypisy-a\""), "{clean}");
    }

    fn base() -> Url {
        Url::parse("https://example.org/2026/11/jak-cwiczyc/").unwrap()
    }

    #[test]
    fn makes_href_and_src_absolute_against_the_permalink() {
        let html = clean(
            r##"<p><a href="../../10/inny/">x</a> <a href="/o-nas/">y</a> <a href="#fn1">z</a> <img src="obraz.png" alt="a"></p>"##,
            &base(),
        );
        assert!(html.contains(r#"href="https://example.org/2026/10/inny/""#), "{html}");
        assert!(html.contains(r#"href="https://example.org/o-nas/""#), "{html}");
        // A fragment stays inside the item, with the post's prefix (see `clean`).
        assert!(html.contains(r##"href="#jak-cwiczyc-fn1""##), "{html}");
        assert!(html.contains(r#"src="https://example.org/2026/11/jak-cwiczyc/obraz.png""#), "{html}");
    }

    #[test]
    fn makes_every_srcset_candidate_absolute() {
        let html = clean(r#"<img src="a.png" srcset="a-2x.png 2x, /img/a-640.png 640w">"#, &base());
        assert!(
            html.contains(
                r#"srcset="https://example.org/2026/11/jak-cwiczyc/a-2x.png 2x, https://example.org/img/a-640.png 640w""#
            ),
            "{html}"
        );
    }

    #[test]
    fn removes_scripts_handlers_and_javascript_urls() {
        let html =
            clean(r#"<p onclick="x()">a</p><script>alert(1)</script><a href="javascript:alert(1)">b</a>"#, &base());
        assert!(!html.contains("script"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        assert!(!html.contains("javascript"), "{html}");
    }

    #[test]
    fn escapes_text_for_content_and_attributes() {
        assert_eq!(escape_html(r#"<b>"Ból" & 'lęk'</b>"#), "&lt;b&gt;&quot;Ból&quot; &amp; &#39;lęk&#39;&lt;/b&gt;");
    }

    #[test]
    fn keeps_absolute_urls_untouched() {
        let html = clean(r#"<a href="https://pubmed.ncbi.nlm.nih.gov/1/">a</a>"#, &base());
        assert!(html.contains(r#"href="https://pubmed.ncbi.nlm.nih.gov/1/""#), "{html}");
    }
}
