//! Shortcodes (Hugo, Zola) and Liquid tags (Jekyll) in a post's Markdown, found and replaced
//! before the Markdown is parsed, so that none reaches a feed as raw `{{<`, `{{%`, `{{ name(`
//! or `{%`.
//!
//! This file owns the *finding*: which spans of the source are shortcodes, their name and
//! arguments, their body when they are paired (`{{< highlight >}}…{{< /highlight >}}`,
//! `{% name() %}…{% end %}`, `{% highlight %}…{% endhighlight %}`). What each known one
//! becomes is `known.rs`. Code is left alone: spans inside fenced or indented code blocks and
//! inline code are found by pulldown-cmark itself (a hand-written guess at CommonMark's code
//! rules gets lists and lazy lines wrong), so braces in code keep reaching readers as written.
//!
//! Anything not known is removed with a warning naming its line; the body of an unknown paired
//! shortcode stays, as Markdown, because that is usually the author's text (`{{% note %}}`).
//! Most posts have no `{{` or `{%` at all and pay for one byte search ([`rewrite`]).

mod known;

use std::borrow::Cow;
use std::ops::Range;

use pulldown_cmark::{Event, Parser, Tag};

/// What a post's shortcodes may need to know about the site.
pub struct Context<'a> {
    /// The absolute permalink of a post given its path below `content/` (`posts/b.md`): the
    /// target of `ref`, `relref`, `post_url` and `link`.
    pub permalink_of: &'a dyn Fn(&str) -> String,
    /// The post's own path below `content/`, against which relative targets are resolved.
    pub in_content: &'a str,
    /// Jekyll's `site.url` (scheme and host) and `site.baseurl` (the path, no trailing `/`).
    pub site_url: &'a str,
    pub base_path: &'a str,
}

/// The Markdown with every shortcode replaced, and warnings as `(line, reason)` with lines
/// counted from 1 at the start of the text given.
pub struct Rewritten<'a> {
    pub text: Cow<'a, str>,
    pub warnings: Vec<(usize, String)>,
}

/// Which generator's syntax a shortcode was written in; the warning quotes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `{{< name >}}` (its body is not Markdown to Hugo, but we treat both alike)
    HugoAngle,
    /// `{{% name %}}`
    HugoPercent,
    /// `{{ name(args) }}`
    ZolaInline,
    /// `{% name(args) %}…{% end %}`
    ZolaBlock,
    /// `{% name args %}`
    Liquid,
}

/// One shortcode as written.
#[derive(Debug)]
struct Call<'t> {
    syntax: Syntax,
    name: &'t str,
    args: Args,
    /// The text between the opening and closing tags of a paired shortcode.
    body: Option<&'t str>,
}

/// Arguments: positional (`"a.png"`, `2026-03-01-x`) and named (`src="a.png"`, `id="x"`).
#[derive(Debug, Default)]
struct Args {
    items: Vec<(Option<String>, String)>,
}

impl Args {
    fn named(&self, key: &str) -> Option<&str> {
        self.items.iter().find(|(k, _)| k.as_deref() == Some(key)).map(|(_, v)| v.as_str())
    }
    fn positional(&self, index: usize) -> Option<&str> {
        self.items.iter().filter(|(k, _)| k.is_none()).nth(index).map(|(_, v)| v.as_str())
    }
    /// A named argument, else the positional one at `index` (Hugo accepts both forms).
    fn get(&self, key: &str, index: usize) -> Option<&str> {
        self.named(key).or_else(|| self.positional(index))
    }
}

/// Replaces the shortcodes of `markdown`.
pub fn rewrite<'a>(markdown: &'a str, context: &Context<'_>) -> Rewritten<'a> {
    // The hot path of a 10,000-post build: no opening brace pair, nothing to do.
    let bytes = markdown.as_bytes();
    let has_any = has_opening(bytes);
    if !has_any {
        return Rewritten { text: Cow::Borrowed(markdown), warnings: Vec::new() };
    }
    let code = code_spans(markdown);
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut warnings = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    let mut code_index = 0;
    // Lines are counted as the search moves on, never from the start again.
    let (mut line, mut counted) = (1, 0);
    while let Some(found) = find_open(markdown, at) {
        // Skip code spans that end before this brace; jump over one that holds it.
        while code_index < code.len() && code[code_index].end <= found {
            code_index += 1;
        }
        if let Some(span) = code.get(code_index)
            && span.start <= found
        {
            at = span.end;
            continue;
        }
        line += bytes[counted..found].iter().filter(|&&b| b == b'\n').count();
        counted = found;
        match parse_at(markdown, found, &code) {
            Parsed::Call(call, end) => {
                out.push_str(&markdown[copied..found]);
                match known::render(&call, context) {
                    known::Rendered::Inline(text) => out.push_str(&text),
                    known::Rendered::Block(text) => {
                        // Blank lines around a block, so that Markdown neither swallows the
                        // next paragraph into an HTML block nor nests it in a paragraph (a
                        // block written inside a sentence splits that sentence).
                        out.push_str("\n\n");
                        out.push_str(&text);
                        out.push_str("\n\n");
                    }
                    known::Rendered::Invalid(reason) => {
                        warnings.push((line, format!("{}: {reason}; removed", quote(&call))));
                    }
                    known::Rendered::Unknown => {
                        warnings.push((line, format!("{}: not supported by kurier; removed", quote(&call))));
                        if let Some(body) = call.body {
                            out.push_str(body);
                        }
                    }
                }
                copied = end;
                at = end;
            }
            Parsed::Replace(text, end) => {
                out.push_str(&markdown[copied..found]);
                out.push_str(&text);
                copied = end;
                at = end;
            }
            Parsed::SiteVariable(url, end) => {
                out.push_str(&markdown[copied..found]);
                out.push_str(if url { context.site_url } else { context.base_path });
                copied = end;
                at = end;
            }
            Parsed::Broken(reason, end) => {
                warnings.push((line, reason));
                out.push_str(&markdown[copied..found]);
                copied = end;
                at = end;
            }
            Parsed::NotAShortcode => at = found + 2,
        }
    }
    if copied == 0 {
        return Rewritten { text: Cow::Borrowed(markdown), warnings };
    }
    out.push_str(&markdown[copied..]);
    Rewritten { text: Cow::Owned(out), warnings }
}

fn has_opening(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w[0] == b'{' && (w[1] == b'{' || w[1] == b'%'))
}

/// The next `{{` or `{%` at or after `from`.
fn find_open(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i + 1 < bytes.len() {
        let brace = bytes[i..].iter().position(|&b| b == b'{')? + i;
        if brace + 1 < bytes.len() && matches!(bytes[brace + 1], b'{' | b'%') {
            return Some(brace);
        }
        i = brace + 1;
    }
    None
}

/// Byte ranges of inline code and code blocks, in order, as CommonMark sees them.
fn code_spans(markdown: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    for (event, range) in Parser::new_ext(markdown, super::markdown::options()).into_offset_iter() {
        if matches!(event, Event::Code(_) | Event::Start(Tag::CodeBlock(_))) {
            match spans.last_mut() {
                Some(last) if last.end >= range.start => last.end = last.end.max(range.end),
                _ => spans.push(range),
            }
        }
    }
    spans
}

enum Parsed<'t> {
    Call(Call<'t>, usize),
    /// A Liquid variable kurier knows (`{{ site.baseurl }}`), a Hugo comment shortcode.
    Replace(String, usize),
    /// Jekyll's `{{ site.url }}` (true) or `{{ site.baseurl }}` (false), common in links.
    SiteVariable(bool, usize),
    /// Unclosed or malformed: removed with a reason.
    Broken(String, usize),
    NotAShortcode,
}

fn parse_at<'t>(text: &'t str, start: usize, code: &[Range<usize>]) -> Parsed<'t> {
    let rest = &text[start..];
    if let Some(kind) = rest
        .strip_prefix("{{<")
        .map(|_| Syntax::HugoAngle)
        .or_else(|| rest.strip_prefix("{{%").map(|_| Syntax::HugoPercent))
    {
        return parse_hugo(text, start, kind, code);
    }
    if rest.starts_with("{%") {
        return parse_percent(text, start, code);
    }
    parse_double_brace(text, start)
}

/// `{{< name args >}}` / `{{% name args %}}`, with its body up to `{{< /name >}}` when there is one.
fn parse_hugo<'t>(text: &'t str, start: usize, syntax: Syntax, code: &[Range<usize>]) -> Parsed<'t> {
    let close = if syntax == Syntax::HugoAngle { ">}}" } else { "%}}" };
    let inner_start = start + 3;
    let Some(len) = text[inner_start..].find(close) else {
        return Parsed::Broken(
            format!("`{}` is never closed with `{close}`; removed", &text[start..start + 3]),
            start + 3,
        );
    };
    let end = inner_start + len + close.len();
    let inner = text[inner_start..inner_start + len].trim();
    // `{{</* figure */>}}` is Hugo's way to show a shortcode as text: show it as code.
    if let Some(shown) = inner.strip_prefix("/*").and_then(|i| i.strip_suffix("*/")) {
        let open = &text[start..start + 3];
        return Parsed::Replace(format!("`{open} {} {close}`", shown.trim()), end);
    }
    if inner.starts_with('/') {
        // The closing tag of a pair whose opening was not found (or was unknown): drop it.
        return Parsed::Replace(String::new(), end);
    }
    let (name, args) = split_name(inner);
    let args = parse_args(args);
    // Paired when a matching closing tag follows outside code.
    let body_end = find_closing(text, end, code, |candidate| {
        (candidate.starts_with("{{<") || candidate.starts_with("{{%")) && is_hugo_close(&candidate[3..], name)
    });
    let (body, end) = match body_end.and_then(|at| Some((at, text[at..].find("}}")? + at + 2))) {
        Some((body_end, after)) => (Some(&text[end..body_end]), after),
        None => (None, end),
    };
    Parsed::Call(Call { syntax, name, args, body }, end)
}

/// Whether `t` (after `{{<` or `{{%`) is ` /name >}}` or ` /name %}}` with any spacing.
fn is_hugo_close(t: &str, name: &str) -> bool {
    let t = t.trim_start();
    t.strip_prefix('/').and_then(|t| t.trim_start().strip_prefix(name)).is_some_and(|t| {
        let t = t.trim_start();
        t.starts_with(">}}") || t.starts_with("%}}")
    })
}

/// Where the closing tag of a pair starts, searching from `from` outside code.
fn find_closing(text: &str, from: usize, code: &[Range<usize>], is_close: impl Fn(&str) -> bool) -> Option<usize> {
    let mut at = from;
    while let Some(found) = find_open(text, at) {
        if let Some(span) = code.iter().find(|span| span.contains(&found)) {
            at = span.end;
            continue;
        }
        if is_close(&text[found..]) {
            return Some(found);
        }
        at = found + 2;
    }
    None
}

/// `{% … %}`: a Zola block shortcode `{% name(args) %}…{% end %}` or a Liquid tag.
fn parse_percent<'t>(text: &'t str, start: usize, code: &[Range<usize>]) -> Parsed<'t> {
    let Some(len) = text[start + 2..].find("%}") else {
        return Parsed::Broken("`{%` is never closed with `%}`; removed".into(), start + 2);
    };
    let end = start + 2 + len + 2;
    // Liquid's whitespace control: `{%-` and `-%}`.
    let inner = text[start + 2..end - 2].trim_start_matches('-').trim_end_matches('-').trim();
    let (name, args) = split_name(inner);
    if name.is_empty() {
        return Parsed::Broken("`{% %}` without a name; removed".into(), end);
    }
    if let Some(call_args) = args.trim_start().strip_prefix('(') {
        let call_args = call_args.trim_end().strip_suffix(')').unwrap_or(call_args);
        let args = parse_args(call_args);
        let found = find_closing(text, end, code, |t| liquid_name(t) == Some("end"));
        let (body, end) = match found.and_then(|at| Some((at, after_percent(text, at)?))) {
            Some((body_end, after)) => (Some(&text[end..body_end]), after),
            None => (None, end),
        };
        return Parsed::Call(Call { syntax: Syntax::ZolaBlock, name, args, body }, end);
    }
    if name == "end" || name.starts_with("end") && known::LIQUID_BLOCKS.contains(&&name[3..]) {
        // The end of a block whose start was unknown, or a stray one: drop it.
        return Parsed::Replace(String::new(), end);
    }
    let args = parse_args(args);
    if known::LIQUID_BLOCKS.contains(&name) {
        let end_name = format!("end{name}");
        // `raw` and `comment` hold anything, code fences included: look for the end as text.
        let found = if matches!(name, "raw" | "comment") {
            find_closing(text, end, &[], |t| liquid_name(t) == Some(end_name.as_str()))
        } else {
            find_closing(text, end, code, |t| liquid_name(t) == Some(end_name.as_str()))
        };
        if let Some(body_end) = found {
            let after = after_percent(text, body_end).unwrap_or(body_end);
            return Parsed::Call(Call { syntax: Syntax::Liquid, name, args, body: Some(&text[end..body_end]) }, after);
        }
    }
    Parsed::Call(Call { syntax: Syntax::Liquid, name, args, body: None }, end)
}

/// The end of the `{% … %}` tag starting at `start`.
fn after_percent(text: &str, start: usize) -> Option<usize> {
    text[start..].find("%}").map(|i| start + i + 2)
}

/// The name of the Liquid tag `t` starts with (`{%- endhighlight -%}` → `endhighlight`).
fn liquid_name(t: &str) -> Option<&str> {
    let inner = t.strip_prefix("{%")?.trim_start_matches('-').trim_start();
    let len = inner.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(inner.len());
    Some(&inner[..len])
}

/// `{{ name(args) }}` (Zola) or `{{ site.url }}` / `{{ site.baseurl }}` (Jekyll); any other
/// `{{ … }}` is text to Hugo and Zola and is left as written.
fn parse_double_brace<'t>(text: &'t str, start: usize) -> Parsed<'t> {
    let rest = &text[start + 2..];
    let inner = rest.trim_start_matches('-').trim_start();
    let name_len = inner.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(inner.len());
    let name = &inner[..name_len];
    let after = &inner[name_len..];
    if !name.is_empty() && !name.contains('.') && after.starts_with('(') {
        if let Some(close) = matching_paren(after) {
            let tail = after[close + 1..].trim_start().trim_start_matches('-');
            if let Some(tail) = tail.strip_prefix("}}") {
                let end = text.len() - tail.len();
                let args = parse_args(&after[1..close]);
                return Parsed::Call(Call { syntax: Syntax::ZolaInline, name, args, body: None }, end);
            }
        }
        // Half a shortcode: remove it up to the `}}` on its line, else just its opening.
        let opening_end = text.len() - after.len() + 1;
        let line_end = text[opening_end..].find('\n').map_or(text.len(), |i| opening_end + i);
        let end = text[opening_end..line_end].find("}}").map_or(opening_end, |i| opening_end + i + 2);
        return Parsed::Broken(format!("`{{{{ {name}(` is not a complete shortcode; removed"), end);
    }
    if matches!(name, "site.url" | "site.baseurl") {
        let tail = after.trim_start().trim_start_matches('-');
        if let Some(tail) = tail.strip_prefix("}}") {
            return Parsed::SiteVariable(name == "site.url", text.len() - tail.len());
        }
    }
    Parsed::NotAShortcode
}

/// The index of the `)` that closes the `(` at index 0, outside quotes.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            (None, '\n') if depth > 0 && text[..i].ends_with('\n') => return None,
            _ => {}
        }
    }
    None
}

fn split_name(inner: &str) -> (&str, &str) {
    let len = inner.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.')).unwrap_or(inner.len());
    (&inner[..len], &inner[len..])
}

/// Arguments separated by spaces or commas: `a`, `"a b"`, `key="v"`, `key=v`, `key: v`.
fn parse_args(text: &str) -> Args {
    let mut items = Vec::new();
    let mut chars = text.char_indices().peekable();
    let value = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| -> String {
        match chars.peek().map(|&(_, c)| c) {
            Some(q @ ('"' | '\'' | '`')) => {
                chars.next();
                let mut out = String::new();
                while let Some((_, c)) = chars.next() {
                    if c == q {
                        break;
                    }
                    if c == '\\' && q == '"' {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                        continue;
                    }
                    out.push(c);
                }
                out
            }
            _ => {
                let mut out = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || c == ',' || c == '=' {
                        break;
                    }
                    out.push(c);
                    chars.next();
                }
                out
            }
        }
    };
    loop {
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace() || c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let first = value(&mut chars);
        while chars.peek().is_some_and(|&(_, c)| c == ' ') {
            chars.next();
        }
        if chars.peek().is_some_and(|&(_, c)| c == '=') {
            chars.next();
            while chars.peek().is_some_and(|&(_, c)| c == ' ') {
                chars.next();
            }
            let v = value(&mut chars);
            items.push((Some(first), v));
        } else if first.is_empty() {
            chars.next();
        } else {
            items.push((None, first));
        }
    }
    Args { items }
}

/// The shortcode as its author would recognise it in a warning.
fn quote(call: &Call<'_>) -> String {
    match call.syntax {
        Syntax::HugoAngle => format!("shortcode `{{{{< {} >}}}}`", call.name),
        Syntax::HugoPercent => format!("shortcode `{{{{% {} %}}}}`", call.name),
        Syntax::ZolaInline => format!("shortcode `{{{{ {}(…) }}}}`", call.name),
        Syntax::ZolaBlock => format!("shortcode `{{% {}(…) %}}`", call.name),
        Syntax::Liquid => format!("Liquid tag `{{% {} %}}`", call.name),
    }
}

#[cfg(test)]
mod tests;
