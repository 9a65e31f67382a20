//! What the common shortcodes and Liquid tags become: a catalogue, one function per name.
//!
//! Output is Markdown or HTML that survives the sanitizer (`html.rs`) and reads well where feeds
//! and mail are read: readers and mail clients strip `<iframe>`, so a YouTube or Vimeo video is a
//! link (YouTube's with its thumbnail image), not an embedded player. Links to other posts
//! (`ref`, `relref`, `post_url`, `link`) are resolved from the target's *path*, because a post is
//! read on its own (see `post.rs`): a dated file name gives the exact permalink; without one the
//! folder-and-slug permalink is a best guess (see `Context::permalink_of`).

use super::{Call, Context, Syntax};
use crate::site::html::escape_html;

/// Liquid tags that enclose a body up to `{% end<name> %}`.
pub const LIQUID_BLOCKS: &[&str] = &["highlight", "raw", "comment"];

pub enum Rendered {
    /// Text that goes where the shortcode was (a URL inside a link, an inline element: a video
    /// link alone on its line becomes a paragraph of its own).
    Inline(String),
    /// A block, set apart by blank lines.
    Block(String),
    /// A known shortcode without what it needs (a video without an id): removed with why.
    Invalid(&'static str),
    /// Not in this catalogue.
    Unknown,
}

pub fn render(call: &Call<'_>, context: &Context<'_>) -> Rendered {
    let liquid = call.syntax == Syntax::Liquid;
    match call.name {
        "figure" if !liquid => figure(call),
        "youtube" => youtube(call),
        "vimeo" => vimeo(call),
        "ref" | "relref" if !liquid => match call.args.get("path", 0) {
            Some(target) => Rendered::Inline(link_to(target, context)),
            None => Rendered::Invalid("no target page"),
        },
        "highlight" => highlight(call),
        "post_url" if liquid => match call.args.positional(0) {
            Some(name) => Rendered::Inline(post_url(name, context)),
            None => Rendered::Invalid("no post name"),
        },
        "link" if liquid => match call.args.positional(0) {
            Some(path) => Rendered::Inline(link_to(&format!("/{}", path.trim_start_matches('/')), context)),
            None => Rendered::Invalid("no file"),
        },
        // An include is another file rendered with Liquid, which kurier does not do: whether the
        // file is there or not, the author is told what left their post.
        "include" | "include_relative" if liquid => Rendered::Invalid("kurier does not render included files"),
        "comment" if liquid => Rendered::Inline(String::new()),
        // `{% raw %}` shows its body as written: it is the author's own text.
        "raw" if liquid => Rendered::Inline(call.body.unwrap_or_default().to_owned()),
        _ => Rendered::Unknown,
    }
}

/// Hugo's `figure`: an image with an optional caption and link.
fn figure(call: &Call<'_>) -> Rendered {
    let Some(src) = call.args.named("src") else { return Rendered::Invalid("no `src`") };
    let mut img = format!("<img src=\"{}\"", escape_html(src));
    let alt = call.args.named("alt").or(call.args.named("caption")).or(call.args.named("title")).unwrap_or_default();
    img.push_str(&format!(" alt=\"{}\"", escape_html(alt)));
    for attribute in ["width", "height"] {
        if let Some(value) = call.args.named(attribute) {
            img.push_str(&format!(" {attribute}=\"{}\"", escape_html(value)));
        }
    }
    img.push('>');
    if let Some(link) = call.args.named("link") {
        img = format!("<a href=\"{}\">{img}</a>", escape_html(link));
    }
    let caption = [call.args.named("title"), call.args.named("caption")]
        .into_iter()
        .flatten()
        .map(escape_html)
        .collect::<Vec<_>>()
        .join(" — ");
    let caption = if caption.is_empty() { String::new() } else { format!("<figcaption>{caption}</figcaption>") };
    Rendered::Block(format!("<figure>{img}{caption}</figure>"))
}

/// A video id as YouTube and Vimeo write them; anything else would be put in a URL.
fn video_id<'c>(call: &'c Call<'_>) -> Option<&'c str> {
    call.args
        .get("id", 0)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

fn youtube(call: &Call<'_>) -> Rendered {
    let Some(id) = video_id(call) else { return Rendered::Invalid("no video id") };
    let title = escape_html(call.args.named("title").unwrap_or("YouTube video"));
    Rendered::Inline(format!(
        "<a href=\"https://www.youtube.com/watch?v={id}\"><img src=\"https://img.youtube.com/vi/{id}/hqdefault.jpg\" \
         alt=\"{title}\"></a><br><a href=\"https://www.youtube.com/watch?v={id}\">{title}</a>"
    ))
}

fn vimeo(call: &Call<'_>) -> Rendered {
    let Some(id) = video_id(call) else { return Rendered::Invalid("no video id") };
    let title = escape_html(call.args.named("title").unwrap_or("Vimeo video"));
    Rendered::Inline(format!("<a href=\"https://vimeo.com/{id}\">{title}</a>"))
}

/// Hugo's `highlight` and Jekyll's `{% highlight lang %}`: a fenced code block, whose body
/// pulldown-cmark escapes.
fn highlight(call: &Call<'_>) -> Rendered {
    let Some(body) = call.body else { return Rendered::Invalid("no closing tag") };
    let language: String = call
        .args
        .positional(0)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '#' | '_'))
        .collect();
    let code = body.trim_start_matches([' ', '\t']).trim_start_matches('\n').trim_end();
    // A fence longer than any run of backticks in the code (CommonMark §4.5).
    let longest = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    Rendered::Block(format!("{fence}{language}\n{code}\n{fence}"))
}

/// The permalink of the page at `target`: `/posts/b.md` and `posts/b.md` from the content root
/// (Hugo tries there first), a bare `b.md` next to the current post. A `#fragment` is kept.
fn link_to(target: &str, context: &Context<'_>) -> String {
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path.trim(), format!("#{fragment}")),
        None => (target.trim(), String::new()),
    };
    if path.is_empty() {
        return fragment;
    }
    let in_content = match path.strip_prefix('/') {
        Some(from_root) => from_root.to_owned(),
        None if path.contains('/') => path.to_owned(),
        None => {
            // Next to the current post; a page bundle's `index.md` stands for its folder.
            let mut folder = context.in_content.rsplit_once('/').map_or("", |(folder, _)| folder);
            if context.in_content.rsplit('/').next().is_some_and(|name| name.starts_with("index.")) {
                folder = folder.rsplit_once('/').map_or("", |(parent, _)| parent);
            }
            if folder.is_empty() { path.to_owned() } else { format!("{folder}/{path}") }
        }
    };
    format!("{}{fragment}", (context.permalink_of)(in_content.trim_end_matches('/')))
}

/// Jekyll's `{% post_url 2026-03-01-slug %}`: a post in the `_posts` folder the current post is
/// in (else the content root's `_posts`).
fn post_url(name: &str, context: &Context<'_>) -> String {
    let posts = match context.in_content.find("_posts/") {
        Some(i) => &context.in_content[..i + "_posts".len()],
        None => "_posts",
    };
    (context.permalink_of)(&format!("{posts}/{}", name.trim_matches('/')))
}
