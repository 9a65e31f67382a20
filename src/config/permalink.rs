//! The `permalink` pattern: `/{year}/{month}/{slug}/` and friends.
//!
//! Placeholders are chosen so that an existing site keeps its URLs when it moves to kurier:
//! Hugo's `/:year/:month/:slug/`, Jekyll's `/:categories/:year/:month/:day/:title.html` and Zola's
//! section paths all have a spelling here. The pattern is parsed once, when the configuration is
//! loaded, so that a typo is reported at start-up rather than as a wrong URL in a feed.

use chrono::{Datelike, NaiveDate};

/// A parsed permalink pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permalink {
    pattern: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Year,
    Month,
    Day,
    Slug,
    Category,
    Section,
}

/// What a permalink is made of, for one post.
#[derive(Debug, Clone, Copy)]
pub struct PermalinkParts<'a> {
    /// The post's date in the site's time zone.
    pub date: NaiveDate,
    pub slug: &'a str,
    /// The slug of the post's first category, if it has one.
    pub category: Option<&'a str>,
    /// The folder of the post below `content/`, `/`-separated, empty at the top.
    pub section: &'a str,
}

const PLACEHOLDERS: &str = "year, month, day, slug, title, category, section";

impl Permalink {
    pub fn parse(pattern: &str) -> Result<Permalink, String> {
        if !pattern.starts_with('/') {
            return Err(format!("`{pattern}` must start with `/`"));
        }
        let mut segments = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let close =
                rest[open..].find('}').map(|i| open + i).ok_or_else(|| format!("unclosed `{{` in `{pattern}`"))?;
            let name = &rest[open + 1..close];
            segments.push(match name {
                "year" => Segment::Year,
                "month" => Segment::Month,
                "day" => Segment::Day,
                "slug" | "title" => Segment::Slug,
                "category" => Segment::Category,
                "section" => Segment::Section,
                _ => {
                    return Err(format!("unknown placeholder `{{{name}}}` (known: {PLACEHOLDERS})"));
                }
            });
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched `}}` in `{pattern}`"));
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        if !segments.contains(&Segment::Slug) {
            return Err(format!("`{pattern}` has no `{{slug}}`, so two posts would share one URL"));
        }
        if pattern.contains("//") || pattern.contains("/../") || pattern.contains("/./") {
            return Err(format!("`{pattern}` has an empty, `.` or `..` path segment"));
        }
        Ok(Permalink { pattern: pattern.to_owned(), segments })
    }

    /// The site-relative path of a post, starting with `/`. Empty placeholders (a post without a
    /// category, a post at the top of `content/`) leave no empty path segment behind.
    pub fn render(&self, parts: &PermalinkParts<'_>) -> String {
        let mut path = String::with_capacity(self.pattern.len() + parts.slug.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => path.push_str(text),
                Segment::Year => path.push_str(&format!("{:04}", parts.date.year())),
                Segment::Month => path.push_str(&format!("{:02}", parts.date.month())),
                Segment::Day => path.push_str(&format!("{:02}", parts.date.day())),
                Segment::Slug => path.push_str(parts.slug),
                Segment::Category => path.push_str(parts.category.unwrap_or_default()),
                Segment::Section => path.push_str(parts.section.trim_matches('/')),
            }
        }
        while path.contains("//") {
            path = path.replace("//", "/");
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(slug: &'a str, category: Option<&'a str>, section: &'a str) -> PermalinkParts<'a> {
        PermalinkParts { date: NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(), slug, category, section }
    }

    #[test]
    fn renders_hugo_style_pattern() {
        let p = Permalink::parse("/{year}/{month}/{slug}/").unwrap();
        assert_eq!(p.render(&parts("jak-cwiczyc", None, "")), "/2026/03/jak-cwiczyc/");
    }

    #[test]
    fn renders_jekyll_style_pattern_with_and_without_category() {
        let p = Permalink::parse("/{category}/{year}/{month}/{day}/{title}.html").unwrap();
        assert_eq!(p.render(&parts("a", Some("wiedza"), "")), "/wiedza/2026/03/07/a.html");
        assert_eq!(p.render(&parts("a", None, "")), "/2026/03/07/a.html");
    }

    #[test]
    fn renders_zola_style_section_path() {
        let p = Permalink::parse("/{section}/{slug}/").unwrap();
        assert_eq!(p.render(&parts("a", None, "blog/2026")), "/blog/2026/a/");
        assert_eq!(p.render(&parts("a", None, "")), "/a/");
    }

    #[test]
    fn refuses_patterns_that_cannot_make_unique_urls() {
        assert!(Permalink::parse("/{year}/").unwrap_err().contains("no `{slug}`"));
        assert!(Permalink::parse("{slug}").unwrap_err().contains("must start with `/`"));
        assert!(Permalink::parse("/{slug").unwrap_err().contains("unclosed"));
        assert!(Permalink::parse("/{slug}}").unwrap_err().contains("unmatched"));
        assert!(Permalink::parse("/../{slug}").unwrap_err().contains(".."));
    }
}
