//! Front matter: TOML between `+++` lines (Zola, Hugo) or YAML between `---` lines (Jekyll, Hugo).
//!
//! Both syntaxes are deserialized straight into [`FrontMatter`], so a value of the wrong type is
//! reported by the parser with its position, which we turn into a line of the post file. Keys we
//! do not know are kept in [`FrontMatter::extra`] for templates; they are never an error, because
//! a site moving from another generator brings its own keys. What the values mean (dates in the
//! site's time zone, slugs) is decided in `post.rs`; this file only reads them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Keys with a meaning of their own; everything else goes to `extra`.
const KNOWN_KEYS: &[&str] = &[
    "title",
    "date",
    "updated",
    "lastmod",
    "publishDate",
    "publishdate",
    "expiryDate",
    "expirydate",
    "excerpt_separator",
    "slug",
    "id",
    "summary",
    "description",
    "tags",
    "categories",
    "author",
    "authors",
    "draft",
    "feed",
    "image",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Yaml,
}

/// The fields of §3 of the specification, as written, and the other generators' names for them.
/// Fields that two generators spell differently are kept apart rather than aliased, because a
/// site may set both (Hugo themes ask for `summary` *and* `description`): serde would call an
/// alias set twice a duplicate field. `post.rs` decides which one wins.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub date: Option<DateValue>,
    pub updated: Option<DateValue>,
    /// Hugo's name for `updated`.
    pub lastmod: Option<DateValue>,
    /// Hugo: the post is hidden until then (Hugo reads front-matter keys case-insensitively).
    #[serde(rename = "publishDate", alias = "publishdate")]
    pub publish_date: Option<DateValue>,
    /// Hugo: the post is hidden from then on.
    #[serde(rename = "expiryDate", alias = "expirydate")]
    pub expiry_date: Option<DateValue>,
    pub slug: Option<String>,
    pub id: Option<String>,
    pub summary: Option<String>,
    /// Hugo's and Jekyll's `description`: the summary when `summary` is not set.
    pub description: Option<String>,
    /// Jekyll: the text that ends the excerpt, used like `<!-- more -->`.
    pub excerpt_separator: Option<String>,
    pub tags: OneOrMany,
    pub categories: OneOrMany,
    /// Zola's `[taxonomies]`: its `tags` and `categories` join the top-level ones.
    pub taxonomies: Taxonomies,
    pub author: Option<String>,
    pub authors: OneOrMany,
    pub draft: bool,
    pub feed: Option<bool>,
    pub image: Option<String>,
    #[serde(skip)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A date as written: TOML has a datetime type of its own, YAML and quoted TOML give a string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DateValue {
    Toml(toml::value::Datetime),
    Text(String),
}

impl DateValue {
    pub fn as_text(&self) -> String {
        match self {
            DateValue::Toml(dt) => dt.to_string(),
            DateValue::Text(text) => text.trim().to_owned(),
        }
    }
}

/// Zola's `[taxonomies]` table; other taxonomies stay in `extra` with the whole table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Taxonomies {
    pub tags: OneOrMany,
    pub categories: OneOrMany,
}

/// `tags = "stres"` and `tags = ["stres"]` mean the same.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A post split into its front matter and its body.
#[derive(Debug)]
pub struct Split<'a> {
    pub syntax: Syntax,
    pub front_matter: &'a str,
    /// 1-based line of the post file on which the front matter text starts.
    pub front_matter_line: usize,
    pub body: &'a str,
    /// 1-based line of the post file on which the body starts.
    pub body_line: usize,
}

/// A mistake in front matter, at a 1-based line of the post file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatterError {
    pub line: usize,
    pub reason: String,
}

/// Splits off the front matter. A post must have one: it carries the title and the date.
/// Blank lines before the opening fence are skipped, as Zola does (the byte-order mark is
/// already gone: `source.rs`).
pub fn split(text: &str) -> Result<Split<'_>, FrontMatterError> {
    let mut opening = 0;
    let mut opening_line = 1;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        opening += line.len();
        opening_line += 1;
    }
    let first_line = text[opening..].lines().next().unwrap_or_default().trim_end();
    let (syntax, fence) = match first_line {
        "+++" => (Syntax::Toml, "+++"),
        "---" => (Syntax::Yaml, "---"),
        _ => {
            return Err(FrontMatterError {
                line: opening_line.min(text.lines().count().max(1)),
                reason: "no front matter: a post starts with `+++` (TOML) or `---` (YAML)".into(),
            });
        }
    };
    let start = text[opening..].find('\n').map_or(text.len(), |i| opening + i + 1);
    let mut offset = start;
    for (line_number, line) in (opening_line + 1..).zip(text[start..].split_inclusive('\n')) {
        if line.trim_end() == fence {
            return Ok(Split {
                syntax,
                front_matter: &text[start..offset],
                front_matter_line: opening_line + 1,
                body: &text[offset + line.len()..],
                body_line: line_number + 1,
            });
        }
        offset += line.len();
    }
    Err(FrontMatterError { line: opening_line, reason: format!("front matter opened with `{fence}` is never closed") })
}

/// Parses the front matter text of `split`.
pub fn parse(split: &Split<'_>) -> Result<FrontMatter, FrontMatterError> {
    let at = |relative_line: usize, reason: String| FrontMatterError {
        line: split.front_matter_line + relative_line.saturating_sub(1),
        reason,
    };
    let text = split.front_matter;
    // Each syntax is parsed once, into a value: the known fields are read from it, the others
    // kept as `extra`. Only a front matter with a wrong field is parsed again, from its text, for
    // an error that says where.
    match split.syntax {
        Syntax::Toml => {
            let toml_error = |e: toml::de::Error| {
                let line = e.span().map_or(1, |s| crate::config::line_of(text, s.start));
                at(line, field_message(e.message(), text, e.span().map(|s| s.start)))
            };
            let table: toml::Table = toml::from_str(text).map_err(toml_error)?;
            let extra = table
                .iter()
                .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), toml_to_json(v.clone())))
                .collect();
            let fm: FrontMatter =
                toml::Value::Table(table).try_into().or_else(|_| toml::from_str(text)).map_err(toml_error)?;
            Ok(FrontMatter { extra, ..fm })
        }
        Syntax::Yaml => {
            if text.trim().is_empty() {
                return Ok(FrontMatter::default());
            }
            let yaml_error = |e: serde_yaml_ng::Error| {
                let line = e.location().map_or(1, |l| l.line());
                at(line, shift_yaml_lines(&first_line_of(&e.to_string()), split.front_matter_line - 1))
            };
            let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
            let extra = value
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
                .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
                .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k, v)))
                .collect();
            let fm: FrontMatter =
                serde_yaml_ng::from_value(value).or_else(|_| serde_yaml_ng::from_str(text)).map_err(yaml_error)?;
            Ok(FrontMatter { extra, ..fm })
        }
    }
}

/// 1-based line of the post file on which `key` is set, for errors found after parsing.
pub fn line_of_key(split: &Split<'_>, key: &str) -> usize {
    split
        .front_matter
        .lines()
        .position(|line| {
            line.strip_prefix(key).is_some_and(|rest| matches!(rest.trim_start().chars().next(), Some('=' | ':')))
        })
        .map_or(split.front_matter_line.saturating_sub(1), |i| split.front_matter_line + i)
}

/// toml's messages name the type but not always the key; prefix the key of the offending line.
fn field_message(message: &str, text: &str, offset: Option<usize>) -> String {
    let message = first_line_of(message);
    let key = offset.and_then(|o| {
        let line_start = text[..o.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[line_start..];
        let key = line.split(['=', '\n']).next()?.trim();
        (!key.is_empty() && !key.starts_with('[') && key.len() < 64).then(|| key.to_owned())
    });
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
        _ => message,
    }
}

/// libyaml's messages count lines from the start of the front matter; make them file lines.
fn shift_yaml_lines(message: &str, by: usize) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("line ") {
        let (before, after) = rest.split_at(i + "line ".len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn first_line_of(message: &str) -> String {
    message.trim().lines().next().unwrap_or_default().to_owned()
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::from(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(dt) => J::String(dt.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => J::Object(table.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_post(text: &str) -> Result<FrontMatter, FrontMatterError> {
        parse(&split(text)?)
    }

    #[test]
    fn reads_toml_front_matter_with_every_field() {
        let fm = parse_post(
            "+++\ntitle = \"Jak ćwiczyć\"\ndate = 2026-11-26\nupdated = 2026-11-27T10:00:00+01:00\n\
             slug = \"cwiczenia\"\nid = \"urn:uuid:1\"\ndescription = \"Krótko\"\ntags = [\"stres\", \"sen\"]\n\
             categories = \"Wiedza\"\nauthor = \"Anna\"\ndraft = true\nfeed = false\nimage = \"a.png\"\n\
             [extra]\ntopic = 3\n+++\nTreść\n",
        )
        .unwrap();
        assert_eq!(fm.title.as_deref(), Some("Jak ćwiczyć"));
        assert_eq!(fm.date.unwrap().as_text(), "2026-11-26");
        assert_eq!(fm.updated.unwrap().as_text(), "2026-11-27T10:00:00+01:00");
        assert_eq!(fm.slug.as_deref(), Some("cwiczenia"));
        assert_eq!(fm.id.as_deref(), Some("urn:uuid:1"));
        assert_eq!(fm.description.as_deref(), Some("Krótko"));
        assert_eq!(fm.tags.into_vec(), ["stres", "sen"]);
        assert_eq!(fm.categories.into_vec(), ["Wiedza"]);
        assert_eq!(fm.author.as_deref(), Some("Anna"));
        assert!(fm.draft);
        assert_eq!(fm.feed, Some(false));
        assert_eq!(fm.image.as_deref(), Some("a.png"));
        assert_eq!(fm.extra["extra"]["topic"], serde_json::json!(3));
    }

    #[test]
    fn reads_yaml_front_matter_and_keeps_unknown_keys() {
        let fm = parse_post(
            "---\ntitle: Sen i ciało\ndate: 2026-11-02\ntags: [sen, stres]\nauthors:\n  - Anna\n  - Jan\nlayout: post\n---\nTreść\n",
        )
        .unwrap();
        assert_eq!(fm.title.as_deref(), Some("Sen i ciało"));
        assert_eq!(fm.date.unwrap().as_text(), "2026-11-02");
        assert_eq!(fm.tags.into_vec(), ["sen", "stres"]);
        assert_eq!(fm.authors.into_vec(), ["Anna", "Jan"]);
        assert_eq!(fm.extra["layout"], serde_json::json!("post"));
    }

    #[test]
    fn errors_on_a_toml_type_mismatch_with_the_file_line() {
        let err = parse_post("+++\ntitle = \"a\"\ndate = 2026-11-26\ndraft = \"tak\"\n+++\n").unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.reason.contains("draft"), "{}", err.reason);
    }

    #[test]
    fn errors_on_invalid_toml_syntax_with_the_file_line() {
        let err = parse_post("+++\ntitle = \"a\"\n\ndate = = 2026\n+++\n").unwrap_err();
        assert_eq!(err.line, 4);
    }

    #[test]
    fn errors_on_a_yaml_type_mismatch_with_the_file_line() {
        let err = parse_post("---\ntitle: a\ndate: 2026-11-26\ndraft: [1, 2]\n---\n").unwrap_err();
        assert_eq!(err.line, 4, "{}", err.reason);
    }

    #[test]
    fn errors_on_invalid_yaml_syntax_with_the_file_line() {
        let err = parse_post("---\ntitle: \"a\ntags: [sen\n---\nbody\n").unwrap_err();
        assert_eq!(err.line, 4, "{err:?}");
        // The positions inside libyaml's message are file lines too: the quote opens on line 2.
        assert!(err.reason.contains("scalar at line 2 column 8"), "{}", err.reason);
    }

    #[test]
    fn errors_on_unclosed_or_missing_front_matter() {
        assert!(split("+++\ntitle = \"a\"\n").unwrap_err().reason.contains("never closed"));
        assert!(split("# Title\n").unwrap_err().reason.contains("no front matter"));
    }

    #[test]
    fn finds_the_line_of_a_key() {
        let text = "+++\ntitle = \"a\"\ndate = \"wczoraj\"\n+++\n";
        assert_eq!(line_of_key(&split(text).unwrap(), "date"), 3);
        let text = "---\ntitle: a\n\ndate: wczoraj\n---\n";
        assert_eq!(line_of_key(&split(text).unwrap(), "date"), 4);
    }

    #[test]
    fn body_follows_the_closing_fence() {
        let s = split("---\ntitle: a\n---\nAkapit.\n").unwrap();
        assert_eq!(s.body, "Akapit.\n");
        assert_eq!((s.body_line, s.front_matter_line), (4, 2));
        assert_eq!(s.syntax, Syntax::Yaml);
    }

    #[test]
    fn front_matter_after_blank_lines_is_found_and_its_lines_still_count() {
        // Regression: Zola accepts blank lines before `+++`; kurier said "no front matter".
        let text = "\n  \n+++\ntitle = \"a\"\ndate = = 1\n+++\nAkapit.\n";
        let s = split(text).unwrap();
        assert_eq!((s.front_matter_line, s.body_line, s.body), (4, 7, "Akapit.\n"));
        assert_eq!(parse(&s).unwrap_err().line, 5);
    }

    #[test]
    fn hugo_and_zola_spellings_are_read_side_by_side() {
        // Regression: a Hugo post with both `summary` and `description` was "duplicate field".
        let fm = parse_post(
            "---\ntitle: a\ndate: 2026-01-01\nlastmod: 2026-01-02\npublishDate: 2026-01-03\nexpirydate: 2026-02-01\n\
             summary: S\ndescription: D\nexcerpt_separator: <!--cut-->\n---\n",
        )
        .unwrap();
        assert_eq!((fm.summary.as_deref(), fm.description.as_deref()), (Some("S"), Some("D")));
        assert_eq!(fm.lastmod.unwrap().as_text(), "2026-01-02");
        assert_eq!(fm.publish_date.unwrap().as_text(), "2026-01-03");
        assert_eq!(fm.expiry_date.unwrap().as_text(), "2026-02-01");
        assert_eq!(fm.excerpt_separator.as_deref(), Some("<!--cut-->"));
        let fm = parse_post("+++\ntitle = \"a\"\n[taxonomies]\ntags = [\"sen\"]\nautorzy = [\"Anna\"]\n+++\n").unwrap();
        assert_eq!(fm.taxonomies.tags.into_vec(), ["sen"]);
        assert_eq!(fm.extra["taxonomies"]["autorzy"], serde_json::json!(["Anna"]));
    }
}
